#include "common/testing/test_support.h"

#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace httptrace::test_support {

namespace {

std::string MakeDirUnder(absl::string_view base, absl::string_view prefix) {
  std::string path = absl::StrCat(base, prefix, ".XXXXXX");
  if (::mkdtemp(path.data()) == nullptr) {
    std::perror(("mkdtemp " + path).c_str());
    std::abort();
  }
  return path;
}

}  // namespace

// gtest's TempDir() is $TEST_TMPDIR with a trailing slash under Bazel.
std::string MakeScratchDir(absl::string_view prefix) {
  return MakeDirUnder(::testing::TempDir(), prefix);
}

std::string MakeSocketDir(absl::string_view prefix) {
  constexpr size_t kSunPath = sizeof(sockaddr_un::sun_path);
  constexpr size_t kSocketName = 32;  // "/" + the longest socket name a test uses, with room
  const std::string base = ::testing::TempDir();
  const size_t length = base.size() + prefix.size() + sizeof(".XXXXXX") + kSocketName;
  return MakeDirUnder(length < kSunPath ? base : "/tmp/", prefix);
}

bool CapabilitiesRequired() {
  const char* value = ::getenv("HTTPTRACE_REQUIRE_CAPABILITIES");
  return value != nullptr && absl::string_view(value) == "1";
}

std::string RootAbsentReason(absl::string_view what) {
  if (::geteuid() == 0) return "";
  return absl::StrCat(what, " needs root (run as root, as CI does)");
}

}  // namespace httptrace::test_support
