// Loader and poller of the capture probes: skeleton, links and ring buffer in RAII owners, one
// poll thread draining the ring buffer on a short timer (the probes batch their wakeups).

#include "agent/capture/capture.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "agent/capture/event_decoder.h"
#include "bpf/capture.skel.h"
#include "bpf/events.h"
#include "bpf/program_modes.h"
#include "common/log.h"

namespace httptrace::capture {
namespace {

// libbpf reports negative errno values (and sets errno on NULL returns).
absl::Status BpfError(int err, absl::string_view operation) {
  if (err < 0) err = -err;
  if (err == EPERM || err == EACCES) {
    return absl::PermissionDeniedError(
        absl::StrCat(operation, ": ", strerror(err), " (needs root, or CAP_BPF and CAP_PERFMON)"));
  }
  return absl::ErrnoToStatus(err, operation);
}

// Routes libbpf's messages into the project's log: warnings stay visible, the rest (including
// verifier logs, which libbpf prints at warning level on failure) are debug.
int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  char buffer[4096];
  vsnprintf(buffer, sizeof(buffer), format, args);
  absl::string_view text = absl::StripTrailingAsciiWhitespace(buffer);
  if (level == LIBBPF_WARN) {
    HT_LOG(WARNING) << "libbpf: " << text;
  } else if (level == LIBBPF_INFO) {
    HT_LOG(DEBUG) << "libbpf: " << text;
  }
  return 0;
}

absl::Status ClearMap(int fd, size_t key_size) {
  std::vector<char> key(key_size), next(key_size);
  // Deleting while walking restarts from the first key each time: get_next_key(NULL) is first.
  while (bpf_map_get_next_key(fd, nullptr, next.data()) == 0) {
    if (bpf_map_delete_elem(fd, next.data()) != 0) return BpfError(errno, "bpf_map_delete_elem");
  }
  return absl::OkStatus();
}

// Brings one filter dimension's kernel set to `values` (empty: unrestricted) by difference,
// so a value that stays allowed is never missing from the map, and records since when each
// value has been allowed (see ht_config in bpf/events.h). `epoch` is the filter epoch about to
// be written.
template <typename T>
absl::Status UpdateSet(int fd, Capture::FilterDimension<T>& dim, const std::vector<T>& values,
                       uint32_t epoch) {
  if (values.empty()) {
    // Everything is admitted from now on; the values in the map were allowed all along and
    // keep their epochs.
    if (dim.restricted) dim.unrestricted_since = epoch;
    dim.restricted = false;
    return absl::OkStatus();
  }
  absl::flat_hash_map<T, uint32_t> next;
  for (const T& value : values) {
    auto it = dim.since.find(value);
    next[value] = it != dim.since.end() ? it->second
                  : dim.restricted      ? epoch
                                        : dim.unrestricted_since;
  }
  for (const auto& [value, since] : next) {
    auto it = dim.since.find(value);
    if (it != dim.since.end() && it->second == since) continue;
    if (bpf_map_update_elem(fd, &value, &since, BPF_ANY) != 0) {
      return BpfError(errno, "filter set update (bpf_map_update_elem)");
    }
  }
  for (const auto& [value, since] : dim.since) {
    if (next.contains(value)) continue;
    if (bpf_map_delete_elem(fd, &value) != 0 && errno != ENOENT) {
      return BpfError(errno, "filter set update (bpf_map_delete_elem)");
    }
  }
  dim.since = std::move(next);
  dim.restricted = true;
  return absl::OkStatus();
}

}  // namespace

void Capture::LinkDeleter::operator()(bpf_link* link) const { bpf_link__destroy(link); }
void Capture::RingBufferDeleter::operator()(ring_buffer* rb) const { ring_buffer__free(rb); }

// The ring buffer and the decoder its callback feeds; touched only by the poll thread (and by
// Detach after the thread is joined).
class Capture::Poller {
 public:
  Poller(CaptureSink* sink) : decoder_(sink, BootToRealtimeOffsetNs()) {}

  absl::Status Open(int ring_fd) {
    ring_buffer* rb = ring_buffer__new(ring_fd, &Poller::OnRecord, this, nullptr);
    if (rb == nullptr) return BpfError(errno, "ring_buffer__new");
    rb_.reset(rb);
    return absl::OkStatus();
  }

  // Waits at most `timeout_ms` for a forced wakeup, then drains whatever is queued.
  void PollOnce(int timeout_ms) {
    const int n = ring_buffer__poll(rb_.get(), timeout_ms);
    if (n < 0 && n != -EINTR) {
      HT_LOG_EVERY_N_SEC(WARNING, 10) << "ring_buffer__poll failed: " << strerror(-n);
    }
    Drain();
  }
  void Drain() { ring_buffer__consume(rb_.get()); }
  void RefreshClock() { decoder_.set_boot_to_realtime_ns(BootToRealtimeOffsetNs()); }

  const EventDecoder& decoder() const { return decoder_; }

 private:
  static int OnRecord(void* ctx, void* data, size_t size) {
    static_cast<Poller*>(ctx)->decoder_.Decode(data, size);
    return 0;
  }

  EventDecoder decoder_;
  std::unique_ptr<ring_buffer, RingBufferDeleter> rb_;
};

Capture::Capture(const CaptureConfig& config, CaptureSink* sink) : config_(config), sink_(sink) {}

Capture::~Capture() { Detach(); }

absl::StatusOr<std::unique_ptr<Capture>> Capture::Create(const CaptureConfig& config,
                                                         CaptureSink* sink) {
  if (sink == nullptr) return absl::InvalidArgumentError("Capture needs a sink");
  if (config.copy_limit == 0 || config.copy_limit > HT_MAX_CHUNK) {
    return absl::InvalidArgumentError(
        absl::StrCat("copy_limit must be in 1..", HT_MAX_CHUNK, ", got ", config.copy_limit));
  }
  const uint32_t ring = config.ring_buffer_bytes;
  if (ring < 4096 || (ring & (ring - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ring_buffer_bytes must be a power of two >= 4096, got ", ring));
  }
  if (absl::Status s = CheckKernelSupport(); !s.ok()) return s;
  // Chosen by what the kernel has, not by its version (kernel_features.h, bpf/compat.bpf.h).
  KernelFeatures features = ProbeKernelFeatures();
  if (config.use_fallbacks) features = features.WithoutOptional();
  if (absl::Status s = CheckRequiredFeatures(features); !s.ok()) return s;
  absl::StatusOr<ResolvedAttachMode> mode =
      ResolveAttachMode(config.attach_mode, config.mount_tracefs);
  if (!mode.ok()) return mode.status();

  static std::once_flag print_once;
  std::call_once(print_once, [] { libbpf_set_print(LibbpfPrint); });

  std::unique_ptr<Capture> capture(new Capture(config, sink));
  {
    absl::MutexLock lock(&capture->mu_);
    capture->info_.mode = mode->mode;
    capture->info_.detail = absl::StrCat(mode->detail, "; ", DescribeFeatures(features));
    capture->info_.features = features;
  }
  if (absl::Status s = capture->Load(mode->mode, features); !s.ok()) return s;
  HT_LOG(INFO) << "capture probes loaded: " << capture->probe_info().detail;
  return capture;
}

absl::Status Capture::Load(AttachMode mode, const KernelFeatures& features) {
  absl::StatusOr<CaptureObject> skel = OpenCaptureObject(features);
  if (!skel.ok()) return skel.status();
  skel_ = std::move(*skel);

  num_cpus_ = libbpf_num_possible_cpus();
  if (num_cpus_ <= 0) return BpfError(num_cpus_, "libbpf_num_possible_cpus");
  skel_->rodata->self_tgid = config_.exclude_self ? static_cast<uint32_t>(getpid()) : 0;
  // Wake the consumer early only when a quarter of the buffer is pending.
  skel_->rodata->wakeup_bytes = config_.ring_buffer_bytes / 4;
  struct {
    bpf_map* map;
    uint32_t entries;
    const char* name;
  } const sizes[] = {
      {skel_->maps.events, config_.ring_buffer_bytes, "events"},
      {skel_->maps.scratch_map, static_cast<uint32_t>(num_cpus_), "scratch_map"},
      {skel_->maps.socks, config_.max_connections, "socks"},
      {skel_->maps.conns, config_.max_connections, "conns"},
  };
  for (const auto& s : sizes) {
    if (int err = bpf_map__set_max_entries(s.map, s.entries); err != 0) {
      return BpfError(err, absl::StrCat("sizing map ", s.name));
    }
  }
  bool tls = config_.tls;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    bpf_program__set_autoload(prog, ht_program_in_mode(bpf_program__section_name(prog),
                                                       mode == AttachMode::kRawTracepoints) &&
                                        (tls || !ht_program_is_tls(bpf_program__name(prog))));
  }
  int err = capture_bpf__load(skel_.get());
  std::string tls_detail = tls ? "TLS uprobes: yes" : "TLS uprobes: off";
  if (err != 0 && tls) {
    // The TLS programs are optional: a kernel that refuses them still captures plaintext. The
    // object cannot be loaded twice, so it is opened again without them.
    HT_LOG(WARNING) << "loading the probes with the TLS uprobes failed (" << strerror(-err)
                    << "); loading them without";
    tls = false;
    tls_detail = absl::StrCat("TLS uprobes: no (load failed: ", strerror(-err), ")");
    absl::StatusOr<CaptureObject> again = OpenCaptureObject(features);
    if (!again.ok()) return again.status();
    skel_ = std::move(*again);
    skel_->rodata->self_tgid = config_.exclude_self ? static_cast<uint32_t>(getpid()) : 0;
    skel_->rodata->wakeup_bytes = config_.ring_buffer_bytes / 4;
    const bpf_map* maps[] = {skel_->maps.events, skel_->maps.scratch_map, skel_->maps.socks,
                             skel_->maps.conns};
    for (size_t i = 0; i < std::size(maps); ++i) {
      bpf_map__set_max_entries(const_cast<bpf_map*>(maps[i]), sizes[i].entries);
    }
    bpf_object__for_each_program(prog, skel_->obj) {
      bpf_program__set_autoload(prog, ht_program_in_mode(bpf_program__section_name(prog),
                                                         mode == AttachMode::kRawTracepoints) &&
                                          !ht_program_is_tls(bpf_program__name(prog)));
    }
    err = capture_bpf__load(skel_.get());
  }
  if (err != 0) {
    return BpfError(err, "loading the capture probes (verifier log above, at debug level)");
  }
  if (tls) {
    tls::TlsPrograms p;
    p.ssl_read_enter = skel_->progs.tls_ssl_read_enter;
    p.ssl_write_enter = skel_->progs.tls_ssl_write_enter;
    p.ssl_read_ex_enter = skel_->progs.tls_ssl_read_ex_enter;
    p.ssl_write_ex_enter = skel_->progs.tls_ssl_write_ex_enter;
    p.ssl_handshake_enter = skel_->progs.tls_ssl_handshake_enter;
    p.gnutls_recv_enter = skel_->progs.tls_gnutls_recv_enter;
    p.gnutls_send_enter = skel_->progs.tls_gnutls_send_enter;
    p.return_probe = skel_->progs.tls_return_probe;
    p.go_read_enter = skel_->progs.tls_go_read_enter;
    p.go_write_enter = skel_->progs.tls_go_write_enter;
    p.sys_enter = skel_->progs.tls_sys_enter;
    p.exec = skel_->progs.tls_exec;
    p.exec_ring_fd = bpf_map__fd(skel_->maps.tls_execs);
    // Go's Write entry jumps to the copying program (bpf/maps.bpf.h, tls_tail).
    const uint32_t slot = 0;
    const int return_fd = bpf_program__fd(skel_->progs.tls_return_probe);
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.tls_tail), &slot, &return_fd, BPF_ANY) != 0) {
      HT_LOG(WARNING) << "TLS: setting the Go write path failed (" << strerror(errno)
                      << "): Go crypto/tls writes are counted kernel.tls_tail_call_failed";
    }
    tls_ = std::make_unique<tls::TlsAttacher>(p, config_.tls_options);
  }

  absl::MutexLock lock(&mu_);
  info_.tls = tls;
  absl::StrAppend(&info_.detail, "; ", tls_detail);
  if (absl::Status s = WriteConfig(filter_epoch_, filter_); !s.ok()) return s;
  poller_ = std::make_unique<Poller>(sink_);
  return poller_->Open(bpf_map__fd(skel_->maps.events));
}

absl::Status Capture::WriteConfig(uint32_t epoch, const KernelFilter& filter) {
  ht_config cfg = {};
  cfg.filter_epoch = epoch;
  cfg.filter_tgid = !filter.tgids.empty();
  cfg.filter_cgroup = !filter.cgroup_ids.empty();
  cfg.filter_mntns = !filter.mount_namespaces.empty();
  cfg.filter_port = !filter.ports.empty();
  cfg.copy_limit = config_.copy_limit;
  cfg.conn_budget = config_.connection_budget;
  cfg.h1_message_limit = filter.http1_message_limit;
  cfg.attach_epoch = attach_epoch_;
  cfg.unrestricted_since[HT_DIM_TGID] = tgids_.unrestricted_since;
  cfg.unrestricted_since[HT_DIM_CGROUP] = cgroups_.unrestricted_since;
  cfg.unrestricted_since[HT_DIM_MNTNS] = mount_namespaces_.unrestricted_since;
  cfg.unrestricted_since[HT_DIM_PORT] = ports_.unrestricted_since;
  cfg.api_netns = api_netns_;
  for (size_t i = 0; i < api_ports_.size() && i < HT_MAX_API_PORTS; ++i) {
    cfg.api_ports[i] = api_ports_[i];
  }
  const uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.config_map), &zero, &cfg, BPF_ANY) != 0) {
    return BpfError(errno, "writing the probes' config map");
  }
  return absl::OkStatus();
}

absl::Status Capture::SetOwnApiPorts(const std::vector<uint16_t>& ports) {
  std::vector<uint16_t> kept;
  for (uint16_t port : ports) {
    if (port != 0) kept.push_back(port);
  }
  if (kept.size() > HT_MAX_API_PORTS) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", HT_MAX_API_PORTS,
                     " TCP API ports can be kept out of the trace, got ", kept.size()));
  }
  struct stat netns {};
  if (!kept.empty() && ::stat("/proc/self/ns/net", &netns) != 0) {
    return absl::ErrnoToStatus(errno, "reading this process's network namespace");
  }
  absl::MutexLock lock(&mu_);
  api_ports_ = std::move(kept);
  api_netns_ = api_ports_.empty() ? 0 : static_cast<uint32_t>(netns.st_ino);
  return WriteConfig(filter_epoch_, filter_);
}

absl::Status Capture::SetFilter(const KernelFilter& filter) {
  if (absl::Status s = SetFilterWithoutTlsWait(filter); !s.ok()) return s;
  WaitTlsScanned();
  return absl::OkStatus();
}

absl::Status Capture::SetFilterWithoutTlsWait(const KernelFilter& filter) {
  absl::MutexLock lock(&mu_);
  const uint32_t epoch = filter_epoch_ + 1;
  if (absl::Status s =
          UpdateSet(bpf_map__fd(skel_->maps.filter_tgids), tgids_, filter.tgids, epoch);
      !s.ok())
    return s;
  if (absl::Status s =
          UpdateSet(bpf_map__fd(skel_->maps.filter_cgroups), cgroups_, filter.cgroup_ids, epoch);
      !s.ok())
    return s;
  if (absl::Status s = UpdateSet(bpf_map__fd(skel_->maps.filter_mntns), mount_namespaces_,
                                 filter.mount_namespaces, epoch);
      !s.ok())
    return s;
  if (absl::Status s =
          UpdateSet(bpf_map__fd(skel_->maps.filter_ports), ports_, filter.ports, epoch);
      !s.ok())
    return s;
  // A new epoch makes every connection re-evaluate its verdict (and start over under a new id
  // if it changed).
  if (absl::Status s = WriteConfig(epoch, filter); !s.ok()) return s;
  filter_epoch_ = epoch;
  filter_ = filter;
  // `--tls plain` sessions alone need no uprobes: attached when a session wants TLS.
  if (!links_.empty()) filter.tls ? StartTlsLocked() : StopTlsLocked();
  return absl::OkStatus();
}

void Capture::StartTlsLocked() {
  if (!tls_) return;
  skel_->bss->tls_gate = 1;
  // The start-up scan attaches the libraries processes use now; Attach and SetFilter wait for
  // it (WaitTlsScanned, outside mu_), so sessions start once their first exchanges can be seen.
  // Later processes come on exec.
  tls_->Start();
}

bool Capture::WaitTlsScanned() {
  {
    absl::MutexLock lock(&mu_);
    if (!tls_ || !filter_.tls || links_.empty()) return true;
  }
  const absl::Time start = absl::Now();
  if (tls_->WaitScanned(config_.tls_scan_wait)) {
    HT_LOG(INFO) << "TLS start-up scan done in " << absl::Now() - start;
    return true;
  }
  HT_LOG(WARNING) << "TLS start-up scan still running after " << config_.tls_scan_wait
                  << ": the session starts, and its notes say HTTPS of processes not probed "
                     "yet is not recorded until the scan ends";
  return false;
}

void Capture::StopTlsLocked() {
  if (!tls_) return;
  // The TLS programs stop at once; their uprobes go in the background (tls_attacher.h).
  __atomic_store_n(&skel_->bss->tls_gate, 0, __ATOMIC_SEQ_CST);
  tls_->Stop();
}

absl::Status Capture::Attach() {
  if (absl::Status s = AttachWithoutTlsWait(); !s.ok()) return s;
  WaitTlsScanned();
  return absl::OkStatus();
}

absl::Status Capture::AttachWithoutTlsWait() {
  absl::MutexLock lock(&mu_);
  if (!links_.empty()) return absl::OkStatus();
  // Connections left from an earlier attach are stale (their ends were not seen). The agent's
  // own table is cleared by its owner before it attaches (Pipeline::ApplyFilters).
  struct {
    bpf_map* map;
    size_t key_size;
  } const stale[] = {
      {skel_->maps.socks, sizeof(uint64_t)},
      {skel_->maps.conns, sizeof(uint64_t)},     // struct conn_key
      {skel_->maps.skip_fds, sizeof(uint64_t)},  // struct conn_key
      {skel_->maps.fd_epochs, sizeof(uint32_t)},
      {skel_->maps.tls_socks, sizeof(uint64_t)},
      {skel_->maps.tls_calls, sizeof(uint64_t)},
      {skel_->maps.tls_fds, 16},  // struct tls_session_key
      {skel_->maps.tls_threads, sizeof(uint64_t)},
      {skel_->maps.go_tls_calls, 16},  // struct tls_session_key
  };
  for (const auto& m : stale) {
    if (absl::Status s = ClearMap(bpf_map__fd(m.map), m.key_size); !s.ok()) return s;
  }
  // A syscall entered under an earlier attach must not pair with an exit seen now.
  ++attach_epoch_;
  if (absl::Status s = WriteConfig(filter_epoch_, filter_); !s.ok()) return s;
  info_.programs.clear();
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    if (!bpf_program__autoload(prog) || ht_program_is_tls(bpf_program__name(prog))) continue;
    bpf_link* link = bpf_program__attach(prog);
    if (link == nullptr) {
      const int err = errno;
      links_.clear();
      info_.programs.clear();
      return BpfError(err, absl::StrCat("attaching ", bpf_program__section_name(prog)));
    }
    links_.emplace_back(link);
    info_.programs.push_back(bpf_program__section_name(prog));
  }
  running_.store(true);
  poll_thread_ = std::thread([this] { PollLoop(); });
  if (filter_.tls) StartTlsLocked();
  HT_LOG(INFO) << "capture attached: " << links_.size() << " programs ("
               << AttachModeName(info_.mode) << ")";
  return absl::OkStatus();
}

// Detaching a syscall tracepoint waits for an RCU-tasks grace period (they are faultable since
// Linux 6.14): ~70 ms each here, ~2 s for 27 links one after the other. The waits overlap when
// the links are destroyed from parallel threads.
void Capture::DestroyLinks(std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links) {
  std::vector<std::thread> threads;
  threads.reserve(links.size());
  for (auto& link : links) threads.emplace_back([l = std::move(link)]() mutable { l.reset(); });
  for (auto& t : threads) t.join();
}

void Capture::Detach() {
  {
    absl::MutexLock lock(&mu_);
    if (links_.empty() && !poll_thread_.joinable()) return;
    StopTlsLocked();
    // Probes stop here; what they queued is still in the ring buffer.
    DestroyLinks(std::move(links_));
    links_.clear();
    info_.programs.clear();
  }
  running_.store(false);
  if (poll_thread_.joinable()) poll_thread_.join();
  if (poller_) {
    poller_->Drain();
    sink_->OnPollDone();
  }
}

std::vector<std::string> Capture::TlsNotes() const {
  return tls_ ? tls_->Unprobed() : std::vector<std::string>{};
}

bool Capture::attached() const {
  absl::MutexLock lock(&mu_);
  return !links_.empty();
}

void Capture::PollLoop() {
  const int timeout_ms =
      std::max<int>(1, static_cast<int>(absl::ToInt64Milliseconds(config_.poll_interval)));
  absl::Time next_clock = absl::Now() + absl::Seconds(1);
  while (running_.load(std::memory_order_relaxed)) {
    poller_->PollOnce(timeout_ms);
    sink_->OnPollDone();
    if (flush_waiters_.load(std::memory_order_acquire) > 0) sink_->OnFlush();
    completed_polls_.fetch_add(1, std::memory_order_release);
    if (const absl::Time now = absl::Now(); now >= next_clock) {
      poller_->RefreshClock();
      next_clock = now + absl::Seconds(1);
    }
  }
  poller_->Drain();
  sink_->OnPollDone();
}

bool Capture::Flush() {
  if (!running_.load(std::memory_order_acquire)) return true;  // detached: already drained
  // Two completed polls after this point: the second started after the call, so it drained
  // everything the kernel had queued by then.
  flush_waiters_.fetch_add(1, std::memory_order_acq_rel);
  const uint64_t start = completed_polls_.load(std::memory_order_acquire);
  const absl::Time deadline = absl::Now() + absl::Seconds(2) + 3 * config_.poll_interval;
  bool done = true;
  while (completed_polls_.load(std::memory_order_acquire) < start + 2) {
    if (!running_.load(std::memory_order_acquire)) break;  // Detach drains
    if (absl::Now() >= deadline) {
      done = false;
      break;
    }
    absl::SleepFor(absl::Microseconds(200));
  }
  flush_waiters_.fetch_sub(1, std::memory_order_acq_rel);
  return done;
}

absl::flat_hash_map<std::string, uint64_t> Capture::Counters() const {
  absl::flat_hash_map<std::string, uint64_t> out;
  const int fd = bpf_map__fd(skel_->maps.counters);
  std::vector<uint64_t> per_cpu(num_cpus_);
  const auto names = KernelCounterNames();
  for (uint32_t i = 0; i < names.size(); ++i) {
    uint64_t sum = 0;
    if (bpf_map_lookup_elem(fd, &i, per_cpu.data()) == 0) {
      for (uint64_t v : per_cpu) sum += v;
    }
    out[absl::StrCat("kernel.", names[i])] = sum;
  }
  if (poller_) poller_->decoder().AddCounters(out);
  if (tls_) tls_->AddCounters(out);
  return out;
}

ProbeInfo Capture::probe_info() const {
  absl::MutexLock lock(&mu_);
  ProbeInfo info = info_;
  if (tls_ && !info.programs.empty()) {
    for (std::string& line : tls_->Describe()) info.programs.push_back(std::move(line));
  }
  return info;
}

}  // namespace httptrace::capture
