#include "cli/render/json_string.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "cli/render/text_util.h"

namespace httptrace::render {
namespace {

// What a JSON string holds as it is; controls, DEL, '"' and '\\' are escaped.
constexpr PlainBytes kJsonPlain = MakePlainBytes("\"\\");
static_assert(PrintableIsPlainBut(kJsonPlain, '"', '\\'));

void AppendEscape(std::string* out, unsigned char c) {
  switch (c) {
    case '"':
      out->append("\\\"");
      return;
    case '\\':
      out->append("\\\\");
      return;
    case '\n':
      out->append("\\n");
      return;
    case '\r':
      out->append("\\r");
      return;
    case '\t':
      out->append("\\t");
      return;
    default: {
      static constexpr char kHex[] = "0123456789abcdef";
      const char escape[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
      out->append(escape, sizeof(escape));
    }
  }
}

}  // namespace

void AppendJsonString(std::string* out, absl::string_view text) {
  out->reserve(out->size() + text.size() + 2);
  out->push_back('"');
  AppendEscapedRuns(out, text, kJsonPlain, '"', '\\', AppendEscape,
                    [](std::string* o, absl::string_view) { o->append("\\ufffd"); });
  out->push_back('"');
}

void AppendProcessAndConnection(std::string* out, const v1::Exchange& x) {
  absl::StrAppend(out, ",\"pid\":", x.process().pid(), ",\"tid\":", x.process().tid(),
                  ",\"comm\":");
  AppendJsonString(out, x.process().comm());
  absl::StrAppend(out, ",\"role\":\"", RoleName(x.connection().role()), "\",\"local\":\"");
  // Endpoints are addresses and ports the agent formatted: nothing in them needs escaping.
  AppendEndpoint(out, x.connection().local());
  out->append("\",\"remote\":\"");
  AppendEndpoint(out, x.connection().remote());
  absl::StrAppend(out, "\",\"connection_id\":", x.connection().id());
  if (x.connection().has_tls()) {
    out->append(",\"tls\":{\"library\":");
    AppendJsonString(out, x.connection().tls().library());
    out->push_back('}');
  }
  if (!x.process().has_container()) return;
  const v1::Container& c = x.process().container();
  out->append(",\"container\":{\"id\":");
  AppendJsonString(out, c.id());
  out->append(",\"name\":");
  AppendJsonString(out, c.name());
  out->append(",\"pod\":");
  AppendJsonString(out, c.pod_name());
  out->append(",\"namespace\":");
  AppendJsonString(out, c.pod_namespace());
  out->push_back('}');
}

}  // namespace httptrace::render
