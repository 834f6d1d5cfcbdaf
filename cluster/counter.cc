// cluster/counter.cc: the counters of version.h: the integer PN-counter (INCR, memcached
// incr/decr), the float counter of sorted-set scores (ZINCRBY) and the long double counter of
// HINCRBYFLOAT, with their byte formats and HINCRBYFLOAT's request payload. Split from
// version.cc; the record codec there stores each as a kCounter sibling's value.
#include "cluster/version.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cluster/byte_codec.h"

namespace dynakv::cluster {

using codec::PutFixed64;
using codec::PutVarint;
using codec::Reader;

namespace {
constexpr uint8_t kCounterFormat = 1;
// A count a decoder accepts (so a corrupt length never drives a huge allocation), and the
// smallest integer-counter slot, to reject counts the remaining input cannot hold.
constexpr uint64_t kMaxSlots = 1u << 20;
constexpr size_t kMinSlotBytes = 8 + 1 + 1;
}  // namespace

// ---- PN-counter ---------------------------------------------------------------------------

int64_t PNCounter::Value() const {
  // Unsigned arithmetic wraps by definition; the cast back is two's complement (C++20).
  uint64_t v = static_cast<uint64_t>(base);
  for (const Slot& s : slots) v = v + s.inc - s.dec;
  return static_cast<int64_t>(v);
}

void PNCounter::Add(ActorId actor, int64_t delta) {
  if (delta == 0) return;
  auto it = std::lower_bound(slots.begin(), slots.end(), actor,
                             [](const Slot& s, ActorId a) { return s.actor < a; });
  if (it == slots.end() || it->actor != actor) it = slots.insert(it, Slot{actor, 0, 0});
  // 0 - uint64(delta) is |delta| even for INT64_MIN.
  if (delta > 0) {
    it->inc += static_cast<uint64_t>(delta);
  } else {
    it->dec += 0 - static_cast<uint64_t>(delta);
  }
}

namespace {
// The pointwise max of two actor-sorted slot lists (PNCounter, FloatCounter).
template <typename Slot>
std::vector<Slot> MergeSlots(const std::vector<Slot>& a, const std::vector<Slot>& b) {
  std::vector<Slot> out;
  out.reserve(a.size() + b.size());
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].actor < b[j].actor)) {
      out.push_back(a[i++]);
    } else if (i == a.size() || b[j].actor < a[i].actor) {
      out.push_back(b[j++]);
    } else {
      out.push_back({a[i].actor, std::max(a[i].inc, b[j].inc), std::max(a[i].dec, b[j].dec)});
      ++i;
      ++j;
    }
  }
  return out;
}
}  // namespace

void PNCounter::Merge(const PNCounter& other) {
  base = std::max(base, other.base);
  slots = MergeSlots(slots, other.slots);
}

// [u8 format][varint zigzag(base)][varint n][n x (fixed64 actor, varint inc, varint dec)]
std::string EncodeCounter(const PNCounter& c) {
  std::string out;
  out.push_back(static_cast<char>(kCounterFormat));
  uint64_t b = static_cast<uint64_t>(c.base);
  PutVarint(&out, (b << 1) ^ (c.base < 0 ? ~uint64_t{0} : 0));
  PutVarint(&out, c.slots.size());
  for (const PNCounter::Slot& s : c.slots) {
    PutFixed64(&out, s.actor);
    PutVarint(&out, s.inc);
    PutVarint(&out, s.dec);
  }
  return out;
}

Status DecodeCounter(std::string_view bytes, PNCounter* out) {
  Reader r(bytes);
  uint8_t format = 0;
  uint64_t zz = 0, n = 0;
  if (!r.Byte(&format) || format != kCounterFormat || !r.Varint(&zz) ||
      !r.Count(kMaxSlots, kMinSlotBytes, &n)) {
    return Status::Corruption("bad counter");
  }
  PNCounter c;
  c.base = static_cast<int64_t>((zz >> 1) ^ (0 - (zz & 1)));
  c.slots.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    PNCounter::Slot s;
    if (!r.Fixed64(&s.actor) || !r.Varint(&s.inc) || !r.Varint(&s.dec))
      return Status::Corruption("truncated counter");
    if (i > 0 && s.actor <= c.slots.back().actor) return Status::Corruption("unsorted counter");
    c.slots.push_back(s);
  }
  if (r.left() != 0) return Status::Corruption("trailing bytes in counter");
  *out = std::move(c);
  return Status::OK();
}

// ---- float counter (sorted-set scores) ---------------------------------------------------

double FloatCounter::Value() const {
  double v = base;
  for (const Slot& s : slots) v += s.inc - s.dec;
  return std::isnan(v) ? 0.0 : v;
}

void FloatCounter::Add(ActorId actor, double delta) {
  if (delta == 0 || std::isnan(delta)) return;
  auto it = std::lower_bound(slots.begin(), slots.end(), actor,
                             [](const Slot& s, ActorId a) { return s.actor < a; });
  if (it == slots.end() || it->actor != actor) it = slots.insert(it, Slot{actor, 0, 0});
  if (delta > 0) {
    it->inc += delta;
  } else {
    it->dec -= delta;
  }
}

void FloatCounter::Merge(const FloatCounter& other) {
  base = std::max(base, other.base);
  slots = MergeSlots(slots, other.slots);
}

// ---- long double counter (HINCRBYFLOAT) ----------------------------------------------------

long double LongFloatCounter::Value() const {
  long double v = base;
  for (const Slot& s : slots) v += s.net;
  return std::isnan(v) ? 0.0L : v;
}

void LongFloatCounter::Add(ActorId actor, long double delta) {
  auto it = std::lower_bound(slots.begin(), slots.end(), actor,
                             [](const Slot& s, ActorId a) { return s.actor < a; });
  if (it == slots.end() || it->actor != actor) it = slots.insert(it, Slot{actor, 0, 0});
  it->seq++;
  it->net += delta;
}

void LongFloatCounter::Merge(const LongFloatCounter& other) {
  base = std::max(base, other.base);
  std::vector<Slot> out;
  out.reserve(slots.size() + other.slots.size());
  size_t i = 0, j = 0;
  while (i < slots.size() || j < other.slots.size()) {
    if (j == other.slots.size() || (i < slots.size() && slots[i].actor < other.slots[j].actor)) {
      out.push_back(slots[i++]);
    } else if (i == slots.size() || other.slots[j].actor < slots[i].actor) {
      out.push_back(other.slots[j++]);
    } else {
      // The copy with more increments; equal counts are the same history (the larger net
      // keeps the merge commutative should they ever differ).
      const Slot& a = slots[i++];
      const Slot& b = other.slots[j++];
      out.push_back(a.seq != b.seq ? (a.seq > b.seq ? a : b) : (b.net > a.net ? b : a));
    }
  }
  slots = std::move(out);
}

bool LongFloatCounter::Finite() const {
  if (!std::isfinite(base)) return false;
  for (const Slot& s : slots) {
    if (!std::isfinite(s.net)) return false;
  }
  return true;
}

namespace {
uint64_t DoubleBits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}
double BitsDouble(uint64_t b) {
  double d;
  std::memcpy(&d, &b, 8);
  return d;
}
}  // namespace

bool IsFloatCounter(std::string_view counter_bytes) {
  return !counter_bytes.empty() && static_cast<uint8_t>(counter_bytes[0]) == kFloatCounterFormat;
}

// [u8 format 2][fixed64 base][varint n][n x (fixed64 actor, fixed64 inc, fixed64 dec)]
std::string EncodeFloatCounter(const FloatCounter& c) {
  std::string out;
  out.push_back(static_cast<char>(kFloatCounterFormat));
  PutFixed64(&out, DoubleBits(c.base));
  PutVarint(&out, c.slots.size());
  for (const FloatCounter::Slot& s : c.slots) {
    PutFixed64(&out, s.actor);
    PutFixed64(&out, DoubleBits(s.inc));
    PutFixed64(&out, DoubleBits(s.dec));
  }
  return out;
}

Status DecodeFloatCounter(std::string_view bytes, FloatCounter* out) {
  Reader r(bytes);
  uint8_t format = 0;
  uint64_t base = 0, n = 0;
  if (!r.Byte(&format) || format != kFloatCounterFormat || !r.Fixed64(&base) ||
      !r.Count(kMaxSlots, 24, &n)) {
    return Status::Corruption("bad score counter");
  }
  FloatCounter c;
  c.base = BitsDouble(base);
  if (std::isnan(c.base)) return Status::Corruption("bad score counter");
  c.slots.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    FloatCounter::Slot s;
    uint64_t inc = 0, dec = 0;
    if (!r.Fixed64(&s.actor) || !r.Fixed64(&inc) || !r.Fixed64(&dec))
      return Status::Corruption("truncated score counter");
    s.inc = BitsDouble(inc);
    s.dec = BitsDouble(dec);
    if (!(s.inc >= 0) || !(s.dec >= 0)) return Status::Corruption("bad score counter slot");
    if (i > 0 && s.actor <= c.slots.back().actor) return Status::Corruption("unsorted score counter");
    c.slots.push_back(s);
  }
  if (r.left() != 0) return Status::Corruption("trailing bytes in score counter");
  *out = std::move(c);
  return Status::OK();
}

bool IsLongFloatCounter(std::string_view counter_bytes) {
  return !counter_bytes.empty() && static_cast<uint8_t>(counter_bytes[0]) == kLongFloatCounterFormat;
}

namespace {
// A finite long double as [u8 sign][fixed64 mantissa][varint zigzag exponent]: v =
// (-1)^sign * mantissa * 2^(exponent - 64). Exact for the x87 80-bit format (a 64-bit
// mantissa); a wider long double keeps its top 64 bits.
void PutLongDouble(std::string* out, long double v) {
  DKV_ASSERT(std::isfinite(v));
  int e = 0;
  long double f = std::frexp(std::fabs(v), &e);  // [0.5, 1), or 0
  out->push_back(std::signbit(v) ? 1 : 0);
  PutFixed64(out, static_cast<uint64_t>(std::ldexp(f, 64)));
  uint64_t ue = static_cast<uint64_t>(static_cast<int64_t>(e));
  PutVarint(out, (ue << 1) ^ (e < 0 ? ~uint64_t{0} : 0));
}
bool GetLongDouble(Reader* r, long double* v) {
  uint8_t sign = 0;
  uint64_t m = 0, zz = 0;
  if (!r->Byte(&sign) || sign > 1 || !r->Fixed64(&m) || !r->Varint(&zz)) return false;
  int64_t e = static_cast<int64_t>((zz >> 1) ^ (0 - (zz & 1)));
  if (e < -17000 || e > 17000) return false;
  long double x = std::ldexp(static_cast<long double>(m), static_cast<int>(e) - 64);
  if (!std::isfinite(x)) return false;
  // Canonical: exactly the bytes PutLongDouble writes for x (one encoding per value, as the
  // record checksum and the cas hash need).
  int e2 = 0;
  long double f2 = std::frexp(x, &e2);
  if (m == 0 ? e != 0 : (static_cast<uint64_t>(std::ldexp(f2, 64)) != m || e2 != e)) return false;
  *v = sign ? -x : x;
  return true;
}
}  // namespace

// [u8 format 3][long double base][varint n][n x (fixed64 actor, varint seq, long double net)]
std::string EncodeLongFloatCounter(const LongFloatCounter& c) {
  std::string out;
  out.push_back(static_cast<char>(kLongFloatCounterFormat));
  PutLongDouble(&out, c.base);
  PutVarint(&out, c.slots.size());
  for (const LongFloatCounter::Slot& s : c.slots) {
    PutFixed64(&out, s.actor);
    PutVarint(&out, s.seq);
    PutLongDouble(&out, s.net);
  }
  return out;
}

Status DecodeLongFloatCounter(std::string_view bytes, LongFloatCounter* out) {
  Reader r(bytes);
  uint8_t format = 0;
  uint64_t n = 0;
  LongFloatCounter c;
  if (!r.Byte(&format) || format != kLongFloatCounterFormat || !GetLongDouble(&r, &c.base) ||
      !r.Count(kMaxSlots, 19, &n)) {
    return Status::Corruption("bad float counter");
  }
  c.slots.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    LongFloatCounter::Slot s;
    if (!r.Fixed64(&s.actor) || !r.Varint(&s.seq) || !GetLongDouble(&r, &s.net))
      return Status::Corruption("truncated float counter");
    // seq counts increments: at least one, and far below where Add's seq++ would wrap.
    if (s.seq == 0 || s.seq > (uint64_t{1} << 62)) return Status::Corruption("bad float counter slot");
    if (i > 0 && s.actor <= c.slots.back().actor) return Status::Corruption("unsorted float counter");
    c.slots.push_back(s);
  }
  if (r.left() != 0) return Status::Corruption("trailing bytes in float counter");
  *out = std::move(c);
  return Status::OK();
}

// [long double delta][u8 has_base][long double base, when has_base]
std::string EncodeFloatAdd(long double delta, const long double* base) {
  std::string out;
  PutLongDouble(&out, delta);
  out.push_back(base != nullptr ? 1 : 0);
  if (base != nullptr) PutLongDouble(&out, *base);
  return out;
}

bool DecodeFloatAdd(std::string_view bytes, long double* delta, bool* has_base, long double* base) {
  Reader r(bytes);
  uint8_t hb = 0;
  if (!GetLongDouble(&r, delta) || !r.Byte(&hb) || hb > 1) return false;
  *has_base = hb == 1;
  if (*has_base && !GetLongDouble(&r, base)) return false;
  return r.left() == 0;
}

}  // namespace dynakv::cluster
