// Decoding of the probes' records; the layout checks below tie this file to bpf/events.h.

#include "agent/capture/event_decoder.h"

#include <time.h>

#include <cstring>
#include <string>

#include "bpf/events.h"

namespace httptrace::capture {

// The wire format is shared with the kernel: a size change must break the build here.
static_assert(sizeof(ht_conn_id) == 16);
static_assert(sizeof(ht_event_header) == 32);
static_assert(sizeof(ht_data_event) == 80);
static_assert(offsetof(ht_data_event, data) == 80);
static_assert(sizeof(ht_open_event) == 112);
static_assert(sizeof(ht_close_event) == 48);
static_assert(sizeof(ht_shutdown_event) == 56);
static_assert(sizeof(ht_loss_event) == 48);
static_assert(sizeof(ht_config) == 64);
static_assert(static_cast<int>(Direction::kEgress) == HT_EGRESS);
static_assert(static_cast<int>(Direction::kIngress) == HT_INGRESS);
static_assert(static_cast<int>(Role::kClient) == HT_ROLE_CLIENT);
static_assert(static_cast<int>(Role::kServer) == HT_ROLE_SERVER);
static_assert(static_cast<int>(Syscall::kSendfile) == HT_SYS_SENDFILE);
static_assert(static_cast<int>(TlsLibrary::kOpenssl) == HT_TLS_OPENSSL);
static_assert(static_cast<int>(TlsLibrary::kGnutls) == HT_TLS_GNUTLS);
static_assert(static_cast<int>(TlsLibrary::kGo) == HT_TLS_GO);
static_assert(static_cast<int>(protocols::Protocol::kHttp1) == HT_PROTO_HTTP1);
static_assert(static_cast<int>(protocols::Protocol::kHttp2) == HT_PROTO_HTTP2);

namespace {
constexpr const char* kKernelCounterNames[] = {
#define HT_COUNTER_NAME(name, text) #text,
    HT_COUNTERS(HT_COUNTER_NAME)
#undef HT_COUNTER_NAME
};
static_assert(sizeof(kKernelCounterNames) / sizeof(kKernelCounterNames[0]) == HT_CNT_MAX);

SocketAddress MakeAddress(uint8_t family, const uint8_t* addr, uint16_t port) {
  SocketAddress out;
  out.family = family;
  std::memcpy(out.addr.data(), addr, 16);
  out.port = port;
  return out;
}

ConnectionKey MakeKey(const ht_conn_id& id) { return ConnectionKey{.id = id.id}; }

std::string_view Comm(const char (&comm)[HT_COMM_LEN]) {
  return std::string_view(comm, strnlen(comm, HT_COMM_LEN));
}
}  // namespace

absl::Span<const char* const> KernelCounterNames() { return kKernelCounterNames; }

int64_t BootToRealtimeOffsetNs() {
  timespec real{}, boot{};
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_BOOTTIME, &boot);
  return (int64_t{real.tv_sec} - boot.tv_sec) * 1000000000 + (real.tv_nsec - boot.tv_nsec);
}

bool EventDecoder::Decode(const void* data, size_t size) {
  if (size < sizeof(ht_event_header)) {
    Bump(malformed_);
    return false;
  }
  ht_event_header header;
  std::memcpy(&header, data, sizeof(header));
  const uint64_t timestamp = header.timestamp_ns + boot_to_realtime_ns_;
  switch (header.kind) {
    case HT_EVENT_DATA: {
      if (size < sizeof(ht_data_event)) break;
      // Ring-buffer records are 8-byte aligned, so the fixed part is read in place.
      const auto* e = static_cast<const ht_data_event*>(data);
      if (e->captured > size - sizeof(ht_data_event) || e->captured > e->length ||
          e->direction > HT_INGRESS) {
        break;
      }
      DataEvent out;
      out.conn = MakeKey(e->hdr.conn);
      out.direction = static_cast<Direction>(e->direction);
      out.position = e->position;
      out.length = e->length;
      out.data = absl::string_view(reinterpret_cast<const char*>(e->data), e->captured);
      out.timestamp_ns = timestamp;
      out.pid = e->hdr.conn.tgid;
      out.tid = e->hdr.tid;
      out.fd = e->hdr.conn.fd;
      out.comm = Comm(e->comm);
      out.size_only = (e->flags & HT_DATA_SIZE_ONLY) != 0;
      out.read_failed = (e->flags & HT_DATA_READ_FAILED) != 0;
      if (e->syscall <= HT_SYS_SENDFILE) {
        out.syscall = static_cast<Syscall>(e->syscall);
      } else if (e->syscall == HT_SYS_TLS_READ || e->syscall == HT_SYS_TLS_WRITE) {
        out.syscall = e->syscall == HT_SYS_TLS_READ ? Syscall::kTlsRead : Syscall::kTlsWrite;
        out.tls = e->tls <= HT_TLS_GO ? static_cast<TlsLibrary>(e->tls) : TlsLibrary::kNone;
      }
      out.protocol = e->protocol == HT_PROTO_HTTP1 || e->protocol == HT_PROTO_HTTP2
                         ? static_cast<protocols::Protocol>(e->protocol)
                         : protocols::Protocol::kUnknown;
      Bump(data_events_);
      Bump(data_bytes_, e->captured);
      sink_->OnData(out);
      return true;
    }
    case HT_EVENT_OPEN:
    case HT_EVENT_NOT_TRACED: {
      if (size < sizeof(ht_open_event)) break;
      const auto* e = static_cast<const ht_open_event*>(data);
      ConnectionOpenEvent out;
      out.conn = MakeKey(e->hdr.conn);
      out.role = e->role <= HT_ROLE_SERVER ? static_cast<Role>(e->role) : Role::kUnknown;
      out.local = MakeAddress(e->family, e->local_addr, e->local_port);
      out.remote = MakeAddress(e->family, e->remote_addr, e->remote_port);
      out.timestamp_ns = e->opened_ns + boot_to_realtime_ns_;
      out.pid = e->hdr.conn.tgid;
      out.tid = e->hdr.tid;
      out.fd = e->hdr.conn.fd;
      out.comm = Comm(e->comm);
      out.mount_namespace = e->mntns;
      out.cgroup_id = e->cgroup_id;
      if (header.kind == HT_EVENT_NOT_TRACED) {
        out.not_traced = true;
        Bump(not_traced_events_);
        sink_->OnNotTraced(out);
        return true;
      }
      Bump(open_events_);
      sink_->OnOpen(out);
      return true;
    }
    case HT_EVENT_CLOSE: {
      if (size < sizeof(ht_close_event)) break;
      const auto* e = static_cast<const ht_close_event*>(data);
      ConnectionCloseEvent out;
      out.conn = MakeKey(e->hdr.conn);
      out.timestamp_ns = timestamp;
      out.egress_bytes = e->bytes[HT_EGRESS];
      out.ingress_bytes = e->bytes[HT_INGRESS];
      out.tid = e->hdr.tid;
      Bump(close_events_);
      sink_->OnClose(out);
      return true;
    }
    case HT_EVENT_SHUTDOWN: {
      if (size < sizeof(ht_shutdown_event)) break;
      const auto* e = static_cast<const ht_shutdown_event*>(data);
      if (e->direction > HT_INGRESS) break;
      ConnectionShutdownEvent out;
      out.conn = MakeKey(e->hdr.conn);
      out.direction = static_cast<Direction>(e->direction);
      out.timestamp_ns = timestamp;
      out.egress_bytes = e->bytes[HT_EGRESS];
      out.ingress_bytes = e->bytes[HT_INGRESS];
      Bump(shutdown_events_);
      sink_->OnShutdown(out);
      return true;
    }
    case HT_EVENT_LOSS: {
      if (size < sizeof(ht_loss_event)) break;
      const auto* e = static_cast<const ht_loss_event*>(data);
      if (e->direction > HT_INGRESS) break;
      KernelLossEvent out;
      out.conn = MakeKey(e->hdr.conn);
      out.direction = static_cast<Direction>(e->direction);
      out.cause = LossCause::kRingBufferFull;
      out.bytes = e->bytes;
      out.message_starts = e->message_starts;
      out.timestamp_ns = timestamp;
      Bump(loss_events_);
      Bump(lost_bytes_, e->bytes);
      sink_->OnKernelLoss(out);
      return true;
    }
    default:
      break;
  }
  Bump(malformed_);
  return false;
}

void EventDecoder::AddCounters(absl::flat_hash_map<std::string, uint64_t>& out) const {
  const auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  out["poller.data_events"] = get(data_events_);
  out["poller.data_bytes"] = get(data_bytes_);
  out["poller.open_events"] = get(open_events_);
  out["poller.not_traced_events"] = get(not_traced_events_);
  out["poller.close_events"] = get(close_events_);
  out["poller.shutdown_events"] = get(shutdown_events_);
  out["poller.loss_events"] = get(loss_events_);
  out["poller.lost_bytes"] = get(lost_bytes_);
  out["poller.malformed"] = get(malformed_);
}

}  // namespace httptrace::capture
