#include "cli/render/json_string.h"

#include <array>

#include "cli/render/text_util.h"

namespace httptrace::render {
namespace {

// Per byte: 0 copies as is, 1 needs an escape, 2 starts a multi-byte UTF-8 sequence.
constexpr std::array<unsigned char, 256> MakeClasses() {
  std::array<unsigned char, 256> classes{};
  for (int c = 0; c < 0x20; ++c) classes[c] = 1;
  classes['"'] = 1;
  classes['\\'] = 1;
  classes[0x7f] = 1;
  for (int c = 0x80; c < 0x100; ++c) classes[c] = 2;
  return classes;
}
constexpr std::array<unsigned char, 256> kClasses = MakeClasses();

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
  const char* data = text.data();
  const size_t n = text.size();
  size_t run = 0;  // start of the bytes not yet appended
  size_t i = 0;
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(data[i]);
    const unsigned char kind = kClasses[c];
    if (kind == 0) {
      ++i;
      continue;
    }
    if (kind == 2) {
      const int length = Utf8Sequence(text.substr(i));
      if (length > 0) {
        i += static_cast<size_t>(length);
        continue;
      }
      out->append(data + run, i - run);
      out->append("\\ufffd");
      i += static_cast<size_t>(-length);
      run = i;
      continue;
    }
    out->append(data + run, i - run);
    AppendEscape(out, c);
    run = ++i;
  }
  out->append(data + run, n - run);
  out->push_back('"');
}

}  // namespace httptrace::render
