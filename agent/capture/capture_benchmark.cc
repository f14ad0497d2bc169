// Benchmark of the capture probes, in one run:
//  1. the cost they add to a tight loop of small write()s on a loopback TCP socket (HTTP-looking
//     bytes, so every write is classified, copied and queued; the reads of the other end too),
//     and to the same loop on a pipe (a non-socket fd, rejected early), as ratios with/without;
//  2. the events/s the poller sustains when several writer threads flood it.
//   bazel run -c opt //agent/capture:capture_benchmark -- --writes=200000 --rounds=3
// With --hold it only attaches (optionally with --filter_ports) for nginx_overhead.sh, e.g. the
// cost of being attached with a filter that matches nothing: MODES="none raw_tracepoints+nomatch".

#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "agent/capture/capture.h"
#include "agent/capture/capture_testing.h"
#include "common/flags.h"
#include "common/log.h"

ABSL_FLAG(int, writes, 200000, "write() calls per timed loop");
ABSL_FLAG(int, size, 100, "bytes per write()");
ABSL_FLAG(int, rounds, 3, "interleaved rounds of (without, with) probes");
ABSL_FLAG(int, flood_threads, 2, "writer threads in the poller throughput phase");
ABSL_FLAG(std::string, mode, "auto", "attach mode: auto, tracepoints or raw_tracepoints");
ABSL_FLAG(int, hold, 0,
          "instead of the loops: attach for this many seconds (tracing every process), then "
          "print the events/s delivered and every counter; for measuring e.g. nginx under wrk");
ABSL_FLAG(std::vector<std::string>, filter_ports, {},
          "with --hold: the in-kernel port filter (e.g. 1: attached, but the filter matches "
          "nothing of the traffic measured); empty: every connection is traced");

namespace httptrace::capture {
namespace {

// Counts, nothing else: the benchmark measures the probes and the poller, not a pipeline.
class CountingSink : public CaptureSink {
 public:
  void OnOpen(const ConnectionOpenEvent&) override {}
  void OnData(const DataEvent& e) override {
    events.store(events.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    bytes.store(bytes.load(std::memory_order_relaxed) + e.data.size(), std::memory_order_relaxed);
  }
  void OnShutdown(const ConnectionShutdownEvent&) override {}
  void OnClose(const ConnectionCloseEvent&) override {}
  void OnKernelLoss(const KernelLossEvent&) override {}
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> bytes{0};
};

// Wall time, and CPU time of the writing thread: the probes run in its syscalls, so its CPU time
// shows their cost even when other jobs on the machine take the CPUs away (wall time does not).
struct Timing {
  double wall = 1e9;
  double cpu = 1e9;
  void Keep(const Timing& t) {
    wall = std::min(wall, t.wall);
    cpu = std::min(cpu, t.cpu);
  }
};

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Timing of `writes` write()s of `size` bytes into a fresh loopback TCP connection whose other
// end a thread drains.
Timing TcpLoop(int writes, int size) {
  auto listener = testing::Listen(AF_INET);
  auto pair = testing::Connect(*listener);
  if (!pair.ok()) {
    HT_LOG(ERROR) << pair.status();
    return {};
  }
  std::string message = "GET /bench HTTP/1.1\r\nHost: x\r\n";
  message.resize(size, 'x');
  std::thread reader([fd = pair->server.get()] {
    std::vector<char> buf(1 << 16);
    while (read(fd, buf.data(), buf.size()) > 0) {
    }
  });
  const absl::Time start = absl::Now();
  const double cpu_start = ThreadCpuSeconds();
  for (int i = 0; i < writes; ++i) {
    if (write(pair->client.get(), message.data(), message.size()) <= 0) break;
  }
  const Timing t{absl::ToDoubleSeconds(absl::Now() - start), ThreadCpuSeconds() - cpu_start};
  shutdown(pair->client.get(), SHUT_WR);
  reader.join();
  return t;
}

Timing PipeLoop(int writes, int size) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  UniqueFd r(fds[0]), w(fds[1]);
  std::string message(size, 'p');
  std::thread reader([fd = r.get()] {
    std::vector<char> buf(1 << 16);
    while (read(fd, buf.data(), buf.size()) > 0) {
    }
  });
  const absl::Time start = absl::Now();
  const double cpu_start = ThreadCpuSeconds();
  for (int i = 0; i < writes; ++i) {
    if (write(w.get(), message.data(), message.size()) <= 0) break;
  }
  const Timing t{absl::ToDoubleSeconds(absl::Now() - start), ThreadCpuSeconds() - cpu_start};
  w.reset();
  reader.join();
  return t;
}

int Run() {
  const int writes = absl::GetFlag(FLAGS_writes);
  const int size = absl::GetFlag(FLAGS_size);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  CaptureConfig config;
  config.exclude_self = false;  // the benchmark traces its own loop
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "tracepoints") config.attach_mode = AttachMode::kTracepoints;
  if (mode == "raw_tracepoints") config.attach_mode = AttachMode::kRawTracepoints;
  CountingSink sink;
  auto capture = Capture::Create(config, &sink);
  if (!capture.ok()) {
    HT_LOG(ERROR) << "cannot load the probes: " << capture.status();
    return 1;
  }
  Capture& c = **capture;
  absl::PrintF("mode: %s (%s)\n", AttachModeName(c.probe_info().mode), c.probe_info().detail);
  if (const int hold = absl::GetFlag(FLAGS_hold); hold > 0) {
    KernelFilter filter;
    for (const std::string& p : absl::GetFlag(FLAGS_filter_ports)) {
      int port = 0;
      if (!absl::SimpleAtoi(p, &port) || port <= 0 || port > 65535) {
        HT_LOG(ERROR) << "--filter_ports: not a port: " << p;
        return 1;
      }
      filter.ports.push_back(port);
    }
    if (absl::Status s = c.SetFilter(filter); !s.ok()) {
      HT_LOG(ERROR) << s;
      return 1;
    }
    if (absl::Status s = c.Attach(); !s.ok()) {
      HT_LOG(ERROR) << s;
      return 1;
    }
    // nginx_overhead.sh waits for this line: loading (the verifier) may take seconds on a busy
    // machine, and its CPU is not what is measured.
    absl::PrintF("attached\n");
    fflush(stdout);
    const absl::Time t = absl::Now();
    absl::SleepFor(absl::Seconds(hold));
    c.Detach();
    const double seconds = absl::ToDoubleSeconds(absl::Now() - t);
    absl::PrintF("held %.1f s: %llu data events (%.0f/s), %llu payload bytes\n", seconds,
                 sink.events.load(), sink.events.load() / seconds, sink.bytes.load());
    auto counters = c.Counters();
    std::vector<std::pair<std::string, uint64_t>> sorted(counters.begin(), counters.end());
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [name, value] : sorted) absl::PrintF("  %-30s %llu\n", name, value);
    return 0;
  }
  absl::PrintF("loop: %d write()s of %d bytes, %d interleaved rounds; best of each kept\n", writes,
               size, rounds);

  Timing tcp_off, tcp_on, pipe_off, pipe_on;
  double attach_s = 0, detach_s = 0;
  uint64_t events_on = 0;
  double seconds_on = 0;
  for (int round = 0; round < rounds; ++round) {
    tcp_off.Keep(TcpLoop(writes, size));
    pipe_off.Keep(PipeLoop(writes, size));
    absl::Time t = absl::Now();
    if (absl::Status s = c.Attach(); !s.ok()) {
      HT_LOG(ERROR) << s;
      return 1;
    }
    attach_s = absl::ToDoubleSeconds(absl::Now() - t);
    const uint64_t before = sink.events.load();
    const Timing on = TcpLoop(writes, size);
    tcp_on.Keep(on);
    pipe_on.Keep(PipeLoop(writes, size));
    t = absl::Now();
    c.Detach();
    detach_s = absl::ToDoubleSeconds(absl::Now() - t);
    events_on += sink.events.load() - before;
    seconds_on += on.wall;
  }
  absl::PrintF("attach %.3f s, detach %.3f s\n", attach_s, detach_s);
  const auto report = [writes](const char* what, const Timing& off, const Timing& on) {
    absl::PrintF(
        "%s: wall %8.0f -> %8.0f writes/s (ratio %.3f); writer CPU %.3f -> %.3f us/write "
        "(ratio %.3f, +%.3f us)\n",
        what, writes / off.wall, writes / on.wall, off.wall / on.wall, off.cpu * 1e6 / writes,
        on.cpu * 1e6 / writes, off.cpu / on.cpu, (on.cpu - off.cpu) * 1e6 / writes);
  };
  report("tcp  write loop (HTTP bytes, copied)", tcp_off, tcp_on);
  report("pipe write loop (rejected early)    ", pipe_off, pipe_on);
  absl::PrintF("events delivered while tracing the tcp loop: %llu (%.0f/s)\n", events_on,
               events_on / seconds_on);

  // Flood: several writers, the poller alone on the other side.
  const int threads = absl::GetFlag(FLAGS_flood_threads);
  if (absl::Status s = c.Attach(); !s.ok()) return 1;
  auto counters0 = c.Counters();
  const uint64_t e0 = sink.events.load();
  const absl::Time t0 = absl::Now();
  std::vector<std::thread> writers;
  for (int i = 0; i < threads; ++i) writers.emplace_back([&] { TcpLoop(writes, size); });
  for (auto& w : writers) w.join();
  c.Detach();  // drains what is left
  const double flood_s = absl::ToDoubleSeconds(absl::Now() - t0);
  auto counters1 = c.Counters();
  const uint64_t delivered = sink.events.load() - e0;
  const uint64_t dropped = counters1["kernel.ringbuf_full"] - counters0["kernel.ringbuf_full"];
  absl::PrintF(
      "poller flood (%d writer threads): %llu events delivered in %.2f s = %.0f events/s, "
      "%llu dropped (ringbuf_full)\n",
      threads, delivered, flood_s, delivered / flood_s, dropped);
  return 0;
}

}  // namespace
}  // namespace httptrace::capture

int main(int argc, char** argv) {
  httptrace::ParseFlags(argc, argv,
                        "capture_benchmark: cost of the capture probes and poller throughput");
  return httptrace::capture::Run();
}
