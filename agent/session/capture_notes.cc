#include "agent/session/capture_notes.h"

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/session/filter.h"

namespace httptrace::session {
namespace {

constexpr absl::string_view kTlsNote = "tls not probed (";

// The pid in "…: /proc/PID/root/…", the process the library was found in; nullopt for a file
// found in a library directory, which no known process maps.
std::optional<uint32_t> NotePid(absl::string_view note) {
  const size_t at = note.find("): /proc/");
  if (at == absl::string_view::npos) return std::nullopt;
  absl::string_view rest = note.substr(at + 9);
  const size_t slash = rest.find('/');
  uint32_t pid = 0;
  if (slash == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(0, slash), &pid)) {
    return std::nullopt;
  }
  return pid;
}

}  // namespace

std::optional<std::string> ProcProcessName(uint32_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/comm"));
  std::string name;
  if (!in || !std::getline(in, name)) return std::nullopt;
  return name;
}

std::vector<std::string> NotesForSession(const v1::Filter& filter,
                                         const std::vector<std::string>& notes,
                                         const ProcessName& process_name) {
  // What a note can tell of its process: its pid and name. Everything else may still match.
  v1::Filter process_only;
  *process_only.mutable_pids() = filter.pids();
  *process_only.mutable_process_names() = filter.process_names();
  std::vector<std::string> out;
  for (const std::string& note : notes) {
    if (!absl::StartsWith(note, kTlsNote)) {
      out.push_back(note);
      continue;
    }
    if (filter.tls() == v1::TLS_PLAIN) continue;
    const std::optional<uint32_t> pid = NotePid(note);
    if (!pid.has_value()) continue;
    const std::optional<std::string> name = process_name(*pid);
    if (!name.has_value()) continue;  // exited
    v1::Exchange scope;
    scope.mutable_process()->set_pid(*pid);
    scope.mutable_process()->set_comm(*name);
    if (MatchesFilter(process_only, scope)) out.push_back(note);
  }
  return out;
}

}  // namespace httptrace::session
