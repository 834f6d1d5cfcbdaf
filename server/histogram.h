// server/histogram.h: a fixed-memory log-linear latency histogram (HdrHistogram-style) for
// INFO latencystats and LATENCY HISTOGRAM. Values (microseconds) below 2^kSubBits are counted
// exactly; above, each power of two is split into 2^(kSubBits-1) equal sub-buckets, so a
// reported value is within 1/64 (1.6 %) of the true one. Values from 2^kMaxBits clamp to the
// last bucket. Pure: no I/O, no clock. Thread-safety: none (one owner).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace dynakv::server {

class Histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr int kMaxBits = 40;  // 2^40 usec: 12.7 days
  static constexpr size_t kHalf = size_t(1) << (kSubBits - 1);
  static constexpr size_t kBuckets = (size_t(1) << kSubBits) + size_t(kMaxBits - kSubBits) * kHalf;

  void Record(uint64_t v);
  void Reset();
  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  // The value at percentile p (0..100]: the highest value of the bucket holding it, capped
  // to the largest value recorded. 0 when empty.
  uint64_t ValueAtPercentile(double p) const;
  // How many recorded values are below v, counted by bucket: exact for v below 2^kSubBits
  // and for powers of two.
  uint64_t CountBelow(uint64_t v) const;

  static size_t Index(uint64_t v);
  static uint64_t Lowest(size_t idx);
  static uint64_t Highest(size_t idx);

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0, min_ = 0, max_ = 0;
};

}  // namespace dynakv::server
