#include "agent/export/process_service_names.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/percent_decode.h"

namespace httptrace::otlp {
namespace {}  // namespace

std::string ServiceNameFromEnviron(absl::string_view environ) {
  std::string from_attributes;
  for (absl::string_view entry : absl::StrSplit(environ, '\0', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&entry, "OTEL_SERVICE_NAME=")) {
      entry = absl::StripAsciiWhitespace(entry);
      if (!entry.empty()) return std::string(entry);  // takes precedence
    } else if (absl::ConsumePrefix(&entry, "OTEL_RESOURCE_ATTRIBUTES=")) {
      for (absl::string_view pair : absl::StrSplit(entry, ',')) {
        const size_t equals = pair.find('=');
        if (equals == absl::string_view::npos) continue;
        if (absl::StripAsciiWhitespace(pair.substr(0, equals)) == "service.name") {
          from_attributes = PercentDecode(absl::StripAsciiWhitespace(pair.substr(equals + 1)));
        }
      }
    }
  }
  return from_attributes;
}

std::optional<std::string> ProcessServiceNames::ReadProcEnviron(uint32_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/environ"), std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string ProcessServiceNames::Lookup(uint32_t pid, absl::string_view comm) {
  const std::string key = absl::StrCat(pid, "/", comm);
  {
    absl::MutexLock lock(&mu_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  // Read outside the lock: /proc may be slow for a process being torn down.
  std::optional<std::string> environ = reader_(pid);
  std::string name = environ.has_value() ? ServiceNameFromEnviron(*environ) : "";
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= max_entries_) cache_.clear();
  cache_.emplace(key, name);
  return name;
}

}  // namespace httptrace::otlp
