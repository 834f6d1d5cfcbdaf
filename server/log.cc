// server/log.cc: the node's spdlog-backed log (server/log.h).
#include "server/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace dynakv::server {

std::string_view LogRateLimiter::KindOf(std::string_view msg) {
  size_t p = msg.find(": ");
  return p == std::string_view::npos ? msg : msg.substr(0, p);
}

void LogRateLimiter::Log(Level level, std::string_view msg, uint64_t now_ms, const Emit& emit) {
  std::string_view kind = KindOf(msg);
  if (kinds_.size() >= kMaxKinds && held_ == 0) kinds_.clear();
  auto [it, fresh] = kinds_.try_emplace(std::string(kind));
  State& st = it->second;
  if (fresh || now_ms - st.last_ms >= interval_ms_) {
    uint64_t dropped = st.dropped + (st.held ? 1 : 0);  // a held line superseded by this one
    if (st.held) held_--;
    st.held = false;
    st.held_msg.clear();
    st.dropped = 0;
    st.last_ms = now_ms;
    emit(level, msg, dropped);
    return;
  }
  if (st.held) {
    st.dropped++;
  } else {
    held_++;
  }
  st.held = true;
  st.held_level = level;
  st.held_msg.assign(msg);
}

void LogRateLimiter::Tick(uint64_t now_ms, const Emit& emit) {
  if (held_ == 0) return;
  for (auto& [kind, st] : kinds_) {
    if (!st.held || now_ms - st.last_ms < interval_ms_) continue;
    std::string msg = std::move(st.held_msg);
    uint64_t dropped = st.dropped;
    st.held = false;
    st.held_msg.clear();
    st.dropped = 0;
    st.last_ms = now_ms;
    held_--;
    emit(st.held_level, msg, dropped);
  }
}

namespace {
spdlog::level::level_enum ToSpd(cluster::Logger::Level l) {
  switch (l) {
    case cluster::Logger::Level::kDebug: return spdlog::level::debug;
    case cluster::Logger::Level::kInfo: return spdlog::level::info;
    case cluster::Logger::Level::kWarn: return spdlog::level::warn;
    case cluster::Logger::Level::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}
}  // namespace

cluster::Logger::Level ServerLogger::ParseLevel(const std::string& s) {
  if (s == "debug") return Level::kDebug;
  if (s == "warn") return Level::kWarn;
  if (s == "error") return Level::kError;
  return Level::kInfo;
}

Result<std::shared_ptr<spdlog::logger>> ServerLogger::Make(const std::string& node_id, Level min,
                                                           const std::string& file) {
  spdlog::sink_ptr sink;
  try {
    if (file.empty()) {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, /*truncate=*/false);
    }
  } catch (const spdlog::spdlog_ex& e) {
    return Status::IOError("cannot open log file " + file + ": " + e.what());
  }
  // Not registered in spdlog's global registry: each Server owns its own.
  auto log = std::make_shared<spdlog::logger>("dynakv", std::move(sink));
  log->set_pattern("%Y-%m-%d %H:%M:%S.%e [" + node_id + "] %l: %v");
  log->set_level(ToSpd(min));
  log->flush_on(spdlog::level::trace);  // every line reaches the file at once (tests, crashes)
  return log;
}

Result<std::unique_ptr<ServerLogger>> ServerLogger::Open(const std::string& node_id, Level min,
                                                         const std::string& file,
                                                         std::function<uint64_t()> now_ms) {
  auto made = Make(node_id, min, file);
  if (!made.ok()) return made.status();
  std::unique_ptr<ServerLogger> l(new ServerLogger());
  l->node_id_ = node_id;
  l->file_ = file;
  l->min_ = min;
  l->log_ = std::move(made.value());
  l->now_ms_ = now_ms ? std::move(now_ms) : [] {
    return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
  };
  return l;
}

ServerLogger::~ServerLogger() = default;

void ServerLogger::Log(Level level, std::string_view msg) {
  if (level < min_) return;
  limiter_.Log(level, msg, now_ms_(),
               [this](Level l, std::string_view m, uint64_t suppressed) { Write(l, m, suppressed); });
}

void ServerLogger::Tick() {
  limiter_.Tick(now_ms_(), [this](Level l, std::string_view m, uint64_t suppressed) { Write(l, m, suppressed); });
}

void ServerLogger::Write(Level level, std::string_view msg, uint64_t suppressed) {
  if (suppressed == 0) {
    log_->log(ToSpd(level), "{}", msg);
  } else {
    log_->log(ToSpd(level), "{} ({} similar suppressed)", msg, suppressed);
  }
}

Status ServerLogger::Reopen() {
  if (file_.empty()) return Status::OK();
  auto made = Make(node_id_, min_, file_);
  if (!made.ok()) {
    Log(Level::kError, "log reopen failed: " + made.status().message());
    return made.status();
  }
  log_->flush();
  log_ = std::move(made.value());
  Log(Level::kInfo, "log reopened: " + file_);
  return Status::OK();
}

}  // namespace dynakv::server
