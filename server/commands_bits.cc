// server/commands_bits.cc: Redis's bit commands (SETBIT GETBIT BITCOUNT BITPOS BITOP
// BITFIELD BITFIELD_RO), LCS, and SORT / SORT_RO over the Dynamo coordinator. The bit logic
// is in server/bitops.h and SORT's engine in server/sort.h; this file parses, reads, writes
// and replies.
//
// Writes that depend on the current value (SETBIT, BITFIELD with SET/INCRBY) read with the
// default R and write back with the context they read, as APPEND does: atomic on one node, and
// in a cluster a concurrent write elsewhere becomes a sibling instead of being lost. BITOP
// writes its destination like SET (superseding what the coordinator knows). The argument
// and key checks run in Redis 7.0's order, so errors and replies match redis-server's. A big
// value this node alone holds is read in place and rewritten a slice per turn
// (server/big_value.h), so a 100 MB bitmap does not hold the loop.
#include "server/commands_bits.h"

#include <algorithm>
#include <climits>
#include <map>
#include <memory>
#include <optional>

#include "cluster/key_layout.h"
#include "server/big_value.h"
#include "server/bitops.h"
#include "server/collections.h"
#include "server/lists.h"

namespace dynakv::server {
namespace {

using protocol::RespWriter;

constexpr const char* kNotInt = "ERR value is not an integer or out of range";
constexpr const char* kSyntax = "ERR syntax error";
constexpr const char* kBadOffset = "ERR bit offset is not an integer or out of range";
constexpr const char* kBadBit = "ERR bit is not an integer or out of range";

uint64_t MaxValueBytes(Server* s) { return uint64_t(s->config().proto_max_bulk_len); }

bool EqualsNoCase(std::string_view s, const char* lower) { return Lower(s) == lower; }

// Reads `key`, lets `change` edit its value (empty when missing; moved out of cur, whose
// value `change` must not read) and writes it back
// with the expiry, flags and causal context read, when `change` returns true. Then `reply`
// runs (with the key as read), unless a read or write failed: that error is the reply.
using Change = std::function<bool(const KeyView& cur, std::string* value)>;
using AfterWrite = std::function<void(ReplyTo& reply)>;

void ReadModifyWrite(Server* s, ReplyTo reply, std::string key, Change change, AfterWrite after) {
  ReadKey(s, key, 0, [s, reply, key, change = std::move(change), after = std::move(after)](
                         Status st, KeyView cur) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    std::string value = cur.exists ? std::move(cur.value) : std::string();
    if (!change(cur, &value)) return after(reply);
    if (value.size() > MaxValueBytes(s)) {
      return ReplyErr(reply, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    WriteValue(s, key, std::move(value), cur.expiry_ms, cur.flags, &cur.context, 0,
               [reply, after](Status st2, cluster::WriteReply) mutable {
                 if (!st2.ok()) return ReplyStatus(reply, st2);
                 after(reply);
               },
               /*want_context=*/false);
  });
}

// ---- SETBIT / GETBIT ----

void SetBitOf(Server* s, const std::string& key, uint64_t offset, int on, ReplyTo reply);

void CmdSetbit(CommandCtx& ctx) {
  uint64_t offset;
  if (!bits::ParseBitOffset(ctx.args[2], 0, MaxValueBytes(ctx.server), &offset)) {
    return ReplyErr(ctx, kBadOffset);
  }
  int64_t on;
  if (!ParseInt64(ctx.args[3], &on) || (on & ~int64_t(1)) != 0) return ReplyErr(ctx, kBadBit);
  SetBitOf(ctx.server, ctx.args[1], offset, int(on), ctx.reply);
}

// A big value this node alone holds (server/big_value.h) is read in place for the old bit,
// and copied over several turns only when the bit changes or the value grows.
void SetBitOf(Server* s, const std::string& key, uint64_t offset, int on, ReplyTo reply) {
  std::string buf;
  const std::string& rkey = cluster::PlainRecordKeyRef(key, &buf);
  int was = 0;
  if (BigValue b = FindBigValue(s, rkey, [&](std::string_view v) { was = bits::GetBit(v, offset); }); b.ok) {
    size_t need = size_t(offset >> 3) + 1;
    if (need <= b.len && was == on) return reply.Send([&](RespWriter& w) { w.Int(was); });
    size_t fill = need > b.len ? need - b.len : 0;
    return SlicedModify(s, key, reply, b, fill, 0, [offset, on](std::string* v) {
      int was = bits::SetBit(v, offset, on);
      return Edited{true, [was](RespWriter& w) { w.Int(was); }};
    }, [s, key, offset, on, reply]() { SetBitOf(s, key, offset, on, reply); });
  }
  auto old = std::make_shared<int>(0);
  ReadModifyWrite(
      s, reply, key,
      [offset, on, old](const KeyView& cur, std::string* v) {
        size_t before = v->size();
        *old = bits::SetBit(v, offset, on);
        // Redis writes when the key is new, grew, or the bit changed.
        return !cur.exists || v->size() != before || *old != on;
      },
      [old](ReplyTo& r) { r.Send([&](RespWriter& w) { w.Int(*old); }); });
}

void CmdGetbit(CommandCtx& ctx) {
  uint64_t offset;
  if (!bits::ParseBitOffset(ctx.args[2], 0, MaxValueBytes(ctx.server), &offset)) {
    return ReplyErr(ctx, kBadOffset);
  }
  std::string buf;
  int bit = 0;
  if (ViewBigValue(ctx.server, cluster::PlainRecordKeyRef(ctx.args[1], &buf),
                   [&](std::string_view v) { bit = bits::GetBit(v, offset); })) {
    return ctx.reply.Send([&](RespWriter& w) { w.Int(bit); });
  }
  ReplyTo reply = ctx.reply;
  ReadKey(ctx.server, ctx.args[1], 0, [reply, offset](Status st, KeyView v) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    reply.Send([&](RespWriter& w) { w.Int(v.exists ? bits::GetBit(v.value, offset) : 0); });
  });
}

// ---- BITCOUNT / BITPOS ----

// Parses an optional BYTE|BIT argument.
bool ParseUnit(std::string_view s, bool* bit_unit) {
  if (EqualsNoCase(s, "bit")) *bit_unit = true;
  else if (EqualsNoCase(s, "byte")) *bit_unit = false;
  else return false;
  return true;
}

// BITCOUNT and BITPOS of an existing key's value; the arguments are checked only then, as
// Redis 7.0 does.
void ReplyBitcount(ReplyTo& reply, const std::vector<std::string>& a, std::string_view value) {
  int64_t start = 0, end = -1;
  bool bit_unit = false, has_range = false;
  if (a.size() == 4 || a.size() == 5) {
    if (!ParseInt64(a[2], &start) || !ParseInt64(a[3], &end)) return ReplyErr(reply, kNotInt);
    if (a.size() == 5 && !ParseUnit(a[4], &bit_unit)) return ReplyErr(reply, kSyntax);
    has_range = true;
  } else if (a.size() != 2) {
    return ReplyErr(reply, kSyntax);
  }
  int64_t n = bits::BitCount(value, has_range, start, end, bit_unit);
  reply.Send([&](RespWriter& w) { w.Int(n); });
}

void ReplyBitpos(ReplyTo& reply, const std::vector<std::string>& a, int64_t bit, std::string_view value) {
  int64_t start = 0, end = 0;
  bool bit_unit = false, has_start = false, has_end = false;
  if (a.size() >= 4 && a.size() <= 6) {
    if (!ParseInt64(a[3], &start)) return ReplyErr(reply, kNotInt);
    if (a.size() == 6 && !ParseUnit(a[5], &bit_unit)) return ReplyErr(reply, kSyntax);
    if (a.size() >= 5) {
      if (!ParseInt64(a[4], &end)) return ReplyErr(reply, kNotInt);
      has_end = true;
    }
    has_start = true;
  } else if (a.size() != 3) {
    return ReplyErr(reply, kSyntax);
  }
  int64_t pos = bits::BitPos(value, int(bit), has_start, start, has_end, end, bit_unit);
  reply.Send([&](RespWriter& w) { w.Int(pos); });
}

// A big value this node alone holds is counted or searched in place (one pass, no copy).
void CmdBitcount(CommandCtx& ctx) {
  std::string buf;
  if (ViewBigValue(ctx.server, cluster::PlainRecordKeyRef(ctx.args[1], &buf),
                   [&](std::string_view v) { ReplyBitcount(ctx.reply, ctx.args, v); })) {
    return;
  }
  // Redis 7.0 looks the key up first: a missing key answers 0 whatever the range arguments.
  ReplyTo reply = ctx.reply;
  auto args = std::make_shared<std::vector<std::string>>(std::move(ctx.args));
  ReadKey(ctx.server, (*args)[1], 0, [reply, args](Status st, KeyView v) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    if (!v.exists) return reply.Send([](RespWriter& w) { w.Int(0); });
    ReplyBitcount(reply, *args, v.value);
  });
}

void CmdBitpos(CommandCtx& ctx) {
  int64_t bit;
  if (!ParseInt64(ctx.args[2], &bit)) return ReplyErr(ctx, kNotInt);
  if (bit != 0 && bit != 1) return ReplyErr(ctx, "ERR The bit argument must be 1 or 0.");
  std::string buf;
  if (ViewBigValue(ctx.server, cluster::PlainRecordKeyRef(ctx.args[1], &buf),
                   [&](std::string_view v) { ReplyBitpos(ctx.reply, ctx.args, bit, v); })) {
    return;
  }
  ReplyTo reply = ctx.reply;
  auto args = std::make_shared<std::vector<std::string>>(std::move(ctx.args));
  ReadKey(ctx.server, (*args)[1], 0, [reply, args, bit](Status st, KeyView v) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    // A missing key is an endless run of zero bits.
    if (!v.exists) return reply.Send([&](RespWriter& w) { w.Int(bit ? -1 : 0); });
    ReplyBitpos(reply, *args, bit, v.value);
  });
}

// ---- BITOP ----

void CmdBitop(CommandCtx& ctx) {
  std::string op = Lower(ctx.args[1]);
  bits::BitOp kind;
  if (op == "and") kind = bits::BitOp::kAnd;
  else if (op == "or") kind = bits::BitOp::kOr;
  else if (op == "xor") kind = bits::BitOp::kXor;
  else if (op == "not") kind = bits::BitOp::kNot;
  else return ReplyErr(ctx, kSyntax);
  if (kind == bits::BitOp::kNot && ctx.args.size() != 4) {
    return ReplyErr(ctx, "ERR BITOP NOT must be called with a single source key.");
  }
  struct State {
    std::vector<KeyView> srcs;
    Status err;
  };
  auto st = std::make_shared<State>();
  size_t n = ctx.args.size() - 3;
  st->srcs.resize(n);
  Server* s = ctx.server;
  ReplyTo reply = ctx.reply;
  std::string dest = ctx.args[2];
  auto g = Gather::Make(n, [s, reply, st, dest, kind]() mutable {
    if (!st->err.ok()) return ReplyStatus(reply, st->err);
    std::vector<std::string_view> views;
    for (const auto& v : st->srcs) views.emplace_back(v.exists ? std::string_view(v.value) : std::string_view());
    std::string result = bits::BitOpApply(kind, views);
    st->srcs.clear();
    int64_t len = int64_t(result.size());
    auto done = [reply, len](Status ws, cluster::WriteReply) mutable {
      if (!ws.ok()) return ReplyStatus(reply, ws);
      reply.Send([&](RespWriter& w) { w.Int(len); });
    };
    if (len > 0) {
      // Like SET: the destination's old value and TTL are replaced.
      return WriteValue(s, dest, std::move(result), 0, 0, nullptr, 0, done, /*want_context=*/false);
    }
    // Every source empty or missing: Redis deletes the destination.
    ReadKey(s, dest, 0, [s, dest, reply, done](Status rs, KeyView cur) mutable {
      if (!rs.ok()) return ReplyStatus(reply, rs);
      if (!cur.exists) return reply.Send([](RespWriter& w) { w.Int(0); });
      DeleteValue(s, dest, &cur.context, 0, done);
    });
  });
  for (size_t i = 0; i < n; i++) {
    ReadKey(s, ctx.args[3 + i], 0, [st, g, i](Status rs, KeyView v) {
      if (!rs.ok() && st->err.ok()) st->err = rs;
      st->srcs[i] = std::move(v);
      g->One();
    });
  }
}

// ---- BITFIELD / BITFIELD_RO ----

void WriteFieldResults(RespWriter& w, const std::vector<bits::FieldResult>& res) {
  w.Array(res.size());
  for (const auto& r : res) {
    if (r.null) w.Null();
    else w.Int(r.value);
  }
}

void SendFieldResults(ReplyTo& reply, const std::vector<bits::FieldResult>& res) {
  reply.Send([&](RespWriter& w) { WriteFieldResults(w, res); });
}

void BitfieldOf(Server* s, const std::string& key, std::shared_ptr<const std::vector<bits::FieldOp>> ops,
                bool readonly, ReplyTo reply);

void BitfieldGeneric(CommandCtx& ctx, bool ro_command) {
  std::vector<bits::FieldOp> ops;
  bool readonly = true;
  std::string err = bits::ParseFieldOps(ctx.args, 2, MaxValueBytes(ctx.server), &ops, &readonly);
  if (!err.empty()) return ReplyErr(ctx, err);
  if (!readonly && ro_command) return ReplyErr(ctx, "ERR BITFIELD_RO only supports the GET subcommand");
  BitfieldOf(ctx.server, ctx.args[1], std::make_shared<const std::vector<bits::FieldOp>>(std::move(ops)), readonly,
             ctx.reply);
}

// A big value this node alone holds: GETs read it in place; writes copy it over several
// turns (SlicedModify), grown first to the farthest written bit as Redis grows it.
void BitfieldOf(Server* s, const std::string& key, std::shared_ptr<const std::vector<bits::FieldOp>> ops,
                bool readonly, ReplyTo reply) {
  std::string buf;
  const std::string& rkey = cluster::PlainRecordKeyRef(key, &buf);
  if (readonly) {
    std::vector<bits::FieldResult> res;
    if (ViewBigValue(s, rkey, [&](std::string_view v) { res = bits::RunFieldGets(v, *ops); })) {
      return SendFieldResults(reply, res);
    }
    ReadKey(s, key, 0, [reply, ops](Status st, KeyView v) mutable {
      if (!st.ok()) return ReplyStatus(reply, st);
      SendFieldResults(reply, bits::RunFieldGets(v.value, *ops));
    });
    return;
  }
  if (BigValue b = FindBigValue(s, rkey); b.ok) {
    size_t need = bits::FieldOpsBytes(*ops);
    size_t fill = need > b.len ? need - b.len : 0;
    return SlicedModify(s, key, reply, b, fill, 0, [ops, fill](std::string* v) {
      bool changed = false;
      auto res = std::make_shared<std::vector<bits::FieldResult>>(bits::RunFieldOps(v, *ops, &changed));
      return Edited{changed || fill > 0, [res](RespWriter& w) { WriteFieldResults(w, *res); }};
    }, [s, key, ops, reply]() { BitfieldOf(s, key, ops, false, reply); });
  }
  auto res = std::make_shared<std::vector<bits::FieldResult>>();
  ReadModifyWrite(
      s, reply, key,
      [ops, res](const KeyView& cur, std::string* v) {
        bool changed = false;
        *res = bits::RunFieldOps(v, *ops, &changed);
        // Redis creates or zero-pads the string even when every write then fails.
        return !cur.exists || changed;
      },
      [res](ReplyTo& r) { SendFieldResults(r, *res); });
}

void CmdBitfield(CommandCtx& ctx) { BitfieldGeneric(ctx, false); }
void CmdBitfieldRo(CommandCtx& ctx) { BitfieldGeneric(ctx, true); }

// ---- LCS ----

void CmdLcs(CommandCtx& ctx) {
  struct State {
    KeyView a, b;
    Status err;
  };
  auto st = std::make_shared<State>();
  auto args = std::make_shared<std::vector<std::string>>(std::move(ctx.args));
  Server* s = ctx.server;
  ReplyTo reply = ctx.reply;
  auto g = Gather::Make(2, [s, st, args, reply]() mutable {
    if (!st->err.ok()) return ReplyStatus(reply, st->err);
    const auto& a = *args;
    bool idx = false, len = false, withlen = false;
    int64_t minlen = 0;
    for (size_t j = 3; j < a.size(); j++) {
      std::string o = Lower(a[j]);
      bool more = j + 1 < a.size();
      if (o == "idx") {
        idx = true;
      } else if (o == "len") {
        len = true;
      } else if (o == "withmatchlen") {
        withlen = true;
      } else if (o == "minmatchlen" && more) {
        if (!ParseInt64(a[j + 1], &minlen)) return ReplyErr(reply, kNotInt);
        if (minlen < 0) minlen = 0;
        j++;
      } else {
        return ReplyErr(reply, kSyntax);
      }
    }
    if (idx && len) return ReplyErr(reply, "ERR If you want both the length and indexes, please just use IDX.");
    const std::string& x = st->a.value;
    const std::string& y = st->b.value;
    if (x.size() >= UINT32_MAX - 1 || y.size() >= UINT32_MAX - 1) {
      return ReplyErr(reply, "ERR String too long for LCS");
    }
    // The table is 4 * (|a|+1) * (|b|+1) bytes: bounded by proto-max-bulk-len, as Redis.
    unsigned __int128 table = (unsigned __int128)(x.size() + 1) * (y.size() + 1) * 4;
    if (table > MaxValueBytes(s)) {
      return ReplyErr(reply, "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    bits::LcsResult r = bits::Lcs(x, y, !len && !idx, idx, uint64_t(minlen));
    reply.Send([&](RespWriter& w) {
      if (idx) {
        w.Map(2);
        w.Bulk("matches");
        w.Array(r.matches.size());
        for (const auto& m : r.matches) {
          w.Array(withlen ? 3 : 2);
          w.Array(2);
          w.Int(m.a_start);
          w.Int(m.a_end);
          w.Array(2);
          w.Int(m.b_start);
          w.Int(m.b_end);
          if (withlen) w.Int(m.len);
        }
        w.Bulk("len");
        w.Int(r.len);
      } else if (len) {
        w.Int(r.len);
      } else {
        w.Bulk(r.lcs);
      }
    });
  });
  ReadKey(s, (*args)[1], 0, [st, g](Status rs, KeyView v) {
    if (!rs.ok() && st->err.ok()) st->err = rs;
    st->a = std::move(v);
    g->One();
  });
  ReadKey(s, (*args)[2], 0, [st, g](Status rs, KeyView v) {
    if (!rs.ok() && st->err.ok()) st->err = rs;
    st->b = std::move(v);
    g->One();
  });
}

// ---- SORT / SORT_RO ----

// The values BY and GET patterns name: string keys, and hash fields ("key->field").
struct Values {
  std::map<std::string, std::optional<std::string>> keys;
  std::map<std::pair<std::string, std::string>, std::optional<std::string>> fields;
};

// Reads the string keys and hash fields `refs` names (a key of another type, or missing,
// reads as nil) and calls done(status, values).
void ReadPatternKeys(Server* s, std::vector<sort::PatternRef> refs,
                     std::function<void(Status, std::shared_ptr<Values>)> done) {
  auto vals = std::make_shared<Values>();
  auto err = std::make_shared<Status>();
  auto g = Gather::Make(refs.size(), [vals, err, done]() { done(*err, vals); });
  auto note = [err](const Status& rs) {
    if (!rs.ok() && err->ok() && rs.message().find("WRONGTYPE") == std::string::npos) *err = rs;
  };
  for (auto& r : refs) {
    if (r.has_field) {
      ReadElements(s, r.key, static_cast<char>(cluster::CollectionType::kHash), {r.field},
                   [vals, note, g, k = std::make_pair(r.key, r.field)](
                       Status rs, bool, std::vector<std::optional<std::string>> v) {
                     note(rs);
                     if (rs.ok() && !v.empty() && v[0]) vals->fields[k] = std::move(*v[0]);
                     g->One();
                   });
      continue;
    }
    ReadKey(s, r.key, 0, [vals, note, g, k = r.key](Status rs, KeyView v) {
      note(rs);
      if (rs.ok() && v.exists) vals->keys[k] = std::move(v.value);
      g->One();
    });
  }
}

sort::Lookup LookupIn(std::shared_ptr<Values> vals) {
  return [vals](const sort::PatternRef& r) -> std::optional<std::string> {
    if (r.kind != sort::PatternRef::kKey) return std::nullopt;
    if (r.has_field) {
      auto it = vals->fields.find({r.key, r.field});
      if (it == vals->fields.end()) return std::nullopt;
      return it->second;
    }
    auto it = vals->keys.find(r.key);
    if (it == vals->keys.end()) return std::nullopt;
    return it->second;
  };
}

void SortReply(Server* s, ReplyTo reply, std::shared_ptr<sort::SortSpec> spec,
               std::vector<std::optional<std::string>> rows) {
  if (!spec->has_store) {
    return reply.Send([&](RespWriter& w) {
      w.Array(rows.size());
      for (const auto& r : rows) {
        if (r) w.Bulk(*r);
        else w.Null();
      }
    });
  }
  // SORT ... STORE replaces the destination (any type) with a list of the rows, a nil as
  // an empty string (as Redis stores it); an empty result deletes the destination.
  std::vector<std::string> values;
  values.reserve(rows.size());
  for (auto& r : rows) values.push_back(r ? std::move(*r) : std::string());
  ListStore(s, spec->store, std::move(values), [reply](Status st, int64_t n) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    reply.Send([&](RespWriter& w) { w.Int(n); });
  });
}

void SortGeneric(CommandCtx& ctx, bool readonly) {
  auto spec = std::make_shared<sort::SortSpec>();
  std::string err = sort::ParseSort(ctx.args, readonly, spec.get());
  if (!err.empty()) return ReplyErr(ctx, err);
  Server* s = ctx.server;
  ReplyTo reply = ctx.reply;
  CollectionSortSource(s, ctx.args[1], [s, reply, spec](Status st, bool wrong_type, sort::SortSource src) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    if (wrong_type) return ReplyErr(reply, kWrongType);
    // Phase 1: the BY values (only when they order anything), then order and LIMIT.
    std::vector<sort::PatternRef> by_refs;
    if (spec->has_by && !spec->dontsort) by_refs = sort::PatternKeys(spec->by, src.elems);
    auto src_ptr = std::make_shared<sort::SortSource>(std::move(src));
    ReadPatternKeys(s, std::move(by_refs), [s, reply, spec, src_ptr](Status bs, std::shared_ptr<Values> byv) mutable {
      if (!bs.ok()) return ReplyStatus(reply, bs);
      auto ordered = std::make_shared<std::vector<std::string>>();
      std::string oerr = sort::Order(*spec, std::move(*src_ptr), LookupIn(byv), ordered.get());
      if (!oerr.empty()) return ReplyErr(reply, oerr);
      // Phase 2: the GET values of the selected elements only.
      std::vector<sort::PatternRef> get_refs;
      for (const auto& pat : spec->gets) {
        auto refs = sort::PatternKeys(pat, *ordered);
        get_refs.insert(get_refs.end(), refs.begin(), refs.end());
      }
      ReadPatternKeys(s, std::move(get_refs), [s, reply, spec, ordered](Status gs, std::shared_ptr<Values> getv) mutable {
        if (!gs.ok()) return ReplyStatus(reply, gs);
        SortReply(s, reply, spec, sort::Project(*spec, *ordered, LookupIn(getv)));
      });
    });
  });
}

void CmdSort(CommandCtx& ctx) { SortGeneric(ctx, false); }
void CmdSortRo(CommandCtx& ctx) { SortGeneric(ctx, true); }

}  // namespace

void CollectionSortSource(Server* s, const std::string& key, SortSourceDone done) {
  ReadAnyKey(s, key, 0, [s, key, done = std::move(done)](Status st, KeyView v) {
    if (!st.ok()) return done(st, false, {});
    if (!v.exists) return done(Status::OK(), false, {});
    char type = v.kind == cluster::ValueKind::kCollection ? v.header.type : 0;
    if (type == static_cast<char>(cluster::CollectionType::kSet)) {
      return ReadAllElements(s, key, type, [done](Status st2, bool, ElementList all) {
        if (!st2.ok()) return done(st2, false, {});
        sort::SortSource src;
        src.kind = sort::SourceKind::kSet;
        for (auto& [m, val] : all) src.elems.push_back(std::move(m));
        done(Status::OK(), false, std::move(src));
      });
    }
    if (type == kList) {
      return ListRead(s, key, SIZE_MAX, [done](Status st2, ListView view) {
        if (!st2.ok()) return done(st2, false, {});
        sort::SortSource src;
        src.kind = sort::SourceKind::kList;
        for (auto& it : view.items) src.elems.push_back(std::move(it.value));
        done(Status::OK(), false, std::move(src));
      });
    }
    if (type == static_cast<char>(cluster::CollectionType::kZset)) {
      return ReadZsetMembers(s, key, [done](Status st2, std::vector<std::string> members) {
        if (!st2.ok()) return done(st2, false, {});
        sort::SortSource src;
        src.kind = sort::SourceKind::kZset;
        src.elems = std::move(members);
        done(Status::OK(), false, std::move(src));
      });
    }
    done(Status::OK(), true, {});  // a string or a hash
  });
}

void RegisterBits(std::vector<CommandSpec>* t) {
  t->insert(t->end(), {
                          {"setbit", 4, kCmdWrite, CmdSetbit, 1, 1, 1},
                          {"getbit", 3, kCmdReadonly | kCmdFast, CmdGetbit, 1, 1, 1},
                          {"bitcount", -2, kCmdReadonly, CmdBitcount, 1, 1, 1},
                          {"bitpos", -3, kCmdReadonly, CmdBitpos, 1, 1, 1},
                          {"bitop", -4, kCmdWrite, CmdBitop, 2, -1, 1},
                          {"bitfield", -2, kCmdWrite, CmdBitfield, 1, 1, 1},
                          {"bitfield_ro", -2, kCmdReadonly | kCmdFast, CmdBitfieldRo, 1, 1, 1},
                          {"lcs", -3, kCmdReadonly, CmdLcs, 1, 2, 1},
                          {"sort", -2, kCmdWrite, CmdSort, 1, 1, 1},
                          {"sort_ro", -2, kCmdReadonly, CmdSortRo, 1, 1, 1},
                      });
}

}  // namespace dynakv::server
