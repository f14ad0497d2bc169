// Who made an API call, as the transport proved it: the kernel's SO_PEERCRED for unix-socket
// callers, the verified client certificate for mTLS ones. Filled by agent/service/peer_identity,
// read by the policy (which rule applies) and the audit trail (who did what).

#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace httptrace::auth {

struct CallerIdentity {
  enum class Transport {
    kUnknown,  // nothing proved: no policy rule matches it
    kUnix,     // uid/gid/pid/comm/groups from SO_PEERCRED and /proc at connect time
    kTls,      // mTLS: subject and SANs of the verified client certificate
    kTcp,      // plaintext TCP (--insecure-tcp): only the address, which proves nothing
  };
  Transport transport = Transport::kUnknown;
  // kUnix. pid 0 when the caller's pid namespace hides it from the agent.
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t pid = 0;
  std::string comm;
  std::vector<uint32_t> groups;  // supplementary groups (/proc/PID/status), the primary gid too
  // kTls: RFC 2253 subject ("CN=team-a,O=example") and subject alternative names (DNS names,
  // URIs such as spiffe://..., e-mail addresses, IPs) as gRPC reports them.
  std::string subject;
  std::vector<std::string> sans;
  // gRPC's peer string ("fd:12", "ipv4:127.0.0.1:53422"), for a person.
  std::string peer;

  // "uid 1000 gid 1000 pid 4242 (httptracectl)", "subject CN=team-a (SANs team-a.example.com)",
  // "unverified tcp peer ipv4:127.0.0.1:5000".
  std::string Describe() const;
};

const char* TransportName(CallerIdentity::Transport transport);  // "unix", "mtls", "tcp", ...

}  // namespace httptrace::auth
