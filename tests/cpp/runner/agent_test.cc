#include "runner/agent.h"

#include <gtest/gtest.h>

namespace trainyard {
namespace {

TEST(ExtractScriptError, FindsTheLastExceptionLine) {
  std::string out =
      "epoch 1\nTraceback (most recent call last):\n  File \"train.py\", line 3, in <module>\n"
      "    raise ValueError('boom')\nValueError: boom\n";
  ScriptError e = ExtractScriptError(out);
  EXPECT_EQ(e.message, "ValueError: boom");
  EXPECT_NE(e.traceback.find("train.py\", line 3"), std::string::npos);
}

TEST(ExtractScriptError, NoTracebackNoMessage) {
  EXPECT_TRUE(ExtractScriptError("exit 3\n").message.empty());
}

}  // namespace
}  // namespace trainyard
