// Finds the TLS libraries processes use and sets the plaintext uprobes of bpf/tls.bpf.h on them,
// only while capture runs: Capture::Attach starts it, Capture::Detach stops it (every uprobe
// detached). Its own thread does the work (never the ring-buffer poll thread):
// - at start, the standard library directories (so host processes started later are covered:
//   a uprobe is per file, for every process that maps it) and every process's /proc/PID/maps;
// - then every exec (raw tracepoint sched_process_exec -> ring buffer tls_execs): the new
//   process's maps, again a few times while its dynamic loader and dlopen() map libraries.
// Libraries inside containers are opened through /proc/PID/root. An executable that defines
// SSL_read and SSL_write itself (OpenSSL or BoringSSL linked statically) is probed like libssl; a
// Go executable with crypto/tls gets probes on its (*Conn).Read/Write (go_functions.h). One
// entry per file (inode), at most `max_libraries`; files that cannot be probed are remembered
// (bounded, for `retry_refused_after` and until the next Start) and counted by cause
// ("tls.attach_failed_<cause>"), and named in Describe() for `httptracectl status`.
//   TlsAttacher tls(programs, {});
//   tls.Start(); tls.WaitScanned(absl::Seconds(2)); ... tls.Stop();

#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/tls/proc_maps.h"

struct bpf_program;
struct bpf_link;
struct ring_buffer;

namespace httptrace::tls {

// The loaded programs and maps of bpf/tls.bpf.h (from the capture skeleton).
struct TlsPrograms {
  bpf_program* ssl_read_enter = nullptr;
  bpf_program* ssl_write_enter = nullptr;
  bpf_program* ssl_read_ex_enter = nullptr;
  bpf_program* ssl_write_ex_enter = nullptr;
  bpf_program* ssl_handshake_enter = nullptr;  // SSL_do_handshake: marks memory-BIO threads
  bpf_program* gnutls_recv_enter = nullptr;
  bpf_program* gnutls_send_enter = nullptr;
  bpf_program* return_probe = nullptr;   // uretprobe shared by every call above
  bpf_program* go_read_enter = nullptr;  // Go crypto/tls (*Conn).Read / Write entries
  bpf_program* go_write_enter = nullptr;
  bpf_program* go_return = nullptr;  // uprobe on each RET instruction of either
  bpf_program* sys_enter = nullptr;  // raw_tp/sys_enter: the socket of a call's syscalls
  bpf_program* exec = nullptr;       // raw_tp/sched_process_exec
  int exec_ring_fd = -1;             // ring buffer tls_execs
};

struct TlsAttacherOptions {
  size_t max_libraries = 256;  // library files probed at once
  size_t max_failed = 4096;    // files remembered as not probeable (then forgotten, retried)
  // A file refused is tried again when a process shows it after this long, and at every
  // Start (each capture): a refusal is never remembered for the agent's life.
  absl::Duration retry_refused_after = absl::Seconds(30);
  size_t max_pending = 4096;  // processes waiting for a rescan after exec
  size_t max_checked = 4096;  // executables remembered as read for symbols
  std::string proc = "/proc";
  // Scanned at start; files named libssl.so* / libgnutls.so* in them are probed.
  std::vector<std::string> library_dirs = {"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu",
                                           "/usr/lib64", "/usr/lib", "/usr/local/lib"};
};

class TlsAttacher {
 public:
  TlsAttacher(const TlsPrograms& programs, TlsAttacherOptions options);
  ~TlsAttacher();
  TlsAttacher(const TlsAttacher&) = delete;
  TlsAttacher& operator=(const TlsAttacher&) = delete;

  // Starts the thread (no-op when running). Returns at once.
  void Start();
  // Returns once the start-up scan of the running Start() is done (false on timeout: then, until
  // the scan ends, Unprobed() and Describe() carry a line saying probes are still being
  // attached).
  bool WaitScanned(absl::Duration timeout);
  // Joins the thread and detaches every uprobe in the background (each waits ~1 s for an
  // RCU-tasks-trace grace period on current kernels; the caller gates the programs off first):
  // returns at once. The next Stop and the destructor wait for it. The next Start forgets the
  // refusals (its scan tries every file again).
  void Stop();

  // "tls.libraries", "tls.uprobes", "tls.exec_events", "tls.processes_scanned",
  // "tls.pending_dropped", "tls.attach_failed_<cause>" for every cause. Any thread.
  void AddCounters(absl::flat_hash_map<std::string, uint64_t>& out) const;
  // One line per library probed or refused: "tls openssl /usr/lib/.../libssl.so.3 (8 uprobes)",
  // "tls not probed (no_symbol): /opt/app/libssl.so.1.0.0". Any thread.
  std::vector<std::string> Describe() const;
  // The refused lines of Describe() only, and a line while a start-up scan that a session
  // stopped waiting for is still running (sorted): what sessions' notes say. Any thread.
  std::vector<std::string> Unprobed() const;

 private:
  struct LinkDeleter {
    void operator()(bpf_link* link) const;
  };
  using Link = std::unique_ptr<bpf_link, LinkDeleter>;
  struct Library {
    std::string path;  // as opened (through /proc/PID/root for a process's file)
    LibraryKind kind = LibraryKind::kNone;
    std::vector<Link> links;
  };
  struct Pending {
    uint32_t pid = 0;
    int tries = 0;
    absl::Time due;
  };

  void Run();
  static int OnExec(void* ctx, void* data, size_t size);
  void ScanDirectories();
  void ScanAllProcesses();
  void ScanProcess(uint32_t pid);
  void Consider(const FileId& id, const std::string& path, LibraryKind kind)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sets the uprobes of one file into `lib`; returns the failure cause, or null.
  const char* AttachByName(const std::string& path, LibraryKind kind, std::vector<Link>& links);
  const char* AttachGo(const std::string& path, std::vector<Link>& links);
  void Fail(const FileId& id, const std::string& path, const char* cause)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // "tls not probed (cause): path" for every file remembered as refused, unsorted.
  void AppendUnprobed(std::vector<std::string>& out) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const TlsPrograms programs_;
  const TlsAttacherOptions options_;
  std::thread thread_;
  std::thread reaper_;  // destroys the last Stop's uprobe links
  std::atomic<bool> running_{false};
  std::deque<Pending> pending_;  // attach thread only
  // Executables whose symbols were read: kOpenssl when they define SSL_read and SSL_write (a
  // static TLS library), kGo for Go with crypto/tls, else kNone. Kept across Stop (read once per
  // file, not per session); bounded. Attach thread only.
  absl::flat_hash_map<FileId, LibraryKind> executable_verdicts_;

  mutable absl::Mutex mu_;
  bool scanned_ ABSL_GUARDED_BY(mu_) = false;
  // A WaitScanned gave up before the scan ended: until it does, Unprobed says so.
  bool scan_overran_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<FileId, Library> libraries_ ABSL_GUARDED_BY(mu_);
  struct Refusal {
    std::string cause;
    std::string path;
    absl::Time when;
  };
  absl::flat_hash_map<FileId, Refusal> failed_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint64_t> counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace httptrace::tls
