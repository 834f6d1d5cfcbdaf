// server/commands_set.cc: Redis set commands over collection records (collections.h).
//
// Concurrent semantics (README, "Sets"; docs/ARCHITECTURE.md, "Collections"): an add-wins
// observed-remove set. SADD of a member already present writes nothing; SREM and SPOP
// remove only the adds they read, so an SADD through another node that they did not see
// keeps the member. The *STORE forms replace the destination like Redis (any type).
#include <algorithm>
#include <random>
#include <set>

#include "server/collections.h"

namespace dynakv::server {
namespace {

using protocol::RespWriter;

constexpr char kSet = static_cast<char>(cluster::CollectionType::kSet);
constexpr const char* kNotInt = "ERR value is not an integer or out of range";

std::mt19937_64& Rng() {
  static std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

void SendMembers(ReplyTo& reply, const std::vector<std::string>& members) {
  reply.Send([&](RespWriter& w) {
    w.Set(members.size());
    for (const auto& m : members) w.Bulk(m);
  });
}

void CmdSadd(CommandCtx& ctx) {
  std::vector<std::string> members(ctx.args.begin() + 2, ctx.args.end());
  ReplyTo reply = ctx.reply;
  UpdateElements(ctx.server, ctx.args[1], kSet, std::move(members),
                 [](size_t, const std::optional<std::string>& cur) {
                   if (cur) return ElementChange{};
                   return ElementChange{ElementChange::kSet, {}};
                 },
                 [reply](Status st, UpdateResult res) mutable {
                   if (!st.ok()) return ReplyStatus(reply, st);
                   reply.Send([&](RespWriter& w) { w.Int(int64_t(res.set)); });
                 });
}

void CmdSrem(CommandCtx& ctx) { RemoveElementsCommand(ctx, kSet); }

void IsMember(CommandCtx& ctx, bool multi) {
  std::vector<std::string> members(ctx.args.begin() + 2, ctx.args.end());
  ReplyTo reply = ctx.reply;
  ReadElements(ctx.server, ctx.args[1], kSet, std::move(members),
               [reply, multi](Status st, bool, std::vector<std::optional<std::string>> v) mutable {
                 if (!st.ok()) return ReplyStatus(reply, st);
                 reply.Send([&](RespWriter& w) {
                   if (!multi) return w.Int(v[0] ? 1 : 0);
                   w.Array(v.size());
                   for (const auto& x : v) w.Int(x ? 1 : 0);
                 });
               });
}
void CmdSismember(CommandCtx& ctx) { IsMember(ctx, false); }
void CmdSmismember(CommandCtx& ctx) { IsMember(ctx, true); }

// Every member of each key in keys, in member order (a missing key is empty).
void ReadSets(Server* s, std::vector<std::string> keys,
              std::function<void(Status, std::vector<std::vector<std::string>>)> done) {
  auto out = std::make_shared<std::vector<std::vector<std::string>>>(keys.size());
  auto err = std::make_shared<Status>();
  auto g = Gather::Make(keys.size(), [out, err, done]() { done(*err, std::move(*out)); });
  for (size_t i = 0; i < keys.size(); i++) {
    ReadAllElements(s, keys[i], kSet, [out, err, g, i](Status st, bool, ElementList all) {
      if (!st.ok() && err->ok()) *err = st;
      for (auto& [m, v] : all) (*out)[i].push_back(std::move(m));
      g->One();
    });
  }
}

void CmdSmembers(CommandCtx& ctx) {
  ReplyTo reply = ctx.reply;
  ReadSets(ctx.server, {ctx.args[1]}, [reply](Status st, std::vector<std::vector<std::string>> sets) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    SendMembers(reply, sets[0]);
  });
}

void CmdScard(CommandCtx& ctx) {
  ReplyTo reply = ctx.reply;
  ReadSets(ctx.server, {ctx.args[1]}, [reply](Status st, std::vector<std::vector<std::string>> sets) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    reply.Send([&](RespWriter& w) { w.Int(int64_t(sets[0].size())); });
  });
}

// SRANDMEMBER key [count]: count >= 0 distinct members, count < 0 |count| with repeats.
void CmdSrandmember(CommandCtx& ctx) {
  bool has_count = ctx.args.size() == 3;
  if (ctx.args.size() > 3) return ReplyErr(ctx.reply, "ERR syntax error");
  int64_t count = 1;
  if (has_count && !ParseInt64(ctx.args[2], &count)) return ReplyErr(ctx.reply, kNotInt);
  if (count < -(INT64_MAX / 2) || count > INT64_MAX / 2) return ReplyErr(ctx.reply, "ERR value is out of range");
  ReplyTo reply = ctx.reply;
  ReadSets(ctx.server, {ctx.args[1]}, [reply, has_count, count](Status st, std::vector<std::vector<std::string>> sets) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    std::vector<std::string>& all = sets[0];
    std::vector<std::string> pick;
    if (!all.empty()) {
      if (count >= 0) {
        std::shuffle(all.begin(), all.end(), Rng());
        all.resize(std::min<size_t>(all.size(), size_t(count)));
        pick = std::move(all);
      } else {
        for (int64_t i = 0; i < -count; i++) pick.push_back(all[Rng()() % all.size()]);
      }
    }
    reply.Send([&](RespWriter& w) {
      if (!has_count) {
        if (pick.empty()) w.Null();
        else w.Bulk(pick[0]);
        return;
      }
      w.Array(pick.size());
      for (const auto& m : pick) w.Bulk(m);
    });
  });
}

// SPOP key [count]: removes random members it read (observed-remove).
void CmdSpop(CommandCtx& ctx) {
  bool has_count = ctx.args.size() == 3;
  if (ctx.args.size() > 3) return ReplyErr(ctx.reply, "ERR syntax error");
  int64_t count = 1;
  if (has_count && (!ParseInt64(ctx.args[2], &count) || count < 0)) {
    return ReplyErr(ctx.reply, "ERR value is out of range, must be positive");
  }
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  ReadSets(s, {key}, [s, key, reply, has_count, count](Status st, std::vector<std::vector<std::string>> sets) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    std::vector<std::string>& all = sets[0];
    std::shuffle(all.begin(), all.end(), Rng());
    all.resize(std::min<size_t>(all.size(), size_t(count)));
    auto picked = std::make_shared<std::vector<std::string>>(all);
    if (picked->empty()) {
      return reply.Send([&](RespWriter& w) {
        if (has_count) w.Set(0);
        else w.Null();
      });
    }
    UpdateElements(s, key, kSet, std::move(all),
                   [](size_t, const std::optional<std::string>&) {
                     return ElementChange{ElementChange::kDelete, {}};
                   },
                   [reply, picked, has_count](Status st2, UpdateResult) mutable {
                     if (!st2.ok()) return ReplyStatus(reply, st2);
                     if (!has_count) return reply.Send([&](RespWriter& w) { w.Bulk((*picked)[0]); });
                     SendMembers(reply, *picked);
                   });
  });
}

// SMOVE src dst member
void CmdSmove(CommandCtx& ctx) {
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string src = ctx.args[1], dst = ctx.args[2], member = ctx.args[3];
  // The destination must be a set (or missing) before anything moves, as in Redis.
  ReadCollection(s, dst, kSet, [s, reply, src, dst, member](Status st, CollectionState) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    UpdateElements(s, src, kSet, {member},
                   [](size_t, const std::optional<std::string>&) {
                     return ElementChange{ElementChange::kDelete, {}};
                   },
                   [s, reply, dst, member](Status st2, UpdateResult res) mutable {
                     if (!st2.ok()) return ReplyStatus(reply, st2);
                     if (res.deleted == 0) return reply.Send([](RespWriter& w) { w.Int(0); });
                     UpdateElements(s, dst, kSet, {member},
                                    [](size_t, const std::optional<std::string>& cur) {
                                      if (cur) return ElementChange{};
                                      return ElementChange{ElementChange::kSet, {}};
                                    },
                                    [reply](Status st3, UpdateResult) mutable {
                                      if (!st3.ok()) return ReplyStatus(reply, st3);
                                      reply.Send([](RespWriter& w) { w.Int(1); });
                                    });
                   });
  });
}

enum class Op { kInter, kUnion, kDiff };

std::vector<std::string> Combine(Op op, const std::vector<std::vector<std::string>>& sets) {
  std::vector<std::string> acc = sets.empty() ? std::vector<std::string>{} : sets[0];
  for (size_t i = 1; i < sets.size(); i++) {
    std::vector<std::string> next;
    const auto& b = sets[i];
    switch (op) {
      case Op::kInter: std::set_intersection(acc.begin(), acc.end(), b.begin(), b.end(), std::back_inserter(next)); break;
      case Op::kUnion: std::set_union(acc.begin(), acc.end(), b.begin(), b.end(), std::back_inserter(next)); break;
      case Op::kDiff: std::set_difference(acc.begin(), acc.end(), b.begin(), b.end(), std::back_inserter(next)); break;
    }
    acc = std::move(next);
  }
  return acc;
}

// Replaces `dest` (any type, or missing) with a set of `members`; done(count).
void StoreSet(Server* s, const std::string& dest, std::vector<std::string> members,
              std::function<void(Status, int64_t)> done) {
  ElementList elements;
  elements.reserve(members.size());
  for (auto& m : members) elements.emplace_back(std::move(m), std::string());
  StoreCollection(s, dest, kSet, std::move(elements), std::move(done));
}

void SetOp(CommandCtx& ctx, Op op, bool store) {
  size_t first = store ? 2 : 1;
  std::vector<std::string> keys(ctx.args.begin() + first, ctx.args.end());
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string dest = store ? ctx.args[1] : "";
  ReadSets(s, std::move(keys), [s, reply, op, store, dest](Status st, std::vector<std::vector<std::string>> sets) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    std::vector<std::string> result = Combine(op, sets);
    if (!store) return SendMembers(reply, result);
    StoreSet(s, dest, std::move(result), [reply](Status st2, int64_t n) mutable {
      if (!st2.ok()) return ReplyStatus(reply, st2);
      reply.Send([&](RespWriter& w) { w.Int(n); });
    });
  });
}
void CmdSinter(CommandCtx& ctx) { SetOp(ctx, Op::kInter, false); }
void CmdSunion(CommandCtx& ctx) { SetOp(ctx, Op::kUnion, false); }
void CmdSdiff(CommandCtx& ctx) { SetOp(ctx, Op::kDiff, false); }
void CmdSinterstore(CommandCtx& ctx) { SetOp(ctx, Op::kInter, true); }
void CmdSunionstore(CommandCtx& ctx) { SetOp(ctx, Op::kUnion, true); }
void CmdSdiffstore(CommandCtx& ctx) { SetOp(ctx, Op::kDiff, true); }

// SINTERCARD numkeys key [key ...] [LIMIT limit]
void CmdSintercard(CommandCtx& ctx) {
  int64_t numkeys;
  if (!ParseInt64(ctx.args[1], &numkeys) || numkeys <= 0) {
    return ReplyErr(ctx.reply, "ERR numkeys should be greater than 0");
  }
  if (size_t(numkeys) > ctx.args.size() - 2) {
    return ReplyErr(ctx.reply, "ERR Number of keys can't be greater than number of args");
  }
  int64_t limit = 0;
  size_t rest = 2 + size_t(numkeys);
  if (rest < ctx.args.size()) {
    if (rest + 2 != ctx.args.size() || Lower(ctx.args[rest]) != "limit") return ReplyErr(ctx.reply, "ERR syntax error");
    if (!ParseInt64(ctx.args[rest + 1], &limit) || limit < 0) {
      return ReplyErr(ctx.reply, "ERR LIMIT can't be negative");
    }
  }
  std::vector<std::string> keys(ctx.args.begin() + 2, ctx.args.begin() + long(rest));
  ReplyTo reply = ctx.reply;
  ReadSets(ctx.server, std::move(keys), [reply, limit](Status st, std::vector<std::vector<std::string>> sets) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    int64_t n = int64_t(Combine(Op::kInter, sets).size());
    if (limit > 0) n = std::min(n, limit);
    reply.Send([&](RespWriter& w) { w.Int(n); });
  });
}

// SSCAN key cursor [MATCH pattern] [COUNT count]: one reply, cursor 0 (as HSCAN).
void CmdSscan(CommandCtx& ctx) {
  std::string pattern;
  bool novalues;
  if (!ParseElementScan(ctx, /*allow_novalues=*/false, &pattern, &novalues)) return;
  ReplyTo reply = ctx.reply;
  ReadSets(ctx.server, {ctx.args[1]}, [reply, pattern](Status st, std::vector<std::vector<std::string>> sets) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    std::vector<std::string> keep;
    for (auto& m : sets[0])
      if (pattern.empty() || StringMatch(pattern, m)) keep.push_back(std::move(m));
    reply.Send([&](RespWriter& w) {
      w.Array(2);
      w.Bulk("0");
      w.Array(keep.size());
      for (const auto& m : keep) w.Bulk(m);
    });
  });
}

}  // namespace

void RegisterSet(std::vector<CommandSpec>* t) {
  const uint32_t W = kCmdWrite, R = kCmdReadonly, F = kCmdFast;
  t->push_back({"sadd", -3, W | F | kCmdHeaderAdd, CmdSadd, 1, 1, 1});
  t->push_back({"scard", 2, R | F, CmdScard, 1, 1, 1});
  t->push_back({"sdiff", -2, R, CmdSdiff, 1, -1, 1});
  t->push_back({"sdiffstore", -3, W, CmdSdiffstore, 1, -1, 1});
  t->push_back({"sinter", -2, R, CmdSinter, 1, -1, 1});
  t->push_back({"sintercard", -3, R, CmdSintercard, 2, 2, 1});
  t->push_back({"sinterstore", -3, W, CmdSinterstore, 1, -1, 1});
  t->push_back({"sismember", 3, R | F, CmdSismember, 1, 1, 1});
  t->push_back({"smembers", 2, R, CmdSmembers, 1, 1, 1});
  t->push_back({"smismember", -3, R | F, CmdSmismember, 1, 1, 1});
  t->push_back({"smove", 4, W | F, CmdSmove, 1, 2, 1});
  t->push_back({"spop", -2, W | F, CmdSpop, 1, 1, 1});
  t->push_back({"srandmember", -2, R, CmdSrandmember, 1, 1, 1});
  t->push_back({"srem", -3, W | F, CmdSrem, 1, 1, 1});
  t->push_back({"sscan", -3, R, CmdSscan, 1, 1, 1});
  t->push_back({"sunion", -2, R, CmdSunion, 1, -1, 1});
  t->push_back({"sunionstore", -3, W, CmdSunionstore, 1, -1, 1});
}

}  // namespace dynakv::server
