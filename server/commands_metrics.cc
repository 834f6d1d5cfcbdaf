// server/commands_metrics.cc: SLOWLOG, LATENCY and INFO's commandstats / errorstats /
// latencystats sections, with Redis 7's replies, over the node's Metrics (server/metrics.h).
#include <algorithm>
#include <cstdio>
#include <initializer_list>

#include "server/commands.h"

namespace dynakv::server {
namespace {

using protocol::RespWriter;

void ReplyHelp(CommandCtx& ctx, std::initializer_list<const char*> lines) {
  ctx.reply.Send([&](RespWriter& w) {
    w.Array(lines.size());
    for (const char* l : lines) w.Simple(l);
  });
}

// Redis 7's subcommand errors: wrong arity names 'cmd|sub', an unknown one points to HELP.
bool SubArity(CommandCtx& ctx, const char* cmd, const std::string& sub, int arity) {
  int argc = int(ctx.args.size());
  if ((arity > 0 && argc == arity) || (arity < 0 && argc >= -arity)) return true;
  ReplyErr(ctx, std::string("ERR wrong number of arguments for '") + cmd + "|" + sub + "' command");
  return false;
}

void UnknownSub(CommandCtx& ctx, const char* upper) {
  ReplyErr(ctx, "ERR unknown subcommand '" + ctx.args[1].substr(0, 128) + "'. Try " + upper + " HELP.");
}

void CmdSlowlog(CommandCtx& ctx) {
  std::string sub = Lower(ctx.args[1]);
  SlowLog& log = ctx.server->metrics().slowlog();
  if (sub == "get") {
    if (!SubArity(ctx, "slowlog", sub, -2)) return;
    if (ctx.args.size() > 3) return ReplyErr(ctx, "ERR wrong number of arguments for 'slowlog|get' command");
    int64_t count = 10;
    if (ctx.args.size() == 3 && (!ParseInt64(ctx.args[2], &count) || count < -1)) {
      return ReplyErr(ctx, "ERR count should be greater than or equal to -1");
    }
    size_t n = count == -1 ? log.size() : std::min<size_t>(size_t(count), log.size());
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(n);
      auto it = log.entries().begin();
      for (size_t i = 0; i < n; i++, ++it) {
        w.Array(6);
        w.Int(int64_t(it->id));
        w.Int(it->time_s);
        w.Int(int64_t(it->duration_us));
        w.Array(it->args.size());
        for (auto& a : it->args) w.Bulk(a);
        w.Bulk(it->addr);
        w.Bulk(it->name);
      }
    });
  }
  if (sub == "len") {
    if (!SubArity(ctx, "slowlog", sub, 2)) return;
    return ctx.reply.Send([&](RespWriter& w) { w.Int(int64_t(log.size())); });
  }
  if (sub == "reset") {
    if (!SubArity(ctx, "slowlog", sub, 2)) return;
    log.Reset();
    return ctx.reply.Send([](RespWriter& w) { w.Ok(); });
  }
  if (sub == "help") {
    if (!SubArity(ctx, "slowlog", sub, 2)) return;
    return ReplyHelp(ctx, {"SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                           "GET [<count>]",
                           "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                           "    Entries are made of:",
                           "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                           "    client name",
                           "LEN",
                           "    Return the length of the slowlog.",
                           "RESET",
                           "    Reset the slowlog.",
                           "HELP",
                           "    Prints this help."});
  }
  UnknownSub(ctx, "SLOWLOG");
}

// LATENCY HISTOGRAM's per-command map: calls, and the cumulative count at each power-of-two
// bucket where it grows, keyed as Redis 7 keys them: Redis iterates its nanosecond
// HdrHistogram (2 significant figures) from 1024 ns doubling, and names each step by its
// highest equivalent value in usec: 1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, ...
uint64_t RedisCdfKey(int i) {
  uint64_t ns = uint64_t(1024) << i;
  return (ns + ns / 128 - 1) / 1000;
}

void WriteCdf(RespWriter& w, const Histogram& h) {
  std::vector<std::pair<uint64_t, uint64_t>> points;
  uint64_t prev = 0;
  for (int i = 0; i < Histogram::kMaxBits && prev < h.count(); i++) {
    uint64_t key = RedisCdfKey(i);
    uint64_t cum = i == Histogram::kMaxBits - 1 ? h.count() : h.CountBelow(key + 1);
    if (cum > prev) points.emplace_back(key, cum);
    prev = cum;
  }
  w.Map(2);
  w.Bulk("calls");
  w.Int(int64_t(h.count()));
  w.Bulk("histogram_usec");
  w.Map(points.size());
  for (auto& [k, c] : points) {
    w.Int(int64_t(k));
    w.Int(int64_t(c));
  }
}

void CmdLatency(CommandCtx& ctx) {
  std::string sub = Lower(ctx.args[1]);
  Metrics& m = ctx.server->metrics();
  auto& events = m.latency_events();
  if (sub == "latest") {
    if (!SubArity(ctx, "latency", sub, 2)) return;
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(events.size());
      for (auto& [name, e] : events) {
        w.Array(4);
        w.Bulk(name);
        w.Int(e.samples.empty() ? 0 : e.samples.back().time_s);
        w.Int(e.samples.empty() ? 0 : int64_t(e.samples.back().ms));
        w.Int(int64_t(e.max_ms));
      }
    });
  }
  if (sub == "history") {
    if (!SubArity(ctx, "latency", sub, 3)) return;
    auto it = events.find(ctx.args[2]);
    return ctx.reply.Send([&](RespWriter& w) {
      if (it == events.end()) return w.Array(0);
      w.Array(it->second.samples.size());
      for (auto& s : it->second.samples) {
        w.Array(2);
        w.Int(s.time_s);
        w.Int(int64_t(s.ms));
      }
    });
  }
  if (sub == "reset") {
    if (!SubArity(ctx, "latency", sub, -2)) return;
    int64_t n = 0;
    if (ctx.args.size() == 2) {
      n = int64_t(events.size());
      events.clear();
    } else {
      for (size_t i = 2; i < ctx.args.size(); i++) n += int64_t(events.erase(ctx.args[i]));
    }
    return ctx.reply.Send([n](RespWriter& w) { w.Int(n); });
  }
  if (sub == "histogram") {
    if (!SubArity(ctx, "latency", sub, -2)) return;
    const auto& table = CommandTable();
    const auto& stats = m.commands();
    std::vector<size_t> picked;
    if (ctx.args.size() == 2) {
      for (size_t i = 0; i < stats.size(); i++) {
        if (stats[i].hist) picked.push_back(i);
      }
    } else {
      for (size_t a = 2; a < ctx.args.size(); a++) {
        const CommandSpec* spec = LookupCommand(ctx.args[a]);
        if (spec == nullptr) continue;
        size_t i = size_t(spec - table.data());
        if (stats[i].hist && std::find(picked.begin(), picked.end(), i) == picked.end()) picked.push_back(i);
      }
    }
    return ctx.reply.Send([&](RespWriter& w) {
      w.Map(picked.size());
      for (size_t i : picked) {
        w.Bulk(table[i].name);
        WriteCdf(w, *stats[i].hist);
      }
    });
  }
  if (sub == "doctor") {
    if (!SubArity(ctx, "latency", sub, 2)) return;
    std::string text;
    if (ctx.server->config().latency_monitor_threshold == 0) {
      text = "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. "
             "You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. "
             "If we weren't in a deep space mission I'd suggest to take a look at "
             "https://redis.io/topics/latency-monitor.\n";
    } else if (events.empty()) {
      text = "Dave, no latency spike was observed during the lifetime of this Redis instance, not in "
             "the slightest bit. I honestly think you ought to sleep tonight.\n";
    } else {
      text = "Dave, I have observed latency spikes in this Redis instance.\n\n";
      int i = 1;
      for (auto& [name, e] : events) {
        text += std::to_string(i++) + ". " + name + ": " + std::to_string(e.samples.size()) +
                " latency spikes (latest " + std::to_string(e.samples.empty() ? 0 : e.samples.back().ms) +
                " ms, worst " + std::to_string(e.max_ms) + " ms).\n";
      }
      text += "\nSLOWLOG GET shows the slow commands themselves.\n";
    }
    return ctx.reply.Send([&](RespWriter& w) { w.Verbatim(text); });
  }
  if (sub == "help") {
    if (!SubArity(ctx, "latency", sub, 2)) return;
    return ReplyHelp(
        ctx, {"LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
              "DOCTOR",
              "    Return a human readable latency analysis report.",
              "HISTORY <event>",
              "    Return time-latency samples for the <event> class.",
              "LATEST",
              "    Return the latest latency samples for all events.",
              "RESET [<event> ...]",
              "    Reset latency data of one or more <event> classes.",
              "    (default: reset all data for all event classes)",
              "HISTOGRAM [COMMAND ...]",
              "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
              "    If no commands are specified then all histograms are replied.",
              "HELP",
              "    Prints this help."});
  }
  UnknownSub(ctx, "LATENCY");
}

std::string Fixed(double v, const char* fmt) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

}  // namespace

void AppendMetricsInfo(Server* s, std::string_view section, std::string* out) {
  Metrics& m = s->metrics();
  const auto& table = CommandTable();
  const auto& stats = m.commands();
  if (section == "commandstats") {
    *out += "# Commandstats\r\n";
    for (size_t i = 0; i < stats.size(); i++) {
      const CommandStat& c = stats[i];
      if (c.calls == 0 && c.rejected == 0 && c.failed == 0) continue;
      *out += std::string("cmdstat_") + table[i].name + ":calls=" + std::to_string(c.calls) +
              ",usec=" + std::to_string(c.usec) + ",usec_per_call=" +
              Fixed(c.calls ? double(c.usec) / double(c.calls) : 0.0, "%.2f") +
              ",rejected_calls=" + std::to_string(c.rejected) + ",failed_calls=" + std::to_string(c.failed) + "\r\n";
    }
  } else if (section == "errorstats") {
    *out += "# Errorstats\r\n";
    for (auto& [code, n] : m.errors()) *out += "errorstat_" + code + ":count=" + std::to_string(n) + "\r\n";
  } else if (section == "latencystats") {
    *out += "# Latencystats\r\n";
    for (size_t i = 0; i < stats.size(); i++) {
      const CommandStat& c = stats[i];
      if (!c.hist || c.hist->count() == 0) continue;
      *out += std::string("latency_percentiles_usec_") + table[i].name +
              ":p50=" + Fixed(double(c.hist->ValueAtPercentile(50)), "%.3f") +
              ",p99=" + Fixed(double(c.hist->ValueAtPercentile(99)), "%.3f") +
              ",p99.9=" + Fixed(double(c.hist->ValueAtPercentile(99.9)), "%.3f") + "\r\n";
    }
  }
  *out += "\r\n";
}

void RegisterMetrics(std::vector<CommandSpec>* t) {
  t->insert(t->end(), {
                          {"slowlog", -2, kCmdAdmin, CmdSlowlog, 0, 0, 0},
                          {"latency", -2, kCmdAdmin, CmdLatency, 0, 0, 0},
                      });
}

}  // namespace dynakv::server
