#include "common/flags.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace httptrace {
namespace {

std::string Dashed(absl::string_view name) { return absl::StrReplaceAll(name, {{"_", "-"}}); }

// Flags defined in this repository (not absl's own) are the ones a user can act on.
bool IsOwnFlag(const absl::CommandLineFlag& flag) {
  return !absl::StrContains(flag.Filename(), "absl/");
}

std::string HelpText(absl::string_view usage) {
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsOwnFlag(*flag)) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
  std::string text = absl::StrCat(usage, "\n\nFlags:\n");
  for (const absl::CommandLineFlag* flag : flags) {
    std::string default_value = flag->DefaultValue();
    absl::StrAppend(&text, "  --", Dashed(flag->Name()));
    if (!flag->IsOfType<bool>()) absl::StrAppend(&text, "=VALUE");
    absl::StrAppend(&text, "\n      ", flag->Help());
    if (!default_value.empty() && default_value != "false") {
      absl::StrAppend(&text, " (default: ", default_value, ")");
    }
    absl::StrAppend(&text, "\n");
  }
  return text;
}

}  // namespace

std::vector<std::string> NormalizeFlagNames(int argc, char** argv) {
  std::vector<std::string> out;
  out.reserve(argc);
  bool after_terminator = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && !after_terminator && arg == "--") after_terminator = true;
    if (i > 0 && !after_terminator && arg.size() > 2 && arg[0] == '-') {
      const size_t name_start = arg[1] == '-' ? 2 : 1;
      const size_t name_end = std::min(arg.find('='), arg.size());
      for (size_t j = name_start; j < name_end; ++j) {
        if (arg[j] == '-') arg[j] = '_';
      }
    }
    out.push_back(std::move(arg));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> TryParseFlags(const std::vector<std::string>& args,
                                                       absl::string_view usage) {
  std::vector<std::string> positional;
  if (!args.empty()) positional.push_back(args[0]);
  const absl::flat_hash_map<absl::string_view, absl::CommandLineFlag*> flags = absl::GetAllFlags();
  absl::flat_hash_set<absl::string_view> set_lists;
  for (size_t i = 1; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--") {
      positional.insert(positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      positional.emplace_back(arg);
      continue;
    }
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    if (arg == "help" || arg == "h" || arg == "helpfull") {
      return absl::FailedPreconditionError(HelpText(usage));
    }
    const size_t equals = arg.find('=');
    absl::string_view name = arg.substr(0, equals);
    std::string value;
    auto it = flags.find(name);
    bool negated = false;
    if (it == flags.end() && absl::StartsWith(name, "no")) {
      auto positive = flags.find(name.substr(2));
      if (positive != flags.end() && positive->second->IsOfType<bool>()) {
        it = positive;
        negated = true;
      }
    }
    if (it == flags.end() || !IsOwnFlag(*it->second)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", Dashed(name), " (see --help)"));
    }
    absl::CommandLineFlag& flag = *it->second;
    if (equals != absl::string_view::npos) {
      if (negated) {
        return absl::InvalidArgumentError(
            absl::StrCat("--no", Dashed(flag.Name()), " takes no value"));
      }
      value = std::string(arg.substr(equals + 1));
    } else if (flag.IsOfType<bool>()) {
      value = negated ? "false" : "true";
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--", Dashed(flag.Name()), " needs a value (see --help)"));
    }
    // A repeated list flag (--port 80 --port 443) accumulates instead of replacing.
    if (flag.IsOfType<std::vector<std::string>>()) {
      if (!set_lists.insert(flag.Name()).second) {
        value = absl::StrCat(flag.CurrentValue(), ",", value);
      }
    }
    std::string error;
    if (!flag.ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", Dashed(flag.Name()), "=", value, ": ", error));
    }
  }
  return positional;
}

std::vector<std::string> ParseFlags(int argc, char** argv, absl::string_view usage) {
  absl::StatusOr<std::vector<std::string>> positional =
      TryParseFlags(NormalizeFlagNames(argc, argv), usage);
  if (positional.ok()) return *std::move(positional);
  if (absl::IsFailedPrecondition(positional.status())) {
    std::fputs(std::string(positional.status().message()).c_str(), stdout);
    std::exit(0);
  }
  std::fprintf(stderr, "%s: %s\n", argc > 0 ? argv[0] : "httptrace",
               std::string(positional.status().message()).c_str());
  std::exit(2);
}

}  // namespace httptrace
