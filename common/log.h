// The project's one logging facility: leveled, line-atomic messages on stderr.
//
// absl 20220623 has no absl/log, so this is a thin stand-in with the same shape:
//   HT_LOG(INFO) << "attached " << n << " programs";
// Messages below the process-wide level cost one branch. Never log per event on a hot path; use
// HT_LOG_EVERY_N_SEC for conditions that can repeat (dropped events, bad input).

#pragma once

#include <atomic>
#include <cstdint>
#include <sstream>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace httptrace {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Names the macros take: HT_LOG(INFO).
namespace log_severity {
inline constexpr LogLevel DEBUG = LogLevel::kDebug;
inline constexpr LogLevel INFO = LogLevel::kInfo;
inline constexpr LogLevel WARNING = LogLevel::kWarning;
inline constexpr LogLevel ERROR = LogLevel::kError;
}  // namespace log_severity

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
inline bool LogEnabled(LogLevel level);

// Accepts "debug", "info", "warning" (or "warn"), "error", case-insensitively.
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text);

// Builds one message and writes it with a single write(2) when destroyed, so lines from several
// threads never interleave.
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;

  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

namespace log_internal {
extern std::atomic<int> g_level;
// True at most once per `seconds` for the call site owning `last_ns`.
bool ShouldLogEvery(std::atomic<int64_t>& last_ns, double seconds);
}  // namespace log_internal

inline bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= log_internal::g_level.load(std::memory_order_relaxed);
}

}  // namespace httptrace

#define HT_LOG(severity)                                               \
  if (!::httptrace::LogEnabled(::httptrace::log_severity::severity)) { \
  } else                                                               \
    ::httptrace::LogMessage(::httptrace::log_severity::severity, __FILE__, __LINE__).stream()

// Logs at most once per `seconds` from this call site (for conditions that can repeat).
#define HT_LOG_EVERY_N_SEC(severity, seconds)                                             \
  static std::atomic<int64_t> ht_log_last_ns_##__LINE__{0};                               \
  if (!::httptrace::LogEnabled(::httptrace::log_severity::severity) ||                    \
      !::httptrace::log_internal::ShouldLogEvery(ht_log_last_ns_##__LINE__, (seconds))) { \
  } else                                                                                  \
    ::httptrace::LogMessage(::httptrace::log_severity::severity, __FILE__, __LINE__).stream()
