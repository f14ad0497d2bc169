// ELF symbol lookup over the file's symbol tables (see elf_symbols.h).

#include "agent/tls/elf_symbols.h"

#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "agent/tls/elf_file.h"

namespace httptrace::tls {

absl::StatusOr<std::vector<std::string>> MissingFunctions(const std::string& path,
                                                          const std::vector<std::string>& names) {
  absl::StatusOr<ElfFile> elf = ElfFile::Open(path);
  if (!elf.ok()) return elf.status();
  const absl::Span<const Elf64_Shdr> sections = elf->sections();
  absl::flat_hash_set<absl::string_view> missing(names.begin(), names.end());
  for (const Elf64_Shdr& table : sections) {
    if (missing.empty()) break;
    if (table.sh_type != SHT_SYMTAB && table.sh_type != SHT_DYNSYM) continue;
    if (table.sh_link >= sections.size() || table.sh_entsize != sizeof(Elf64_Sym)) continue;
    const std::vector<uint8_t> symbols = elf->Contents(table);
    const std::vector<uint8_t> strings = elf->Contents(sections[table.sh_link]);
    if (symbols.empty() || strings.empty()) continue;  // truncated: ignore the table
    const auto* syms = reinterpret_cast<const Elf64_Sym*>(symbols.data());
    const char* strs = reinterpret_cast<const char*>(strings.data());
    const size_t count = symbols.size() / sizeof(Elf64_Sym);
    for (size_t k = 0; k < count && !missing.empty(); ++k) {
      if (ELF64_ST_TYPE(syms[k].st_info) != STT_FUNC || syms[k].st_value == 0 ||
          syms[k].st_name >= strings.size()) {
        continue;
      }
      const char* name = strs + syms[k].st_name;
      const size_t n = strnlen(name, strings.size() - syms[k].st_name);
      missing.erase(absl::string_view(name, n));
    }
  }
  std::vector<std::string> result;
  for (const std::string& name : names) {
    if (missing.contains(name)) result.push_back(name);
  }
  return result;
}

absl::StatusOr<bool> DefinesFunctions(const std::string& path,
                                      const std::vector<std::string>& names) {
  absl::StatusOr<std::vector<std::string>> missing = MissingFunctions(path, names);
  if (!missing.ok()) return missing.status();
  return missing->empty();
}

}  // namespace httptrace::tls
