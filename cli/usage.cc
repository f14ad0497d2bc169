#include "cli/usage.h"

#include <algorithm>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace httptrace::cli {
namespace {

// Optimal string alignment distance: insertions, deletions, substitutions and transpositions
// ("strat" is one step from "start").
size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// Every spelling of `option` on a command line: "-o", "--output".
std::vector<std::string> Spellings(const CLI::Option& option) {
  std::vector<std::string> out;
  for (const std::string& s : option.get_snames()) out.push_back("-" + s);
  for (const std::string& l : option.get_lnames()) out.push_back("--" + l);
  return out;
}

const CLI::Option* FindOption(const CLI::App& app, absl::string_view flag) {
  for (const CLI::Option* option : app.get_options()) {
    if (!option->nonpositional()) continue;
    for (const std::string& spelling : Spellings(*option)) {
      if (spelling == flag) return option;
    }
    // Flags accept both spellings (--tls-cert, --tls_cert).
    for (const std::string& l : option->get_lnames()) {
      std::string underscored = "--" + l;
      std::replace(underscored.begin(), underscored.end(), '-', '_');
      underscored[0] = underscored[1] = '-';
      if (underscored == flag) return option;
    }
  }
  return nullptr;
}

std::vector<std::string> FlagNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    if (!option->nonpositional()) continue;
    for (const std::string& l : option->get_lnames()) names.push_back("--" + l);
  }
  return names;
}

bool TakesValue(const CLI::Option& option) { return option.get_expected_max() > 0; }
bool Repeatable(const CLI::Option& option) { return option.get_expected_max() > 1; }

std::string ChoicesOf(const CLI::Option& option) {
  // The set in IsMember's description: "{a,b,c}" or "value in {a,b,c}".
  const std::string description = option.get_type_name();
  const size_t open = description.find('{');
  const size_t close = description.find('}');
  if (open == std::string::npos || close == std::string::npos) return "";
  std::vector<std::string> choices =
      absl::StrSplit(description.substr(open + 1, close - open - 1), ',');
  if (choices.size() < 2) return absl::StrJoin(choices, "");
  const std::string last = choices.back();
  choices.pop_back();
  return absl::StrCat(absl::StrJoin(choices, ", "), " or ", last);
}

// "FILE" for "TEXT:FILE", "auto|always|never" for "TEXT:{auto,always,never}", else as named.
std::string ValueName(const CLI::Option& option) {
  const std::string type = option.get_type_name();
  const std::vector<std::string> parts = absl::StrSplit(type, absl::MaxSplits(':', 1));
  if (parts.size() < 2) return type;
  if (absl::StartsWith(parts[1], "{")) {
    std::string choices = parts[1].substr(1, parts[1].find('}') - 1);
    std::replace(choices.begin(), choices.end(), ',', '|');
    return choices;
  }
  return parts[0] == "TEXT" ? parts[1] : type;
}

std::string AndList(const std::vector<std::string>& items) {
  if (items.size() <= 1) return absl::StrJoin(items, "");
  std::vector<std::string> head(items.begin(), items.end() - 1);
  return absl::StrCat(absl::StrJoin(head, ", "), " and ", items.back());
}

}  // namespace

std::string NearestName(absl::string_view word, const std::vector<std::string>& choices) {
  std::string best;
  size_t best_distance = std::max<size_t>(1, word.size() / 3) + 1;
  for (const std::string& choice : choices) {
    const size_t d = EditDistance(word, choice);
    if (d < best_distance) {
      best_distance = d;
      best = choice;
    }
  }
  return best;
}

std::string CheckArguments(const CLI::App& app, int argc, const char* const* argv) {
  const CLI::App* command = nullptr;
  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands({})) commands.push_back(sub->get_name());
  std::map<const CLI::Option*, int> seen;
  size_t positionals = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() > 1 && arg[0] == '-') {
      const size_t equals = arg.find('=');
      const std::string flag = arg.substr(0, equals);
      if (flag == "-h" || flag == "--help") continue;
      const CLI::Option* option = command != nullptr ? FindOption(*command, flag) : nullptr;
      if (option == nullptr) option = FindOption(app, flag);
      if (option == nullptr) {
        // Another command's flag?
        std::vector<std::string> owners;
        for (const CLI::App* sub : app.get_subcommands({})) {
          if (FindOption(*sub, flag) != nullptr) owners.push_back(sub->get_name());
        }
        const std::string where = command != nullptr ? command->get_name() : "";
        if (!owners.empty()) {
          return where.empty()
                     ? absl::StrCat(flag, " is a flag of ", AndList(owners),
                                    ": put it after the command")
                     : absl::StrCat(flag, " is a flag of ", AndList(owners), ", not ", where);
        }
        std::vector<std::string> names = FlagNames(app);
        if (command != nullptr) {
          const std::vector<std::string> own = FlagNames(*command);
          names.insert(names.end(), own.begin(), own.end());
        }
        const std::string nearest = NearestName(flag, names);
        return absl::StrCat("unknown flag ", flag, where.empty() ? "" : " for " + where,
                            nearest.empty() ? "" : absl::StrCat("; did you mean ", nearest, "?"));
      }
      if (++seen[option] > 1 && TakesValue(*option) && !Repeatable(*option)) {
        const std::string choices = ChoicesOf(*option);
        return absl::StrCat(option->get_name(), " takes one value",
                            choices.empty() ? "" : absl::StrCat(": ", choices));
      }
      if (!TakesValue(*option) && equals != std::string::npos) {
        return absl::StrCat(flag, " takes no value");
      }
      if (TakesValue(*option) && equals == std::string::npos) {
        if (i + 1 >= argc) {
          const std::string choices = ChoicesOf(*option);
          return absl::StrCat(flag, " needs a value",
                              choices.empty() ? "" : absl::StrCat(": ", choices));
        }
        ++i;
      }
      continue;
    }
    if (command == nullptr) {
      for (const CLI::App* sub : app.get_subcommands({})) {
        if (sub->get_name() == arg) command = sub;
      }
      if (command == nullptr) {
        const std::string nearest = NearestName(arg, commands);
        return absl::StrCat("unknown command \"", arg, "\"",
                            nearest.empty() ? absl::StrCat(" (want ", AndList(commands), ")")
                                            : absl::StrCat("; did you mean ", nearest, "?"));
      }
      continue;
    }
    size_t allowed = 0;
    for (const CLI::Option* option : command->get_options()) {
      if (!option->nonpositional()) ++allowed;
    }
    if (++positionals > allowed) {
      return allowed == 0
                 ? absl::StrCat(command->get_name(), " takes no argument (\"", arg, "\" given)")
                 : absl::StrCat(command->get_name(), ": one argument too many: \"", arg, "\"");
    }
  }
  return "";
}

std::string Translate(const CLI::ParseError& error) {
  std::string message = error.what();
  // "--role: foo not in {client,server}" → "--role foo: want client or server".
  const size_t not_in = message.find(" not in {");
  const size_t colon = message.find(": ");
  if (not_in != std::string::npos && colon != std::string::npos && colon < not_in) {
    const std::string flag = message.substr(0, colon);
    const std::string value = message.substr(colon + 2, not_in - colon - 2);
    const size_t close = message.find('}', not_in);
    std::vector<std::string> choices =
        absl::StrSplit(message.substr(not_in + 9, close - not_in - 9), ',');
    const std::string last = choices.back();
    choices.pop_back();
    return absl::StrCat(flag, " ", value, ": want ", absl::StrJoin(choices, ", "),
                        choices.empty() ? "" : " or ", last);
  }
  // "--queue: Value 0 not in range 1 to 1048576" → "--queue 0: want 1 to 1048576".
  const size_t range = message.find(" not in range ");
  const size_t value_at = message.find(": Value ");
  if (range != std::string::npos && value_at != std::string::npos && value_at < range) {
    return absl::StrCat(message.substr(0, value_at), " ",
                        message.substr(value_at + 8, range - value_at - 8), ": want ",
                        message.substr(range + 14));
  }
  // "--queue: Value abc could not be converted" → "--queue abc: want a number".
  if (absl::StrContains(message, "could not be converted") && value_at != std::string::npos) {
    const size_t end = message.find(' ', value_at + 8);
    return absl::StrCat(message.substr(0, value_at), " ",
                        message.substr(value_at + 8, end - value_at - 8), ": want a number");
  }
  return message;
}

void SetCommandFooter(CLI::App* command, const CLI::App& app,
                      const std::vector<std::string>& examples) {
  std::string footer = "Examples:\n";
  for (const std::string& example : examples) absl::StrAppend(&footer, "  ", example, "\n");
  std::vector<std::string> globals;
  for (const CLI::Option* option : app.get_options()) {
    if (!option->nonpositional() || option->get_name() == "--help") continue;
    std::string name = option->get_name();
    if (TakesValue(*option)) absl::StrAppend(&name, " ", ValueName(*option));
    globals.push_back(name);
  }
  absl::StrAppend(&footer,
                  "Global flags (before or after the command; httptracectl --help explains "
                  "them):\n ");
  size_t column = 1;
  for (size_t i = 0; i < globals.size(); ++i) {
    const std::string item = absl::StrCat(" ", globals[i], i + 1 < globals.size() ? "," : "");
    if (column + item.size() > 96) {
      footer.append("\n ");
      column = 1;
    }
    footer.append(item);
    column += item.size();
  }
  footer.append("\nExit status: 0 success, 1 failure, 2 usage error. More: docs/cli.md");
  command->footer(footer);
}

}  // namespace httptrace::cli
