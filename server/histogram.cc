// server/histogram.cc: see histogram.h.
#include "server/histogram.h"

#include <algorithm>
#include <cmath>

namespace dynakv::server {

size_t Histogram::Index(uint64_t v) {
  constexpr uint64_t kLinear = uint64_t(1) << kSubBits;
  if (v < kLinear) return size_t(v);
  if (v >= (uint64_t(1) << kMaxBits)) v = (uint64_t(1) << kMaxBits) - 1;
  int msb = 63 - __builtin_clzll(v);
  int shift = msb - kSubBits + 1;  // >= 1
  uint64_t sub = v >> shift;       // in [kHalf, 2 * kHalf)
  return size_t(kLinear + uint64_t(shift - 1) * kHalf + (sub - kHalf));
}

uint64_t Histogram::Lowest(size_t idx) {
  constexpr size_t kLinear = size_t(1) << kSubBits;
  if (idx < kLinear) return idx;
  size_t k = idx - kLinear;
  int shift = int(k / kHalf) + 1;
  uint64_t sub = kHalf + k % kHalf;
  return sub << shift;
}

uint64_t Histogram::Highest(size_t idx) {
  constexpr size_t kLinear = size_t(1) << kSubBits;
  if (idx < kLinear) return idx;
  size_t k = idx - kLinear;
  int shift = int(k / kHalf) + 1;
  uint64_t sub = kHalf + k % kHalf;
  return ((sub + 1) << shift) - 1;
}

void Histogram::Record(uint64_t v) {
  counts_[Index(v)]++;
  if (count_ == 0 || v < min_) min_ = v;
  if (v > max_) max_ = v;
  count_++;
}

void Histogram::Reset() {
  counts_.fill(0);
  count_ = min_ = max_ = 0;
}

uint64_t Histogram::ValueAtPercentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  uint64_t target = uint64_t(std::ceil(p / 100.0 * double(count_)));
  target = std::clamp<uint64_t>(target, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; i++) {
    seen += counts_[i];
    if (seen >= target) return std::clamp(Highest(i), min_, max_);
  }
  return max_;
}

uint64_t Histogram::CountBelow(uint64_t v) const {
  uint64_t n = 0;
  size_t end = v >= (uint64_t(1) << kMaxBits) ? kBuckets : Index(v);
  for (size_t i = 0; i < end; i++) n += counts_[i];
  return n;
}

}  // namespace dynakv::server
