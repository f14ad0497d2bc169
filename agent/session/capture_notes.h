// Which of the capture's notes concern a session. An unprobed TLS library ("tls not probed
// (cause): /proc/PID/root/path") concerns a session only while the process it was found in
// lives and the session's filter could match that process (its pid and name; what a note
// cannot tell, such as its ports or container, never excludes it); a session that wants only
// plaintext (--tls plain) gets no TLS note at all. Other notes concern every session.

#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "proto/httptrace.pb.h"

namespace httptrace::session {

// The name (kernel comm) of a live process, or nullopt when it has exited.
using ProcessName = std::function<std::optional<std::string>(uint32_t pid)>;

// Reads /proc/PID/comm.
std::optional<std::string> ProcProcessName(uint32_t pid);

std::vector<std::string> NotesForSession(const v1::Filter& filter,
                                         const std::vector<std::string>& notes,
                                         const ProcessName& process_name = ProcProcessName);

}  // namespace httptrace::session
