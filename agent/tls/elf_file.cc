// ELF file mapping (see elf_file.h).

#include "agent/tls/elf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace httptrace::tls {

absl::StatusOr<ElfFile> ElfFile::Open(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not an ELF file"));
  }
  const size_t size = st.st_size;
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  close(fd);
  if (map == MAP_FAILED) return absl::ErrnoToStatus(err, absl::StrCat("mmap ", path));
  ElfFile elf(static_cast<const uint8_t*>(map), size);
  const Elf64_Ehdr& eh = elf.header();
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_shentsize != sizeof(Elf64_Shdr) ||
      eh.e_shoff == 0 || eh.e_shoff + uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr) > size ||
      (eh.e_phnum != 0 && (eh.e_phentsize != sizeof(Elf64_Phdr) ||
                           eh.e_phoff + uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > size))) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a 64-bit little-endian ELF file"));
  }
  return elf;
}

ElfFile::ElfFile(ElfFile&& other) noexcept : base_(other.base_), size_(other.size_) {
  other.base_ = nullptr;
  other.size_ = 0;
}

ElfFile::~ElfFile() {
  if (base_ != nullptr) munmap(const_cast<uint8_t*>(base_), size_);
}

absl::Span<const Elf64_Shdr> ElfFile::sections() const {
  return {reinterpret_cast<const Elf64_Shdr*>(base_ + header().e_shoff), header().e_shnum};
}

const Elf64_Shdr* ElfFile::Section(absl::string_view name) const {
  const absl::Span<const Elf64_Shdr> all = sections();
  if (header().e_shstrndx >= all.size()) return nullptr;
  const absl::Span<const uint8_t> names = Contents(all[header().e_shstrndx]);
  for (const Elf64_Shdr& s : all) {
    if (s.sh_name >= names.size()) continue;
    const char* n = reinterpret_cast<const char*>(names.data()) + s.sh_name;
    if (absl::string_view(n, strnlen(n, names.size() - s.sh_name)) == name) return &s;
  }
  return nullptr;
}

absl::Span<const uint8_t> ElfFile::Contents(const Elf64_Shdr& section) const {
  if (section.sh_type == SHT_NOBITS) return {};
  return Bytes(section.sh_offset, section.sh_size);
}

absl::Span<const uint8_t> ElfFile::Bytes(uint64_t offset, uint64_t size) const {
  if (offset > size_ || size > size_ - offset) return {};
  return {base_ + offset, size};
}

std::optional<uint64_t> ElfFile::FileOffset(uint64_t vaddr) const {
  const auto* ph = reinterpret_cast<const Elf64_Phdr*>(base_ + header().e_phoff);
  for (int i = 0; i < header().e_phnum; ++i) {
    if (ph[i].p_type != PT_LOAD) continue;
    if (vaddr >= ph[i].p_vaddr && vaddr - ph[i].p_vaddr < ph[i].p_filesz) {
      return vaddr - ph[i].p_vaddr + ph[i].p_offset;
    }
  }
  return std::nullopt;
}

}  // namespace httptrace::tls
