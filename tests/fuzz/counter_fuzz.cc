// tests/fuzz/counter_fuzz.cc: libFuzzer target for the PN-counter codecs
// (cluster/version.h DecodeCounter / EncodeCounter, the value INCR/DECR keep in a sibling;
// DecodeFloatCounter / EncodeFloatCounter, the score counter ZINCRBY keeps).
//
// Input: the counter's bytes. Checks: no crash (UBSan: no signed overflow in Value, Add or
// Merge); a failed decode leaves the output untouched; decode ok => the encoding is
// byte-identical (one encoding per counter) and decodes back equal; Merge is idempotent and
// commutative; Add keeps the counter encodable. The same bytes go to the score counter's
// codec, with the same checks, and Value() is never NaN; and to HINCRBYFLOAT's long double
// counter and request payload (DecodeLongFloatCounter, DecodeFloatAdd).
// Run: scripts/fuzz.sh counter_fuzz (seeds: tests/fuzz/corpus/counter_fuzz).
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "cluster/version.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using dynakv::cluster::DecodeCounter;
using dynakv::cluster::DecodeFloatCounter;
using dynakv::cluster::EncodeFloatCounter;
using dynakv::cluster::DecodeFloatAdd;
using dynakv::cluster::DecodeLongFloatCounter;
using dynakv::cluster::EncodeFloatAdd;
using dynakv::cluster::EncodeLongFloatCounter;
using dynakv::cluster::FloatCounter;
using dynakv::cluster::LongFloatCounter;
using dynakv::cluster::EncodeCounter;
using dynakv::cluster::PNCounter;
using dynakv::fuzz::Check;

void CheckFloat(std::string_view in) {
  FloatCounter c;
  c.base = 4.5;
  c.slots.push_back({1, 2, 3});
  const FloatCounter sentinel = c;
  dynakv::Status s = DecodeFloatCounter(in, &c);
  if (!s.ok()) {
    Check(s.code() == dynakv::Code::kCorruption);
    Check(c == sentinel);
    return;
  }
  Check(EncodeFloatCounter(c) == in);
  for (size_t i = 1; i < c.slots.size(); ++i) Check(c.slots[i - 1].actor < c.slots[i].actor);
  Check(!std::isnan(c.Value()));
  FloatCounter m = c;
  m.Merge(c);
  Check(m == c);
  FloatCounter a = c, b = sentinel;
  a.Merge(sentinel);
  b.Merge(c);
  Check(a == b);
  for (double d : {1.0, -1.0, 1e308, -1e308, std::numeric_limits<double>::infinity()}) {
    FloatCounter x = c;
    x.Add(c.slots.empty() ? 9 : c.slots[0].actor, d);
    Check(!std::isnan(x.Value()));
    FloatCounter back;
    Check(DecodeFloatCounter(EncodeFloatCounter(x), &back).ok());
    Check(back == x);
  }
}

// HINCRBYFLOAT's counter (long double) and its request payload, the same checks.
void CheckLongFloat(std::string_view in) {
  LongFloatCounter c;
  c.base = 4.5L;
  c.slots.push_back({1, 2, 3});
  const LongFloatCounter sentinel = c;
  dynakv::Status s = DecodeLongFloatCounter(in, &c);
  if (!s.ok()) {
    Check(s.code() == dynakv::Code::kCorruption);
    Check(c == sentinel);
  } else {
    Check(EncodeLongFloatCounter(c) == in);
    for (size_t i = 1; i < c.slots.size(); ++i) Check(c.slots[i - 1].actor < c.slots[i].actor);
    Check(!std::isnan(c.Value()));
    LongFloatCounter m = c;
    m.Merge(c);
    Check(m == c);
    LongFloatCounter a = c, b = sentinel;
    a.Merge(sentinel);
    b.Merge(c);
    Check(a == b);
    for (long double d : {0.1L, -1.0L, 1e4000L, -std::numeric_limits<long double>::max()}) {
      LongFloatCounter x = c;
      x.Add(c.slots.empty() ? 9 : c.slots[0].actor, d);
      if (!x.Finite()) continue;  // the coordinator refuses such an add
      LongFloatCounter back;
      Check(DecodeLongFloatCounter(EncodeLongFloatCounter(x), &back).ok());
      Check(back == x);
    }
  }
  long double delta = 0, base = 0;
  bool has_base = false;
  if (DecodeFloatAdd(in, &delta, &has_base, &base)) {
    Check(std::isfinite(delta) && (!has_base || std::isfinite(base)));
    Check(EncodeFloatAdd(delta, has_base ? &base : nullptr) == in);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(bytes), size);
  CheckFloat(in);
  CheckLongFloat(in);
  PNCounter c;
  c.base = 42;
  c.slots.push_back({1, 2, 3});
  const PNCounter sentinel = c;
  dynakv::Status s = DecodeCounter(in, &c);
  if (!s.ok()) {
    Check(s.code() == dynakv::Code::kCorruption);
    Check(c == sentinel);
    return 0;
  }
  Check(EncodeCounter(c) == in);
  for (size_t i = 1; i < c.slots.size(); ++i) Check(c.slots[i - 1].actor < c.slots[i].actor);
  (void)c.Value();

  PNCounter m = c;
  m.Merge(c);
  Check(m == c);
  PNCounter a = c, b = sentinel;
  a.Merge(sentinel);
  b.Merge(c);
  Check(a == b);

  for (int64_t d : {int64_t{1}, int64_t{-1}, INT64_MAX, INT64_MIN}) {
    PNCounter x = c;
    x.Add(c.slots.empty() ? 9 : c.slots[0].actor, d);
    x.Add(0xffffffffffffffffull, d);
    (void)x.Value();
    PNCounter back;
    Check(DecodeCounter(EncodeCounter(x), &back).ok());
    Check(back == x);
  }
  return 0;
}
