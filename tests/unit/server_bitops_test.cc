// Unit tests for server/bitops.h: BITCOUNT/BITPOS ranges and edge cases, SETBIT/GETBIT,
// BITOP, BITFIELD (types, offsets, every overflow mode, signed and unsigned, Redis's doc
// examples) and LCS (the Redis docs' ohmytext/mynewtext example and its IDX output).
// Expected values are redis-server 7.0's replies; tests/integration/bits_test.sh compares a
// real dynakv-server with a real redis-server on the same and random inputs.
#include <gtest/gtest.h>

#include <climits>
#include <string>
#include <vector>

#include "cluster/version.h"
#include "server/bitops.h"

namespace dynakv::server::bits {
namespace {

using namespace std::string_literals;

// ---- growing a big value ----

// SETBIT that grows a string to a big value leaves its buffer the room the record needs
// around it: EncodeRecord(Record&&) then writes the record into that same buffer, without
// moving 1 MB into a new one.
TEST(SetBit, GrowingABigValueLeavesRoomToEncodeInPlace) {
  std::string s = "x";
  SetBit(&s, 8 * uint64_t(cluster::kEncodeInPlaceBytes + 10), 1);
  ASSERT_EQ(s.size(), cluster::kEncodeInPlaceBytes + 11);
  EXPECT_GE(s.capacity(), s.size() + cluster::kEncodeInPlaceRoom / 4);
  cluster::Record rec;
  rec.siblings.emplace_back();
  rec.siblings[0].dot = {7, 1};
  rec.context.Raise(7, 1, 1000);
  rec.siblings[0].value = std::move(s);
  const char* buffer = rec.siblings[0].value.data();
  std::string enc = cluster::EncodeRecord(std::move(rec));
  EXPECT_EQ(enc.data(), buffer);
  cluster::Record back;
  ASSERT_TRUE(cluster::DecodeRecord(enc, &back).ok());
  ASSERT_EQ(back.siblings.size(), 1u);
  EXPECT_EQ(back.siblings[0].value.size(), cluster::kEncodeInPlaceBytes + 11);
  EXPECT_EQ(GetBit(back.siblings[0].value, 8 * uint64_t(cluster::kEncodeInPlaceBytes + 10)), 1);
}

// ---- BITCOUNT ----

TEST(BitCount, RedisDocExamples) {
  const std::string s = "foobar";
  EXPECT_EQ(BitCount(s, false, 0, 0, false), 26);
  EXPECT_EQ(BitCount(s, true, 0, 0, false), 4);
  EXPECT_EQ(BitCount(s, true, 1, 1, false), 6);
  EXPECT_EQ(BitCount(s, true, 5, 30, true), 17);
}

TEST(BitCount, NegativeAndOutOfRangeIndexes) {
  const std::string s = "foobar";
  EXPECT_EQ(BitCount(s, true, -1, -1, false), 4);   // 'r'
  EXPECT_EQ(BitCount(s, true, -1, -2, false), 0);   // both negative, start > end
  EXPECT_EQ(BitCount(s, true, -100, 100, false), 26);
  EXPECT_EQ(BitCount(s, true, 10, 5, false), 0);
  EXPECT_EQ(BitCount(s, true, 0, -1, true), 26);
  EXPECT_EQ(BitCount(s, true, INT64_MIN, INT64_MAX, false), 26);
  EXPECT_EQ(BitCount(s, true, INT64_MIN, INT64_MAX, true), 26);
  EXPECT_EQ(BitCount("", true, 0, -1, false), 0);
  EXPECT_EQ(BitCount("", true, 0, -1, true), 0);
}

TEST(BitCount, BitRangesMaskTheEdgeBytes) {
  const std::string s = "\xff\xf0\x00\x0f\x81"s;
  EXPECT_EQ(BitCount(s, true, 4, 35, true), 4 + 4 + 0 + 4 + 1);  // bits 4..35
  EXPECT_EQ(BitCount(s, true, 1, 3, true), 3);
  EXPECT_EQ(BitCount(s, true, 12, 12, true), 0);
  EXPECT_EQ(BitCount(s, true, 11, 11, true), 1);
  EXPECT_EQ(BitCount(s, true, 32, 32, true), 1);
  EXPECT_EQ(BitCount(s, true, 33, 38, true), 0);
  EXPECT_EQ(BitCount(s, true, -1, -1, true), 1);  // the very last bit
}

TEST(BitCount, PopCountOfLongStrings) {
  std::string s(1000, '\xff');
  s += "\x01";
  EXPECT_EQ(PopCount(s), 8001);
  EXPECT_EQ(BitCount(s, true, 3, 7, false), 40);
}

// ---- BITPOS ----

TEST(BitPos, RedisDocExamples) {
  EXPECT_EQ(BitPos("\xff\xf0\x00"s, 0, false, 0, false, 0, false), 12);
  const std::string s = "\x00\xff\xf0"s;
  EXPECT_EQ(BitPos(s, 1, true, 0, false, 0, false), 8);
  EXPECT_EQ(BitPos(s, 1, true, 2, false, 0, false), 16);
  EXPECT_EQ(BitPos(s, 1, true, 2, true, -1, false), 16);
  EXPECT_EQ(BitPos(s, 1, true, 7, true, 15, true), 8);
  const std::string z = "\x00\x00\x00"s;
  EXPECT_EQ(BitPos(z, 1, false, 0, false, 0, false), -1);
  EXPECT_EQ(BitPos(z, 1, true, 7, true, -3, true), -1);
}

TEST(BitPos, ClearBitInAllOnesDependsOnAnExplicitEnd) {
  const std::string ones = "\xff\xff\xff"s;
  // Without an end the string is zero padded on the right: the first bit past it.
  EXPECT_EQ(BitPos(ones, 0, false, 0, false, 0, false), 24);
  EXPECT_EQ(BitPos(ones, 0, true, 0, false, 0, false), 24);
  EXPECT_EQ(BitPos(ones, 0, true, 1, false, 0, false), 24);
  EXPECT_EQ(BitPos(ones, 0, true, 3, false, 0, true), 24);
  // With an end, the range holds no clear bit.
  EXPECT_EQ(BitPos(ones, 0, true, 0, true, -1, false), -1);
  EXPECT_EQ(BitPos(ones, 0, true, 0, true, -1, true), -1);
  EXPECT_EQ(BitPos(ones, 0, true, 0, true, 23, true), -1);
  // A set bit is found inside the range.
  EXPECT_EQ(BitPos(ones, 1, true, 10, false, 0, true), 10);
}

TEST(BitPos, EmptyStringsAndEmptyRanges) {
  EXPECT_EQ(BitPos("", 0, false, 0, false, 0, false), -1);
  EXPECT_EQ(BitPos("", 1, false, 0, false, 0, false), -1);
  EXPECT_EQ(BitPos("", 0, true, 0, false, 0, false), -1);
  EXPECT_EQ(BitPos("", 0, true, 0, true, -1, true), -1);
  const std::string b = "\x00\x00\x01\x00\xff"s;
  EXPECT_EQ(BitPos(b, 1, true, 5, true, 2, false), -1);  // start > end
  EXPECT_EQ(BitPos(b, 1, false, 0, false, 0, false), 23);
  EXPECT_EQ(BitPos(b, 1, true, 3, false, 0, false), 32);
  EXPECT_EQ(BitPos(b, 1, true, -2, true, -2, false), -1);
  EXPECT_EQ(BitPos(b, 1, true, 24, true, 31, true), -1);
  EXPECT_EQ(BitPos(b, 1, true, 23, true, 39, true), 23);
  EXPECT_EQ(BitPos(b, 0, true, 32, true, 39, true), -1);
  EXPECT_EQ(BitPos(b, 0, true, 32, false, 0, true), 40);
  EXPECT_EQ(BitPos(b, 1, true, INT64_MIN, true, INT64_MAX, false), 23);
  // Bits inside one byte, both edges masked.
  EXPECT_EQ(BitPos("\x81"s, 1, true, 1, true, 6, true), -1);
  EXPECT_EQ(BitPos("\x81"s, 0, true, 1, true, 6, true), 1);
  EXPECT_EQ(BitPos("\x81"s, 1, true, 1, true, 7, true), 7);
}

// ---- SETBIT / GETBIT ----

TEST(SetGetBit, GrowsWithZerosAndReturnsTheOldBit) {
  std::string s;
  EXPECT_EQ(SetBit(&s, 7, 1), 0);
  EXPECT_EQ(s, "\x01"s);
  EXPECT_EQ(SetBit(&s, 7, 1), 1);
  EXPECT_EQ(SetBit(&s, 100, 1), 0);
  EXPECT_EQ(s.size(), 13u);
  EXPECT_EQ(GetBit(s, 100), 1);
  EXPECT_EQ(GetBit(s, 99), 0);
  EXPECT_EQ(GetBit(s, 1000000), 0);
  EXPECT_EQ(SetBit(&s, 7, 0), 1);
  EXPECT_EQ(s[0], '\0');
}

TEST(SetGetBit, OffsetParsingAndLimit) {
  const uint64_t max = 512ull * 1024 * 1024;
  uint64_t off = 0;
  EXPECT_TRUE(ParseBitOffset("4294967295", 0, max, &off));
  EXPECT_EQ(off, 4294967295ull);
  EXPECT_FALSE(ParseBitOffset("4294967296", 0, max, &off));  // byte 512 MB: past the limit
  EXPECT_FALSE(ParseBitOffset("-1", 0, max, &off));
  EXPECT_FALSE(ParseBitOffset("1.5", 0, max, &off));
  EXPECT_FALSE(ParseBitOffset("#3", 0, max, &off));  // '#' only for BITFIELD
  EXPECT_TRUE(ParseBitOffset("#3", 8, max, &off));
  EXPECT_EQ(off, 24u);
  EXPECT_FALSE(ParseBitOffset("#-1", 8, max, &off));
  EXPECT_FALSE(ParseBitOffset("#536870912", 8, max, &off));
  EXPECT_FALSE(ParseBitOffset("#9223372036854775807", 64, max, &off));  // overflows
}

// ---- BITOP ----

TEST(BitOp, MissingKeysAreZeroAndTheResultIsAsLongAsTheLongest) {
  const std::string a = "\xff\x0f"s, b = "\xf0"s, c = "abc";
  EXPECT_EQ(BitOpApply(BitOp::kAnd, {a, b}), "\xf0\x00"s);
  EXPECT_EQ(BitOpApply(BitOp::kOr, {a, b}), "\xff\x0f"s);
  const std::string x = {char(0xff ^ 0xf0 ^ 'a'), char(0x0f ^ 'b'), 'c'};
  EXPECT_EQ(BitOpApply(BitOp::kXor, {a, b, c}), x);
  EXPECT_EQ(BitOpApply(BitOp::kNot, {a}), "\x00\xf0"s);
  EXPECT_EQ(BitOpApply(BitOp::kAnd, {std::string_view(), a}), "\x00\x00"s);
  EXPECT_EQ(BitOpApply(BitOp::kOr, {std::string_view(), std::string_view()}), "");
  EXPECT_EQ(BitOpApply(BitOp::kNot, {std::string_view()}), "");
}

// ---- BITFIELD ----

std::vector<FieldOp> Ops(const std::vector<std::string>& args, bool* ro = nullptr) {
  std::vector<FieldOp> ops;
  bool readonly = false;
  std::string err = ParseFieldOps(args, 0, 512ull * 1024 * 1024, &ops, &readonly);
  EXPECT_EQ(err, "");
  if (ro) *ro = readonly;
  return ops;
}

// "v" for a value, "nil" for a FAIL overflow.
std::vector<std::string> RunOps(std::string* s, const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& r : RunFieldOps(s, Ops(args))) out.push_back(r.null ? "nil" : std::to_string(r.value));
  return out;
}

using V = std::vector<std::string>;

TEST(Bitfield, RedisDocIncrbySatSequence) {
  // BITFIELD mykey INCRBY u2 100 1 OVERFLOW SAT INCRBY u2 102 1, four times.
  std::string s;
  V cmd = {"INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2", "102", "1"};
  EXPECT_EQ(RunOps(&s, cmd), (V{"1", "1"}));
  EXPECT_EQ(RunOps(&s, cmd), (V{"2", "2"}));
  EXPECT_EQ(RunOps(&s, cmd), (V{"3", "3"}));
  EXPECT_EQ(RunOps(&s, cmd), (V{"0", "3"}));  // WRAP goes round, SAT sticks at the max
  EXPECT_EQ(RunOps(&s, {"OVERFLOW", "FAIL", "INCRBY", "u2", "102", "1"}), (V{"nil"}));
  EXPECT_EQ(s.size(), 13u);
}

TEST(Bitfield, RedisDocIncrbyAndGet) {
  std::string s;
  EXPECT_EQ(RunOps(&s, {"INCRBY", "i5", "100", "1", "GET", "u4", "0"}), (V{"1", "0"}));
}

TEST(Bitfield, UnsignedOverflowModes) {
  std::string s;
  EXPECT_EQ(RunOps(&s, {"SET", "u8", "0", "250"}), (V{"0"}));
  EXPECT_EQ(RunOps(&s, {"INCRBY", "u8", "0", "10"}), (V{"4"}));  // WRAP: 260 mod 256
  EXPECT_EQ(RunOps(&s, {"INCRBY", "u8", "0", "-10"}), (V{"250"}));
  EXPECT_EQ(RunOps(&s, {"OVERFLOW", "SAT", "INCRBY", "u8", "0", "10", "INCRBY", "u8", "0", "-300"}), (V{"255", "0"}));
  EXPECT_EQ(RunOps(&s, {"OVERFLOW", "FAIL", "INCRBY", "u8", "0", "-1", "INCRBY", "u8", "0", "255",
                     "INCRBY", "u8", "0", "1"}),
            (V{"nil", "255", "nil"}));
  // SET out of range: WRAP keeps the low bits, SAT clamps, FAIL refuses (and writes nothing).
  EXPECT_EQ(RunOps(&s, {"SET", "u8", "0", "256", "GET", "u8", "0"}), (V{"255", "0"}));
  EXPECT_EQ(RunOps(&s, {"OVERFLOW", "SAT", "SET", "u8", "0", "256", "GET", "u8", "0"}), (V{"0", "255"}));
  EXPECT_EQ(RunOps(&s, {"OVERFLOW", "SAT", "SET", "u3", "0", "-1", "GET", "u3", "0"}), (V{"7", "7"}));
  EXPECT_EQ(RunOps(&s, {"OVERFLOW", "FAIL", "SET", "u8", "0", "-1", "GET", "u8", "0"}), (V{"nil", "255"}));
  EXPECT_EQ(RunOps(&s, {"OVERFLOW", "FAIL", "SET", "u1", "24", "2"}), (V{"nil"}));
  // u63, the widest unsigned type.
  std::string t;
  EXPECT_EQ(RunOps(&t, {"SET", "u63", "0", "9223372036854775807", "GET", "u63", "0", "INCRBY", "u63", "0", "1"}),
            (V{"0", "9223372036854775807", "0"}));
}

TEST(Bitfield, SignedOverflowModes) {
  std::string s;
  EXPECT_EQ(RunOps(&s, {"SET", "i8", "0", "100", "GET", "i8", "0", "INCRBY", "i8", "0", "100", "GET", "u8", "0"}),
            (V{"0", "100", "-56", "200"}));
  EXPECT_EQ(RunOps(&s, {"OVERFLOW", "SAT", "INCRBY", "i8", "0", "-1000", "GET", "i8", "0", "INCRBY", "i8", "0",
                     "1000", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "1", "GET", "i8", "0"}),
            (V{"-128", "-128", "127", "nil", "127"}));
  EXPECT_EQ(RunOps(&s, {"INCRBY", "i8", "0", "1", "INCRBY", "i8", "0", "-1", "INCRBY", "i8", "0", "-1"}),
            (V{"-128", "127", "126"}));
  EXPECT_EQ(RunOps(&s, {"SET", "i8", "8", "-129", "GET", "i8", "8"}), (V{"0", "127"}));  // WRAP
  EXPECT_EQ(RunOps(&s, {"OVERFLOW", "SAT", "SET", "i8", "8", "-129", "GET", "i8", "8"}), (V{"127", "-128"}));
  EXPECT_EQ(RunOps(&s, {"OVERFLOW", "FAIL", "SET", "i8", "8", "128"}), (V{"nil"}));
}

TEST(Bitfield, SixtyFourBitSignedLimits) {
  std::string s;
  EXPECT_EQ(RunOps(&s, {"SET", "i64", "0", "-9223372036854775808", "GET", "i64", "0", "INCRBY", "i64", "0", "-1",
                     "OVERFLOW", "SAT", "INCRBY", "i64", "0", "-1", "OVERFLOW", "FAIL", "INCRBY", "i64", "0",
                     "-1"}),
            (V{"0", "-9223372036854775808", "9223372036854775807", "9223372036854775806", "9223372036854775805"}));
  EXPECT_EQ(RunOps(&s, {"SET", "i64", "0", "9223372036854775807", "INCRBY", "i64", "0", "1", "OVERFLOW", "SAT",
                     "INCRBY", "i64", "0", "5", "GET", "u63", "1"}),
            (V{"9223372036854775805", "-9223372036854775808", "-9223372036854775803", "5"}));
  EXPECT_EQ(CheckSignedOverflow(INT64_MAX, 1, 64, Overflow::kFail, nullptr), 1);
  EXPECT_EQ(CheckSignedOverflow(INT64_MIN, -1, 64, Overflow::kFail, nullptr), -1);
  EXPECT_EQ(CheckSignedOverflow(-5, INT64_MAX, 64, Overflow::kFail, nullptr), 0);
  int64_t lim = 0;
  EXPECT_EQ(CheckSignedOverflow(120, 10, 8, Overflow::kSat, &lim), 1);
  EXPECT_EQ(lim, 127);
  EXPECT_EQ(CheckSignedOverflow(-120, -10, 8, Overflow::kSat, &lim), -1);
  EXPECT_EQ(lim, -128);
  EXPECT_EQ(CheckSignedOverflow(-120, -10, 8, Overflow::kWrap, &lim), 1);
  EXPECT_EQ(lim, 126);
  uint64_t ulim = 0;
  EXPECT_EQ(CheckUnsignedOverflow(3, -4, 2, Overflow::kSat, &ulim), -1);
  EXPECT_EQ(ulim, 0u);
  EXPECT_EQ(CheckUnsignedOverflow(3, 2, 2, Overflow::kWrap, &ulim), 1);
  EXPECT_EQ(ulim, 1u);
}

TEST(Bitfield, PositionalOffsetsAndGetsPastTheEnd) {
  std::string s;
  EXPECT_EQ(RunOps(&s, {"SET", "u8", "#0", "255", "SET", "u8", "#1", "200", "GET", "u8", "#0", "GET", "u8", "#1",
                     "GET", "u16", "0", "GET", "i16", "0", "GET", "u4", "#3"}),
            (V{"0", "0", "255", "200", "65480", "-56", "8"}));
  EXPECT_EQ(s, "\xff\xc8"s);
  std::string empty;
  EXPECT_EQ(RunOps(&empty, {"GET", "u8", "0", "GET", "i64", "0", "GET", "u63", "100"}), (V{"0", "0", "0"}));
  EXPECT_TRUE(empty.empty());  // GET never grows the string
  // A write grows the string to the farthest written bit before any op runs, even if it fails.
  std::string f;
  EXPECT_EQ(RunOps(&f, {"OVERFLOW", "FAIL", "INCRBY", "u8", "100", "300"}), (V{"nil"}));
  EXPECT_EQ(f, std::string(14, '\0'));
}

TEST(Bitfield, ChangedSaysWhetherTheStringMustBeWritten) {
  std::string s = "\x05"s;
  bool changed = true;
  RunFieldOps(&s, Ops({"GET", "u8", "0"}), &changed);
  EXPECT_FALSE(changed);
  RunFieldOps(&s, Ops({"SET", "u8", "0", "5", "INCRBY", "u4", "4", "0"}), &changed);
  EXPECT_FALSE(changed);  // same values written back
  RunFieldOps(&s, Ops({"OVERFLOW", "FAIL", "INCRBY", "u8", "0", "300"}), &changed);
  EXPECT_FALSE(changed);  // a failed write changes nothing
  RunFieldOps(&s, Ops({"OVERFLOW", "FAIL", "INCRBY", "u8", "8", "300"}), &changed);
  EXPECT_TRUE(changed);  // ... but the string grew to reach the field
  EXPECT_EQ(s, "\x05\x00"s);
  RunFieldOps(&s, Ops({"INCRBY", "i3", "5", "1"}), &changed);
  EXPECT_TRUE(changed);
  EXPECT_EQ(s, "\x06\x00"s);
}

// BITFIELD_RO on a big value reads it in place: the GETs alone, on a view, give what
// RunFieldOps gives on a copy; FieldOpsBytes is the length RunFieldOps grows a value to.
TEST(Bitfield, GetsOnAViewAnswerAsRunFieldOps) {
  const std::string s = "\x81\x7f\x00\xff\x10"s;
  auto ops = Ops({"GET", "u8", "0", "GET", "i8", "0", "GET", "i5", "3", "GET", "u16", "#1", "GET", "i64", "0",
                  "GET", "u63", "30", "GET", "u4", "100"});
  std::string copy = s;
  auto want = RunFieldOps(&copy, ops);
  auto got = RunFieldGets(s, ops);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_EQ(got[i].value, want[i].value) << "op " << i;
    EXPECT_FALSE(got[i].null);
  }
  EXPECT_EQ(got[0].value, 0x81);
  EXPECT_EQ(got[1].value, -127);
  EXPECT_EQ(RunFieldGets(std::string_view(), ops)[0].value, 0);
  EXPECT_EQ(FieldOpsBytes(ops), 0u);  // GETs grow nothing
  EXPECT_EQ(FieldOpsBytes(Ops({"SET", "u8", "0", "1"})), 1u);
  EXPECT_EQ(FieldOpsBytes(Ops({"GET", "u8", "800", "SET", "u8", "9", "1", "INCRBY", "i16", "#3", "1"})), 8u);
  std::string grown;
  RunFieldOps(&grown, Ops({"SET", "u1", "70", "1", "GET", "u8", "800"}));
  EXPECT_EQ(grown.size(), FieldOpsBytes(Ops({"SET", "u1", "70", "1"})));
}

TEST(Bitfield, ParseErrorsAreRedisTexts) {
  auto err = [](const std::vector<std::string>& a) {
    std::vector<FieldOp> ops;
    bool ro;
    return ParseFieldOps(a, 0, 512ull * 1024 * 1024, &ops, &ro);
  };
  const std::string bad_type =
      "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
  EXPECT_EQ(err({"GET", "u64", "0"}), bad_type);
  EXPECT_EQ(err({"GET", "i65", "0"}), bad_type);
  EXPECT_EQ(err({"GET", "i0", "0"}), bad_type);
  EXPECT_EQ(err({"GET", "x8", "0"}), bad_type);
  EXPECT_EQ(err({"GET", "", "0"}), bad_type);
  EXPECT_EQ(err({"GET", "u08", "0"}), bad_type);
  EXPECT_EQ(err({"GET", "u8", "-1"}), "ERR bit offset is not an integer or out of range");
  EXPECT_EQ(err({"GET", "u8", "4294967296"}), "ERR bit offset is not an integer or out of range");
  EXPECT_EQ(err({"SET", "u8", "0", "x"}), "ERR value is not an integer or out of range");
  EXPECT_EQ(err({"SET", "u8", "0"}), "ERR syntax error");
  EXPECT_EQ(err({"OVERFLOW"}), "ERR syntax error");
  EXPECT_EQ(err({"OVERFLOW", "maybe", "GET", "u8", "0"}), "ERR Invalid OVERFLOW type specified");
  EXPECT_EQ(err({"FOO", "u8", "0"}), "ERR syntax error");
  EXPECT_EQ(err({}), "");
  bool ro = false;
  Ops({"get", "u8", "0", "overflow", "sat", "GET", "i4", "4"}, &ro);
  EXPECT_TRUE(ro);
  Ops({"get", "u8", "0", "incrby", "u8", "0", "1"}, &ro);
  EXPECT_FALSE(ro);
}

// ---- LCS ----

TEST(Lcs, RedisDocExample) {
  LcsResult r = Lcs("ohmytext", "mynewtext", true, true, 0);
  EXPECT_EQ(r.lcs, "mytext");
  EXPECT_EQ(r.len, 6u);
  // IDX: matches from the end: text (a 4..7, b 5..8), then my (a 2..3, b 0..1).
  ASSERT_EQ(r.matches.size(), 2u);
  EXPECT_EQ(r.matches[0].a_start, 4u);
  EXPECT_EQ(r.matches[0].a_end, 7u);
  EXPECT_EQ(r.matches[0].b_start, 5u);
  EXPECT_EQ(r.matches[0].b_end, 8u);
  EXPECT_EQ(r.matches[0].len, 4u);
  EXPECT_EQ(r.matches[1].a_start, 2u);
  EXPECT_EQ(r.matches[1].a_end, 3u);
  EXPECT_EQ(r.matches[1].b_start, 0u);
  EXPECT_EQ(r.matches[1].b_end, 1u);
  EXPECT_EQ(r.matches[1].len, 2u);
  // MINMATCHLEN 4 keeps only "text"; the length is still the whole LCS.
  LcsResult m = Lcs("ohmytext", "mynewtext", false, true, 4);
  ASSERT_EQ(m.matches.size(), 1u);
  EXPECT_EQ(m.matches[0].len, 4u);
  EXPECT_EQ(m.len, 6u);
  EXPECT_TRUE(m.lcs.empty());
}

TEST(Lcs, EmptyIdenticalAndBinaryStrings) {
  EXPECT_EQ(Lcs("", "abc", true, true, 0).lcs, "");
  EXPECT_TRUE(Lcs("", "abc", true, true, 0).matches.empty());
  LcsResult same = Lcs("ohmytext", "ohmytext", true, true, 0);
  EXPECT_EQ(same.lcs, "ohmytext");
  ASSERT_EQ(same.matches.size(), 1u);
  EXPECT_EQ(same.matches[0].a_start, 0u);
  EXPECT_EQ(same.matches[0].a_end, 7u);
  LcsResult bin = Lcs("a\x00" "b\xff" "c"s, "\x00\xff" "zc"s, true, true, 0);
  EXPECT_EQ(bin.lcs, "\x00\xff" "c"s);
  EXPECT_EQ(bin.len, 3u);
  EXPECT_EQ(Lcs("ACCGGTCGAGTGCGCGGAAGCCGGCCGAA", "GTCGTTCGGAATGCCGTTGCTCTGTAAA", true, false, 0).len, 20u);
}

}  // namespace
}  // namespace dynakv::server::bits
