// Command-line helpers shared by both binaries, on top of absl/flags.
//
//   int main(int argc, char** argv) {
//     httptrace::InitFlagsUsage("httptrace-agent: ...");
//     std::vector<char*> args = httptrace::ParseFlags(argc, argv);
//
// ParseFlags accepts the dashed spelling users type (--tls-cert, --body-limit) as well as absl's
// underscored one (--tls_cert), and --help lists the program's own flags.

#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace httptrace {

// Call before ParseFlags. `usage` is the text shown above the flags.
void InitFlagsUsage(absl::string_view usage);

// Rewrites "--some-flag[=v]" to "--some_flag[=v]"; leaves values, positional arguments and
// everything after "--" alone.
std::vector<std::string> NormalizeFlagNames(int argc, char** argv);

// Normalizes and parses argv and returns the positional arguments, argv[0] first. An unknown or
// malformed flag makes absl print the problem and exit with status 1.
std::vector<std::string> ParseFlags(int argc, char** argv);

}  // namespace httptrace
