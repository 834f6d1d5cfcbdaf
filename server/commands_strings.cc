// server/commands_strings.cc: Redis string commands over the Dynamo coordinator.
//
// Plain writes (SET, MSET) supersede what the coordinating replica knows. Commands that
// depend on the current value (NX/XX, APPEND, SETRANGE, GETSET, INCRBYFLOAT, ...) read with
// the default R and write back with the context they read, so a concurrent write elsewhere
// becomes a sibling rather than being lost; they are atomic on one node but not across a
// cluster. INCR and friends are a PN-counter CRDT and never lose increments.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "cluster/key_layout.h"
#include "server/big_value.h"
#include "server/commands.h"

namespace dynakv::server {
namespace {

using protocol::RespWriter;


constexpr const char* kNotInt = "ERR value is not an integer or out of range";
constexpr const char* kSyntax = "ERR syntax error";

uint64_t MaxValueBytes(Server* s) { return uint64_t(s->config().proto_max_bulk_len); }

// ---- GET ----

void GetValue(Server* s, const std::string& rkey, ReplyTo reply);

void SlicedGet(Server* s, const std::string& rkey, ReplyTo reply, const BigValue& b) {
  SlicedReply(s, rkey, reply, b, 0, b.len, [s, rkey, reply]() { GetValue(s, rkey, reply); });
}

void CmdGet(CommandCtx& ctx) {
  std::string buf;
  GetValue(ctx.server, cluster::PlainRecordKeyRef(ctx.args[1], &buf), ctx.reply);
}

// The reply to GET from a read's record (values loaded): nil, WRONGTYPE, or the winner's value.
void ReplyWinner(Server* s, ReplyTo& reply, cluster::ReadReply& rr) {
  // The hottest command: reply straight from the winning sibling, without a KeyView copy.
  const cluster::Sibling* win = cluster::Winner(rr.record, s->WallMs());
  if (win == nullptr) {
    s->stats().keyspace_misses++;
    return reply.Send([](RespWriter& w) { w.Null(); });
  }
  if (win->kind == cluster::ValueKind::kCollection) return ReplyErr(reply, kWrongType);
  s->stats().keyspace_hits++;
  if (win->kind == cluster::ValueKind::kPlain) {
    // The reply owns rr: its value becomes the reply without a copy (RespWriter::Bulk).
    std::string& value = rr.record.siblings[size_t(win - rr.record.siblings.data())].value;
    return reply.Send([&](RespWriter& w) { w.BulkOwned(std::move(value)); });
  }
  std::string v;
  Status rs = cluster::ResolveValue(rr.record, s->WallMs(), &v);
  if (!rs.ok()) return ReplyStatus(reply, rs);
  reply.Send([&](RespWriter& w) { w.BulkOwned(std::move(v)); });
}

void GetValue(Server* s, const std::string& rkey, ReplyTo reply) {
  s->node()->ReadLeavingBig(rkey, kBigValueBytes, TimeRead(s, [reply, s](Status st, cluster::ReadReply rr) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    const cluster::Sibling* win = rr.big ? cluster::Winner(rr.record, s->WallMs()) : nullptr;
    if (win != nullptr && win->kind != cluster::ValueKind::kCollection) {
      // This node's own copy, big, its values left out: a plain value is copied over several
      // turns; anything else (a counter) is read whole.
      if (win->kind == cluster::ValueKind::kPlain) {
        if (BigValue b = FindBigValue(s, rr.rkey); b.ok) return SlicedGet(s, rr.rkey, reply, b);
      }
      return s->node()->ReadRecord(rr.rkey, 0, [reply, s](Status st2, cluster::ReadReply whole) mutable {
        if (!st2.ok()) return ReplyStatus(reply, st2);
        ReplyWinner(s, reply, whole);
      });
    }
    ReplyWinner(s, reply, rr);  // (nil or WRONGTYPE need no values)
  }));
}

// ---- SET and its family ----

struct SetArgs {
  enum { kAlways, kNx, kXx } cond = kAlways;
  bool get = false, keepttl = false;
  uint64_t expiry_ms = 0;  // absolute; 0 none
};

// Parses SET options from args[from..]. Returns an error text or "".
std::string ParseSetArgs(Server* s, const std::vector<std::string>& a, size_t from, SetArgs* out, const char* cmd) {
  bool has_expire = false;
  for (size_t i = from; i < a.size(); i++) {
    std::string o = Lower(a[i]);
    if (o == "nx" && out->cond == SetArgs::kAlways) out->cond = SetArgs::kNx;
    else if (o == "xx" && out->cond == SetArgs::kAlways) out->cond = SetArgs::kXx;
    else if (o == "get") out->get = true;
    else if (o == "keepttl" && !has_expire) out->keepttl = true;
    else if ((o == "ex" || o == "px" || o == "exat" || o == "pxat") && !has_expire && !out->keepttl &&
             i + 1 < a.size()) {
      int64_t v;
      if (!ParseInt64(a[++i], &v)) return kNotInt;
      if (v <= 0) return std::string("ERR invalid expire time in '") + cmd + "' command";
      uint64_t now = s->WallMs();
      __int128 ms = o == "ex" ? __int128(now) + __int128(v) * 1000
                    : o == "px" ? __int128(now) + v
                    : o == "exat" ? __int128(v) * 1000
                                  : __int128(v);
      if (ms > __int128(INT64_MAX)) return std::string("ERR invalid expire time in '") + cmd + "' command";
      out->expiry_ms = uint64_t(ms);
      has_expire = true;
    } else {
      return kSyntax;
    }
  }
  return "";
}

void DoSet(Server* s, ReplyTo reply, const std::string& key, std::string value, SetArgs a) {
  if (value.size() > MaxValueBytes(s)) return ReplyErr(reply, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  bool needs_read = a.cond != SetArgs::kAlways || a.get || a.keepttl;
  if (!needs_read) {
    WriteValue(s, key, std::move(value), a.expiry_ms, 0, nullptr, 0,
               [reply](Status st, cluster::WriteReply) mutable {
                 if (!st.ok()) return ReplyStatus(reply, st);
                 reply.Send([](RespWriter& w) { w.Ok(); });
               },
               /*want_context=*/false);
    return;
  }
  ReadKey(s, key, 0, [s, reply, key, value = std::move(value), a](Status st, KeyView cur) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    bool skip = (a.cond == SetArgs::kNx && cur.exists) || (a.cond == SetArgs::kXx && !cur.exists);
    if (skip) {
      return reply.Send([&](RespWriter& w) {
        if (a.get) {
          if (cur.exists) w.Bulk(cur.value);
          else w.Null();
        } else {
          w.Null();
        }
      });
    }
    uint64_t expiry = a.keepttl ? cur.expiry_ms : a.expiry_ms;
    auto old = std::make_shared<KeyView>(std::move(cur));
    WriteValue(s, key, std::move(value), expiry, 0, &old->context, 0,
               [reply, old, get = a.get](Status st2, cluster::WriteReply) mutable {
                 if (!st2.ok()) return ReplyStatus(reply, st2);
                 reply.Send([&](RespWriter& w) {
                   if (!get) w.Ok();
                   else if (old->exists) w.Bulk(old->value);
                   else w.Null();
                 });
               });
  });
}

void CmdSet(CommandCtx& ctx) {
  SetArgs a;
  std::string err = ParseSetArgs(ctx.server, ctx.args, 3, &a, "set");
  if (!err.empty()) return ReplyErr(ctx.reply, err);
  DoSet(ctx.server, ctx.reply, ctx.args[1], std::move(ctx.args[2]), a);
}

void CmdSetnx(CommandCtx& ctx) {
  // SETNX replies with an integer, unlike SET NX.
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1], value = std::move(ctx.args[2]);
  ReadKey(s, key, 0, [s, reply, key, value = std::move(value)](Status st, KeyView cur) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    if (cur.exists) return reply.Send([](RespWriter& w) { w.Int(0); });
    WriteValue(s, key, std::move(value), 0, 0, &cur.context, 0, [reply](Status st2, cluster::WriteReply) mutable {
      if (!st2.ok()) return ReplyStatus(reply, st2);
      reply.Send([](RespWriter& w) { w.Int(1); });
    });
  });
}

void SetWithExpire(CommandCtx& ctx, bool millis, const char* name) {
  int64_t v;
  if (!ParseInt64(ctx.args[2], &v)) return ReplyErr(ctx.reply, kNotInt);
  if (v <= 0 || v > INT64_MAX / 1000 - int64_t(ctx.server->WallMs())) {
    return ReplyErr(ctx.reply, std::string("ERR invalid expire time in '") + name + "' command");
  }
  SetArgs a;
  a.expiry_ms = ctx.server->WallMs() + uint64_t(millis ? v : v * 1000);
  DoSet(ctx.server, ctx.reply, ctx.args[1], std::move(ctx.args[3]), a);
}
void CmdSetex(CommandCtx& ctx) { SetWithExpire(ctx, false, "setex"); }
void CmdPsetex(CommandCtx& ctx) { SetWithExpire(ctx, true, "psetex"); }

void CmdGetset(CommandCtx& ctx) {
  SetArgs a;
  a.get = true;
  DoSet(ctx.server, ctx.reply, ctx.args[1], std::move(ctx.args[2]), a);
}

void CmdGetdel(CommandCtx& ctx) {
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  ReadKey(s, key, 0, [s, reply, key](Status st, KeyView cur) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    if (!cur.exists) return reply.Send([](RespWriter& w) { w.Null(); });
    auto old = std::make_shared<std::string>(std::move(cur.value));
    DeleteValue(s, key, &cur.context, 0, [reply, old](Status st2, cluster::WriteReply) mutable {
      if (!st2.ok()) return ReplyStatus(reply, st2);
      reply.Send([&](RespWriter& w) { w.Bulk(*old); });
    });
  });
}

void CmdGetex(CommandCtx& ctx) {
  // GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]
  bool persist = false, change = false;
  uint64_t expiry = 0;
  const auto& a = ctx.args;
  for (size_t i = 2; i < a.size(); i++) {
    std::string o = Lower(a[i]);
    if (o == "persist" && !change) {
      persist = change = true;
    } else if ((o == "ex" || o == "px" || o == "exat" || o == "pxat") && !change && i + 1 < a.size()) {
      int64_t v;
      if (!ParseInt64(a[++i], &v)) return ReplyErr(ctx.reply, kNotInt);
      if (v <= 0) return ReplyErr(ctx.reply, "ERR invalid expire time in 'getex' command");
      uint64_t now = ctx.server->WallMs();
      __int128 ms = o == "ex" ? __int128(now) + __int128(v) * 1000
                    : o == "px" ? __int128(now) + v
                    : o == "exat" ? __int128(v) * 1000
                                  : __int128(v);
      if (ms > __int128(INT64_MAX)) return ReplyErr(ctx.reply, "ERR invalid expire time in 'getex' command");
      expiry = uint64_t(ms);
      change = true;
    } else {
      return ReplyErr(ctx.reply, kSyntax);
    }
  }
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  ReadKey(s, key, 0, [=](Status st, KeyView cur) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    if (!cur.exists || !change || (persist && cur.expiry_ms == 0) || cur.kind == cluster::ValueKind::kCounter) {
      return reply.Send([&](RespWriter& w) {
        if (cur.exists) w.Bulk(cur.value);
        else w.Null();
      });
    }
    auto old = std::make_shared<std::string>(cur.value);
    WriteValue(s, key, cur.value, persist ? 0 : expiry, cur.flags, &cur.context, 0,
               [reply, old](Status st2, cluster::WriteReply) mutable {
                 if (!st2.ok()) return ReplyStatus(reply, st2);
                 reply.Send([&](RespWriter& w) { w.Bulk(*old); });
               });
  });
}

void CmdMget(CommandCtx& ctx) {
  size_t n = ctx.args.size() - 1;
  // Only the values are kept (not each key's KeyView): a small per-key footprint.
  struct State {
    std::vector<std::string> values;
    std::vector<bool> exists;
    Status err;
  };
  auto st = std::make_shared<State>();
  st->values.resize(n);
  st->exists.resize(n);
  ReplyTo reply = ctx.reply;
  auto g = Gather::Make(n, [st, reply]() mutable {
    if (!st->err.ok()) return ReplyStatus(reply, st->err);
    reply.Send([&](RespWriter& w) {
      w.Array(st->values.size());
      for (size_t i = 0; i < st->values.size(); i++) {
        if (st->exists[i]) w.Bulk(st->values[i]);
        else w.Null();
      }
    });
  });
  auto args = std::make_shared<std::vector<std::string>>(std::move(ctx.args));
  Server* s = ctx.server;
  ForEachBounded(ctx, n, [s, args, st, g](size_t i) {
    ReadKey(s, (*args)[i + 1], 0, [st, g, i](Status rs, KeyView v) {
      if (!rs.ok() && st->err.ok()) st->err = rs;
      st->exists[i] = v.exists;
      st->values[i] = std::move(v.value);
      g->One();
    });
  });
}

void MsetAll(Server* s, const std::shared_ptr<Client>& c, ReplyTo reply, std::vector<std::string> args,
             bool reply_int) {
  size_t pairs = (args.size() - 1) / 2;
  auto err = std::make_shared<Status>();
  auto g = Gather::Make(pairs, [reply, err, reply_int]() mutable {
    if (!err->ok()) return ReplyStatus(reply, *err);
    reply.Send([&](RespWriter& w) {
      if (reply_int) w.Int(1);
      else w.Ok();
    });
  });
  auto a = std::make_shared<std::vector<std::string>>(std::move(args));
  ForEachBounded(s, c, pairs, [s, a, err, g](size_t p) {
    size_t i = 1 + 2 * p;
    WriteValue(s, (*a)[i], std::move((*a)[i + 1]), 0, 0, nullptr, 0, [err, g](Status st, cluster::WriteReply) {
      if (!st.ok() && err->ok()) *err = st;
      g->One();
    }, /*want_context=*/false);
  });
}

void CmdMset(CommandCtx& ctx) {
  if (ctx.args.size() % 2 != 1) return ReplyErr(ctx.reply, "ERR wrong number of arguments for 'mset' command");
  MsetAll(ctx.server, ctx.client, ctx.reply, std::move(ctx.args), false);
}

void CmdMsetnx(CommandCtx& ctx) {
  if (ctx.args.size() % 2 != 1) return ReplyErr(ctx.reply, "ERR wrong number of arguments for 'msetnx' command");
  auto args = std::make_shared<std::vector<std::string>>(std::move(ctx.args));
  size_t pairs = (args->size() - 1) / 2;
  auto any = std::make_shared<bool>(false);
  auto err = std::make_shared<Status>();
  Server* s = ctx.server;
  ReplyTo reply = ctx.reply;
  std::shared_ptr<Client> c = ctx.client;
  auto g = Gather::Make(pairs, [s, c, reply, args, any, err]() mutable {
    if (!err->ok()) return ReplyStatus(reply, *err);
    if (*any) return reply.Send([](RespWriter& w) { w.Int(0); });
    MsetAll(s, c, reply, std::move(*args), true);
  });
  ForEachBounded(ctx, pairs, [s, args, any, err, g](size_t p) {
    ReadKey(s, (*args)[1 + 2 * p], 0, [any, err, g](Status st, KeyView v) {
      if (!st.ok() && err->ok()) *err = st;
      if (v.exists) *any = true;
      g->One();
    });
  });
}

// Read-modify-write of the string value: f(current, exists, &new_value, &reply_int) returns
// an error text or "".
// f may take cur.value (moving it is not a copy; a 100 MB value is then copied at most once).
using Modify = std::function<std::string(KeyView& cur, std::string* out, int64_t* reply_int)>;

void ReadModifyWrite(Server* s, ReplyTo reply, const std::string& key, Modify f) {
  ReadKey(s, key, 0, [s, reply, key, f = std::move(f)](Status st, KeyView cur) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    std::string next;
    int64_t n = 0;
    std::string err = f(cur, &next, &n);
    if (err == "nowrite") return reply.Send([&](RespWriter& w) { w.Int(n); });
    if (!err.empty()) return ReplyErr(reply, err);
    if (next.size() > MaxValueBytes(s)) {
      return ReplyErr(reply, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    WriteValue(s, key, std::move(next), cur.expiry_ms, cur.flags, &cur.context, 0,
               [reply, n](Status st2, cluster::WriteReply) mutable {
                 if (!st2.ok()) return ReplyStatus(reply, st2);
                 reply.Send([&](RespWriter& w) { w.Int(n); });
               });
  });
}

// The appended bytes are shared by the steps that may need them (not copied per closure).
void AppendTo(Server* s, const std::string& key, std::shared_ptr<const std::string> suffix, ReplyTo reply) {
  std::string buf;
  if (BigValue b = FindBigValue(s, cluster::PlainRecordKeyRef(key, &buf)); b.ok) {
    return SlicedModify(s, key, reply, b, 0, suffix->size(), [suffix](std::string* v) {
      v->append(*suffix);
      int64_t n = int64_t(v->size());
      return Edited{true, [n](RespWriter& w) { w.Int(n); }};
    }, [s, key, suffix, reply]() { AppendTo(s, key, suffix, reply); });
  }
  ReadModifyWrite(s, reply, key, [suffix](KeyView& cur, std::string* out, int64_t* n) {
    std::string v = cur.exists ? std::move(cur.value) : std::string();
    cluster::ReserveForEncoding(&v, v.size() + suffix->size());
    v += *suffix;
    *n = int64_t(v.size());
    *out = std::move(v);
    return std::string();
  });
}

void CmdAppend(CommandCtx& ctx) {
  AppendTo(ctx.server, ctx.args[1], std::make_shared<const std::string>(std::move(ctx.args[2])), ctx.reply);
}

void SetRangeOf(Server* s, const std::string& key, int64_t off, std::shared_ptr<const std::string> piece,
                ReplyTo reply);

void CmdSetrange(CommandCtx& ctx) {
  int64_t off;
  if (!ParseInt64(ctx.args[2], &off)) return ReplyErr(ctx.reply, kNotInt);
  if (off < 0) return ReplyErr(ctx.reply, "ERR offset is out of range");
  // Redis checks the size only when there is something to write: SETRANGE with an empty value
  // answers the current length (0 for a missing key, which it does not create) at any offset.
  if (!ctx.args[3].empty() && uint64_t(off) + ctx.args[3].size() > MaxValueBytes(ctx.server)) {
    return ReplyErr(ctx.reply, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  }
  SetRangeOf(ctx.server, ctx.args[1], off, std::make_shared<const std::string>(std::move(ctx.args[3])), ctx.reply);
}

void SetRangeOf(Server* s, const std::string& key, int64_t off, std::shared_ptr<const std::string> piece,
                ReplyTo reply) {
  std::string buf;
  if (BigValue b = FindBigValue(s, cluster::PlainRecordKeyRef(key, &buf)); b.ok && !piece->empty()) {
    size_t end = size_t(off) + piece->size();
    size_t grows = end > b.len ? end - b.len : 0;
    // The zero fill up to `off` comes a slice per step too; the piece lands in the last turn.
    size_t fill = size_t(off) > b.len ? size_t(off) - b.len : 0;
    return SlicedModify(s, key, reply, b, fill, grows - fill, [off, piece, end](std::string* v) {
      if (v->size() < end) v->resize(end, '\0');
      v->replace(size_t(off), piece->size(), *piece);
      int64_t n = int64_t(v->size());
      return Edited{true, [n](RespWriter& w) { w.Int(n); }};
    }, [s, key, off, piece, reply]() { SetRangeOf(s, key, off, piece, reply); });
  }
  ReadModifyWrite(s, reply, key, [piece, off](KeyView& cur, std::string* out, int64_t* n) {
    std::string v = cur.exists ? std::move(cur.value) : std::string();
    if (piece->empty()) {
      *n = int64_t(v.size());
      return std::string("nowrite");
    }
    if (v.size() < uint64_t(off) + piece->size()) {
      cluster::ReserveForEncoding(&v, size_t(off) + piece->size());
      v.resize(size_t(off) + piece->size(), '\0');
    }
    v.replace(size_t(off), piece->size(), *piece);
    *n = int64_t(v.size());
    *out = std::move(v);
    return std::string();
  });
}

void CmdStrlen(CommandCtx& ctx) {
  std::string buf;
  if (BigValue b = FindBigValue(ctx.server, cluster::PlainRecordKeyRef(ctx.args[1], &buf)); b.ok) {  // its length, not a copy
    ctx.server->stats().keyspace_hits++;
    return ctx.reply.Send([&](RespWriter& w) { w.Int(int64_t(b.len)); });
  }
  ReplyTo reply = ctx.reply;
  ReadKey(ctx.server, ctx.args[1], 0, [reply](Status s, KeyView v) mutable {
    if (!s.ok()) return ReplyStatus(reply, s);
    reply.Send([&](RespWriter& w) { w.Int(v.exists ? int64_t(v.value.size()) : 0); });
  });
}

// GETRANGE's bytes of a value of `len` bytes, as Redis normalises start and end: false for
// the empty reply.
bool RangeOf(int64_t len, int64_t start, int64_t end, size_t* from, size_t* count) {
  int64_t a = start, b = end;
  if (a < 0 && b < 0 && a > b) return false;
  if (a < 0) a = len + a;
  if (b < 0) b = len + b;
  if (a < 0) a = 0;
  if (b < 0) b = 0;
  if (b >= len) b = len - 1;
  if (len == 0 || a > b) return false;
  *from = size_t(a);
  *count = size_t(b - a + 1);
  return true;
}

void GetrangeRead(Server* s, const std::string& key, int64_t start, int64_t end, ReplyTo reply);

void CmdGetrange(CommandCtx& ctx) {
  int64_t start, end;
  if (!ParseInt64(ctx.args[2], &start) || !ParseInt64(ctx.args[3], &end)) return ReplyErr(ctx.reply, kNotInt);
  GetrangeRead(ctx.server, ctx.args[1], start, end, ctx.reply);
}

// A big value this node alone holds is not copied whole: the range is read from the stored
// record, over several turns when it is big itself (SlicedReply), as GET reads it.
void GetrangeRead(Server* s, const std::string& key, int64_t start, int64_t end, ReplyTo reply) {
  std::string buf;
  const std::string& rkey = cluster::PlainRecordKeyRef(key, &buf);
  if (BigValue b = FindBigValue(s, rkey); b.ok) {
    size_t from = 0, count = 0;
    if (!RangeOf(int64_t(b.len), start, end, &from, &count)) {
      s->stats().keyspace_hits++;
      return reply.Send([](RespWriter& w) { w.Bulk(""); });
    }
    return SlicedReply(s, rkey, reply, b, from, count,
                       [s, key, start, end, reply]() { GetrangeRead(s, key, start, end, reply); });
  }
  ReadKey(s, key, 0, [reply, start, end](Status st, KeyView v) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    size_t from = 0, count = 0;
    bool some = v.exists && RangeOf(int64_t(v.value.size()), start, end, &from, &count);
    reply.Send([&](RespWriter& w) {
      if (!some) w.Bulk("");
      else w.Bulk(std::string_view(v.value).substr(from, count));
    });
  });
}

void IncrBy(CommandCtx& ctx, int64_t delta) {
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  CounterAdd(s, ctx.args[1], delta, [reply, s](Status st, cluster::WriteReply r) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    std::string v;
    Status rs = cluster::ResolveValue(r.record, s->WallMs(), &v);
    int64_t n = 0;
    if (!rs.ok() || !ParseInt64(v, &n)) return ReplyErr(reply, kNotInt);
    reply.Send([&](RespWriter& w) { w.Int(n); });
  });
}

void CmdIncr(CommandCtx& ctx) { IncrBy(ctx, 1); }
void CmdDecr(CommandCtx& ctx) { IncrBy(ctx, -1); }
void CmdIncrby(CommandCtx& ctx) {
  int64_t d;
  if (!ParseInt64(ctx.args[2], &d)) return ReplyErr(ctx.reply, kNotInt);
  IncrBy(ctx, d);
}
void CmdDecrby(CommandCtx& ctx) {
  int64_t d;
  if (!ParseInt64(ctx.args[2], &d)) return ReplyErr(ctx.reply, kNotInt);
  if (d == INT64_MIN) return ReplyErr(ctx.reply, "ERR decrement would overflow");
  IncrBy(ctx, -d);
}

void CmdIncrbyfloat(CommandCtx& ctx) {
  long double incr;
  if (!ParseLongDouble(ctx.args[2], &incr)) return ReplyErr(ctx.reply, "ERR value is not a valid float");
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  ReadKey(s, key, 0, [s, reply, key, incr](Status st, KeyView cur) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    long double v = 0;
    if (cur.exists && !ParseLongDouble(cur.value, &v)) return ReplyErr(reply, "ERR value is not a valid float");
    long double r = v + incr;
    if (std::isnan(r) || std::isinf(r)) return ReplyErr(reply, "ERR increment would produce NaN or Infinity");
    auto text = std::make_shared<std::string>(FormatLongDouble(r));
    WriteValue(s, key, *text, cur.expiry_ms, cur.flags, &cur.context, 0,
               [reply, text](Status st2, cluster::WriteReply) mutable {
                 if (!st2.ok()) return ReplyStatus(reply, st2);
                 reply.Send([&](RespWriter& w) { w.Bulk(*text); });
               });
  });
}

}  // namespace

void RegisterStrings(std::vector<CommandSpec>* t) {
  t->insert(t->end(), {
                          {"get", 2, kCmdReadonly | kCmdFast, CmdGet, 1, 1, 1},
                          {"set", -3, kCmdWrite, CmdSet, 1, 1, 1},
                          {"setnx", 3, kCmdWrite | kCmdFast, CmdSetnx, 1, 1, 1},
                          {"setex", 4, kCmdWrite, CmdSetex, 1, 1, 1},
                          {"psetex", 4, kCmdWrite, CmdPsetex, 1, 1, 1},
                          {"getset", 3, kCmdWrite | kCmdFast, CmdGetset, 1, 1, 1},
                          {"getdel", 2, kCmdWrite | kCmdFast, CmdGetdel, 1, 1, 1},
                          {"getex", -2, kCmdWrite | kCmdFast, CmdGetex, 1, 1, 1},
                          {"mget", -2, kCmdReadonly | kCmdFast, CmdMget, 1, -1, 1},
                          {"mset", -3, kCmdWrite, CmdMset, 1, -1, 2},
                          {"msetnx", -3, kCmdWrite, CmdMsetnx, 1, -1, 2},
                          {"append", 3, kCmdWrite | kCmdFast, CmdAppend, 1, 1, 1},
                          {"strlen", 2, kCmdReadonly | kCmdFast, CmdStrlen, 1, 1, 1},
                          {"getrange", 4, kCmdReadonly, CmdGetrange, 1, 1, 1},
                          {"substr", 4, kCmdReadonly, CmdGetrange, 1, 1, 1},
                          {"setrange", 4, kCmdWrite, CmdSetrange, 1, 1, 1},
                          {"incr", 2, kCmdWrite | kCmdFast, CmdIncr, 1, 1, 1},
                          {"decr", 2, kCmdWrite | kCmdFast, CmdDecr, 1, 1, 1},
                          {"incrby", 3, kCmdWrite | kCmdFast, CmdIncrby, 1, 1, 1},
                          {"decrby", 3, kCmdWrite | kCmdFast, CmdDecrby, 1, 1, 1},
                          {"incrbyfloat", 3, kCmdWrite | kCmdFast, CmdIncrbyfloat, 1, 1, 1},
                      });
}

}  // namespace dynakv::server
