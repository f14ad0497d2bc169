// Real traffic through the real probes: python3 http.server + curl over IPv4 and IPv6, writev and
// sendmsg with many iovecs, a 1 MiB write, sendfile, a connection opened before capture, traffic
// that must not be copied (non-HTTP TCP, unix sockets, files), and the pid and port filters.

#include "agent/capture/capture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/capture/capture_testing.h"
#include "common/testing/test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::capture {
namespace {

using testing::Connect;
using testing::Listen;
using testing::ReadExactly;
using testing::RecordingSink;
using ::testing::StartsWith;
using testing::WriteAll;

// Waits are multiplied by $HTTPTRACE_TEST_TIMEOUT_SCALE: the kernel matrix (test/kernels) runs
// these tests under qemu's TCG, ~10x slower than this machine.
double TimeoutScale() {
  const char* s = getenv("HTTPTRACE_TEST_TIMEOUT_SCALE");
  const double scale = s != nullptr ? atof(s) : 1.0;
  return scale >= 1.0 ? scale : 1.0;
}
const absl::Duration kWait = absl::Seconds(10) * TimeoutScale();

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return s;
}

// One direction of a real exchange: writes all of `bytes` on `from` and reads as many on `to`.
bool Transfer(int from, int to, absl::string_view bytes) {
  std::string received(bytes.size(), '\0');
  return WriteAll(from, bytes.data(), bytes.size()) &&
         ReadExactly(to, received.data(), received.size());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One scratch directory per test binary, under $TEST_TMPDIR.
const std::string& TempDir() {
  static const std::string* dir =
      new std::string(httptrace::test_support::MakeScratchDir("capture"));
  return *dir;
}

pid_t Spawn(const std::vector<std::string>& argv) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 1);
    dup2(devnull, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// Kills (SIGTERM) and reaps a child when the test ends, however it ends.
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

int WaitExit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool BothClosed(const RecordingSink::Conns& conns, uint32_t tgid, int a, int b) {
  const auto* x = RecordingSink::Find(conns, tgid, a);
  const auto* y = RecordingSink::Find(conns, tgid, b);
  return x != nullptr && y != nullptr && x->closed && y->closed;
}

// Every test runs in both attach modes, each with the features of this kernel and with every
// fallback of an older one (bpf/compat.bpf.h): the results must be the same.
class CaptureTest : public ::testing::TestWithParam<std::tuple<AttachMode, bool>> {
 protected:
  static AttachMode mode() { return std::get<0>(GetParam()); }
  static bool fallbacks() { return std::get<1>(GetParam()); }

  void SetUp() override {
    HT_SKIP_UNLESS_CAPABLE(httptrace::test_support::RootAbsentReason("the capture probes"));
  }

  // A capture that may trace this very process (the tests are their own traffic).
  void Start(CaptureConfig config = {}, bool attach = true) {
    config.exclude_self = false;
    // The syscall tests leave the TLS uprobes out (each attach would scan /proc and set
    // uprobes, ~1-2 s per test here); //test/servers:tls_servers_test covers them.
    config.tls = want_tls_;
    config.attach_mode = mode();
    config.use_fallbacks = fallbacks();
    auto capture = Capture::Create(config, &sink_);
    ASSERT_TRUE(capture.ok()) << capture.status();
    capture_ = std::move(*capture);
    KernelFilter filter;
    filter.tgids = {static_cast<uint32_t>(getpid())};
    ASSERT_TRUE(capture_->SetFilter(filter).ok());
    if (attach) ASSERT_TRUE(capture_->Attach().ok());
  }

  bool want_tls_ = false;

  void TearDown() override {
    if (capture_) capture_->Detach();
  }

  uint64_t Counter(const std::string& name) {
    auto counters = capture_->Counters();
    auto it = counters.find(name);
    EXPECT_NE(it, counters.end()) << name;
    return it == counters.end() ? 0 : it->second;
  }

  uint32_t self() const { return static_cast<uint32_t>(getpid()); }
  // Closes both ends of `pair` and waits until the probes reported both closes. The fds they had
  // go to *cfd and *sfd, to find the recorded connections.
  bool CloseBothAndWait(testing::TcpPair& pair, int* cfd, int* sfd) {
    *cfd = pair.client.get();
    *sfd = pair.server.get();
    pair.client.reset();
    pair.server.reset();
    const int c = *cfd, s = *sfd;
    return sink_.WaitUntil([&](const auto& conns) { return BothClosed(conns, self(), c, s); },
                           kWait);
  }

  RecordingSink sink_;
  std::unique_ptr<Capture> capture_;
};

// python3 http.server and curl, two real processes: every byte each one sent is what the other
// one received, with the right pids, roles, addresses, positions and closes.
void RealServerAndCurl(RecordingSink& sink, int family, AttachMode mode,
                       std::unique_ptr<Capture>& capture) {
  const std::string dir = absl::StrCat(TempDir(), "/www", family);
  mkdir(dir.c_str(), 0755);
  const std::string body = Pattern(3000, family);
  std::ofstream(dir + "/hello.txt", std::ios::binary) << body;

  uint16_t port;
  {
    auto l = Listen(family);
    ASSERT_TRUE(l.ok());
    port = l->port;
  }
  const std::string ip = family == AF_INET ? "127.0.0.1" : "::1";
  const std::string host = family == AF_INET ? ip : "[" + ip + "]";
  const pid_t server = Spawn(
      {"python3", "-m", "http.server", "--bind", ip, "--directory", dir, std::to_string(port)});
  ASSERT_GT(server, 0);
  ChildGuard server_guard{server};
  // Wait until it accepts (bounded).
  bool ready = false;
  for (int i = 0; i < 200 * TimeoutScale() && !ready; ++i) {
    const int fd = socket(family, SOCK_STREAM, 0);
    sockaddr_storage ss{};
    socklen_t len;
    if (family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
      sin->sin_family = AF_INET;
      sin->sin_port = htons(port);
      inet_pton(AF_INET, ip.c_str(), &sin->sin_addr);
      len = sizeof(*sin);
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(port);
      inet_pton(AF_INET6, ip.c_str(), &sin6->sin6_addr);
      len = sizeof(*sin6);
    }
    ready = connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0;
    close(fd);
    if (!ready) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(ready) << "python3 http.server did not start";

  CaptureConfig config;
  config.attach_mode = mode;
  auto created = Capture::Create(config, &sink);
  ASSERT_TRUE(created.ok()) << created.status();
  capture = std::move(*created);
  KernelFilter filter;
  filter.ports = {port};
  ASSERT_TRUE(capture->SetFilter(filter).ok());
  ASSERT_TRUE(capture->Attach().ok());

  const std::string out = absl::StrCat(TempDir(), "/curl_out", family);
  const pid_t curl =
      Spawn({"curl", "-s", "-o", out, absl::StrCat("http://", host, ":", port, "/hello.txt")});
  ASSERT_EQ(WaitExit(curl), 0);
  EXPECT_EQ(ReadFile(out), body);

  const RecordingSink::Conn* client = nullptr;
  const RecordingSink::Conn* srv = nullptr;
  RecordingSink::Conns conns;
  sink.WaitUntil(
      [&](const RecordingSink::Conns& c) {
        int closed = 0;
        for (const auto& [key, conn] : c) closed += conn.closed;
        return closed >= 2;
      },
      kWait);
  capture->Detach();

  conns = sink.Snapshot();
  for (const auto& [key, conn] : conns) {
    if (conn.open.pid == static_cast<uint32_t>(curl)) client = &conn;
    if (conn.open.pid == static_cast<uint32_t>(server)) srv = &conn;
  }
  ASSERT_NE(client, nullptr) << "no connection of curl (pid " << curl << ")";
  ASSERT_NE(srv, nullptr) << "no connection of the server (pid " << server << ")";

  EXPECT_TRUE(client->opened);
  EXPECT_EQ(client->open.role, Role::kClient);
  EXPECT_EQ(client->open.pid, static_cast<uint32_t>(curl));
  EXPECT_EQ(client->open_comm, "curl");
  EXPECT_EQ(client->open.remote.port, port);
  EXPECT_EQ(client->open.remote.AddressString(), ip);
  EXPECT_EQ(client->open.local.AddressString(), ip);
  EXPECT_EQ(client->open.remote.family, family);
  EXPECT_TRUE(srv->opened);
  EXPECT_EQ(srv->open.role, Role::kServer);
  EXPECT_EQ(srv->open.pid, static_cast<uint32_t>(server));
  EXPECT_EQ(srv->open.local.port, port);
  EXPECT_EQ(srv->open.remote.port, client->open.local.port);
  EXPECT_EQ(srv->open.local.ToString(), client->open.remote.ToString());

  // What one side wrote is what the other read, byte for byte, nothing truncated.
  EXPECT_THAT(client->egress().bytes, StartsWith("GET /hello.txt HTTP/1.1\r\n"));
  EXPECT_EQ(client->egress().bytes, srv->ingress().bytes);
  EXPECT_EQ(client->ingress().bytes, srv->egress().bytes);
  EXPECT_THAT(srv->egress().bytes, StartsWith("HTTP/1."));
  EXPECT_EQ(srv->egress().bytes.substr(srv->egress().bytes.size() - body.size()), body);
  for (const auto* c : {client, srv}) {
    for (const auto& s : c->streams) {
      EXPECT_TRUE(s.contiguous);
      EXPECT_EQ(s.total_length, s.bytes.size());
    }
    EXPECT_TRUE(c->closed);
    EXPECT_EQ(c->close.egress_bytes, c->egress().total_length);
    EXPECT_EQ(c->close.ingress_bytes, c->ingress().total_length);
  }
  EXPECT_EQ(client->egress().pid, static_cast<uint32_t>(curl));
  EXPECT_EQ(srv->egress().pid, static_cast<uint32_t>(server));
}

TEST_P(CaptureTest, RealHttpServerAndCurlOverIpv4) {
  RealServerAndCurl(sink_, AF_INET, mode(), capture_);
}

TEST_P(CaptureTest, RealHttpServerAndCurlOverIpv6) {
  RealServerAndCurl(sink_, AF_INET6, mode(), capture_);
}

TEST_P(CaptureTest, WritevAndSendmsgWithManyIovecsAreCapturedWhole) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());

  // Request: writev with 64 iovecs.
  std::vector<std::string> pieces = {"POST /upload HTTP/1.1\r\nContent-Length: 9000\r\n\r\n"};
  for (int i = 1; i < 64; ++i) pieces.push_back(Pattern(i * 7 + 1, i));
  std::string request;
  std::vector<iovec> iov;
  for (auto& p : pieces) {
    iov.push_back({p.data(), p.size()});
    request += p;
  }
  ASSERT_EQ(writev(pair->client.get(), iov.data(), iov.size()),
            static_cast<ssize_t>(request.size()));
  std::string got(request.size(), '\0');
  ASSERT_TRUE(ReadExactly(pair->server.get(), got.data(), got.size()));

  // Response: sendmsg with 100 iovecs, read with recvmsg.
  std::vector<std::string> rpieces = {"HTTP/1.1 200 OK\r\n\r\n"};
  for (int i = 1; i < 100; ++i) rpieces.push_back(Pattern(i % 13 + 1, i));
  std::string response;
  std::vector<iovec> riov;
  for (auto& p : rpieces) {
    riov.push_back({p.data(), p.size()});
    response += p;
  }
  msghdr msg{};
  msg.msg_iov = riov.data();
  msg.msg_iovlen = riov.size();
  ASSERT_EQ(sendmsg(pair->server.get(), &msg, 0), static_cast<ssize_t>(response.size()));
  std::string rgot(response.size(), '\0');
  size_t off = 0;
  while (off < rgot.size()) {
    iovec one{rgot.data() + off, rgot.size() - off};
    msghdr rmsg{};
    rmsg.msg_iov = &one;
    rmsg.msg_iovlen = 1;
    const ssize_t r = recvmsg(pair->client.get(), &rmsg, 0);
    ASSERT_GT(r, 0);
    off += r;
  }
  int cfd, sfd;
  ASSERT_TRUE(CloseBothAndWait(*pair, &cfd, &sfd));

  const auto conns = sink_.Snapshot();
  const auto* client = RecordingSink::Find(conns, self(), cfd);
  const auto* server = RecordingSink::Find(conns, self(), sfd);
  EXPECT_EQ(client->open.role, Role::kClient);
  EXPECT_EQ(server->open.role, Role::kServer);
  EXPECT_EQ(client->egress().bytes, request);
  EXPECT_EQ(server->ingress().bytes, request);
  EXPECT_EQ(server->egress().bytes, response);
  EXPECT_EQ(client->ingress().bytes, response);
  EXPECT_TRUE(client->egress().contiguous);
  EXPECT_TRUE(server->egress().contiguous);
  EXPECT_EQ(server->close.egress_bytes, response.size());
}

TEST_P(CaptureTest, OneMebibyteWriteIsChunkedWithRightPositionsAndLength) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const std::string header = "PUT /big HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n";
  const std::string request = header + Pattern(1 << 20, 3);
  std::string got(request.size(), '\0');
  std::thread reader([&] { ReadExactly(pair->server.get(), got.data(), got.size()); });
  ASSERT_EQ(write(pair->client.get(), request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  reader.join();
  ASSERT_EQ(got, request);
  int cfd, sfd;
  ASSERT_TRUE(CloseBothAndWait(*pair, &cfd, &sfd));

  const auto conns = sink_.Snapshot();
  const auto& egress = RecordingSink::Find(conns, self(), cfd)->egress();
  EXPECT_GE(egress.events, static_cast<int>(request.size() / 16384));  // chunked
  EXPECT_TRUE(egress.contiguous);
  EXPECT_EQ(egress.total_length, request.size());
  EXPECT_EQ(egress.bytes, request);
  const auto& ingress = RecordingSink::Find(conns, self(), sfd)->ingress();
  EXPECT_TRUE(ingress.contiguous);
  EXPECT_EQ(ingress.bytes, request);
  EXPECT_EQ(Counter("kernel.ringbuf_full"), 0u);
  // A piece bpf_probe_read_user could not read (page not present at that instant) is sent
  // size-only: positions stay right but the bytes differ. Seen once under qemu on 6.1.
  EXPECT_EQ(Counter("kernel.read_user_failed"), 0u);
}

TEST_P(CaptureTest, ConnectionBudgetAndCopyLimitTruncateButKeepTrueLength) {
  CaptureConfig config;
  config.copy_limit = 1000;
  config.connection_budget = 4096;
  Start(config);
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const std::string request = "POST /b HTTP/1.1\r\n\r\n" + Pattern(10000, 1);
  std::string got(request.size(), '\0');
  std::thread reader([&] { ReadExactly(pair->server.get(), got.data(), got.size()); });
  ASSERT_TRUE(WriteAll(pair->client.get(), request.data(), request.size()));
  reader.join();
  int cfd, sfd;
  ASSERT_TRUE(CloseBothAndWait(*pair, &cfd, &sfd));
  const auto conns = sink_.Snapshot();
  const auto& egress = RecordingSink::Find(conns, self(), cfd)->egress();
  EXPECT_TRUE(egress.contiguous);
  EXPECT_EQ(egress.total_length, request.size());
  EXPECT_EQ(egress.bytes, request.substr(0, 4096));
  EXPECT_GE(egress.events, 5);  // 1000-byte chunks, then the size-only tail
  EXPECT_GT(Counter("kernel.trunc_budget_bytes"), 0u);
}

// The sessions keep 4 KiB of a body: the probes copy at most that plus the header allowance
// (kernel_filter_control's 8 KiB) of each HTTP/1 message, per direction, counted from the
// syscall that began it; positions still advance over the rest. A 64 KiB response written in one
// write (and read in many reads) costs ~12 KiB of ring buffer per direction, not 64 KiB.
TEST_P(CaptureTest, PerMessageLimitCopiesOnlyWhatTheSessionsKeep) {
  Start();
  constexpr uint32_t kLimit = 4096 + 8192;
  KernelFilter filter;
  filter.tgids = {self()};
  filter.http1_message_limit = kLimit;
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const uint64_t bytes_before = Counter("kernel.data_bytes");
  const std::string request = "GET /big HTTP/1.1\r\nHost: t\r\n\r\n";
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n" + std::string(65536, 'x');
  constexpr int kExchanges = 8;
  for (int i = 0; i < kExchanges; ++i) {
    ASSERT_TRUE(WriteAll(pair->client.get(), request.data(), request.size()));
    std::string got_request(request.size(), '\0');
    ReadExactly(pair->server.get(), got_request.data(), got_request.size());
    std::string got(response.size(), '\0');
    std::thread reader([&] { ReadExactly(pair->client.get(), got.data(), got.size()); });
    ASSERT_TRUE(WriteAll(pair->server.get(), response.data(), response.size()));
    reader.join();
    ASSERT_EQ(got, response);
  }
  const uint64_t copied = Counter("kernel.data_bytes") - bytes_before;
  std::cout << "bytes copied per exchange (both ends): " << copied / kExchanges << " for a "
            << response.size() << "-byte response; without the limit "
            << 2 * (request.size() + response.size()) << "\n";
  // Requests whole both ways, responses cut at the limit both ways.
  EXPECT_EQ(copied, kExchanges * 2 * (request.size() + kLimit));
  // After an h2c upgrade the HTTP/2 preface goes by: from then on nothing of the connection is
  // cut (HPACK needs every byte), at either end, in either direction.
  const std::string h2 = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + std::string(20000, 'f');
  const std::string h2_back(20000, 'g');
  ASSERT_TRUE(WriteAll(pair->client.get(), h2.data(), h2.size()));
  std::string got_h2(h2.size(), '\0');
  ReadExactly(pair->server.get(), got_h2.data(), got_h2.size());
  ASSERT_TRUE(WriteAll(pair->server.get(), h2_back.data(), h2_back.size()));
  std::string got_back(h2_back.size(), '\0');
  ReadExactly(pair->client.get(), got_back.data(), got_back.size());
  int cfd, sfd;
  ASSERT_TRUE(CloseBothAndWait(*pair, &cfd, &sfd));
  const auto conns = sink_.Snapshot();
  const auto& server_out = RecordingSink::Find(conns, self(), sfd)->egress();
  const auto& client_in = RecordingSink::Find(conns, self(), cfd)->ingress();
  std::string expected;
  for (int i = 0; i < kExchanges; ++i) expected += response.substr(0, kLimit);
  for (const auto* dir : {&server_out, &client_in}) {
    EXPECT_TRUE(dir->contiguous);
    EXPECT_EQ(dir->total_length, response.size() * kExchanges + h2_back.size());
    EXPECT_EQ(dir->bytes, expected + h2_back);
  }
  const auto& client_out = RecordingSink::Find(conns, self(), cfd)->egress();
  const auto& server_in = RecordingSink::Find(conns, self(), sfd)->ingress();
  for (const auto* dir : {&client_out, &server_in}) {
    EXPECT_TRUE(dir->contiguous);
    EXPECT_EQ(dir->bytes.substr(dir->bytes.size() - h2.size()), h2);
  }
  EXPECT_EQ(Counter("kernel.trunc_message_bytes"), kExchanges * 2 * (response.size() - kLimit));
}

TEST_P(CaptureTest, SendfileIsReportedSizeOnlyWithRightPositions) {
  Start();
  const std::string path = TempDir() + "/sendfile.bin";
  const std::string content = Pattern(50000, 9);
  std::ofstream(path, std::ios::binary) << content;
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const std::string request = "GET /file HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(Transfer(pair->client.get(), pair->server.get(), request));
  const std::string header =
      absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: ", content.size(), "\r\n\r\n");
  std::string got(header.size() + content.size(), '\0');
  std::thread reader([&] { ReadExactly(pair->client.get(), got.data(), got.size()); });
  ASSERT_TRUE(WriteAll(pair->server.get(), header.data(), header.size()));
  const int file = open(path.c_str(), O_RDONLY);
  off_t offset = 0;
  size_t sent = 0;
  while (sent < content.size()) {
    const ssize_t n = sendfile(pair->server.get(), file, &offset, content.size() - sent);
    ASSERT_GT(n, 0);
    sent += n;
  }
  close(file);
  reader.join();
  ASSERT_EQ(got, header + content);
  int cfd, sfd;
  ASSERT_TRUE(CloseBothAndWait(*pair, &cfd, &sfd));
  const auto conns = sink_.Snapshot();
  const auto& egress = RecordingSink::Find(conns, self(), sfd)->egress();
  EXPECT_TRUE(egress.contiguous);
  EXPECT_EQ(egress.bytes, header);
  EXPECT_EQ(egress.size_only_bytes, content.size());
  EXPECT_EQ(egress.total_length, header.size() + content.size());
  EXPECT_EQ(RecordingSink::Find(conns, self(), cfd)->ingress().bytes, header + content);
}

TEST_P(CaptureTest, SendmmsgRecvmmsgAndReadvAreCaptured) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  // Three messages of two iovecs each in one sendmmsg.
  std::string parts[6] = {"GET /m HTTP/1.1\r\n", "Host: a\r\n",
                          "X-A: 1\r\n",          "X-B: " + Pattern(300, 1) + "\r\n",
                          "X-C: 3\r\n",          "\r\n"};
  std::string request;
  iovec iov[6];
  for (int i = 0; i < 6; ++i) {
    iov[i] = {parts[i].data(), parts[i].size()};
    request += parts[i];
  }
  mmsghdr msgs[3] = {};
  for (int m = 0; m < 3; ++m) {
    msgs[m].msg_hdr.msg_iov = &iov[2 * m];
    msgs[m].msg_hdr.msg_iovlen = 2;
  }
  ASSERT_EQ(sendmmsg(pair->client.get(), msgs, 3, 0), 3);
  // Server: readv into three buffers until everything arrived.
  std::string got;
  while (got.size() < request.size()) {
    char a[7], b[50], c[1000];
    iovec riov[3] = {{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}};
    const ssize_t n = readv(pair->server.get(), riov, 3);
    ASSERT_GT(n, 0);
    size_t left = n;
    for (auto& v : riov) {
      const size_t take = std::min(left, v.iov_len);
      got.append(static_cast<char*>(v.iov_base), take);
      left -= take;
    }
  }
  ASSERT_EQ(got, request);
  // Response: write, then recvmmsg on the client (one message of two iovecs).
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  ASSERT_TRUE(WriteAll(pair->server.get(), response.data(), response.size()));
  std::string rgot;
  while (rgot.size() < response.size()) {
    char a[10], b[100];
    iovec riov[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
    mmsghdr rm = {};
    rm.msg_hdr.msg_iov = riov;
    rm.msg_hdr.msg_iovlen = 2;
    ASSERT_EQ(recvmmsg(pair->client.get(), &rm, 1, 0, nullptr), 1);
    size_t left = rm.msg_len;
    for (auto& v : riov) {
      const size_t take = std::min(left, v.iov_len);
      rgot.append(static_cast<char*>(v.iov_base), take);
      left -= take;
    }
  }
  ASSERT_EQ(rgot, response);
  int cfd, sfd;
  ASSERT_TRUE(CloseBothAndWait(*pair, &cfd, &sfd));
  const auto conns = sink_.Snapshot();
  const auto* client = RecordingSink::Find(conns, self(), cfd);
  const auto* server = RecordingSink::Find(conns, self(), sfd);
  EXPECT_EQ(client->egress().bytes, request);
  EXPECT_TRUE(client->egress().contiguous);
  EXPECT_EQ(server->ingress().bytes, request);
  EXPECT_EQ(client->ingress().bytes, response);
  EXPECT_TRUE(client->ingress().contiguous);
}

TEST_P(CaptureTest, RingBufferOverflowIsCountedAndReportedAsLossWithGaps) {
  CaptureConfig config;
  config.ring_buffer_bytes = 4096 * 4;      // tiny: 16 KiB
  config.poll_interval = absl::Seconds(1);  // and drained slowly
  Start(config);
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const std::string request = "POST /flood HTTP/1.1\r\n\r\n" + Pattern(2000, 5);
  std::string body(request.size(), '\0');
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(WriteAll(pair->client.get(), request.data(), request.size()));
    ASSERT_TRUE(ReadExactly(pair->server.get(), body.data(), body.size()));
  }
  const int cfd = pair->client.get();
  // One more write after the drain carries the loss report.
  ASSERT_TRUE(capture_->Flush());
  ASSERT_TRUE(WriteAll(pair->client.get(), request.data(), request.size()));
  ASSERT_TRUE(ReadExactly(pair->server.get(), body.data(), body.size()));
  pair->client.reset();
  pair->server.reset();
  capture_->Detach();  // drains what the probes queued
  EXPECT_GT(Counter("kernel.ringbuf_full"), 0u);
  EXPECT_GT(Counter("kernel.ringbuf_full_bytes"), 0u);
  EXPECT_GT(sink_.losses(), 0u);
  const auto conns = sink_.Snapshot();
  const auto* client = RecordingSink::Find(conns, self(), cfd);
  ASSERT_NE(client, nullptr);
  EXPECT_FALSE(client->egress().contiguous);  // the gap shows in the positions
  EXPECT_LT(client->egress().total_length, request.size() * 51);
  // Every write was one whole request in one event: each refused egress event began a message,
  // so the loss counts exactly as many messages as requests' worth of bytes. (Reads may split.)
  const uint64_t lost = sink_.lost_bytes(Direction::kEgress);
  if (lost > 0) {
    EXPECT_EQ(lost % request.size(), 0u);
    EXPECT_EQ(sink_.lost_message_starts(Direction::kEgress), lost / request.size());
  }
  EXPECT_GT(lost + sink_.lost_bytes(Direction::kIngress), 0u);
  EXPECT_GE(sink_.lost_message_starts(Direction::kEgress) +
                sink_.lost_message_starts(Direction::kIngress),
            1u);
}

TEST_P(CaptureTest, ConnectionOpenedBeforeCaptureStartedGetsInferredRoles) {
  auto listener = Listen(AF_INET6);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  Start();  // attach after connect/accept
  const std::string request = "GET /old HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string response = "HTTP/1.1 204 No Content\r\n\r\n";
  ASSERT_TRUE(Transfer(pair->client.get(), pair->server.get(), request));
  ASSERT_TRUE(Transfer(pair->server.get(), pair->client.get(), response));
  int cfd, sfd;
  ASSERT_TRUE(CloseBothAndWait(*pair, &cfd, &sfd));
  const auto conns = sink_.Snapshot();
  const auto* client = RecordingSink::Find(conns, self(), cfd);
  const auto* server = RecordingSink::Find(conns, self(), sfd);
  EXPECT_EQ(client->open.role, Role::kClient);
  EXPECT_EQ(server->open.role, Role::kServer);
  EXPECT_EQ(client->open.remote.ToString(), absl::StrCat("[::1]:", listener->port));
  EXPECT_EQ(server->open.local.port, listener->port);
  EXPECT_EQ(client->egress().bytes, request);
  EXPECT_EQ(server->egress().bytes, response);
  EXPECT_TRUE(client->egress().contiguous);  // positions start at 0 for what the probes saw
}

TEST_P(CaptureTest, ConnectionFoundMidBodyIsPickedUpAtTheNextMessage) {
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const std::string head = "POST /up HTTP/1.1\r\nContent-Length: 6000\r\n\r\n";
  ASSERT_TRUE(Transfer(pair->client.get(), pair->server.get(), head));
  Start();  // capture starts in the middle of the body
  const std::string body = Pattern(6000, 2);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WriteAll(pair->client.get(), body.data() + i * 2000, 2000));
    std::string part(2000, '\0');
    ASSERT_TRUE(ReadExactly(pair->server.get(), part.data(), part.size()));
  }
  const std::string response = "HTTP/1.1 201 Created\r\n\r\n";
  const std::string next = "GET /next HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(Transfer(pair->server.get(), pair->client.get(), response));
  ASSERT_TRUE(Transfer(pair->client.get(), pair->server.get(), next));
  int cfd, sfd;
  ASSERT_TRUE(CloseBothAndWait(*pair, &cfd, &sfd));
  const auto conns = sink_.Snapshot();
  const auto* client = RecordingSink::Find(conns, self(), cfd);
  const auto* server = RecordingSink::Find(conns, self(), sfd);
  // The body's tail was never copied; the next message was, from its first byte.
  EXPECT_EQ(client->egress().bytes, next);
  EXPECT_EQ(client->ingress().bytes, response);
  EXPECT_EQ(server->egress().bytes, response);
  EXPECT_EQ(client->open.role, Role::kClient);
  EXPECT_EQ(server->open.role, Role::kServer);
  EXPECT_EQ(Counter("kernel.conn_not_http"), 0u);
}

TEST_P(CaptureTest, NonHttpTcpUnixSocketsAndFilesAreNotCopied) {
  Start();
  const uint64_t bytes_before = Counter("kernel.data_bytes");
  const uint64_t not_tcp_before = Counter("kernel.skip_not_tcp");
  const uint64_t not_socket_before = Counter("kernel.skip_not_socket");

  // TCP whose first bytes are not HTTP (a TLS ClientHello-like prefix).
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const std::string binary("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  char buf[64];
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WriteAll(pair->client.get(), binary.data(), binary.size()));
    ASSERT_TRUE(ReadExactly(pair->server.get(), buf, binary.size()));
  }
  // Unix socket carrying HTTP-looking bytes.
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  const std::string http = "GET / HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(WriteAll(sv[0], http.data(), http.size()));
  ASSERT_TRUE(ReadExactly(sv[1], buf, http.size()));
  close(sv[0]);
  close(sv[1]);
  // A file.
  const std::string path = TempDir() + "/file_write.txt";
  const int file = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  ASSERT_TRUE(WriteAll(file, http.data(), http.size()));
  close(file);
  pair->client.reset();
  pair->server.reset();
  ASSERT_TRUE(capture_->Flush());  // the barrier: whatever the probes queued has been delivered

  EXPECT_EQ(Counter("kernel.data_bytes"), bytes_before);
  EXPECT_EQ(Counter("kernel.conn_not_http"), 2u);  // both ends of the TCP connection
  EXPECT_GE(Counter("kernel.skip_not_http"), 6u);
  EXPECT_GE(Counter("kernel.skip_not_tcp") - not_tcp_before, 2u);
  EXPECT_GE(Counter("kernel.skip_not_socket") - not_socket_before, 1u);
  EXPECT_TRUE(sink_.Snapshot().empty());
}

TEST_P(CaptureTest, PidFilterRejectsOtherProcessesInKernel) {
  Start();
  KernelFilter filter;
  filter.tgids = {0x7ffffff0};  // no such process
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  const uint64_t skipped = Counter("kernel.skip_process");
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const std::string request = "GET /filtered HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(WriteAll(pair->client.get(), request.data(), request.size()));
  std::string rq(request.size(), '\0');
  ASSERT_TRUE(ReadExactly(pair->server.get(), rq.data(), rq.size()));
  ASSERT_TRUE(capture_->Flush());
  EXPECT_TRUE(sink_.Snapshot().empty());
  EXPECT_GE(Counter("kernel.skip_process") - skipped, 2u);

  // The same connection passes once this process is in the set.
  filter.tgids = {self()};
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  ASSERT_TRUE(WriteAll(pair->client.get(), request.data(), request.size()));
  ASSERT_TRUE(ReadExactly(pair->server.get(), rq.data(), rq.size()));
  const int cfd = pair->client.get();
  ASSERT_TRUE(sink_.WaitUntil(
      [&](const auto& c) {
        const auto* conn = RecordingSink::Find(c, self(), cfd);
        return conn != nullptr && conn->egress().bytes == request;
      },
      kWait));
}

TEST_P(CaptureTest, PortFilterKeepsOnlyMatchingConnectionsInKernel) {
  Start();
  auto a = Listen(AF_INET);
  auto b = Listen(AF_INET);
  ASSERT_TRUE(a.ok() && b.ok());
  KernelFilter filter;
  filter.tgids = {self()};
  filter.ports = {a->port};
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  auto pa = Connect(*a);
  auto pb = Connect(*b);
  ASSERT_TRUE(pa.ok() && pb.ok());
  const std::string request = "GET /port HTTP/1.1\r\n\r\n";
  std::string rq(request.size(), '\0');
  for (auto* p : {&*pa, &*pb}) {
    ASSERT_TRUE(WriteAll(p->client.get(), request.data(), request.size()));
    ASSERT_TRUE(ReadExactly(p->server.get(), rq.data(), rq.size()));
  }
  const int afd = pa->client.get(), bfd = pb->client.get();
  ASSERT_TRUE(sink_.WaitUntil(
      [&](const auto& c) {
        const auto* conn = RecordingSink::Find(c, self(), afd);
        return conn != nullptr && conn->egress().bytes == request;
      },
      kWait));
  ASSERT_TRUE(capture_->Flush());
  const auto conns = sink_.Snapshot();
  EXPECT_EQ(RecordingSink::Find(conns, self(), bfd), nullptr);
  EXPECT_GT(Counter("kernel.skip_conn_filter"), 0u);
}

// cgroup v2 id of this process (the inode of its unified-hierarchy directory), or 0.
uint64_t OwnCgroupId() {
  std::ifstream mounts("/proc/self/mounts");
  std::string dev, dir, type, rest, root;
  while (mounts >> dev >> dir >> type && std::getline(mounts, rest)) {
    if (type == "cgroup2") root = dir;
  }
  std::ifstream cgroup("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(cgroup, line)) {
    if (line.rfind("0::", 0) == 0) path = line.substr(3);
  }
  struct stat st {};
  if (root.empty() || stat((root + path).c_str(), &st) != 0) return 0;
  return st.st_ino;
}

TEST_P(CaptureTest, MountNamespaceAndCgroupFiltersWorkInKernel) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  // One exchange on a fresh connection; true when the probes reported its request (checked
  // after the flush barrier, so false means not captured rather than late).
  const auto exchange = [&]() {
    const size_t before = sink_.Snapshot().size();  // fd numbers repeat: count connections
    auto pair = Connect(*listener);
    EXPECT_TRUE(pair.ok());
    const std::string request = "GET /ns HTTP/1.1\r\n\r\n";
    EXPECT_TRUE(WriteAll(pair->client.get(), request.data(), request.size()));
    std::string rq(request.size(), '\0');
    EXPECT_TRUE(ReadExactly(pair->server.get(), rq.data(), rq.size()));
    const int cfd = pair->client.get();
    EXPECT_TRUE(capture_->Flush());
    const auto c = sink_.Snapshot();
    const auto* conn = RecordingSink::Find(c, self(), cfd);
    return c.size() > before && conn != nullptr && conn->egress().bytes == request;
  };
  struct stat st {};
  ASSERT_EQ(stat("/proc/self/ns/mnt", &st), 0);
  const uint32_t mntns = st.st_ino;
  KernelFilter filter;
  filter.tgids = {self()};
  filter.mount_namespaces = {mntns + 12345};
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  EXPECT_FALSE(exchange());
  EXPECT_GT(Counter("kernel.skip_conn_filter"), 0u);
  filter.mount_namespaces = {mntns};
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  EXPECT_TRUE(exchange());

  const uint64_t cgroup = OwnCgroupId();
  HT_SKIP_UNLESS_CAPABLE(cgroup == 0 ? "no cgroup v2 hierarchy to take this process's id from"
                                     : "");
  filter.mount_namespaces.clear();
  filter.cgroup_ids = {cgroup + 777};
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  const uint64_t skipped = Counter("kernel.skip_process");
  EXPECT_FALSE(exchange());
  EXPECT_GT(Counter("kernel.skip_process"), skipped);
  filter.cgroup_ids = {cgroup};
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  EXPECT_TRUE(exchange());
}

TEST_P(CaptureTest, FlushCallsTheSinksOnFlushFromThePollThread) {
  Start();
  const uint64_t before = sink_.flushes();
  ASSERT_TRUE(capture_->Flush());
  EXPECT_GT(sink_.flushes(), before);
}

TEST_P(CaptureTest, DetachStopsCaptureAndAttachAgainResumesIt) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  const std::string request = "GET /again HTTP/1.1\r\n\r\n";
  const auto exchange = [&](int* fd) {
    auto pair = Connect(*listener);
    ASSERT_TRUE(pair.ok());
    ASSERT_TRUE(Transfer(pair->client.get(), pair->server.get(), request));
    *fd = pair->client.get();
  };
  int fd = -1;
  exchange(&fd);
  ASSERT_TRUE(sink_.WaitUntil([&](const auto& c) { return c.size() == 2; }, kWait));
  capture_->Detach();
  EXPECT_FALSE(capture_->attached());
  const uint64_t events = Counter("kernel.data_events");
  exchange(&fd);  // the syscalls have returned: probes that ran would have counted by now
  EXPECT_EQ(Counter("kernel.data_events"), events);  // nothing runs while detached
  EXPECT_EQ(sink_.Snapshot().size(), 2u);
  ASSERT_TRUE(capture_->Attach().ok());
  exchange(&fd);
  EXPECT_TRUE(sink_.WaitUntil([&](const auto& c) { return c.size() == 4; }, kWait));
}

TEST_P(CaptureTest, ProbeInfoNamesModeAndPrograms) {
  want_tls_ = true;
  Start();
  const ProbeInfo info = capture_->probe_info();
  EXPECT_EQ(info.mode, mode());
  // Tracepoints: 15 entries and 17 exits; raw tracepoints: sys_exit. Both: the 2 socket ends.
  // Then one line per TLS library the TLS attacher probes ("tls openssl /usr/lib/...").
  size_t programs = 0, tls_lines = 0;
  for (const std::string& p : info.programs) ++(p.rfind("tls ", 0) == 0 ? tls_lines : programs);
  EXPECT_EQ(programs, mode() == AttachMode::kTracepoints ? 34u : 3u);
  EXPECT_TRUE(info.tls);
  EXPECT_GE(tls_lines, 1u);  // libssl.so.3 at least (scripts/setup.sh installs it)
  EXPECT_FALSE(info.detail.empty());
  // The detail says which kernel features the probes use (status and the start-up log show it).
  EXPECT_THAT(info.detail, ::testing::HasSubstr("kernel features: "));
  if (fallbacks()) {
    EXPECT_TRUE(info.features.compat_object());
    EXPECT_THAT(info.detail, ::testing::HasSubstr("bpf_loop no: bounded loops"));
    EXPECT_THAT(info.detail, ::testing::HasSubstr("compat object"));
  }
  capture_->Detach();
  EXPECT_TRUE(capture_->probe_info().programs.empty());
  EXPECT_FALSE(capture_->attached());
}

TEST_P(CaptureTest, AgentNeverTracesItsOwnTraffic) {
  CaptureConfig config;  // exclude_self stays true, as in the agent
  config.attach_mode = mode();
  config.use_fallbacks = fallbacks();
  auto created = Capture::Create(config, &sink_);
  ASSERT_TRUE(created.ok()) << created.status();
  capture_ = std::move(*created);
  ASSERT_TRUE(capture_->Attach().ok());
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const std::string request = "GET /self HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(Transfer(pair->client.get(), pair->server.get(), request));
  const int cfd = pair->client.get();
  pair->client.reset();
  pair->server.reset();
  ASSERT_TRUE(capture_->Flush());
  EXPECT_EQ(RecordingSink::Find(sink_.Snapshot(), self(), cfd), nullptr);
  EXPECT_GE(Counter("kernel.skip_self"), 2u);
}

// A ctl on the agent's TCP API is another process, so exclude_self does not keep it out: the
// port does. Only the client end (remote port = the API's) is dropped; here the test process
// holds both ends, and the server end stands for "the rest of the traffic still arrives".
TEST_P(CaptureTest, ClientsOfTheAgentsTcpApiAreNeverTraced) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  ASSERT_TRUE(capture_->SetOwnApiPorts({listener->port}).ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const std::string request = "GET /api HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(Transfer(pair->client.get(), pair->server.get(), request));
  const int cfd = pair->client.get(), sfd = pair->server.get();
  ASSERT_TRUE(sink_.WaitUntil(
      [&](const auto& c) {
        const auto* conn = RecordingSink::Find(c, self(), sfd);
        return conn != nullptr && conn->ingress().bytes == request;
      },
      kWait));
  ASSERT_TRUE(capture_->Flush());
  EXPECT_EQ(RecordingSink::Find(sink_.Snapshot(), self(), cfd), nullptr);
  EXPECT_GE(Counter("kernel.own_api_conns"), 1u);
  EXPECT_GE(Counter("kernel.skip_self"), 1u);
  EXPECT_FALSE(capture_->SetOwnApiPorts({1, 2, 3, 4, 5}).ok())
      << "more ports than the kernel keeps";
}

// The inetd pattern (busybox httpd, xinetd, CGI, s6-tcpserver, socat): the accepted socket goes
// to a forked child, which dup2()s it onto other fds, reads the request on one and writes the
// response on another (headers with write, the body with sendfile), shuts down its sending side
// and exits without close(). One socket is one connection: one open (by the child), the request
// and the response in one pair of streams, the shutdown at the response's end, the close when
// the last holder exits.
TEST_P(CaptureTest, ForkedChildWithDupedFdsIsOneConnectionEndedByShutdownAndExit) {
  Start();
  const std::string path = TempDir() + "/inetd_body.bin";
  const std::string body = Pattern(5000, 3);
  std::ofstream(path, std::ios::binary) << body;
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const std::string request = "GET /inetd HTTP/1.0\r\n\r\n";
  const std::string head = "HTTP/1.0 200 OK\r\n\r\n";  // close-delimited: ends at the FIN
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const int server_fd = pair->server.get();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char go;
    if (read(pipe_fds[0], &go, 1) != 1) _exit(2);
    // The fds an inetd child uses: never the one accept() returned.
    if (dup2(server_fd, 20) != 20) _exit(3);
    close(server_fd);
    const int out = dup(20);
    std::string got(request.size(), '\0');
    if (!ReadExactly(20, got.data(), got.size()) || got != request) _exit(4);
    if (!WriteAll(out, head.data(), head.size())) _exit(5);
    const int file = open(path.c_str(), O_RDONLY);
    off_t offset = 0;
    while (offset < static_cast<off_t>(body.size())) {
      if (sendfile(out, file, &offset, body.size() - offset) <= 0) _exit(6);
    }
    shutdown(out, SHUT_WR);
    _exit(0);  // no close(): the exit ends the socket
  }
  ChildGuard guard{child};
  KernelFilter filter;
  filter.tgids = {self(), static_cast<uint32_t>(child)};
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  pair->server.reset();  // the parent's copy goes, as inetd does
  ASSERT_EQ(write(pipe_fds[1], "x", 1), 1);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  ASSERT_TRUE(WriteAll(pair->client.get(), request.data(), request.size()));
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = read(pair->client.get(), buf, sizeof(buf))) > 0;) response.append(buf, n);
  EXPECT_EQ(response, head + body);
  EXPECT_EQ(WaitExit(child), 0);
  guard.pid = -1;

  // The child's side: one connection with both streams, shut down, then closed by the exit
  // (while the client still holds its end).
  const auto server_side = [&](const RecordingSink::Conns& conns) -> const RecordingSink::Conn* {
    const RecordingSink::Conn* found = nullptr;
    for (const auto& [key, conn] : conns) {
      if (conn.opened && conn.open.pid == static_cast<uint32_t>(child)) {
        if (found != nullptr) return nullptr;  // two halves: wrong
        found = &conn;
      }
    }
    return found;
  };
  // The client's end-of-stream read and the child's exit race on two CPUs: either event may
  // reach the ring buffer first, so wait for both (waiting for the close alone failed under load).
  const bool ended = sink_.WaitUntil(
      [&](const auto& c) {
        const auto* conn = server_side(c);
        const auto* client = RecordingSink::Find(c, self(), pair->client.get());
        return conn != nullptr && conn->closed && client != nullptr && client->shut_down;
      },
      kWait);
  const auto conns = sink_.Snapshot();
  if (!ended) {
    for (const auto& [key, conn] : conns) {
      ADD_FAILURE() << key.ToString() << " pid " << conn.open.pid << " fd " << conn.open.fd
                    << " opened " << conn.opened << " shut " << conn.shut_down << " closed "
                    << conn.closed << " in " << conn.ingress().total_length << " out "
                    << conn.egress().total_length;
    }
  }
  ASSERT_TRUE(ended);
  int child_conns = 0;
  for (const auto& [key, conn] : conns)
    child_conns += conn.open.pid == static_cast<uint32_t>(child);
  EXPECT_EQ(child_conns, 1);
  const RecordingSink::Conn* srv = server_side(conns);
  ASSERT_NE(srv, nullptr);
  EXPECT_EQ(srv->open.role, Role::kServer);  // from the parent's accept
  EXPECT_EQ(srv->ingress().bytes, request);
  EXPECT_EQ(srv->egress().bytes, head);
  EXPECT_EQ(srv->egress().size_only_bytes, body.size());
  EXPECT_EQ(srv->egress().total_length, head.size() + body.size());
  EXPECT_TRUE(srv->egress().contiguous);
  EXPECT_EQ(srv->egress().pid, static_cast<uint32_t>(child));
  ASSERT_TRUE(srv->shut_down);
  EXPECT_EQ(srv->shutdown.direction, Direction::kEgress);
  EXPECT_EQ(srv->shutdown.egress_bytes, head.size() + body.size());
  // The client read to the end of the stream while it still holds its socket: its side ends
  // there (the close-delimited response is complete), not at its close.
  const auto* client = RecordingSink::Find(conns, self(), pair->client.get());
  ASSERT_NE(client, nullptr);
  EXPECT_FALSE(client->closed);
  ASSERT_TRUE(client->shut_down);
  EXPECT_EQ(client->shutdown.direction, Direction::kIngress);
  EXPECT_EQ(client->shutdown.ingress_bytes, head.size() + body.size());
  EXPECT_EQ(srv->close.egress_bytes, head.size() + body.size());
  EXPECT_EQ(srv->close.ingress_bytes, request.size());
}

// A client that half-closes after its request (shutdown(SHUT_WR): `bssl client`, `nc -N`, HTTP/1.0
// tools) and reads the response after the server's FIN arrived: its socket reaches TCP_CLOSE
// while it still holds it and has the response to read. The connection ends at its close, not
// at that state change, so the response is read on the same connection.
TEST_P(CaptureTest, HalfClosedClientReadsTheResponseAfterThePeersFin) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const int cfd = pair->client.get();
  const int sfd = pair->server.get();
  const std::string request = "GET /half-closed HTTP/1.0\r\n\r\n";
  const std::string response = "HTTP/1.0 200 OK\r\n\r\n" + Pattern(3000, 5);
  ASSERT_TRUE(WriteAll(cfd, request.data(), request.size()));
  ASSERT_EQ(shutdown(cfd, SHUT_WR), 0);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = read(sfd, buf, sizeof(buf))) > 0;) got.append(buf, n);
  ASSERT_EQ(got, request);
  ASSERT_TRUE(WriteAll(sfd, response.data(), response.size()));
  pair->server.reset();
  // The server's FIN moves the client's socket from FIN_WAIT2 to TCP_CLOSE (bounded wait).
  tcp_info info{};
  for (int i = 0; i < 400 * TimeoutScale(); ++i) {
    socklen_t len = sizeof(info);
    ASSERT_EQ(getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &info, &len), 0);
    if (info.tcpi_state == TCP_CLOSE) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(info.tcpi_state, TCP_CLOSE);
  got.clear();
  for (ssize_t n; (n = read(cfd, buf, sizeof(buf))) > 0;) got.append(buf, n);
  ASSERT_EQ(got, response);
  ASSERT_TRUE(capture_->Flush());  // the barrier: the response's events have been delivered
  {
    const auto conns = sink_.Snapshot();
    const auto* client = RecordingSink::Find(conns, self(), cfd);
    ASSERT_NE(client, nullptr);
    EXPECT_FALSE(client->closed) << "ended while the client still held it";
  }
  pair->client.reset();
  ASSERT_TRUE(sink_.WaitUntil(
      [&](const auto& conns) { return BothClosed(conns, self(), cfd, sfd); }, kWait));
  const auto conns = sink_.Snapshot();
  int client_conns = 0;
  for (const auto& [key, conn] : conns) {
    client_conns += conn.opened && conn.open.pid == self() && conn.open.fd == cfd;
  }
  EXPECT_EQ(client_conns, 1) << "the response was read on a second connection";
  const auto* client = RecordingSink::Find(conns, self(), cfd);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->egress().bytes, request);
  EXPECT_EQ(client->ingress().bytes, response);
  EXPECT_TRUE(client->ingress().contiguous);
  EXPECT_EQ(client->close.egress_bytes, request.size());
  EXPECT_EQ(client->close.ingress_bytes, response.size());
  // The last shutdown event: the end of the response's stream, read on this connection.
  ASSERT_TRUE(client->shut_down);
  EXPECT_EQ(client->shutdown.direction, Direction::kIngress);
  EXPECT_EQ(client->shutdown.ingress_bytes, response.size());
  const auto* srv = RecordingSink::Find(conns, self(), sfd);
  ASSERT_NE(srv, nullptr);
  EXPECT_EQ(srv->ingress().bytes, request);
  EXPECT_EQ(srv->egress().bytes, response);
}

// Two fds of one socket (dup) written alternately: one connection, one ordered stream.
TEST_P(CaptureTest, DupedFdsWriteOneOrderedStream) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  UniqueFd second(fcntl(pair->client.get(), F_DUPFD_CLOEXEC, 100));
  ASSERT_TRUE(second);
  const std::string a = "GET /a HTTP/1.1\r\nX: ", b = "1\r\n\r\n";
  ASSERT_TRUE(Transfer(pair->client.get(), pair->server.get(), a));
  ASSERT_TRUE(Transfer(second.get(), pair->server.get(), b));
  const int cfd = pair->client.get();
  ASSERT_TRUE(sink_.WaitUntil(
      [&](const auto& c) {
        const auto* conn = RecordingSink::Find(c, self(), cfd);
        return conn != nullptr && conn->egress().bytes.size() >= a.size() + b.size();
      },
      kWait));
  const auto conns = sink_.Snapshot();
  EXPECT_EQ(RecordingSink::Find(conns, self(), second.get()), nullptr);  // no second connection
  const auto* conn = RecordingSink::Find(conns, self(), cfd);
  EXPECT_EQ(conn->egress().bytes, a + b);
  EXPECT_TRUE(conn->egress().contiguous);
  // Closing one of the two fds ends nothing; closing the last one ends the connection.
  second.reset();
  pair->client.reset();
  EXPECT_TRUE(sink_.WaitUntil(
      [&](const auto& c) {
        const auto* conn = RecordingSink::Find(c, self(), cfd);
        return conn != nullptr && conn->closed;
      },
      kWait));
}

// A socket passed to another process over a unix socket (SCM_RIGHTS) is still the one
// connection: the other process's writes continue the same stream.
TEST_P(CaptureTest, SocketPassedOverAUnixSocketIsTheSameConnection) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  int unix_pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, unix_pair), 0);
  const std::string head = "POST /passed HTTP/1.1\r\nContent-Length: 4\r\n\r\n", tail = "body";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char byte;
    char control[CMSG_SPACE(sizeof(int))] = {};
    iovec iov = {&byte, 1};
    msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    if (recvmsg(unix_pair[1], &msg, 0) != 1) _exit(2);
    int fd;
    std::memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(fd));
    _exit(WriteAll(fd, tail.data(), tail.size()) ? 0 : 3);
  }
  ChildGuard guard{child};
  KernelFilter filter;
  filter.tgids = {self(), static_cast<uint32_t>(child)};
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  ASSERT_TRUE(Transfer(pair->client.get(), pair->server.get(), head));
  // Pass the client's socket to the child, which writes the body through it.
  char byte = 'x';
  char control[CMSG_SPACE(sizeof(int))] = {};
  iovec iov = {&byte, 1};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  const int cfd = pair->client.get();
  std::memcpy(CMSG_DATA(cmsg), &cfd, sizeof(cfd));
  ASSERT_EQ(sendmsg(unix_pair[0], &msg, 0), 1);
  EXPECT_EQ(WaitExit(child), 0);
  guard.pid = -1;
  close(unix_pair[0]);
  close(unix_pair[1]);
  std::string got(tail.size(), '\0');
  ASSERT_TRUE(ReadExactly(pair->server.get(), got.data(), got.size()));
  ASSERT_TRUE(sink_.WaitUntil(
      [&](const auto& c) {
        const auto* conn = RecordingSink::Find(c, self(), cfd);
        return conn != nullptr && conn->egress().bytes.size() >= head.size() + tail.size();
      },
      kWait));
  const auto snapshot = sink_.Snapshot();
  const auto* conn = RecordingSink::Find(snapshot, self(), cfd);
  EXPECT_EQ(conn->egress().bytes, head + tail);
  EXPECT_TRUE(conn->egress().contiguous);
  EXPECT_EQ(conn->egress().pid, static_cast<uint32_t>(child));  // the last write was the child's
  for (const auto& [key, c] : snapshot) EXPECT_NE(c.open.pid, static_cast<uint32_t>(child));
}

// exec closes O_CLOEXEC fds without a close() the probes see: after the exec, a file that gets
// the number of a socket fd the process used before must not be taken for that socket (which
// lives on in the parent).
TEST_P(CaptureTest, ExecForgetsTheCloexecFdsItClosed) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const std::string request = "GET /before-exec HTTP/1.1\r\n\r\n";
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const int cfd = pair->client.get();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char byte;
    if (read(go[0], &byte, 1) != 1) _exit(2);
    const int fd = fcntl(cfd, F_DUPFD_CLOEXEC, 0);  // the lowest free number
    if (fd < 0) _exit(3);
    if (!WriteAll(fd, request.data(), request.size())) _exit(4);
    // After the exec (which closes fd), python opens /dev/null until it gets that very number
    // (open(), not dup2: dup2 over a number is a close the probes see) and writes HTTP-looking
    // bytes to it.
    const std::string number = std::to_string(fd);
    execl("/usr/bin/python3", "python3", "-c",
          "import os, sys\n"
          "want = int(sys.argv[1])\n"
          "for _ in range(256):\n"
          "    fd = os.open('/dev/null', os.O_WRONLY)\n"
          "    if fd == want: break\n"
          "assert fd == want, fd\n"
          "os.write(fd, b'GET /not-the-socket HTTP/1.1\\r\\n\\r\\n')\n",
          number.c_str(), nullptr);
    _exit(5);
  }
  ChildGuard guard{child};
  KernelFilter filter;
  filter.tgids = {self(), static_cast<uint32_t>(child)};
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  ASSERT_EQ(write(go[1], "x", 1), 1);
  close(go[0]);
  close(go[1]);
  EXPECT_EQ(WaitExit(child), 0);
  guard.pid = -1;
  std::string got(request.size(), '\0');
  ASSERT_TRUE(ReadExactly(pair->server.get(), got.data(), got.size()));
  // Barrier: one more byte on the socket from this process.
  ASSERT_TRUE(Transfer(cfd, pair->server.get(), "X"));
  ASSERT_TRUE(sink_.WaitUntil(
      [&](const auto& c) {
        for (const auto& [key, conn] : c) {
          if (conn.open.pid == static_cast<uint32_t>(child) &&
              absl::EndsWith(conn.egress().bytes, "X")) {
            return true;
          }
        }
        return false;
      },
      kWait));
  for (const auto& [key, conn] : sink_.Snapshot()) {
    if (conn.open.pid != static_cast<uint32_t>(child)) continue;
    EXPECT_EQ(conn.egress().bytes, request + "X");
  }
}

// close_range() closes fds without a close() the probes see: a file that gets the number of a
// socket fd this process used must not be taken for the socket (still open in another fd).
TEST_P(CaptureTest, CloseRangeForgetsTheFdsItClosed) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  // The lowest free number: after close_range, open() hands out that very number again (dup2
  // onto a number would be a close the probes see).
  const int high = fcntl(pair->client.get(), F_DUPFD_CLOEXEC, 0);
  ASSERT_GE(high, 0);
  const std::string request = "GET /range HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(Transfer(high, pair->server.get(), request));
  const int cfd = pair->client.get();
  ASSERT_TRUE(sink_.WaitUntil(
      [&](const auto& c) {
        const auto* conn = RecordingSink::Find(c, self(), high);
        return conn != nullptr && conn->egress().bytes == request;
      },
      kWait));
  ASSERT_EQ(syscall(SYS_close_range, high, high, 0), 0);
  const int file = open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_EQ(file, high);  // the socket's old number, now a file
  const std::string fake = "GET /not-the-socket HTTP/1.1\r\n\r\n";
  ASSERT_EQ(write(file, fake.data(), fake.size()), static_cast<ssize_t>(fake.size()));
  close(file);
  // A barrier: one more byte on the real socket, then nothing else may have arrived.
  ASSERT_TRUE(Transfer(cfd, pair->server.get(), "X"));
  ASSERT_TRUE(sink_.WaitUntil(
      [&](const auto& c) {
        const auto* conn = RecordingSink::Find(c, self(), high);
        return conn != nullptr && conn->egress().bytes.size() > request.size();
      },
      kWait));
  const auto snapshot = sink_.Snapshot();
  const auto* conn = RecordingSink::Find(snapshot, self(), high);
  EXPECT_EQ(snapshot.size(), 2u);  // the socket's two ends, nothing for the file
  EXPECT_EQ(conn->egress().bytes, request + "X");
}

// Every method libhttp-parser knows opens a traced connection (the kernel's classifier uses
// the same generated list as the engine).
TEST_P(CaptureTest, WebDavAndOtherMethodsAreClassifiedHttp) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  // agent/protocols/http1/methods.txt: libhttp-parser's, IANA's beyond them (QUERY, the
  // longest, one with a dash) and the non-registered ones.
  for (const std::string method : {"PROPFIND", "REPORT", "MKCOL", "PURGE", "SEARCH", "M-SEARCH",
                                   "QUERY", "UPDATEREDIRECTREF", "VERSION-CONTROL"}) {
    auto pair = Connect(*listener);
    ASSERT_TRUE(pair.ok());
    const std::string request = method + " /dav HTTP/1.1\r\n\r\n";
    ASSERT_TRUE(Transfer(pair->client.get(), pair->server.get(), request));
    const int cfd = pair->client.get();
    EXPECT_TRUE(sink_.WaitUntil(
        [&](const auto& c) {
          const auto* conn = RecordingSink::Find(c, self(), cfd);
          return conn != nullptr && conn->egress().bytes == request;
        },
        kWait))
        << method;
    int a, b;
    ASSERT_TRUE(CloseBothAndWait(*pair, &a, &b));
  }
}

// Empty lines before a request line (RFC 9112 2.2) in the same write, and in a write of their
// own before it: the connection is HTTP, and what is copied starts with the first payload that
// is more than empty lines.
TEST_P(CaptureTest, EmptyLinesBeforeARequestLineAreClassifiedHttp) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  struct Writes {
    std::vector<std::string> payloads;
    std::string copied;
  };
  const Writes cases[] = {
      {{"\r\n\r\nGET /same HTTP/1.1\r\n\r\n"}, "\r\n\r\nGET /same HTTP/1.1\r\n\r\n"},
      {{"\r\n", "QUERY /own HTTP/1.1\r\n\r\n"}, "QUERY /own HTTP/1.1\r\n\r\n"},
  };
  for (const Writes& w : cases) {
    auto pair = Connect(*listener);
    ASSERT_TRUE(pair.ok());
    for (const std::string& payload : w.payloads) {
      ASSERT_TRUE(Transfer(pair->client.get(), pair->server.get(), payload));
    }
    const int cfd = pair->client.get();
    EXPECT_TRUE(sink_.WaitUntil(
        [&](const auto& c) {
          const auto* conn = RecordingSink::Find(c, self(), cfd);
          return conn != nullptr && conn->egress().bytes == w.copied;
        },
        kWait))
        << w.copied;
    int a, b;
    ASSERT_TRUE(CloseBothAndWait(*pair, &a, &b));
  }
}

// An HTTP/2 frame header with `length`, `type`, `flags` and `stream`, then `payload_byte`
// repeated `length` times.
std::string H2Frame(uint32_t length, uint8_t type, uint8_t flags, uint32_t stream,
                    char payload_byte) {
  std::string f = {static_cast<char>(length >> 16), static_cast<char>(length >> 8),
                   static_cast<char>(length),       static_cast<char>(type),
                   static_cast<char>(flags),        static_cast<char>(stream >> 24),
                   static_cast<char>(stream >> 16), static_cast<char>(stream >> 8),
                   static_cast<char>(stream)};
  return f + std::string(length, payload_byte);
}

// Sends `data` with sendmsg, cut into iovecs of the given sizes (the last takes the rest).
ssize_t SendmsgInPieces(int fd, const std::string& data, const std::vector<size_t>& sizes) {
  std::vector<iovec> iov;
  size_t at = 0;
  for (size_t i = 0; i <= sizes.size() && at < data.size(); ++i) {
    const size_t n = i < sizes.size() ? std::min(sizes[i], data.size() - at) : data.size() - at;
    iov.push_back({const_cast<char*>(data.data()) + at, n});
    at += n;
  }
  msghdr msg = {};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  return sendmsg(fd, &msg, 0);
}

// A connection found already open whose first write is HTTP/2 frames from several iovecs, the
// first holding only part of a HEADERS frame and the next frame header straddling two iovecs,
// as gRPC writes (grpcio: 18, 12, 23, 23 ... bytes): the second frame header is found across
// the iovecs, so the write is classified and copied (it used to be skipped: only the first
// iovec was looked at).
TEST_P(CaptureTest, Http2FramesJoinedMidStreamAcrossIovecsAreClassified) {
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  Start();  // attach after connect/accept: mid-stream
  const std::string frames = H2Frame(43, 1, 0x04, 7, 'h') + H2Frame(23, 0, 0x01, 7, 'd');
  ASSERT_EQ(SendmsgInPieces(pair->client.get(), frames, {18, 12, 23, 1, 4}),
            static_cast<ssize_t>(frames.size()));
  std::string got(frames.size(), '\0');
  ASSERT_TRUE(ReadExactly(pair->server.get(), got.data(), got.size()));
  int cfd, sfd;
  ASSERT_TRUE(CloseBothAndWait(*pair, &cfd, &sfd));
  const auto conns = sink_.Snapshot();
  const auto* client = RecordingSink::Find(conns, self(), cfd);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->egress().bytes, frames);
  EXPECT_TRUE(client->egress().contiguous);
}

// The same guess rejects a first iovec that looks like a frame header when the bytes where the
// next frame header would be, in a later iovec, are not one.
TEST_P(CaptureTest, Http2GuessAcrossIovecsRejectsWhatIsNotASecondFrameHeader) {
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  Start();
  // A plausible HEADERS frame header (43 bytes of payload), then 0xff bytes where the next
  // frame header would be: an unknown type with the reserved bit set.
  const std::string bytes = H2Frame(43, 1, 0x04, 7, 'h') + std::string(20, '\xff');
  ASSERT_EQ(SendmsgInPieces(pair->client.get(), bytes, {18, 12, 23}),
            static_cast<ssize_t>(bytes.size()));
  std::string got(bytes.size(), '\0');
  ASSERT_TRUE(ReadExactly(pair->server.get(), got.data(), got.size()));
  // Barrier: an HTTP connection after it is seen, then the first must still be absent.
  auto barrier = Connect(*listener);
  ASSERT_TRUE(barrier.ok());
  const std::string request = "GET /after HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(Transfer(barrier->client.get(), barrier->server.get(), request));
  const int bfd = barrier->client.get();
  ASSERT_TRUE(sink_.WaitUntil(
      [&](const auto& c) { return RecordingSink::Find(c, self(), bfd) != nullptr; }, kWait));
  const auto* client = RecordingSink::Find(sink_.Snapshot(), self(), pair->client.get());
  EXPECT_TRUE(client == nullptr || client->egress().bytes.empty());
}

// The first non-empty iovec is what is classified: a writev of non-HTTP bytes behind an empty
// iovec is not copied (it used to skip classification and open an unclassified connection).
TEST_P(CaptureTest, EmptyFirstIovecDoesNotBypassClassification) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  char ssh[] = "SSH-2.0-OpenSSH_9.2\r\n";
  iovec iov[2] = {{nullptr, 0}, {ssh, sizeof(ssh) - 1}};
  ASSERT_EQ(writev(pair->client.get(), iov, 2), static_cast<ssize_t>(sizeof(ssh) - 1));
  std::string got(sizeof(ssh) - 1, '\0');
  ASSERT_TRUE(ReadExactly(pair->server.get(), got.data(), got.size()));
  // Barrier: an HTTP connection after it is seen, then the first must still be absent.
  auto barrier = Connect(*listener);
  ASSERT_TRUE(barrier.ok());
  const std::string request = "GET /after HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(Transfer(barrier->client.get(), barrier->server.get(), request));
  const int bfd = barrier->client.get();
  ASSERT_TRUE(sink_.WaitUntil(
      [&](const auto& c) { return RecordingSink::Find(c, self(), bfd) != nullptr; }, kWait));
  EXPECT_EQ(RecordingSink::Find(sink_.Snapshot(), self(), pair->client.get()), nullptr);
  EXPECT_GT(Counter("kernel.conn_not_http"), 0u);
}

// A filter change must not splice a stream: while this process writes without pause, the filter
// is changed again and again (another pid joins and leaves the set, this one always stays).
// Every byte written must be in the stream, at its position: sets are updated by difference,
// so this process is never missing from the kernel's set.
TEST_P(CaptureTest, FilterChangesNeverSkipBytesOfAConnectionThatStaysAllowed) {
  Start();
  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  auto pair = Connect(*listener);
  ASSERT_TRUE(pair.ok());
  const std::string first = "POST /stream HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n";
  ASSERT_TRUE(Transfer(pair->client.get(), pair->server.get(), first));
  std::atomic<bool> stop{false};
  std::thread changer([&] {
    KernelFilter filter;
    // For as long as the writer writes (bounded).
    for (int i = 0; i < 100000 && !stop.load(); ++i) {
      filter.tgids = {self()};
      if (i % 2 == 0) filter.tgids.push_back(self() + 1 + i);
      ASSERT_TRUE(capture_->SetFilter(filter).ok());
    }
  });
  const std::string chunk(100, 'b');
  size_t sent = first.size();
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(Transfer(pair->client.get(), pair->server.get(), chunk));
    sent += chunk.size();
  }
  stop.store(true);
  changer.join();
  const int cfd = pair->client.get();
  EXPECT_TRUE(sink_.WaitUntil(
      [&](const auto& c) {
        const auto* conn = RecordingSink::Find(c, self(), cfd);
        return conn != nullptr && conn->egress().total_length == sent;
      },
      kWait));
  const auto snapshot = sink_.Snapshot();
  const auto* conn = RecordingSink::Find(snapshot, self(), cfd);
  ASSERT_NE(conn, nullptr);
  EXPECT_TRUE(conn->egress().contiguous);
  EXPECT_EQ(conn->egress().total_length, sent);
}

// A connection excluded for a while (its port left the filter and came back) has bytes the
// probes never counted: it continues under a new connection id, from its next message, instead
// of a stream that looks contiguous but is not.
TEST_P(CaptureTest, AConnectionExcludedForAWhileContinuesUnderANewId) {
  Start();
  auto a = Listen(AF_INET);
  auto other = Listen(AF_INET);
  ASSERT_TRUE(a.ok() && other.ok());
  KernelFilter filter;
  filter.tgids = {self()};
  filter.ports = {a->port};
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  auto pair = Connect(*a);
  ASSERT_TRUE(pair.ok());
  const std::string r1 = "GET /1 HTTP/1.1\r\n\r\n", r2 = "GET /2 HTTP/1.1\r\n\r\n",
                    r3 = "GET /3 HTTP/1.1\r\n\r\n";
  const int cfd = pair->client.get();
  ASSERT_TRUE(Transfer(cfd, pair->server.get(), r1));
  ASSERT_TRUE(sink_.WaitUntil(
      [&](const auto& c) {
        const auto* conn = RecordingSink::Find(c, self(), cfd);
        return conn != nullptr && conn->egress().bytes == r1;
      },
      kWait));
  filter.ports = {other->port};  // excluded
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  ASSERT_TRUE(Transfer(cfd, pair->server.get(), r2));  // not seen
  filter.ports = {a->port, other->port};               // back
  ASSERT_TRUE(capture_->SetFilter(filter).ok());
  ASSERT_TRUE(Transfer(cfd, pair->server.get(), r3));
  ASSERT_TRUE(sink_.WaitUntil(
      [&](const auto& c) {
        const auto* conn = RecordingSink::Find(c, self(), cfd);
        return conn != nullptr && conn->egress().bytes == r3;
      },
      kWait));
  const auto conns = sink_.Snapshot();
  const auto* now = RecordingSink::Find(conns, self(), cfd);
  EXPECT_EQ(now->egress().bytes, r3);
  EXPECT_TRUE(now->egress().contiguous);  // from position 0 of its own id
  int ids = 0, closed = 0;
  for (const auto& [key, conn] : conns) {
    if (conn.open.pid == self() && conn.open.local.port == now->open.local.port) {
      ++ids;
      closed += conn.closed;
    }
  }
  EXPECT_EQ(ids, 2);     // the first id, ended when the filter excluded it, and the new one
  EXPECT_EQ(closed, 1);  // the first
  EXPECT_GT(Counter("kernel.verdict_changed"), 0u);
}

INSTANTIATE_TEST_SUITE_P(AttachModes, CaptureTest,
                         ::testing::Combine(::testing::Values(AttachMode::kTracepoints,
                                                              AttachMode::kRawTracepoints),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<AttachMode, bool>>& info) {
                           return absl::StrCat(std::get<0>(info.param) == AttachMode::kTracepoints
                                                   ? "Tracepoints"
                                                   : "RawTracepoints",
                                               std::get<1>(info.param) ? "WithFallbacks" : "");
                         });

TEST(CaptureConfigTest, RejectsBadLimitsBeforeTouchingTheKernel) {
  RecordingSink sink;
  CaptureConfig config;
  config.copy_limit = 0;
  EXPECT_EQ(Capture::Create(config, &sink).status().code(), absl::StatusCode::kInvalidArgument);
  config.copy_limit = 100000;
  EXPECT_EQ(Capture::Create(config, &sink).status().code(), absl::StatusCode::kInvalidArgument);
  config = {};
  config.ring_buffer_bytes = 12345;
  EXPECT_EQ(Capture::Create(config, &sink).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Capture::Create({}, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace httptrace::capture
