// Unit tests for the pure helpers the command handlers share.
#include <gtest/gtest.h>

#include "server/commands.h"

namespace dynakv::server {
namespace {

TEST(CommandHelpers, ParseInt64MatchesRedis) {
  int64_t v;
  EXPECT_TRUE(ParseInt64("0", &v) && v == 0);
  EXPECT_TRUE(ParseInt64("-9223372036854775808", &v) && v == INT64_MIN);
  EXPECT_TRUE(ParseInt64("9223372036854775807", &v) && v == INT64_MAX);
  EXPECT_FALSE(ParseInt64("9223372036854775808", &v));
  EXPECT_FALSE(ParseInt64("01", &v));
  EXPECT_FALSE(ParseInt64("", &v));
  EXPECT_FALSE(ParseInt64("-", &v));
  EXPECT_FALSE(ParseInt64(" 1", &v));
  EXPECT_FALSE(ParseInt64("1.0", &v));
  EXPECT_FALSE(ParseInt64("-0", &v));  // string2ll refuses it, so Redis does
  EXPECT_FALSE(ParseInt64("+1", &v));
}

TEST(CommandHelpers, GlobMatchesLikeRedis) {
  EXPECT_TRUE(StringMatch("*", "anything"));
  EXPECT_TRUE(StringMatch("user:*", "user:42"));
  EXPECT_FALSE(StringMatch("user:*", "usr:42"));
  EXPECT_TRUE(StringMatch("h?llo", "hello"));
  EXPECT_TRUE(StringMatch("h[ae]llo", "hallo"));
  EXPECT_FALSE(StringMatch("h[^e]llo", "hello"));
  EXPECT_TRUE(StringMatch("h[a-c]llo", "hbllo"));
  EXPECT_TRUE(StringMatch("a\\*b", "a*b"));
  EXPECT_FALSE(StringMatch("a\\*b", "aXb"));
  EXPECT_TRUE(StringMatch("HELLO", "hello", true));
  EXPECT_TRUE(StringMatch("*a*b*c*", "xxaxxbxxcxx"));
}

TEST(CommandHelpers, FormatDoubleLikeIncrbyfloat) {
  EXPECT_EQ(FormatLongDouble(10.5), "10.5");
  EXPECT_EQ(FormatLongDouble(3.0), "3");
  EXPECT_EQ(FormatLongDouble(-0.0), "0");
  EXPECT_EQ(FormatLongDouble(5.0e3), "5000");
  EXPECT_EQ(FormatLongDouble(10.5L + 0.1L), "10.6");
  // Huge values print every digit (the old fixed buffer would have been overrun).
  std::string big = FormatLongDouble(1e300L);
  EXPECT_EQ(big.size(), 301u);
  EXPECT_EQ(big.substr(0, 1), "1");
}

TEST(CommandTable, LookupIsCaseInsensitiveAndComplete) {
  for (const char* name : {"get", "GET", "Set", "dget", "DPUT", "ddel", "dynamo", "scan", "hello", "incrbyfloat"}) {
    EXPECT_NE(LookupCommand(name), nullptr) << name;
  }
  EXPECT_EQ(LookupCommand("nosuchcommand"), nullptr);
  EXPECT_EQ(LookupCommand(std::string(100, 'x')), nullptr);
  const CommandSpec* set = LookupCommand("set");
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->arity, -3);
  EXPECT_TRUE(set->flags & kCmdWrite);
}

TEST(CommandTable, ErrorTextMapsStatusCodes) {
  EXPECT_EQ(ErrorText(Status::Unavailable("only 1 of 2 replicas answered")),
            "UNAVAILABLE only 1 of 2 replicas answered");
  EXPECT_EQ(ErrorText(Status::Invalid("invalid context")), "ERR invalid context");
  EXPECT_EQ(ErrorText(Status::Invalid("WRONGTYPE Operation against a key")), "WRONGTYPE Operation against a key");
  EXPECT_EQ(ErrorText(Status::NoSpace("map full")).rfind("ERR disk full", 0), 0u);
}

}  // namespace
}  // namespace dynakv::server
