// Proves the capture object passes the running kernel's verifier: every program of the
// tracepoint mode and of the raw-tracepoint mode loads. Needs root; skips otherwise.

#include <bpf/libbpf.h>
#include <unistd.h>

#include "bpf/capture.skel.h"
#include "common/testing/test_support.h"
#include "gtest/gtest.h"

namespace {

void LoadAll(bool raw) {
  capture_bpf* skel = capture_bpf__open();
  ASSERT_NE(skel, nullptr);
  bpf_map__set_max_entries(skel->maps.scratch_map, libbpf_num_possible_cpus());
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    const bool is_raw = bpf_program__type(prog) == BPF_PROG_TYPE_RAW_TRACEPOINT;
    bpf_program__set_autoload(prog, is_raw == raw);
  }
  EXPECT_EQ(capture_bpf__load(skel), 0);
  capture_bpf__destroy(skel);
}

TEST(CaptureBpfLoadTest, TracepointProgramsPassVerifier) {
  HT_SKIP_UNLESS_CAPABLE(httptrace::test_support::RootAbsentReason("loading BPF programs"));
  LoadAll(false);
}

TEST(CaptureBpfLoadTest, RawTracepointProgramsPassVerifier) {
  HT_SKIP_UNLESS_CAPABLE(httptrace::test_support::RootAbsentReason("loading BPF programs"));
  LoadAll(true);
}

}  // namespace
