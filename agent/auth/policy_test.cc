// The policy file: what a bad file says at start-up, which rule a caller gets, and how a rule
// narrows or refuses a capture and covers (or not) an existing session.

#include "agent/auth/policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::auth {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

constexpr char kPolicy[] = R"({"rules": [
  {"name": "node-admins", "callers": {"unix_users": ["root"]},
   "verbs": ["status", "list", "capture", "export"]},
  {"name": "team-a", "callers": {"cert_sans": ["team-a.example.com"], "unix_users": [1001]},
   "verbs": ["status", "list", "capture"], "namespaces": ["team-a"],
   "tls_plaintext": false, "max_body_bytes": 1024},
  {"name": "no-bodies", "callers": {"cert_subjects": ["CN=auditor,O=example"]},
   "verbs": ["capture"], "bodies": false},
  {"name": "viewers", "callers": {"unix_groups": ["nogroup"]}, "verbs": ["status", "list"]}
]})";

Policy MustParse(const char* text = kPolicy) {
  absl::StatusOr<Policy> policy = Policy::Parse(text, "policy.json");
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *std::move(policy);
}

CallerIdentity Unix(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups = {}) {
  CallerIdentity who;
  who.transport = CallerIdentity::Transport::kUnix;
  who.uid = uid;
  who.gid = gid;
  who.pid = 42;
  who.comm = "httptracectl";
  who.groups = std::move(groups);
  return who;
}

CallerIdentity Cert(std::string subject, std::vector<std::string> sans) {
  CallerIdentity who;
  who.transport = CallerIdentity::Transport::kTls;
  who.subject = std::move(subject);
  who.sans = std::move(sans);
  return who;
}

TEST(PolicyParse, BadFilesSayWhereAndWhat) {
  const struct {
    const char* text;
    const char* says;
  } cases[] = {
      {"{", "--policy policy.json: not valid JSON"},
      {R"({"rule": []})", "top level: unknown key \"rule\""},
      {R"({"rules": []})", "needs a non-empty list \"rules\""},
      {R"({"rules": [{"callers": {"any": true}, "verbs": ["list"]}]})",
       "rules[0]: needs a \"name\""},
      {R"({"rules": [{"name": "a", "verbs": ["list"]}]})", "rule \"a\": needs \"callers\""},
      {R"({"rules": [{"name": "a", "callers": {}, "verbs": ["list"]}]})", "matches nobody"},
      {R"({"rules": [{"name": "a", "callers": {"any": true}, "verbs": ["delete"]}]})",
       "rule \"a\".verbs: unknown verb \"delete\""},
      {R"({"rules": [{"name": "a", "callers": {"any": true}, "verbs": ["list"], "namespace": ["x"]}]})",
       "rule \"a\": unknown key \"namespace\""},
      {R"({"rules": [{"name": "a", "callers": {"unix_users": ["no-such-user-xyz"]}, "verbs": ["list"]}]})",
       "no such user \"no-such-user-xyz\" on this node"},
      {R"({"rules": [{"name": "a", "callers": {"unix_groups": ["no-such-group-xyz"]}, "verbs": ["list"]}]})",
       "no such group \"no-such-group-xyz\""},
      {R"({"rules": [{"name": "a", "callers": {"any": true}, "verbs": ["list"], "bodies": "no"}]})",
       "rule \"a\".bodies: must be true or false"},
      {R"({"rules": [{"name": "a", "callers": {"any": true}, "verbs": ["list"]},
                     {"name": "a", "callers": {"any": true}, "verbs": ["list"]}]})",
       "rule \"a\": name used twice"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<Policy> policy = Policy::Parse(c.text, "policy.json");
    ASSERT_FALSE(policy.ok()) << c.text;
    EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(policy.status().message()), HasSubstr(c.says)) << c.text;
  }
  EXPECT_THAT(std::string(Policy::Load("/nonexistent/policy.json").status().message()),
              HasSubstr("--policy /nonexistent/policy.json: cannot read it"));
}

TEST(PolicyParse, NamesBecomeNumbers) {
  const Policy policy = MustParse();
  ASSERT_EQ(policy.rules().size(), 4u);
  EXPECT_THAT(policy.rules()[0].uids, ElementsAre(0u));      // root
  EXPECT_THAT(policy.rules()[3].gids, ElementsAre(65534u));  // nogroup
  EXPECT_EQ(policy.Summary(), "policy.json (4 rule(s): node-admins, team-a, no-bodies, viewers)");
}

TEST(PolicyAuthorize, FirstMatchingRuleDecidesAndRefusalsNameIt) {
  const Policy policy = MustParse();
  EXPECT_EQ((*policy.Authorize(Unix(0, 0), Verb::kExport))->name, "node-admins");
  EXPECT_EQ((*policy.Authorize(Unix(1001, 1001), Verb::kCapture))->name, "team-a");
  EXPECT_EQ((*policy.Authorize(Cert("CN=x", {"team-a.example.com"}), Verb::kList))->name, "team-a");
  // A supplementary group is enough.
  EXPECT_EQ((*policy.Authorize(Unix(2000, 2000, {2000, 65534}), Verb::kStatus))->name, "viewers");

  absl::StatusOr<const PolicyRule*> viewer = policy.Authorize(Unix(2000, 65534), Verb::kCapture);
  ASSERT_EQ(viewer.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(viewer.status().message(),
            "policy rule \"viewers\" does not allow capture (it allows status, list)");
  absl::StatusOr<const PolicyRule*> team = policy.Authorize(Unix(1001, 1), Verb::kExport);
  EXPECT_THAT(std::string(team.status().message()), HasSubstr("\"team-a\" does not allow export"));

  absl::StatusOr<const PolicyRule*> stranger = policy.Authorize(Unix(3000, 3000), Verb::kStatus);
  ASSERT_EQ(stranger.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(stranger.status().message(),
            "no rule of the agent's policy (policy.json) matches uid 3000 gid 3000 pid 42 "
            "(httptracectl)");
  // Certificates match by SAN or subject only; plaintext TCP and unidentified callers never.
  EXPECT_FALSE(policy.Authorize(Cert("CN=team-a", {"other.example.com"}), Verb::kList).ok());
  EXPECT_EQ((*policy.Authorize(Cert("CN=auditor,O=example", {}), Verb::kCapture))->name,
            "no-bodies");
  CallerIdentity tcp;
  tcp.transport = CallerIdentity::Transport::kTcp;
  EXPECT_FALSE(policy.Authorize(tcp, Verb::kStatus).ok());
  EXPECT_FALSE(policy.Authorize(CallerIdentity(), Verb::kStatus).ok());
}

TEST(NarrowCapture, EverythingBecomesTheAllowedNamespaceAnotherIsRefused) {
  const Policy policy = MustParse();
  const PolicyRule& team_a = policy.rules()[1];
  v1::StartCaptureRequest everything;
  absl::StatusOr<NarrowedCapture> narrowed = NarrowCapture(team_a, everything, 4096);
  ASSERT_TRUE(narrowed.ok()) << narrowed.status();
  EXPECT_THAT(narrowed->request.filter().pod_namespaces(), ElementsAre("team-a"));
  EXPECT_EQ(narrowed->request.filter().tls(), v1::TLS_PLAIN);
  EXPECT_EQ(narrowed->request.options().body_limit_bytes(), 1024u);
  EXPECT_THAT(narrowed->notes,
              ElementsAre("policy rule \"team-a\": capture narrowed to namespace team-a",
                          "policy rule \"team-a\": HTTPS not captured (tls_plaintext: false); "
                          "plaintext HTTP only",
                          "policy rule \"team-a\": body limit 1024 bytes (asked 4096)"));

  v1::StartCaptureRequest own;
  own.mutable_filter()->add_pod_namespaces("team-a");
  own.mutable_filter()->add_ports(8080);
  own.mutable_filter()->set_tls(v1::TLS_PLAIN);
  own.mutable_options()->set_body_limit_bytes(100);
  narrowed = NarrowCapture(team_a, own, 4096);
  ASSERT_TRUE(narrowed.ok());
  EXPECT_EQ(narrowed->request.SerializeAsString(), own.SerializeAsString());  // nothing to narrow
  EXPECT_TRUE(narrowed->notes.empty());

  v1::StartCaptureRequest other;
  other.mutable_filter()->add_pod_namespaces("team-a");
  other.mutable_filter()->add_pod_namespaces("team-b");
  absl::Status refused = NarrowCapture(team_a, other, 4096).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(refused.message(),
            "policy rule \"team-a\" does not allow capturing namespace team-b (allowed: team-a)");

  v1::StartCaptureRequest https;
  https.mutable_filter()->set_tls(v1::TLS_ONLY);
  EXPECT_THAT(std::string(NarrowCapture(team_a, https, 4096).status().message()),
              HasSubstr("does not allow capturing HTTPS plaintext"));
}

TEST(NarrowCapture, BodiesDeniedKeepNoBytesAndSaySo) {
  const Policy policy = MustParse();
  const PolicyRule& no_bodies = policy.rules()[2];
  v1::StartCaptureRequest request;
  request.mutable_options()->set_body_limit_bytes(65536);
  absl::StatusOr<NarrowedCapture> narrowed = NarrowCapture(no_bodies, request, 4096);
  ASSERT_TRUE(narrowed.ok());
  EXPECT_EQ(narrowed->request.options().body_limit_bytes(), 0u);
  EXPECT_EQ(narrowed->request.filter().tls(), v1::TLS_BOTH);  // HTTPS allowed by this rule
  EXPECT_THAT(narrowed->notes, ElementsAre("policy rule \"no-bodies\": bodies not captured "
                                           "(bodies: false); their sizes are"));
  request.mutable_options()->set_body_limit_bytes(0);  // asked for none: nothing to say
  EXPECT_TRUE(NarrowCapture(no_bodies, request, 4096)->notes.empty());
}

TEST(CheckSessionInScope, ASessionBeyondTheRuleCannotBeAttachedOrStopped) {
  const Policy policy = MustParse();
  const PolicyRule& team_a = policy.rules()[1];
  v1::SessionInfo session;
  session.set_id("s-1");
  session.mutable_filter()->add_pod_namespaces("team-a");
  session.mutable_filter()->set_tls(v1::TLS_PLAIN);
  session.mutable_options()->set_body_limit_bytes(1024);
  EXPECT_TRUE(CheckSessionInScope(team_a, session).ok());
  EXPECT_TRUE(CheckSessionInScope(policy.rules()[0], session).ok());  // admins: no scope

  v1::SessionInfo everything;
  everything.set_id("s-2");
  everything.mutable_options()->set_body_limit_bytes(4096);
  absl::Status refused = CheckSessionInScope(team_a, everything);
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(refused.message(),
            "policy rule \"team-a\" does not cover session s-2: it captures namespaces, HTTPS "
            "plaintext, a larger body limit beyond the rule's scope");
}

}  // namespace
}  // namespace httptrace::auth
