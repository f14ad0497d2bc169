// Decoding of hand-made probe records: every event kind, and malformed records rejected.

#include "agent/capture/event_decoder.h"

#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "bpf/events.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::capture {
namespace {

struct Sink : CaptureSink {
  void OnOpen(const ConnectionOpenEvent& e) override {
    opens.push_back(e);
    comm = std::string(e.comm);
  }
  void OnData(const DataEvent& e) override {
    datas.push_back(e);
    payload = std::string(e.data);
  }
  void OnShutdown(const ConnectionShutdownEvent& e) override { shutdowns.push_back(e); }
  void OnClose(const ConnectionCloseEvent& e) override { closes.push_back(e); }
  void OnKernelLoss(const KernelLossEvent& e) override { losses.push_back(e); }
  std::vector<ConnectionOpenEvent> opens;
  std::vector<DataEvent> datas;
  std::vector<ConnectionCloseEvent> closes;
  std::vector<ConnectionShutdownEvent> shutdowns;
  std::vector<KernelLossEvent> losses;
  std::string payload, comm;
};

TEST(EventDecoderTest, DecodesDataEventWithPayloadAndTimeOffset) {
  Sink sink;
  EventDecoder decoder(&sink, 1000);
  std::vector<uint64_t> storage(32);  // 8-byte aligned like ring-buffer records
  auto* e = reinterpret_cast<ht_data_event*>(storage.data());
  e->hdr.kind = HT_EVENT_DATA;
  e->hdr.tid = 11;
  e->hdr.conn = {.id = 7, .tgid = 10, .fd = 5};
  e->hdr.timestamp_ns = 5;
  e->position = 100;
  e->length = 50;
  e->captured = 4;
  e->direction = HT_INGRESS;
  std::strcpy(e->comm, "nginx");
  std::memcpy(e->data, "GET ", 4);
  ASSERT_TRUE(decoder.Decode(e, sizeof(*e) + 4));
  ASSERT_EQ(sink.datas.size(), 1u);
  const DataEvent& d = sink.datas[0];
  EXPECT_EQ(d.conn, (ConnectionKey{7}));
  EXPECT_EQ(d.fd, 5);
  EXPECT_EQ(d.direction, Direction::kIngress);
  EXPECT_EQ(d.position, 100u);
  EXPECT_EQ(d.length, 50u);
  EXPECT_EQ(sink.payload, "GET ");
  EXPECT_EQ(d.timestamp_ns, 1005u);
  EXPECT_EQ(d.pid, 10u);
  EXPECT_EQ(d.tid, 11u);
  EXPECT_FALSE(d.size_only);
}

// TLS plaintext: the syscall says read or write, the event's `tls` which library (bpf/events.h).
TEST(EventDecoderTest, DecodesTlsPlaintextWithItsLibrary) {
  const struct {
    uint8_t sys;
    uint8_t lib;
    Syscall syscall;
    TlsLibrary tls;
  } cases[] = {
      {HT_SYS_WRITE, HT_TLS_NONE, Syscall::kWrite, TlsLibrary::kNone},
      {HT_SYS_TLS_READ, HT_TLS_OPENSSL, Syscall::kTlsRead, TlsLibrary::kOpenssl},
      {HT_SYS_TLS_WRITE, HT_TLS_OPENSSL, Syscall::kTlsWrite, TlsLibrary::kOpenssl},
      {HT_SYS_TLS_READ, HT_TLS_GNUTLS, Syscall::kTlsRead, TlsLibrary::kGnutls},
      {HT_SYS_TLS_WRITE, HT_TLS_GNUTLS, Syscall::kTlsWrite, TlsLibrary::kGnutls},
      {HT_SYS_TLS_READ, HT_TLS_GO, Syscall::kTlsRead, TlsLibrary::kGo},
      {HT_SYS_TLS_WRITE, HT_TLS_GO, Syscall::kTlsWrite, TlsLibrary::kGo},
      {HT_SYS_TLS_WRITE, HT_TLS_GO + 1, Syscall::kTlsWrite, TlsLibrary::kNone},
      {HT_SYS_TLS_WRITE + 1, HT_TLS_OPENSSL, Syscall::kUnknown, TlsLibrary::kNone},
  };
  for (const auto& c : cases) {
    Sink sink;
    EventDecoder decoder(&sink, 0);
    std::vector<uint64_t> storage(32);
    auto* e = reinterpret_cast<ht_data_event*>(storage.data());
    e->hdr.kind = HT_EVENT_DATA;
    e->length = 4;
    e->captured = 4;
    e->syscall = c.sys;
    e->tls = c.lib;
    std::memcpy(e->data, "GET ", 4);
    ASSERT_TRUE(decoder.Decode(e, sizeof(*e) + 4));
    ASSERT_EQ(sink.datas.size(), 1u);
    EXPECT_EQ(sink.datas[0].syscall, c.syscall) << int(c.sys);
    EXPECT_EQ(sink.datas[0].tls, c.tls) << int(c.sys);
  }
  EXPECT_EQ(TlsLibraryName(TlsLibrary::kOpenssl), "openssl");
  EXPECT_EQ(TlsLibraryName(TlsLibrary::kGnutls), "gnutls");
  EXPECT_EQ(TlsLibraryName(TlsLibrary::kNone), "");
}

TEST(EventDecoderTest, DecodesTheConnectionsProtocol) {
  const struct {
    uint8_t wire;
    httptrace::protocols::Protocol protocol;
  } cases[] = {
      {HT_PROTO_HTTP1, httptrace::protocols::Protocol::kHttp1},
      {HT_PROTO_HTTP2, httptrace::protocols::Protocol::kHttp2},
      {HT_PROTO_UNKNOWN, httptrace::protocols::Protocol::kUnknown},
      {200, httptrace::protocols::Protocol::kUnknown},
  };
  for (const auto& c : cases) {
    Sink sink;
    EventDecoder decoder(&sink, 0);
    std::vector<uint64_t> storage(32);
    auto* e = reinterpret_cast<ht_data_event*>(storage.data());
    e->hdr.kind = HT_EVENT_DATA;
    e->length = 4;
    e->captured = 4;
    e->syscall = HT_SYS_WRITE;
    e->protocol = c.wire;
    std::memcpy(e->data, "GET ", 4);
    ASSERT_TRUE(decoder.Decode(e, sizeof(*e) + 4));
    ASSERT_EQ(sink.datas.size(), 1u);
    EXPECT_EQ(sink.datas[0].protocol, c.protocol) << int(c.wire);
  }
}

TEST(EventDecoderTest, RejectsCapturedBeyondRecordOrLength) {
  Sink sink;
  EventDecoder decoder(&sink, 0);
  std::vector<uint64_t> storage(32);
  auto* e = reinterpret_cast<ht_data_event*>(storage.data());
  e->hdr.kind = HT_EVENT_DATA;
  e->captured = 100;
  e->length = 100;
  EXPECT_FALSE(decoder.Decode(e, sizeof(*e) + 10));
  e->captured = 10;
  e->length = 5;
  EXPECT_FALSE(decoder.Decode(e, sizeof(*e) + 10));
  EXPECT_FALSE(decoder.Decode(e, 8));
  e->hdr.kind = 99;
  EXPECT_FALSE(decoder.Decode(e, sizeof(*e)));
  EXPECT_TRUE(sink.datas.empty());
  absl::flat_hash_map<std::string, uint64_t> counters;
  decoder.AddCounters(counters);
  EXPECT_EQ(counters["poller.malformed"], 4u);
}

TEST(EventDecoderTest, DecodesOpenCloseAndLoss) {
  Sink sink;
  EventDecoder decoder(&sink, 0);
  ht_open_event open = {};
  open.hdr.kind = HT_EVENT_OPEN;
  open.hdr.conn = {.id = 2, .tgid = 1, .fd = 3};
  open.role = HT_ROLE_SERVER;
  open.family = AF_INET6;
  open.local_port = 80;
  open.remote_port = 5555;
  open.local_addr[15] = 1;  // ::1
  open.remote_addr[15] = 1;
  std::strcpy(open.comm, "python3");
  ASSERT_TRUE(decoder.Decode(&open, sizeof(open)));
  ASSERT_EQ(sink.opens.size(), 1u);
  EXPECT_EQ(sink.opens[0].role, Role::kServer);
  EXPECT_EQ(sink.opens[0].local.ToString(), "[::1]:80");
  EXPECT_EQ(sink.opens[0].remote.AddressString(), "::1");
  EXPECT_EQ(sink.comm, "python3");

  ht_open_event open4 = open;
  open4.family = AF_INET;
  std::memset(open4.local_addr, 0, 16);
  open4.local_addr[0] = 127;
  open4.local_addr[3] = 1;
  ASSERT_TRUE(decoder.Decode(&open4, sizeof(open4)));
  EXPECT_EQ(sink.opens[1].local.ToString(), "127.0.0.1:80");

  ht_close_event close = {};
  close.hdr.kind = HT_EVENT_CLOSE;
  close.bytes[HT_EGRESS] = 10;
  close.bytes[HT_INGRESS] = 20;
  ASSERT_TRUE(decoder.Decode(&close, sizeof(close)));
  EXPECT_EQ(sink.closes[0].egress_bytes, 10u);
  EXPECT_EQ(sink.closes[0].ingress_bytes, 20u);

  ht_shutdown_event shutdown = {};
  shutdown.hdr.kind = HT_EVENT_SHUTDOWN;
  shutdown.hdr.conn = {.id = 2, .tgid = 0, .fd = -1};
  shutdown.bytes[HT_EGRESS] = 30;
  shutdown.direction = HT_INGRESS;
  ASSERT_TRUE(decoder.Decode(&shutdown, sizeof(shutdown)));
  ASSERT_EQ(sink.shutdowns.size(), 1u);
  EXPECT_EQ(sink.shutdowns[0].conn, (ConnectionKey{2}));
  EXPECT_EQ(sink.shutdowns[0].egress_bytes, 30u);
  EXPECT_EQ(sink.shutdowns[0].direction, Direction::kIngress);
  shutdown.direction = 7;
  EXPECT_FALSE(decoder.Decode(&shutdown, sizeof(shutdown)));
  EXPECT_FALSE(decoder.Decode(&shutdown, sizeof(shutdown) - 8));

  ht_loss_event loss = {};
  loss.hdr.kind = HT_EVENT_LOSS;
  loss.bytes = 4096;
  loss.direction = HT_EGRESS;
  loss.cause = HT_LOSS_RINGBUF_FULL;
  loss.message_starts = 3;
  ASSERT_TRUE(decoder.Decode(&loss, sizeof(loss)));
  EXPECT_EQ(sink.losses[0].bytes, 4096u);
  EXPECT_EQ(sink.losses[0].message_starts, 3u);
  EXPECT_EQ(sink.losses[0].cause, LossCause::kRingBufferFull);
}

TEST(EventDecoderTest, EveryKernelCounterHasAName) {
  EXPECT_EQ(KernelCounterNames().size(), static_cast<size_t>(HT_CNT_MAX));
  EXPECT_STREQ(KernelCounterNames()[HT_CNT_RINGBUF_FULL], "ringbuf_full");
  EXPECT_STREQ(KernelCounterNames()[HT_CNT_SKIP_NOT_SOCKET], "skip_not_socket");
  EXPECT_STREQ(KernelCounterNames()[HT_CNT_PEEK_SKIPPED], "peek_skipped");
  EXPECT_STREQ(KernelCounterNames()[HT_CNT_CONN_ENDED], "conn_ended");
  // Every name is the enum's own (generated from one list): lower case of HT_CNT_<NAME>.
#define HT_COUNTER_CHECK(name, text) \
  EXPECT_EQ(absl::AsciiStrToUpper(KernelCounterNames()[HT_CNT_##name]), #name);
  HT_COUNTERS(HT_COUNTER_CHECK)
#undef HT_COUNTER_CHECK
}

}  // namespace
}  // namespace httptrace::capture
