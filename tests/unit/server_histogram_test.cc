// tests/unit/server_histogram_test.cc: the latency histogram (server/histogram.h): bucket
// bounds, percentile accuracy within its 1/64 precision, counts below a value.
#include "server/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace dynakv::server {
namespace {

TEST(Histogram, EmptyIsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.ValueAtPercentile(50), 0u);
  EXPECT_EQ(h.CountBelow(1000), 0u);
}

TEST(Histogram, BucketsTileTheRange) {
  // Every bucket starts right after the previous one ends, and Index maps both ends to it.
  for (size_t i = 0; i + 1 < Histogram::kBuckets; i++) {
    ASSERT_EQ(Histogram::Highest(i) + 1, Histogram::Lowest(i + 1)) << i;
    ASSERT_EQ(Histogram::Index(Histogram::Lowest(i)), i);
    ASSERT_EQ(Histogram::Index(Histogram::Highest(i)), i);
  }
  // Width within 1/64 of the value.
  for (size_t i = 128; i < Histogram::kBuckets; i++) {
    double width = double(Histogram::Highest(i) - Histogram::Lowest(i) + 1);
    ASSERT_LE(width / double(Histogram::Lowest(i)), 1.0 / 64 + 1e-12) << i;
  }
  // Huge values clamp into the last bucket.
  EXPECT_EQ(Histogram::Index(~uint64_t(0)), Histogram::kBuckets - 1);
}

TEST(Histogram, SmallValuesExact) {
  Histogram h;
  for (uint64_t v = 1; v <= 100; v++) h.Record(v);
  EXPECT_EQ(h.ValueAtPercentile(50), 50u);
  EXPECT_EQ(h.ValueAtPercentile(99), 99u);
  EXPECT_EQ(h.ValueAtPercentile(100), 100u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
}

TEST(Histogram, PercentilesWithinPrecision) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(6.0, 1.5);  // a latency-like long tail
  std::vector<uint64_t> values;
  Histogram h;
  for (int i = 0; i < 100000; i++) {
    uint64_t v = uint64_t(dist(rng)) + 1;
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    size_t rank = size_t(std::ceil(p / 100 * double(values.size())));
    uint64_t exact = values[std::max<size_t>(rank, 1) - 1];
    uint64_t got = h.ValueAtPercentile(p);
    EXPECT_GE(got, exact) << "p" << p;
    EXPECT_LE(double(got - exact), double(exact) / 64 + 1) << "p" << p << " exact " << exact;
  }
  EXPECT_LE(h.ValueAtPercentile(50), h.ValueAtPercentile(99));
  EXPECT_LE(h.ValueAtPercentile(99), h.ValueAtPercentile(99.9));
  EXPECT_EQ(h.ValueAtPercentile(100), values.back());
}

TEST(Histogram, CountBelowPowersOfTwo) {
  Histogram h;
  for (uint64_t v : {1, 3, 4, 5, 1000, 1023, 1024, 1025, 5000000}) h.Record(v);
  EXPECT_EQ(h.CountBelow(4), 2u);
  EXPECT_EQ(h.CountBelow(1024), 6u);
  EXPECT_EQ(h.CountBelow(2048), 8u);
  EXPECT_EQ(h.CountBelow(uint64_t(1) << 23), 9u);
  h.Reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.CountBelow(uint64_t(1) << 23), 0u);
}

}  // namespace
}  // namespace dynakv::server
