// Parsing of /proc/PID/maps (see proc_maps.h).

#include "agent/tls/proc_maps.h"

#include <sys/sysmacros.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace httptrace::tls {

std::vector<MappedFile> ParseMaps(absl::string_view maps) {
  std::vector<MappedFile> out;
  absl::flat_hash_set<FileId> seen;
  for (absl::string_view line : absl::StrSplit(maps, '\n')) {
    // address perms offset dev inode path: "7f..-7f.. r-xp 00000000 08:01 1234   /usr/lib/x.so"
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::MaxSplits(absl::ByAnyChar(" \t"), 5), absl::SkipEmpty());
    if (f.size() < 6 || f[1].size() < 3 || f[1][2] != 'x') continue;
    absl::string_view path = absl::StripLeadingAsciiWhitespace(f[5]);
    if (path.empty() || path[0] != '/' || absl::EndsWith(path, " (deleted)")) continue;
    std::vector<absl::string_view> dev = absl::StrSplit(f[3], ':');
    uint32_t major = 0, minor = 0;
    uint64_t inode = 0;
    if (dev.size() != 2 || !absl::SimpleHexAtoi(dev[0], &major) ||
        !absl::SimpleHexAtoi(dev[1], &minor) || !absl::SimpleAtoi(f[4], &inode) || inode == 0) {
      continue;
    }
    MappedFile file{std::string(path), FileId{makedev(major, minor), inode}};
    if (seen.insert(file.id).second) out.push_back(std::move(file));
  }
  return out;
}

LibraryKind LibraryKindOf(absl::string_view path) {
  const size_t slash = path.rfind('/');
  const absl::string_view name = slash == absl::string_view::npos ? path : path.substr(slash + 1);
  if (absl::StartsWith(name, "libssl.so")) return LibraryKind::kOpenssl;
  if (absl::StartsWith(name, "libgnutls.so")) return LibraryKind::kGnutls;
  return LibraryKind::kNone;
}

}  // namespace httptrace::tls
