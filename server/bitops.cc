// server/bitops.cc: see bitops.h. The arithmetic (ranges, BITPOS padding, BITFIELD overflow,
// the LCS walk) follows Redis 7's bitops.c and t_string.c step by step, because clients see
// every corner of it; only the loops are written plainly.
#include "server/bitops.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>

#include "cluster/version.h"
#include "protocol/resp.h"

namespace dynakv::server::bits {

namespace {

uint8_t ByteAt(std::string_view s, uint64_t i) {
  return i < s.size() ? static_cast<uint8_t>(s[i]) : 0;
}

// Set bits in `words` 8-byte words at p. The x86-64 baseline has no POPCNT instruction, so
// std::popcount is a bit-twiddling sequence there (about 2 GB/s: BITCOUNT of a 100 MB value
// held the loop ~45 ms); the same loop compiled for POPCNT runs where the CPU has it.
template <typename Count>
inline int64_t CountWords(const char* p, size_t words, Count count) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = 0;
  for (; i + 4 <= words; i += 4) {
    uint64_t w[4];
    std::memcpy(w, p + i * 8, 32);
    a += count(w[0]);
    b += count(w[1]);
    c += count(w[2]);
    d += count(w[3]);
  }
  for (; i < words; i++) {
    uint64_t w;
    std::memcpy(&w, p + i * 8, 8);
    a += count(w);
  }
  return int64_t(a + b + c + d);
}
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("popcnt"))) int64_t CountWordsPopcnt(const char* p, size_t words) {
  return CountWords(p, words, [](uint64_t w) { return uint64_t(__builtin_popcountll(w)); });
}
const bool kHavePopcnt = __builtin_cpu_supports("popcnt");
#endif

// Set bits in bytes [from, to) of s.
int64_t CountBytes(std::string_view s, size_t from, size_t to) {
  int64_t n = 0;
  size_t words = to > from ? (to - from) / 8 : 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (kHavePopcnt) n = CountWordsPopcnt(s.data() + from, words);
  else
#endif
    n = CountWords(s.data() + from, words, [](uint64_t w) { return uint64_t(std::popcount(w)); });
  for (size_t i = from + words * 8; i < to; i++) n += std::popcount(static_cast<uint8_t>(s[i]));
  return n;
}

// Redis's index normalisation shared by BITCOUNT/BITPOS/GETRANGE: negative indexes from the
// end, then clamped to [0, totlen-1] (end) and >= 0 (start).
void Normalise(int64_t totlen, int64_t* start, int64_t* end) {
  if (*start < 0) *start = totlen + *start;
  if (*end < 0) *end = totlen + *end;
  if (*start < 0) *start = 0;
  if (*end < 0) *end = 0;
  if (*end >= totlen) *end = totlen - 1;
}

}  // namespace

int64_t PopCount(std::string_view s) { return CountBytes(s, 0, s.size()); }

int64_t BitCount(std::string_view s, bool has_range, int64_t start, int64_t end, bool bit_unit) {
  if (!has_range) return PopCount(s);
  int64_t totlen = int64_t(s.size());
  if (start < 0 && end < 0 && start > end) return 0;
  if (bit_unit) totlen <<= 3;
  Normalise(totlen, &start, &end);
  if (start > end) return 0;
  if (!bit_unit) return CountBytes(s, size_t(start), size_t(end) + 1);
  // Bits [start, end]: whole bytes, minus the bits of the edge bytes outside the range.
  uint64_t fb = uint64_t(start) >> 3, lb = uint64_t(end) >> 3;
  int64_t n = CountBytes(s, fb, lb + 1);
  uint8_t head_out = uint8_t(~((1u << (8 - (start & 7))) - 1));  // bits before start
  uint8_t tail_out = uint8_t((1u << (7 - (end & 7))) - 1);        // bits after end
  n -= std::popcount(uint8_t(ByteAt(s, fb) & head_out));
  n -= std::popcount(uint8_t(ByteAt(s, lb) & tail_out));
  return n;
}

int64_t BitPos(std::string_view s, int bit, bool has_start, int64_t start, bool has_end,
               int64_t end, bool bit_unit) {
  int64_t totlen = int64_t(s.size());
  if (!has_start) {
    start = 0;
    end = totlen - 1;
    bit_unit = false;
  } else {
    if (!has_end) end = bit_unit ? (totlen << 3) + 7 : totlen - 1;
    if (bit_unit) totlen <<= 3;
    Normalise(totlen, &start, &end);
  }
  // An empty range holds neither a 0 nor a 1.
  if (start > end) return -1;
  uint64_t first = bit_unit ? uint64_t(start) : uint64_t(start) << 3;
  uint64_t last = bit_unit ? uint64_t(end) : (uint64_t(end) << 3) + 7;
  uint64_t pos = first;
  // Leading bits up to a byte boundary, whole bytes, then the trailing bits.
  while (pos <= last && (pos & 7) != 0) {
    if (GetBit(s, pos) == bit) return int64_t(pos);
    pos++;
  }
  const uint8_t skip = bit ? 0x00 : 0xff;
  while (pos + 7 <= last) {
    uint8_t b = ByteAt(s, pos >> 3);
    if (b != skip) {
      for (int k = 0; k < 8; k++) {
        if (((b >> (7 - k)) & 1) == bit) return int64_t(pos) + k;
      }
    }
    pos += 8;
  }
  while (pos <= last) {
    if (GetBit(s, pos) == bit) return int64_t(pos);
    pos++;
  }
  if (bit == 1) return -1;
  // No clear bit: with an explicit end the range holds none; without one the string is zero
  // padded on the right, so the first bit past it is clear.
  if (has_end) return -1;
  return int64_t(last) + 1;
}

int GetBit(std::string_view s, uint64_t offset) {
  return (ByteAt(s, offset >> 3) >> (7 - (offset & 7))) & 1;
}

int SetBit(std::string* s, uint64_t offset, int on) {
  uint64_t byte = offset >> 3;
  if (s->size() <= byte) {
    cluster::ReserveForEncoding(s, size_t(byte) + 1);
    s->resize(size_t(byte) + 1, '\0');
  }
  int shift = 7 - int(offset & 7);
  uint8_t v = static_cast<uint8_t>((*s)[byte]);
  int old = (v >> shift) & 1;
  v = uint8_t((v & ~(1u << shift)) | (uint32_t(on & 1) << shift));
  (*s)[byte] = char(v);
  return old;
}

std::string BitOpApply(BitOp op, const std::vector<std::string_view>& srcs) {
  size_t maxlen = 0;
  for (auto s : srcs) maxlen = std::max(maxlen, s.size());
  std::string out(maxlen, '\0');
  if (srcs.empty() || maxlen == 0) return out;
  for (size_t j = 0; j < maxlen; j++) {
    uint8_t o = ByteAt(srcs[0], j);
    if (op == BitOp::kNot) {
      o = uint8_t(~o);
    } else {
      for (size_t i = 1; i < srcs.size(); i++) {
        uint8_t b = ByteAt(srcs[i], j);
        if (op == BitOp::kAnd) o &= b;
        else if (op == BitOp::kOr) o |= b;
        else o ^= b;
      }
    }
    out[j] = char(o);
  }
  return out;
}

// ---- BITFIELD -----------------------------------------------------------------------------

bool ParseFieldType(std::string_view s, FieldType* out) {
  if (s.empty() || (s[0] != 'i' && s[0] != 'u')) return false;
  bool sign = s[0] == 'i';
  int64_t bits;
  if (!protocol::ParseRedisInt(s.substr(1), &bits) || bits < 1 || (sign && bits > 64) ||
      (!sign && bits > 63)) {
    return false;
  }
  out->is_signed = sign;
  out->bits = int(bits);
  return true;
}

uint64_t GetUnsigned(std::string_view s, uint64_t offset, int bits) {
  uint64_t v = 0;
  for (int j = 0; j < bits; j++) v = (v << 1) | uint64_t(GetBit(s, offset + uint64_t(j)));
  return v;
}

int64_t GetSigned(std::string_view s, uint64_t offset, int bits) {
  uint64_t u = GetUnsigned(s, offset, bits);
  // Propagate the field's sign bit to the higher bits (two's complement).
  if (bits < 64 && (u & (uint64_t(1) << (bits - 1)))) u |= ~uint64_t(0) << bits;
  return int64_t(u);
}

void SetField(std::string* s, uint64_t offset, int bits, uint64_t value) {
  for (int j = 0; j < bits; j++) {
    int bit = int((value >> (bits - 1 - j)) & 1);
    SetBit(s, offset + uint64_t(j), bit);
  }
}

int CheckUnsignedOverflow(uint64_t value, int64_t incr, int bits, Overflow ow, uint64_t* limit) {
  uint64_t max = bits == 64 ? UINT64_MAX : (uint64_t(1) << bits) - 1;
  int64_t maxincr = int64_t(max - value);
  int64_t minincr = int64_t(uint64_t(0) - value);
  auto wrap = [&] {
    uint64_t mask = bits == 64 ? 0 : ~uint64_t(0) << bits;
    *limit = (value + uint64_t(incr)) & ~mask;
  };
  if (value > max || (incr > 0 && incr > maxincr)) {
    if (ow == Overflow::kWrap) wrap();
    else if (ow == Overflow::kSat) *limit = max;
    return 1;
  }
  if (incr < 0 && incr < minincr) {
    if (ow == Overflow::kWrap) {
      wrap();
      return 1;  // Redis reports a wrapped underflow as 1 too (its goto shares the return)
    }
    if (ow == Overflow::kSat) *limit = 0;
    return -1;
  }
  return 0;
}

int CheckSignedOverflow(int64_t value, int64_t incr, int bits, Overflow ow, int64_t* limit) {
  int64_t max = bits == 64 ? INT64_MAX : (int64_t(1) << (bits - 1)) - 1;
  int64_t min = -max - 1;
  // maxincr/minincr may wrap; they are only used once value's range is known (as Redis).
  int64_t maxincr = int64_t(uint64_t(max) - uint64_t(value));
  int64_t minincr = int64_t(uint64_t(min) - uint64_t(value));
  auto wrap = [&] {
    uint64_t msb = uint64_t(1) << (bits - 1);
    uint64_t c = uint64_t(value) + uint64_t(incr);
    if (bits < 64) {
      uint64_t mask = ~uint64_t(0) << bits;
      c = (c & msb) ? (c | mask) : (c & ~mask);
    }
    *limit = int64_t(c);
  };
  if (value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr)) {
    if (ow == Overflow::kWrap) wrap();
    else if (ow == Overflow::kSat) *limit = max;
    return 1;
  }
  if (value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr)) {
    if (ow == Overflow::kWrap) {
      wrap();
      return 1;
    }
    if (ow == Overflow::kSat) *limit = min;
    return -1;
  }
  return 0;
}

bool ParseBitOffset(std::string_view s, int hash_bits, uint64_t max_bytes, uint64_t* out) {
  bool hash = !s.empty() && s[0] == '#' && hash_bits > 0;
  int64_t v;
  if (!protocol::ParseRedisInt(hash ? s.substr(1) : s, &v)) return false;
  if (hash && __builtin_mul_overflow(v, int64_t(hash_bits), &v)) return false;
  if (v < 0 || (uint64_t(v) >> 3) >= max_bytes) return false;
  *out = uint64_t(v);
  return true;
}

std::string ParseFieldOps(const std::vector<std::string>& args, size_t from, uint64_t max_bytes,
                          std::vector<FieldOp>* ops, bool* readonly) {
  Overflow ow = Overflow::kWrap;
  *readonly = true;
  ops->clear();
  for (size_t j = from; j < args.size(); j++) {
    size_t remargs = args.size() - j - 1;
    std::string sub(args[j]);
    for (char& c : sub) c = char(std::tolower(static_cast<unsigned char>(c)));
    FieldOp op;
    if (sub == "get" && remargs >= 2) {
      op.kind = FieldOp::kGet;
    } else if (sub == "set" && remargs >= 3) {
      op.kind = FieldOp::kSet;
    } else if (sub == "incrby" && remargs >= 3) {
      op.kind = FieldOp::kIncrBy;
    } else if (sub == "overflow" && remargs >= 1) {
      std::string t(args[++j]);
      for (char& c : t) c = char(std::tolower(static_cast<unsigned char>(c)));
      if (t == "wrap") ow = Overflow::kWrap;
      else if (t == "sat") ow = Overflow::kSat;
      else if (t == "fail") ow = Overflow::kFail;
      else return "ERR Invalid OVERFLOW type specified";
      continue;
    } else {
      return "ERR syntax error";
    }
    if (!ParseFieldType(args[j + 1], &op.type)) {
      return "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not "
             "supported but i64 is.";
    }
    if (!ParseBitOffset(args[j + 2], op.type.bits, max_bytes, &op.offset)) {
      return "ERR bit offset is not an integer or out of range";
    }
    if (op.kind != FieldOp::kGet) {
      *readonly = false;
      if (!protocol::ParseRedisInt(args[j + 3], &op.arg)) {
        return "ERR value is not an integer or out of range";
      }
    }
    op.overflow = ow;
    ops->push_back(op);
    j += op.kind == FieldOp::kGet ? 2 : 3;
  }
  return "";
}

size_t FieldOpsBytes(const std::vector<FieldOp>& ops) {
  size_t bytes = 0;
  for (const auto& op : ops) {
    if (op.kind != FieldOp::kGet) bytes = std::max(bytes, size_t((op.offset + uint64_t(op.type.bits) - 1) >> 3) + 1);
  }
  return bytes;
}

std::vector<FieldResult> RunFieldGets(std::string_view s, const std::vector<FieldOp>& ops) {
  std::vector<FieldResult> out;
  out.reserve(ops.size());
  for (const auto& op : ops) {
    FieldResult r;
    r.value = op.type.is_signed ? GetSigned(s, op.offset, op.type.bits)
                                : int64_t(GetUnsigned(s, op.offset, op.type.bits));
    out.push_back(r);
  }
  return out;
}

std::vector<FieldResult> RunFieldOps(std::string* s, const std::vector<FieldOp>& ops,
                                     bool* changed) {
  bool dirty = false;
  size_t need = FieldOpsBytes(ops);
  if (s->size() < need) {
    cluster::ReserveForEncoding(s, need);
    s->resize(need, '\0');
    dirty = true;
  }
  std::vector<FieldResult> out;
  out.reserve(ops.size());
  for (const auto& op : ops) {
    FieldResult r;
    const int bits = op.type.bits;
    if (op.kind == FieldOp::kGet) {
      r.value = op.type.is_signed ? GetSigned(*s, op.offset, bits)
                                  : int64_t(GetUnsigned(*s, op.offset, bits));
    } else if (op.type.is_signed) {
      int64_t oldval = GetSigned(*s, op.offset, bits), newval, ret, wrapped = 0;
      int overflow;
      if (op.kind == FieldOp::kIncrBy) {
        overflow = CheckSignedOverflow(oldval, op.arg, bits, op.overflow, &wrapped);
        newval = overflow ? wrapped : oldval + op.arg;
        ret = newval;
      } else {
        newval = op.arg;
        overflow = CheckSignedOverflow(newval, 0, bits, op.overflow, &wrapped);
        if (overflow) newval = wrapped;
        ret = oldval;
      }
      if (overflow && op.overflow == Overflow::kFail) {
        r.null = true;
      } else {
        r.value = ret;
        SetField(s, op.offset, bits, uint64_t(newval));
        dirty = dirty || newval != oldval;
      }
    } else {
      uint64_t oldval = GetUnsigned(*s, op.offset, bits), newval, ret, wrapped = 0;
      int overflow;
      if (op.kind == FieldOp::kIncrBy) {
        newval = oldval + uint64_t(op.arg);
        overflow = CheckUnsignedOverflow(oldval, op.arg, bits, op.overflow, &wrapped);
        if (overflow) newval = wrapped;
        ret = newval;
      } else {
        newval = uint64_t(op.arg);
        overflow = CheckUnsignedOverflow(newval, 0, bits, op.overflow, &wrapped);
        if (overflow) newval = wrapped;
        ret = oldval;
      }
      if (overflow && op.overflow == Overflow::kFail) {
        r.null = true;
      } else {
        r.value = int64_t(ret);
        SetField(s, op.offset, bits, newval);
        dirty = dirty || newval != oldval;
      }
    }
    out.push_back(r);
  }
  if (changed) *changed = dirty;
  return out;
}

// ---- LCS ----------------------------------------------------------------------------------

LcsResult Lcs(std::string_view a, std::string_view b, bool want_string, bool want_matches,
              uint64_t min_match_len) {
  const uint32_t alen = uint32_t(a.size()), blen = uint32_t(b.size());
  // table[i*(blen+1)+j] = LCS length of a[0..i) and b[0..j).
  std::vector<uint32_t> table(size_t(alen + 1) * (blen + 1), 0);
  auto at = [&](uint32_t i, uint32_t j) -> uint32_t& { return table[size_t(i) * (blen + 1) + j]; };
  for (uint32_t i = 1; i <= alen; i++) {
    for (uint32_t j = 1; j <= blen; j++) {
      if (a[i - 1] == b[j - 1]) at(i, j) = at(i - 1, j - 1) + 1;
      else at(i, j) = std::max(at(i - 1, j), at(i, j - 1));
    }
  }
  LcsResult r;
  r.len = at(alen, blen);
  if (!want_string && !want_matches) return r;
  if (want_string) r.lcs.assign(r.len, '\0');
  // Walk back from the end, collecting the string and the contiguous ranges (Redis's order:
  // the last match first). arange_start == alen means "no range open".
  uint32_t idx = r.len;
  uint32_t as = alen, ae = 0, bs = 0, be = 0;
  uint32_t i = alen, j = blen;
  while (i > 0 && j > 0) {
    bool emit = false;
    if (a[i - 1] == b[j - 1]) {
      if (want_string) r.lcs[idx - 1] = a[i - 1];
      if (as == alen) {
        as = ae = i - 1;
        bs = be = j - 1;
      } else if (as == i && bs == j) {
        as--;
        bs--;
      } else {
        emit = true;
      }
      if (as == 0 || bs == 0) emit = true;
      idx--;
      i--;
      j--;
    } else {
      if (at(i - 1, j) > at(i, j - 1)) i--;
      else j--;
      if (as != alen) emit = true;
    }
    if (emit) {
      uint32_t mlen = ae - as + 1;
      if (want_matches && (min_match_len == 0 || mlen >= min_match_len)) {
        r.matches.push_back({as, ae, bs, be, mlen});
      }
      as = alen;
    }
  }
  return r;
}

}  // namespace dynakv::server::bits
