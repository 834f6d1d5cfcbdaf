// server/metrics.h: Redis 7's command statistics for one node: per-command calls, usec,
// rejected and failed calls with a latency histogram (INFO commandstats / latencystats,
// LATENCY HISTOGRAM), error replies by code (INFO errorstats), the SLOWLOG ring, the
// LATENCY monitor's events, and the instantaneous_* rates of INFO stats.
//
// Server::Dispatch stamps a command's start and spec into its PendingReply; ReplyTo::Complete
// calls Server::OnReply, which records here (README, "Command statistics"). Pure: the caller
// passes times in. Thread-safety: loop thread only.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/histogram.h"

namespace dynakv::server {

struct CommandSpec;

struct CommandStat {
  uint64_t calls = 0, usec = 0, rejected = 0, failed = 0;
  std::unique_ptr<Histogram> hist;  // made on the first call of that command
};

// SLOWLOG: the newest entries first, at most max_len.
class SlowLog {
 public:
  struct Entry {
    uint64_t id = 0;
    int64_t time_s = 0;
    uint64_t duration_us = 0;
    std::vector<std::string> args;  // already truncated (TruncateArgs)
    std::string addr, name;
  };
  // Redis's rules: at most 32 arguments (the last one then says "... (N more arguments)"),
  // strings over 128 bytes cut to 128 followed by "... (N more bytes)". Reuses out's strings.
  static void TruncateArgs(const std::vector<std::string>& args, std::vector<std::string>* out);
  void Add(int64_t time_s, uint64_t duration_us, std::vector<std::string> args, std::string addr,
           std::string name, size_t max_len);
  const std::deque<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  void Reset() { entries_.clear(); }

 private:
  std::deque<Entry> entries_;  // newest first
  uint64_t next_id_ = 0;
};

// LATENCY: per event, up to 160 samples (one per second: the max), the latest and the max.
struct LatencyEvent {
  struct Sample {
    int64_t time_s;
    uint64_t ms;
  };
  std::deque<Sample> samples;
  uint64_t max_ms = 0;
};

class Metrics {
 public:
  Metrics();
  // A command that ran: its spec, duration, whether its reply was an error.
  CommandStat& Stat(const CommandSpec* spec);
  void RecordCall(const CommandSpec* spec, uint64_t usec, bool failed);
  void RecordRejected(const CommandSpec* spec) { Stat(spec).rejected++; }
  // An error reply (RESP bytes starting with '-'): counted under its first word.
  void RecordError(std::string_view reply);
  void AddLatencySample(const std::string& event, int64_t time_s, uint64_t ms);
  // Every 100 ms: the rates are averaged over the last 16 samples, as Redis.
  void SampleRates(uint64_t now_ms, uint64_t ops, uint64_t in_bytes, uint64_t out_bytes);
  double ops_per_sec() const { return Average(0); }
  double input_kbps() const { return Average(1) / 1024; }
  double output_kbps() const { return Average(2) / 1024; }
  void ResetStats();  // CONFIG RESETSTAT: counters, histograms, error counts

  const std::vector<CommandStat>& commands() const { return stats_; }
  const std::map<std::string, uint64_t>& errors() const { return errors_; }
  uint64_t total_errors() const { return total_errors_; }
  SlowLog& slowlog() { return slowlog_; }
  std::map<std::string, LatencyEvent>& latency_events() { return events_; }

 private:
  double Average(int m) const;
  std::vector<CommandStat> stats_;  // indexed like CommandTable()
  std::map<std::string, uint64_t> errors_;
  uint64_t total_errors_ = 0;
  SlowLog slowlog_;
  std::map<std::string, LatencyEvent> events_;
  static constexpr int kSamples = 16;
  struct Rate {
    uint64_t last_value = 0;
    std::array<double, kSamples> samples{};
  };
  std::array<Rate, 3> rates_;
  uint64_t last_sample_ms_ = 0;
  int sample_idx_ = 0;
};

}  // namespace dynakv::server
