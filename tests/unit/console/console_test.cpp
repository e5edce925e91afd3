// rule OPS-4: the console's command language — what the shell completes and explains is exactly
// what the daemon accepts, bad arguments never reach the daemon, and each command needs the
// role the table says.
#include <gtest/gtest.h>

#include <algorithm>

#include "seegw/console/commands.hpp"

namespace seegw::console {
namespace {

std::vector<std::string> words(std::string_view line) { return split_words(line).value(); }

TEST(ConsoleWords, QuotesGroupAndBackslashEscapes) {
  EXPECT_EQ(words("  show   queue "), (std::vector<std::string>{"show", "queue"}));
  EXPECT_EQ(words(R"(key csr dca a@b.nz "Agency A DCA")"),
            (std::vector<std::string>{"key", "csr", "dca", "a@b.nz", "Agency A DCA"}));
  EXPECT_EQ(words(R"(a\ b "")"), (std::vector<std::string>{"a b", ""}));
  EXPECT_FALSE(split_words("show \"queue").has_value());
  EXPECT_FALSE(split_words("show \\").has_value());
}

TEST(ConsoleParse, EveryCommandInTheTableParsesWithItsRequiredArguments) {
  for (const auto& c : commands()) {
    std::vector<std::string> w(c.words.begin(), c.words.end());
    for (const auto& a : c.args) {
      if (a.optional) break;
      switch (a.kind) {
        case ArgKind::queue_id:
          w.push_back("0123456789ABCD");
          break;
        case ArgKind::domain:
          w.push_back("agency-c.govt.nz");
          break;
        case ArgKind::match:
          w.push_back("someone@partner.example.org");
          break;
        case ArgKind::label:
          w.push_back("dca");
          break;
        case ArgKind::key_type:
          w.push_back("rsa:3072");
          break;
        case ArgKind::dkim_key:
          w.push_back("ed25519");
          break;
        case ArgKind::email:
          w.push_back("dca@agency-a.govt.nz");
          break;
        case ArgKind::count:
          w.push_back("5");
          break;
        case ArgKind::text:
        case ArgKind::file:
        case ArgKind::bundle:
          w.push_back("x");
          break;
      }
    }
    auto p = parse_command(w);
    ASSERT_TRUE(p.has_value()) << p.error().message;
    EXPECT_EQ(p->spec, &c);
  }
}

TEST(ConsoleParse, BadArgumentsAreRefusedWithTheReason) {
  auto e = parse_command(words("queue release ../../etc/passwd"));
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("not a queue ID"), std::string::npos);
  EXPECT_FALSE(parse_command(words("trusted add bad/name")).has_value());
  EXPECT_FALSE(parse_command(words("ping agency-c.govt.nz@x")).has_value());
  EXPECT_FALSE(parse_command(words("key generate dca dsa:1024")).has_value());
  EXPECT_FALSE(parse_command(words("show log 0")).has_value());
  EXPECT_FALSE(parse_command(words("show log many")).has_value());
  EXPECT_FALSE(parse_command(words("show queue extra")).has_value());
  EXPECT_FALSE(parse_command(words("queue release")).has_value());
  EXPECT_TRUE(parse_command(words("show log 20")).has_value());
  EXPECT_TRUE(parse_command(words("key generate spare ec:P-384")).has_value());
}

TEST(ConsoleParse, UnknownAndIncompleteCommandsSayWhatWouldFit) {
  auto unknown = parse_command(words("frobnicate"));
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message.find("unknown command 'frobnicate'"), std::string::npos);
  auto wrong = parse_command(words("queue frob 1"));
  ASSERT_FALSE(wrong.has_value());
  EXPECT_NE(wrong.error().message.find("after 'queue' comes one of: delete, explain, release, "
                                       "requeue"),
            std::string::npos);
  auto incomplete = parse_command(words("show"));
  ASSERT_FALSE(incomplete.has_value());
  EXPECT_NE(incomplete.error().message.find("incomplete command"), std::string::npos);
}

TEST(ConsoleCompletion, FollowsTheTable) {
  EXPECT_EQ(completions({}, "sh"), (std::vector<std::string>{"show"}));
  EXPECT_EQ(completions({"queue"}, "re"), (std::vector<std::string>{"release", "requeue"}));
  EXPECT_EQ(completions({"show"}, "c"), (std::vector<std::string>{"certificates", "crl"}));
  EXPECT_TRUE(completions({"show", "queue"}, "").empty());
  EXPECT_TRUE(completions({"nothing"}, "").empty());
  auto top = completions({}, "");
  EXPECT_TRUE(std::is_sorted(top.begin(), top.end()));
  EXPECT_EQ(std::adjacent_find(top.begin(), top.end()), top.end());
}

TEST(ConsoleHelp, ListsWhatContinuesTheLineAndFits80Columns) {
  auto all = help_lines({});
  EXPECT_EQ(all.size(), commands().size());
  for (const auto& l : all) EXPECT_LE(l.size(), 80u) << l;
  auto key = help_lines({"key"});
  EXPECT_EQ(key.size(), 7u);
  auto inside = help_lines({"queue", "release"});
  ASSERT_EQ(inside.size(), 1u);
  EXPECT_NE(inside[0].find("queue release ID"), std::string::npos);
}

TEST(ConsoleRoles, ChangesNeedMoreThanLooking) {
  for (const auto& c : commands()) {
    if (c.words[0] == "show" || c.words[0] == "monitor") {
      EXPECT_EQ(c.role, Role::auditor);
    }
    if ((c.words[0] == "trusted" || c.words[0] == "key") && c.words[1] != "list") {
      EXPECT_EQ(c.role, Role::admin) << c.help;
    }
  }
  EXPECT_EQ(parse_command(words("queue release 0123456789ABCD"))->spec->role, Role::operator_);
}

}  // namespace
}  // namespace seegw::console
