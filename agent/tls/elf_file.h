// A read-only view of a 64-bit little-endian ELF file (mapped, unmapped on destruction): its
// sections by name or type, and the file offset of a virtual address. Shared by the symbol
// lookup of static TLS libraries (elf_symbols.h) and the Go function finder (go_functions.h).
//   absl::StatusOr<ElfFile> elf = ElfFile::Open("/usr/bin/app");
//   const Elf64_Shdr* s = elf->Section(".gopclntab");

#pragma once

#include <elf.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace httptrace::tls {

class ElfFile {
 public:
  // Errors: the file cannot be opened or mapped, or is not a 64-bit little-endian ELF file with
  // a section header table inside it.
  static absl::StatusOr<ElfFile> Open(const std::string& path);

  ElfFile(ElfFile&& other) noexcept;
  ElfFile& operator=(ElfFile&& other) = delete;
  ElfFile(const ElfFile&) = delete;
  ~ElfFile();

  const Elf64_Ehdr& header() const { return *reinterpret_cast<const Elf64_Ehdr*>(base_); }
  absl::Span<const Elf64_Shdr> sections() const;
  // The first section of that name, or null.
  const Elf64_Shdr* Section(absl::string_view name) const;
  // The bytes of a section (empty for SHT_NOBITS or a section that does not fit in the file).
  absl::Span<const uint8_t> Contents(const Elf64_Shdr& section) const;
  // `size` bytes of the file from `offset` (empty when they are not all in the file).
  absl::Span<const uint8_t> Bytes(uint64_t offset, uint64_t size) const;
  // The offset in the file of the byte loaded at `vaddr` (PT_LOAD segments), if any.
  std::optional<uint64_t> FileOffset(uint64_t vaddr) const;

 private:
  ElfFile(const uint8_t* base, size_t size) : base_(base), size_(size) {}

  const uint8_t* base_;
  size_t size_;
};

}  // namespace httptrace::tls
