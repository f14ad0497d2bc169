// FindGoFunctions on Go programs built here by the machine's Go (scripts/setup.sh installs
// golang-go): the offsets must name the function's first instruction and exactly its RET
// instructions as `go tool objdump` lists them, the same with and without symbols, and the same
// while uprobes are set on the file (their breakpoints show in mappings of it, not in its bytes).

#include "agent/tls/go_functions.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/tls/elf_file.h"
#include "common/testing/test_support.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::tls {
namespace {

const std::vector<std::string> kNames = {"crypto/tls.(*Conn).Read", "crypto/tls.(*Conn).Write"};

std::string Tmp() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d != nullptr ? d : "/tmp";
}

// Runs a shell command; returns its stdout, or fails the test.
std::string Shell(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "popen " << command;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command << "\n" << out;
  return out;
}

std::string GoEnv() {
  // Offline, standard library only, caches under the test's own directory.
  return absl::StrCat("PATH=/usr/lib/go/bin:$PATH GOCACHE=", Tmp(), "/gocache GOPATH=", Tmp(),
                      "/gopath GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=off CGO_ENABLED=0 ");
}

class GoFunctionsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string src = "agent/tls/testdata/go_tls_program.go";
    normal_ = Tmp() + "/go_tls_normal";
    stripped_ = Tmp() + "/go_tls_stripped";
    Shell(absl::StrCat(GoEnv(), "go build -o ", normal_, " ", src, " 2>&1"));
    Shell(absl::StrCat(GoEnv(), "go build -ldflags='-s -w' -o ", stripped_, " ", src, " 2>&1"));
  }
  static std::string normal_, stripped_;
};
std::string GoFunctionsTest::normal_, GoFunctionsTest::stripped_;

// Instruction addresses of one function in `go tool objdump` output: "  file:line  0xADDR  HEX
// ASM".
struct Listing {
  uint64_t first = 0;
  uint64_t after_stack_check = 0;  // the instruction after the prologue's JBE to morestack
  std::set<uint64_t> rets;
};

Listing Objdump(const std::string& binary, const std::string& function) {
  std::string pattern = function;
  for (const char c : {'(', ')', '*', '.'}) {
    pattern =
        absl::StrReplaceAll(pattern, {{std::string(1, c), absl::StrCat("\\", std::string(1, c))}});
  }
  const std::string out =
      Shell(absl::StrCat(GoEnv(), "go tool objdump -s '^", pattern, "$' ", binary));
  Listing l;
  bool jbe_seen = false;
  int index = 0;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, '\t', absl::SkipEmpty());
    if (f.size() < 4 || !absl::ConsumePrefix(&f[1], "0x")) continue;
    uint64_t addr;
    if (!absl::SimpleHexAtoi(f[1], &addr)) continue;
    if (l.first == 0) l.first = addr;
    const absl::string_view op = absl::StripAsciiWhitespace(f[3]);
    if (jbe_seen && l.after_stack_check == 0) l.after_stack_check = addr;
    if (index++ < 4 && absl::StartsWith(op, "JBE")) jbe_seen = true;
    if (absl::StartsWith(op, "RET")) l.rets.insert(addr);
  }
  return l;
}

TEST_F(GoFunctionsTest, EntryAndEveryReturnAsObjdumpListsThem) {
  absl::StatusOr<std::vector<GoFunction>> found = FindGoFunctions(normal_, kNames);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 2u);
  for (const GoFunction& f : *found) {
    SCOPED_TRACE(f.name);
    const Listing l = Objdump(normal_, f.name);
    ASSERT_NE(l.first, 0u) << "objdump listed no instruction";
    ASSERT_FALSE(l.rets.empty());
    // Addresses and file offsets differ by the segment's constant.
    const uint64_t delta = l.first - f.entry_offset;
    std::set<uint64_t> rets;
    for (uint64_t off : f.return_offsets) rets.insert(off + delta);
    EXPECT_EQ(rets, l.rets);
    ASSERT_NE(l.after_stack_check, 0u) << "objdump shows no stack check";
    EXPECT_EQ(f.body_offset + delta, l.after_stack_check);
  }
}

TEST_F(GoFunctionsTest, StrippedBinaryGivesTheSameOffsets) {
  absl::StatusOr<ElfFile> elf = ElfFile::Open(stripped_);
  ASSERT_TRUE(elf.ok()) << elf.status();
  ASSERT_EQ(elf->Section(".symtab"), nullptr) << "the stripped build still has .symtab";
  absl::StatusOr<std::vector<GoFunction>> normal = FindGoFunctions(normal_, kNames);
  absl::StatusOr<std::vector<GoFunction>> stripped = FindGoFunctions(stripped_, kNames);
  ASSERT_TRUE(normal.ok()) << normal.status();
  ASSERT_TRUE(stripped.ok()) << stripped.status();
  ASSERT_EQ(stripped->size(), normal->size());
  for (size_t i = 0; i < normal->size(); ++i) {
    EXPECT_EQ((*stripped)[i].name, (*normal)[i].name);
    EXPECT_EQ((*stripped)[i].entry_offset, (*normal)[i].entry_offset);
    EXPECT_EQ((*stripped)[i].return_offsets, (*normal)[i].return_offsets);
  }
  // The byte at each offset of the stripped file is RET (0xc3).
  std::ifstream in(stripped_, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  const std::string bytes = s.str();
  for (const GoFunction& f : *stripped) {
    for (uint64_t off : f.return_offsets) {
      ASSERT_LT(off, bytes.size());
      EXPECT_EQ(static_cast<uint8_t>(bytes[off]), 0xc3) << f.name << " at " << off;
    }
  }
}

TEST_F(GoFunctionsTest, NamesGoFunctionsWithoutDecoding) {
  EXPECT_EQ(NamesGoFunctions(normal_, kNames).value_or(false), true);
  EXPECT_EQ(NamesGoFunctions(stripped_, kNames).value_or(false), true);
  EXPECT_EQ(NamesGoFunctions("/bin/sh", kNames).value_or(true), false);
  EXPECT_EQ(NamesGoFunctions(normal_, {"crypto/tls.(*Conn).NoSuchMethod"}).value_or(true), false);
  EXPECT_FALSE(NamesGoFunctions("/nonexistent/file", kNames).ok());
}

TEST_F(GoFunctionsTest, NotGoOrWithoutTheFunctionsIsNotFound) {
  EXPECT_EQ(FindGoFunctions("/bin/sh", kNames).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FindGoFunctions(normal_, {"crypto/tls.(*Conn).NoSuchMethod"}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(FindGoFunctions("/nonexistent/file", kNames).ok());
}

// A uprobe on `path` at `offset` for every process (perf's uprobe PMU, no program: the kernel
// still writes its breakpoint into every mapping of the file that could execute).
UniqueFd SetUprobe(const std::string& path, uint64_t offset) {
  std::ifstream type_file("/sys/bus/event_source/devices/uprobe/type");
  int type = -1;
  if (!(type_file >> type)) return UniqueFd();
  perf_event_attr attr = {};
  attr.size = sizeof(attr);
  attr.type = type;
  attr.config1 = reinterpret_cast<uint64_t>(path.c_str());  // uprobe_path
  attr.config2 = offset;                                    // probe_offset
  return UniqueFd(static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0)));
}

// The agent reads a Go executable while the previous capture's uprobes on it are still being
// removed (issue 25): through a mapping, the RET it looks for was INT3, and it probed fewer
// returns (or refused the file). The offsets must not change while uprobes are set.
TEST_F(GoFunctionsTest, OffsetsAreTheSameWhileUprobesAreSetOnTheFile) {
  HT_SKIP_UNLESS_CAPABLE(test_support::RootAbsentReason("setting uprobes (perf_event_open)"));
  absl::StatusOr<std::vector<GoFunction>> before = FindGoFunctions(normal_, kNames);
  ASSERT_TRUE(before.ok()) << before.status();
  std::vector<UniqueFd> probes;
  for (const GoFunction& f : *before) {
    for (uint64_t off : f.return_offsets) {
      probes.push_back(SetUprobe(normal_, off));
      ASSERT_TRUE(probes.back().valid()) << "perf_event_open uprobe: " << strerror(errno);
    }
  }
  // The hazard is real: a private read-only mapping of the file shows the breakpoint.
  UniqueFd fd(open(normal_.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  struct stat st;
  ASSERT_EQ(fstat(fd.get(), &st), 0);
  void* map = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  ASSERT_NE(map, MAP_FAILED);
  const uint64_t probed = (*before)[0].return_offsets[0];
  const uint8_t mapped_byte = static_cast<const uint8_t*>(map)[probed];
  munmap(map, st.st_size);
  EXPECT_EQ(mapped_byte, 0xcc) << "no INT3 in the mapping: the kernel no longer patches "
                                  "read-only mappings, the test proves nothing";

  absl::StatusOr<std::vector<GoFunction>> during = FindGoFunctions(normal_, kNames);
  ASSERT_TRUE(during.ok()) << during.status();
  ASSERT_EQ(during->size(), before->size());
  for (size_t i = 0; i < before->size(); ++i) {
    EXPECT_EQ((*during)[i].entry_offset, (*before)[i].entry_offset);
    EXPECT_EQ((*during)[i].body_offset, (*before)[i].body_offset);
    EXPECT_EQ((*during)[i].return_offsets, (*before)[i].return_offsets);
  }
}

}  // namespace
}  // namespace httptrace::tls
