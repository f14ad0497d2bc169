// Secrets out of URLs and bodies: the one list of secret-looking names and the rewrites that hide
// their values, used by capture sessions (agent/session/session.cc, before an exchange reaches a
// session's queue) and by the OTLP span builder (agent/export/span_builder.cc, url.query and
// url.full).
//
//   const Redactor redactor(/*extra_params=*/{"ticket"}, /*extra_body_fields=*/{});
//   std::string target = "/reset?token=abc&email=a%40b";
//   redactor.RedactTarget(&target);   // "/reset?token=[REDACTED]&email=a%40b"
//
// Names compare case-insensitively with `_` and `-` ignored, so `access_token`, `access-token`,
// `accessToken` and `ACCESS_TOKEN` are one name. The lists, and why each name is on them, are in
// redaction.cc and docs/agent.md ("Redaction").

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace httptrace::session {

// What replaces a secret value: header values, query parameters, form fields and JSON values
// alike (in JSON it is a string: "[REDACTED]").
inline constexpr absl::string_view kRedactedMarker = "[REDACTED]";

// The default names, as documented (before normalization).
absl::Span<const absl::string_view> DefaultSecretParams();
absl::Span<const absl::string_view> DefaultSecretBodyFields();
// Endings that make any name a secret one (e.g. `new_password`, `csrfToken`), in URLs and bodies.
absl::Span<const absl::string_view> DefaultSecretSuffixes();

// A set of secret names: exact names plus endings, compared after normalization.
class SecretNames {
 public:
  SecretNames(absl::Span<const absl::string_view> exact,
              absl::Span<const absl::string_view> suffixes,
              const std::vector<std::string>& extra_exact);
  // `name` as decoded (no %-escapes or JSON escapes left).
  bool Matches(absl::string_view name) const;
  bool empty() const { return exact_.empty() && suffixes_.empty(); }

 private:
  bool MatchesLong(absl::string_view name) const;
  bool MatchesNormalized(absl::string_view normalized) const;
  static size_t FilterBit(absl::string_view normalized);

  absl::flat_hash_set<std::string> exact_;
  std::vector<std::string> suffixes_;
  // A 256-bit filter of the exact names by length and first and last letter: most names in a
  // body (`id`, `name`, `email`) are told apart without hashing them.
  uint64_t exact_filter_[4] = {0, 0, 0, 0};
};

// Lowercase, `_` and `-` removed.
std::string NormalizeSecretName(absl::string_view name);

// The rewrites. Each returns whether a value was (or, with out == nullptr, would be) replaced;
// with out == nullptr it stops at the first secret found, which is how a session decides cheaply
// whether it needs its own copy of an exchange. Otherwise *out receives the whole rewritten text
// (cleared first), unchanged bytes copied as they are.
//
// `a=1&password=x`: the value of every pair whose %-decoded name matches.
bool RedactPairs(absl::string_view pairs, const SecretNames& names, absl::string_view marker,
                 std::string* out);
// A request target or URL: the query (after `?`, before `#`) as pairs.
bool RedactUrlQuery(absl::string_view url, const SecretNames& names, absl::string_view marker,
                    std::string* out);
// A JSON text, possibly cut short by a body limit or malformed: a lenient scan (strings, the
// separators and bare scalars; no grammar enforced, so it never gives up) that replaces the value
// of every member whose name matches, at any depth. A string, number or boolean value becomes
// the string "<marker>"; an object or array value keeps its structure and every scalar inside it
// is replaced; null stays null (it hides nothing). A string cut short by the end of the text is
// still replaced. Valid JSON in, valid JSON out, keys and layout kept.
bool RedactJson(absl::string_view json, const SecretNames& names, absl::string_view marker,
                std::string* out);

enum class BodyKind { kOther, kForm, kJson };
// How to read a body: JSON by its media type (any type naming json: application/json,
// application/problem+json, application/x-ndjson, ...), form by
// application/x-www-form-urlencoded, and JSON too when a body declared as form, text/plain or
// nothing starts with `{` or `[` (what `curl -d '{"password": ...}'` sends).
BodyKind BodyKindOf(absl::string_view content_type, absl::string_view body);

// A session's redaction: the default lists plus the session's additions.
class Redactor {
 public:
  Redactor(const std::vector<std::string>& extra_params,
           const std::vector<std::string>& extra_body_fields);

  const SecretNames& params() const { return params_; }
  const SecretNames& body_fields() const { return body_fields_; }

  // A target or URL-valued header (:path, Location, Referer, ...). Rewrites in place.
  bool TargetHasSecret(absl::string_view target) const;
  bool RedactTarget(std::string* target) const;
  // A body of the given Content-Type (form or JSON; other kinds are left alone).
  bool BodyHasSecret(absl::string_view content_type, absl::string_view body) const;
  bool RedactBody(absl::string_view content_type, std::string* body) const;

 private:
  SecretNames params_;
  SecretNames body_fields_;
};

}  // namespace httptrace::session
