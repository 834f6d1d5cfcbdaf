// Unit tests for protocol/memcache.h: the memcached text + meta parser fed whole, byte at a
// time and in random splits (all must agree), encode/parse round trips, every error text
// (checked against memcached 1.6.18), limits, data-block swallowing, and the value encoder.
#include "protocol/memcache.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace dynakv::protocol {
namespace {

// One parser result: the status, the command (kOk) or the error text.
struct Event {
  McStatus status;
  McCommand cmd;
  std::string error;
  bool operator==(const Event& o) const {
    return status == o.status && cmd == o.cmd && error == o.error;
  }
};

std::string Show(const std::vector<Event>& ev) {
  std::string s;
  for (const auto& e : ev) {
    s += "[" + std::to_string(int(e.status)) + " " + McOpName(e.cmd.op) + " " +
         (e.cmd.keys.empty() ? "" : e.cmd.keys[0]) + " '" + e.error + "']";
  }
  return s;
}

// Feeds the chunks in order and records every non-kNeedMore result, checking the contract:
// consumed <= len and kNeedMore consumes everything.
std::vector<Event> Feed(const std::vector<std::string>& chunks, McLimits limits = {}) {
  McParser p(limits);
  std::vector<Event> out;
  McCommand cmd;
  for (const std::string& chunk : chunks) {
    size_t off = 0;
    for (;;) {
      size_t consumed = 999999999;
      McStatus st = p.Parse(chunk.data() + off, chunk.size() - off, &consumed, &cmd);
      EXPECT_LE(consumed, chunk.size() - off);
      off += consumed;
      if (st == McStatus::kNeedMore) {
        EXPECT_EQ(off, chunk.size());
        break;
      }
      Event e{st, st == McStatus::kOk ? cmd : McCommand{}, st == McStatus::kOk ? "" : p.error()};
      if (st != McStatus::kOk) {
        // What an error reports about the command: op, key and noreply.
        e.cmd.op = cmd.op;
        e.cmd.keys = cmd.keys;
        e.cmd.noreply = cmd.noreply;
      }
      out.push_back(std::move(e));
      if (st == McStatus::kFatal) return out;
    }
  }
  return out;
}

std::vector<Event> Whole(const std::string& s, McLimits l = {}) { return Feed({s}, l); }

std::vector<Event> ByteAtATime(const std::string& s, McLimits l = {}) {
  std::vector<std::string> chunks;
  for (char ch : s) chunks.emplace_back(1, ch);
  return Feed(chunks, l);
}

std::vector<Event> RandomSplits(const std::string& s, std::mt19937_64* rng, McLimits l = {}) {
  std::vector<std::string> chunks;
  size_t i = 0;
  while (i < s.size()) {
    size_t n = 1 + (*rng)() % 17;
    chunks.push_back(s.substr(i, n));
    i += n;
  }
  return Feed(chunks, l);
}

// Parses `s` whole, byte at a time and in 50 random splittings; all must agree.
std::vector<Event> ParseAll(const std::string& s, McLimits l = {}) {
  std::vector<Event> whole = Whole(s, l);
  EXPECT_EQ(ByteAtATime(s, l), whole) << Show(whole);
  std::mt19937_64 rng(42);
  for (int i = 0; i < 50; i++) EXPECT_EQ(RandomSplits(s, &rng, l), whole) << "split round " << i;
  return whole;
}

McCommand One(const std::string& s) {
  auto ev = ParseAll(s);
  EXPECT_EQ(ev.size(), 1u) << Show(ev);
  if (ev.empty()) return {};
  EXPECT_EQ(ev[0].status, McStatus::kOk) << ev[0].error;
  return ev[0].cmd;
}

std::string OneError(const std::string& s, McStatus want = McStatus::kError) {
  auto ev = ParseAll(s);
  EXPECT_EQ(ev.size(), 1u) << Show(ev);
  if (ev.empty()) return "";
  EXPECT_EQ(ev[0].status, want);
  return ev[0].error;
}

TEST(McParser, Get) {
  McCommand c = One("get a bb ccc\r\n");
  EXPECT_EQ(c.op, McOp::kGet);
  EXPECT_EQ(c.keys, (std::vector<std::string>{"a", "bb", "ccc"}));
  c = One("gets  k \r\n");  // extra spaces are separators, as in memcached
  EXPECT_EQ(c.op, McOp::kGets);
  EXPECT_EQ(c.keys, std::vector<std::string>{"k"});
  c = One("get k\n");  // a bare LF ends a line too
  EXPECT_EQ(c.keys, std::vector<std::string>{"k"});
  c = One("gat 100 x y\r\n");
  EXPECT_EQ(c.op, McOp::kGat);
  EXPECT_EQ(c.exptime, 100);
  EXPECT_EQ(c.keys.size(), 2u);
  c = One("gats -1 x\r\n");
  EXPECT_EQ(c.op, McOp::kGats);
  EXPECT_EQ(c.exptime, -1);
}

TEST(McParser, Storage) {
  McCommand c = One("set k 123 60 5\r\nhello\r\n");
  EXPECT_EQ(c.op, McOp::kSet);
  EXPECT_EQ(c.key(), "k");
  EXPECT_EQ(c.flags, 123u);
  EXPECT_EQ(c.exptime, 60);
  EXPECT_EQ(c.data, "hello");
  EXPECT_FALSE(c.noreply);
  c = One("add k 0 0 0 noreply\r\n\r\n");
  EXPECT_EQ(c.op, McOp::kAdd);
  EXPECT_TRUE(c.noreply);
  EXPECT_EQ(c.data, "");
  c = One("cas k 4294967295 0 3 18446744073709551615\r\na\r\n\r\n");  // CRLF inside data is data
  EXPECT_EQ(c.op, McOp::kCas);
  EXPECT_EQ(c.flags, 4294967295u);
  EXPECT_EQ(c.cas, UINT64_MAX);
  EXPECT_EQ(c.data, "a\r\n");
  // An unknown 6th token is ignored (only "noreply" counts), like memcached.
  c = One("set k 0 0 1 extra\r\nx\r\n");
  EXPECT_FALSE(c.noreply);
  EXPECT_EQ(c.data, "x");
  // Binary data with NULs.
  std::string bin("a\0b\xff", 4);
  c = One("prepend k 0 0 4\r\n" + bin + "\r\n");
  EXPECT_EQ(c.data, bin);
}

TEST(McParser, OtherCommands) {
  McCommand c = One("delete k\r\n");
  EXPECT_EQ(c.op, McOp::kDelete);
  EXPECT_FALSE(c.noreply);
  EXPECT_TRUE(One("delete k noreply\r\n").noreply);
  EXPECT_TRUE(One("delete k 0 noreply\r\n").noreply);
  EXPECT_FALSE(One("delete k 0\r\n").noreply);
  c = One("incr k 18446744073709551615\r\n");
  EXPECT_EQ(c.delta, UINT64_MAX);
  c = One("decr k 5 noreply\r\n");
  EXPECT_EQ(c.op, McOp::kDecr);
  EXPECT_TRUE(c.noreply);
  c = One("touch k 10\r\n");
  EXPECT_EQ(c.exptime, 10);
  c = One("flush_all\r\n");
  EXPECT_FALSE(c.has_exptime);
  c = One("flush_all 30 noreply\r\n");
  EXPECT_TRUE(c.has_exptime);
  EXPECT_EQ(c.exptime, 30);
  EXPECT_TRUE(c.noreply);
  EXPECT_TRUE(One("flush_all noreply\r\n").noreply);
  EXPECT_EQ(One("version\r\n").op, McOp::kVersion);
  EXPECT_EQ(One("quit\r\n").op, McOp::kQuit);
  EXPECT_EQ(One("verbosity 1\r\n").args, std::vector<std::string>{"1"});
  EXPECT_EQ(One("stats settings\r\n").args, std::vector<std::string>{"settings"});
  EXPECT_EQ(One("mn\r\n").op, McOp::kMetaNoop);
}

TEST(McParser, Meta) {
  McCommand c = One("mg k v f t c k s q Oabc T30\r\n");
  EXPECT_EQ(c.op, McOp::kMetaGet);
  EXPECT_TRUE(c.noreply);
  EXPECT_TRUE(c.has_exptime);
  EXPECT_EQ(c.exptime, 30);
  ASSERT_EQ(c.meta.size(), 9u);
  EXPECT_EQ(c.meta[7], (McFlag{'O', "abc"}));
  EXPECT_TRUE(c.HasFlag('v'));
  EXPECT_FALSE(c.HasFlag('N'));

  c = One("ms k 2 F5 T-1 C99 MA q\r\nhi\r\n");
  EXPECT_EQ(c.op, McOp::kMetaSet);
  EXPECT_EQ(c.data, "hi");
  EXPECT_EQ(c.flags, 5u);
  EXPECT_EQ(c.exptime, -1);
  EXPECT_TRUE(c.has_cas);
  EXPECT_EQ(c.cas, 99u);
  EXPECT_EQ(c.mode, 'A');
  EXPECT_TRUE(c.noreply);
  EXPECT_EQ(One("ms k 0\r\n\r\n").mode, 'S');
  EXPECT_EQ(One("ms k 0 ME\r\n\r\n").mode, 'E');
  // Mode letters are case-sensitive (memcached 1.6.18 refuses "Ma").
  EXPECT_EQ(OneError("ms k 0 Ma\r\n\r\n"), "CLIENT_ERROR invalid mode for ms M token");
  EXPECT_EQ(OneError("ma k Mi\r\n"), "CLIENT_ERROR invalid mode for ma M token");
  EXPECT_TRUE(One("ma k C5\r\n").has_cas);
  EXPECT_EQ(One("set k 0 4000000000 0\r\n\r\n").exptime, 4000000000);  // past 2038

  c = One("md k q C7 Ox\r\n");
  EXPECT_EQ(c.op, McOp::kMetaDelete);
  EXPECT_EQ(c.cas, 7u);
  c = One("ma k N0 J10 D3 MD v\r\n");
  EXPECT_EQ(c.op, McOp::kMetaArithmetic);
  EXPECT_TRUE(c.has_vivify);
  EXPECT_EQ(c.initial, 10u);
  EXPECT_EQ(c.delta, 3u);
  EXPECT_EQ(c.mode, 'D');
  EXPECT_EQ(One("ma k M-\r\n").mode, 'D');
  EXPECT_EQ(One("ma k M+\r\n").mode, 'I');
  EXPECT_EQ(One("ma k\r\n").delta, 1u);
}

// The error texts are memcached 1.6.18's (probed against the real server).
TEST(McParser, ErrorsMatchMemcached) {
  EXPECT_EQ(OneError("bogus\r\n"), "ERROR");
  EXPECT_EQ(OneError("\r\n"), "ERROR");
  EXPECT_EQ(OneError("GET k\r\n"), "ERROR");  // commands are case-sensitive
  EXPECT_EQ(OneError("get\r\n"), "ERROR");
  EXPECT_EQ(OneError("gat 10\r\n"), "ERROR");
  EXPECT_EQ(OneError("gat x k\r\n"), "CLIENT_ERROR invalid exptime argument");
  EXPECT_EQ(OneError("set k 0 0\r\n"), "ERROR");
  EXPECT_EQ(OneError("set k 0 0 1 2 3\r\n"), "ERROR");
  EXPECT_EQ(OneError("cas k 0 0 1\r\n"), "ERROR");
  EXPECT_EQ(OneError("set k -1 0 1\r\n"), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(OneError("set k 0 0 -1\r\n"), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(OneError("set k 0 0 abc\r\n"), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(OneError("cas k 0 0 1 x\r\n"), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(OneError("incr k x\r\n"), "CLIENT_ERROR invalid numeric delta argument");
  EXPECT_EQ(OneError("incr k -1\r\n"), "CLIENT_ERROR invalid numeric delta argument");
  EXPECT_EQ(OneError("incr k 18446744073709551616\r\n"), "CLIENT_ERROR invalid numeric delta argument");
  EXPECT_EQ(OneError("delete k 5\r\n"),
            "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
  EXPECT_EQ(OneError("delete\r\n"), "ERROR");
  EXPECT_EQ(OneError("touch k\r\n"), "ERROR");
  EXPECT_EQ(OneError("touch k x\r\n"), "CLIENT_ERROR invalid exptime argument");
  EXPECT_EQ(OneError("flush_all x\r\n"), "CLIENT_ERROR invalid exptime argument");
  EXPECT_EQ(OneError("verbosity\r\n"), "ERROR");
  EXPECT_EQ(OneError("mg\r\n"), "ERROR");
  EXPECT_EQ(OneError("mg k zz\r\n"), "CLIENT_ERROR invalid flag");
  EXPECT_EQ(OneError("mg k v v\r\n"), "CLIENT_ERROR duplicate flag");
  EXPECT_EQ(OneError("mg k Tz\r\n"), "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(OneError("mg k O" + std::string(33, 'o') + "\r\n"), "CLIENT_ERROR opaque token too long");
  EXPECT_EQ(OneError("ms k\r\n"), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(OneError("ms k x\r\n"), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(OneError("md k x\r\n"), "CLIENT_ERROR invalid or duplicate flag");
  EXPECT_EQ(OneError("md k Cz\r\n"), "CLIENT_ERROR invalid or duplicate flag");
  EXPECT_EQ(OneError("ma k Dz\r\n"), "CLIENT_ERROR invalid or duplicate flag");
  EXPECT_EQ(OneError("ma k D1 D2\r\n"), "CLIENT_ERROR invalid or duplicate flag");
  EXPECT_EQ(OneError("ma k MX\r\n"), "CLIENT_ERROR invalid mode for ma M token");
}

TEST(McParser, KeyLimits) {
  std::string k250(250, 'k'), k251(251, 'k');
  EXPECT_EQ(One("get " + k250 + "\r\n").key(), k250);
  EXPECT_EQ(OneError("get a " + k251 + " b\r\n"), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(OneError("mg " + k251 + " v\r\n"), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(OneError("incr " + k251 + " 1\r\n"), "CLIENT_ERROR bad command line format");
  // Control characters are refused (a deliberate, stricter difference from memcached).
  EXPECT_EQ(OneError("get a\tb\r\n"), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(OneError(std::string("get a\x01\r\n")), "CLIENT_ERROR bad command line format");
  // A smaller configured key limit applies.
  McLimits l;
  l.max_key_bytes = 3;
  auto ev = ParseAll("get abcd\r\nget abc\r\n", l);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].status, McStatus::kError);
  EXPECT_EQ(ev[1].status, McStatus::kOk);
}

// After a client error the stream keeps working; what memcached swallows, we swallow.
TEST(McParser, StreamContinuesAfterErrors) {
  // A refused text storage line does not swallow: the "x" line is a command (ERROR).
  auto ev = ParseAll("set k -1 0 1\r\nx\r\nget k\r\n");
  ASSERT_EQ(ev.size(), 3u) << Show(ev);
  EXPECT_EQ(ev[0].error, "CLIENT_ERROR bad command line format");
  EXPECT_EQ(ev[1].error, "ERROR");
  EXPECT_EQ(ev[2].status, McStatus::kOk);

  // Bad data chunk: exactly <bytes>+2 are read; the leftover "\n" is an empty line (ERROR).
  ev = ParseAll("set k 0 0 2\r\nxyz\r\nget k\r\n");
  ASSERT_EQ(ev.size(), 3u) << Show(ev);
  EXPECT_EQ(ev[0].error, "CLIENT_ERROR bad data chunk");
  EXPECT_EQ(ev[0].cmd.key(), "k");
  EXPECT_EQ(ev[1].error, "ERROR");
  EXPECT_EQ(ev[2].cmd.op, McOp::kGet);

  // noreply covers the error of a text storage command, not of ms.
  ev = ParseAll("set k 0 0 1 noreply\r\nxy\r\n");
  ASSERT_GE(ev.size(), 1u);
  EXPECT_TRUE(ev[0].cmd.noreply);
  ev = ParseAll("ms k 1 q\r\nxy\r\n");
  ASSERT_GE(ev.size(), 1u);
  EXPECT_FALSE(ev[0].cmd.noreply);

  // A refused ms swallows its data block once the length is known.
  ev = ParseAll("ms k 2 MZ\r\nhi\r\nms k 2 Z\r\nhi\r\nmn\r\n");
  ASSERT_EQ(ev.size(), 3u) << Show(ev);
  EXPECT_EQ(ev[0].error, "CLIENT_ERROR invalid mode for ms M token");
  EXPECT_EQ(ev[1].error, "CLIENT_ERROR invalid flag");
  EXPECT_EQ(ev[2].cmd.op, McOp::kMetaNoop);
}

TEST(McParser, TooLargeIsSwallowed) {
  McLimits l;
  l.max_item_bytes = 10;
  std::string big(11, 'b');
  auto ev = ParseAll("set k 1 0 11\r\n" + big + "\r\nset k 0 0 10\r\n" + std::string(10, 'a') +
                         "\r\nms k 11 T0\r\n" + big + "\r\nset q 0 0 11 noreply\r\n" + big + "\r\nmn\r\n",
                     l);
  ASSERT_EQ(ev.size(), 5u) << Show(ev);
  EXPECT_EQ(ev[0].status, McStatus::kTooLarge);
  EXPECT_EQ(ev[0].error, "SERVER_ERROR object too large for cache");
  EXPECT_EQ(ev[0].cmd.op, McOp::kSet);
  EXPECT_EQ(ev[0].cmd.key(), "k");
  EXPECT_EQ(ev[1].status, McStatus::kOk);
  EXPECT_EQ(ev[1].cmd.data.size(), 10u);
  EXPECT_EQ(ev[2].status, McStatus::kTooLarge);
  EXPECT_EQ(ev[2].cmd.op, McOp::kMetaSet);
  EXPECT_EQ(ev[3].status, McStatus::kTooLarge);
  EXPECT_TRUE(ev[3].cmd.noreply);
  EXPECT_EQ(ev[4].cmd.op, McOp::kMetaNoop);
}

TEST(McParser, HugeDeclaredLengthDoesNotAllocate) {
  // 2 GB declared: refused before any buffer is reserved, the stream then swallows it.
  McParser p;
  McCommand c;
  size_t used = 0;
  std::string line = "set k 0 0 2147483647\r\n";
  EXPECT_EQ(p.Parse(line.data(), line.size(), &used, &c), McStatus::kTooLarge);
  EXPECT_EQ(used, line.size());
  std::string chunk(1 << 16, 'x');
  EXPECT_EQ(p.Parse(chunk.data(), chunk.size(), &used, &c), McStatus::kNeedMore);
  EXPECT_EQ(used, chunk.size());
}

TEST(McParser, LineTooLongIsFatal) {
  McLimits l;
  l.max_line_bytes = 64;
  auto ev = ParseAll("get " + std::string(100, 'k'), l);  // no newline yet
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].status, McStatus::kFatal);
  ev = ParseAll("get " + std::string(40, 'a') + " " + std::string(40, 'b') + "\r\n", l);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].status, McStatus::kFatal);
  // Sticky: nothing more is parsed.
  McParser p(l);
  McCommand c;
  size_t used;
  std::string s(100, 'x');
  EXPECT_EQ(p.Parse(s.data(), s.size(), &used, &c), McStatus::kFatal);
  EXPECT_EQ(p.Parse("mn\r\n", 4, &used, &c), McStatus::kFatal);
}

TEST(McParser, PipelinedMixedStream) {
  std::string s =
      "set a 1 2 3\r\nabc\r\nget a b\r\nmg a v k\r\nms b 3 T10 F2\r\nxyz\r\n"
      "incr a 1\r\nbogus\r\nmd a q\r\nma b D4\r\nmn\r\nquit\r\n";
  auto ev = ParseAll(s);
  ASSERT_EQ(ev.size(), 10u) << Show(ev);
  std::vector<McOp> ops = {McOp::kSet, McOp::kGet, McOp::kMetaGet, McOp::kMetaSet, McOp::kIncr,
                           McOp::kGet /*error*/, McOp::kMetaDelete, McOp::kMetaArithmetic,
                           McOp::kMetaNoop, McOp::kQuit};
  for (size_t i = 0; i < ev.size(); i++) {
    if (i == 5) {
      EXPECT_EQ(ev[i].error, "ERROR");
      continue;
    }
    EXPECT_EQ(ev[i].status, McStatus::kOk) << i;
    EXPECT_EQ(ev[i].cmd.op, ops[i]) << i;
  }
  EXPECT_EQ(ev[3].cmd.data, "xyz");
}

// Encode then parse gives the same command, and encoding is stable.
TEST(McParser, RoundTrip) {
  std::vector<std::string> lines = {
      "get a\r\n",
      "get a b c\r\n",
      "gets x\r\n",
      "gat 5 x y\r\n",
      "gats -1 x\r\n",
      "set k 7 100 3\r\nabc\r\n",
      "add k 0 0 0 noreply\r\n\r\n",
      "replace k 4294967295 2592001 1\r\nz\r\n",
      "append k 0 0 2\r\n\r\n\r\n",
      "prepend k 0 0 1\r\n~\r\n",
      "cas k 1 2 3 12345678901234 noreply\r\nabc\r\n",
      "delete k\r\n",
      "delete k noreply\r\n",
      "incr k 5\r\n",
      "decr k 18446744073709551615 noreply\r\n",
      "touch k -1\r\n",
      "flush_all\r\n",
      "flush_all 10 noreply\r\n",
      "version\r\n",
      "verbosity 1 noreply\r\n",
      "stats\r\n",
      "stats settings\r\n",
      "quit\r\n",
      "mn\r\n",
      "mg k\r\n",
      "mg k v f t c k s q Oop T9 u\r\n",
      "ms k 3 F1 T2 C3 MP q Ox k c\r\nabc\r\n",
      "md k q C1 Oz k\r\n",
      "ma k N0 J1 D2 T3 M- q O4 v t c k\r\n",
  };
  for (const std::string& line : lines) {
    McCommand c = One(line);
    std::string enc = EncodeMcCommand(c);
    McCommand back = One(enc);
    EXPECT_EQ(back, c) << line;
    EXPECT_EQ(EncodeMcCommand(back), enc) << line;
  }
  // Random storage commands with binary payloads.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; i++) {
    McCommand c;
    c.op = std::vector<McOp>{McOp::kSet, McOp::kAdd, McOp::kCas, McOp::kMetaSet}[rng() % 4];
    c.keys = {"key" + std::to_string(rng() % 1000)};
    c.data.resize(rng() % 300);
    for (char& ch : c.data) ch = char(rng());
    if (c.op == McOp::kMetaSet) {
      c.flags = uint32_t(rng());
      c.meta = {{'F', std::to_string(c.flags)}};
      c.mode = 'S';
    } else {
      c.flags = uint32_t(rng());
      c.exptime = int64_t(rng() % 100000) - 50000;
      c.has_exptime = true;
      c.noreply = rng() % 2;
      if (c.op == McOp::kCas) {
        c.cas = rng();
        c.has_cas = true;
      }
    }
    EXPECT_EQ(One(EncodeMcCommand(c)), c) << i;
  }
}

TEST(McEncode, Value) {
  std::string out;
  McAppendValue(&out, "k", 5, "hi", nullptr);
  uint64_t cas = 99;
  McAppendValue(&out, "k2", 0, "", &cas);
  EXPECT_EQ(out, "VALUE k 5 2\r\nhi\r\nVALUE k2 0 0 99\r\n\r\n");
}

TEST(McParser, RandomGarbageNeverCrashes) {
  std::mt19937_64 rng(1234);
  const char alphabet[] = "gets mgmsmdma 0123456789 \r\n\r\nvkqOTCFMN-+\t\x01";
  McLimits l;
  l.max_item_bytes = 64;
  l.max_line_bytes = 256;
  for (int round = 0; round < 300; round++) {
    std::string s;
    size_t n = rng() % 400;
    for (size_t i = 0; i < n; i++) s += alphabet[rng() % (sizeof(alphabet) - 1)];
    auto whole = Whole(s, l);
    EXPECT_EQ(RandomSplits(s, &rng, l), whole);
  }
}

}  // namespace
}  // namespace dynakv::protocol
