#include "serve/frame.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace trainyard::serve {
namespace {

TEST(FrameTest, EncodesLengthKindPayload) {
  std::string f = EncodeFrame('R', "abc");
  ASSERT_EQ(f.size(), kFrameHeader + 3);
  EXPECT_EQ(f.substr(0, 4), std::string("\0\0\0\3", 4));
  EXPECT_EQ(f[4], 'R');
  EXPECT_EQ(f.substr(5), "abc");
}

TEST(FrameTest, DecoderYieldsFramesSplitAcrossReads) {
  std::string stream =
      EncodeFrame('O', "[1, 2]") + EncodeFrame('I', "") + EncodeFrame('E', std::string(70000, 'x'));
  FrameDecoder d;
  std::vector<Frame> got;
  // Feed one byte at a time: every split point must work.
  for (char c : stream) {
    d.Append(&c, 1);
    while (auto f = d.Next()) got.push_back(std::move(*f));
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].kind, 'O');
  EXPECT_EQ(got[0].payload, "[1, 2]");
  EXPECT_EQ(got[1].kind, 'I');
  EXPECT_EQ(got[1].payload, "");
  EXPECT_EQ(got[2].kind, 'E');
  EXPECT_EQ(got[2].payload.size(), 70000u);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameTest, IncompleteFrameWaitsForMoreBytes) {
  std::string f = EncodeFrame('B', "{\"message\": \"bad\"}");
  FrameDecoder d;
  d.Append(f.data(), f.size() - 1);
  EXPECT_FALSE(d.Next().has_value());
  d.Append(f.data() + f.size() - 1, 1);
  auto got = d.Next();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->payload, "{\"message\": \"bad\"}");
}

TEST(FrameTest, OversizedLengthIsRejected) {
  FrameDecoder d;
  const char header[] = {'\x7f', '\xff', '\xff', '\xff', 'O'};
  d.Append(header, sizeof header);
  EXPECT_THROW(d.Next(), InvalidInput);
}

}  // namespace
}  // namespace trainyard::serve
