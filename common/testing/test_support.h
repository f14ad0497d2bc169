// What every C++ test of the project shares: scratch directories under Bazel's TEST_TMPDIR, and
// the one skip rule (a test skips only where a capability is truly absent, and says why).
//
//   const std::string dir = httptrace::test_support::MakeScratchDir("resolver");
//   HT_SKIP_UNLESS_CAPABLE(httptrace::test_support::RootAbsentReason("loading BPF programs"));
//
// Under HTTPTRACE_REQUIRE_CAPABILITIES=1 (scripts/test.sh sets it in CI, which is root with BPF
// and podman) a missing capability fails the test instead: there a skip would hide a broken
// machine or a broken setup step, and a skip must never count as a pass.

#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace httptrace::test_support {

// A new, empty directory under $TEST_TMPDIR (Bazel removes it after the test), named after
// `prefix`. Aborts the test binary if it cannot be made: nothing can run without it.
std::string MakeScratchDir(absl::string_view prefix);

// A new, empty directory for unix sockets: under $TEST_TMPDIR when a socket name of up to 32
// bytes still fits in sun_path (108 bytes), else under /tmp (Bazel's TEST_TMPDIR is often ~120
// bytes long). The test removes it; the helper only makes it.
std::string MakeSocketDir(absl::string_view prefix);

// True when HTTPTRACE_REQUIRE_CAPABILITIES=1: a missing capability is a failure, not a skip.
bool CapabilitiesRequired();

// "" when running as root, else why `what` cannot run.
std::string RootAbsentReason(absl::string_view what);

}  // namespace httptrace::test_support

// Skips the current test with `reason` when it is not empty (fails instead where capabilities
// are required). One statement; use it in a test body or SetUp.
#define HT_SKIP_UNLESS_CAPABLE(reason_expr)                                                        \
  if (const std::string ht_absent_reason = (reason_expr); ht_absent_reason.empty()) {              \
  } else if (::httptrace::test_support::CapabilitiesRequired())                                    \
    GTEST_FAIL() << "capability missing where it is required (HTTPTRACE_REQUIRE_CAPABILITIES=1): " \
                 << ht_absent_reason;                                                              \
  else                                                                                             \
    GTEST_SKIP() << ht_absent_reason
