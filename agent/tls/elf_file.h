// A read-only view of a 64-bit little-endian ELF file: its sections by name or type, and the
// file offset of a virtual address. Shared by the symbol lookup of static TLS libraries
// (elf_symbols.h) and the Go function finder (go_functions.h).
//
// Bytes are read with pread(2), never through a mapping of the file: the kernel writes the
// breakpoints of every uprobe set on a file into each executable-capable mapping of it, private
// read-only ones included (uprobe_mmap), so code read through a mapping while uprobes are set or
// still being removed shows INT3 where instructions are. pread gives the file's own bytes.
//   absl::StatusOr<ElfFile> elf = ElfFile::Open("/usr/bin/app");
//   const Elf64_Shdr* s = elf->Section(".gopclntab");
//   std::vector<uint8_t> table = elf->Contents(*s);

#pragma once

#include <elf.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/unique_fd.h"

namespace httptrace::tls {

class ElfFile {
 public:
  // Reads the ELF header, the section headers and the program headers. Errors: the file cannot
  // be opened or read, or is not a 64-bit little-endian ELF file with its header tables inside.
  static absl::StatusOr<ElfFile> Open(const std::string& path);

  ElfFile(ElfFile&& other) noexcept = default;
  ElfFile& operator=(ElfFile&& other) = delete;
  ElfFile(const ElfFile&) = delete;

  const Elf64_Ehdr& header() const { return header_; }
  absl::Span<const Elf64_Shdr> sections() const { return sections_; }
  // The first section of that name, or null.
  const Elf64_Shdr* Section(absl::string_view name) const;
  // The bytes of a section (empty for SHT_NOBITS, a section that does not fit in the file, or a
  // read that fails).
  std::vector<uint8_t> Contents(const Elf64_Shdr& section) const;
  // `size` bytes of the file from `offset` (empty when they are not all in the file).
  std::vector<uint8_t> Bytes(uint64_t offset, uint64_t size) const;
  // The offset in the file of the byte loaded at `vaddr` (PT_LOAD segments), if any.
  std::optional<uint64_t> FileOffset(uint64_t vaddr) const;

 private:
  ElfFile(UniqueFd fd, uint64_t size) : fd_(std::move(fd)), size_(size) {}

  UniqueFd fd_;
  uint64_t size_;
  Elf64_Ehdr header_{};
  std::vector<Elf64_Shdr> sections_;
  std::vector<Elf64_Phdr> segments_;
  std::vector<uint8_t> section_names_;
};

}  // namespace httptrace::tls
