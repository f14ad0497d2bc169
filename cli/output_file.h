// Where a trace goes: standard output, or a file opened for appending (created with mode 0640:
// traces hold request data, so they are not world-readable).
//
// Writes are buffered (one write(2) per 64 KiB rather than per event: per-event writes were a
// quarter of the ctl's CPU under load) and flushed at least every 200 ms by a background thread,
// so `tail -f` stays live. Errors such as a full disk are reported by the next Write or Flush,
// never dropped; durable_mark() tells which events reached the file for sure.

#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/unique_fd.h"

namespace httptrace::cli {

class OutputFile {
 public:
  static constexpr size_t kBufferBytes = 64 << 10;

  // Empty path or "-": standard output.
  static absl::StatusOr<OutputFile> Open(const std::string& path);

  OutputFile(OutputFile&& other) noexcept;
  OutputFile& operator=(OutputFile&& other) noexcept;
  // Flushes what is buffered (errors are lost here: call Flush to see them).
  ~OutputFile();

  // True when the file was empty when opened (a header belongs at its top).
  bool was_empty() const;
  const std::string& name() const;

  // Buffers `bytes`; `mark` labels them (e.g. the event's sequence number). Fails with the
  // error of an earlier flush ("writing traces/x.txt: No space left on device").
  absl::Status Write(absl::string_view bytes, uint64_t mark = 0);
  // Writes everything buffered.
  absl::Status Flush();
  // The mark of the last bytes known to be written to the file (0 when none).
  uint64_t durable_mark() const;
  // The error of an earlier write, also one of the background flusher's (OK when none): a
  // writer with nothing more to write learns of a full disk here, not only at its next Write.
  absl::Status status() const;

 private:
  struct State;
  explicit OutputFile(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

}  // namespace httptrace::cli
