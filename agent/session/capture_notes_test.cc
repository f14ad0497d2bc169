#include "agent/session/capture_notes.h"

#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::session {
namespace {

using testing::ElementsAre;
using testing::IsEmpty;

const std::vector<std::string> kNotes = {
    "tls not probed (no_symbol): /proc/42/root/usr/bin/node",
    "tls not probed (go_undecodable): /proc/43/root/srv/app",
    "tls not probed (unreadable): /usr/lib/x86_64-linux-gnu/libssl.so.9",
    "some other note about the capture",
};

// pid 42 is node, 43 has exited.
std::optional<std::string> Fake(uint32_t pid) {
  if (pid == 42) return std::string("node");
  return std::nullopt;
}

TEST(NotesForSession, OnlyLiveProcessesTheFilterCouldMatch) {
  EXPECT_THAT(NotesForSession(v1::Filter(), kNotes, Fake), ElementsAre(kNotes[0], kNotes[3]));
  v1::Filter node;
  node.add_process_names("node");
  EXPECT_THAT(NotesForSession(node, kNotes, Fake), ElementsAre(kNotes[0], kNotes[3]));
  v1::Filter curl;
  curl.add_process_names("curl");
  EXPECT_THAT(NotesForSession(curl, kNotes, Fake), ElementsAre(kNotes[3]));
  v1::Filter other_pid;
  other_pid.add_pids(7);
  EXPECT_THAT(NotesForSession(other_pid, kNotes, Fake), ElementsAre(kNotes[3]));
  // Ports and containers cannot be told from a note: they never exclude it.
  v1::Filter port;
  port.add_ports(8080);
  port.add_containers("web");
  EXPECT_THAT(NotesForSession(port, kNotes, Fake), ElementsAre(kNotes[0], kNotes[3]));
}

TEST(NotesForSession, PlaintextSessionsGetNoTlsNote) {
  v1::Filter plain;
  plain.set_tls(v1::TLS_PLAIN);
  EXPECT_THAT(NotesForSession(plain, kNotes, Fake), ElementsAre(kNotes[3]));
  plain.clear_tls();
  plain.set_tls(v1::TLS_ONLY);
  EXPECT_THAT(NotesForSession(plain, {kNotes[0]}, Fake), ElementsAre(kNotes[0]));
}

TEST(ProcProcessName, ReadsThisProcessAndNotAGoneOne) {
  EXPECT_TRUE(ProcProcessName(static_cast<uint32_t>(getpid())).has_value());
  EXPECT_FALSE(ProcProcessName(0x3fffffff).has_value());
}

}  // namespace
}  // namespace httptrace::session
