// Proves the capture object passes the running kernel's verifier: every program of the
// tracepoint mode and of the raw-tracepoint mode loads, both with the features this kernel has
// and with every fallback of an older kernel (bpf/compat.bpf.h). Needs root; skips otherwise.

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstdio>

#include "agent/capture/kernel_features.h"
#include "agent/capture/probe_object.h"
#include "bpf/capture.skel.h"
#include "bpf/program_modes.h"
#include "common/testing/test_support.h"
#include "gtest/gtest.h"

namespace httptrace::capture {
namespace {

void LoadAll(bool raw, const KernelFeatures& features) {
  absl::StatusOr<CaptureObject> skel = OpenCaptureObject(features);
  ASSERT_TRUE(skel.ok()) << skel.status();
  bpf_map__set_max_entries((*skel)->maps.scratch_map, libbpf_num_possible_cpus());
  bpf_program* prog;
  bpf_object__for_each_program(prog, (*skel)->obj) {
    bpf_program__set_autoload(prog, ht_program_in_mode(bpf_program__section_name(prog), raw));
  }
  EXPECT_EQ(capture_bpf__load(skel->get()), 0) << DescribeFeatures(features);
}

class CaptureBpfLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HT_SKIP_UNLESS_CAPABLE(httptrace::test_support::RootAbsentReason("loading BPF programs"));
    features_ = ProbeKernelFeatures();
    ASSERT_TRUE(CheckRequiredFeatures(features_).ok()) << CheckRequiredFeatures(features_);
  }
  KernelFeatures features_;
};

TEST_F(CaptureBpfLoadTest, TracepointProgramsPassVerifier) { LoadAll(false, features_); }

TEST_F(CaptureBpfLoadTest, RawTracepointProgramsPassVerifier) { LoadAll(true, features_); }

TEST_F(CaptureBpfLoadTest, TracepointProgramsWithEveryFallbackPassVerifier) {
  LoadAll(false, features_.WithoutOptional());
}

TEST_F(CaptureBpfLoadTest, RawTracepointProgramsWithEveryFallbackPassVerifier) {
  LoadAll(true, features_.WithoutOptional());
}

// The line the agent logs at start-up; printed so the kernel matrix shows what each kernel has.
TEST_F(CaptureBpfLoadTest, FeaturesAreDescribed) {
  const std::string line = DescribeFeatures(features_);
  std::printf("%s\n", line.c_str());
  EXPECT_NE(line.find(features_.compat_object() ? "compat object" : "default object"),
            std::string::npos);
}

}  // namespace
}  // namespace httptrace::capture
