// Go function table and RET instructions (see go_functions.h).

#include "agent/tls/go_functions.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/tls/elf_file.h"

namespace httptrace::tls {
namespace {

// runtime/symtab.go, pcHeader (Go 1.18-1.19: magic 0xfffffff0; 1.20 and later: 0xfffffff1,
// same layout): magic, two pad bytes, minLC, ptrSize, then uintptr-sized fields.
constexpr uint32_t kMagicGo118 = 0xfffffff0;
constexpr uint32_t kMagicGo120 = 0xfffffff1;
constexpr size_t kHeaderSize = 8 + 8 * 8;
constexpr size_t kNfuncAt = 8, kTextStartAt = 24, kFuncnameOffsetAt = 32, kPclnOffsetAt = 64;

template <typename T>
bool Load(absl::Span<const uint8_t> bytes, uint64_t at, T* out) {
  if (at > bytes.size() || bytes.size() - at < sizeof(T)) return false;
  std::memcpy(out, bytes.data() + at, sizeof(T));
  return true;
}

struct Bounds {
  uint64_t start = 0;  // virtual addresses
  uint64_t end = 0;
};

// Walks functab (nfunc+1 pairs {entryoff, funcoff}; the last entryoff is the end of the text)
// and returns the bounds of the wanted functions found.
absl::StatusOr<absl::flat_hash_map<std::string, Bounds>> FunctionBounds(
    absl::Span<const uint8_t> pcln, uint64_t text_start, const std::vector<std::string>& names) {
  uint64_t nfunc = 0, funcname_offset = 0, pcln_offset = 0;
  if (!Load(pcln, kNfuncAt, &nfunc) || !Load(pcln, kFuncnameOffsetAt, &funcname_offset) ||
      !Load(pcln, kPclnOffsetAt, &pcln_offset) || pcln_offset > pcln.size() ||
      nfunc > (pcln.size() - pcln_offset) / 8) {
    return absl::DataLossError(".gopclntab: header out of range");
  }
  const absl::Span<const uint8_t> tab = pcln.subspan(pcln_offset);
  absl::flat_hash_map<std::string, Bounds> found;
  for (uint64_t i = 0; i < nfunc && found.size() < names.size(); ++i) {
    uint32_t entry = 0, funcoff = 0, next = 0, func_entry = 0;
    int32_t name_off = 0;
    if (!Load(tab, i * 8, &entry) || !Load(tab, i * 8 + 4, &funcoff) ||
        !Load(tab, (i + 1) * 8, &next) || !Load(tab, funcoff, &func_entry) ||
        !Load(tab, uint64_t{funcoff} + 4, &name_off)) {
      return absl::DataLossError(".gopclntab: function table out of range");
    }
    const uint64_t name_at = funcname_offset + static_cast<uint64_t>(name_off);
    if (name_off < 0 || name_at >= pcln.size()) continue;
    const char* name = reinterpret_cast<const char*>(pcln.data() + name_at);
    const absl::string_view n(name, strnlen(name, pcln.size() - name_at));
    for (const std::string& want : names) {
      if (n == want && next > entry) found[want] = {text_start + entry, text_start + next};
    }
  }
  return found;
}

// Fills the body and RET offsets of `f` from its code (loaded at `address`, at `file_offset`
// in the file).
absl::Status Disassemble(absl::Span<const uint8_t> code, uint64_t address, uint64_t file_offset,
                         GoFunction& f) {
  csh handle;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) {
    return absl::InternalError("capstone: cs_open failed");
  }
  std::unique_ptr<csh, void (*)(csh*)> close_handle(&handle, [](csh* h) { cs_close(h); });
  std::unique_ptr<cs_insn, void (*)(cs_insn*)> insn(cs_malloc(handle),
                                                    [](cs_insn* i) { cs_free(i, 1); });
  const uint8_t* p = code.data();
  size_t left = code.size();
  uint64_t at = address;
  std::vector<uint64_t> rets;
  f.body_offset = file_offset;
  // The stack check is the first instructions: [LEAQ -frame(SP), R12;] CMPQ ..., 16(R14); JBE.
  constexpr int kPrologueInstructions = 4;
  for (int i = 0; left > 0; ++i) {
    if (!cs_disasm_iter(handle, &p, &left, &at, insn.get())) {
      // Go pads functions with INT3, which decodes; anything else that does not is a table
      // that lied about the bounds: refuse every offset rather than set one mid-instruction.
      return absl::DataLossError(absl::StrCat("undecodable instruction at 0x", absl::Hex(at)));
    }
    if (insn->id == X86_INS_RET) rets.push_back(file_offset + (insn->address - address));
    if (i < kPrologueInstructions && f.body_offset == file_offset &&
        (insn->id == X86_INS_JBE || insn->id == X86_INS_JB)) {
      f.body_offset = file_offset + (at - address);  // `at`: the next instruction
    }
  }
  if (rets.empty()) return absl::DataLossError("no RET instruction");
  f.return_offsets = std::move(rets);
  return absl::OkStatus();
}

// The function table of a Go executable that names every function, or NotFound. The names are
// strings of the table whatever its format: a program without them is not of interest, and
// says nothing about its Go version.
absl::StatusOr<std::vector<uint8_t>> TableNaming(const ElfFile& elf, const std::string& path,
                                                 const std::vector<std::string>& names) {
  const Elf64_Shdr* pcln_section = elf.Section(".gopclntab");
  if (pcln_section == nullptr) return absl::NotFoundError(absl::StrCat(path, ": not Go"));
  std::vector<uint8_t> pcln = elf.Contents(*pcln_section);
  if (pcln.empty()) return absl::DataLossError(absl::StrCat(path, ": .gopclntab unreadable"));
  for (const std::string& name : names) {
    const std::string needle = name + '\0';
    if (std::search(pcln.begin(), pcln.end(), needle.begin(), needle.end()) == pcln.end()) {
      return absl::NotFoundError(absl::StrCat(path, ": no ", name));
    }
  }
  return pcln;
}

}  // namespace

absl::StatusOr<bool> NamesGoFunctions(const std::string& path,
                                      const std::vector<std::string>& names) {
  absl::StatusOr<ElfFile> elf = ElfFile::Open(path);
  if (!elf.ok()) return elf.status();
  absl::StatusOr<std::vector<uint8_t>> pcln = TableNaming(*elf, path, names);
  if (absl::IsNotFound(pcln.status())) return false;
  if (!pcln.ok()) return pcln.status();
  return true;
}

absl::StatusOr<std::vector<GoFunction>> FindGoFunctions(const std::string& path,
                                                        const std::vector<std::string>& names) {
  absl::StatusOr<ElfFile> elf = ElfFile::Open(path);
  if (!elf.ok()) return elf.status();
  absl::StatusOr<std::vector<uint8_t>> table = TableNaming(*elf, path, names);
  if (!table.ok()) return table.status();
  const absl::Span<const uint8_t> pcln = *table;
  uint32_t magic = 0;
  uint8_t ptr_size = 0;
  if (!Load(pcln, 0, &magic) || !Load(pcln, 7, &ptr_size) || pcln.size() < kHeaderSize) {
    return absl::DataLossError(absl::StrCat(path, ": .gopclntab truncated"));
  }
  if ((magic != kMagicGo118 && magic != kMagicGo120) || ptr_size != 8 ||
      elf->header().e_machine != EM_X86_64) {
    return absl::UnimplementedError(absl::StrCat(
        path, ": Go before 1.18 or not x86-64 (.gopclntab magic 0x", absl::Hex(magic), ")"));
  }
  uint64_t text_start = 0;
  Load(pcln, kTextStartAt, &text_start);
  if (text_start == 0) {
    // Position-independent builds leave it to a relocation; runtime.text is .text's start.
    const Elf64_Shdr* text = elf->Section(".text");
    if (text == nullptr) return absl::DataLossError(absl::StrCat(path, ": no .text"));
    text_start = text->sh_addr;
  }
  absl::StatusOr<absl::flat_hash_map<std::string, Bounds>> bounds =
      FunctionBounds(pcln, text_start, names);
  if (!bounds.ok()) return absl::DataLossError(absl::StrCat(path, ": ", bounds.status().message()));
  std::vector<GoFunction> out;
  for (const std::string& name : names) {
    auto it = bounds->find(name);
    if (it == bounds->end()) return absl::NotFoundError(absl::StrCat(path, ": no ", name));
    const Bounds b = it->second;
    const std::optional<uint64_t> start = elf->FileOffset(b.start);
    const std::optional<uint64_t> last = elf->FileOffset(b.end - 1);
    if (!start || !last || *last - *start != b.end - 1 - b.start) {
      return absl::DataLossError(absl::StrCat(path, ": ", name, " is not inside one segment"));
    }
    GoFunction f{name, *start};
    // Read from the file (elf_file.h): a mapping would show the INT3 of uprobes set on it.
    const std::vector<uint8_t> code = elf->Bytes(*start, b.end - b.start);
    if (code.empty()) return absl::DataLossError(absl::StrCat(path, ": ", name, " unreadable"));
    if (absl::Status s = Disassemble(code, b.start, *start, f); !s.ok()) {
      return absl::DataLossError(absl::StrCat(path, ": ", name, ": ", s.message()));
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace httptrace::tls
