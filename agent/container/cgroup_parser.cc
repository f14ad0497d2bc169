#include "agent/container/cgroup_parser.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace httptrace::container {
namespace {

constexpr size_t kIdLength = 64;

bool IsContainerId(absl::string_view s) {
  if (s.size() != kIdLength) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) || absl::ascii_isupper(c)) {
      return false;
    }
  }
  return true;
}

bool IsPodUid(absl::string_view s) {
  // 8-4-4-4-12 hex digits, with dashes (cgroupfs) or underscores (systemd slice names).
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool separator = i == 8 || i == 13 || i == 18 || i == 23;
    if (separator ? (s[i] != '-' && s[i] != '_')
                  : !absl::ascii_isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

// Systemd scope/slice prefixes that name a container's own cgroup, with their runtime. Longer
// prefixes that must NOT match (a runtime's monitor process) are checked before these.
struct ScopePrefix {
  absl::string_view prefix;
  absl::string_view runtime;
};
constexpr ScopePrefix kScopePrefixes[] = {
    {"docker-", "docker"}, {"libpod-", "podman"},      {"cri-containerd-", "containerd"},
    {"crio-", "cri-o"},    {"nerdctl-", "containerd"},
};
constexpr absl::string_view kMonitorPrefixes[] = {"libpod-conmon-", "crio-conmon-"};

// The pod UID from one path component, if it is a kubepods pod level:
//   cgroupfs: "pod<uid-with-dashes>"
//   systemd:  "kubepods-pod<uid>.slice", "kubepods-burstable-pod<uid_with_underscores>.slice"
std::optional<std::string> PodUidOf(absl::string_view component) {
  absl::string_view rest = component;
  if (absl::ConsumeSuffix(&rest, ".slice")) {
    const size_t at = rest.rfind("-pod");
    if (!absl::StrContains(rest, "kubepods") || at == absl::string_view::npos) return std::nullopt;
    rest = rest.substr(at + 4);
  } else if (!absl::ConsumePrefix(&rest, "pod")) {
    return std::nullopt;
  }
  if (!IsPodUid(rest)) return std::nullopt;
  return absl::StrReplaceAll(rest, {{"_", "-"}});
}

// What one component says about the container: its id and runtime, or nothing.
std::optional<CgroupIdentity> IdentityOf(absl::string_view component, absl::string_view parent) {
  for (absl::string_view monitor : kMonitorPrefixes) {
    if (absl::StartsWith(component, monitor)) return std::nullopt;
  }
  absl::string_view rest = component;
  // Systemd names the unit "<prefix><id>.scope".
  if (absl::ConsumeSuffix(&rest, ".scope")) {
    for (const ScopePrefix& p : kScopePrefixes) {
      absl::string_view id = rest;
      if (absl::ConsumePrefix(&id, p.prefix) && IsContainerId(id)) {
        return CgroupIdentity{std::string(id), std::string(p.runtime), ""};
      }
    }
    return std::nullopt;
  }
  // Podman's cgroupfs layout: "/libpod_parent/libpod-<id>"; CRI-O's: ".../pod<uid>/crio-<id>".
  for (const ScopePrefix& p : kScopePrefixes) {
    absl::string_view id = rest;
    if (absl::ConsumePrefix(&id, p.prefix) && IsContainerId(id)) {
      return CgroupIdentity{std::string(id), std::string(p.runtime), ""};
    }
  }
  if (!IsContainerId(rest)) return std::nullopt;
  // A bare id: the parent level says who made it.
  std::string runtime = "unknown";
  if (parent == "docker" || parent == "actions_job") {
    runtime = "docker";
  } else if (parent == "libpod_parent" || absl::StartsWith(parent, "libpod_pod_")) {
    runtime = "podman";
  } else if (PodUidOf(parent).has_value() || absl::StrContains(parent, "kubepods")) {
    // The cgroupfs driver of the kubelet puts containerd's, dockershim's and CRI-O's (without
    // the crio- prefix) containers here; containerd is what current clusters run.
    runtime = "containerd";
  }
  return CgroupIdentity{std::string(rest), std::move(runtime), ""};
}

}  // namespace

std::optional<CgroupIdentity> ParseCgroupPath(absl::string_view path) {
  std::vector<absl::string_view> components = absl::StrSplit(path, '/', absl::SkipEmpty());
  std::optional<CgroupIdentity> found;
  std::string pod_uid;
  absl::string_view parent;
  for (absl::string_view component : components) {
    if (std::optional<std::string> uid = PodUidOf(component)) pod_uid = *std::move(uid);
    // The innermost container level wins: Podman with --cgroupns=private and systemd-in-container
    // nest cgroups (".../libpod-<id>.scope/container") below the container's own.
    if (std::optional<CgroupIdentity> identity = IdentityOf(component, parent)) {
      found = std::move(identity);
    }
    parent = component;
  }
  if (!found.has_value()) return std::nullopt;
  found->pod_uid = std::move(pod_uid);
  return found;
}

std::optional<CgroupIdentity> ParseProcCgroup(absl::string_view contents) {
  std::optional<CgroupIdentity> v1;
  for (absl::string_view line : absl::StrSplit(contents, '\n', absl::SkipEmpty())) {
    // "hierarchy-id:controller-list:path"; the path itself may contain ':'.
    const size_t first = line.find(':');
    if (first == absl::string_view::npos) continue;
    const size_t second = line.find(':', first + 1);
    if (second == absl::string_view::npos) continue;
    const absl::string_view hierarchy = line.substr(0, first);
    std::optional<CgroupIdentity> identity = ParseCgroupPath(line.substr(second + 1));
    if (!identity.has_value()) continue;
    if (hierarchy == "0") return identity;  // the unified hierarchy
    if (!v1.has_value()) v1 = std::move(identity);
  }
  return v1;
}

}  // namespace httptrace::container
