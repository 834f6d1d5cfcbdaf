// Unit tests for protocol/resp.h: the RESP parser fragment by fragment, encode/parse round
// trips, every error text, limits, big values, random garbage, and byte-exact writer output.
#include "protocol/resp.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace dynakv::protocol {
namespace {

using Args = std::vector<std::string>;

// Everything a parser produced from a stream: the commands, how it ended, the error text.
struct Outcome {
  std::vector<Args> commands;
  ParseStatus status = ParseStatus::kNeedMore;
  std::string error;

  bool operator==(const Outcome& o) const {
    return commands == o.commands && status == o.status && error == o.error;
  }
};

std::string Show(const Outcome& o) {
  std::string s = "status=" + std::to_string(static_cast<int>(o.status)) + " error='" +
                  o.error + "' commands=" + std::to_string(o.commands.size());
  return s;
}

// Feeds the fragments in order, re-calling Parse on the rest after each kOk, and checks the
// contract on every call: consumed <= len, kNeedMore consumes everything, kOk gives args.
Outcome FeedChunks(const std::vector<std::string_view>& chunks, RespLimits limits = {}) {
  RespParser p(limits);
  Outcome out;
  Args args;
  for (std::string_view chunk : chunks) {
    size_t off = 0;
    for (;;) {
      size_t consumed = 12345678;
      ParseStatus st = p.Parse(chunk.data() + off, chunk.size() - off, &consumed, &args);
      EXPECT_LE(consumed, chunk.size() - off);
      if (st == ParseStatus::kOk) {
        EXPECT_FALSE(args.empty());
        out.commands.push_back(args);
        off += consumed;
        continue;
      }
      if (st == ParseStatus::kNeedMore) {
        EXPECT_EQ(consumed, chunk.size() - off);
        out.status = st;
        break;
      }
      out.status = st;
      out.error = p.error();
      EXPECT_FALSE(out.error.empty());
      return out;
    }
  }
  return out;
}

Outcome ParseWhole(std::string_view s, RespLimits limits = {}) {
  return FeedChunks({s}, limits);
}

Outcome ParseBytewise(std::string_view s, RespLimits limits = {}) {
  std::vector<std::string_view> chunks;
  for (size_t i = 0; i < s.size(); ++i) chunks.push_back(s.substr(i, 1));
  return FeedChunks(chunks, limits);
}

Outcome ParseRandomSplits(std::string_view s, uint32_t seed, RespLimits limits = {}) {
  std::mt19937 rng(seed);
  std::vector<std::string_view> chunks;
  size_t i = 0;
  while (i < s.size()) {
    // Mostly small pieces (to hit every boundary), sometimes large ones, sometimes empty.
    size_t n;
    switch (rng() % 4) {
      case 0: n = rng() % 3; break;
      case 1: n = 1 + rng() % 8; break;
      case 2: n = 1 + rng() % 64; break;
      default: n = 1 + rng() % (s.size() + 1); break;
    }
    n = std::min(n, s.size() - i);
    chunks.push_back(s.substr(i, n));
    i += n;
  }
  return FeedChunks(chunks, limits);
}

// A string literal with embedded NULs, sized by the compiler rather than by hand.
template <size_t N>
std::string Bin(const char (&s)[N]) {
  return std::string(s, N - 1);
}

Args A(std::initializer_list<const char*> l) {
  Args a;
  for (const char* s : l) a.emplace_back(s);
  return a;
}

// ---- Basics ----

TEST(RespParser, MultibulkWhole) {
  Outcome o = ParseWhole("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n");
  ASSERT_EQ(o.commands.size(), 1u);
  EXPECT_EQ(o.commands[0], A({"SET", "k", "hello"}));
  EXPECT_EQ(o.status, ParseStatus::kNeedMore);
}

TEST(RespParser, ConsumedStopsAfterOneCommand) {
  std::string s = "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
  RespParser p;
  Args args;
  size_t consumed = 0;
  ASSERT_EQ(p.Parse(s.data(), s.size(), &consumed, &args), ParseStatus::kOk);
  EXPECT_EQ(consumed, 14u);
  EXPECT_EQ(args, A({"PING"}));
  ASSERT_EQ(p.Parse(s.data() + 14, s.size() - 14, &consumed, &args), ParseStatus::kOk);
  EXPECT_EQ(consumed, s.size() - 14);
  EXPECT_EQ(args, A({"GET", "k"}));
  ASSERT_EQ(p.Parse(s.data() + s.size(), 0, &consumed, &args), ParseStatus::kNeedMore);
  EXPECT_EQ(consumed, 0u);
}

TEST(RespParser, EmptyBulkAndBinary) {
  std::string s = Bin("*3\r\n$0\r\n\r\n$4\r\n\0\r\n\n\r\n$2\r\n\r\n\r\n");
  Outcome o = ParseWhole(s);
  ASSERT_EQ(o.commands.size(), 1u);
  EXPECT_EQ(o.commands[0], (Args{"", Bin("\0\r\n\n"), "\r\n"}));
}

TEST(RespParser, ZeroAndNegativeMultibulkProduceNothing) {
  Outcome o = ParseWhole("*0\r\n*-1\r\n*-7\r\n*1\r\n$4\r\nPING\r\n*0\r\n");
  ASSERT_EQ(o.commands.size(), 1u);
  EXPECT_EQ(o.commands[0], A({"PING"}));
  EXPECT_EQ(o.status, ParseStatus::kNeedMore);
}

TEST(RespParser, Pipelined) {
  std::string s;
  std::vector<Args> want;
  for (int i = 0; i < 100; ++i) {
    Args a = {"SET", "key:" + std::to_string(i), std::string(i, 'v')};
    s += EncodeCommand(a);
    want.push_back(a);
    if (i % 10 == 0) {
      s += "PING\r\n";
      want.push_back({"PING"});
    }
  }
  Outcome o = ParseWhole(s);
  EXPECT_EQ(o.commands, want);
  EXPECT_EQ(o.status, ParseStatus::kNeedMore);
}

TEST(RespParser, ArgsVectorIsReplacedAndReusable) {
  RespParser p;
  Args args = {"stale", "junk", "more", "x"};
  std::string s = EncodeCommand({"A", "B"}) + EncodeCommand({"C"}) + "D E F\r\n";
  size_t off = 0, consumed = 0;
  std::vector<Args> got;
  while (p.Parse(s.data() + off, s.size() - off, &consumed, &args) == ParseStatus::kOk) {
    got.push_back(args);
    off += consumed;
    args.push_back("caller may scribble");  // the parser must not care
  }
  EXPECT_EQ(got, (std::vector<Args>{A({"A", "B"}), A({"C"}), A({"D", "E", "F"})}));
}

// ---- Inline ----

TEST(RespParser, InlineBasics) {
  EXPECT_EQ(ParseWhole("GET k\r\n").commands, (std::vector<Args>{A({"GET", "k"})}));
  EXPECT_EQ(ParseWhole("GET k\n").commands, (std::vector<Args>{A({"GET", "k"})}));
  EXPECT_EQ(ParseWhole("  SET   a \t b  \r\n").commands,
            (std::vector<Args>{A({"SET", "a", "b"})}));
  // Empty and blank lines are consumed silently.
  Outcome o = ParseWhole("\r\n\n   \r\nPING\r\n\r\n");
  EXPECT_EQ(o.commands, (std::vector<Args>{A({"PING"})}));
  EXPECT_EQ(o.status, ParseStatus::kNeedMore);
  // Incomplete line waits.
  o = ParseWhole("GET k");
  EXPECT_TRUE(o.commands.empty());
  EXPECT_EQ(o.status, ParseStatus::kNeedMore);
}

TEST(RespParser, InlineQuoting) {
  struct Case {
    std::string in;
    Args want;
  } cases[] = {
      {"SET k \"hello world\"\r\n", {"SET", "k", "hello world"}},
      {"SET k 'hello world'\r\n", {"SET", "k", "hello world"}},
      {"SET k \"a\\nb\\rc\\td\\be\\af\"\r\n", {"SET", "k", "a\nb\rc\td\be\af"}},
      {"SET k \"\\x41\\x7a\\x00\\xFf\"\r\n", {"SET", "k", Bin("Az\0\xff")}},
      {"SET k \"\\xZZ\"\r\n", {"SET", "k", "xZZ"}},       // not hex: backslash drops
      {"SET k \"\\\"q\\\\\"\r\n", {"SET", "k", "\"q\\"}},  // \" and \\ escapes
      {"SET k 'it\\'s'\r\n", {"SET", "k", "it's"}},
      {"SET k 'a\\nb'\r\n", {"SET", "k", "a\\nb"}},         // no escapes in single quotes
      {"SET k \"\"\r\n", {"SET", "k", ""}},
      {"SET k ''\r\n", {"SET", "k", ""}},
      {"SET k ab\"c d\"\r\n", {"SET", "k", "abc d"}},      // quote opens mid-token
      {"SET k a\vb\r\n", {"SET", "k", "a\vb"}},            // \v separates nothing mid-token
      {"SET k \"x\"\t\r\n", {"SET", "k", "x"}},
      {"A\rB\r\n", {"A", "B"}},                            // inner \r is a separator
      {Bin("A B\0C D\r\n"), {"A", "B"}},        // NUL ends the line (C string)
  };
  for (const Case& c : cases) {
    Outcome o = ParseWhole(c.in);
    ASSERT_EQ(o.commands.size(), 1u) << c.in << " " << Show(o);
    EXPECT_EQ(o.commands[0], c.want) << c.in;
  }
}

TEST(RespParser, InlineUnbalancedQuotes) {
  for (std::string in : std::vector<std::string>{"SET k \"abc\r\n", "SET k 'abc\r\n", "SET k \"abc\"def\r\n",
                         "SET k 'abc'def\r\n", "SET k \"abc\\\"\r\n",
                         Bin("SET k \"a\0b\"\r\n")}) {
    Outcome o = ParseWhole(in);
    EXPECT_EQ(o.status, ParseStatus::kBadInline) << in;
    EXPECT_EQ(o.error, "Protocol error: unbalanced quotes in request") << in;
    EXPECT_TRUE(o.commands.empty());
  }
}

// ---- Errors, with Redis's exact texts ----

TEST(RespParser, ErrorTexts) {
  struct Case {
    std::string in;
    ParseStatus status;
    std::string error;
  } cases[] = {
      {"*abc\r\n", ParseStatus::kBadMultibulk, "Protocol error: invalid multibulk length"},
      {"*\r\n", ParseStatus::kBadMultibulk, "Protocol error: invalid multibulk length"},
      {"*+1\r\n", ParseStatus::kBadMultibulk, "Protocol error: invalid multibulk length"},
      {"*01\r\n", ParseStatus::kBadMultibulk, "Protocol error: invalid multibulk length"},
      {"*-0\r\n", ParseStatus::kBadMultibulk, "Protocol error: invalid multibulk length"},
      {"* 1\r\n", ParseStatus::kBadMultibulk, "Protocol error: invalid multibulk length"},
      {"*1 \r\n", ParseStatus::kBadMultibulk, "Protocol error: invalid multibulk length"},
      {"*1\n", ParseStatus::kBadMultibulk, "Protocol error: invalid multibulk length"},
      {"*2147483648\r\n", ParseStatus::kBadMultibulk,
       "Protocol error: invalid multibulk length"},
      {"*99999999999999999999\r\n", ParseStatus::kBadMultibulk,
       "Protocol error: invalid multibulk length"},
      {"*1\r\n$-1\r\n", ParseStatus::kBadBulk, "Protocol error: invalid bulk length"},
      {"*1\r\n$x\r\n", ParseStatus::kBadBulk, "Protocol error: invalid bulk length"},
      {"*1\r\n$\r\n", ParseStatus::kBadBulk, "Protocol error: invalid bulk length"},
      {"*1\r\n$03\r\n", ParseStatus::kBadBulk, "Protocol error: invalid bulk length"},
      {"*1\r\n$536870913\r\n", ParseStatus::kBadBulk, "Protocol error: invalid bulk length"},
      {"*1\r\n$9223372036854775808\r\n", ParseStatus::kBadBulk,
       "Protocol error: invalid bulk length"},
      {"*1\r\n:1\r\n", ParseStatus::kExpectedDollar, "Protocol error: expected '$', got ':'"},
      {"*2\r\n$3\r\nGET\r\nk\r\n", ParseStatus::kExpectedDollar,
       "Protocol error: expected '$', got 'k'"},
      {"*1\r\n\r\n", ParseStatus::kExpectedDollar, "Protocol error: expected '$', got ' '"},
      {"*1\r\n\n", ParseStatus::kExpectedDollar, "Protocol error: expected '$', got ' '"},
      {"*1\r\n$3\r\nGETX\r\n", ParseStatus::kBadFormat,
       "Protocol error: bulk data not terminated by CRLF"},
      {"*1\r\n$3\r\nGET\rX", ParseStatus::kBadFormat,
       "Protocol error: bulk data not terminated by CRLF"},
      {"GET \"k\r\n", ParseStatus::kBadInline, "Protocol error: unbalanced quotes in request"},
  };
  for (const Case& c : cases) {
    Outcome o = ParseWhole(c.in);
    EXPECT_EQ(o.status, c.status) << c.in;
    EXPECT_EQ(o.error, c.error) << c.in;
    // And the same verdict whatever the fragmentation.
    EXPECT_EQ(ParseBytewise(c.in), o) << c.in;
  }
}

TEST(RespParser, ErrorIsStickyUntilReset) {
  RespParser p;
  Args args;
  size_t consumed = 0;
  std::string bad = "*x\r\n";
  ASSERT_EQ(p.Parse(bad.data(), bad.size(), &consumed, &args), ParseStatus::kBadMultibulk);
  EXPECT_LE(consumed, bad.size());
  std::string good = "PING\r\n";
  EXPECT_EQ(p.Parse(good.data(), good.size(), &consumed, &args), ParseStatus::kBadMultibulk);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(p.error(), "Protocol error: invalid multibulk length");
  p.Reset();
  EXPECT_TRUE(p.error().empty());
  ASSERT_EQ(p.Parse(good.data(), good.size(), &consumed, &args), ParseStatus::kOk);
  EXPECT_EQ(args, A({"PING"}));
}

TEST(RespParser, ResetDropsPartialCommand) {
  RespParser p;
  Args args;
  size_t consumed = 0;
  std::string part = "*2\r\n$3\r\nGET\r\n$10\r\nabc";
  ASSERT_EQ(p.Parse(part.data(), part.size(), &consumed, &args), ParseStatus::kNeedMore);
  p.Reset();
  std::string good = "*1\r\n$4\r\nPING\r\n";
  ASSERT_EQ(p.Parse(good.data(), good.size(), &consumed, &args), ParseStatus::kOk);
  EXPECT_EQ(args, A({"PING"}));
}

// ---- Limits ----

TEST(RespParser, BulkLengthLimit) {
  RespLimits lim;
  lim.max_bulk_len = 10;
  Outcome ok = ParseWhole("*1\r\n$10\r\n0123456789\r\n", lim);
  ASSERT_EQ(ok.commands.size(), 1u);
  Outcome bad = ParseWhole("*1\r\n$11\r\n01234567890\r\n", lim);
  EXPECT_EQ(bad.status, ParseStatus::kBadBulk);
  EXPECT_EQ(bad.error, "Protocol error: invalid bulk length");
  // Default limit is 512MB (proto_max_bulk_len).
  EXPECT_EQ(ParseWhole("*1\r\n$536870912\r\n").status, ParseStatus::kNeedMore);
  EXPECT_EQ(ParseWhole("*1\r\n$536870913\r\n").status, ParseStatus::kBadBulk);
}

TEST(RespParser, ArgCountLimit) {
  RespLimits lim;
  lim.max_args = 3;
  EXPECT_EQ(ParseWhole("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", lim).commands.size(), 1u);
  Outcome bad = ParseWhole("*4\r\n", lim);
  EXPECT_EQ(bad.status, ParseStatus::kBadMultibulk);
  EXPECT_EQ(bad.error, "Protocol error: invalid multibulk length");
  // Default: 1M args allowed, one more is not.
  EXPECT_EQ(ParseWhole("*1048576\r\n").status, ParseStatus::kNeedMore);
  EXPECT_EQ(ParseWhole("*1048577\r\n").status, ParseStatus::kBadMultibulk);
}

TEST(RespParser, InlineLengthLimit) {
  RespLimits lim;
  lim.max_inline_len = 16;
  std::string at_limit = std::string(16, 'a') + "\r\n";
  EXPECT_EQ(ParseWhole(at_limit, lim).commands.size(), 1u);
  EXPECT_EQ(ParseBytewise(at_limit, lim).commands.size(), 1u);
  std::string over = std::string(17, 'a') + "\r\n";
  for (const Outcome& o : {ParseWhole(over, lim), ParseBytewise(over, lim)}) {
    EXPECT_EQ(o.status, ParseStatus::kBadInline);
    EXPECT_EQ(o.error, "Protocol error: too big inline request");
  }
  // No newline at all: rejected once the bytes exceed the limit, not buffered forever.
  Outcome o = ParseWhole(std::string(17, 'a'), lim);
  EXPECT_EQ(o.status, ParseStatus::kBadInline);
  // Default 64KB, never unbounded.
  o = ParseWhole(std::string(64 * 1024 + 1, 'a'));
  EXPECT_EQ(o.error, "Protocol error: too big inline request");
  EXPECT_EQ(ParseWhole(std::string(64 * 1024, 'a')).status, ParseStatus::kNeedMore);
}

TEST(RespParser, HeaderLineLimit) {
  // A "*" or "$" line without CRLF is cut off at 64KB (Redis's PROTO_INLINE_MAX_SIZE).
  std::string mb = "*" + std::string(70 * 1024, '1');
  for (const Outcome& o : {ParseWhole(mb), ParseRandomSplits(mb, 7)}) {
    EXPECT_EQ(o.status, ParseStatus::kBadMultibulk);
    EXPECT_EQ(o.error, "Protocol error: too big mbulk count string");
  }
  std::string b = "*1\r\n$" + std::string(70 * 1024, '1');
  for (const Outcome& o : {ParseWhole(b), ParseRandomSplits(b, 7)}) {
    EXPECT_EQ(o.status, ParseStatus::kBadBulk);
    EXPECT_EQ(o.error, "Protocol error: too big bulk count string");
  }
}

TEST(RespParser, HugeDeclaredBulkDoesNotPreallocate) {
  // 512MB declared, a few bytes sent. glibc serves big blocks with mmap, so hblkhd shows
  // what the parser reserved: about 1MB, not 512MB.
  size_t before = mallinfo2().hblkhd;
  RespParser p;
  Args args;
  size_t consumed = 0;
  std::string s = "*1\r\n$536870912\r\nabc";
  ASSERT_EQ(p.Parse(s.data(), s.size(), &consumed, &args), ParseStatus::kNeedMore);
  size_t after = mallinfo2().hblkhd;
  EXPECT_LT(after - std::min(after, before), 2u * 1024 * 1024);
  // As data arrives the buffer grows with it, still far below the declared size.
  std::string more(3 * 1024 * 1024, 'x');
  ASSERT_EQ(p.Parse(more.data(), more.size(), &consumed, &args), ParseStatus::kNeedMore);
  after = mallinfo2().hblkhd;
  EXPECT_LT(after - std::min(after, before), 16u * 1024 * 1024);
  // Reset frees the way for a new command; no giant buffer lingers in later results.
  p.Reset();
  std::string t = EncodeCommand({"x"});
  ASSERT_EQ(p.Parse(t.data(), t.size(), &consumed, &args), ParseStatus::kOk);
  EXPECT_LE(args[0].capacity(), 64u * 1024);
}

TEST(RespParser, BulkBufferGrowsOnlyWithData) {
  // A 10MB declared value sent in full grows to exactly 10MB plus the 4KB of room a big
  // argument gets (for a header put in front of it in place); never to 2x.
  const size_t n = 10 * 1024 * 1024 + 17;
  std::string s = "*1\r\n$" + std::to_string(n) + "\r\n" + std::string(n, 'z') + "\r\n";
  RespParser p;
  Args args;
  size_t consumed = 0;
  size_t off = 0;
  ParseStatus st = ParseStatus::kNeedMore;
  while (off < s.size()) {
    size_t chunk = std::min<size_t>(4096, s.size() - off);
    st = p.Parse(s.data() + off, chunk, &consumed, &args);
    off += consumed;
    if (st != ParseStatus::kNeedMore) break;
  }
  ASSERT_EQ(st, ParseStatus::kOk);
  ASSERT_EQ(args[0].size(), n);
  EXPECT_EQ(args[0].capacity(), n + 4096);
}

TEST(RespParser, HundredMegabyteBulkIn64KChunksIsLinear) {
  const size_t n = 100u * 1024 * 1024;
  std::string value(n, '\0');
  std::mt19937 rng(42);
  for (size_t i = 0; i < n; i += 4096) value[i] = static_cast<char>(rng());
  std::string s = EncodeCommand({"SET", "big", value}) + EncodeCommand({"PING"});
  RespParser p;
  Args args;
  std::vector<Args> got;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t off = 0; off < s.size(); off += 64 * 1024) {
    size_t end = std::min(s.size(), off + 64 * 1024);
    size_t at = off;
    for (;;) {
      size_t consumed = 0;
      ParseStatus st = p.Parse(s.data() + at, end - at, &consumed, &args);
      if (st == ParseStatus::kNeedMore) break;
      ASSERT_EQ(st, ParseStatus::kOk);
      got.push_back(std::move(args));
      args.clear();
      at += consumed;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].size(), 3u);
  EXPECT_TRUE(got[0][2] == value);
  EXPECT_EQ(got[1], A({"PING"}));
  std::printf("100MB bulk in 64KB chunks: %.3f s (%.0f MB/s)\n", secs, 100 / secs);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  const double kBudget = 10.0;  // instrumented memcpy; still catches quadratic behaviour
#else
  const double kBudget = 3.0;
#endif
  EXPECT_LT(secs, kBudget);
}

// ---- Fragmentation: any split gives the whole-buffer result ----

std::vector<std::string> Corpus() {
  std::vector<std::string> c = {
      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n",
      "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
      "PING\r\nGET k\r\n\r\n\n  \r\nSET k \"v\\x41 \\n\" 'x\\'y'\r\n",
      "*0\r\n*-1\r\n*1\r\n$0\r\n\r\n",
      Bin("*2\r\n$3\r\n\0\r\n\r\n$2\r\n\r\n\r\n"),
      "*1\r\n$4\r\nPING\r\nGET \"unbalanced\r\nPING\r\n",
      "*1\r\n$4\r\nPING\r\n*x\r\n",
      "*2\r\n$3\r\nGET\r\n:1\r\n",
      "*1\r\n$-5\r\n",
      "*1\r\n$3\r\nabcde",
      "*1\r\n$3\r\nab",
      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$70000\r\n" + std::string(70000, 'x') + "\r\nPING\r\n",
      "*" + std::string(65 * 1024, '9'),
      "*1\r\n$" + std::string(65 * 1024, '9'),
      std::string(65 * 1024, 'a') + "\r\n",
      std::string(64 * 1024, 'a') + "\r\n",
      std::string(64 * 1024, 'a') + "\r\r\n",
      "*1\r\n$" + std::string(65 * 1024, '0') + "\r\n",
      "*1\r\n$4\r\nPING\r\n",
      // Headers the one-pass path (ParseComplete) must leave to the state machine.
      "*02\r\n$1\r\na\r\n$1\r\nb\r\n",
      "*2\r\n$01\r\na\r\n$1\r\nb\r\n",
      "*2\r\n$1\r\na\r\n$\r\nb\r\n",
      "*1\r\n$-0\r\n",
      "*+1\r\n$1\r\na\r\n",
      "*1\r\n$1\na\r\n",
      "*1\r\n$1\r\na\n",
      "*1\r\n$1\r\nab\r\n",
      "*2\r\n$1\r\na\r\n:1\r\n",
      "*1\r\n$1234567890123456789\r\n",
      "*1234567890123456789\r\n",
      "*1\r\n$000000000000000000001\r\na\r\n",
      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n",
      "*1\r\n$2\r\n\r\n\r\n*1\r\n$4\r\nPING\r\n*1\r",
  };
  std::string pipeline;
  for (int i = 0; i < 50; ++i) {
    pipeline += EncodeCommand({"SET", "k" + std::to_string(i), std::string(i * 7, 'a' + i % 26)});
    if (i % 7 == 0) pipeline += "INCR \"c\\x00t\"\r\n";
  }
  c.push_back(pipeline);
  return c;
}

TEST(RespParser, BytewiseEqualsWhole) {
  for (const std::string& s : Corpus()) {
    Outcome whole = ParseWhole(s);
    EXPECT_EQ(ParseBytewise(s), whole) << s.substr(0, 60) << " whole: " << Show(whole);
  }
}

// Limits hold the same in the one-pass path (whole buffer) and the state machine (bytewise).
TEST(RespParser, LimitsSameWholeAndBytewise) {
  RespLimits tight;
  tight.max_bulk_len = 4;
  tight.max_args = 2;
  for (std::string s : {"*2\r\n$4\r\nabcd\r\n$4\r\nefgh\r\n", "*2\r\n$5\r\nabcde\r\n$1\r\na\r\n",
                        "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", "*1\r\n$0\r\n\r\n"}) {
    Outcome whole = ParseWhole(s, tight);
    EXPECT_EQ(ParseBytewise(s, tight), whole) << s << " whole: " << Show(whole);
  }
  EXPECT_EQ(ParseWhole("*2\r\n$4\r\nabcd\r\n$4\r\nefgh\r\n", tight).commands.size(), 1u);
  EXPECT_EQ(ParseWhole("*2\r\n$5\r\nabcde\r\n$1\r\na\r\n", tight).status, ParseStatus::kBadBulk);
  EXPECT_EQ(ParseWhole("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", tight).status,
            ParseStatus::kBadMultibulk);
}

TEST(RespParser, RandomSplitsEqualWhole) {
  for (const std::string& s : Corpus()) {
    Outcome whole = ParseWhole(s);
    for (uint32_t seed = 1; seed <= 200; ++seed) {
      Outcome o = ParseRandomSplits(s, seed);
      ASSERT_EQ(o, whole) << "seed " << seed << " input " << s.substr(0, 60)
                          << " got: " << Show(o) << " want: " << Show(whole);
    }
  }
}

// ---- Encode/parse round trips ----

std::string RandomArg(std::mt19937& rng) {
  static const char kSpecial[] = {'\0', '\r', '\n', '*', '$', '"', '\'', ' ', '\\'};
  size_t len;
  switch (rng() % 4) {
    case 0: len = 0; break;
    case 1: len = rng() % 8; break;
    case 2: len = rng() % 100; break;
    default: len = rng() % 3000; break;
  }
  std::string s(len, '\0');
  for (char& c : s) {
    c = rng() % 3 == 0 ? kSpecial[rng() % sizeof(kSpecial)] : static_cast<char>(rng());
  }
  return s;
}

TEST(RespParser, EncodeParseRoundTrip) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    std::vector<Args> cmds;
    std::string stream;
    int ncmds = 1 + rng() % 8;
    for (int i = 0; i < ncmds; ++i) {
      Args a;
      int nargs = 1 + rng() % 10;
      for (int j = 0; j < nargs; ++j) a.push_back(RandomArg(rng));
      stream += EncodeCommand(a);
      cmds.push_back(std::move(a));
    }
    Outcome whole = ParseWhole(stream);
    ASSERT_EQ(whole.commands, cmds) << "seed " << seed;
    ASSERT_EQ(whole.status, ParseStatus::kNeedMore);
    ASSERT_EQ(ParseRandomSplits(stream, seed), whole) << "seed " << seed;
    if (seed % 20 == 0) {
      ASSERT_EQ(ParseBytewise(stream), whole) << "seed " << seed;
    }
  }
}

// Inline round trip: quote every argument with "\xHH" escapes and parse it back.
TEST(RespParser, InlineQuotedRoundTrip) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    Args a;
    std::string line;
    int nargs = 1 + rng() % 6;
    for (int j = 0; j < nargs; ++j) {
      std::string arg = RandomArg(rng).substr(0, 200);
      a.push_back(arg);
      line += " \"";
      for (unsigned char c : arg) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\x%02x", c);
        line += buf;
      }
      line += "\"";
    }
    line += "\r\n";
    Outcome o = ParseWhole(line);
    ASSERT_EQ(o.commands, std::vector<Args>{a}) << "seed " << seed;
    ASSERT_EQ(ParseRandomSplits(line, seed), o);
  }
}

// ---- Garbage: random and mutated input never crashes and keeps the contract ----

TEST(RespParser, GarbageNeverCrashes) {
  std::vector<std::string> seeds = Corpus();
  const ParseStatus kValid[] = {ParseStatus::kOk,           ParseStatus::kNeedMore,
                                ParseStatus::kBadMultibulk, ParseStatus::kBadBulk,
                                ParseStatus::kExpectedDollar, ParseStatus::kBadInline,
                                ParseStatus::kBadFormat};
  static const char kAlphabet[] = "*$\r\n0123456789-+ \"'\\xabAB\t";
  for (uint32_t iter = 0; iter < 20000; ++iter) {
    std::mt19937 rng(iter);
    std::string in;
    switch (rng() % 3) {
      case 0: {  // pure noise over the protocol's alphabet
        size_t n = rng() % 200;
        for (size_t i = 0; i < n; ++i) in.push_back(kAlphabet[rng() % (sizeof(kAlphabet) - 1)]);
        break;
      }
      case 1: {  // random bytes
        size_t n = rng() % 200;
        for (size_t i = 0; i < n; ++i) in.push_back(static_cast<char>(rng()));
        break;
      }
      default: {  // a mutated valid stream
        in = seeds[rng() % seeds.size()].substr(0, 2000);
        int muts = 1 + rng() % 6;
        for (int m = 0; m < muts && !in.empty(); ++m) {
          size_t at = rng() % in.size();
          switch (rng() % 4) {
            case 0: in[at] = static_cast<char>(rng()); break;
            case 1: in[at] = kAlphabet[rng() % (sizeof(kAlphabet) - 1)]; break;
            case 2: in.erase(at, 1 + rng() % 4); break;
            default: in.insert(at, 1, kAlphabet[rng() % (sizeof(kAlphabet) - 1)]); break;
          }
        }
      }
    }
    RespLimits lim;
    if (iter % 2) {
      lim.max_bulk_len = rng() % 64;
      lim.max_args = rng() % 8;
      lim.max_inline_len = rng() % 32;
    }
    Outcome whole = ParseWhole(in, lim);
    bool valid = false;
    for (ParseStatus v : kValid) valid |= whole.status == v;
    ASSERT_TRUE(valid) << "iter " << iter;
    for (const Args& a : whole.commands) ASSERT_FALSE(a.empty());
    // Fragmentation never changes the verdict, even on garbage.
    ASSERT_EQ(ParseRandomSplits(in, iter, lim), whole) << "iter " << iter;
  }
}

// ---- Throughput (informational; the benchmark suite compares with redis-server) ----

TEST(RespParser, PipelinedThroughput) {
  std::string one = EncodeCommand({"SET", "key:000123", std::string(32, 'v')});
  std::string buf;
  const int kPerBuf = 1000;
  for (int i = 0; i < kPerBuf; ++i) buf += one;
  RespParser p;
  Args args;
  const int kRounds = 500;
  size_t cmds = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < kRounds; ++r) {
    size_t off = 0, consumed = 0;
    while (p.Parse(buf.data() + off, buf.size() - off, &consumed, &args) == ParseStatus::kOk) {
      off += consumed;
      ++cmds;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(cmds, static_cast<size_t>(kPerBuf) * kRounds);
  std::printf("pipelined SET parse: %.1f M cmds/s, %.0f MB/s\n", cmds / secs / 1e6,
              buf.size() * kRounds / secs / 1e6);
}

// ---- Writer: byte-exact output ----

TEST(RespWriter, Resp2) {
  std::string out;
  RespWriter w(&out);
  EXPECT_EQ(w.proto(), 2);
  w.Simple("OK");
  w.Ok();
  w.Error("ERR bad thing");
  w.Int(0);
  w.Int(-42);
  w.Int(std::numeric_limits<int64_t>::min());
  w.Bulk("hello");
  w.Bulk("");
  w.Bulk(std::string_view("a\0\r\n", 4));
  w.Null();
  w.NullArray();
  w.Array(3);
  w.Array(0);
  w.Map(2);
  w.Set(5);
  w.Bool(true);
  w.Bool(false);
  w.Verbatim("some text");
  std::string want = "+OK\r\n+OK\r\n-ERR bad thing\r\n:0\r\n:-42\r\n"
                     ":-9223372036854775808\r\n$5\r\nhello\r\n$0\r\n\r\n$4\r\na";
  want.push_back('\0');
  want += "\r\n\r\n$-1\r\n*-1\r\n*3\r\n*0\r\n*4\r\n*5\r\n:1\r\n:0\r\n$9\r\nsome text\r\n";
  EXPECT_EQ(out, want);
}

TEST(RespWriter, Resp3) {
  std::string out;
  RespWriter w(&out, 3);
  EXPECT_EQ(w.proto(), 3);
  w.Null();
  w.NullArray();
  w.Map(2);
  w.Set(5);
  w.Bool(true);
  w.Bool(false);
  w.Verbatim("some text");
  w.Double(1.5);
  w.Array(1);
  w.Bulk("x");
  w.Int(7);
  EXPECT_EQ(out, "_\r\n_\r\n%2\r\n~5\r\n#t\r\n#f\r\n=13\r\ntxt:some text\r\n,1.5\r\n"
                 "*1\r\n$1\r\nx\r\n:7\r\n");
}

// Pub/sub messages: a push frame on RESP3, a plain array on RESP2 (what Redis 7 sends).
TEST(RespWriter, PushIsAnArrayOnResp2) {
  for (int proto : {2, 3}) {
    std::string out;
    RespWriter w(&out, proto);
    w.Push(3);
    w.Bulk("message");
    w.Bulk("ch");
    w.Bulk("hi");
    EXPECT_EQ(out, std::string(proto == 3 ? ">" : "*") + "3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n");
  }
}

TEST(RespWriter, SetProtoSwitches) {
  std::string out;
  RespWriter w(&out);
  w.Null();
  w.set_proto(3);
  w.Null();
  w.set_proto(2);
  w.Map(1);
  EXPECT_EQ(out, "$-1\r\n_\r\n*2\r\n");
}

// BulkOwned answers exactly what Bulk does, and a big value written first becomes the
// output without a copy: the output then holds the value's own buffer.
TEST(RespWriter, BulkOwnedIsBulkAndTakesABigValuesBuffer) {
  for (size_t n : {size_t(0), size_t(5), RespWriter::kBulkInPlace - 1, RespWriter::kBulkInPlace,
                   size_t(3) << 20}) {
    for (bool preceded : {false, true}) {
      std::string value(n, 'v');
      if (n > 0) value[n / 2] = '\r';
      std::string expect = preceded ? std::string("*2\r\n") : std::string();
      RespWriter(&expect).Bulk(value);
      std::string out = preceded ? std::string("*2\r\n") : std::string();
      // Room for the header and CRLF, as a decoded record's value has: taken in place.
      value.reserve(n + 32);
      const char* buffer = value.data();
      RespWriter(&out).BulkOwned(std::move(value));
      EXPECT_EQ(out, expect) << n << " bytes, preceded " << preceded;
      bool taken = !preceded && n >= RespWriter::kBulkInPlace;
      EXPECT_EQ(out.data() == buffer, taken) << n << " bytes, preceded " << preceded;
    }
  }
  // No spare room: still the same reply (one copy, as Bulk).
  std::string tight(RespWriter::kBulkInPlace, 'x');
  tight.shrink_to_fit();
  std::string expect, out;
  RespWriter(&expect).Bulk(tight);
  RespWriter(&out).BulkOwned(std::move(tight));
  EXPECT_EQ(out, expect);
  // RESP3 frames a bulk string the same way.
  std::string big(RespWriter::kBulkInPlace + 1, 'b'), out3;
  RespWriter(&out3, 3).BulkOwned(std::string(big));
  EXPECT_EQ(out3, "$" + std::to_string(big.size()) + "\r\n" + big + "\r\n");
}

TEST(RespWriter, Doubles) {
  struct Case {
    double d;
    const char* text;
  } cases[] = {
      {0.0, "0"},
      {-0.0, "-0"},
      {1.0, "1"},
      {3.14, "3.14"},
      {0.1, "0.1"},
      {-2.5, "-2.5"},
      {1e300, "1e+300"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {5e-324, "5e-324"},
      {123456789.0, "123456789"},
      {1e16, "10000000000000000"},
      {1e17, "1e+17"},
      {1.5e17, "1.5e+17"},
      {0.0001, "0.0001"},
      {0.00001, "1e-05"},
      {-1.25e-7, "-1.25e-07"},
      {1.0 / 3, "0.3333333333333333"},
      {std::numeric_limits<double>::infinity(), "inf"},
      {-std::numeric_limits<double>::infinity(), "-inf"},
      {std::nan(""), "nan"},
  };
  for (const Case& c : cases) {
    std::string r2, r3;
    RespWriter(&r2, 2).Double(c.d);
    RespWriter(&r3, 3).Double(c.d);
    std::string t = c.text;
    EXPECT_EQ(r2, "$" + std::to_string(t.size()) + "\r\n" + t + "\r\n") << c.text;
    EXPECT_EQ(r3, "," + t + "\r\n") << c.text;
    if (std::isfinite(c.d)) {
      EXPECT_EQ(std::strtod(c.text, nullptr), c.d);  // round trips
    }
  }
}

TEST(RespWriter, StatusAndErrorCannotInjectLines) {
  std::string out;
  RespWriter w(&out);
  w.Simple("a\r\nb");
  w.Error("ERR x\ny\r");
  EXPECT_EQ(out, "+a  b\r\n-ERR x y \r\n");
}

TEST(RespWriter, EncodeCommand) {
  EXPECT_EQ(EncodeCommand({"SET", "k", "v"}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
  EXPECT_EQ(EncodeCommand({}), "*0\r\n");
  EXPECT_EQ(EncodeCommand({""}), "*1\r\n$0\r\n\r\n");
  EXPECT_EQ(EncodeCommand({Bin("\0\r\n")}), Bin("*1\r\n$3\r\n\0\r\n\r\n"));
}

// Replies the writer produces are parseable as bulk-string arrays by our own parser, which
// is how EncodeCommand is used by clients and the cluster framing.
TEST(RespWriter, ArrayOfBulksParsesAsCommand) {
  std::string out;
  RespWriter w(&out);
  w.Array(2);
  w.Bulk("DGET");
  w.Bulk(Bin("k\0"));
  Outcome o = ParseWhole(out);
  ASSERT_EQ(o.commands.size(), 1u);
  EXPECT_EQ(o.commands[0], (Args{"DGET", Bin("k\0")}));
}

// Sorted-set scores are answered as Redis 7.0's addReplyDouble writes them ("%.17g").
TEST(RespWriter, Double17IsRedis70sLayout) {
  struct Case {
    double d;
    const char* text;
  } cases[] = {
      {0.1, "0.10000000000000001"},
      {1.5, "1.5"},
      {3.0, "3"},
      {1e20, "1e+20"},
      {-9.9999999999999995e-08, "-9.9999999999999995e-08"},
      {std::numeric_limits<double>::infinity(), "inf"},
      {-std::numeric_limits<double>::infinity(), "-inf"},
  };
  for (const Case& c : cases) {
    std::string r2, r3;
    RespWriter(&r2, 2).Double17(c.d);
    RespWriter(&r3, 3).Double17(c.d);
    std::string t = c.text;
    EXPECT_EQ(r2, "$" + std::to_string(t.size()) + "\r\n" + t + "\r\n") << c.text;
    EXPECT_EQ(r3, "," + t + "\r\n") << c.text;
  }
}

}  // namespace
}  // namespace dynakv::protocol
