#include "agent/auth/policy.h"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace httptrace::auth {
namespace {

using Json = nlohmann::json;

constexpr Verb kVerbs[] = {Verb::kStatus, Verb::kList, Verb::kCapture, Verb::kExport};

absl::Status Bad(absl::string_view source, absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("--policy ", source, ": ", where, ": ", what));
}

absl::Status CheckKeys(const Json& object, absl::string_view source, absl::string_view where,
                       std::initializer_list<const char*> known) {
  if (!object.is_object()) return Bad(source, where, "must be an object");
  for (const auto& [key, value] : object.items()) {
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) {
      return Bad(
          source, where,
          absl::StrCat("unknown key \"", key, "\" (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Strings(const Json& object, const char* key,
                                                 absl::string_view source,
                                                 absl::string_view where) {
  std::vector<std::string> out;
  if (!object.contains(key)) return out;
  const Json& list = object.at(key);
  if (!list.is_array()) return Bad(source, absl::StrCat(where, ".", key), "must be a list");
  for (const Json& item : list) {
    if (!item.is_string() || item.get<std::string>().empty()) {
      return Bad(source, absl::StrCat(where, ".", key), "every entry must be a non-empty string");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

// A user or group: a number (or a string of digits) or a name from the system's databases.
absl::StatusOr<std::vector<uint32_t>> Ids(const Json& object, const char* key, bool users,
                                          absl::string_view source, absl::string_view where) {
  std::vector<uint32_t> out;
  if (!object.contains(key)) return out;
  const Json& list = object.at(key);
  const std::string place = absl::StrCat(where, ".", key);
  if (!list.is_array()) return Bad(source, place, "must be a list");
  for (const Json& item : list) {
    if (item.is_number_unsigned()) {
      out.push_back(item.get<uint32_t>());
      continue;
    }
    if (!item.is_string()) return Bad(source, place, "entries are names or numbers");
    const std::string name = item.get<std::string>();
    if (uint32_t id = 0; absl::SimpleAtoi(name, &id)) {
      out.push_back(id);
      continue;
    }
    std::vector<char> buffer(16384);
    if (users) {
      passwd entry{};
      passwd* found = nullptr;
      if (::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
          found == nullptr) {
        return Bad(source, place, absl::StrCat("no such user \"", name, "\" on this node"));
      }
      out.push_back(found->pw_uid);
    } else {
      group entry{};
      group* found = nullptr;
      if (::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
          found == nullptr) {
        return Bad(source, place, absl::StrCat("no such group \"", name, "\" on this node"));
      }
      out.push_back(found->gr_gid);
    }
  }
  return out;
}

absl::StatusOr<bool> Bool(const Json& object, const char* key, bool fallback,
                          absl::string_view source, absl::string_view where) {
  if (!object.contains(key)) return fallback;
  if (!object.at(key).is_boolean()) {
    return Bad(source, absl::StrCat(where, ".", key), "must be true or false");
  }
  return object.at(key).get<bool>();
}

#define HT_ASSIGN_OR_RETURN(lhs, expr)            \
  do {                                            \
    auto ht_value = (expr);                       \
    if (!ht_value.ok()) return ht_value.status(); \
    lhs = *std::move(ht_value);                   \
  } while (0)

absl::StatusOr<PolicyRule> ParseRule(const Json& json, size_t index, absl::string_view source) {
  std::string where = absl::StrCat("rules[", index, "]");
  if (!json.is_object()) return Bad(source, where, "must be an object");
  PolicyRule rule;
  if (!json.contains("name") || !json.at("name").is_string() ||
      json.at("name").get<std::string>().empty()) {
    return Bad(source, where, "needs a \"name\" (it is named in refusals and the audit trail)");
  }
  rule.name = json.at("name").get<std::string>();
  where = absl::StrCat("rule \"", rule.name, "\"");
  if (absl::Status s = CheckKeys(json, source, where,
                                 {"name", "callers", "verbs", "namespaces", "pods", "containers",
                                  "tls_plaintext", "bodies", "max_body_bytes"});
      !s.ok()) {
    return s;
  }
  if (!json.contains("callers")) {
    return Bad(source, where,
               "needs \"callers\" (unix_users, unix_groups, cert_subjects, "
               "cert_sans or any)");
  }
  const Json& callers = json.at("callers");
  const std::string callers_where = absl::StrCat(where, ".callers");
  if (absl::Status s =
          CheckKeys(callers, source, callers_where,
                    {"unix_users", "unix_groups", "cert_subjects", "cert_sans", "any"});
      !s.ok()) {
    return s;
  }
  HT_ASSIGN_OR_RETURN(rule.uids, Ids(callers, "unix_users", true, source, callers_where));
  HT_ASSIGN_OR_RETURN(rule.gids, Ids(callers, "unix_groups", false, source, callers_where));
  HT_ASSIGN_OR_RETURN(rule.cert_subjects, Strings(callers, "cert_subjects", source, callers_where));
  HT_ASSIGN_OR_RETURN(rule.cert_sans, Strings(callers, "cert_sans", source, callers_where));
  HT_ASSIGN_OR_RETURN(rule.any_caller, Bool(callers, "any", false, source, callers_where));
  if (!rule.any_caller && rule.uids.empty() && rule.gids.empty() && rule.cert_subjects.empty() &&
      rule.cert_sans.empty()) {
    return Bad(source, callers_where, "matches nobody (name users, groups, subjects or SANs)");
  }
  std::vector<std::string> verbs;
  HT_ASSIGN_OR_RETURN(verbs, Strings(json, "verbs", source, where));
  if (verbs.empty()) return Bad(source, where, "needs \"verbs\" (status, list, capture, export)");
  for (const std::string& name : verbs) {
    const Verb* verb = std::find_if(std::begin(kVerbs), std::end(kVerbs),
                                    [&](Verb v) { return name == VerbName(v); });
    if (verb == std::end(kVerbs)) {
      return Bad(source, absl::StrCat(where, ".verbs"),
                 absl::StrCat("unknown verb \"", name, "\" (status, list, capture, export)"));
    }
    rule.verbs.push_back(*verb);
  }
  HT_ASSIGN_OR_RETURN(rule.namespaces, Strings(json, "namespaces", source, where));
  HT_ASSIGN_OR_RETURN(rule.pods, Strings(json, "pods", source, where));
  HT_ASSIGN_OR_RETURN(rule.containers, Strings(json, "containers", source, where));
  HT_ASSIGN_OR_RETURN(rule.tls_plaintext, Bool(json, "tls_plaintext", true, source, where));
  HT_ASSIGN_OR_RETURN(rule.bodies, Bool(json, "bodies", true, source, where));
  if (json.contains("max_body_bytes")) {
    const Json& max = json.at("max_body_bytes");
    if (!max.is_number_unsigned() || max.get<uint64_t>() > UINT32_MAX) {
      return Bad(source, absl::StrCat(where, ".max_body_bytes"), "must be a number of bytes");
    }
    rule.max_body_bytes = max.get<uint32_t>();
  }
  return rule;
}

template <typename T>
bool Contains(const std::vector<T>& list, const T& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

absl::Status Denied(const PolicyRule& rule, absl::string_view what) {
  return absl::PermissionDeniedError(absl::StrCat("policy rule \"", rule.name, "\" ", what));
}

// One scope field of the filter (namespaces, pods, containers): empty in the request → the
// rule's list; given → each value must be allowed.
absl::Status NarrowField(const PolicyRule& rule, const std::vector<std::string>& allowed,
                         const char* singular,
                         google::protobuf::RepeatedPtrField<std::string>* requested,
                         std::vector<std::string>* notes) {
  if (allowed.empty()) return absl::OkStatus();
  if (requested->empty()) {
    for (const std::string& value : allowed) *requested->Add() = value;
    notes->push_back(absl::StrCat("policy rule \"", rule.name, "\": capture narrowed to ", singular,
                                  " ", absl::StrJoin(allowed, ", ")));
    return absl::OkStatus();
  }
  for (const std::string& value : *requested) {
    if (!Contains(allowed, value)) {
      return Denied(rule, absl::StrCat("does not allow capturing ", singular, " ", value,
                                       " (allowed: ", absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const char* VerbName(Verb verb) {
  switch (verb) {
    case Verb::kStatus:
      return "status";
    case Verb::kList:
      return "list";
    case Verb::kCapture:
      return "capture";
    case Verb::kExport:
      return "export";
  }
  return "?";
}

bool PolicyRule::Allows(Verb verb) const { return Contains(verbs, verb); }

bool PolicyRule::Matches(const CallerIdentity& caller) const {
  if (any_caller) return true;
  switch (caller.transport) {
    case CallerIdentity::Transport::kUnix:
      if (Contains(uids, caller.uid)) return true;
      for (uint32_t gid : caller.groups) {
        if (Contains(gids, gid)) return true;
      }
      return Contains(gids, caller.gid);
    case CallerIdentity::Transport::kTls:
      if (!caller.subject.empty() && Contains(cert_subjects, caller.subject)) return true;
      for (const std::string& san : caller.sans) {
        if (Contains(cert_sans, san)) return true;
      }
      return false;
    case CallerIdentity::Transport::kTcp:
    case CallerIdentity::Transport::kUnknown:
      break;
  }
  return false;
}

absl::StatusOr<Policy> Policy::Parse(absl::string_view text, absl::string_view source) {
  Json json;
  try {
    json = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("--policy ", source, ": not valid JSON: ", e.what()));
  }
  if (absl::Status s = CheckKeys(json, source, "top level", {"rules"}); !s.ok()) return s;
  if (!json.contains("rules") || !json.at("rules").is_array() || json.at("rules").empty()) {
    return Bad(source, "top level", "needs a non-empty list \"rules\"");
  }
  Policy policy;
  policy.source_ = std::string(source);
  absl::flat_hash_set<std::string> names;
  for (size_t i = 0; i < json.at("rules").size(); ++i) {
    absl::StatusOr<PolicyRule> rule = ParseRule(json.at("rules")[i], i, source);
    if (!rule.ok()) return rule.status();
    if (!names.insert(rule->name).second) {
      return Bad(source, absl::StrCat("rule \"", rule->name, "\""), "name used twice");
    }
    policy.rules_.push_back(*std::move(rule));
  }
  return policy;
}

absl::StatusOr<Policy> Policy::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--policy ", path, ": cannot read it"));
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

const PolicyRule* Policy::Match(const CallerIdentity& caller) const {
  for (const PolicyRule& rule : rules_) {
    if (rule.Matches(caller)) return &rule;
  }
  return nullptr;
}

absl::StatusOr<const PolicyRule*> Policy::Authorize(const CallerIdentity& caller, Verb verb) const {
  const PolicyRule* rule = Match(caller);
  if (rule == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("no rule of the agent's policy (", source_, ") matches ", caller.Describe()));
  }
  if (!rule->Allows(verb)) {
    std::vector<const char*> allowed;
    for (Verb v : rule->verbs) allowed.push_back(VerbName(v));
    return Denied(*rule, absl::StrCat("does not allow ", VerbName(verb), " (it allows ",
                                      absl::StrJoin(allowed, ", "), ")"));
  }
  return rule;
}

std::string Policy::Summary() const {
  std::vector<std::string> names;
  for (const PolicyRule& rule : rules_) names.push_back(rule.name);
  return absl::StrCat(source_, " (", rules_.size(), " rule(s): ", absl::StrJoin(names, ", "), ")");
}

absl::StatusOr<NarrowedCapture> NarrowCapture(const PolicyRule& rule,
                                              const v1::StartCaptureRequest& request,
                                              uint32_t default_body_limit) {
  NarrowedCapture out{request, {}};
  v1::Filter& filter = *out.request.mutable_filter();
  if (absl::Status s = NarrowField(rule, rule.namespaces, "namespace",
                                   filter.mutable_pod_namespaces(), &out.notes);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = NarrowField(rule, rule.pods, "pod", filter.mutable_pods(), &out.notes);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          NarrowField(rule, rule.containers, "container", filter.mutable_containers(), &out.notes);
      !s.ok()) {
    return s;
  }
  if (!rule.tls_plaintext) {
    if (filter.tls() == v1::TLS_ONLY) {
      return Denied(rule, "does not allow capturing HTTPS plaintext (tls_plaintext: false)");
    }
    if (filter.tls() == v1::TLS_BOTH) {
      filter.set_tls(v1::TLS_PLAIN);
      out.notes.push_back(absl::StrCat("policy rule \"", rule.name,
                                       "\": HTTPS not captured (tls_plaintext: false); plaintext "
                                       "HTTP only"));
    }
  }
  v1::CaptureOptions& options = *out.request.mutable_options();
  const uint32_t asked =
      options.has_body_limit_bytes() ? options.body_limit_bytes() : default_body_limit;
  if (!rule.bodies) {
    options.set_body_limit_bytes(0);
    if (asked > 0) {
      out.notes.push_back(absl::StrCat("policy rule \"", rule.name,
                                       "\": bodies not captured (bodies: false); their sizes are"));
    }
  } else if (rule.max_body_bytes.has_value() && asked > *rule.max_body_bytes) {
    options.set_body_limit_bytes(*rule.max_body_bytes);
    out.notes.push_back(absl::StrCat("policy rule \"", rule.name, "\": body limit ",
                                     *rule.max_body_bytes, " bytes (asked ", asked, ")"));
  }
  return out;
}

absl::Status CheckSessionInScope(const PolicyRule& rule, const v1::SessionInfo& session) {
  const v1::Filter& filter = session.filter();
  const auto within = [](const std::vector<std::string>& allowed,
                         const google::protobuf::RepeatedPtrField<std::string>& values) {
    if (allowed.empty()) return true;
    if (values.empty()) return false;  // the session captures every namespace (pod, container)
    return std::all_of(values.begin(), values.end(),
                       [&](const std::string& v) { return Contains(allowed, v); });
  };
  std::vector<std::string> outside;
  if (!within(rule.namespaces, filter.pod_namespaces())) outside.push_back("namespaces");
  if (!within(rule.pods, filter.pods())) outside.push_back("pods");
  if (!within(rule.containers, filter.containers())) outside.push_back("containers");
  if (!rule.tls_plaintext && filter.tls() != v1::TLS_PLAIN) outside.push_back("HTTPS plaintext");
  const uint32_t body_limit = session.options().body_limit_bytes();
  if (!rule.bodies && body_limit > 0) outside.push_back("bodies");
  if (rule.bodies && rule.max_body_bytes.has_value() && body_limit > *rule.max_body_bytes) {
    outside.push_back("a larger body limit");
  }
  if (outside.empty()) return absl::OkStatus();
  return Denied(rule, absl::StrCat("does not cover session ", session.id(), ": it captures ",
                                   absl::StrJoin(outside, ", "), " beyond the rule's scope"));
}

}  // namespace httptrace::auth
