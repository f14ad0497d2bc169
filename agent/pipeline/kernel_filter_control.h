// Drives the probes for the sessions: attaches them when the first session starts and detaches
// them after the last, and keeps the in-kernel filter the union of the sessions' filters (pids,
// ports, and the mount namespaces of the containers or pods they name, followed as containers
// start and stop). Exact per-session filtering happens later, in the sessions.
//
// Threads: Apply from gRPC or reaper threads (the session manager serializes them); a refresh
// thread of its own follows containers while a container or pod filter is active.

#pragma once

#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/capture/capture.h"
#include "agent/container/container_resolver.h"
#include "agent/cri/pod_filter.h"
#include "proto/httptrace.pb.h"

namespace httptrace::pipeline {

// "auto", "tracepoints", "raw-tracepoints" (or "raw_tracepoints").
absl::StatusOr<capture::AttachMode> ParseAttachMode(absl::string_view text);

// Turns the sessions' filters into the in-kernel filter: a dimension (pids, ports) is
// restricted only when every session restricts it, so the kernel never drops what any session
// wants.
capture::KernelFilter UnionKernelFilter(const std::vector<v1::Filter>& filters);

// Room for an HTTP/1 message's start line and headers in the probes' per-message copy limit.
// 8 KiB: the header limit of the common servers and proxies (nginx's large_client_header_buffers
// line, Apache's LimitRequestFieldSize 8190, most proxies' response header buffers), so a session
// gets its whole body limit behind any headers those accept. Larger headers are cut, never
// silently: the HTTP/1 engine counts the message lost ("bytes lost in the headers").
inline constexpr uint32_t kHttp1HeaderAllowance = 8192;

// The probes' per-message copy limit of HTTP/1 connections (ht_config.h1_message_limit) for
// sessions keeping at most `body_limit_bytes` of a body.
uint32_t Http1MessageCopyLimit(uint32_t body_limit_bytes);

// Whether Apply gives the probes that limit. False: pipelined messages past it were lost
// uncounted (see Apply); the probes' limit itself is tested in capture_test.
inline constexpr bool kApplyHttp1MessageLimit = false;

class KernelFilterControl {
 public:
  // `forget_connections` ends every connection user space tracks; it is called while the probes
  // are detached (after a Detach, before an Attach, which clears the kernel's tables: user space
  // must not outlive them). `containers` and `pods` may be null; all outlive this object.
  KernelFilterControl(capture::Capture* capture, container::ContainerResolver* containers,
                      cri::PodFilter* pods, absl::Duration container_refresh_period,
                      std::function<void()> forget_connections);
  ~KernelFilterControl();  // stops the refresh thread
  KernelFilterControl(const KernelFilterControl&) = delete;
  KernelFilterControl& operator=(const KernelFilterControl&) = delete;

  // The filters of the active sessions (none: detach), and the largest of their body limits:
  // the probes would copy at most Http1MessageCopyLimit(body_limit_bytes) bytes of an HTTP/1
  // message (not applied while kApplyHttp1MessageLimit is false).
  absl::Status Apply(const std::vector<v1::Filter>& active_filters, uint32_t body_limit_bytes)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // The pods every session names by namespace and/or name, one entry per session.
  using PodSelector = std::pair<std::vector<std::string>, std::vector<std::string>>;

  // The containers every session names (none when some session names none): these restrict the
  // kernel filter, by mount namespace.
  std::vector<std::string> ContainerSelectors(const std::vector<v1::Filter>& filters) const;
  // None when some session names no pod, or when a container filter already restricts.
  std::vector<PodSelector> PodSelectors(const std::vector<v1::Filter>& filters) const;
  // Mount namespaces of the processes of every pod the selectors name (through the CRI runtime).
  absl::StatusOr<std::vector<uint32_t>> PodMountNamespaces() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LogContainerFilter(absl::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Follows containers that start, restart or stop during a capture (own thread).
  void RefreshLoop();

  capture::Capture* const capture_;
  container::ContainerResolver* const containers_;
  cri::PodFilter* const pods_;
  const absl::Duration refresh_period_;
  const std::function<void()> forget_connections_;

  absl::Mutex mu_;
  capture::KernelFilter kernel_filter_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> container_selectors_ ABSL_GUARDED_BY(mu_);
  std::vector<PodSelector> pod_selectors_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread refresh_;
};

}  // namespace httptrace::pipeline
