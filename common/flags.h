// Command-line parsing shared by both binaries, on top of absl/flags' registry.
//
//   int main(int argc, char** argv) {
//     std::vector<std::string> args = httptrace::ParseFlags(argc, argv, "Usage: ...");
//
// Differences from absl::ParseCommandLine, for the people typing the commands:
// - dashed names work (--tls-cert, --body-limit) as well as absl's underscored ones;
// - --help lists this program's flags in dashed form;
// - a usage error (unknown flag, bad value, missing value) prints one line and exits with 2,
//   the conventional status for usage errors (absl exits with 1, which we use for failures).

#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace httptrace {

// Rewrites "--some-flag[=v]" to "--some_flag[=v]"; leaves values, positional arguments and
// everything after "--" alone.
std::vector<std::string> NormalizeFlagNames(int argc, char** argv);

// Sets the registered flags from `args` (argv[0] first) and returns the positional arguments,
// argv[0] first. "--help" yields FailedPrecondition with the help text as message; a bad flag
// yields InvalidArgument.
absl::StatusOr<std::vector<std::string>> TryParseFlags(const std::vector<std::string>& args,
                                                       absl::string_view usage);

// TryParseFlags on argv; prints help and exits 0, or prints the error and exits 2.
std::vector<std::string> ParseFlags(int argc, char** argv, absl::string_view usage);

}  // namespace httptrace
