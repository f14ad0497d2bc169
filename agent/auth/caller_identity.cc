#include "agent/auth/caller_identity.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace httptrace::auth {

const char* TransportName(CallerIdentity::Transport transport) {
  switch (transport) {
    case CallerIdentity::Transport::kUnix:
      return "unix";
    case CallerIdentity::Transport::kTls:
      return "mtls";
    case CallerIdentity::Transport::kTcp:
      return "tcp";
    case CallerIdentity::Transport::kUnknown:
      break;
  }
  return "unknown";
}

std::string CallerIdentity::Describe() const {
  switch (transport) {
    case Transport::kUnix:
      return absl::StrCat("uid ", uid, " gid ", gid, " pid ", pid, " (", comm, ")");
    case Transport::kTls:
      return absl::StrCat(
          "subject ", subject.empty() ? "(none)" : subject,
          sans.empty() ? "" : absl::StrCat(" (SANs ", absl::StrJoin(sans, ", "), ")"));
    case Transport::kTcp:
      return absl::StrCat("unverified tcp peer ", peer);
    case Transport::kUnknown:
      break;
  }
  return absl::StrCat("unidentified caller ", peer);
}

}  // namespace httptrace::auth
