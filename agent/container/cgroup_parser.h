// Container identity from a process's cgroup membership (/proc/<pid>/cgroup): the container id,
// the runtime that made it, and the Kubernetes pod UID when the cgroup is a kubepods path.
//
// Pure string parsing, no I/O: ParseProcCgroup(file contents) for a whole file (cgroup v1, v2 or
// the hybrid layout), ParseCgroupPath for one path. Processes on the host yield std::nullopt.

#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace httptrace::container {

struct CgroupIdentity {
  std::string id;       // 64 lowercase hex digits
  std::string runtime;  // "docker", "podman", "containerd", "cri-o", or "unknown"
  std::string pod_uid;  // Kubernetes pod UID with dashes; empty outside kubepods paths

  bool operator==(const CgroupIdentity&) const = default;
};

// One cgroup path, e.g. "/system.slice/docker-<id>.scope" or "/kubepods/burstable/pod<uid>/<id>".
// Recognizes Docker (cgroupfs and systemd drivers), Podman (libpod, rootful and rootless, in and
// out of pods), containerd (cri-containerd under Kubernetes, nerdctl, plain namespaces), CRI-O, and
// any other path whose container level is a bare 64-hex id. Paths of a container's monitor process
// (conmon) are not the container's and yield std::nullopt.
std::optional<CgroupIdentity> ParseCgroupPath(absl::string_view path);

// The contents of /proc/<pid>/cgroup ("hierarchy-id:controllers:path" lines). The unified (v2)
// line is preferred, then the v1 lines in file order: on hybrid machines some runtimes place
// containers only in the v1 hierarchies, others in both.
std::optional<CgroupIdentity> ParseProcCgroup(absl::string_view contents);

}  // namespace httptrace::container
