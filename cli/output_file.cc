#include "cli/output_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace httptrace::cli {

absl::StatusOr<OutputFile> OutputFile::Open(const std::string& path) {
  if (path.empty() || path == "-") {
    return OutputFile(UniqueFd(STDOUT_FILENO), /*owned=*/false, "standard output",
                      /*was_empty=*/false);
  }
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!fd) {
    return absl::ErrnoToStatus(errno, absl::StrCat("opening ", path));
  }
  struct stat st;
  const bool empty = ::fstat(fd.get(), &st) == 0 && st.st_size == 0;
  return OutputFile(std::move(fd), /*owned=*/true, path, empty);
}

absl::Status OutputFile::Write(absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("writing ", name_));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace httptrace::cli
