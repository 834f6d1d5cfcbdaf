// server/commands_hash.cc: Redis hash commands over collection records (collections.h).
//
// Concurrent semantics (README, "Hashes"; docs/ARCHITECTURE.md, "Collections"): fields form
// an add-wins observed-remove map; a field's value is a last-writer-wins register; HINCRBY
// makes the field a PN-counter and HINCRBYFLOAT a float counter (long double, as Redis
// computes it), so concurrent increments add up.
#include <cmath>
#include <random>

#include "server/collections.h"

namespace dynakv::server {
namespace {

using protocol::RespWriter;

constexpr char kHash = static_cast<char>(cluster::CollectionType::kHash);

void Arity(ReplyTo& r, const std::string& cmd) {
  ReplyErr(r, "ERR wrong number of arguments for '" + Lower(cmd) + "' command");
}

// HSET key field value [field value ...]; HMSET answers OK.
void HsetGeneric(CommandCtx& ctx, bool hmset) {
  if (ctx.args.size() % 2 != 0) return Arity(ctx.reply, ctx.args[0]);
  std::vector<std::string> fields;
  auto values = std::make_shared<std::vector<std::string>>();
  for (size_t i = 2; i + 1 < ctx.args.size(); i += 2) {
    fields.push_back(std::move(ctx.args[i]));
    values->push_back(std::move(ctx.args[i + 1]));
  }
  ReplyTo reply = ctx.reply;
  UpdateElements(ctx.server, ctx.args[1], kHash, std::move(fields),
                 [values](size_t i, const std::optional<std::string>&) {
                   return ElementChange{ElementChange::kSet, (*values)[i]};
                 },
                 [reply, hmset](Status st, UpdateResult res) mutable {
                   if (!st.ok()) return ReplyStatus(reply, st);
                   int64_t added = 0;
                   for (const auto& b : res.before) added += b.has_value() ? 0 : 1;
                   // A field named twice was absent only the first time.
                   reply.Send([&](RespWriter& w) {
                     if (hmset) w.Ok();
                     else w.Int(added);
                   });
                 });
}
void CmdHset(CommandCtx& ctx) { HsetGeneric(ctx, false); }
void CmdHmset(CommandCtx& ctx) { HsetGeneric(ctx, true); }

void CmdHsetnx(CommandCtx& ctx) {
  ReplyTo reply = ctx.reply;
  auto value = std::make_shared<std::string>(std::move(ctx.args[3]));
  UpdateElements(ctx.server, ctx.args[1], kHash, {ctx.args[2]},
                 [value](size_t, const std::optional<std::string>& cur) {
                   if (cur) return ElementChange{};
                   return ElementChange{ElementChange::kSet, *value};
                 },
                 [reply](Status st, UpdateResult res) mutable {
                   if (!st.ok()) return ReplyStatus(reply, st);
                   reply.Send([&](RespWriter& w) { w.Int(res.set); });
                 });
}

void CmdHdel(CommandCtx& ctx) { RemoveElementsCommand(ctx, kHash); }

// HGET, HEXISTS, HSTRLEN: one field.
enum class One { kGet, kExists, kStrlen };
void OneField(CommandCtx& ctx, One what) {
  ReplyTo reply = ctx.reply;
  ReadElements(ctx.server, ctx.args[1], kHash, {ctx.args[2]},
               [reply, what](Status st, bool, std::vector<std::optional<std::string>> v) mutable {
                 if (!st.ok()) return ReplyStatus(reply, st);
                 reply.Send([&](RespWriter& w) {
                   switch (what) {
                     case One::kGet:
                       if (v[0]) w.Bulk(*v[0]);
                       else w.Null();
                       break;
                     case One::kExists: w.Int(v[0] ? 1 : 0); break;
                     case One::kStrlen: w.Int(v[0] ? int64_t(v[0]->size()) : 0); break;
                   }
                 });
               });
}
void CmdHget(CommandCtx& ctx) { OneField(ctx, One::kGet); }
void CmdHexists(CommandCtx& ctx) { OneField(ctx, One::kExists); }
void CmdHstrlen(CommandCtx& ctx) { OneField(ctx, One::kStrlen); }

void CmdHmget(CommandCtx& ctx) {
  std::vector<std::string> fields(ctx.args.begin() + 2, ctx.args.end());
  ReplyTo reply = ctx.reply;
  ReadElements(ctx.server, ctx.args[1], kHash, std::move(fields),
               [reply](Status st, bool, std::vector<std::optional<std::string>> v) mutable {
                 if (!st.ok()) return ReplyStatus(reply, st);
                 reply.Send([&](RespWriter& w) {
                   w.Array(v.size());
                   for (const auto& x : v) {
                     if (x) w.Bulk(*x);
                     else w.Null();
                   }
                 });
               });
}

// HLEN, HKEYS, HVALS, HGETALL: the whole hash.
enum class All { kLen, kKeys, kVals, kGetAll };
void AllFields(CommandCtx& ctx, All what) {
  ReplyTo reply = ctx.reply;
  ReadAllElements(ctx.server, ctx.args[1], kHash, [reply, what](Status st, bool, ElementList all) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    reply.Send([&](RespWriter& w) {
      switch (what) {
        case All::kLen: w.Int(int64_t(all.size())); break;
        case All::kKeys:
          w.Array(all.size());
          for (auto& [f, v] : all) w.Bulk(f);
          break;
        case All::kVals:
          w.Array(all.size());
          for (auto& [f, v] : all) w.Bulk(v);
          break;
        case All::kGetAll:
          w.Map(all.size());
          for (auto& [f, v] : all) {
            w.Bulk(f);
            w.Bulk(v);
          }
          break;
      }
    });
  });
}
void CmdHlen(CommandCtx& ctx) { AllFields(ctx, All::kLen); }
void CmdHkeys(CommandCtx& ctx) { AllFields(ctx, All::kKeys); }
void CmdHvals(CommandCtx& ctx) { AllFields(ctx, All::kVals); }
void CmdHgetall(CommandCtx& ctx) { AllFields(ctx, All::kGetAll); }

void CmdHincrby(CommandCtx& ctx) {
  int64_t delta;
  if (!ParseInt64(ctx.args[3], &delta)) return ReplyErr(ctx.reply, "ERR value is not an integer or out of range");
  ReplyTo reply = ctx.reply;
  IncrementElement(ctx.server, ctx.args[1], kHash, ctx.args[2], delta, "ERR hash value is not an integer",
                   [reply](Status st, int64_t v) mutable {
                     if (!st.ok()) return ReplyStatus(reply, st);
                     reply.Send([&](RespWriter& w) { w.Int(v); });
                   });
}

// A float counter (cluster::LongFloatCounter): concurrent HINCRBYFLOATs through different
// coordinators add up, computed in long double and formatted as Redis does.
void CmdHincrbyfloat(CommandCtx& ctx) {
  long double delta;
  if (!ParseLongDouble(ctx.args[3], &delta)) return ReplyErr(ctx.reply, "ERR value is not a valid float");
  if (std::isnan(delta) || std::isinf(delta)) return ReplyErr(ctx.reply, "ERR value is NaN or Infinity");
  ReplyTo reply = ctx.reply;
  const Status not_float = Status::Invalid("hash value is not a float");
  cluster::AddToFloat(ctx.server, ctx.args[1], kHash, ctx.args[2], delta, not_float,
                      [reply, not_float](Status st, cluster::ElementView ev) mutable {
                        if (st.ok() && (!ev.present || !ev.float_counter)) st = not_float;
                        if (!st.ok()) return ReplyStatus(reply, st);
                        reply.Send([&](RespWriter& w) { w.Bulk(ev.value); });
                      });
}

// HRANDFIELD key [count [WITHVALUES]]
void CmdHrandfield(CommandCtx& ctx) {
  bool has_count = ctx.args.size() >= 3, withvalues = false;
  int64_t count = 1;
  if (has_count && !ParseInt64(ctx.args[2], &count)) return ReplyErr(ctx.reply, "ERR value is not an integer or out of range");
  if (ctx.args.size() == 4) {
    if (Lower(ctx.args[3]) != "withvalues") return ReplyErr(ctx.reply, "ERR syntax error");
    withvalues = true;
  } else if (ctx.args.size() > 4) {
    return ReplyErr(ctx.reply, "ERR syntax error");
  }
  if (count < -(INT64_MAX / 2) || count > INT64_MAX / 2) return ReplyErr(ctx.reply, "ERR value is out of range");
  ReplyTo reply = ctx.reply;
  ReadAllElements(ctx.server, ctx.args[1], kHash, [reply, has_count, withvalues, count](Status st, bool, ElementList all) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    static std::mt19937_64 rng{std::random_device{}()};
    std::vector<size_t> pick;
    if (!all.empty()) {
      if (count >= 0) {
        std::vector<size_t> idx(all.size());
        for (size_t i = 0; i < idx.size(); i++) idx[i] = i;
        std::shuffle(idx.begin(), idx.end(), rng);
        idx.resize(std::min<size_t>(idx.size(), size_t(count)));
        pick = std::move(idx);
      } else {
        for (int64_t i = 0; i < -count; i++) pick.push_back(rng() % all.size());
      }
    }
    reply.Send([&](RespWriter& w) {
      if (!has_count) {
        if (pick.empty()) w.Null();
        else w.Bulk(all[pick[0]].first);
        return;
      }
      w.Array(withvalues && w.proto() == 3 ? pick.size() : pick.size() * (withvalues ? 2 : 1));
      for (size_t i : pick) {
        if (withvalues && w.proto() == 3) {
          w.Array(2);
        }
        w.Bulk(all[i].first);
        if (withvalues) w.Bulk(all[i].second);
      }
    });
  });
}

// HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]: like Redis on a small hash,
// one reply holds every field and the cursor is 0.
void CmdHscan(CommandCtx& ctx) {
  std::string pattern;
  bool novalues = false;
  if (!ParseElementScan(ctx, /*allow_novalues=*/true, &pattern, &novalues)) return;
  ReplyTo reply = ctx.reply;
  ReadAllElements(ctx.server, ctx.args[1], kHash, [reply, pattern, novalues](Status st, bool, ElementList all) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    ElementList keep;
    for (auto& fv : all)
      if (pattern.empty() || StringMatch(pattern, fv.first)) keep.push_back(std::move(fv));
    reply.Send([&](RespWriter& w) {
      w.Array(2);
      w.Bulk("0");
      w.Array(keep.size() * (novalues ? 1 : 2));
      for (auto& [f, v] : keep) {
        w.Bulk(f);
        if (!novalues) w.Bulk(v);
      }
    });
  });
}

}  // namespace

void RegisterHash(std::vector<CommandSpec>* t) {
  const uint32_t W = kCmdWrite, R = kCmdReadonly, F = kCmdFast;
  t->push_back({"hdel", -3, W | F, CmdHdel, 1, 1, 1});
  t->push_back({"hexists", 3, R | F, CmdHexists, 1, 1, 1});
  t->push_back({"hget", 3, R | F, CmdHget, 1, 1, 1});
  t->push_back({"hgetall", 2, R, CmdHgetall, 1, 1, 1});
  t->push_back({"hincrby", 4, W | F, CmdHincrby, 1, 1, 1});
  t->push_back({"hincrbyfloat", 4, W | F, CmdHincrbyfloat, 1, 1, 1});
  t->push_back({"hkeys", 2, R, CmdHkeys, 1, 1, 1});
  t->push_back({"hlen", 2, R, CmdHlen, 1, 1, 1});
  t->push_back({"hmget", -3, R | F, CmdHmget, 1, 1, 1});
  t->push_back({"hmset", -4, W | F | kCmdHeaderAdd, CmdHmset, 1, 1, 1});
  t->push_back({"hrandfield", -2, R, CmdHrandfield, 1, 1, 1});
  t->push_back({"hscan", -3, R, CmdHscan, 1, 1, 1});
  t->push_back({"hset", -4, W | F | kCmdHeaderAdd, CmdHset, 1, 1, 1});
  t->push_back({"hsetnx", 4, W | F | kCmdHeaderAdd, CmdHsetnx, 1, 1, 1});
  t->push_back({"hstrlen", 3, R | F, CmdHstrlen, 1, 1, 1});
  t->push_back({"hvals", 2, R, CmdHvals, 1, 1, 1});
}

}  // namespace dynakv::server
