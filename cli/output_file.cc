#include "cli/output_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace httptrace::cli {
namespace {
constexpr absl::Duration kFlushPeriod = absl::Milliseconds(200);
}  // namespace

struct OutputFile::State {
  UniqueFd fd;
  bool owned = false;
  std::string name;
  bool was_empty = false;

  absl::Mutex mu;
  std::string buffer ABSL_GUARDED_BY(mu);
  uint64_t buffered_mark ABSL_GUARDED_BY(mu) = 0;
  uint64_t durable_mark ABSL_GUARDED_BY(mu) = 0;
  absl::Status error ABSL_GUARDED_BY(mu);

  absl::Notification stop;
  std::thread flusher;

  absl::Status FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!error.ok()) return error;
    absl::string_view rest = buffer;
    while (!rest.empty()) {
      const ssize_t n = ::write(fd.get(), rest.data(), rest.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        error = absl::ErrnoToStatus(errno, absl::StrCat("writing ", name));
        return error;
      }
      rest.remove_prefix(static_cast<size_t>(n));
    }
    buffer.clear();
    durable_mark = buffered_mark;
    return absl::OkStatus();
  }

  ~State() {
    if (flusher.joinable()) {
      stop.Notify();
      flusher.join();
    }
    {
      absl::MutexLock lock(&mu);
      FlushLocked().IgnoreError();
    }
    if (!owned) fd.release();  // standard output is not ours to close
  }
};

OutputFile::OutputFile(std::unique_ptr<State> state) : state_(std::move(state)) {
  State* s = state_.get();
  s->flusher = std::thread([s] {
    while (!s->stop.WaitForNotificationWithTimeout(kFlushPeriod)) {
      absl::MutexLock lock(&s->mu);
      if (!s->buffer.empty()) s->FlushLocked().IgnoreError();  // kept in s->error
    }
  });
}

OutputFile::~OutputFile() = default;
OutputFile::OutputFile(OutputFile&& other) noexcept = default;
OutputFile& OutputFile::operator=(OutputFile&& other) noexcept = default;

absl::StatusOr<OutputFile> OutputFile::Open(const std::string& path) {
  auto state = std::make_unique<State>();
  if (path.empty() || path == "-") {
    state->fd = UniqueFd(STDOUT_FILENO);
    state->name = "standard output";
    return OutputFile(std::move(state));
  }
  state->fd = UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!state->fd) return absl::ErrnoToStatus(errno, absl::StrCat("opening ", path));
  struct stat st;
  state->was_empty = ::fstat(state->fd.get(), &st) == 0 && st.st_size == 0;
  state->owned = true;
  state->name = path;
  return OutputFile(std::move(state));
}

bool OutputFile::was_empty() const { return state_->was_empty; }
const std::string& OutputFile::name() const { return state_->name; }

absl::Status OutputFile::Write(absl::string_view bytes, uint64_t mark) {
  absl::MutexLock lock(&state_->mu);
  if (!state_->error.ok()) return state_->error;
  state_->buffer.append(bytes.data(), bytes.size());
  if (mark != 0) state_->buffered_mark = mark;
  if (state_->buffer.size() >= kBufferBytes) return state_->FlushLocked();
  return absl::OkStatus();
}

absl::Status OutputFile::Flush() {
  absl::MutexLock lock(&state_->mu);
  return state_->FlushLocked();
}

absl::Status OutputFile::status() const {
  absl::MutexLock lock(&state_->mu);
  return state_->error;
}

uint64_t OutputFile::durable_mark() const {
  absl::MutexLock lock(&state_->mu);
  return state_->durable_mark;
}

}  // namespace httptrace::cli
