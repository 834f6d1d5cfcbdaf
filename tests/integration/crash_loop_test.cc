// tests/integration/crash_loop_test.cc: 20 SIGKILLs under write load with storage.sync =
// "always", and 20 with "batch" (README, "Storage and durability"). Each round: about a second
// of load from writers that record every acknowledged write (SETs of unique keys, one at a
// time and pipelined, plus INCR counters), then SIGKILL mid-stream, restart, and check:
//   - every acknowledged SET of this round, and 2000 random ones of earlier rounds, read back
//     with their values (after the last round: every SET of every round);
//   - each counter is at least its last acknowledged value and at most one more (the one
//     INCR that may have been in flight, not acknowledged, when the process died);
//   - the node starts clean: it comes up, and logs no warn/error line while opening.
// Prints rounds and writes checked per sync mode.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kRounds = 20;
constexpr int kSetWriters = 2;    // one SET at a time each
constexpr int kCounters = 2;      // one connection per counter, one INCR at a time
constexpr auto kLoadPerRound = 1000ms;

// Lines the server logged at level warn or error (StderrLogger's "[id] warn: ...").
std::vector<std::string> WarnOrErrorLines(const std::string& log) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < log.size()) {
    size_t end = log.find('\n', pos);
    if (end == std::string::npos) end = log.size();
    std::string line = log.substr(pos, end - pos);
    if (line.find("] warn:") != std::string::npos || line.find("] error:") != std::string::npos ||
        line.find("AddressSanitizer") != std::string::npos) {
      out.push_back(line);
    }
    pos = end + 1;
  }
  return out;
}

void CrashLoop(const std::string& sync) {
  ServerConfig cfg;
  cfg.SetStr("storage", "sync", sync);
  ServerProcess server(cfg);
  ASSERT_TRUE(server.Start()) << server.last_error();

  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> acked;  // every round so far
  std::vector<int64_t> counter_acked(kCounters, 0);        // last acknowledged INCR result
  size_t checked_total = 0;
  size_t round_start = 0;  // acked[round_start..] are this round's
  std::mt19937 rng(14);
  for (int round = 0; round < kRounds; round++) {
    SCOPED_TRACE("sync=" + sync + " round " + std::to_string(round));
    std::atomic<bool> stop{false};
    std::atomic<int64_t> acks{0};
    std::vector<std::thread> threads;
    auto value = [](const std::string& k) { return "value-of-" + k + std::string(48, 'x'); };
    for (int w = 0; w <= kSetWriters; w++) {
      threads.emplace_back([&, w] {
        Conn conn(server.port(), 5000);
        const bool pipelined = w == kSetWriters;  // the last one pipelines batches of 32
        for (int i = 0; i < 10000000 && conn.ok() && !stop.load(); i += pipelined ? 32 : 1) {
          auto key = [&](int j) {
            return "r" + std::to_string(round) + ":w" + std::to_string(w) + ":" + std::to_string(j);
          };
          if (!pipelined) {
            std::string k = key(i);
            if (!IsStatus(conn.Cmd({"SET", k, value(k)}), "OK")) return;  // died: not acknowledged
            std::lock_guard<std::mutex> lock(mu);
            acked.emplace_back(k, value(k));
            acks++;
            continue;
          }
          for (int j = 0; j < 32; j++) conn.Append({"SET", key(i + j), value(key(i + j))});
          for (int j = 0; j < 32; j++) {
            if (!IsStatus(conn.Read(), "OK")) return;
            std::lock_guard<std::mutex> lock(mu);
            acked.emplace_back(key(i + j), value(key(i + j)));
            acks++;
          }
        }
      });
    }
    for (int ctr = 0; ctr < kCounters; ctr++) {
      threads.emplace_back([&, ctr] {
        Conn conn(server.port(), 5000);
        for (int i = 0; i < 10000000 && conn.ok() && !stop.load(); i++) {
          Reply r = conn("INCR", "ctr:" + std::to_string(ctr));
          if (!r || r->type != REDIS_REPLY_INTEGER) return;
          std::lock_guard<std::mutex> lock(mu);
          counter_acked[ctr] = r->integer;
          acks++;
        }
      });
    }
    std::this_thread::sleep_for(kLoadPerRound);
    server.SignalKill();  // mid-stream: writers are waiting on replies right now
    stop = true;
    for (auto& th : threads) th.join();
    server.Kill();  // reap
    ASSERT_GT(acks.load(), 0) << "no write was acknowledged in a second of load";

    size_t log_before = server.Stderr().size();
    ASSERT_TRUE(server.Restart()) << server.last_error() << "\n" << server.Stderr();
    auto conn = server.Connect(30000);
    ASSERT_TRUE(conn->ok()) << conn->error();
    // After each restart: this round's writes and 2000 random earlier ones; after the last
    // round: every write of every round.
    std::vector<std::pair<std::string, std::string>> check;
    std::vector<int64_t> ctrs;
    {
      std::lock_guard<std::mutex> lock(mu);
      ctrs = counter_acked;
      if (round == kRounds - 1) {
        check = acked;
      } else {
        check.assign(acked.begin() + long(round_start), acked.end());
        for (size_t i = 0; i < 2000 && round_start > 0; i++) check.push_back(acked[rng() % round_start]);
      }
      round_start = acked.size();
    }
    // MGET in batches of 1000, pipelined.
    size_t batches = 0;
    for (size_t i = 0; i < check.size(); i += 1000, batches++) {
      std::vector<std::string> args{"MGET"};
      for (size_t j = i; j < std::min(check.size(), i + 1000); j++) args.push_back(check[j].first);
      conn->Append(args);
    }
    size_t missing = 0;
    std::string first_missing;
    for (size_t b = 0; b < batches; b++) {
      Reply r = conn->Read();
      ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY) << Describe(r);
      for (size_t j = 0; j < r->elements; j++) {
        const auto& [k, v] = check[b * 1000 + j];
        redisReply* e = r->element[j];
        if ((e->type != REDIS_REPLY_STRING || std::string(e->str, e->len) != v) && missing++ == 0) {
          first_missing = k;
        }
      }
    }
    ASSERT_EQ(missing, 0u) << missing << " of " << check.size() << " acknowledged writes lost; first "
                           << first_missing << "\n---- server stderr ----\n" << server.Stderr();
    checked_total += check.size();
    for (int ctr = 0; ctr < kCounters; ctr++) {
      Reply r = (*conn)("GET", "ctr:" + std::to_string(ctr));
      int64_t got = r && r->type == REDIS_REPLY_STRING ? std::stoll(std::string(r->str, r->len)) : 0;
      EXPECT_GE(got, ctrs[ctr]) << "counter " << ctr << " lost an acknowledged INCR";
      EXPECT_LE(got, ctrs[ctr] + 1) << "counter " << ctr << " has more than one unacknowledged INCR";
      std::lock_guard<std::mutex> lock(mu);
      counter_acked[ctr] = got;  // the in-flight one, if applied, is now the baseline
      checked_total++;
    }
    std::string opened = server.Stderr().substr(log_before);
    auto bad = WarnOrErrorLines(opened);
    EXPECT_TRUE(bad.empty()) << "the node did not start clean:\n" << (bad.empty() ? "" : bad.front());
  }
  std::printf("crash-loop sync=%s: %d SIGKILL rounds, %zu acknowledged writes, %zu checks of acknowledged writes\n",
              sync.c_str(), kRounds, acked.size(), checked_total);
  std::fflush(stdout);
}

TEST(CrashLoop, TwentySigkillsSyncAlways) { CrashLoop("always"); }
TEST(CrashLoop, TwentySigkillsSyncBatch) { CrashLoop("batch"); }

}  // namespace
}  // namespace dynakv::itest
