// TLS library discovery and uprobe attachment (see tls_attacher.h).

#include "agent/tls/tls_attacher.h"

#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/tls/elf_symbols.h"
#include "agent/tls/go_functions.h"
#include "bpf/events.h"
#include "common/log.h"

namespace httptrace::tls {
namespace {

// Why a file could not be probed: one counter each ("tls.attach_failed_<cause>").
constexpr const char* kCauses[] = {
    "unreadable",      // the file could not be opened (gone, permissions, a container's root)
    "no_symbol",       // a required function is not in its symbol tables (stripped, renamed)
    "attach_error",    // the kernel refused the uprobe (perf_event_open)
    "cache_full",      // max_libraries files are probed already
    "go_unsupported",  // Go before 1.18 (other tables, stack calling convention), not x86-64
    "go_undecodable",  // Go function table or code that does not decode: no probe is safe
};

// Said (in status and the notes of active sessions) while the start-up scan is still running:
// until it ends, processes it has not reached yet are not probed.
constexpr char kScanRunningNote[] =
    "tls probes still being attached (start-up scan running): HTTPS of processes not probed yet "
    "is not recorded";

// Go crypto/tls functions probed (tls_go_* in bpf/tls.bpf.h).
const std::vector<std::string> kGoFunctions = {"crypto/tls.(*Conn).Read",
                                               "crypto/tls.(*Conn).Write"};

// After an exec, the process's maps are read again after these delays (the dynamic loader maps
// the libraries in the first milliseconds; dlopen(), as python's `import ssl` does, later).
constexpr absl::Duration kRescanDelays[] = {absl::Milliseconds(1), absl::Milliseconds(10),
                                            absl::Milliseconds(100), absl::Milliseconds(500),
                                            absl::Seconds(2)};

struct Symbol {
  const char* name;
  bpf_program* TlsPrograms::*entry;
  bool required;
};

constexpr Symbol kOpensslSymbols[] = {
    {"SSL_read", &TlsPrograms::ssl_read_enter, true},
    {"SSL_write", &TlsPrograms::ssl_write_enter, true},
    {"SSL_read_ex", &TlsPrograms::ssl_read_ex_enter, false},  // OpenSSL 1.1.1+
    {"SSL_write_ex", &TlsPrograms::ssl_write_ex_enter, false},
    // Copies nothing: marks the thread and ties its object before data flows (memory BIOs
    // whose handshake is not driven by SSL_read, as python's SSLObject; bpf/tls.bpf.h).
    {"SSL_do_handshake", &TlsPrograms::ssl_handshake_enter, false},
};
constexpr Symbol kGnutlsSymbols[] = {
    {"gnutls_record_recv", &TlsPrograms::gnutls_recv_enter, true},
    {"gnutls_record_send", &TlsPrograms::gnutls_send_enter, true},
};

const char* KindName(LibraryKind kind) {
  switch (kind) {
    case LibraryKind::kOpenssl:
      return "openssl";
    case LibraryKind::kGnutls:
      return "gnutls";
    case LibraryKind::kGo:
      return "go";
    case LibraryKind::kNone:
      break;
  }
  return "none";
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

}  // namespace

void TlsAttacher::LinkDeleter::operator()(bpf_link* link) const { bpf_link__destroy(link); }

TlsAttacher::TlsAttacher(const TlsPrograms& programs, TlsAttacherOptions options)
    : programs_(programs), options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  for (const char* cause : kCauses) counters_[absl::StrCat("tls.attach_failed_", cause)] = 0;
  for (const char* name : {"tls.exec_events", "tls.processes_scanned", "tls.pending_dropped"}) {
    counters_[name] = 0;
  }
}

TlsAttacher::~TlsAttacher() {
  Stop();
  if (reaper_.joinable()) reaper_.join();
}

void TlsAttacher::Start() {
  if (running_.exchange(true)) return;
  {
    absl::MutexLock lock(&mu_);
    scanned_ = false;
    scan_overran_ = false;
    // Each capture tries every file again: a refusal is not remembered across captures.
    failed_.clear();
  }
  thread_ = std::thread([this] { Run(); });
}

bool TlsAttacher::WaitScanned(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  if (mu_.AwaitWithTimeout(absl::Condition(&scanned_), timeout)) return true;
  scan_overran_ = true;  // a session starts without waiting longer: the notes say so
  return false;
}

void TlsAttacher::Stop() {
  if (!running_.exchange(false)) return;
  if (thread_.joinable()) thread_.join();
  absl::flat_hash_map<FileId, Library> libraries;
  {
    absl::MutexLock lock(&mu_);
    libraries.swap(libraries_);
  }
  // Links are destroyed outside the lock, in the background, one thread per uprobe: each
  // removal waits for a grace period, and the waits overlap when run in parallel.
  if (reaper_.joinable()) reaper_.join();
  reaper_ = std::thread([libraries = std::move(libraries)]() mutable {
    std::vector<std::thread> threads;
    for (auto& [id, lib] : libraries) {
      for (Link& link : lib.links) {
        threads.emplace_back([l = std::move(link)]() mutable { l.reset(); });
      }
    }
    for (std::thread& t : threads) t.join();
  });
  pending_.clear();
}

void TlsAttacher::Run() {
  pthread_setname_np(pthread_self(), "ht-tls");
  std::unique_ptr<ring_buffer, void (*)(ring_buffer*)> rb(nullptr, ring_buffer__free);
  Link exec_link;
  if (programs_.exec != nullptr && programs_.exec_ring_fd >= 0) {
    rb.reset(ring_buffer__new(programs_.exec_ring_fd, &TlsAttacher::OnExec, this, nullptr));
    if (rb) {
      // Execs queued while detached are stale (those processes are in the scan below).
      ring_buffer__consume(rb.get());
      pending_.clear();
      exec_link.reset(bpf_program__attach(programs_.exec));
    }
    if (!exec_link) {
      HT_LOG(WARNING) << "TLS: not following exec (" << strerror(errno)
                      << "): processes started during capture are found only through the "
                         "library directories";
    }
  }
  Link sys_enter_link;
  if (programs_.sys_enter != nullptr) {
    sys_enter_link.reset(bpf_program__attach(programs_.sys_enter));
    if (!sys_enter_link) {
      // Without it only calls served from the library's buffer, on sockets seen before, tie.
      HT_LOG(WARNING) << "TLS: attaching raw_tp/sys_enter failed (" << strerror(errno)
                      << "): TLS plaintext cannot be tied to its sockets";
    }
  }
  const absl::Time scan_start = absl::Now();
  ScanDirectories();
  ScanAllProcesses();
  {
    absl::MutexLock lock(&mu_);
    scanned_ = true;
    HT_LOG(DEBUG) << "TLS: start-up scan took " << absl::Now() - scan_start << ": "
                  << libraries_.size() << " files probed, " << failed_.size() << " refused";
  }
  while (running_.load(std::memory_order_relaxed)) {
    // Short while rescans are due, else a period that bounds how long Stop waits.
    int timeout_ms = 50;
    const absl::Time now = absl::Now();
    if (!pending_.empty()) {
      timeout_ms = std::clamp<int>(absl::ToInt64Milliseconds(pending_.front().due - now), 0, 50);
    }
    if (rb) {
      ring_buffer__poll(rb.get(), timeout_ms);
    } else {
      absl::SleepFor(absl::Milliseconds(timeout_ms));
    }
    // Due rescans; each goes back in line with its next delay (the deque stays nearly sorted:
    // delays only grow, so a late entry waits at most one poll).
    const absl::Time t = absl::Now();
    for (size_t n = pending_.size(); n > 0 && !pending_.empty() && pending_.front().due <= t; --n) {
      Pending p = pending_.front();
      pending_.pop_front();
      ScanProcess(p.pid);
      if (++p.tries < static_cast<int>(std::size(kRescanDelays))) {
        p.due = t + kRescanDelays[p.tries];
        pending_.push_back(p);
      }
    }
  }
}

int TlsAttacher::OnExec(void* ctx, void* data, size_t size) {
  auto* self = static_cast<TlsAttacher*>(ctx);
  if (size < sizeof(ht_exec_event)) return 0;
  const auto* e = static_cast<const ht_exec_event*>(data);
  {
    absl::MutexLock lock(&self->mu_);
    ++self->counters_["tls.exec_events"];
    if (self->pending_.size() >= self->options_.max_pending) {
      ++self->counters_["tls.pending_dropped"];
      return 0;
    }
  }
  self->pending_.push_back({e->tgid, 0, absl::Now() + kRescanDelays[0]});
  return 0;
}

void TlsAttacher::ScanDirectories() {
  for (const std::string& dir : options_.library_dirs) {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) continue;
    while (dirent* e = readdir(d)) {
      const std::string path = absl::StrCat(dir, "/", e->d_name);
      const LibraryKind kind = LibraryKindOf(path);
      if (kind == LibraryKind::kNone) continue;
      struct stat st;
      // stat follows the libssl.so.3 -> libssl.so.3.0 style links: one entry per real file.
      if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      Consider(FileId{st.st_dev, st.st_ino}, path, kind);
    }
    closedir(d);
  }
}

void TlsAttacher::ScanAllProcesses() {
  DIR* d = opendir(options_.proc.c_str());
  if (d == nullptr) return;
  std::vector<uint32_t> pids;
  while (dirent* e = readdir(d)) {
    uint32_t pid;
    if (absl::SimpleAtoi(e->d_name, &pid)) pids.push_back(pid);
  }
  closedir(d);
  for (uint32_t pid : pids) {
    if (!running_.load(std::memory_order_relaxed)) return;
    ScanProcess(pid);
  }
}

void TlsAttacher::ScanProcess(uint32_t pid) {
  if (pid == static_cast<uint32_t>(getpid())) return;
  std::string maps;
  if (!ReadFile(absl::StrCat(options_.proc, "/", pid, "/maps"), &maps)) return;  // exited
  {
    absl::MutexLock lock(&mu_);
    ++counters_["tls.processes_scanned"];
  }
  const std::vector<MappedFile> files = ParseMaps(maps);
  for (size_t i = 0; i < files.size(); ++i) {
    const MappedFile& file = files[i];
    LibraryKind kind = LibraryKindOf(file.path);
    if (kind == LibraryKind::kNone && i == 0) {
      // The first mapping is the executable: a static OpenSSL/BoringSSL shows by its symbols,
      // Go by its function table.
      auto it = executable_verdicts_.find(file.id);
      if (it == executable_verdicts_.end()) {
        if (executable_verdicts_.size() >= options_.max_checked) executable_verdicts_.clear();
        const std::string path = absl::StrCat(options_.proc, "/", pid, "/root", file.path);
        absl::StatusOr<bool> has = DefinesFunctions(path, {"SSL_read", "SSL_write"});
        if (!has.ok()) continue;  // gone or unreadable now: no verdict, read again next time
        LibraryKind verdict = *has ? LibraryKind::kOpenssl : LibraryKind::kNone;
        if (verdict == LibraryKind::kNone) {
          // Decoded once, when Consider attaches (and says why, if it cannot).
          absl::StatusOr<bool> go = NamesGoFunctions(path, kGoFunctions);
          if (!go.ok()) continue;
          if (*go) verdict = LibraryKind::kGo;
        }
        it = executable_verdicts_.emplace(file.id, verdict).first;
      }
      kind = it->second;
    }
    if (kind == LibraryKind::kNone) continue;
    // The file as this process sees it, whatever its mount namespace.
    Consider(file.id, absl::StrCat(options_.proc, "/", pid, "/root", file.path), kind);
  }
}

void TlsAttacher::Fail(const FileId& id, const std::string& path, const char* cause) {
  ++counters_[absl::StrCat("tls.attach_failed_", cause)];
  if (failed_.size() >= options_.max_failed) failed_.clear();  // forget; they are retried
  failed_[id] = {cause, path, absl::Now()};
  HT_LOG(INFO) << "TLS: not probing " << path << " (" << cause << ")";
}

void TlsAttacher::Consider(const FileId& id, const std::string& path, LibraryKind kind) {
  {
    absl::MutexLock lock(&mu_);
    if (libraries_.contains(id)) return;
    // A refusal holds for retry_refused_after, then the file is tried again when a process
    // shows it (a cause may pass: a file being replaced, a kernel busy removing uprobes).
    if (auto it = failed_.find(id);
        it != failed_.end() && absl::Now() - it->second.when < options_.retry_refused_after) {
      return;
    }
    if (libraries_.size() >= options_.max_libraries) {
      Fail(id, path, "cache_full");
      return;
    }
  }
  if (access(path.c_str(), R_OK) != 0) {
    absl::MutexLock lock(&mu_);
    Fail(id, path, "unreadable");
    return;
  }
  Library lib{path, kind, {}};
  const char* cause =
      kind == LibraryKind::kGo ? AttachGo(path, lib.links) : AttachByName(path, kind, lib.links);
  absl::MutexLock lock(&mu_);
  if (cause != nullptr) {
    Fail(id, path, cause);
    return;
  }
  failed_.erase(id);
  HT_LOG(INFO) << "TLS: probing " << KindName(kind) << " " << path << " (" << lib.links.size()
               << " uprobes)";
  libraries_.emplace(id, std::move(lib));
}

const char* TlsAttacher::AttachByName(const std::string& path, LibraryKind kind,
                                      std::vector<Link>& links) {
  absl::Span<const Symbol> symbols = kind == LibraryKind::kOpenssl
                                         ? absl::MakeConstSpan(kOpensslSymbols)
                                         : absl::MakeConstSpan(kGnutlsSymbols);
  // The optional functions this build lacks (BoringSSL and OpenSSL 1.1.0 have no SSL_read_ex)
  // are passed over before libbpf looks for them and warns, at every session's attach. One read
  // of the file for all of them; if it fails, libbpf's own lookup decides.
  std::vector<std::string> optional;
  for (const Symbol& sym : symbols) {
    if (!sym.required) optional.emplace_back(sym.name);
  }
  absl::flat_hash_set<std::string> lacking;
  if (absl::StatusOr<std::vector<std::string>> missing = MissingFunctions(path, optional);
      missing.ok()) {
    lacking.insert(missing->begin(), missing->end());
  }
  for (const Symbol& sym : symbols) {
    bpf_program* entry = programs_.*(sym.entry);
    if (!sym.required && lacking.contains(sym.name)) continue;
    for (bool ret : {false, true}) {
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret, .func_name = sym.name);
      bpf_link* link = bpf_program__attach_uprobe_opts(ret ? programs_.return_probe : entry, -1,
                                                       path.c_str(), 0, &opts);
      if (link == nullptr) {
        const int err = errno;
        if (!sym.required && err == ENOENT) break;  // an optional function this build lacks
        return err == ENOENT || err == ESRCH ? "no_symbol" : "attach_error";
      }
      links.emplace_back(link);
    }
  }
  return nullptr;
}

const char* TlsAttacher::AttachGo(const std::string& path, std::vector<Link>& links) {
  absl::StatusOr<std::vector<GoFunction>> functions = FindGoFunctions(path, kGoFunctions);
  if (!functions.ok()) {
    HT_LOG(INFO) << "TLS: " << functions.status();
    switch (functions.status().code()) {
      case absl::StatusCode::kUnimplemented:
        return "go_unsupported";
      case absl::StatusCode::kDataLoss:
        return "go_undecodable";
      case absl::StatusCode::kNotFound:
        return "no_symbol";
      default:
        return "unreadable";
    }
  }
  if (programs_.go_read_enter == nullptr || programs_.return_probe == nullptr) {
    return "attach_error";
  }
  // Offsets in the file, no function name: a stripped binary has none to give.
  auto attach = [&](bpf_program* program, uint64_t offset) {
    LIBBPF_OPTS(bpf_uprobe_opts, opts);
    bpf_link* link = bpf_program__attach_uprobe_opts(program, -1, path.c_str(), offset, &opts);
    if (link != nullptr) links.emplace_back(link);
    return link != nullptr;
  };
  // Read: entry and RETs (n is known at the return); Write: after its stack check, copied there
  // (bpf/tls.bpf.h says why).
  for (const GoFunction& f : *functions) {
    if (f.name == kGoFunctions[0]) {
      if (!attach(programs_.go_read_enter, f.entry_offset)) return "attach_error";
      for (uint64_t ret : f.return_offsets) {
        if (!attach(programs_.return_probe, ret)) return "attach_error";
      }
    } else if (!attach(programs_.go_write_enter, f.body_offset)) {
      return "attach_error";
    }
  }
  return nullptr;
}

void TlsAttacher::AddCounters(absl::flat_hash_map<std::string, uint64_t>& out) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [name, value] : counters_) out[name] = value;
  uint64_t uprobes = 0;
  for (const auto& [id, lib] : libraries_) uprobes += lib.links.size();
  out["tls.libraries"] = libraries_.size();
  out["tls.uprobes"] = uprobes;
}

std::vector<std::string> TlsAttacher::Unprobed() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  AppendUnprobed(out);
  std::sort(out.begin(), out.end());
  return out;
}

void TlsAttacher::AppendUnprobed(std::vector<std::string>& out) const {
  if (running_.load(std::memory_order_relaxed) && !scanned_ && scan_overran_) {
    out.push_back(kScanRunningNote);
  }
  for (const auto& [id, failure] : failed_) {
    out.push_back(absl::StrCat("tls not probed (", failure.cause, "): ", failure.path));
  }
}

std::vector<std::string> TlsAttacher::Describe() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [id, lib] : libraries_) {
    out.push_back(absl::StrCat("tls ", KindName(lib.kind), " ", lib.path, " (", lib.links.size(),
                               " uprobes)"));
  }
  AppendUnprobed(out);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace httptrace::tls
