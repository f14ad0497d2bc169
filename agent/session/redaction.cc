#include "agent/session/redaction.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "common/percent_decode.h"

namespace httptrace::session {
namespace {

// Names that carry credentials wherever they appear: in a query string, a form or a JSON body.
// (Compared normalized: `api_key` also stands for `apikey`, `api-key`, `apiKey`.)
constexpr std::array<absl::string_view, 17> kCredentialNames = {
    "access_token",  "refresh_token", "id_token",      "token",       "jwt",      "auth",
    "authorization", "api_key",       "x_api_key",     "password",    "passwd",   "pwd",
    "passphrase",    "secret",        "client_secret", "private_key", "sessionid"};

// Names that are credentials in a URL but ordinary words in a body, where redacting them would
// hide what a trace is read for (`{"code": 404}`, `{"key": "color"}`, `{"session": {...}}`):
// OAuth's authorization `code`; Google APIs' `key`; the signatures and credentials of
// pre-signed S3 and GCS URLs (and the OpenTelemetry conventions' list for url.query:
// AWSAccessKeyId, Signature, sig, X-Goog-Signature); session ids.
constexpr std::array<absl::string_view, 12> kUrlOnlyNames = {"code",
                                                             "key",
                                                             "sig",
                                                             "signature",
                                                             "session",
                                                             "AWSAccessKeyId",
                                                             "X-Amz-Signature",
                                                             "X-Amz-Credential",
                                                             "X-Amz-Security-Token",
                                                             "X-Goog-Signature",
                                                             "X-Goog-Credential",
                                                             "X-Goog-Security-Token"};

// Any name ending so is a secret one too: `new_password`, `db_passwd`, `webhook_secret`,
// `csrfToken`, `x-goog-api-key`. (Pagination cursors such as `nextToken` are hidden with them:
// the price of not missing `authenticity_token`.)
constexpr std::array<absl::string_view, 5> kSuffixes = {"password", "passwd", "secret", "token",
                                                        "apikey"};

std::vector<absl::string_view> Concat(absl::Span<const absl::string_view> a,
                                      absl::Span<const absl::string_view> b) {
  std::vector<absl::string_view> all(a.begin(), a.end());
  all.insert(all.end(), b.begin(), b.end());
  return all;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A form or query name, %-decoded only when it has escapes.
// A decoded form or query name: itself, or the last key of a nested name as Rails and PHP
// write them (`user[password]`, `creds[0][token]`).
bool DecodedNameMatches(const SecretNames& names, absl::string_view name) {
  if (names.Matches(name)) return true;
  if (name.size() < 3 || name.back() != ']') return false;
  const size_t open = name.rfind('[');
  if (open == absl::string_view::npos) return false;
  return names.Matches(name.substr(open + 1, name.size() - open - 2));
}

bool NameMatches(const SecretNames& names, absl::string_view encoded) {
  for (const char c : encoded) {
    if (c == '%' || c == '+') return DecodedNameMatches(names, FormDecode(encoded));
  }
  return DecodedNameMatches(names, encoded);
}

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool EndsBareScalar(char c) {
  return IsJsonSpace(c) || c == ',' || c == ':' || c == '{' || c == '}' || c == '[' || c == ']' ||
         c == '"';
}

// Index one past the closing quote of the string opening at `open` (the text's size when the
// string is cut short).
size_t StringEnd(absl::string_view json, size_t open) {
  size_t i = open + 1;
  while (i < json.size()) {
    const void* quote = std::memchr(json.data() + i, '"', json.size() - i);
    if (quote == nullptr) return json.size();
    const size_t at = static_cast<const char*>(quote) - json.data();
    // Escaped when an odd number of backslashes precede it.
    size_t backslashes = 0;
    while (at - backslashes > open + 1 && json[at - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return at + 1;
    i = at + 1;
  }
  return json.size();
}

// The text of a JSON string token's contents with its escapes decoded (\uXXXX beyond ASCII
// becomes '?': no secret name has such a letter).
std::string JsonUnescape(absl::string_view contents) {
  std::string out;
  out.reserve(contents.size());
  for (size_t i = 0; i < contents.size(); ++i) {
    if (contents[i] != '\\' || i + 1 >= contents.size()) {
      out.push_back(contents[i]);
      continue;
    }
    const char e = contents[++i];
    if (e == 'u' && i + 4 < contents.size()) {
      int code = 0;
      bool ok = true;
      for (size_t k = 1; k <= 4; ++k) {
        const int h = HexValue(contents[i + k]);
        ok &= h >= 0;
        code = code * 16 + std::max(h, 0);
      }
      if (ok) {
        out.push_back(code < 0x80 ? static_cast<char>(code) : '?');
        i += 4;
        continue;
      }
    }
    out.push_back(e == 'n'   ? '\n'
                  : e == 't' ? '\t'
                  : e == 'r' ? '\r'
                  : e == 'b' ? '\b'
                  : e == 'f' ? '\f'
                             : e);
  }
  return out;
}

}  // namespace

absl::Span<const absl::string_view> DefaultSecretBodyFields() { return kCredentialNames; }

absl::Span<const absl::string_view> DefaultSecretParams() {
  static const std::vector<absl::string_view>* const params =
      new std::vector<absl::string_view>(Concat(kCredentialNames, kUrlOnlyNames));
  return *params;
}

absl::Span<const absl::string_view> DefaultSecretSuffixes() { return kSuffixes; }

std::string NormalizeSecretName(absl::string_view name) {
  std::string normalized;
  normalized.reserve(name.size());
  for (const char c : name) {
    if (c == '_' || c == '-') continue;
    normalized.push_back(absl::ascii_tolower(c));
  }
  return normalized;
}

SecretNames::SecretNames(absl::Span<const absl::string_view> exact,
                         absl::Span<const absl::string_view> suffixes,
                         const std::vector<std::string>& extra_exact) {
  for (absl::string_view name : exact) exact_.insert(NormalizeSecretName(name));
  for (const std::string& name : extra_exact) exact_.insert(NormalizeSecretName(name));
  exact_.erase("");
  for (const std::string& name : exact_) {
    const size_t bit = FilterBit(name);
    exact_filter_[bit / 64] |= uint64_t{1} << (bit % 64);
  }
  for (absl::string_view suffix : suffixes) {
    std::string normalized = NormalizeSecretName(suffix);
    if (!normalized.empty()) suffixes_.push_back(std::move(normalized));
  }
}

size_t SecretNames::FilterBit(absl::string_view normalized) {
  return (normalized.size() * 31 + static_cast<unsigned char>(normalized.front()) * 7 +
          static_cast<unsigned char>(normalized.back())) &
         255;
}

bool SecretNames::MatchesNormalized(absl::string_view normalized) const {
  if (normalized.empty()) return false;
  for (const std::string& suffix : suffixes_) {
    if (normalized.size() >= suffix.size() && normalized.back() == suffix.back() &&
        absl::EndsWith(normalized, suffix)) {
      return true;
    }
  }
  const size_t bit = FilterBit(normalized);
  if ((exact_filter_[bit / 64] & (uint64_t{1} << (bit % 64))) == 0) return false;
  return exact_.contains(normalized);
}

bool SecretNames::Matches(absl::string_view name) const {
  // Called for every parameter and JSON member name of every exchange: normalize on the stack.
  char buffer[64];
  size_t length = 0;
  for (const char c : name) {
    if (c == '_' || c == '-') continue;
    if (length == sizeof(buffer)) return MatchesLong(name);
    buffer[length++] = absl::ascii_tolower(c);
  }
  return MatchesNormalized(absl::string_view(buffer, length));
}

bool SecretNames::MatchesLong(absl::string_view name) const {
  return MatchesNormalized(NormalizeSecretName(name));
}

bool RedactPairs(absl::string_view pairs, const SecretNames& names, absl::string_view marker,
                 std::string* out) {
  if (out != nullptr) out->clear();
  bool changed = false;
  size_t start = 0;
  while (start <= pairs.size()) {
    size_t end = pairs.find('&', start);
    if (end == absl::string_view::npos) end = pairs.size();
    const absl::string_view pair = pairs.substr(start, end - start);
    const size_t equals = pair.find('=');
    // A pair with no value (`token`, `token=`) hides nothing.
    const bool secret = equals != absl::string_view::npos && equals + 1 < pair.size() &&
                        NameMatches(names, pair.substr(0, equals));
    if (secret) {
      changed = true;
      if (out == nullptr) return true;
      out->append(pair.data(), equals + 1);
      out->append(marker.data(), marker.size());
    } else if (out != nullptr) {
      out->append(pair.data(), pair.size());
    }
    if (end == pairs.size()) break;
    if (out != nullptr) out->push_back('&');
    start = end + 1;
  }
  return changed;
}

bool RedactUrlQuery(absl::string_view url, const SecretNames& names, absl::string_view marker,
                    std::string* out) {
  const size_t question = url.find('?');
  if (question == absl::string_view::npos) {
    if (out != nullptr) out->assign(url.data(), url.size());
    return false;
  }
  const size_t hash = url.find('#', question);
  const size_t query_end = hash == absl::string_view::npos ? url.size() : hash;
  const absl::string_view query = url.substr(question + 1, query_end - question - 1);
  if (out == nullptr) return RedactPairs(query, names, marker, nullptr);
  std::string rewritten;
  const bool changed = RedactPairs(query, names, marker, &rewritten);
  out->assign(url.data(), question + 1);
  out->append(rewritten);
  out->append(url.data() + query_end, url.size() - query_end);
  return changed;
}

bool RedactJson(absl::string_view json, const SecretNames& names, absl::string_view marker,
                std::string* out) {
  if (out != nullptr) {
    out->clear();
    out->reserve(json.size());
  }
  bool changed = false;
  bool redact_next_value = false;  // a secret member's name and its ':' were seen
  size_t redact_depth = 0;         // inside a secret member's object or array: every value
  const auto replace = [&]() {
    changed = true;
    if (out == nullptr) return;
    out->push_back('"');
    out->append(marker.data(), marker.size());
    out->push_back('"');
  };
  const auto copy = [&](size_t from, size_t to) {
    if (out != nullptr) out->append(json.data() + from, to - from);
  };
  size_t i = 0;
  while (i < json.size()) {
    if (changed && out == nullptr) return true;
    const char c = json[i];
    if (c == '"') {
      const size_t end = StringEnd(json, i);
      size_t after = end;
      while (after < json.size() && IsJsonSpace(json[after])) ++after;
      const bool is_name = after < json.size() && json[after] == ':';
      if (is_name) {
        // A member's name is kept; inside a secret container every value is hidden anyway.
        if (redact_depth == 0) {
          const size_t contents_end = end > i + 1 && json[end - 1] == '"' ? end - 1 : end;
          const absl::string_view contents = json.substr(i + 1, contents_end - i - 1);
          redact_next_value = contents.find('\\') == absl::string_view::npos
                                  ? names.Matches(contents)
                                  : names.Matches(JsonUnescape(contents));
        }
        copy(i, end);
      } else if (redact_next_value || redact_depth > 0) {
        replace();
        redact_next_value = false;
      } else {
        copy(i, end);
      }
      i = end;
    } else if (c == '{' || c == '[') {
      if (redact_depth > 0) {
        ++redact_depth;
      } else if (redact_next_value) {
        redact_depth = 1;
      }
      redact_next_value = false;
      copy(i, i + 1);
      ++i;
    } else if (c == '}' || c == ']') {
      if (redact_depth > 0) --redact_depth;
      redact_next_value = false;
      copy(i, i + 1);
      ++i;
    } else if (c == ',') {
      redact_next_value = false;
      copy(i, i + 1);
      ++i;
    } else if (IsJsonSpace(c) || c == ':') {
      copy(i, i + 1);
      ++i;
    } else {
      // A bare scalar (number, true, false, null; or whatever a malformed text holds).
      size_t end = i + 1;
      while (end < json.size() && !EndsBareScalar(json[end])) ++end;
      const absl::string_view scalar = json.substr(i, end - i);
      size_t after = end;
      while (after < json.size() && IsJsonSpace(json[after])) ++after;
      if (after < json.size() && json[after] == ':') {
        // An unquoted member name (JavaScript, JSON5): a name all the same.
        if (redact_depth == 0) redact_next_value = names.Matches(scalar);
        copy(i, end);
        i = end;
        continue;
      }
      if ((redact_next_value || redact_depth > 0) && scalar != "null") {
        replace();
      } else {
        copy(i, end);
      }
      redact_next_value = false;
      i = end;
    }
  }
  return changed;
}

BodyKind BodyKindOf(absl::string_view content_type, absl::string_view body) {
  absl::string_view media = content_type.substr(0, content_type.find(';'));
  media = absl::StripAsciiWhitespace(media);
  for (size_t i = 0; i + 4 <= media.size(); ++i) {
    if ((media[i] | 0x20) == 'j' && (media[i + 1] | 0x20) == 's' && (media[i + 2] | 0x20) == 'o' &&
        (media[i + 3] | 0x20) == 'n') {
      return BodyKind::kJson;
    }
  }
  const bool form = absl::EqualsIgnoreCase(media, "application/x-www-form-urlencoded");
  if (form || media.empty() || absl::EqualsIgnoreCase(media, "text/plain")) {
    const size_t first = body.find_first_not_of(" \t\r\n");
    if (first != absl::string_view::npos && (body[first] == '{' || body[first] == '[')) {
      return BodyKind::kJson;
    }
  }
  return form ? BodyKind::kForm : BodyKind::kOther;
}

Redactor::Redactor(const std::vector<std::string>& extra_params,
                   const std::vector<std::string>& extra_body_fields)
    : params_(DefaultSecretParams(), DefaultSecretSuffixes(), extra_params),
      body_fields_(DefaultSecretBodyFields(), DefaultSecretSuffixes(), extra_body_fields) {}

bool Redactor::TargetHasSecret(absl::string_view target) const {
  return RedactUrlQuery(target, params_, kRedactedMarker, nullptr);
}

bool Redactor::RedactTarget(std::string* target) const {
  std::string rewritten;
  if (!RedactUrlQuery(*target, params_, kRedactedMarker, &rewritten)) return false;
  *target = std::move(rewritten);
  return true;
}

bool Redactor::BodyHasSecret(absl::string_view content_type, absl::string_view body) const {
  switch (BodyKindOf(content_type, body)) {
    case BodyKind::kJson:
      return RedactJson(body, body_fields_, kRedactedMarker, nullptr);
    case BodyKind::kForm:
      return RedactPairs(body, body_fields_, kRedactedMarker, nullptr);
    case BodyKind::kOther:
      return false;
  }
  return false;
}

bool Redactor::RedactBody(absl::string_view content_type, std::string* body) const {
  std::string rewritten;
  bool changed = false;
  switch (BodyKindOf(content_type, *body)) {
    case BodyKind::kJson:
      changed = RedactJson(*body, body_fields_, kRedactedMarker, &rewritten);
      break;
    case BodyKind::kForm:
      changed = RedactPairs(*body, body_fields_, kRedactedMarker, &rewritten);
      break;
    case BodyKind::kOther:
      break;
  }
  if (changed) *body = std::move(rewritten);
  return changed;
}

}  // namespace httptrace::session
