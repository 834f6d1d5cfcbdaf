// Unit tests for protocol/memcache_binary.h: the binary request decoder fed whole, byte at a
// time and in random splits (all must agree), the framing of every opcode (round trips through
// the request encoder, extras decoded), every limit (key length, extras/body length per opcode,
// body shorter than key + extras, too-large values, bad magic, a huge declared body that must
// not be buffered), and the response encoder's bytes (checked against memcached 1.6.18).
#include "protocol/memcache_binary.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace dynakv::protocol {
namespace {

struct Event {
  McBinParse status;
  McBinRequest req;
  McBinStatus error = McBinStatus::kOk;
  bool has_reply = false;
  bool operator==(const Event&) const = default;
};

// Feeds the chunks in order; records every non-kNeedMore result and checks the contract
// (consumed <= len, kNeedMore consumes everything).
std::vector<Event> Feed(const std::vector<std::string>& chunks, McBinLimits limits = {}) {
  McBinParser p(limits);
  std::vector<Event> out;
  for (const std::string& chunk : chunks) {
    size_t off = 0;
    for (;;) {
      size_t consumed = 999999999;
      McBinRequest req;
      McBinParse st = p.Parse(chunk.data() + off, chunk.size() - off, &consumed, &req);
      EXPECT_LE(consumed, chunk.size() - off);
      off += consumed;
      if (st == McBinParse::kNeedMore) {
        EXPECT_EQ(off, chunk.size());
        break;
      }
      Event e{st, req, st == McBinParse::kOk ? McBinStatus::kOk : p.error(),
              st == McBinParse::kOk ? false : p.has_reply()};
      out.push_back(std::move(e));
      if (st == McBinParse::kFatal) return out;
    }
  }
  return out;
}

// Whole, one byte at a time, and 20 random splits: all must give the same events.
std::vector<Event> FeedAllWays(const std::string& wire, McBinLimits limits = {}) {
  auto whole = Feed({wire}, limits);
  std::vector<std::string> bytes;
  for (char ch : wire) bytes.emplace_back(1, ch);
  EXPECT_EQ(Feed(bytes, limits), whole) << "byte at a time";
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> parts;
    size_t i = 0;
    while (i < wire.size()) {
      size_t n = 1 + rng() % 40;
      parts.push_back(wire.substr(i, n));
      i += n;
    }
    EXPECT_EQ(Feed(parts, limits), whole) << "random split round " << round;
  }
  return whole;
}

McBinRequest Req(McBinOp op, std::string key = "", std::string extras = "", std::string value = "",
                 uint64_t cas = 0, uint32_t opaque = 0x01020304) {
  McBinRequest r;
  r.header.opcode = uint8_t(op);
  r.header.opaque = opaque;
  r.header.cas = cas;
  r.key = std::move(key);
  r.extras = std::move(extras);
  r.value = std::move(value);
  return r;
}

// A raw header with lengths given explicitly (they may lie).
std::string RawHeader(uint8_t op, uint16_t keylen, uint8_t extlen, uint32_t bodylen, uint8_t magic = 0x80) {
  McBinHeader h;
  h.magic = magic;
  h.opcode = op;
  h.key_len = keylen;
  h.extras_len = extlen;
  h.body_len = bodylen;
  h.opaque = 7;
  std::string out;
  AppendMcBinHeader(&out, h);
  return out;
}

// What the decoder should produce for an encoded request: the header with its lengths filled
// in, plus the decoded extras.
McBinRequest Expected(McBinRequest r) {
  std::string wire = EncodeMcBinRequest(r);
  r.header = DecodeMcBinHeader(wire.data());
  const char* x = r.extras.data();
  if (r.extras.size() == 8) {
    r.flags = McBinGet32(x);
    r.exptime = McBinGet32(x + 4);
  } else if (r.extras.size() == 20) {
    r.delta = McBinGet64(x);
    r.initial = McBinGet64(x + 8);
    r.exptime = McBinGet32(x + 16);
  } else if (r.extras.size() == 4) {
    r.exptime = McBinGet32(x);
  }
  return r;
}

TEST(McBinHeader, EncodeDecodeRoundTripBigEndian) {
  McBinHeader h;
  h.magic = 0x80;
  h.opcode = 0x01;
  h.key_len = 0x0102;
  h.extras_len = 8;
  h.data_type = 0;
  h.vbucket_or_status = 0xBEEF;
  h.body_len = 0x01020304;
  h.opaque = 0xDEADBEEF;
  h.cas = 0x0102030405060708ull;
  std::string out;
  AppendMcBinHeader(&out, h);
  ASSERT_EQ(out.size(), kMcBinHeaderBytes);
  EXPECT_EQ(out, std::string("\x80\x01\x01\x02\x08\x00\xBE\xEF\x01\x02\x03\x04\xDE\xAD\xBE\xEF"
                             "\x01\x02\x03\x04\x05\x06\x07\x08", 24));
  EXPECT_EQ(DecodeMcBinHeader(out.data()), h);
}

TEST(McBinParser, EveryOpcodeFramesAndRoundTrips) {
  const std::string store = McBinStoreExtras(0xCAFE, 300);
  const std::string arith = McBinArithExtras(5, 42, 0xffffffff);
  const std::string exp = McBinExptimeExtras(60);
  std::vector<McBinRequest> reqs = {
      Req(McBinOp::kGet, "k"), Req(McBinOp::kGetQ, "k"), Req(McBinOp::kGetK, "k"),
      Req(McBinOp::kGetKQ, "k"),
      Req(McBinOp::kSet, "k", store, "value"), Req(McBinOp::kSetQ, "k", store, ""),
      Req(McBinOp::kAdd, "k", store, "v"), Req(McBinOp::kAddQ, "k", store, "v"),
      Req(McBinOp::kReplace, "k", store, "v", 99), Req(McBinOp::kReplaceQ, "k", store, "v"),
      Req(McBinOp::kDelete, "k"), Req(McBinOp::kDeleteQ, "k", "", "", 12),
      Req(McBinOp::kIncrement, "n", arith), Req(McBinOp::kIncrementQ, "n", arith),
      Req(McBinOp::kDecrement, "n", arith), Req(McBinOp::kDecrementQ, "n", arith),
      Req(McBinOp::kAppend, "k", "", "tail"), Req(McBinOp::kAppendQ, "k", "", "tail"),
      Req(McBinOp::kPrepend, "k", "", "head"), Req(McBinOp::kPrependQ, "k", "", "head"),
      Req(McBinOp::kTouch, "k", exp), Req(McBinOp::kGat, "k", exp), Req(McBinOp::kGatQ, "k", exp),
      Req(McBinOp::kGatK, "k", exp), Req(McBinOp::kGatKQ, "k", exp),
      Req(McBinOp::kFlush), Req(McBinOp::kFlush, "", exp), Req(McBinOp::kFlushQ),
      Req(McBinOp::kNoop), Req(McBinOp::kVersion), Req(McBinOp::kQuit), Req(McBinOp::kQuitQ),
      Req(McBinOp::kStat), Req(McBinOp::kStat, "settings"),
      Req(McBinOp::kSaslListMechs), Req(McBinOp::kSaslAuth, "PLAIN", "", std::string("\0u\0pw", 5)),
      Req(McBinOp::kSaslStep, "PLAIN", "", "x"),
  };
  std::string wire;
  std::vector<Event> want;
  for (const auto& r : reqs) {
    wire += EncodeMcBinRequest(r);
    want.push_back({McBinParse::kOk, Expected(r)});
  }
  auto got = FeedAllWays(wire);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i], want[i]) << "request " << i << " (" << McBinOpName(reqs[i].header.opcode) << ")";
  }
  // Decoded extras.
  EXPECT_EQ(got[4].req.flags, 0xCAFEu);
  EXPECT_EQ(got[4].req.exptime, 300u);
  EXPECT_EQ(got[4].req.value, "value");
  EXPECT_EQ(got[8].req.header.cas, 99u);
  EXPECT_EQ(got[12].req.delta, 5u);
  EXPECT_EQ(got[12].req.initial, 42u);
  EXPECT_EQ(got[12].req.exptime, 0xffffffffu);
  EXPECT_EQ(got[20].req.exptime, 60u);
  EXPECT_EQ(got[35].req.value, std::string("\0u\0pw", 5));
}

TEST(McBinParser, PartialHeaderAndBodyNeedMore) {
  std::string wire = EncodeMcBinRequest(Req(McBinOp::kSet, "key", McBinStoreExtras(1, 2), "0123456789"));
  McBinParser p;
  McBinRequest req;
  size_t consumed = 0;
  EXPECT_EQ(p.Parse(wire.data(), 10, &consumed, &req), McBinParse::kNeedMore);  // half a header
  EXPECT_EQ(consumed, 10u);
  EXPECT_EQ(p.Parse(wire.data() + 10, 20, &consumed, &req), McBinParse::kNeedMore);  // into the body
  EXPECT_EQ(consumed, 20u);
  ASSERT_EQ(p.Parse(wire.data() + 30, wire.size() - 30, &consumed, &req), McBinParse::kOk);
  EXPECT_EQ(consumed, wire.size() - 30);
  EXPECT_EQ(req.key, "key");
  EXPECT_EQ(req.value, "0123456789");
  EXPECT_EQ(req.flags, 1u);
  EXPECT_EQ(req.exptime, 2u);
}

TEST(McBinParser, StopsAfterEachRequest) {
  std::string wire = EncodeMcBinRequest(Req(McBinOp::kNoop)) + EncodeMcBinRequest(Req(McBinOp::kGet, "a"));
  McBinParser p;
  McBinRequest req;
  size_t consumed = 0;
  ASSERT_EQ(p.Parse(wire.data(), wire.size(), &consumed, &req), McBinParse::kOk);
  EXPECT_EQ(consumed, 24u);
  EXPECT_EQ(req.op(), McBinOp::kNoop);
  ASSERT_EQ(p.Parse(wire.data() + 24, wire.size() - 24, &consumed, &req), McBinParse::kOk);
  EXPECT_EQ(req.op(), McBinOp::kGet);
  EXPECT_EQ(req.key, "a");
}

TEST(McBinParser, KeyOver250IsInvalidArgumentsAndFatal) {
  std::string ok = EncodeMcBinRequest(Req(McBinOp::kGet, std::string(250, 'k')));
  std::string bad = EncodeMcBinRequest(Req(McBinOp::kGet, std::string(251, 'k')));
  auto ev = FeedAllWays(ok + bad + EncodeMcBinRequest(Req(McBinOp::kNoop)));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].status, McBinParse::kOk);
  EXPECT_EQ(ev[1].status, McBinParse::kFatal);
  EXPECT_EQ(ev[1].error, McBinStatus::kInvalidArguments);
  EXPECT_TRUE(ev[1].has_reply);
  EXPECT_EQ(ev[1].req.header.opaque, 0x01020304u);
}

TEST(McBinParser, WrongExtrasOrLengthsPerOpcodeAreInvalidArguments) {
  const std::string x4(4, 'x'), x8(8, 'x'), x20(20, 'x');
  std::vector<McBinRequest> bad = {
      Req(McBinOp::kGet, "k", x4),            // get takes no extras
      Req(McBinOp::kGet, "k", "", "v"),       // ... and no value
      Req(McBinOp::kGet),                     // ... and needs a key
      Req(McBinOp::kSet, "k", x4, "v"),       // set needs 8 bytes of extras
      Req(McBinOp::kSet, "", x8, "v"),        // ... and a key
      Req(McBinOp::kAdd, "k", "", "v"),
      Req(McBinOp::kReplaceQ, "k", x20, "v"),
      Req(McBinOp::kAppend, "k", x4, "v"),    // append has no extras
      Req(McBinOp::kPrepend, "", "", "v"),
      Req(McBinOp::kDelete, "k", x4),
      Req(McBinOp::kDelete, "k", "", "v"),
      Req(McBinOp::kIncrement, "k", x8),      // incr needs 20
      Req(McBinOp::kDecrement, "k", x20, "v"),
      Req(McBinOp::kIncrement, "", x20),
      Req(McBinOp::kTouch, "k"),              // touch/gat need 4
      Req(McBinOp::kGat, "k", x8),
      Req(McBinOp::kGatQ, "", x4),
      Req(McBinOp::kTouch, "k", x4, "v"),
      Req(McBinOp::kFlush, "", x8),           // flush: 0 or 4, no key
      Req(McBinOp::kFlush, "k"),
      Req(McBinOp::kFlushQ, "", "", "v"),
      Req(McBinOp::kNoop, "k"),
      Req(McBinOp::kVersion, "", x4),
      Req(McBinOp::kQuit, "", "", "v"),
      Req(McBinOp::kStat, "", x4),
      Req(McBinOp::kStat, "k", "", "v"),
      Req(McBinOp::kSaslListMechs, "k"),
      Req(McBinOp::kSaslAuth, "", "", "v"),
      Req(McBinOp::kSaslAuth, "PLAIN", "", std::string(1025, 'p')),  // over max_sasl_bytes
  };
  for (const auto& r : bad) {
    auto ev = FeedAllWays(EncodeMcBinRequest(r));
    ASSERT_EQ(ev.size(), 1u) << McBinOpName(r.header.opcode);
    EXPECT_EQ(ev[0].status, McBinParse::kFatal) << McBinOpName(r.header.opcode);
    EXPECT_EQ(ev[0].error, McBinStatus::kInvalidArguments) << McBinOpName(r.header.opcode);
    EXPECT_EQ(ev[0].req.header.opcode, r.header.opcode);
  }
}

TEST(McBinParser, BodyShorterThanKeyPlusExtrasIsUnknownCommandAndFatal) {
  // memcached 1.6.18 answers 0x81 and closes (dispatch_bin_command's first check).
  auto ev = FeedAllWays(RawHeader(0x00, 3, 0, 1) + "abc");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].status, McBinParse::kFatal);
  EXPECT_EQ(ev[0].error, McBinStatus::kUnknownCommand);
  EXPECT_TRUE(ev[0].has_reply);
  ev = FeedAllWays(RawHeader(0x01, 1, 8, 8));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].error, McBinStatus::kUnknownCommand);
}

TEST(McBinParser, TooLargeValueIsSkippedAndTheStreamGoesOn) {
  McBinLimits limits;
  limits.max_item_bytes = 16;
  std::string wire = EncodeMcBinRequest(Req(McBinOp::kSetQ, "big", McBinStoreExtras(0, 0), std::string(17, 'v'))) +
                     EncodeMcBinRequest(Req(McBinOp::kAppend, "big", "", std::string(100, 'a'))) +
                     EncodeMcBinRequest(Req(McBinOp::kSet, "ok", McBinStoreExtras(0, 0), std::string(16, 'v'))) +
                     EncodeMcBinRequest(Req(McBinOp::kNoop));
  auto ev = FeedAllWays(wire, limits);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].status, McBinParse::kError);
  EXPECT_EQ(ev[0].error, McBinStatus::kValueTooLarge);
  EXPECT_EQ(ev[0].req.key, "big");  // the server deletes the old value of a failed set
  EXPECT_EQ(ev[0].req.op(), McBinOp::kSetQ);
  EXPECT_TRUE(ev[0].req.value.empty());
  EXPECT_EQ(ev[1].error, McBinStatus::kValueTooLarge);
  EXPECT_EQ(ev[2].status, McBinParse::kOk);
  EXPECT_EQ(ev[2].req.value, std::string(16, 'v'));
  EXPECT_EQ(ev[3].req.op(), McBinOp::kNoop);
}

TEST(McBinParser, HugeDeclaredBodyIsNotBuffered) {
  // A set declaring a 4 GB value: the error comes right after the key, and the parser holds
  // no more than the header + key while it skips what follows.
  McBinParser p;
  std::string wire = RawHeader(0x01, 1, 8, 0xFFFFFFF0u) + McBinStoreExtras(0, 0) + "k";
  McBinRequest req;
  size_t consumed = 0;
  ASSERT_EQ(p.Parse(wire.data(), wire.size(), &consumed, &req), McBinParse::kError);
  EXPECT_EQ(p.error(), McBinStatus::kValueTooLarge);
  EXPECT_EQ(req.key, "k");
  std::string junk(1 << 16, 'j');
  for (int i = 0; i < 64; ++i) {
    ASSERT_EQ(p.Parse(junk.data(), junk.size(), &consumed, &req), McBinParse::kNeedMore);
    EXPECT_EQ(consumed, junk.size());
  }
  // A get declaring a huge body is refused from its header alone.
  auto ev = Feed({RawHeader(0x00, 1, 0, 0xFFFFFFF0u) + "k"});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].status, McBinParse::kFatal);
  EXPECT_EQ(ev[0].error, McBinStatus::kInvalidArguments);
}

TEST(McBinParser, UnknownOpcodeSkipsItsBodyAndGoesOn) {
  std::string wire = RawHeader(0x50, 1, 0, 3) + "kvv" + RawHeader(0x1b, 0, 4, 4) + "xxxx" +
                     EncodeMcBinRequest(Req(McBinOp::kNoop));
  auto ev = FeedAllWays(wire);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].status, McBinParse::kError);
  EXPECT_EQ(ev[0].error, McBinStatus::kUnknownCommand);
  EXPECT_EQ(ev[0].req.header.opcode, 0x50);
  EXPECT_EQ(ev[0].req.header.opaque, 7u);
  EXPECT_EQ(ev[1].error, McBinStatus::kUnknownCommand);  // 0x1b verbosity: memcached 1.6 refuses it
  EXPECT_EQ(ev[2].status, McBinParse::kOk);
  // A huge unknown body is skipped as it comes, never buffered.
  McBinParser p;
  McBinRequest req;
  size_t consumed = 0;
  std::string h = RawHeader(0x77, 0, 0, 0xFFFFFFFFu);
  ASSERT_EQ(p.Parse(h.data(), h.size(), &consumed, &req), McBinParse::kError);
  std::string junk(1 << 16, '\x80');
  ASSERT_EQ(p.Parse(junk.data(), junk.size(), &consumed, &req), McBinParse::kNeedMore);
}

TEST(McBinParser, BadMagicIsFatalWithoutReply) {
  auto ev = FeedAllWays(EncodeMcBinRequest(Req(McBinOp::kNoop)) + RawHeader(0x0a, 0, 0, 0, 0x81) +
                        EncodeMcBinRequest(Req(McBinOp::kNoop)));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].status, McBinParse::kOk);
  EXPECT_EQ(ev[1].status, McBinParse::kFatal);
  EXPECT_FALSE(ev[1].has_reply);
  // Text after binary: refused at its first byte, without waiting for 24 bytes.
  ev = Feed({EncodeMcBinRequest(Req(McBinOp::kNoop)) + "get a\r\n"});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].status, McBinParse::kFatal);
  // A failed parser stays failed.
  McBinParser p;
  McBinRequest req;
  size_t consumed = 0;
  EXPECT_EQ(p.Parse("x", 1, &consumed, &req), McBinParse::kFatal);
  EXPECT_EQ(p.Parse("\x80", 1, &consumed, &req), McBinParse::kFatal);
  EXPECT_EQ(consumed, 0u);
}

TEST(McBinParser, QuietAndLoudForms) {
  EXPECT_EQ(McBinLoudOp(McBinOp::kGetKQ), McBinOp::kGetK);
  EXPECT_EQ(McBinLoudOp(McBinOp::kGatQ), McBinOp::kGat);
  EXPECT_EQ(McBinLoudOp(McBinOp::kGatKQ), McBinOp::kGatK);
  EXPECT_EQ(McBinLoudOp(McBinOp::kIncrementQ), McBinOp::kIncrement);
  EXPECT_EQ(McBinLoudOp(McBinOp::kQuitQ), McBinOp::kQuit);
  EXPECT_EQ(McBinLoudOp(McBinOp::kGet), McBinOp::kGet);
  EXPECT_TRUE(McBinQuiet(McBinOp::kSetQ));
  EXPECT_FALSE(McBinQuiet(McBinOp::kSet));
  EXPECT_FALSE(McBinQuiet(McBinOp::kNoop));
  EXPECT_FALSE(McBinKnownOp(0x1b));
  EXPECT_FALSE(McBinKnownOp(0x1f));
  EXPECT_FALSE(McBinKnownOp(0x25));
  EXPECT_TRUE(McBinKnownOp(0x24));
  EXPECT_STREQ(McBinOpName(0x0d), "getkq");
  EXPECT_STREQ(McBinOpName(0x21), "sasl_auth");
  EXPECT_STREQ(McBinOpName(0x99), "unknown");
}

TEST(McBinEncoder, ResponsesMatchMemcachedBytes) {
  // memcached 1.6.18's answer to a get hit (flags 5, "hello", cas 1) and a miss, byte for byte.
  std::string out;
  AppendMcBinResponse(&out, 0x00, McBinStatus::kOk, 0xAABBCCDD, 1, std::string("\0\0\0\5", 4), "", "hello");
  EXPECT_EQ(out, std::string("\x81\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x09\xAA\xBB\xCC\xDD"
                             "\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x05hello", 33));
  out.clear();
  AppendMcBinError(&out, 0x00, McBinStatus::kKeyNotFound, 3);
  EXPECT_EQ(out, std::string("\x81\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x09\x00\x00\x00\x03"
                             "\x00\x00\x00\x00\x00\x00\x00\x00Not found", 33));
  // getk: key after extras, key length set.
  out.clear();
  AppendMcBinResponse(&out, 0x0c, McBinStatus::kOk, 0, 9, std::string(4, '\0'), "key", "v");
  McBinHeader h = DecodeMcBinHeader(out.data());
  EXPECT_EQ(h.magic, kMcBinResponseMagic);
  EXPECT_EQ(h.key_len, 3);
  EXPECT_EQ(h.extras_len, 4);
  EXPECT_EQ(h.body_len, 8u);
  EXPECT_EQ(h.cas, 9u);
  EXPECT_EQ(out.substr(24), std::string(4, '\0') + "keyv");
}

TEST(McBinEncoder, ErrorTextsAreMemcacheds) {
  EXPECT_STREQ(McBinStatusText(McBinStatus::kKeyNotFound), "Not found");
  EXPECT_STREQ(McBinStatusText(McBinStatus::kKeyExists), "Data exists for key.");
  EXPECT_STREQ(McBinStatusText(McBinStatus::kValueTooLarge), "Too large.");
  EXPECT_STREQ(McBinStatusText(McBinStatus::kInvalidArguments), "Invalid arguments");
  EXPECT_STREQ(McBinStatusText(McBinStatus::kNotStored), "Not stored.");
  EXPECT_STREQ(McBinStatusText(McBinStatus::kNonNumeric), "Non-numeric server-side value for incr or decr");
  EXPECT_STREQ(McBinStatusText(McBinStatus::kAuthError), "Auth failure.");
  EXPECT_STREQ(McBinStatusText(McBinStatus::kUnknownCommand), "Unknown command");
}

TEST(McBinEncoder, ExtrasHelpers) {
  EXPECT_EQ(McBinStoreExtras(0x01020304, 0x05060708), std::string("\1\2\3\4\5\6\7\x08", 8));
  EXPECT_EQ(McBinExptimeExtras(0xffffffff), std::string(4, '\xff'));
  std::string a = McBinArithExtras(1, 0x0203, 0xffffffff);
  ASSERT_EQ(a.size(), 20u);
  EXPECT_EQ(McBinGet64(a.data()), 1u);
  EXPECT_EQ(McBinGet64(a.data() + 8), 0x0203u);
  EXPECT_EQ(McBinGet32(a.data() + 16), 0xffffffffu);
}

}  // namespace
}  // namespace dynakv::protocol
