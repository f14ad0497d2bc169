// Which TLS libraries a process has mapped: parses /proc/PID/maps into the files it maps and
// names the ones whose plaintext calls httptrace can probe. Pure functions; the TLS attacher
// (tls_attacher.h) reads the files.
//   for (const MappedFile& f : ParseMaps(text)) if (LibraryKindOf(f.path) != ...) ...

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace httptrace::tls {

// A uprobe is set on a file (an inode): one attach covers every process that maps it, whatever
// path it was mapped through (a container's root, a bind mount, a hard link).
struct FileId {
  uint64_t dev = 0;  // makedev(major, minor) of the maps line
  uint64_t inode = 0;

  friend bool operator==(const FileId&, const FileId&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const FileId& id) {
    return H::combine(std::move(h), id.dev, id.inode);
  }
};

struct MappedFile {
  std::string path;  // as the process sees it (inside its mount namespace)
  FileId id;
};

// kGo: a Go executable's crypto/tls (found by its function table, never by file name).
enum class LibraryKind { kNone, kOpenssl, kGnutls, kGo };

// Every distinct file mapped executable, in the order of first appearance. Lines that do not
// parse, anonymous and special mappings ([vdso], [heap]) and deleted files are skipped.
std::vector<MappedFile> ParseMaps(absl::string_view maps);

// By file name: libssl.so* (OpenSSL 1.1/3, also BoringSSL builds named so) and libgnutls.so*.
LibraryKind LibraryKindOf(absl::string_view path);

}  // namespace httptrace::tls
