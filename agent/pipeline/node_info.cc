#include "agent/pipeline/node_info.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace httptrace::pipeline {

std::string FindTracefsMount() {
  std::ifstream mounts("/proc/self/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string device, mount_point, type;
    fields >> device >> mount_point >> type;
    if (type == "tracefs") return mount_point;
  }
  return "";
}

NodeInfo ReadNodeInfo() {
  NodeInfo info;
  struct utsname uts;
  if (uname(&uts) == 0) info.kernel_release = uts.release;
  info.btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
  info.tracefs = FindTracefsMount();
  if (const char* node = std::getenv("NODE_NAME"); node != nullptr && *node != '\0') {
    info.node = node;
  } else {
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) == 0) info.node = host;
  }
  return info;
}

}  // namespace httptrace::pipeline
