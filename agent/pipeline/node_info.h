// Facts about the node the agent runs on, for GetStatus and for clear start-up errors: kernel
// release, BTF, where tracefs is mounted, and the node's name.

#pragma once

#include <string>

namespace httptrace::pipeline {

struct NodeInfo {
  std::string kernel_release;  // uname -r
  bool btf = false;            // /sys/kernel/btf/vmlinux readable
  std::string tracefs;         // mount point of tracefs, empty when not mounted
  std::string node;            // $NODE_NAME (Kubernetes downward API), else the host name
};

NodeInfo ReadNodeInfo();

// Where tracefs is mounted according to /proc/self/mounts ("" when nowhere).
std::string FindTracefsMount();

}  // namespace httptrace::pipeline
