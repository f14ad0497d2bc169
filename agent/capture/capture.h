// The kernel capture: loads the syscall probes (bpf/capture.bpf.c), attaches them while capture
// runs, and drains their ring buffer on a poll thread that hands decoded events to a CaptureSink.
//   auto capture = Capture::Create(config, &sink);  // checks BTF/privileges, opens and loads
//   capture->Attach(); ... capture->Detach();        // probes cost nothing while detached

#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/capture/capture_events.h"
#include "agent/capture/kernel_features.h"
#include "agent/capture/probe_environment.h"
#include "agent/capture/probe_object.h"
#include "agent/tls/tls_attacher.h"

struct capture_bpf;
struct bpf_link;
struct ring_buffer;

namespace httptrace::capture {

struct CaptureConfig {
  AttachMode attach_mode = AttachMode::kAuto;  // kAuto: raw sys_exit on x86_64 (bpf/README.md)
  bool mount_tracefs = true;  // tracepoint mode: mount tracefs on /sys/kernel/tracing if missing
  uint32_t ring_buffer_bytes = 16 << 20;  // power of two, multiple of the page size
  uint32_t copy_limit = 16384;            // payload bytes per data event, 1..16384
  uint64_t connection_budget = 0;         // payload bytes copied per connection; 0 = unlimited
  uint32_t max_connections = 65536;       // kernel connection table (LRU)
  absl::Duration poll_interval = absl::Milliseconds(5);  // drain period (wakeups are batched)
  bool exclude_self = true;  // never trace this process (tests that trace themselves set false)
  // Take every fallback of an older kernel (hash for task storage, bounded loops, registers from
  // the tracepoint argument, plain updates) even where the kernel has the feature: tests prove
  // the paths of 5.8-5.16 kernels on the build machine.
  bool use_fallbacks = false;
  // TLS plaintext through uprobes on the TLS libraries (bpf/tls.bpf.h, agent/tls/), attached
  // with the probes. Optional: where the kernel refuses those programs, plaintext capture goes
  // on and ProbeInfo says why. Off by default for the library's own users (tests); the agent
  // turns it on (--tls-uprobes).
  bool tls = false;
  tls::TlsAttacherOptions tls_options;
  // How long WaitTlsScanned waits for the TLS start-up scan (below the ctl's 30 s call
  // deadline): a session is reported started once the uprobes its processes need are set.
  absl::Duration tls_scan_wait = absl::Seconds(20);
};

// In-kernel filters. Empty means all; a connection passes when it passes every non-empty set.
struct KernelFilter {
  std::vector<uint32_t> tgids;
  std::vector<uint64_t> cgroup_ids;        // cgroup v2 ids (bpf_get_current_cgroup_id)
  std::vector<uint32_t> mount_namespaces;  // mount-namespace inode numbers
  std::vector<uint16_t> ports;             // local or remote port
  bool tls = true;  // some session wants TLS plaintext: the TLS uprobes are attached
  // HTTP/1 payload bytes copied per message and direction at most (ht_config.h1_message_limit):
  // the bytes past it advance the stream positions uncopied. 0: no limit.
  uint32_t http1_message_limit = 0;
};

struct ProbeInfo {
  AttachMode mode = AttachMode::kAuto;  // resolved: kTracepoints or kRawTracepoints
  std::vector<std::string> programs;    // attached programs (empty while detached), then one
                                        // line per TLS library probed or refused
  bool tls = false;                     // the TLS uprobe programs loaded
  std::string detail;                   // why this mode, and the kernel features used
  KernelFeatures features;              // as probed (less what use_fallbacks turned off)
};

class Capture {
 public:
  // One in-kernel filter dimension as last written: restricted or not, and since which filter
  // epoch each value (and, unrestricted, every other value) has been allowed.
  template <typename T>
  struct FilterDimension {
    bool restricted = false;
    uint32_t unrestricted_since = 0;
    absl::flat_hash_map<T, uint32_t> since;
  };

  // Checks BTF and privileges, chooses the attach mode, opens and loads the probes. `sink` must
  // outlive the Capture. Errors: FailedPrecondition (no BTF; no usable tracefs when tracepoints
  // were requested), PermissionDenied (privileges), InvalidArgument (config), others from
  // libbpf with the operation named (verifier log at debug level).
  static absl::StatusOr<std::unique_ptr<Capture>> Create(const CaptureConfig& config,
                                                         CaptureSink* sink);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  // Attaches the probes and starts the poll thread; returns once attached, the TLS uprobes
  // included (WaitTlsScanned) when the filter wants TLS. Clears the kernel's
  // connection tables first, so connections are rediscovered fresh: the sink must forget its
  // own connections before (they would never see their close). No-op when attached.
  absl::Status Attach() ABSL_LOCKS_EXCLUDED(mu_);
  // "tls not probed (cause): path" for each TLS library file found and refused (bounded by the
  // attacher's failure memory), and a line while the start-up scan is still attaching. Any
  // thread.
  std::vector<std::string> TlsNotes() const;
  // Detaches the probes, drains what is left in the ring buffer, joins the poll thread.
  void Detach() ABSL_LOCKS_EXCLUDED(mu_);
  bool attached() const ABSL_LOCKS_EXCLUDED(mu_);
  // Returns once the poll thread has handed every event queued before the call to the sink and
  // called its OnFlush (about 2 poll intervals): true then, and when detached (Detach drained
  // everything); false if the poll thread did not get there within 2 s + 3 poll intervals. Tests
  // use it as the barrier before asserting that nothing arrived. Must not be called from the sink
  // (the poll thread).
  bool Flush();

  // Replaces the in-kernel filters; takes effect for the next syscall. When attached and the
  // filter newly wants TLS, returns once the TLS uprobes are set (WaitTlsScanned). Sets change by
  // difference (a value in both filters is never missing), and a connection whose verdict
  // changed, or that was excluded for a while, continues under a new connection id.
  absl::Status SetFilter(const KernelFilter& filter) ABSL_LOCKS_EXCLUDED(mu_);

  // The agent's own TCP API ports (at most HT_MAX_API_PORTS, 0s ignored): connections of this
  // process's network namespace to them are its clients' (a ctl's), another process that
  // exclude_self does not cover, and are never traced. For connections created after the call.
  absl::Status SetOwnApiPorts(const std::vector<uint16_t>& ports) ABSL_LOCKS_EXCLUDED(mu_);

  // Every kernel counter ("kernel.ringbuf_full", "kernel.skip_not_socket", ...) and poller
  // counter ("poller.data_events", ...) by name. Safe from any thread.
  absl::flat_hash_map<std::string, uint64_t> Counters() const;

  ProbeInfo probe_info() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct LinkDeleter {
    void operator()(bpf_link* link) const;
  };
  struct RingBufferDeleter {
    void operator()(ring_buffer* rb) const;
  };
  class Poller;

  Capture(const CaptureConfig& config, CaptureSink* sink);
  absl::Status AttachWithoutTlsWait()
      ABSL_LOCKS_EXCLUDED(mu_);  // Attach and SetFilter, less WaitTlsScanned
  absl::Status SetFilterWithoutTlsWait(const KernelFilter& filter) ABSL_LOCKS_EXCLUDED(mu_);
  // Returns once the TLS start-up scan of this attach is done: the uprobes on every TLS
  // library and Go executable the running processes use are set. True then, and when no TLS
  // uprobes are wanted; false after config.tls_scan_wait (the scan goes on, and TlsNotes says
  // so while it runs, so sessions started meanwhile carry it in their notes). Holds no lock
  // while it waits: status and the poll thread go on.
  bool WaitTlsScanned() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Load(AttachMode mode, const KernelFeatures& features);
  // Starts (with its start-up scan) or stops the TLS attacher, if the TLS programs loaded.
  void StartTlsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopTlsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteConfig(uint32_t epoch, const KernelFilter& filter)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PollLoop();
  static void DestroyLinks(std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links);

  const CaptureConfig config_;
  CaptureSink* const sink_;
  ProbeInfo info_ ABSL_GUARDED_BY(mu_);
  CaptureObject skel_;
  std::unique_ptr<Poller> poller_;  // ring buffer + decoder, used by the poll thread only
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_ ABSL_GUARDED_BY(mu_);
  uint32_t filter_epoch_ ABSL_GUARDED_BY(mu_) = 1;
  uint32_t attach_epoch_ ABSL_GUARDED_BY(mu_) = 1;
  KernelFilter filter_ ABSL_GUARDED_BY(mu_);
  std::vector<uint16_t> api_ports_ ABSL_GUARDED_BY(mu_);
  uint32_t api_netns_ ABSL_GUARDED_BY(mu_) = 0;
  FilterDimension<uint32_t> tgids_ ABSL_GUARDED_BY(mu_);
  FilterDimension<uint64_t> cgroups_ ABSL_GUARDED_BY(mu_);
  FilterDimension<uint32_t> mount_namespaces_ ABSL_GUARDED_BY(mu_);
  FilterDimension<uint16_t> ports_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> completed_polls_{0};
  std::atomic<int> flush_waiters_{0};  // Flush calls in progress: the poll thread calls OnFlush
  std::thread poll_thread_;
  int num_cpus_ = 1;
  std::unique_ptr<tls::TlsAttacher> tls_;  // set when the TLS programs loaded
};

}  // namespace httptrace::capture
