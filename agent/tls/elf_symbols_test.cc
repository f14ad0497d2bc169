// DefinesFunctions and MissingFunctions on real files of this machine: the test binary itself (its
// own .symtab) and Debian's libssl (.dynsym only).

#include "agent/tls/elf_symbols.h"

#include <unistd.h>

#include <climits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int httptrace_elf_symbols_test_marker(int x) { return x + 1; }

namespace httptrace::tls {
namespace {

std::string Self() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, n) : "";
}

TEST(DefinesFunctionsTest, FindsFunctionsOfAnExecutable) {
  absl::StatusOr<bool> yes = DefinesFunctions(Self(), {"httptrace_elf_symbols_test_marker"});
  ASSERT_TRUE(yes.ok()) << yes.status();
  EXPECT_TRUE(*yes);
  absl::StatusOr<bool> no =
      DefinesFunctions(Self(), {"httptrace_elf_symbols_test_marker", "SSL_read_no_such_function"});
  ASSERT_TRUE(no.ok()) << no.status();
  EXPECT_FALSE(*no);
}

TEST(DefinesFunctionsTest, FindsDynamicSymbolsOfASharedLibrary) {
  const char* libssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
  ASSERT_EQ(access(libssl, R_OK), 0) << libssl << " (scripts/setup.sh installs it)";
  absl::StatusOr<bool> yes = DefinesFunctions(libssl, {"SSL_read", "SSL_write", "SSL_read_ex"});
  ASSERT_TRUE(yes.ok()) << yes.status();
  EXPECT_TRUE(*yes);
}

TEST(MissingFunctionsTest, NamesWhatIsMissingInTheOrderGiven) {
  absl::StatusOr<std::vector<std::string>> missing = MissingFunctions(
      Self(), {"no_such_function_b", "httptrace_elf_symbols_test_marker", "no_such_function_a"});
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(*missing, (std::vector<std::string>{"no_such_function_b", "no_such_function_a"}));
  EXPECT_FALSE(MissingFunctions("/etc/hostname", {"x"}).ok());
}

TEST(DefinesFunctionsTest, RejectsWhatIsNotElf) {
  EXPECT_FALSE(DefinesFunctions("/etc/hostname", {"x"}).ok());
  EXPECT_FALSE(DefinesFunctions("/nonexistent/file", {"x"}).ok());
}

}  // namespace
}  // namespace httptrace::tls
