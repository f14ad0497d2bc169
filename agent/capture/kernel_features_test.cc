// The decisions made from a kernel's features, for kernels this machine is not: without the ring
// buffer the agent refuses with a message naming 5.8; each missing feature names its fallback.
// (The probes themselves run against real kernels in //bpf:capture_bpf_load_test and the kernel
// matrix, test/kernels.)

#include "agent/capture/kernel_features.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::capture {
namespace {

using ::testing::HasSubstr;

KernelFeatures Modern() {
  KernelFeatures f;
  f.ring_buffer = f.task_storage = f.task_pt_regs = f.bpf_loop = f.atomic_fetch = true;
  return f;
}

TEST(KernelFeaturesTest, KernelWithoutRingBufferIsRefusedNaming58) {
  KernelFeatures f = Modern();
  f.ring_buffer = false;
  const absl::Status s = CheckRequiredFeatures(f);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("BPF ring buffer"));
  EXPECT_THAT(s.message(), HasSubstr("Linux 5.8"));
  EXPECT_TRUE(CheckRequiredFeatures(Modern()).ok());
  EXPECT_TRUE(CheckRequiredFeatures(Modern().WithoutOptional()).ok());
}

TEST(KernelFeaturesTest, ModernKernelUsesTheDefaultObjectAndSaysSo) {
  EXPECT_FALSE(Modern().compat_object());
  EXPECT_EQ(DescribeFeatures(Modern()),
            "kernel features: task storage yes, bpf_task_pt_regs yes, bpf_loop yes, atomic fetch "
            "yes; default object");
}

TEST(KernelFeaturesTest, Kernel510TakesEveryFallbackAndNamesEach) {
  const KernelFeatures f = Modern().WithoutOptional();
  EXPECT_TRUE(f.ring_buffer);
  EXPECT_TRUE(f.compat_object());
  EXPECT_EQ(DescribeFeatures(f),
            "kernel features: task storage no: per-thread state in an LRU hash, bpf_task_pt_regs "
            "no: registers from the tracepoint argument, bpf_loop no: bounded loops, atomic fetch "
            "no: plain updates; compat object (HT_COMPAT)");
}

// 5.12-5.16 have atomic fetch but not bpf_loop; either absence selects the compat object.
TEST(KernelFeaturesTest, EitherMissingInstructionFeatureSelectsTheCompatObject) {
  KernelFeatures f = Modern();
  f.bpf_loop = false;
  EXPECT_TRUE(f.compat_object());
  f = Modern();
  f.atomic_fetch = false;
  EXPECT_TRUE(f.compat_object());
  f = Modern();
  f.task_storage = f.task_pt_regs = false;  // switches only: the default object still fits
  EXPECT_FALSE(f.compat_object());
}

}  // namespace
}  // namespace httptrace::capture
