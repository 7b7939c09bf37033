#include "common/utf8.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace trainyard {
namespace {

TEST(Utf8, ValidAndInvalidSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

TEST(Utf8, EscapeKeepsValidTextAndEscapesBadBytes) {
  EXPECT_EQ(EscapeInvalidUtf8("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(EscapeInvalidUtf8("a\xff"
                              "b\xc3"),
            "a\\xffb\\xc3");
}

// An error message that echoes invalid UTF-8 must still serialize as JSON (the HTTP layer
// dumps it; before, dump() threw and the client got an empty reply).
TEST(Utf8, ErrorMessagesAreAlwaysValidUtf8) {
  InvalidInput e("invalid experiment name '\xff\xfe'");
  EXPECT_STREQ(e.what(), "invalid experiment name '\\xff\\xfe'");
  nlohmann::json j = {{"error", {{"message", e.what()}}}};
  EXPECT_NO_THROW(j.dump());
}

}  // namespace
}  // namespace trainyard
