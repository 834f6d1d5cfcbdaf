// server/commands_list.cc: Redis list commands over the list engine (lists.h).
//
// Concurrent semantics (README, "Lists"; docs/ARCHITECTURE.md, "Lists"): pushes through
// different servers both survive, in a deterministic order; a pop, LREM or LTRIM removes the
// elements it read, so two pops through different servers may return the same element; LSET
// is a last-writer-wins register on the element. Through one server, every list command on
// a key runs in arrival order. LMOVE pushes to the destination before it removes from the
// source: a crash between them leaves the element in both lists, never in neither.
#include <algorithm>
#include <climits>
#include <cmath>

#include "server/lists.h"
#include "server/server.h"

namespace dynakv::server {
namespace {

using protocol::RespWriter;

constexpr const char* kNotInt = "ERR value is not an integer or out of range";

// How many elements from the head a command on [start, stop] must read: both indexes from
// the head read up to stop; anything from the tail reads the whole list.
size_t HeadNeed(int64_t start, int64_t stop) {
  if (start < 0 || stop < 0) return SIZE_MAX;
  if (stop >= INT64_MAX - 1) return SIZE_MAX;
  return size_t(stop) + 1;
}

void SendValues(ReplyTo& reply, const std::vector<std::string>& v) {
  reply.Send([&](RespWriter& w) {
    w.Array(v.size());
    for (const auto& x : v) w.Bulk(x);
  });
}

bool ParseSide(const std::string& a, bool* left) {
  std::string s = Lower(a);
  if (s == "left") *left = true;
  else if (s == "right") *left = false;
  else return false;
  return true;
}

// Redis's blocking timeout: seconds as a double, >= 0; deadline 0 = block for ever.
bool ParseTimeout(CommandCtx& ctx, const std::string& a, uint64_t* deadline) {
  long double t;
  if (!ParseLongDouble(a, &t) || std::isnan(double(t)) || std::isinf(double(t))) {
    ReplyErr(ctx, "ERR timeout is not a float or out of range");
    return false;
  }
  if (t < 0) {
    ReplyErr(ctx, "ERR timeout is negative");
    return false;
  }
  long double ms = t * 1000;
  if (ms > 1e15L) {
    ReplyErr(ctx, "ERR timeout is out of range");
    return false;
  }
  *deadline = ms > 0 ? ctx.server->NowMs() + std::max<uint64_t>(1, uint64_t(ms)) : 0;
  return true;
}

void Push(CommandCtx& ctx, bool left, bool only_if_exists) {
  ReplyTo reply = ctx.reply;
  ListPush(ctx.server, ctx.args[1], left, std::vector<std::string>(ctx.args.begin() + 2, ctx.args.end()),
           only_if_exists, [reply](Status st, int64_t n) mutable {
             if (!st.ok()) return ReplyStatus(reply, st);
             reply.Send([&](RespWriter& w) { w.Int(n); });
           });
}
void CmdLpush(CommandCtx& ctx) { Push(ctx, true, false); }
void CmdRpush(CommandCtx& ctx) { Push(ctx, false, false); }
void CmdLpushx(CommandCtx& ctx) { Push(ctx, true, true); }
void CmdRpushx(CommandCtx& ctx) { Push(ctx, false, true); }

void Pop(CommandCtx& ctx, bool left) {
  if (ctx.args.size() > 3) return ReplyErr(ctx, "ERR wrong number of arguments for '" + Lower(ctx.args[0]) + "' command");
  bool has_count = ctx.args.size() == 3;
  int64_t count = 1;
  if (has_count) {
    if (!ParseInt64(ctx.args[2], &count) || count < 0) {
      return ReplyErr(ctx, "ERR value is out of range, must be positive");
    }
  }
  ReplyTo reply = ctx.reply;
  ListPop(ctx.server, ctx.args[1], left, size_t(count),
          [reply, has_count](Status st, bool exists, std::vector<std::string> v) mutable {
            if (!st.ok()) return ReplyStatus(reply, st);
            reply.Send([&](RespWriter& w) {
              if (!has_count) {
                if (v.empty()) w.Null();
                else w.Bulk(v[0]);
                return;
              }
              if (!exists) return w.NullArray();
              w.Array(v.size());
              for (const auto& x : v) w.Bulk(x);
            });
          });
}
void CmdLpop(CommandCtx& ctx) { Pop(ctx, true); }
void CmdRpop(CommandCtx& ctx) { Pop(ctx, false); }

void CmdLlen(CommandCtx& ctx) {
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  ListQueued(s, key, [s, key, reply](ListRelease release) mutable {
    ListLength(s, key, [reply, release](Status st, int64_t n) mutable {
      release();
      if (!st.ok()) return ReplyStatus(reply, st);
      reply.Send([&](RespWriter& w) { w.Int(n); });
    });
  }, /*read_only=*/true);
}

// Runs `fn(view)` on the first `need` elements of `key`, in the key's queue; `fn` releases.
void WithList(CommandCtx& ctx, size_t need, std::function<void(ListView, ReplyTo&, ListRelease)> fn,
              bool read_only = false) {
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  ListQueued(s, key, [s, key, need, reply, fn = std::move(fn)](ListRelease release) mutable {
    ListRead(s, key, need, [reply, release, fn = std::move(fn)](Status st, ListView view) mutable {
      if (!st.ok()) {
        release();
        return ReplyStatus(reply, st);
      }
      fn(std::move(view), reply, std::move(release));
    });
  }, read_only);
}

void CmdLrange(CommandCtx& ctx) {
  int64_t start, stop;
  if (!ParseInt64(ctx.args[2], &start) || !ParseInt64(ctx.args[3], &stop)) return ReplyErr(ctx, kNotInt);
  WithList(ctx, HeadNeed(start, stop), [start, stop](ListView view, ReplyTo& reply, ListRelease release) {
    release();
    size_t from, to;
    std::vector<std::string> out;
    // A head read that stopped early holds indexes [0, stop]: clamping to its size is exact.
    if (ClampRanks(start, stop, view.items.size(), &from, &to)) {
      for (size_t i = from; i <= to; i++) out.push_back(std::move(view.items[i].value));
    }
    SendValues(reply, out);
  }, /*read_only=*/true);
}

void CmdLindex(CommandCtx& ctx) {
  int64_t index;
  if (!ParseInt64(ctx.args[2], &index)) return ReplyErr(ctx, kNotInt);
  WithList(ctx, HeadNeed(index, index), [index](ListView view, ReplyTo& reply, ListRelease release) {
    release();
    int64_t len = int64_t(view.items.size()), i = index < 0 ? index + len : index;
    reply.Send([&](RespWriter& w) {
      if (i < 0 || i >= len) return w.Null();
      w.Bulk(view.items[size_t(i)].value);
    });
  }, /*read_only=*/true);
}

void CmdLset(CommandCtx& ctx) {
  int64_t index;
  if (!ParseInt64(ctx.args[2], &index)) return ReplyErr(ctx, kNotInt);
  Server* s = ctx.server;
  std::string key = ctx.args[1], value = ctx.args[3];
  WithList(ctx, HeadNeed(index, index), [s, key, index, value](ListView view, ReplyTo& reply, ListRelease release) mutable {
    if (!view.cs.exists() || view.items.empty()) {
      release();
      return ReplyErr(reply, "ERR no such key");
    }
    int64_t len = int64_t(view.items.size()), i = index < 0 ? index + len : index;
    if (i < 0 || i >= len) {
      release();
      return ReplyErr(reply, "ERR index out of range");
    }
    ListItem& it = view.items[size_t(i)];
    cluster::WriteRequest req;
    req.op = cluster::OpKind::kPut;
    req.value.value = std::move(value);
    req.has_context = true;
    req.context = std::move(it.ctx);  // supersedes the value read: a register
    req.want_record = false;
    req.want_context = false;
    WriteTracked(s, cluster::GenElementKey(kList, key, it.gen, it.pos), std::move(req),
                 [reply, release](Status st, cluster::WriteReply) mutable {
                   release();
                   if (!st.ok()) return ReplyStatus(reply, st);
                   reply.Send([](RespWriter& w) { w.Ok(); });
                 },
                 true);
  });
}

void CmdLinsert(CommandCtx& ctx) {
  std::string where = Lower(ctx.args[2]);
  if (where != "before" && where != "after") return ReplyErr(ctx, "ERR syntax error");
  bool before = where == "before";
  Server* s = ctx.server;
  std::string key = ctx.args[1], pivot = ctx.args[3], value = ctx.args[4];
  WithList(ctx, SIZE_MAX, [s, key, before, pivot, value](ListView view, ReplyTo& reply, ListRelease release) mutable {
    if (view.items.empty()) {
      release();
      return reply.Send([](RespWriter& w) { w.Int(0); });
    }
    size_t i = 0;
    while (i < view.items.size() && view.items[i].value != pivot) i++;
    if (i == view.items.size()) {
      release();
      return reply.Send([](RespWriter& w) { w.Int(-1); });
    }
    // Between two neighbours: for BEFORE, after every record before the pivot (removed ones
    // too, so a head hint, cluster/list_engine.cc HeadHint, never hides it); for AFTER, before the next
    // present element.
    std::string lo, hi;
    if (before) {
      hi = view.items[i].pos;
      lo = view.items[i].prev;
      if (i > 0 && view.items[i - 1].pos > lo) lo = view.items[i - 1].pos;
    } else {
      lo = view.items[i].pos;
      if (i + 1 < view.items.size()) hi = view.items[i + 1].pos;
    }
    std::string pos = cluster::ListPositionBetween(lo, hi, s->DrawListTag());
    if (pos.empty()) {
      release();
      return ReplyErr(reply, "ERR list position space exhausted at this pivot");
    }
    ListInsertNow(s, key, view.cs, std::move(pos), std::move(value), [reply, release](Status st, int64_t n) mutable {
      release();
      if (!st.ok()) return ReplyStatus(reply, st);
      reply.Send([&](RespWriter& w) { w.Int(n); });
    });
  });
}

void CmdLrem(CommandCtx& ctx) {
  int64_t count;
  if (!ParseInt64(ctx.args[2], &count)) return ReplyErr(ctx, kNotInt);
  Server* s = ctx.server;
  std::string key = ctx.args[1], value = ctx.args[3];
  WithList(ctx, SIZE_MAX, [s, key, count, value](ListView view, ReplyTo& reply, ListRelease release) {
    std::vector<ListItem> rm;
    size_t n = view.items.size();
    uint64_t limit = count == 0 ? UINT64_MAX : (count < 0 ? uint64_t(-(count + 1)) + 1 : uint64_t(count));
    for (size_t k = 0; k < n && rm.size() < limit; k++) {
      const ListItem& it = view.items[count < 0 ? n - 1 - k : k];
      if (it.value == value) rm.push_back(it);
    }
    int64_t removed = int64_t(rm.size());
    if (rm.empty()) {
      release();
      return reply.Send([](RespWriter& w) { w.Int(0); });
    }
    ListRemoveNow(s, key, view, std::move(rm), [reply, release, removed](Status st) mutable {
      release();
      if (!st.ok()) return ReplyStatus(reply, st);
      reply.Send([&](RespWriter& w) { w.Int(removed); });
    });
  });
}

void CmdLtrim(CommandCtx& ctx) {
  int64_t start, stop;
  if (!ParseInt64(ctx.args[2], &start) || !ParseInt64(ctx.args[3], &stop)) return ReplyErr(ctx, kNotInt);
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  WithList(ctx, SIZE_MAX, [s, key, start, stop](ListView view, ReplyTo& reply, ListRelease release) {
    size_t from = 0, to = 0;
    bool keep = ClampRanks(start, stop, view.items.size(), &from, &to);  // false: everything goes
    std::vector<ListItem> rm;
    for (size_t i = 0; i < view.items.size(); i++) {
      if (!keep || i < from || i > to) rm.push_back(view.items[i]);
    }
    if (rm.empty() && !(view.complete && view.items.empty() && view.cs.exists())) {
      release();
      return reply.Send([](RespWriter& w) { w.Ok(); });
    }
    ListRemoveNow(s, key, view, std::move(rm), [reply, release](Status st) mutable {
      release();
      if (!st.ok()) return ReplyStatus(reply, st);
      reply.Send([](RespWriter& w) { w.Ok(); });
    });
  });
}

// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
void CmdLpos(CommandCtx& ctx) {
  int64_t rank = 1, count = -1, maxlen = 0;
  for (size_t i = 3; i < ctx.args.size(); i++) {
    std::string o = Lower(ctx.args[i]);
    if (i + 1 >= ctx.args.size() || (o != "rank" && o != "count" && o != "maxlen")) {
      return ReplyErr(ctx, "ERR syntax error");
    }
    int64_t v;
    if (!ParseInt64(ctx.args[++i], &v)) return ReplyErr(ctx, kNotInt);
    if (o == "rank") {
      if (v == 0 || v == INT64_MIN) {
        return ReplyErr(ctx, "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
                             "or use negative to start from the end of the list");
      }
      rank = v;
    } else if (o == "count") {
      if (v < 0) return ReplyErr(ctx, "ERR COUNT can't be negative");
      count = v;
    } else {
      if (v < 0) return ReplyErr(ctx, "ERR MAXLEN can't be negative");
      maxlen = v;
    }
  }
  std::string value = ctx.args[2];
  WithList(ctx, SIZE_MAX, [value, rank, count, maxlen](ListView view, ReplyTo& reply, ListRelease release) {
    release();
    size_t n = view.items.size();
    size_t scan = maxlen > 0 ? std::min<size_t>(n, size_t(maxlen)) : n;
    uint64_t skip = uint64_t(rank < 0 ? -rank : rank) - 1;
    uint64_t want = count < 0 ? 1 : (count == 0 ? UINT64_MAX : uint64_t(count));
    std::vector<int64_t> hits;
    for (size_t k = 0; k < scan && hits.size() < want; k++) {
      size_t i = rank < 0 ? n - 1 - k : k;
      if (view.items[i].value != value) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      hits.push_back(int64_t(i));
    }
    reply.Send([&](RespWriter& w) {
      if (count < 0) {
        if (hits.empty()) return w.Null();
        return w.Int(hits[0]);
      }
      w.Array(hits.size());
      for (int64_t h : hits) w.Int(h);
    });
  }, /*read_only=*/true);
}

// LMOVE's step (and BLMOVE's attempt): moves one element from src's `from` end to dst's `to`
// end. answered(false): src had nothing (nothing replied, for a blocking caller to wait);
// with reply_nil the nil is answered.
void Move(Server* s, std::string src, std::string dst, bool from_left, bool to_left, ReplyTo reply, bool reply_nil,
          std::function<void(bool)> answered) {
  ListQueued(s, src, [=](ListRelease release) mutable {
    ReadCollection(s, dst, kList, [=](Status dst_st, CollectionState dcs) mutable {
      ListRead(s, src, from_left ? 1 : SIZE_MAX, [=](Status st, ListView view) mutable {
        if (st.ok() && !view.items.empty() && !dst_st.ok()) st = dst_st;  // WRONGTYPE destination
        if (!st.ok()) {
          release();
          ReplyStatus(reply, st);
          return answered(true);
        }
        if (view.items.empty()) {
          release();
          if (reply_nil) reply.Send([](RespWriter& w) { w.Null(); });
          return answered(reply_nil);
        }
        ListItem item = from_left ? view.items.front() : view.items.back();
        std::string value = item.value;
        // The source's own header when it is also the destination (a rotation): the push
        // must keep the element's removal from emptying the list.
        CollectionState push_cs = src == dst ? view.cs : dcs;
        if (src == dst) view.complete = false;
        ListPushNow(s, dst, push_cs, to_left, {value}, [=](Status ps, int64_t) mutable {
          if (!ps.ok()) {
            release();
            ReplyStatus(reply, ps);
            return answered(true);
          }
          ListRemoveNow(s, src, view, {item}, [=](Status rs) mutable {
            release();
            if (!rs.ok()) ReplyStatus(reply, rs);
            else reply.Send([&](RespWriter& w) { w.Bulk(value); });
            answered(true);
          });
        });
      });
    });
  });
}

void CmdLmove(CommandCtx& ctx) {
  bool from_left, to_left;
  if (!ParseSide(ctx.args[3], &from_left) || !ParseSide(ctx.args[4], &to_left)) return ReplyErr(ctx, "ERR syntax error");
  Move(ctx.server, ctx.args[1], ctx.args[2], from_left, to_left, ctx.reply, true, [](bool) {});
}
void CmdRpoplpush(CommandCtx& ctx) {
  Move(ctx.server, ctx.args[1], ctx.args[2], false, true, ctx.reply, true, [](bool) {});
}

// Blocks (ListBlock) unless the command may not: inside MULTI, or with its first attempt
// answered. `attempt(reply_nil, answered)`.
void Blocking(CommandCtx& ctx, std::vector<std::string> keys, uint64_t deadline,
              std::function<void(bool reply_nil, std::function<void(bool)>)> attempt, bool null_array) {
  Server* s = ctx.server;
  std::shared_ptr<Client> c = ctx.client;
  ReplyTo reply = ctx.reply;
  bool in_exec = c && c->in_exec;
  attempt(in_exec, [=](bool answered) mutable {
    if (answered || in_exec) return;
    ListBlock(
        s, c, keys, deadline, [attempt](std::function<void(bool)> cb) { attempt(false, std::move(cb)); },
        [reply, null_array]() mutable {
          reply.Send([&](RespWriter& w) {
            if (null_array) w.NullArray();
            else w.Null();
          });
        });
  });
}

// Tries keys[i..] in order with a pop of up to `count` from each; the first that has
// elements answers [key, values...] through `send`.
void PopFirst(Server* s, std::shared_ptr<std::vector<std::string>> keys, size_t i, bool left, size_t count,
              std::function<void(Status, const std::string&, std::vector<std::string>)> found,
              std::function<void()> none) {
  if (i >= keys->size()) return none();
  ListPop(s, (*keys)[i], left, count, [=](Status st, bool, std::vector<std::string> v) mutable {
    if (!st.ok()) return found(st, (*keys)[i], {});
    if (!v.empty()) return found(Status::OK(), (*keys)[i], std::move(v));
    PopFirst(s, keys, i + 1, left, count, std::move(found), std::move(none));
  });
}

// BLPOP / BRPOP key [key ...] timeout
void BPop(CommandCtx& ctx, bool left) {
  uint64_t deadline;
  if (!ParseTimeout(ctx, ctx.args.back(), &deadline)) return;
  auto keys = std::make_shared<std::vector<std::string>>(ctx.args.begin() + 1, ctx.args.end() - 1);
  Server* s = ctx.server;
  ReplyTo reply = ctx.reply;
  Blocking(ctx, *keys, deadline, [s, keys, left, reply](bool reply_nil, std::function<void(bool)> answered) mutable {
    PopFirst(
        s, keys, 0, left, 1,
        [reply, answered](Status st, const std::string& key, std::vector<std::string> v) mutable {
          if (!st.ok()) ReplyStatus(reply, st);
          else reply.Send([&](RespWriter& w) {
            w.Array(2);
            w.Bulk(key);
            w.Bulk(v[0]);
          });
          answered(true);
        },
        [reply, reply_nil, answered]() mutable {
          if (reply_nil) reply.Send([](RespWriter& w) { w.NullArray(); });
          answered(reply_nil);
        });
  }, true);
}
void CmdBlpop(CommandCtx& ctx) { BPop(ctx, true); }
void CmdBrpop(CommandCtx& ctx) { BPop(ctx, false); }

void BMove(CommandCtx& ctx, const std::string& src, const std::string& dst, bool from_left, bool to_left,
           const std::string& timeout) {
  uint64_t deadline;
  if (!ParseTimeout(ctx, timeout, &deadline)) return;
  Server* s = ctx.server;
  ReplyTo reply = ctx.reply;
  Blocking(ctx, {src}, deadline, [=](bool reply_nil, std::function<void(bool)> answered) {
    Move(s, src, dst, from_left, to_left, reply, reply_nil, std::move(answered));
  }, false);
}
void CmdBlmove(CommandCtx& ctx) {
  bool from_left, to_left;
  if (!ParseSide(ctx.args[3], &from_left) || !ParseSide(ctx.args[4], &to_left)) return ReplyErr(ctx, "ERR syntax error");
  BMove(ctx, ctx.args[1], ctx.args[2], from_left, to_left, ctx.args[5]);
}
void CmdBrpoplpush(CommandCtx& ctx) { BMove(ctx, ctx.args[1], ctx.args[2], false, true, ctx.args[3]); }

// [B]LMPOP [timeout] numkeys key [key ...] LEFT|RIGHT [COUNT count]
void Mpop(CommandCtx& ctx, bool blocking) {
  size_t at = blocking ? 2 : 1;
  uint64_t deadline = 0;
  int64_t numkeys;
  if (!ParseInt64(ctx.args[at], &numkeys) || numkeys <= 0) {
    return ReplyErr(ctx, "ERR numkeys should be greater than 0");
  }
  if (uint64_t(numkeys) > ctx.args.size() - at - 1) return ReplyErr(ctx, "ERR syntax error");
  size_t side_at = at + 1 + size_t(numkeys);
  if (side_at >= ctx.args.size()) return ReplyErr(ctx, "ERR syntax error");
  bool left;
  if (!ParseSide(ctx.args[side_at], &left)) return ReplyErr(ctx, "ERR syntax error");
  int64_t count = 1;
  bool counted = false;
  for (size_t i = side_at + 1; i < ctx.args.size(); i++) {
    if (Lower(ctx.args[i]) != "count" || counted || i + 1 >= ctx.args.size()) return ReplyErr(ctx, "ERR syntax error");
    if (!ParseInt64(ctx.args[++i], &count) || count <= 0) return ReplyErr(ctx, "ERR count should be greater than 0");
    counted = true;
  }
  if (blocking && !ParseTimeout(ctx, ctx.args[1], &deadline)) return;
  auto keys = std::make_shared<std::vector<std::string>>(ctx.args.begin() + at + 1, ctx.args.begin() + side_at);
  Server* s = ctx.server;
  ReplyTo reply = ctx.reply;
  auto attempt = [s, keys, left, count, reply](bool reply_nil, std::function<void(bool)> answered) mutable {
    PopFirst(
        s, keys, 0, left, size_t(count),
        [reply, answered](Status st, const std::string& key, std::vector<std::string> v) mutable {
          if (!st.ok()) ReplyStatus(reply, st);
          else reply.Send([&](RespWriter& w) {
            w.Array(2);
            w.Bulk(key);
            w.Array(v.size());
            for (const auto& x : v) w.Bulk(x);
          });
          answered(true);
        },
        [reply, reply_nil, answered]() mutable {
          if (reply_nil) reply.Send([](RespWriter& w) { w.NullArray(); });
          answered(reply_nil);
        });
  };
  if (!blocking) return attempt(true, [](bool) {});
  Blocking(ctx, *keys, deadline, attempt, true);
}
void CmdLmpop(CommandCtx& ctx) { Mpop(ctx, false); }
void CmdBlmpop(CommandCtx& ctx) { Mpop(ctx, true); }

}  // namespace

void RegisterList(std::vector<CommandSpec>* t) {
  const uint32_t W = kCmdWrite, R = kCmdReadonly, F = kCmdFast;
  t->insert(t->end(), {
                          {"blmove", 6, W, CmdBlmove, 1, 2, 1},
                          {"blmpop", -5, W, CmdBlmpop, 0, 0, 0},
                          {"blpop", -3, W, CmdBlpop, 1, -2, 1},
                          {"brpop", -3, W, CmdBrpop, 1, -2, 1},
                          {"brpoplpush", 4, W, CmdBrpoplpush, 1, 2, 1},
                          {"lindex", 3, R, CmdLindex, 1, 1, 1},
                          {"linsert", 5, W, CmdLinsert, 1, 1, 1},
                          {"llen", 2, R | F, CmdLlen, 1, 1, 1},
                          {"lmove", 5, W, CmdLmove, 1, 2, 1},
                          {"lmpop", -4, W, CmdLmpop, 0, 0, 0},
                          {"lpop", -2, W | F | kCmdListHold, CmdLpop, 1, 1, 1},
                          {"lpos", -3, R, CmdLpos, 1, 1, 1},
                          {"lpush", -3, W | F | kCmdListHold, CmdLpush, 1, 1, 1},
                          {"lpushx", -3, W | F | kCmdListHold, CmdLpushx, 1, 1, 1},
                          {"lrange", 4, R, CmdLrange, 1, 1, 1},
                          {"lrem", 4, W, CmdLrem, 1, 1, 1},
                          {"lset", 4, W, CmdLset, 1, 1, 1},
                          {"ltrim", 4, W, CmdLtrim, 1, 1, 1},
                          {"rpop", -2, W | F | kCmdListHold, CmdRpop, 1, 1, 1},
                          {"rpoplpush", 3, W, CmdRpoplpush, 1, 2, 1},
                          {"rpush", -3, W | F | kCmdListHold, CmdRpush, 1, 1, 1},
                          {"rpushx", -3, W | F | kCmdListHold, CmdRpushx, 1, 1, 1},
                      });
}

}  // namespace dynakv::server
