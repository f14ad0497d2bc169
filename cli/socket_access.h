// Why httptracectl may not connect to an agent's unix socket, in words that say whom to ask:
// the socket's (or the directory's) owner, group and mode, and whether this user is in that
// group. The agent's --socket-group gives a group access (root:GROUP 0660).

#pragma once

#include <string>

namespace httptrace::cli {

// "/run/httptrace/agent.sock is root:httptrace 0660 and you (uid 1000) are not in group
// httptrace: run as root (sudo), or have an administrator add you to httptrace (the agent's
// --socket-group) and log in again". `path` is the socket's path.
std::string ExplainSocketAccess(const std::string& path);

}  // namespace httptrace::cli
