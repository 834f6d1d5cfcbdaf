// server/metrics.cc: see metrics.h.
#include "server/metrics.h"

#include <algorithm>

#include "server/commands.h"

namespace dynakv::server {

namespace {
constexpr size_t kSlowlogMaxArgc = 32;      // Redis's SLOWLOG_ENTRY_MAX_ARGC
constexpr size_t kSlowlogMaxString = 128;   // Redis's SLOWLOG_ENTRY_MAX_STRING
constexpr size_t kLatencySamples = 160;     // Redis's LATENCY_TS_LEN
constexpr size_t kMaxErrorCodes = 128;      // Redis's ERRORSTATS_LIMIT
}  // namespace

void SlowLog::TruncateArgs(const std::vector<std::string>& args, std::vector<std::string>* out) {
  size_t n = std::min(args.size(), kSlowlogMaxArgc);
  out->resize(n);
  for (size_t j = 0; j < n; j++) {
    std::string& o = (*out)[j];
    if (n != args.size() && j == n - 1) {
      o = "... (" + std::to_string(args.size() - n + 1) + " more arguments)";
    } else if (args[j].size() > kSlowlogMaxString) {
      o.assign(args[j], 0, kSlowlogMaxString);
      o += "... (" + std::to_string(args[j].size() - kSlowlogMaxString) + " more bytes)";
    } else {
      o.assign(args[j]);
    }
  }
}

void SlowLog::Add(int64_t time_s, uint64_t duration_us, std::vector<std::string> args,
                  std::string addr, std::string name, size_t max_len) {
  entries_.push_front(Entry{next_id_++, time_s, duration_us, std::move(args), std::move(addr), std::move(name)});
  while (entries_.size() > max_len) entries_.pop_back();
}

Metrics::Metrics() : stats_(CommandTable().size()) {}

CommandStat& Metrics::Stat(const CommandSpec* spec) {
  return stats_[size_t(spec - CommandTable().data())];
}

void Metrics::RecordCall(const CommandSpec* spec, uint64_t usec, bool failed) {
  CommandStat& s = Stat(spec);
  s.calls++;
  s.usec += usec;
  if (failed) s.failed++;
  if (!s.hist) s.hist = std::make_unique<Histogram>();
  s.hist->Record(usec);
}

void Metrics::RecordError(std::string_view reply) {
  total_errors_++;
  if (!reply.empty() && reply[0] == '-') reply.remove_prefix(1);
  size_t end = reply.find_first_of(" \r\n");
  std::string code(reply.substr(0, end == std::string_view::npos ? reply.size() : end));
  auto it = errors_.find(code);
  if (it != errors_.end()) it->second++;
  else if (errors_.size() < kMaxErrorCodes) errors_.emplace(std::move(code), 1);
}

void Metrics::AddLatencySample(const std::string& event, int64_t time_s, uint64_t ms) {
  LatencyEvent& e = events_[event];
  e.max_ms = std::max(e.max_ms, ms);
  if (!e.samples.empty() && e.samples.back().time_s == time_s) {
    e.samples.back().ms = std::max(e.samples.back().ms, ms);
    return;
  }
  e.samples.push_back({time_s, ms});
  while (e.samples.size() > kLatencySamples) e.samples.pop_front();
}

void Metrics::SampleRates(uint64_t now_ms, uint64_t ops, uint64_t in_bytes, uint64_t out_bytes) {
  uint64_t values[3] = {ops, in_bytes, out_bytes};
  if (last_sample_ms_ != 0 && now_ms > last_sample_ms_) {
    double dt = double(now_ms - last_sample_ms_);
    for (int m = 0; m < 3; m++) {
      uint64_t d = values[m] >= rates_[m].last_value ? values[m] - rates_[m].last_value : 0;
      rates_[m].samples[sample_idx_] = double(d) * 1000.0 / dt;
    }
    sample_idx_ = (sample_idx_ + 1) % kSamples;
  }
  for (int m = 0; m < 3; m++) rates_[m].last_value = values[m];
  last_sample_ms_ = now_ms;
}

double Metrics::Average(int m) const {
  double sum = 0;
  for (double v : rates_[m].samples) sum += v;
  return sum / kSamples;
}

void Metrics::ResetStats() {
  for (auto& s : stats_) {
    s.calls = s.usec = s.rejected = s.failed = 0;
    s.hist.reset();
  }
  errors_.clear();
  total_errors_ = 0;
}

}  // namespace dynakv::server
