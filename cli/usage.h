// httptracectl's usage errors in its own words, and the help page of each command.
//
// CLI11 words its errors for its own terms ("The following arguments were not expected: 80
// --port", "At Most 1 required but received 2"). CheckArguments walks the command line first
// and names the mistake as a user made it: a flag of another command, an unknown flag or
// command (with the nearest one: did you mean), a value for a flag that takes none, a one-value
// flag given twice. Translate rewords what CLI11 still refuses (values out of range or set).

#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/string_view.h"

namespace httptrace::cli {

// The name among `choices` nearest to `word` (edit distance at most a third of its length, at
// least 1), or "" when none is near.
std::string NearestName(absl::string_view word, const std::vector<std::string>& choices);

// "" when CLI11 may parse the line; else the message (without "httptracectl: ").
std::string CheckArguments(const CLI::App& app, int argc, const char* const* argv);

// CLI11's message for `error` in our words.
std::string Translate(const CLI::ParseError& error);

// Gives each command its own footer (the top-level footer is inherited otherwise): `examples`
// (two command lines) and the global flags, which every command accepts.
void SetCommandFooter(CLI::App* command, const CLI::App& app,
                      const std::vector<std::string>& examples);

}  // namespace httptrace::cli
