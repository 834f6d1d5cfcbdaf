// server/commands_keys.cc: keyspace commands: DEL UNLINK EXISTS TYPE, the EXPIRE family,
// TTL/PTTL/EXPIRETIME, PERSIST, KEYS and SCAN.
//
// DEL reads each key and writes a tombstone covering the context it read, so the delete
// supersedes exactly what was seen (a concurrent write elsewhere survives as a sibling).
// KEYS/SCAN walk this node's replica (DESIGN: with N equal to the cluster size that is every
// key; otherwise DBSIZE/KEYS/SCAN are documented as covering this replica's share).
#include <climits>
#include <iterator>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "server/collections.h"
#include "server/commands.h"

namespace dynakv::server {
namespace {

using protocol::RespWriter;

constexpr const char* kNotInt = "ERR value is not an integer or out of range";

// Two bounded passes (ForEachBounded): read every key, then delete the ones that exist. A
// read's completion only records the context, so completions that arrive together (after a
// commit, or from replicas) stay cheap within one turn.
void CmdDel(CommandCtx& ctx) {
  size_t n = ctx.args.size() - 1;
  struct State {
    std::vector<std::string> keys;
    std::vector<std::optional<cluster::VersionVector>> seen;  // set where the key exists
    std::vector<std::optional<CollectionState>> coll;         // set where it is a collection
    std::unordered_set<std::string_view> done;                // DEL k k deletes k once
    int64_t count = 0;
    Status err;
  };
  auto st = std::make_shared<State>();
  st->keys.assign(std::make_move_iterator(ctx.args.begin() + 1), std::make_move_iterator(ctx.args.end()));
  st->seen.resize(n);
  st->coll.resize(n);
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::shared_ptr<Client> c = ctx.client;
  auto deleted = [st, reply]() mutable {
    if (!st->err.ok()) return ReplyStatus(reply, st->err);
    reply.Send([&](RespWriter& w) { w.Int(st->count); });
  };
  auto read = Gather::Make(n, [s, c, st, n, deleted]() mutable {
    if (!st->err.ok()) return deleted();
    auto g = Gather::Make(n, deleted);
    ForEachBounded(s, c, n, [s, st, g](size_t i) {
      if (!st->seen[i] || !st->done.insert(st->keys[i]).second) return g->One();
      if (st->coll[i]) {
        return DeleteCollection(s, st->keys[i], *st->coll[i], [st, g](Status st2) {
          if (st2.ok()) st->count++;
          else if (st->err.ok()) st->err = st2;
          g->One();
        });
      }
      DeleteValue(s, st->keys[i], &*st->seen[i], 0, [st, g](Status st2, cluster::WriteReply) {
        if (st2.ok()) st->count++;
        else if (st->err.ok()) st->err = st2;
        g->One();
      });
    });
  });
  ForEachBounded(ctx, n, [s, st, read](size_t i) {
    ReadAnyKey(s, st->keys[i], 0, [st, read, i](Status rs, KeyView cur) {
      if (!rs.ok()) {
        if (st->err.ok()) st->err = rs;
      } else if (cur.exists) {
        if (cur.kind == cluster::ValueKind::kCollection) {
          st->coll[i] = CollectionState{std::move(cur.header), cur.context};
        }
        st->seen[i] = std::move(cur.context);
      }
      read->One();
    });
  });
}

void CmdExists(CommandCtx& ctx) {
  size_t n = ctx.args.size() - 1;
  auto count = std::make_shared<int64_t>(0);
  auto err = std::make_shared<Status>();
  ReplyTo reply = ctx.reply;
  auto g = Gather::Make(n, [reply, count, err]() mutable {
    if (!err->ok()) return ReplyStatus(reply, *err);
    reply.Send([&](RespWriter& w) { w.Int(*count); });
  });
  auto args = std::make_shared<std::vector<std::string>>(std::move(ctx.args));
  Server* s = ctx.server;
  ForEachBounded(ctx, n, [s, args, count, err, g](size_t i) {
    ReadAnyKey(s, (*args)[i + 1], 0, [count, err, g](Status st, KeyView cur) {
      if (!st.ok() && err->ok()) *err = st;
      if (cur.exists) (*count)++;
      g->One();
    });
  });
}

// What TYPE answers for a key.
const char* TypeOf(const KeyView& cur) {
  return !cur.exists ? "none"
         : cur.kind == cluster::ValueKind::kCollection ? cluster::CollectionTypeName(cur.header.type)
                                                       : "string";
}

void CmdType(CommandCtx& ctx) {
  ReplyTo reply = ctx.reply;
  ReadAnyKey(ctx.server, ctx.args[1], 0, [reply](Status st, KeyView cur) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    reply.Send([&](RespWriter& w) { w.Simple(TypeOf(cur)); });
  });
}

// EXPIRE key seconds [NX|XX|GT|LT] and its millisecond / absolute variants.
void ExpireGeneric(CommandCtx& ctx, bool millis, bool absolute) {
  int64_t v;
  if (!ParseInt64(ctx.args[2], &v)) return ReplyErr(ctx.reply, kNotInt);
  std::string cmd = Lower(ctx.args[0]);
  bool nx = false, xx = false, gt = false, lt = false;
  for (size_t i = 3; i < ctx.args.size(); i++) {
    std::string o = Lower(ctx.args[i]);
    if (o == "nx") nx = true;
    else if (o == "xx") xx = true;
    else if (o == "gt") gt = true;
    else if (o == "lt") lt = true;
    else return ReplyErr(ctx.reply, "ERR Unsupported option " + ctx.args[i]);
  }
  if (nx && (xx || gt || lt)) {
    return ReplyErr(ctx.reply, "ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if (gt && lt) return ReplyErr(ctx.reply, "ERR GT and LT options at the same time are not compatible");
  uint64_t now = ctx.server->WallMs();
  __int128 when = millis ? __int128(v) : __int128(v) * 1000;
  if (!absolute) when += now;
  if (when > __int128(INT64_MAX) || (!absolute && (millis ? v : v) > INT64_MAX / 1000 && !millis)) {
    return ReplyErr(ctx.reply, "ERR invalid expire time in '" + cmd + "' command");
  }
  int64_t at = int64_t(when);
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  ReadAnyKey(s, key, 0, [=](Status st, KeyView cur) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    if (!cur.exists) return reply.Send([](RespWriter& w) { w.Int(0); });
    bool has_ttl = cur.expiry_ms != 0;
    int64_t cur_at = has_ttl ? int64_t(cur.expiry_ms) : INT64_MAX;  // no TTL = infinite
    if ((nx && has_ttl) || (xx && !has_ttl) || (gt && !(at > cur_at)) || (lt && !(at < cur_at))) {
      return reply.Send([](RespWriter& w) { w.Int(0); });
    }
    if (cur.kind == cluster::ValueKind::kCollection) {
      CollectionState cs{std::move(cur.header), std::move(cur.context)};
      if (at <= int64_t(s->WallMs())) {
        return DeleteCollection(s, key, cs, [reply](Status st2) mutable {
          if (!st2.ok()) return ReplyStatus(reply, st2);
          reply.Send([](RespWriter& w) { w.Int(1); });
        });
      }
      return SetCollectionExpiry(s, key, cs, uint64_t(at), [reply](Status st2, cluster::WriteReply) mutable {
        if (!st2.ok()) return ReplyStatus(reply, st2);
        reply.Send([](RespWriter& w) { w.Int(1); });
      });
    }
    if (at <= int64_t(s->WallMs())) {
      // A time in the past deletes the key, as in Redis.
      return DeleteValue(s, key, &cur.context, 0, [reply](Status st2, cluster::WriteReply) mutable {
        if (!st2.ok()) return ReplyStatus(reply, st2);
        reply.Send([](RespWriter& w) { w.Int(1); });
      });
    }
    if (cur.kind == cluster::ValueKind::kCounter) {
      // A counter stays a counter (re-writing it as bytes would drop concurrent increments).
      return CounterSetExpiry(s, key, uint64_t(at), [reply](Status st2, cluster::WriteReply) mutable {
        if (!st2.ok()) return ReplyStatus(reply, st2);
        reply.Send([](RespWriter& w) { w.Int(1); });
      });
    }
    WriteValue(s, key, cur.value, uint64_t(at), cur.flags, &cur.context, 0,
               [reply](Status st2, cluster::WriteReply) mutable {
                 if (!st2.ok()) return ReplyStatus(reply, st2);
                 reply.Send([](RespWriter& w) { w.Int(1); });
               });
  });
}

void CmdExpire(CommandCtx& ctx) { ExpireGeneric(ctx, false, false); }
void CmdPexpire(CommandCtx& ctx) { ExpireGeneric(ctx, true, false); }
void CmdExpireat(CommandCtx& ctx) { ExpireGeneric(ctx, false, true); }
void CmdPexpireat(CommandCtx& ctx) { ExpireGeneric(ctx, true, true); }

// mode: 0 TTL, 1 PTTL, 2 EXPIRETIME, 3 PEXPIRETIME
void TtlGeneric(CommandCtx& ctx, int mode) {
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  ReadAnyKey(s, ctx.args[1], 0, [reply, s, mode](Status st, KeyView cur) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    int64_t out;
    if (!cur.exists) out = -2;
    else if (cur.expiry_ms == 0) out = -1;
    else {
      int64_t left = int64_t(cur.expiry_ms) - int64_t(s->WallMs());
      if (left < 0) left = 0;
      switch (mode) {
        case 0: out = (left + 500) / 1000; break;
        case 1: out = left; break;
        case 2: out = int64_t(cur.expiry_ms) / 1000; break;
        default: out = int64_t(cur.expiry_ms); break;
      }
    }
    reply.Send([&](RespWriter& w) { w.Int(out); });
  });
}
void CmdTtl(CommandCtx& ctx) { TtlGeneric(ctx, 0); }
void CmdPttl(CommandCtx& ctx) { TtlGeneric(ctx, 1); }
void CmdExpiretime(CommandCtx& ctx) { TtlGeneric(ctx, 2); }
void CmdPexpiretime(CommandCtx& ctx) { TtlGeneric(ctx, 3); }

void CmdPersist(CommandCtx& ctx) {
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  ReadAnyKey(s, key, 0, [=](Status st, KeyView cur) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    if (!cur.exists || cur.expiry_ms == 0) return reply.Send([](RespWriter& w) { w.Int(0); });
    if (cur.kind == cluster::ValueKind::kCollection) {
      CollectionState cs{std::move(cur.header), std::move(cur.context)};
      return SetCollectionExpiry(s, key, cs, 0, [reply](Status st2, cluster::WriteReply) mutable {
        if (!st2.ok()) return ReplyStatus(reply, st2);
        reply.Send([](RespWriter& w) { w.Int(1); });
      });
    }
    if (cur.kind == cluster::ValueKind::kCounter) {
      return CounterSetExpiry(s, key, 0, [reply](Status st2, cluster::WriteReply) mutable {
        if (!st2.ok()) return ReplyStatus(reply, st2);
        reply.Send([](RespWriter& w) { w.Int(1); });
      });
    }
    WriteValue(s, key, cur.value, 0, cur.flags, &cur.context, 0, [reply](Status st2, cluster::WriteReply) mutable {
      if (!st2.ok()) return ReplyStatus(reply, st2);
      reply.Send([](RespWriter& w) { w.Int(1); });
    });
  });
}

// KEYS and SCAN cover the ring: they visit every reachable node in turn (a stable snapshot
// taken when the walk starts) and keep a key only from the first node of its preference list
// in that snapshot, so each key is reported once even though N nodes hold it.
struct ScanWalk {
  std::vector<std::string> nodes;
  size_t node = 0;
  std::string last;
};

// Records one page visits: small, so a page costs well under a loop turn's budget on the
// node that serves it (this one, or a peer for its share of the ring).
constexpr size_t kScanPage = 500;

// Runs pages until `work` records were visited (SIZE_MAX: no bound), `want` keys were
// collected or the walk ended. Between pages it yields to other clients once this turn's
// budget (commands.h, TurnBudget) is spent, so KEYS over any keyspace stalls no one; not
// inside EXEC (may_yield false), where a standalone transaction stays atomic.
void WalkKeys(Server* s, std::shared_ptr<ScanWalk> walk, size_t work, size_t want, std::string pattern,
              std::shared_ptr<std::vector<std::string>> out,
              std::function<void(Status, bool finished)> done, bool may_yield, TurnBudget budget = {}) {
  if (walk->node >= walk->nodes.size()) return done(Status::OK(), true);
  const std::string node_id = walk->nodes[walk->node];
  size_t page = std::min(work, kScanPage);
  s->node()->ScanNode(node_id, walk->last, page,
                      [=](Status st, std::vector<std::string> keys, std::string last, bool fin) {
                        if (!st.ok()) return done(st, false);
                        for (auto& k : keys) {
                          if ((pattern.empty() || StringMatch(pattern, k)) &&
                              s->node()->OwnsForScan(node_id, k, walk->nodes)) {
                            out->push_back(std::move(k));
                          }
                        }
                        if (fin) {
                          walk->node++;
                          walk->last.clear();
                        } else {
                          walk->last = std::move(last);
                        }
                        if (walk->node >= walk->nodes.size()) return done(Status::OK(), true);
                        if (out->size() >= want) return done(Status::OK(), false);
                        size_t left = work == SIZE_MAX ? work : work - page;
                        if (left == 0) return done(Status::OK(), false);
                        if (may_yield && budget.Spent()) {
                          return s->Yield([=] { WalkKeys(s, walk, left, want, pattern, out, done, true); });
                        }
                        WalkKeys(s, walk, left, want, pattern, out, done, may_yield, budget);
                      });
}

void CmdKeys(CommandCtx& ctx) {
  auto walk = std::make_shared<ScanWalk>();
  walk->nodes = ctx.node()->ScanMembers();
  auto out = std::make_shared<std::vector<std::string>>();
  ReplyTo reply = ctx.reply;
  bool may_yield = !ctx.client || !ctx.client->in_exec;
  if (may_yield) MarkBounded(ctx.client);  // pages over several turns (WalkKeys)
  WalkKeys(ctx.server, walk, SIZE_MAX, SIZE_MAX, ctx.args[1], out, [reply, out](Status st, bool) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    reply.Send([&](RespWriter& w) {
      w.Array(out->size());
      for (auto& k : *out) w.Bulk(k);
    });
  }, may_yield);
}

// SCAN cursors are small integers naming a saved walk position, because Redis clients treat
// the cursor as a number. Positions live in a bounded table; a cursor that has fallen out of
// it restarts from the beginning (SCAN may return duplicates, as Redis documents, but never
// skips a key that existed throughout).
class CursorTable {
 public:
  uint64_t Save(ScanWalk pos) {
    uint64_t id = next_++;
    map_[id] = std::move(pos);
    while (map_.size() > kMax) map_.erase(map_.begin());
    return id;
  }
  bool Find(uint64_t id, ScanWalk* pos) const {
    auto it = map_.find(id);
    if (it == map_.end()) return false;
    *pos = it->second;
    return true;
  }

 private:
  static constexpr size_t kMax = 65536;
  uint64_t next_ = 1;
  std::map<uint64_t, ScanWalk> map_;
};

CursorTable& Cursors() {
  static CursorTable table;
  return table;
}

void CmdScan(CommandCtx& ctx) {
  int64_t cursor;
  if (!ParseInt64(ctx.args[1], &cursor) || cursor < 0) return ReplyErr(ctx.reply, "ERR invalid cursor");
  std::string pattern;
  int64_t count = 10;
  std::string type_filter;  // SCAN ... TYPE t: "" = any
  for (size_t i = 2; i < ctx.args.size(); i++) {
    std::string o = Lower(ctx.args[i]);
    if (o == "match" && i + 1 < ctx.args.size()) {
      pattern = ctx.args[++i];
    } else if (o == "count" && i + 1 < ctx.args.size()) {
      if (!ParseInt64(ctx.args[++i], &count)) return ReplyErr(ctx.reply, kNotInt);
      if (count < 1) return ReplyErr(ctx.reply, "ERR syntax error");
    } else if (o == "type" && i + 1 < ctx.args.size()) {
      type_filter = Lower(ctx.args[++i]);
    } else {
      return ReplyErr(ctx.reply, "ERR syntax error");
    }
  }
  auto walk = std::make_shared<ScanWalk>();
  if (cursor == 0 || !Cursors().Find(uint64_t(cursor), walk.get())) {
    walk->nodes = ctx.node()->ScanMembers();
    walk->node = 0;
    walk->last.clear();
  }
  auto out = std::make_shared<std::vector<std::string>>();
  ReplyTo reply = ctx.reply;
  size_t work = size_t(std::min<int64_t>(count, 100000));
  // Like Redis, COUNT is the amount of work per call, not the number of keys returned.
  bool may_yield = !ctx.client || !ctx.client->in_exec;
  if (may_yield) MarkBounded(ctx.client);  // pages over several turns (WalkKeys)
  Server* s = ctx.server;
  WalkKeys(s, walk, work, SIZE_MAX, pattern, out, [s, reply, out, walk, type_filter](Status st, bool finished) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    uint64_t next = finished ? 0 : Cursors().Save(*walk);
    auto send = [reply, next](const std::vector<std::string>& keys) mutable {
      reply.Send([&](RespWriter& w) {
        w.Array(2);
        w.Bulk(std::to_string(next));
        w.Array(keys.size());
        for (auto& k : keys) w.Bulk(k);
      });
    };
    if (type_filter.empty() || out->empty()) return send(*out);
    // TYPE: the page's keys are read (at the configured R) and kept in walk order if their
    // type matches, as Redis looks each key up. A failed read fails the page; the same
    // cursor can be asked again.
    struct Filter {
      std::vector<char> keep;
      size_t left = 0;
      Status failed;
    };
    auto f = std::make_shared<Filter>();
    f->keep.assign(out->size(), 0);
    f->left = out->size();
    for (size_t i = 0; i < out->size(); i++) {
      ReadAnyKey(s, (*out)[i], 0, [f, i, out, send, reply, type_filter](Status rs, KeyView v) mutable {
        if (!rs.ok() && f->failed.ok()) f->failed = rs;
        if (rs.ok() && type_filter == TypeOf(v)) f->keep[i] = 1;
        if (--f->left > 0) return;
        if (!f->failed.ok()) return ReplyStatus(reply, f->failed);
        std::vector<std::string> kept;
        for (size_t j = 0; j < out->size(); j++) {
          if (f->keep[j]) kept.push_back(std::move((*out)[j]));
        }
        send(kept);
      });
    }
  }, may_yield);
}

}  // namespace

void RegisterKeys(std::vector<CommandSpec>* t) {
  t->insert(t->end(), {
                          {"del", -2, kCmdWrite, CmdDel, 1, -1, 1},
                          {"unlink", -2, kCmdWrite | kCmdFast, CmdDel, 1, -1, 1},
                          {"exists", -2, kCmdReadonly | kCmdFast, CmdExists, 1, -1, 1},
                          {"touch", -2, kCmdReadonly | kCmdFast, CmdExists, 1, -1, 1},  // nothing is tracked: the keys that exist
                          {"type", 2, kCmdReadonly | kCmdFast, CmdType, 1, 1, 1},
                          {"expire", -3, kCmdWrite | kCmdFast, CmdExpire, 1, 1, 1},
                          {"pexpire", -3, kCmdWrite | kCmdFast, CmdPexpire, 1, 1, 1},
                          {"expireat", -3, kCmdWrite | kCmdFast, CmdExpireat, 1, 1, 1},
                          {"pexpireat", -3, kCmdWrite | kCmdFast, CmdPexpireat, 1, 1, 1},
                          {"ttl", 2, kCmdReadonly | kCmdFast, CmdTtl, 1, 1, 1},
                          {"pttl", 2, kCmdReadonly | kCmdFast, CmdPttl, 1, 1, 1},
                          {"expiretime", 2, kCmdReadonly | kCmdFast, CmdExpiretime, 1, 1, 1},
                          {"pexpiretime", 2, kCmdReadonly | kCmdFast, CmdPexpiretime, 1, 1, 1},
                          {"persist", 2, kCmdWrite | kCmdFast, CmdPersist, 1, 1, 1},
                          {"keys", 2, kCmdReadonly, CmdKeys, 0, 0, 0},
                          {"scan", -2, kCmdReadonly, CmdScan, 0, 0, 0},
                      });
}

}  // namespace dynakv::server
