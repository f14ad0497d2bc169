// The version both binaries report (httptrace-agent in GetStatus and its log, httptracectl in
// `version` and HAR's creator).

#pragma once

namespace httptrace {

inline constexpr char kVersion[] = "0.1.0";

}  // namespace httptrace
