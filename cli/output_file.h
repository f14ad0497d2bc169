// Where a trace goes: standard output, or a file opened for appending (created with mode 0640:
// traces hold request data, so they are not world-readable). Writes report errors such as a full
// disk instead of dropping bytes silently.

#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/unique_fd.h"

namespace httptrace::cli {

class OutputFile {
 public:
  // Empty path or "-": standard output.
  static absl::StatusOr<OutputFile> Open(const std::string& path);

  OutputFile(OutputFile&& other) noexcept = default;
  OutputFile& operator=(OutputFile&& other) noexcept = default;
  ~OutputFile() {
    if (!owned_) fd_.release();  // standard output is not ours to close
  }

  // True when the file was empty when opened (a header belongs at its top).
  bool was_empty() const { return was_empty_; }
  const std::string& name() const { return name_; }

  // Writes all of `bytes` or fails with the errno named ("writing traces/x.txt: No space left").
  absl::Status Write(absl::string_view bytes);

 private:
  OutputFile(UniqueFd fd, bool owned, std::string name, bool was_empty)
      : fd_(std::move(fd)), owned_(owned), name_(std::move(name)), was_empty_(was_empty) {}

  UniqueFd fd_;
  bool owned_;
  std::string name_;
  bool was_empty_;
};

}  // namespace httptrace::cli
