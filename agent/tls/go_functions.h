// Where to set uprobes on functions of a Go executable: each function's entry and every RET
// instruction in it, as offsets in the file. Go returns are probed at their RET instructions,
// not with uretprobes: a uretprobe replaces the return address on the goroutine's stack, which
// Go moves and copies when it grows (and walks for tracebacks), and the program crashes.
//
// Functions are found in .gopclntab (Go 1.18 and later: the runtime's own function table, kept
// in stripped binaries, `-ldflags=-s -w`), so .symtab is not needed. RET instructions come from
// disassembling the function's bytes with Capstone (x86-64 only): a byte scan for 0xc3 would hit
// operands, and a uprobe set inside an instruction corrupts the program.
//   absl::StatusOr<std::vector<GoFunction>> f =
//       FindGoFunctions("/usr/bin/app", {"crypto/tls.(*Conn).Read", "crypto/tls.(*Conn).Write"});

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace httptrace::tls {

struct GoFunction {
  std::string name;
  uint64_t entry_offset = 0;  // file offset of the first instruction
  // File offset of the first instruction after the stack check (`CMPQ SP, 16(R14); JBE
  // morestack`): a probe here fires once per call, while one at the entry fires again when the
  // goroutine's stack grows (morestack jumps back to the entry). The arguments are still in
  // their registers. The entry when the function has no stack check.
  uint64_t body_offset = 0;
  std::vector<uint64_t> return_offsets;  // file offsets of its RET instructions (at least one)
};

// Whether `path` is a Go executable whose function table names every function: the first
// check of FindGoFunctions, without decoding the table or the code. Errors: opening or reading
// the file.
absl::StatusOr<bool> NamesGoFunctions(const std::string& path,
                                      const std::vector<std::string>& names);

// The functions, in the order of `names`. The code is read from the file (pread), never through
// a mapping, which shows the breakpoints of uprobes set on the file (elf_file.h). Errors:
// - NotFound: the file is not a Go executable, or does not contain every function (a Go program
//   without crypto/tls): nothing to probe, not a failure;
// - Unimplemented: a Go before 1.18 (another table format; the stack-based calling convention
//   before 1.17) or not x86-64;
// - DataLoss: the table or the code does not decode (then no probe is safe to set);
// - and the errors of opening the file.
absl::StatusOr<std::vector<GoFunction>> FindGoFunctions(const std::string& path,
                                                        const std::vector<std::string>& names);

}  // namespace httptrace::tls
