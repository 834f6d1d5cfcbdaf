// server/memcache.cc: the memcached front end: text protocol (get/gets/gat/gats, set/add/
// replace/append/prepend/cas, delete, incr/decr, touch, flush_all, stats, version, verbosity,
// quit) and meta protocol (mg/ms/md/ma/mn) over the Dynamo coordinator, in the same keyspace
// as the Redis commands (a Redis SET is read here with flags 0, and vice versa).
//
// Semantics and where they differ from a single memcached:
// - cas: `gets` returns cluster::ContextCas(context read), a 64-bit hash of the causal
//   context of the value returned. `cas` reads the key, compares ContextCas(read.context) with
//   the client's value, and on a match writes with the context it read. That is a *causal
//   overwrite*, not a linearizable compare-and-swap: two clients racing on different
//   coordinators can both get STORED, and their values become siblings (GET shows the newest;
//   DGET shows both). Within one coordinator it behaves like memcached's cas.
// - add/replace/append/prepend/touch/gat are read-then-write with the read context, so they
//   are atomic on one node and turn into siblings, never lost updates, across nodes.
// - incr/decr use the PN-counter CRDT (no increment is ever lost). memcached semantics on top:
//   a missing key is NOT_FOUND, the value must be a decimal uint64, and decr stops at 0: we
//   read the current value first and clamp the delta. Because the read and the add are two
//   steps, concurrent decrs on different nodes can still take a counter below zero; such a
//   value then reads as non-numeric here (a Redis DECR can also make it negative). memcached
//   wraps incr at 2^64; we cap at 2^63-1 (the counter is int64). No space padding on decr.
// - exptime: 0 never; <0 already expired; <= 30 days relative; > 30 days absolute unix time.
// - flush_all wipes this replica only (as FLUSHALL does); a delay runs it from a timer, so
//   items written during the delay are flushed too (memcached keeps those).
// - A too-large set answers "SERVER_ERROR object too large for cache", swallows the data
//   block and, like memcached, deletes the key's old value (no stale data after a failed set).
// - With security.requirepass set, a connection must first authenticate the way memcached's
//   -Y ascii auth does: `set <any> 0 0 <n>\r\n<user> <password>\r\n` (user ignored).
//
// - The binary protocol (a connection whose first byte is 0x80) is in server/memcache_binary.cc;
//   it runs on the operations below, shared through server/memcache_ops.h.
//
// Replies keep request order through the client's reply slots (ReplyTo); noreply commands
// still take and complete a slot, with no bytes, so later replies cannot overtake them.
// Thread-safety: loop thread only.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <functional>
#include <optional>
#include <unordered_map>

#include "server/commands.h"
#include "server/memcache_ops.h"

namespace dynakv::server {
namespace mcops {

constexpr int64_t kRelativeMaxS = 60 * 60 * 24 * 30;  // memcached's REALTIME_MAXDELTA

McStats& StatsFor(Server* s) {
  static std::unordered_map<Server*, McStats> stats;
  return stats[s];
}

uint64_t ExpiryMs(Server* s, int64_t exptime) {
  if (exptime == 0) return 0;
  if (exptime < 0) return 1;  // in the past: expired at once (0 would mean "never")
  constexpr int64_t kMaxS = INT64_MAX / 1000 - kRelativeMaxS;  // keeps the ms value in range
  exptime = std::min(exptime, kMaxS);
  if (exptime > kRelativeMaxS) return uint64_t(exptime) * 1000;
  return s->WallMs() + uint64_t(exptime) * 1000;
}

// ---- the operations, shared by the text, meta and binary commands (memcache_ops.h) ---------

void DoStore(Server* s, std::string key, std::string data, uint32_t flags, uint64_t expiry_ms,
             char mode, std::optional<uint64_t> cas, StoreDone done) {
  auto wrote = [done](Status st, cluster::WriteReply wr) {
    if (!st.ok()) return done(st, StoreResult::kStored, 0);
    done(st, StoreResult::kStored, cluster::ContextCas(wr.context));
  };
  if (mode == 'S' && !cas) {
    return WriteValue(s, key, std::move(data), expiry_ms, flags, nullptr, 0, wrote);
  }
  ReadKey(s, key, 0, [=, data = std::move(data)](Status st, KeyView cur) mutable {
    if (!st.ok()) return done(st, StoreResult::kStored, 0);
    if (cas) {
      if (!cur.exists) return done(st, StoreResult::kNotFound, 0);
      if (cluster::ContextCas(cur.context) != *cas) return done(st, StoreResult::kExists, 0);
    }
    if ((mode == 'E' && cur.exists) || (mode != 'S' && mode != 'E' && !cur.exists)) {
      return done(st, StoreResult::kNotStored, 0);
    }
    if (mode == 'A' || mode == 'P') {
      // append/prepend keep the item's flags and exptime (memcached ignores the new ones).
      if (cur.value.size() + data.size() > uint64_t(s->config().memcache_max_item_size)) {
        return done(st, StoreResult::kNoMemory, 0);
      }
      data = mode == 'A' ? cur.value + data : data + cur.value;
      flags = cur.flags;
      expiry_ms = cur.expiry_ms;
    }
    WriteValue(s, key, std::move(data), expiry_ms, flags, &cur.context, 0, wrote);
  });
}

void DoDelete(Server* s, std::string key, std::optional<uint64_t> cas,
              std::function<void(Status, DelResult)> done) {
  ReadKey(s, key, 0, [=](Status st, KeyView cur) {
    if (!st.ok()) return done(st, DelResult::kNotFound);
    if (!cur.exists) return done(st, DelResult::kNotFound);
    if (cas && cluster::ContextCas(cur.context) != *cas) return done(st, DelResult::kExists);
    DeleteValue(s, key, &cur.context, 0, [done](Status st2, cluster::WriteReply) {
      done(st2, DelResult::kDeleted);
    });
  });
}

void DoArith(Server* s, std::string key, ArithArgs a, std::function<void(Status, ArithResult)> done) {
  ReadKey(s, key, 0, [=](Status st, KeyView cur) {
    ArithResult res;
    if (!st.ok()) return done(st, res);
    if (!cur.exists) {
      if (!a.vivify) {
        res.code = ArithResult::kNotFound;
        return done(st, res);
      }
      uint64_t initial = std::min<uint64_t>(a.initial, INT64_MAX);
      WriteValue(s, key, std::to_string(initial), a.vivify_expiry_ms, 0, &cur.context, 0,
                 [done, initial, a](Status st2, cluster::WriteReply wr) {
                   ArithResult r;
                   r.value = initial;
                   r.cas = cluster::ContextCas(wr.context);
                   r.expiry_ms = a.vivify_expiry_ms;
                   done(st2, r);
                 });
      return;
    }
    if (a.cas && cluster::ContextCas(cur.context) != *a.cas) {
      res.code = ArithResult::kExists;
      return done(st, res);
    }
    uint64_t v = 0;
    if (!protocol::McParseU64(cur.value, &v) || v > uint64_t(INT64_MAX)) {
      res.code = ArithResult::kNonNumeric;
      return done(st, res);
    }
    // memcached: decr stops at 0; incr wraps at 2^64 (we cap at the counter's int64 range).
    int64_t d = a.incr ? int64_t(std::min<uint64_t>(a.delta, uint64_t(INT64_MAX) - v))
                       : -int64_t(std::min<uint64_t>(a.delta, v));
    res.expiry_ms = cur.expiry_ms;
    if (d == 0) {
      res.value = v;
      res.cas = cluster::ContextCas(cur.context);
      return done(st, res);
    }
    CounterAdd(s, key, d, [s, done, res](Status st2, cluster::WriteReply wr) mutable {
      if (st2.code() == Code::kInvalidArgument) {  // e.g. "007": not a counter base
        res.code = ArithResult::kNonNumeric;
        return done(Status::OK(), res);
      }
      if (!st2.ok()) return done(st2, res);
      std::string text;
      int64_t n = 0;
      if (!cluster::ResolveValue(wr.record, s->WallMs(), &text).ok() || !ParseInt64(text, &n) || n < 0) {
        res.code = ArithResult::kNonNumeric;
        return done(Status::OK(), res);
      }
      res.value = uint64_t(n);
      res.cas = cluster::ContextCas(wr.context);
      done(Status::OK(), res);
    });
  });
}

void DoTouch(Server* s, const std::string& key, const KeyView& cur, uint64_t expiry_ms, WriteDone done) {
  WriteValue(s, key, cur.value, expiry_ms, cur.flags, &cur.context, 0, std::move(done));
}

}  // namespace mcops

namespace {

using namespace mcops;  // NOLINT: the shared operations (server/memcache_ops.h)
using protocol::McCommand;
using protocol::McOp;

constexpr size_t kMcMaxWaitingReplies = 4096;  // as server.cc: stop reading this far ahead

// The one place a Status becomes memcached text (the RESP text, behind SERVER_ERROR).
std::string ServerError(const Status& s) { return "SERVER_ERROR " + ErrorText(s) + "\r\n"; }

int64_t TtlSeconds(Server* s, uint64_t expiry_ms) {
  if (expiry_ms == 0) return -1;
  uint64_t now = s->WallMs();
  if (expiry_ms <= now) return 0;
  return int64_t((expiry_ms - now + 999) / 1000);
}

void Reply(ReplyTo& r, bool noreply, std::string_view text) { r.SendRaw(noreply ? "" : text); }

// ---- text protocol ---------------------------------------------------------------------------

void McRetrieve(Server* s, std::shared_ptr<McCommand> cmd, ReplyTo r) {
  bool with_cas = cmd->op == McOp::kGets || cmd->op == McOp::kGats;
  bool touch = cmd->op == McOp::kGat || cmd->op == McOp::kGats;
  McStats& ms = StatsFor(s);
  size_t n = cmd->keys.size();
  ms.cmd_get += n;
  if (touch) ms.cmd_touch += n;
  struct Item {
    bool hit = false;
    uint32_t flags = 0;
    std::string value;
    uint64_t cas = 0;
  };
  struct State {
    std::vector<Item> items;
    Status err;
  };
  auto state = std::make_shared<State>();
  state->items.resize(n);
  auto g = Gather::Make(n, [cmd, state, r, with_cas]() mutable {
    if (!state->err.ok()) return r.SendRaw(ServerError(state->err));
    std::string out;
    for (size_t i = 0; i < state->items.size(); i++) {
      const Item& it = state->items[i];
      if (it.hit) protocol::McAppendValue(&out, cmd->keys[i], it.flags, it.value, with_cas ? &it.cas : nullptr);
    }
    out += "END\r\n";
    r.SendRaw(out);
  });
  uint64_t expiry = touch ? ExpiryMs(s, cmd->exptime) : 0;
  for (size_t i = 0; i < n; i++) {
    ReadKey(s, cmd->keys[i], 0, [s, cmd, state, g, i, touch, expiry, &ms](Status st, KeyView v) {
      if (!st.ok()) {
        if (state->err.ok()) state->err = st;
        return g->One();
      }
      if (!v.exists) {
        ms.get_misses++;
        if (touch) ms.touch_misses++;
        return g->One();
      }
      ms.get_hits++;
      Item& it = state->items[i];
      it.hit = true;
      it.flags = v.flags;
      it.value = v.value;
      it.cas = cluster::ContextCas(v.context);
      if (!touch) return g->One();
      ms.touch_hits++;
      DoTouch(s, cmd->keys[i], v, expiry, [state, g, i](Status st2, cluster::WriteReply wr) {
        if (!st2.ok() && state->err.ok()) state->err = st2;
        state->items[i].cas = cluster::ContextCas(wr.context);  // the cas a later cas must use
        g->One();
      });
    });
  }
}

void McStore(Server* s, std::shared_ptr<McCommand> cmd, ReplyTo r) {
  McStats& ms = StatsFor(s);
  ms.cmd_set++;
  char mode = 'S';
  switch (cmd->op) {
    case McOp::kAdd: mode = 'E'; break;
    case McOp::kReplace: mode = 'R'; break;
    case McOp::kAppend: mode = 'A'; break;
    case McOp::kPrepend: mode = 'P'; break;
    default: break;
  }
  std::optional<uint64_t> cas;
  if (cmd->op == McOp::kCas) cas = cmd->cas;
  bool is_cas = cmd->op == McOp::kCas;
  DoStore(s, cmd->key(), std::move(cmd->data), cmd->flags, ExpiryMs(s, cmd->exptime), mode, cas,
          [r, cmd, &ms, is_cas](Status st, StoreResult res, uint64_t) mutable {
            if (!st.ok()) return Reply(r, cmd->noreply, ServerError(st));
            switch (res) {
              case StoreResult::kStored:
                ms.total_items++;
                if (is_cas) ms.cas_hits++;
                return Reply(r, cmd->noreply, "STORED\r\n");
              case StoreResult::kNotStored: return Reply(r, cmd->noreply, "NOT_STORED\r\n");
              case StoreResult::kExists:
                ms.cas_badval++;
                return Reply(r, cmd->noreply, "EXISTS\r\n");
              case StoreResult::kNotFound:
                ms.cas_misses++;
                return Reply(r, cmd->noreply, "NOT_FOUND\r\n");
              case StoreResult::kNoMemory:
                return Reply(r, cmd->noreply, "SERVER_ERROR out of memory storing object\r\n");
            }
          });
}

void McDelete(Server* s, std::shared_ptr<McCommand> cmd, ReplyTo r) {
  McStats& ms = StatsFor(s);
  DoDelete(s, cmd->key(), std::nullopt, [r, cmd, &ms](Status st, DelResult res) mutable {
    if (!st.ok()) return Reply(r, cmd->noreply, ServerError(st));
    if (res == DelResult::kDeleted) {
      ms.delete_hits++;
      return Reply(r, cmd->noreply, "DELETED\r\n");
    }
    ms.delete_misses++;
    Reply(r, cmd->noreply, "NOT_FOUND\r\n");
  });
}

void McIncrDecr(Server* s, std::shared_ptr<McCommand> cmd, ReplyTo r) {
  McStats& ms = StatsFor(s);
  ArithArgs a;
  a.incr = cmd->op == McOp::kIncr;
  a.delta = cmd->delta;
  DoArith(s, cmd->key(), a, [r, cmd, &ms, incr = a.incr](Status st, ArithResult res) mutable {
    if (!st.ok()) return Reply(r, cmd->noreply, ServerError(st));
    switch (res.code) {
      case ArithResult::kOk:
        (incr ? ms.incr_hits : ms.decr_hits)++;
        return Reply(r, cmd->noreply, std::to_string(res.value) + "\r\n");
      case ArithResult::kNotFound:
        (incr ? ms.incr_misses : ms.decr_misses)++;
        return Reply(r, cmd->noreply, "NOT_FOUND\r\n");
      default:
        return Reply(r, cmd->noreply, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    }
  });
}

void McTouch(Server* s, std::shared_ptr<McCommand> cmd, ReplyTo r) {
  McStats& ms = StatsFor(s);
  ms.cmd_touch++;
  uint64_t expiry = ExpiryMs(s, cmd->exptime);
  ReadKey(s, cmd->key(), 0, [s, cmd, r, expiry, &ms](Status st, KeyView cur) mutable {
    if (!st.ok()) return Reply(r, cmd->noreply, ServerError(st));
    if (!cur.exists) {
      ms.touch_misses++;
      return Reply(r, cmd->noreply, "NOT_FOUND\r\n");
    }
    ms.touch_hits++;
    DoTouch(s, cmd->key(), cur, expiry, [r, cmd](Status st2, cluster::WriteReply) mutable {
      if (!st2.ok()) return Reply(r, cmd->noreply, ServerError(st2));
      Reply(r, cmd->noreply, "TOUCHED\r\n");
    });
  });
}

}  // namespace

namespace mcops {

static std::string Rusage(const timeval& tv) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%ld.%06ld", long(tv.tv_sec), long(tv.tv_usec));
  return buf;
}

StatsGroup CollectStats(Server* s, const std::string& sub,
                        std::vector<std::pair<std::string, std::string>>* out) {
  McStats& ms = StatsFor(s);
  auto stat = [out](const char* name, const std::string& v) { out->emplace_back(name, v); };
  auto u = [](uint64_t v) { return std::to_string(v); };
  if (sub == "reset") {
    ms = McStats{};
    return StatsGroup::kReset;
  }
  if (sub == "settings") {
    const Config& c = s->config();
    stat("maxconns", u(uint64_t(c.maxclients)));
    stat("item_size_max", u(uint64_t(c.memcache_max_item_size)));
    stat("key_max_length", "250");
    stat("evictions", "off");
    stat("cas_enabled", "yes");
    stat("dynakv_replication", "n=" + u(uint64_t(c.n)) + ",r=" + u(uint64_t(c.r)) + ",w=" + u(uint64_t(c.w)));
    return StatsGroup::kOk;
  }
  if (sub == "items" || sub == "slabs" || sub == "sizes" || sub == "conns") {
    return StatsGroup::kOk;  // no slab allocator: nothing to report
  }
  if (!sub.empty()) return StatsGroup::kUnknown;
  const ServerStats& ss = s->stats();
  uint64_t now_ms = s->WallMs();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  stat("pid", u(uint64_t(getpid())));
  stat("uptime", u((now_ms - ss.start_ms) / 1000));
  stat("time", u(now_ms / 1000));
  stat("version", kMcVersion);
  stat("pointer_size", u(sizeof(void*) * 8));
  stat("rusage_user", Rusage(ru.ru_utime));
  stat("rusage_system", Rusage(ru.ru_stime));
  stat("max_connections", u(uint64_t(s->config().maxclients)));
  stat("curr_connections", u(s->client_count()));
  stat("total_connections", u(ss.total_connections));
  stat("rejected_connections", u(ss.rejected_connections));
  stat("cmd_get", u(ms.cmd_get));
  stat("cmd_set", u(ms.cmd_set));
  stat("cmd_flush", u(ms.cmd_flush));
  stat("cmd_touch", u(ms.cmd_touch));
  stat("cmd_meta", u(ms.cmd_meta));
  stat("get_hits", u(ms.get_hits));
  stat("get_misses", u(ms.get_misses));
  stat("get_expired", "0");
  stat("get_flushed", "0");
  stat("delete_misses", u(ms.delete_misses));
  stat("delete_hits", u(ms.delete_hits));
  stat("incr_misses", u(ms.incr_misses));
  stat("incr_hits", u(ms.incr_hits));
  stat("decr_misses", u(ms.decr_misses));
  stat("decr_hits", u(ms.decr_hits));
  stat("cas_misses", u(ms.cas_misses));
  stat("cas_hits", u(ms.cas_hits));
  stat("cas_badval", u(ms.cas_badval));
  stat("touch_hits", u(ms.touch_hits));
  stat("touch_misses", u(ms.touch_misses));
  stat("store_too_large", u(ms.store_too_large));
  stat("store_no_memory", "0");
  stat("auth_cmds", u(ms.auth_cmds));
  stat("auth_errors", u(ms.auth_errors));
  stat("bytes_read", u(ss.net_input_bytes));
  stat("bytes_written", u(ss.net_output_bytes));
  stat("limit_maxbytes", "0");
  stat("accepting_conns", "1");
  stat("threads", "1");
  // An estimate: this replica's keys (with N = number of nodes, all of them).
  stat("curr_items", u(s->node()->LocalLiveKeyCount()));
  stat("total_items", u(ms.total_items));
  stat("evictions", "0");
  stat("reclaimed", u(ss.expired_keys));
  return StatsGroup::kOk;
}

}  // namespace mcops

namespace {

void McStatsCmd(Server* s, const McCommand& cmd, ReplyTo r) {
  std::vector<std::pair<std::string, std::string>> stats;
  switch (CollectStats(s, cmd.args.empty() ? "" : cmd.args[0], &stats)) {
    case StatsGroup::kReset: return r.SendRaw("RESET\r\n");
    case StatsGroup::kUnknown: return r.SendRaw("ERROR\r\n");  // memcached's answer to an unknown group
    case StatsGroup::kOk: break;
  }
  std::string out;
  for (const auto& [name, value] : stats) out += "STAT " + name + " " + value + "\r\n";
  out += "END\r\n";
  r.SendRaw(out);
}


// ---- meta protocol ---------------------------------------------------------------------------

// What the return flags of a meta reply can report.
struct MetaInfo {
  uint32_t flags = 0;
  int64_t ttl = -1;
  uint64_t cas = 0;
  size_t size = 0;
};

// The return flags, in request order, limited to the letters in `which`.
std::string MetaFlags(const McCommand& c, const MetaInfo& m, const char* which) {
  std::string out;
  for (const auto& f : c.meta) {
    if (std::strchr(which, f.flag) == nullptr) continue;
    out += ' ';
    out += f.flag;
    switch (f.flag) {
      case 'f': out += std::to_string(m.flags); break;
      case 't': out += std::to_string(m.ttl); break;
      case 'c': out += std::to_string(m.cas); break;
      case 'k': out += c.key(); break;
      case 's': out += std::to_string(m.size); break;
      case 'O': out += f.token; break;
      default: break;
    }
  }
  return out;
}

void MetaGet(Server* s, std::shared_ptr<McCommand> cmd, ReplyTo r) {
  McStats& ms = StatsFor(s);
  ms.cmd_get++;
  ReadKey(s, cmd->key(), 0, [s, cmd, r, &ms](Status st, KeyView v) mutable {
    if (!st.ok()) return r.SendRaw(ServerError(st));
    if (!v.exists) {
      ms.get_misses++;
      // q hides only the miss; the miss line echoes k and O (memcached 1.6).
      return Reply(r, cmd->noreply, "EN" + MetaFlags(*cmd, {}, "kO") + "\r\n");
    }
    ms.get_hits++;
    auto view = std::make_shared<KeyView>(std::move(v));
    auto finish = [cmd, view, s](ReplyTo& r, uint64_t cas) {
      MetaInfo m{view->flags, TtlSeconds(s, view->expiry_ms), cas, view->value.size()};
      std::string out;
      if (cmd->HasFlag('v')) {
        out = "VA " + std::to_string(view->value.size()) + MetaFlags(*cmd, m, "ftcksO") + "\r\n";
        out += view->value;
        out += "\r\n";
      } else {
        out = "HD" + MetaFlags(*cmd, m, "ftcksO") + "\r\n";
      }
      r.SendRaw(out);
    };
    if (!cmd->has_exptime) return finish(r, cluster::ContextCas(view->context));
    ms.cmd_touch++;
    ms.touch_hits++;
    uint64_t expiry = ExpiryMs(s, cmd->exptime);
    DoTouch(s, cmd->key(), *view, expiry, [r, view, expiry, finish](Status st2, cluster::WriteReply wr) mutable {
      if (!st2.ok()) return r.SendRaw(ServerError(st2));
      view->expiry_ms = expiry;
      finish(r, cluster::ContextCas(wr.context));
    });
  });
}

void MetaSet(Server* s, std::shared_ptr<McCommand> cmd, ReplyTo r) {
  McStats& ms = StatsFor(s);
  ms.cmd_set++;
  std::optional<uint64_t> cas;
  if (cmd->has_cas) cas = cmd->cas;
  uint64_t expiry = cmd->has_exptime ? ExpiryMs(s, cmd->exptime) : 0;
  DoStore(s, cmd->key(), std::move(cmd->data), cmd->flags, expiry, cmd->mode, cas,
          [r, cmd, &ms](Status st, StoreResult res, uint64_t new_cas) mutable {
            if (!st.ok()) return r.SendRaw(ServerError(st));
            MetaInfo m;
            m.cas = new_cas;
            switch (res) {
              case StoreResult::kStored:
                ms.total_items++;
                if (cmd->has_cas) ms.cas_hits++;
                return Reply(r, cmd->noreply, "HD" + MetaFlags(*cmd, m, "Okc") + "\r\n");
              case StoreResult::kNotStored: return r.SendRaw("NS" + MetaFlags(*cmd, m, "Ok") + "\r\n");
              case StoreResult::kExists:
                ms.cas_badval++;
                return r.SendRaw("EX" + MetaFlags(*cmd, m, "Ok") + "\r\n");
              case StoreResult::kNotFound:
                ms.cas_misses++;
                return r.SendRaw("NF" + MetaFlags(*cmd, m, "Ok") + "\r\n");
              case StoreResult::kNoMemory:
                return r.SendRaw("SERVER_ERROR out of memory storing object\r\n");
            }
          });
}

void MetaDelete(Server* s, std::shared_ptr<McCommand> cmd, ReplyTo r) {
  McStats& ms = StatsFor(s);
  std::optional<uint64_t> cas;
  if (cmd->has_cas) cas = cmd->cas;
  DoDelete(s, cmd->key(), cas, [r, cmd, &ms](Status st, DelResult res) mutable {
    if (!st.ok()) return r.SendRaw(ServerError(st));
    std::string flags = MetaFlags(*cmd, {}, "Ok");
    switch (res) {
      case DelResult::kDeleted:
        ms.delete_hits++;
        return Reply(r, cmd->noreply, "HD" + flags + "\r\n");
      case DelResult::kNotFound:
        ms.delete_misses++;
        return r.SendRaw("NF" + flags + "\r\n");
      case DelResult::kExists:
        return r.SendRaw("EX" + flags + "\r\n");
    }
  });
}

void MetaArith(Server* s, std::shared_ptr<McCommand> cmd, ReplyTo r) {
  McStats& ms = StatsFor(s);
  ArithArgs a;
  a.incr = cmd->mode != 'D';
  a.delta = cmd->delta;
  if (cmd->has_cas) a.cas = cmd->cas;
  a.vivify = cmd->has_vivify;
  a.initial = cmd->initial;
  a.vivify_expiry_ms = ExpiryMs(s, cmd->vivify_exptime);
  DoArith(s, cmd->key(), a, [s, r, cmd, &ms, incr = a.incr](Status st, ArithResult res) mutable {
    if (!st.ok()) return r.SendRaw(ServerError(st));
    switch (res.code) {
      case ArithResult::kNotFound:
        (incr ? ms.incr_misses : ms.decr_misses)++;
        return r.SendRaw("NF" + MetaFlags(*cmd, {}, "Ok") + "\r\n");
      case ArithResult::kExists:
        return r.SendRaw("EX" + MetaFlags(*cmd, {}, "Ok") + "\r\n");
      case ArithResult::kNonNumeric:
        return r.SendRaw("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
      case ArithResult::kOk:
        break;
    }
    (incr ? ms.incr_hits : ms.decr_hits)++;
    auto send = [cmd](ReplyTo& r, const ArithResult& res, int64_t ttl) {
      MetaInfo m;
      m.cas = res.cas;
      m.ttl = ttl;
      std::string num = std::to_string(res.value);
      if (cmd->HasFlag('v')) {
        Reply(r, cmd->noreply, "VA " + std::to_string(num.size()) + MetaFlags(*cmd, m, "Oktc") + "\r\n" + num + "\r\n");
      } else {
        Reply(r, cmd->noreply, "HD" + MetaFlags(*cmd, m, "Oktc") + "\r\n");
      }
    };
    if (!cmd->has_exptime) return send(r, res, TtlSeconds(s, res.expiry_ms));
    // T: set the TTL on success; the number is rewritten as a plain value with the new expiry.
    uint64_t expiry = ExpiryMs(s, cmd->exptime);
    ReadKey(s, cmd->key(), 0, [s, r, cmd, res, expiry, send](Status st2, KeyView cur) mutable {
      if (!st2.ok()) return r.SendRaw(ServerError(st2));
      if (!cur.exists) return send(r, res, TtlSeconds(s, expiry));
      DoTouch(s, cmd->key(), cur, expiry, [s, r, res, expiry, send](Status st3, cluster::WriteReply wr) mutable {
        if (!st3.ok()) return r.SendRaw(ServerError(st3));
        res.cas = cluster::ContextCas(wr.context);
        send(r, res, TtlSeconds(s, expiry));
      });
    });
  });
}

// memcached -Y style ascii auth: `set <any> <flags> <exptime> <n>` with "<user> <password>".
void McAuth(Server* s, Client* c, const McCommand& cmd, ReplyTo r) {
  if (cmd.op != McOp::kSet) return r.SendRaw("CLIENT_ERROR unauthenticated\r\n");
  std::string_view d = cmd.data;
  size_t sp = d.find(' ');
  std::string_view pass = sp == std::string_view::npos ? d : d.substr(sp + 1);
  StatsFor(s).auth_cmds++;
  if (pass != s->config().requirepass) {
    StatsFor(s).auth_errors++;
    return r.SendRaw("CLIENT_ERROR authentication failure\r\n");
  }
  c->authed = true;
  r.SendRaw("STORED\r\n");
}

}  // namespace

// Flushes this replica now (exptime <= 0 or in the past) or from a one-shot timer (flush_all
// <delay>, binary flush with an expiration).
Status Server::MemcacheFlush(bool has_delay, int64_t exptime) {
  uint64_t at = has_delay && exptime > 0 ? ExpiryMs(this, exptime) : 0;
  uint64_t now = WallMs();
  if (at <= now) return node_->FlushLocal();
  // Delayed flush: a one-shot timer that frees itself.
  auto* t = new uv_timer_t;
  uv_timer_init(&loop_, t);
  t->data = this;
  uv_timer_start(
      t,
      [](uv_timer_t* h) {
        auto* self = static_cast<Server*>(h->data);
        if (Status s = self->node()->FlushLocal(); !s.ok()) {
          self->Log(cluster::Logger::Level::kError, "delayed flush_all failed: " + s.ToString());
        }
        uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<uv_timer_t*>(x); });
      },
      at - now, 0);
  return Status::OK();
}

void Server::HandleMemcacheInput(const std::shared_ptr<Client>& c, const char* data, size_t len) {
  // The first byte decides the connection's protocol, as in memcached: 0x80 is binary.
  if (!c->mc_parser_ready && !c->mc_bin && len > 0 && static_cast<unsigned char>(data[0]) == 0x80) {
    protocol::McBinLimits limits;
    limits.max_item_bytes = uint64_t(cfg_.memcache_max_item_size);
    c->mc_bin = std::make_unique<protocol::McBinParser>(limits);
  }
  if (c->mc_bin) return HandleMemcacheBinaryInput(c, data, len);
  if (!c->mc_parser_ready) {
    protocol::McLimits limits;
    limits.max_item_bytes = uint64_t(cfg_.memcache_max_item_size);
    c->mc_parser = protocol::McParser(limits);
    c->mc_parser_ready = true;
  }
  McStats& mstats = StatsFor(this);
  size_t off = 0;
  while (off < len && !c->closing && !c->close_after_flush) {
    if (ParkIfBusy(c.get(), data + off, len - off, kMcMaxWaitingReplies)) return;
    size_t used = 0;
    protocol::McStatus st = c->mc_parser.Parse(data + off, len - off, &used, &c->mc_cmd);
    off += used;
    if (st == protocol::McStatus::kNeedMore) break;
    stats_.total_commands++;
    c->waiting.emplace_back();
    ReplyTo r(c, &c->waiting.back());
    McCommand& cmd = c->mc_cmd;
    switch (st) {
      case protocol::McStatus::kNeedMore:
        break;
      case protocol::McStatus::kFatal:
        r.SendRaw(c->mc_parser.error() + "\r\n");
        c->close_after_flush = true;
        continue;
      case protocol::McStatus::kError:
        Reply(r, cmd.noreply, c->mc_parser.error() + "\r\n");
        continue;
      case protocol::McStatus::kTooLarge: {
        mstats.store_too_large++;
        Reply(r, cmd.noreply, c->mc_parser.error() + "\r\n");
        // memcached unlinks the old item so a failed set leaves no stale value behind.
        if (cmd.op == McOp::kSet && c->authed) DeleteValue(this, cmd.key(), nullptr, 0, [](Status, cluster::WriteReply) {});
        continue;
      }
      case protocol::McStatus::kOk:
        break;
    }
    c->last_cmd = protocol::McOpName(cmd.op);
    if (!c->authed) {
      McAuth(this, c.get(), cmd, r);
      continue;
    }
    auto shared = std::make_shared<McCommand>(std::move(cmd));
    cmd = McCommand{};
    switch (shared->op) {
      case McOp::kGet:
      case McOp::kGets:
      case McOp::kGat:
      case McOp::kGats:
        McRetrieve(this, shared, r);
        break;
      case McOp::kSet:
      case McOp::kAdd:
      case McOp::kReplace:
      case McOp::kAppend:
      case McOp::kPrepend:
      case McOp::kCas:
        McStore(this, shared, r);
        break;
      case McOp::kDelete:
        McDelete(this, shared, r);
        break;
      case McOp::kIncr:
      case McOp::kDecr:
        McIncrDecr(this, shared, r);
        break;
      case McOp::kTouch:
        McTouch(this, shared, r);
        break;
      case McOp::kFlushAll: {
        mstats.cmd_flush++;
        Status fs = MemcacheFlush(shared->has_exptime, shared->exptime);
        Reply(r, shared->noreply, fs.ok() ? "OK\r\n" : ServerError(fs));
        break;
      }
      case McOp::kVersion:
        r.SendRaw(std::string("VERSION ") + kMcVersion + "\r\n");
        break;
      case McOp::kVerbosity:
        Reply(r, shared->noreply, "OK\r\n");
        break;
      case McOp::kQuit:
        r.SendRaw("");
        c->close_after_flush = true;
        break;
      case McOp::kStats:
        McStatsCmd(this, *shared, r);
        break;
      case McOp::kMetaGet:
        mstats.cmd_meta++;
        MetaGet(this, shared, r);
        break;
      case McOp::kMetaSet:
        mstats.cmd_meta++;
        MetaSet(this, shared, r);
        break;
      case McOp::kMetaDelete:
        mstats.cmd_meta++;
        MetaDelete(this, shared, r);
        break;
      case McOp::kMetaArithmetic:
        mstats.cmd_meta++;
        MetaArith(this, shared, r);
        break;
      case McOp::kMetaNoop:
        r.SendRaw("MN\r\n");
        break;
    }
  }
}

}  // namespace dynakv::server
