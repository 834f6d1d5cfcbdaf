// server/bitops.h: the pure logic of Redis's bit and string-algorithm commands (BITCOUNT,
// BITPOS, BITOP, SETBIT/GETBIT, BITFIELD, LCS), on plain byte strings: no I/O, no cluster,
// so tests/unit/server_bitops_test.cc checks every edge case without a server.
//
// Bit numbering is Redis's: bit 0 is the most significant bit of the first byte. Ranges
// follow Redis 7 (negative indexes count from the end, BYTE or BIT units). The command
// handlers (server/commands_bits.cc) parse arguments, read the key, call these and reply.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynakv::server::bits {

// ---- counting and searching ---------------------------------------------------------------

// Number of set bits in `s`.
int64_t PopCount(std::string_view s);

// BITCOUNT over an existing string: the whole string without a range, else [start, end] in
// bytes or bits (bit_unit), negative indexes from the end, clamped like Redis.
int64_t BitCount(std::string_view s, bool has_range, int64_t start, int64_t end, bool bit_unit);

// BITPOS over an existing string (a missing key is the caller's: -1 for 1, 0 for 0).
// Looking for 0 without an explicit end, a string of all ones answers the first bit past
// it (the string is zero padded on the right); with an explicit end it answers -1.
int64_t BitPos(std::string_view s, int bit, bool has_start, int64_t start, bool has_end,
               int64_t end, bool bit_unit);

// ---- single bits ----------------------------------------------------------------------------

// The bit at `offset` (0 past the end).
int GetBit(std::string_view s, uint64_t offset);
// Sets the bit at `offset` to `on`, growing `s` with zero bytes as needed; returns the old bit.
int SetBit(std::string* s, uint64_t offset, int on);

// ---- BITOP --------------------------------------------------------------------------------

enum class BitOp { kAnd, kOr, kXor, kNot };
// The result of `op` over `srcs` (missing keys are empty strings, shorter strings are zero
// padded); its length is the longest source's. NOT takes exactly one source.
std::string BitOpApply(BitOp op, const std::vector<std::string_view>& srcs);

// ---- BITFIELD -----------------------------------------------------------------------------

enum class Overflow { kWrap, kSat, kFail };

struct FieldType {
  bool is_signed = false;
  int bits = 0;  // i1..i64, u1..u63
};
// Parses "i16" / "u8"; false for anything else (u64 included, as Redis).
bool ParseFieldType(std::string_view s, FieldType* out);

// Reads the field at bit `offset` (zero past the end of `s`).
uint64_t GetUnsigned(std::string_view s, uint64_t offset, int bits);
int64_t GetSigned(std::string_view s, uint64_t offset, int bits);
// Writes the low `bits` bits of `value` at `offset`; `s` must already be long enough.
void SetField(std::string* s, uint64_t offset, int bits, uint64_t value);

// Overflow check of value + incr for a field of `bits` bits. Returns 0 when it fits, 1 on
// overflow, -1 on underflow; then *limit is the value to store for WRAP (wrapped around) or
// SAT (the max or min), and is untouched for FAIL. Redis's exact arithmetic.
int CheckUnsignedOverflow(uint64_t value, int64_t incr, int bits, Overflow ow, uint64_t* limit);
int CheckSignedOverflow(int64_t value, int64_t incr, int bits, Overflow ow, int64_t* limit);

// One BITFIELD subcommand.
struct FieldOp {
  enum Kind { kGet, kSet, kIncrBy } kind = kGet;
  FieldType type;
  uint64_t offset = 0;
  int64_t arg = 0;  // SET value or INCRBY increment
  Overflow overflow = Overflow::kWrap;
};
struct FieldResult {
  bool null = false;  // FAIL overflow: the op wrote nothing and replies nil
  int64_t value = 0;  // as Redis replies it (unsigned fields fit: at most 63 bits)
};

// Parses BITFIELD's subcommands (args after the key). On error returns the Redis error text
// and leaves *ops unspecified. *readonly is true when every op is a GET.
// max_bytes: proto-max-bulk-len (offsets whose byte is at or past it are refused).
std::string ParseFieldOps(const std::vector<std::string>& args, size_t from, uint64_t max_bytes,
                          std::vector<FieldOp>* ops, bool* readonly);

// Runs `ops` in order on `s` (grown with zero bytes up to the farthest written bit first, as
// Redis does, even when an op then fails). Returns one result per op; *changed (if given)
// says whether `s` differs from what it was (it grew, or a field took a new value).
std::vector<FieldResult> RunFieldOps(std::string* s, const std::vector<FieldOp>& ops,
                                     bool* changed = nullptr);

// The GETs of `ops` (every op must be a GET) on `s` as it is: RunFieldOps' results without
// a copy of s to run on.
std::vector<FieldResult> RunFieldGets(std::string_view s, const std::vector<FieldOp>& ops);
// The bytes a value has once `ops` ran (RunFieldOps grows it to the farthest written bit):
// 0 when no op writes.
size_t FieldOpsBytes(const std::vector<FieldOp>& ops);

// Parses a bit offset argument: a non-negative integer, or "#N" (N * bits) when hash_bits > 0;
// false when it is not one or its byte is at or past max_bytes.
bool ParseBitOffset(std::string_view s, int hash_bits, uint64_t max_bytes, uint64_t* out);

// ---- LCS ----------------------------------------------------------------------------------

struct LcsMatch {
  uint32_t a_start, a_end, b_start, b_end, len;
};
struct LcsResult {
  uint32_t len = 0;
  std::string lcs;               // filled when want_string
  std::vector<LcsMatch> matches; // filled when want_matches (from the end backwards, as Redis)
};
// Longest common subsequence of a and b by Redis's dynamic programme (O(|a|*|b|) time and
// 4*(|a|+1)*(|b|+1) bytes, which the caller bounds). Matches shorter than min_match_len are
// left out of `matches` (0: keep all).
LcsResult Lcs(std::string_view a, std::string_view b, bool want_string, bool want_matches,
              uint64_t min_match_len);

}  // namespace dynakv::server::bits
