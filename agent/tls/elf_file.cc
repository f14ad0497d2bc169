// ELF file reading with pread (see elf_file.h).

#include "agent/tls/elf_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace httptrace::tls {
namespace {

// Reads exactly `size` bytes at `offset` (pread may return short counts).
bool ReadAt(int fd, uint64_t offset, void* out, size_t size) {
  auto* p = static_cast<uint8_t*>(out);
  while (size > 0) {
    const ssize_t n = pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    offset += n;
    size -= n;
  }
  return true;
}

}  // namespace

absl::StatusOr<ElfFile> ElfFile::Open(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not an ELF file"));
  }
  const uint64_t size = st.st_size;
  ElfFile elf(std::move(fd), size);
  Elf64_Ehdr& eh = elf.header_;
  if (!ReadAt(elf.fd_.get(), 0, &eh, sizeof(eh))) {
    return absl::ErrnoToStatus(errno ? errno : EIO, absl::StrCat("read ", path));
  }
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_shentsize != sizeof(Elf64_Shdr) ||
      eh.e_shoff == 0 || eh.e_shoff + uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr) > size ||
      (eh.e_phnum != 0 && (eh.e_phentsize != sizeof(Elf64_Phdr) ||
                           eh.e_phoff + uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > size))) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a 64-bit little-endian ELF file"));
  }
  elf.sections_.resize(eh.e_shnum);
  elf.segments_.resize(eh.e_phnum);
  if (!ReadAt(elf.fd_.get(), eh.e_shoff, elf.sections_.data(),
              elf.sections_.size() * sizeof(Elf64_Shdr)) ||
      !ReadAt(elf.fd_.get(), eh.e_phoff, elf.segments_.data(),
              elf.segments_.size() * sizeof(Elf64_Phdr))) {
    return absl::DataLossError(absl::StrCat(path, ": header tables cannot be read"));
  }
  if (eh.e_shstrndx < elf.sections_.size()) {
    elf.section_names_ = elf.Contents(elf.sections_[eh.e_shstrndx]);
  }
  return elf;
}

const Elf64_Shdr* ElfFile::Section(absl::string_view name) const {
  const auto* names = reinterpret_cast<const char*>(section_names_.data());
  for (const Elf64_Shdr& s : sections_) {
    if (s.sh_name >= section_names_.size()) continue;
    const char* n = names + s.sh_name;
    if (absl::string_view(n, strnlen(n, section_names_.size() - s.sh_name)) == name) return &s;
  }
  return nullptr;
}

std::vector<uint8_t> ElfFile::Contents(const Elf64_Shdr& section) const {
  if (section.sh_type == SHT_NOBITS) return {};
  return Bytes(section.sh_offset, section.sh_size);
}

std::vector<uint8_t> ElfFile::Bytes(uint64_t offset, uint64_t size) const {
  if (offset > size_ || size > size_ - offset) return {};
  std::vector<uint8_t> out(size);
  if (!ReadAt(fd_.get(), offset, out.data(), size)) return {};
  return out;
}

std::optional<uint64_t> ElfFile::FileOffset(uint64_t vaddr) const {
  for (const Elf64_Phdr& ph : segments_) {
    if (ph.p_type != PT_LOAD) continue;
    if (vaddr >= ph.p_vaddr && vaddr - ph.p_vaddr < ph.p_filesz) {
      return vaddr - ph.p_vaddr + ph.p_offset;
    }
  }
  return std::nullopt;
}

}  // namespace httptrace::tls
