#include "cli/args.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace trainyard::cli {
namespace {

TEST(DidYouMean, NamesTheClosestCommand) {
  const std::vector<std::string> run = {"list", "show", "logs", "download", "submit", "cancel"};
  EXPECT_EQ(DidYouMean("lsit", run), "list");  // two letters swapped
  EXPECT_EQ(DidYouMean("lst", run), "list");   // one missing
  EXPECT_EQ(DidYouMean("shwo", run), "show");
  EXPECT_EQ(DidYouMean("downlaod", run), "download");
  EXPECT_EQ(DidYouMean("sub", run), "submit");   // a prefix
  EXPECT_EQ(DidYouMean("frobnicate", run), "");  // nothing close
  EXPECT_EQ(DidYouMean("rn", {"run", "model", "env"}), "run");
}

TEST(RequireSubcommand, NamesTheTypoAndTheChoices) {
  EXPECT_NO_THROW(RequireSubcommand("run", "list", {"list", "show"}));
  try {
    RequireSubcommand("run", "lsit", {"list", "show"});
    FAIL() << "no error";
  } catch (const InvalidInput& e) {
    EXPECT_STREQ(e.what(), "unknown run command 'lsit'; did you mean 'list'? (use list, show)");
  }
  try {
    RequireSubcommand("", "rnu", {"run", "env"});
    FAIL() << "no error";
  } catch (const InvalidInput& e) {
    EXPECT_STREQ(e.what(), "unknown command 'rnu'; did you mean 'run'? (commands: run, env)");
  }
}

}  // namespace
}  // namespace trainyard::cli
