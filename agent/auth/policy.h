// The agent's access policy (--policy FILE): which callers may do what. Rules are tried in order
// and the first whose `callers` match decides; a caller no rule matches may do nothing. Without
// a policy file every caller who can open the socket may do everything (today's behaviour).
//
//   {"rules": [
//     {"name": "node-admins", "callers": {"unix_users": ["root"]},
//      "verbs": ["status", "list", "capture", "export"]},
//     {"name": "team-a", "callers": {"cert_sans": ["team-a.example.com"]},
//      "verbs": ["status", "list", "capture"], "namespaces": ["team-a"],
//      "tls_plaintext": false, "bodies": true, "max_body_bytes": 1024},
//     {"name": "viewers", "callers": {"unix_groups": ["httptrace"]}, "verbs": ["status", "list"]}
//   ]}
//
// A rule's scope (namespaces, pods, containers) narrows every session its callers start: a
// capture asking for everything gets the allowed namespaces, one asking for another is refused.
// The narrowed filter is the session's filter, so the kernel filter follows it. Attaching to or
// stopping a session needs "capture" and a session within the scope. See docs/agent.md.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/auth/caller_identity.h"
#include "proto/httptrace.pb.h"

namespace httptrace::auth {

// What a call does, as rules name it.
enum class Verb { kStatus, kList, kCapture, kExport };
const char* VerbName(Verb verb);

struct PolicyRule {
  std::string name;
  // Callers (any one matches). Users and groups are resolved to numbers when the file is read.
  bool any_caller = false;
  std::vector<uint32_t> uids;
  std::vector<uint32_t> gids;              // the caller's primary or a supplementary group
  std::vector<std::string> cert_subjects;  // exact, as gRPC prints them ("CN=team-a,O=example")
  std::vector<std::string> cert_sans;      // exact: a DNS name, URI (spiffe://...), e-mail or IP
  std::vector<Verb> verbs;
  // Scope; empty: any. Matched like the filter fields of the same names.
  std::vector<std::string> namespaces;
  std::vector<std::string> pods;
  std::vector<std::string> containers;
  bool tls_plaintext = true;  // false: HTTPS read at TLS libraries is not captured
  bool bodies = true;         // false: no body bytes are kept (sizes still are)
  std::optional<uint32_t> max_body_bytes;

  bool Allows(Verb verb) const;
  bool Matches(const CallerIdentity& caller) const;
};

class Policy {
 public:
  // INVALID_ARGUMENT naming `source` and what is wrong: bad JSON (with the position), unknown
  // keys, unknown verbs, users or groups, a rule without name, callers or verbs.
  static absl::StatusOr<Policy> Parse(absl::string_view json, absl::string_view source);
  static absl::StatusOr<Policy> Load(const std::string& path);

  // The first rule that matches `caller`, or null.
  const PolicyRule* Match(const CallerIdentity& caller) const;
  // The rule that lets `caller` do `verb`; PERMISSION_DENIED naming the rule (or saying none
  // matched) otherwise.
  absl::StatusOr<const PolicyRule*> Authorize(const CallerIdentity& caller, Verb verb) const;

  const std::vector<PolicyRule>& rules() const { return rules_; }
  // "/etc/httptrace/policy.json (3 rules: node-admins, team-a, viewers)"
  std::string Summary() const;

 private:
  std::string source_;
  std::vector<PolicyRule> rules_;
};

// A capture request narrowed to `rule`'s scope, and notes for the session saying what the policy
// changed ("policy rule team-a: narrowed to namespace team-a", "... HTTPS not captured").
struct NarrowedCapture {
  v1::StartCaptureRequest request;
  std::vector<std::string> notes;
};
// PERMISSION_DENIED naming the rule when the request asks for something outside the scope
// (another namespace, pod or container; HTTPS only where it is denied).
// `default_body_limit`: the agent's body limit for a request that sets none.
absl::StatusOr<NarrowedCapture> NarrowCapture(const PolicyRule& rule,
                                              const v1::StartCaptureRequest& request,
                                              uint32_t default_body_limit);

// OK when `session` records nothing `rule` would not let its callers capture (attach, stop);
// PERMISSION_DENIED naming the rule and what lies outside otherwise.
absl::Status CheckSessionInScope(const PolicyRule& rule, const v1::SessionInfo& session);

}  // namespace httptrace::auth
