#include "cli/socket_access.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace httptrace::cli {
namespace {

std::string UserName(uid_t uid) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return absl::StrCat(uid);
}

std::string GroupName(gid_t gid) {
  group entry{};
  group* found = nullptr;
  std::vector<char> buffer(16384);
  if (getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    return found->gr_name;
  }
  return absl::StrCat(gid);
}

bool InGroup(gid_t gid) {
  if (getegid() == gid) return true;
  const int n = getgroups(0, nullptr);
  if (n <= 0) return false;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  const int got = getgroups(n, groups.data());
  return got > 0 && std::find(groups.begin(), groups.begin() + got, gid) != groups.begin() + got;
}

}  // namespace

std::string ExplainSocketAccess(const std::string& path) {
  // The first thing on the way this user cannot pass: a directory it cannot enter, or the
  // socket itself.
  std::filesystem::path blocked = path;
  for (std::filesystem::path p = std::filesystem::path(path).parent_path();
       !p.empty() && p != p.root_path(); p = p.parent_path()) {
    if (access(p.c_str(), X_OK) != 0) blocked = p;
  }
  struct stat st;
  if (stat(blocked.c_str(), &st) != 0) {
    return absl::StrCat("permission denied on ", path, " (run as root, e.g. with sudo)");
  }
  const std::string group = GroupName(st.st_gid);
  const bool is_socket = blocked == std::filesystem::path(path);
  std::string text = absl::StrFormat(
      "%s%s is %s:%s %04o and you (%s) are ", is_socket ? "" : "the directory ", blocked.string(),
      UserName(st.st_uid), group, st.st_mode & 07777, UserName(geteuid()));
  if (InGroup(st.st_gid)) {
    absl::StrAppend(&text, "in group ", group, " but the group may not ",
                    is_socket ? "write to it" : "enter it",
                    ": run as root (sudo), or restart the agent with --socket-group ", group);
  } else if (st.st_gid == 0) {
    absl::StrAppend(&text,
                    "not root: run as root (sudo), or have the agent started with "
                    "--socket-group GROUP and join that group");
  } else {
    absl::StrAppend(&text, "not in group ", group,
                    ": run as root (sudo), or have an administrator ", "add you to ", group,
                    " (usermod -aG ", group, " ", UserName(geteuid()),
                    "; the agent's --socket-group) and log in again");
  }
  return text;
}

}  // namespace httptrace::cli
