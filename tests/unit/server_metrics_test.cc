// tests/unit/server_metrics_test.cc: the SLOWLOG ring and its argument truncation, error
// counting by code, the LATENCY samples and the instantaneous rates (server/metrics.h).
#include "server/metrics.h"

#include <gtest/gtest.h>

#include "server/commands.h"

namespace dynakv::server {
namespace {

TEST(SlowLog, RingKeepsNewestFirstAndCaps) {
  SlowLog log;
  for (int i = 0; i < 5; i++) log.Add(100 + i, 10u * i, {"GET", "k" + std::to_string(i)}, "1.2.3.4:5", "n", 3);
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log.entries()[0].id, 4u);
  EXPECT_EQ(log.entries()[0].args[1], "k4");
  EXPECT_EQ(log.entries()[2].id, 2u);
  EXPECT_EQ(log.entries()[0].addr, "1.2.3.4:5");
  log.Reset();
  EXPECT_EQ(log.size(), 0u);
  log.Add(1, 1, {"PING"}, "", "", 3);
  EXPECT_EQ(log.entries()[0].id, 5u);  // ids go on after a reset, as Redis
}

TEST(SlowLog, TruncatesLikeRedis) {
  std::vector<std::string> args(40, "x");
  args[1] = std::string(200, 'a');
  std::vector<std::string> out;
  SlowLog::TruncateArgs(args, &out);
  ASSERT_EQ(out.size(), 32u);
  EXPECT_EQ(out[1], std::string(128, 'a') + "... (72 more bytes)");
  EXPECT_EQ(out[31], "... (9 more arguments)");
  EXPECT_EQ(out[30], "x");
  std::vector<std::string> small = {"SET", "k", std::string(128, 'b')};
  SlowLog::TruncateArgs(small, &out);  // reuses out
  EXPECT_EQ(out, small);
}

TEST(Metrics, ErrorsByFirstWord) {
  Metrics m;
  m.RecordError("-ERR syntax error\r\n");
  m.RecordError("-WRONGTYPE Operation against a key\r\n");
  m.RecordError("-ERR other\r\n");
  m.RecordError("-NOAUTH\r\n");
  EXPECT_EQ(m.total_errors(), 4u);
  EXPECT_EQ(m.errors().at("ERR"), 2u);
  EXPECT_EQ(m.errors().at("WRONGTYPE"), 1u);
  EXPECT_EQ(m.errors().at("NOAUTH"), 1u);
  m.ResetStats();
  EXPECT_EQ(m.total_errors(), 0u);
  EXPECT_TRUE(m.errors().empty());
}

TEST(Metrics, CallsFailuresAndReset) {
  Metrics m;
  const CommandSpec* get = LookupCommand("get");
  ASSERT_NE(get, nullptr);
  m.RecordCall(get, 10, false);
  m.RecordCall(get, 30, true);
  m.RecordRejected(get);
  const CommandStat& s = m.Stat(get);
  EXPECT_EQ(s.calls, 2u);
  EXPECT_EQ(s.usec, 40u);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.rejected, 1u);
  ASSERT_TRUE(s.hist);
  EXPECT_EQ(s.hist->count(), 2u);
  m.ResetStats();
  EXPECT_EQ(m.Stat(get).calls, 0u);
  EXPECT_FALSE(m.Stat(get).hist);
}

TEST(Metrics, LatencySamplesMergePerSecond) {
  Metrics m;
  m.AddLatencySample("command", 100, 5);
  m.AddLatencySample("command", 100, 9);
  m.AddLatencySample("command", 101, 3);
  auto& e = m.latency_events()["command"];
  ASSERT_EQ(e.samples.size(), 2u);
  EXPECT_EQ(e.samples[0].ms, 9u);
  EXPECT_EQ(e.samples[1].ms, 3u);
  EXPECT_EQ(e.max_ms, 9u);
  for (int i = 0; i < 200; i++) m.AddLatencySample("command", 200 + i, 1);
  EXPECT_EQ(m.latency_events()["command"].samples.size(), 160u);
}

TEST(Metrics, RatesAverageOverSixteenSamples) {
  Metrics m;
  uint64_t ops = 0;
  m.SampleRates(1000, ops, 0, 0);
  for (int i = 1; i <= 16; i++) {
    ops += 100;  // 100 ops per 100 ms = 1000 ops/s
    m.SampleRates(1000 + 100 * uint64_t(i), ops, ops * 1024, 0);
  }
  EXPECT_DOUBLE_EQ(m.ops_per_sec(), 1000.0);
  EXPECT_DOUBLE_EQ(m.input_kbps(), 1000.0);
  EXPECT_DOUBLE_EQ(m.output_kbps(), 0.0);
}

}  // namespace
}  // namespace dynakv::server
