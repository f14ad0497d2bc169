// Shell completion for httptracectl, generated from the command line's own definition (the
// CLI11 App), so every subcommand and flag completes and a new flag needs no second list.

#pragma once

#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace httptrace::cli {

// Values a flag takes from a fixed set, completed after it: {"--format", {"text", ...}}.
using FlagValues = std::map<std::string, std::vector<std::string>>;

// A bash completion script (`source <(httptracectl completion bash)`).
std::string BashCompletion(const CLI::App& app, const FlagValues& values);
// A zsh completion script: the bash one through zsh's bashcompinit.
std::string ZshCompletion(const CLI::App& app, const FlagValues& values);

}  // namespace httptrace::cli
