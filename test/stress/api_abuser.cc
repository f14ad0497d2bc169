// A misbehaving API client for the stress program (test/stress/stress.py): requests httptracectl
// would never send (filters of a million pids, more sessions than the agent allows, streams
// opened and abandoned, a reader that never reads, a client that hangs up every few
// milliseconds, resume points far beyond the session). Python has no gRPC package on this
// machine, so these calls are made here; each mode prints one JSON object on stdout that the
// stress program checks.
//
// usage: api_abuser SOCKET MODE [ARGS...]
//   big-filter pids|ports N     StartCapture with N values in one filter field
//   sessions N                  StartCapture N times, then stop every session that started
//   abandon SESSION N           open N streams of SESSION, then exit without closing them
//   never-read SESSION SECONDS  open a stream, read nothing for SECONDS, then cancel it
//   flap SESSION N MILLIS       N times: open a stream, read for MILLIS, hang up
//   resume SESSION SEQ          stream from SEQ; reports the status (or the first event kind)

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "proto/httptrace.grpc.pb.h"

namespace {

namespace v1 = httptrace::v1;

std::string Quote(const std::string& s) {
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", " "}}),
                      "\"");
}

std::string StatusJson(const grpc::Status& status) {
  return absl::StrCat("\"code\":", static_cast<int>(status.error_code()),
                      ",\"message\":", Quote(status.error_message()));
}

std::chrono::system_clock::time_point In(int millis) {
  return std::chrono::system_clock::now() + std::chrono::milliseconds(millis);
}

uint64_t Arg(char** argv, int i) {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(argv[i], &v)) {
    std::fprintf(stderr, "api_abuser: not a number: %s\n", argv[i]);
    std::exit(2);
  }
  return v;
}

int BigFilter(v1::HttpTrace::Stub& stub, const std::string& field, uint64_t n) {
  v1::StartCaptureRequest request;
  for (uint64_t i = 0; i < n; ++i) {
    if (field == "pids") {
      request.mutable_filter()->add_pids(static_cast<uint32_t>(i + 1));
    } else {
      request.mutable_filter()->add_ports(static_cast<uint32_t>(i % 65535 + 1));
    }
  }
  grpc::ClientContext context;
  context.set_deadline(In(30000));
  v1::StartCaptureResponse response;
  const grpc::Status status = stub.StartCapture(&context, request, &response);
  std::printf("{%s,\"request_bytes\":%zu,\"session\":%s}\n", StatusJson(status).c_str(),
              request.ByteSizeLong(), Quote(response.session().id()).c_str());
  return 0;
}

int Sessions(v1::HttpTrace::Stub& stub, uint64_t n) {
  std::vector<std::string> ids;
  grpc::Status first_error;
  for (uint64_t i = 0; i < n; ++i) {
    v1::StartCaptureRequest request;
    request.mutable_filter()->add_ports(1);  // port 1: nothing on loopback uses it
    grpc::ClientContext context;
    context.set_deadline(In(10000));
    v1::StartCaptureResponse response;
    const grpc::Status status = stub.StartCapture(&context, request, &response);
    if (status.ok()) {
      ids.push_back(response.session().id());
    } else if (first_error.ok()) {
      first_error = status;
    }
  }
  size_t stopped = 0;
  for (const std::string& id : ids) {
    v1::StopCaptureRequest request;
    request.set_session_id(id);
    grpc::ClientContext context;
    context.set_deadline(In(10000));
    v1::StopCaptureResponse response;
    if (stub.StopCapture(&context, request, &response).ok()) ++stopped;
  }
  std::printf("{\"started\":%zu,\"stopped\":%zu,%s}\n", ids.size(), stopped,
              StatusJson(first_error).c_str());
  return 0;
}

struct Stream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::EventBatch>> reader;
};

std::unique_ptr<Stream> Open(v1::HttpTrace::Stub& stub, const std::string& session,
                             const uint64_t* from_seq = nullptr) {
  auto stream = std::make_unique<Stream>();
  v1::StreamEventsRequest request;
  request.set_session_id(session);
  if (from_seq != nullptr) request.set_from_seq(*from_seq);
  stream->reader = stub.StreamEventBatches(&stream->context, request);
  return stream;
}

int Abandon(v1::HttpTrace::Stub& stub, const std::string& session, uint64_t n) {
  std::vector<std::unique_ptr<Stream>> streams;
  for (uint64_t i = 0; i < n; ++i) {
    streams.push_back(Open(stub, session));
    streams.back()->reader->WaitForInitialMetadata();
  }
  std::printf("{\"opened\":%zu}\n", streams.size());
  std::fflush(stdout);
  _exit(0);  // no cancel, no close: the agent sees the connection vanish
}

int NeverRead(v1::HttpTrace::Stub& stub, const std::string& session, uint64_t seconds) {
  std::unique_ptr<Stream> stream = Open(stub, session);
  stream->reader->WaitForInitialMetadata();
  std::printf("{\"opened\":1}\n");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stream->context.TryCancel();
  std::printf("{\"cancelled\":1}\n");
  std::fflush(stdout);
  _exit(0);
}

int Flap(v1::HttpTrace::Stub& stub, const std::string& session, uint64_t n, uint64_t millis) {
  uint64_t events = 0;
  for (uint64_t i = 0; i < n; ++i) {
    std::unique_ptr<Stream> stream = Open(stub, session);
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(millis);
    std::thread canceller([&] {
      std::this_thread::sleep_until(end);
      stream->context.TryCancel();
    });
    v1::EventBatch batch;
    while (stream->reader->Read(&batch)) events += batch.events_size();
    canceller.join();
    stream->reader->Finish();
  }
  std::printf("{\"streams\":%llu,\"events\":%llu}\n", static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(events));
  return 0;
}

int Resume(v1::HttpTrace::Stub& stub, const std::string& session, uint64_t seq) {
  std::unique_ptr<Stream> stream = Open(stub, session, &seq);
  stream->context.set_deadline(In(2000));
  v1::EventBatch batch;
  int events = 0;
  while (stream->reader->Read(&batch)) events += batch.events_size();
  const grpc::Status status = stream->reader->Finish();
  std::printf("{%s,\"events\":%d}\n", StatusJson(status).c_str(), events);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: api_abuser SOCKET MODE [ARGS...]\n");
    return 2;
  }
  auto stub = v1::HttpTrace::NewStub(
      grpc::CreateChannel(absl::StrCat("unix://", argv[1]), grpc::InsecureChannelCredentials()));
  const std::string mode = argv[2];
  if (mode == "big-filter" && argc == 5) return BigFilter(*stub, argv[3], Arg(argv, 4));
  if (mode == "sessions" && argc == 4) return Sessions(*stub, Arg(argv, 3));
  if (mode == "abandon" && argc == 5) return Abandon(*stub, argv[3], Arg(argv, 4));
  if (mode == "never-read" && argc == 5) return NeverRead(*stub, argv[3], Arg(argv, 4));
  if (mode == "flap" && argc == 6) return Flap(*stub, argv[3], Arg(argv, 4), Arg(argv, 5));
  if (mode == "resume" && argc == 5) return Resume(*stub, argv[3], Arg(argv, 4));
  std::fprintf(stderr, "api_abuser: bad mode or arguments: %s\n", mode.c_str());
  return 2;
}
