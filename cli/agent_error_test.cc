#include "cli/agent_error.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "common/testing/test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(DescribeAgentErrorTest, AnAgentsOwnPermissionErrorIsPassedOnAsWorded) {
  // The agent could not read another process's namespace: its words, not a socket diagnosis
  // (the ctl reached the agent, so the socket is not the problem).
  const grpc::Status status(grpc::StatusCode::PERMISSION_DENIED,
                            "container filter: cannot read /proc/42/ns/mnt (container "
                            "0123456789ab): Permission denied; reading other processes' "
                            "namespaces needs CAP_SYS_PTRACE");
  const std::string text = DescribeAgentError(status, "unix:///run/httptrace/agent.sock");
  EXPECT_THAT(text, HasSubstr("CAP_SYS_PTRACE"));
  EXPECT_THAT(text, Not(HasSubstr("--socket-group")));
}

// What gRPC reports when connect() on the socket is refused, as the user who was refused: as
// root nothing is refused, so a forked child drops to nobody first.
std::string DescribeAsUnprivileged(const std::string& path) {
  const grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                            "failed to connect to all addresses; last error: UNKNOWN: unix:" +
                                path + ": Permission denied");
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    if (geteuid() == 0 &&
        (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
      _exit(2);
    }
    const std::string text = DescribeAgentError(status, "unix://" + path);
    _exit(write(fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()) ? 0 : 1);
  }
  close(fds[1]);
  std::string text;
  char buffer[512];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof(buffer))) > 0;) text.append(buffer, n);
  close(fds[0]);
  int wstatus = 0;
  waitpid(child, &wstatus, 0);
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) return "the child failed";
  return text;
}

TEST(DescribeAgentErrorTest, ASocketThisUserMayNotOpenIsExplained) {
  const std::string dir = test_support::MakeSocketDir("agent_error");
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  const std::string path = dir + "/agent.sock";
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  const std::string text = DescribeAsUnprivileged(path);
  EXPECT_THAT(text, HasSubstr(path + " is "));
  EXPECT_THAT(text, HasSubstr(" 0600 and you ("));
  close(fd);
  unlink(path.c_str());
  rmdir(dir.c_str());
}

TEST(DescribeAgentErrorTest, NoAgentListeningSaysWhereItLooked) {
  const grpc::Status status(grpc::StatusCode::UNAVAILABLE, "failed to connect to all addresses");
  EXPECT_THAT(DescribeAgentError(status, "unix:///nonexistent/agent.sock"),
              HasSubstr("is httptrace-agent running and listening on "
                        "unix:///nonexistent/agent.sock?"));
}

TEST(DescribeAgentErrorTest, ADeadlineNamesTheTimeoutFlag) {
  const grpc::Status status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
  EXPECT_THAT(DescribeAgentError(status, "127.0.0.1:9090"), HasSubstr("--timeout"));
}

}  // namespace
}  // namespace httptrace::cli
