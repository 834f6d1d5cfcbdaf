// Unit tests for the pure helpers the command handlers share.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

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

// The reference: the textbook recursive matcher, memoized (pattern tokens x text), so it is
// exact and polynomial. Tokens: literal (escaped or not), '?', '*', a [class].
bool ReferenceMatch(const std::string& p, const std::string& s) {
  std::vector<std::string> tok;
  for (size_t i = 0; i < p.size();) {
    if (p[i] == '\\' && i + 1 < p.size()) {
      tok.push_back(p.substr(i, 2));
      i += 2;
    } else if (p[i] == '[') {
      size_t j = p.find(']', i + 1);
      j = j == std::string::npos ? p.size() : j + 1;
      tok.push_back(p.substr(i, j - i));
      i = j;
    } else {
      tok.push_back(p.substr(i, 1));
      i++;
    }
  }
  std::vector<std::vector<int>> memo(tok.size() + 1, std::vector<int>(s.size() + 1, -1));
  std::function<bool(size_t, size_t)> m = [&](size_t t, size_t i) -> bool {
    if (memo[t][i] >= 0) return memo[t][i] == 1;
    bool r = false;
    if (t == tok.size()) {
      r = i == s.size();
    } else if (tok[t] == "*") {
      r = m(t + 1, i) || (i < s.size() && m(t, i + 1));
    } else if (i < s.size()) {
      r = StringMatch(tok[t], std::string(1, s[i])) && m(t + 1, i + 1);
    }
    memo[t][i] = r ? 1 : 0;
    return r;
  };
  return m(0, 0);
}

TEST(CommandHelpers, GlobAgreesWithAReferenceOnRandomInputs) {
  uint64_t x = 88172645463325252ull;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const char* parts[] = {"a", "b", "*", "?", "[ab]", "[^a]", "\\*", "**"};
  for (int iter = 0; iter < 20000; ++iter) {
    std::string p, s;
    for (size_t n = next() % 7; n > 0; --n) p += parts[next() % 8];
    for (size_t n = next() % 9; n > 0; --n) s += "ab*"[next() % 3];
    ASSERT_EQ(StringMatch(p, s), ReferenceMatch(p, s)) << "pattern '" << p << "' text '" << s << "'";
  }
}

// CVE-2022-36021's pattern: the recursive matcher took minutes on it (the node froze).
// Now it is O(pattern x text); a million-character text still answers at once.
TEST(CommandHelpers, PathologicalGlobIsFast) {
  std::string p;
  for (int i = 0; i < 20; ++i) p += "a*";
  p += "b";
  EXPECT_FALSE(StringMatch(p, std::string(40, 'a')));
  EXPECT_FALSE(StringMatch(p, std::string(100000, 'a')));
  EXPECT_TRUE(StringMatch(p, std::string(100000, 'a') + "b"));
  EXPECT_FALSE(StringMatch("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", std::string(4096, 'a')));
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
