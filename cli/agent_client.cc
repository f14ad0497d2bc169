#include "cli/agent_client.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace httptrace::cli {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

std::vector<std::string> ResolveAgentAddresses(const std::vector<std::string>& flag_values) {
  std::vector<std::string> out;
  for (const std::string& value : flag_values) {
    if (!value.empty()) out.push_back(value);
  }
  if (!out.empty()) return out;
  if (const char* env = std::getenv("HTTPTRACE_AGENT"); env != nullptr && *env != '\0') {
    for (absl::string_view part : absl::StrSplit(env, ',', absl::SkipWhitespace())) {
      out.emplace_back(absl::StripAsciiWhitespace(part));
    }
    if (!out.empty()) return out;
  }
  return {kDefaultAgentAddress};
}

absl::StatusOr<std::vector<std::string>> ResolveAgentsDns(absl::string_view name_port) {
  const size_t colon = name_port.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 || colon + 1 == name_port.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--agents-dns \"", name_port, "\": want NAME:PORT"));
  }
  std::string name(name_port.substr(0, colon));
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  const std::string port(name_port.substr(colon + 1));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (int rc = getaddrinfo(name.c_str(), port.c_str(), &hints, &result); rc != 0) {
    return absl::NotFoundError(
        absl::StrCat("--agents-dns: cannot resolve ", name, ": ", gai_strerror(rc)));
  }
  std::vector<std::string> out;
  for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    char host[NI_MAXHOST];
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) !=
        0) {
      continue;
    }
    out.push_back(ai->ai_family == AF_INET6 ? absl::StrCat("[", host, "]:", port)
                                            : absl::StrCat(host, ":", port));
  }
  freeaddrinfo(result);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat("--agents-dns: ", name, " has no addresses"));
  }
  return out;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> DialAgent(const std::string& address,
                                                         const ClientTls& tls) {
  grpc::ChannelArguments args;
  // A trace stream can carry large exchanges (bodies up to the session's limit, many headers).
  args.SetMaxReceiveMessageSize(64 << 20);
  if (absl::StartsWith(address, "unix://")) {
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }
  if (absl::StartsWith(address, "/")) {
    return grpc::CreateCustomChannel("unix://" + address, grpc::InsecureChannelCredentials(), args);
  }
  absl::string_view target = address;
  absl::ConsumePrefix(&target, "tcp://");
  if (target.empty() || target.find(':') == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent address \"", address, "\": want unix:///path or host:port"));
  }
  if (tls.insecure) {
    return grpc::CreateCustomChannel(std::string(target), grpc::InsecureChannelCredentials(), args);
  }
  if (tls.ca.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent ", address,
                     " is a TCP address: give --tls-ca (and --tls-cert/--tls-key for "
                     "mutual TLS), or --insecure for a plaintext agent"));
  }
  if (!tls.server_name.empty()) args.SetSslTargetNameOverride(tls.server_name);
  grpc::SslCredentialsOptions options;
  absl::StatusOr<std::string> ca = ReadFile(tls.ca, "--tls-ca");
  if (!ca.ok()) return ca.status();
  options.pem_root_certs = *ca;
  if (!tls.cert.empty() || !tls.key.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(tls.cert, "--tls-cert");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(tls.key, "--tls-key");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *cert;
    options.pem_private_key = *key;
  }
  return grpc::CreateCustomChannel(std::string(target), grpc::SslCredentials(options), args);
}

AgentDirectory::AgentDirectory(std::vector<std::string> addresses,
                               std::vector<std::string> dns_names, ClientTls tls,
                               DnsResolver resolver)
    : dns_names_(std::move(dns_names)), tls_(std::move(tls)), resolver_(std::move(resolver)) {
  for (std::string& address : addresses) {
    if (!address.empty()) addresses_.push_back(std::move(address));
  }
  if (addresses_.empty() && dns_names_.empty()) addresses_ = ResolveAgentAddresses({});
}

absl::StatusOr<std::vector<AgentSpec>> AgentDirectory::Resolve() const {
  std::vector<AgentSpec> out;
  auto known = [&](const std::string& address) {
    return std::any_of(out.begin(), out.end(),
                       [&](const AgentSpec& a) { return a.address == address; });
  };
  for (const std::string& address : addresses_) {
    if (!known(address)) out.push_back({address, tls_.server_name});
  }
  for (const std::string& name_port : dns_names_) {
    absl::StatusOr<std::vector<std::string>> resolved = resolver_(name_port);
    if (!resolved.ok()) return resolved.status();
    // Addresses resolved from a name are checked against that name's certificate.
    const std::string name =
        tls_.server_name.empty()
            ? std::string(absl::StripSuffix(
                  absl::StripPrefix(name_port.substr(0, name_port.rfind(':')), "["), "]"))
            : tls_.server_name;
    for (std::string& address : *resolved) {
      if (!known(address)) out.push_back({std::move(address), name});
    }
  }
  return out;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> AgentDirectory::Dial(const AgentSpec& agent) const {
  ClientTls tls = tls_;
  tls.server_name = agent.server_name;
  return DialAgent(agent.address, tls);
}

// The generated stub would read EventBatch objects (a std::string per event); the same call
// made with gRPC's ByteBuffer as the response type hands over the received slices instead. This
// is how the generated stub makes the call (httptrace.grpc.pb.cc), with another response type.
EventStream::EventStream(const std::shared_ptr<grpc::ChannelInterface>& channel,
                         const std::string& session_id, int64_t from_seq) {
  static const std::string* const kMethod =
      new std::string(absl::StrCat("/", v1::HttpTrace::service_full_name(), "/StreamEventBatches"));
  v1::StreamEventsRequest request;
  request.set_session_id(session_id);
  if (from_seq >= 0) request.set_from_seq(static_cast<uint64_t>(from_seq));
  const grpc::internal::RpcMethod method(kMethod->c_str(),
                                         grpc::internal::RpcMethod::SERVER_STREAMING, channel);
  reader_.reset(grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(channel.get(), method,
                                                                              &context_, request));
}

bool EventStream::Next(std::vector<std::shared_ptr<const v1::Event>>* events) {
  events->clear();
  while (events->empty()) {
    if (!reader_->Read(&message_)) return false;
    if (absl::Status s = batch_reader_.Read(message_, events); !s.ok()) {
      parse_error_ = grpc::Status(grpc::StatusCode::DATA_LOSS, std::string(s.message()));
      context_.TryCancel();
      return false;
    }
    message_.Clear();
  }
  return true;
}

grpc::Status EventStream::Finish() {
  grpc::Status status = reader_->Finish();
  return parse_error_.ok() ? status : parse_error_;
}

void EventStream::Cancel() { context_.TryCancel(); }

}  // namespace httptrace::cli
