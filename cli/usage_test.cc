#include "cli/usage.h"

#include <memory>

#include "gtest/gtest.h"

namespace httptrace::cli {
namespace {

// A command line shaped like httptracectl's: globals, start and top with filters, list.
struct Line {
  CLI::App app{"test", "httptracectl"};
  std::vector<std::string> agents, ports;
  std::string role = "both", session;
  bool detach = false;
  int queue = 0;

  Line() {
    app.fallthrough();
    app.add_option("--agent", agents)->allow_extra_args(false);
    for (const char* name : {"start", "top"}) {
      CLI::App* sub = app.add_subcommand(name, "");
      sub->add_option("--port", ports)->allow_extra_args(false);
      sub->add_option("--role", role)->check(CLI::IsMember({"client", "server", "both"}));
      sub->add_option("--queue", queue)->check(CLI::Range(1, 10));
    }
    app.get_subcommand("start")->add_flag("--detach", detach);
    app.add_subcommand("list", "");
    app.add_subcommand("stop", "")->add_option("session", session);
  }

  std::string Check(std::vector<const char*> args) {
    args.insert(args.begin(), "httptracectl");
    return CheckArguments(app, static_cast<int>(args.size()), args.data());
  }
};

TEST(CheckArguments, AcceptsWhatIsRight) {
  Line line;
  EXPECT_EQ(line.Check({"start", "--port", "80", "--port=443", "--agent", "a", "--detach"}), "");
  EXPECT_EQ(line.Check({"--agent", "a", "list"}), "");
  EXPECT_EQ(line.Check({"stop", "1a2b"}), "");
  EXPECT_EQ(line.Check({"start", "--help"}), "");
}

TEST(CheckArguments, NamesTheMistakeAsTheUserMadeIt) {
  struct Case {
    std::vector<const char*> args;
    std::string want;
  };
  const Case cases[] = {
      {{"list", "--port", "80"}, "--port is a flag of start and top, not list"},
      {{"--port", "80", "list"}, "--port is a flag of start and top: put it after the command"},
      {{"start", "--role", "server", "--role", "client"},
       "--role takes one value: client, server or both"},
      {{"strat"}, "unknown command \"strat\"; did you mean start?"},
      {{"frobnicate"}, "unknown command \"frobnicate\" (want start, top, list and stop)"},
      {{"start", "--prot", "80"}, "unknown flag --prot for start; did you mean --port?"},
      {{"start", "--zzzzzzzz"}, "unknown flag --zzzzzzzz for start"},
      {{"start", "--detach=yes"}, "--detach takes no value"},
      {{"start", "--role"}, "--role needs a value: client, server or both"},
      {{"list", "extra"}, "list takes no argument (\"extra\" given)"},
      {{"stop", "a", "b"}, "stop: one argument too many: \"b\""},
  };
  for (const Case& c : cases) {
    Line line;
    EXPECT_EQ(line.Check(c.args), c.want) << c.args[0];
  }
}

TEST(Translate, RewordsCli11sValueErrors) {
  Line line;
  const char* role[] = {"httptracectl", "start", "--role", "boss"};
  try {
    line.app.parse(4, role);
    FAIL() << "parsed";
  } catch (const CLI::ParseError& e) {
    EXPECT_EQ(Translate(e), "--role boss: want client, server or both");
  }
  Line other;
  const char* queue[] = {"httptracectl", "start", "--queue", "0"};
  try {
    other.app.parse(4, queue);
    FAIL() << "parsed";
  } catch (const CLI::ParseError& e) {
    EXPECT_EQ(Translate(e), "--queue 0: want 1 to 10");
  }
}

TEST(NearestName, OnlyNamesThatAreClose) {
  EXPECT_EQ(NearestName("stauts", {"start", "status", "stop"}), "status");
  EXPECT_EQ(NearestName("xyz", {"start", "status", "stop"}), "");
}

}  // namespace
}  // namespace httptrace::cli
