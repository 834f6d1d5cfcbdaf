// server/collections.cc: see collections.h.
#include "server/collections.h"

#include <algorithm>
#include <map>
#include <random>
#include <tuple>

#include "cluster/key_layout.h"
#include "server/lists.h"

namespace dynakv::server {

using cluster::ElementView;

void IncrementElement(Server* s, const std::string& key, char type, std::string element, int64_t delta,
                      std::string not_int, std::function<void(Status, int64_t)> done) {
  cluster::AddToCounter(s, key, type, std::move(element), delta, Status::Invalid(not_int),
                           [not_int, done = std::move(done)](Status ws, ElementView ev) {
                             if (ws.code() == Code::kInvalidArgument &&
                                 ws.message().find("not an integer") != std::string::npos) {
                               ws = Status::Invalid(not_int);
                             }
                             int64_t value = 0;
                             if (ws.ok() && (!ev.present || !ParseInt64(ev.value, &value))) ws = Status::Invalid(not_int);
                             done(ws, value);
                           });
}

void IncrementScore(Server* s, const std::string& key, std::string member, double delta,
                    std::function<void(Status, double)> done) {
  Status bad = Status::Corruption("sorted set member holds no score");
  cluster::AddToScore(s, key, std::move(member), delta, bad,
                          [bad, done = std::move(done)](Status ws, ElementView ev) {
                            double score = 0;
                            if (ws.ok() && (!ev.present || !cluster::DecodeScore(ev.value, &score))) ws = bad;
                            done(ws, score);
                          });
}

void DeleteAny(Server* s, const std::string& key, KeyView& cur, std::function<void(Status)> done) {
  if (!cur.exists) return done(Status::OK());
  if (cur.kind == cluster::ValueKind::kCollection) {
    return DeleteCollection(s, key, CollectionState{std::move(cur.header), std::move(cur.context)}, std::move(done));
  }
  DeleteValue(s, key, &cur.context, 0, [done](Status st, cluster::WriteReply) { done(st); });
}

void CopyCollection(Server* s, const std::string& src, const KeyView& from, const std::string& dst,
                    const KeyView& to, bool remove_src, std::function<void(Status)> done) {
  const char type = from.header.type;
  CollectionState src_state{from.header, from.context};
  uint64_t expiry = from.expiry_ms;
  // Last: drop the source (a move).
  auto finish = [s, src, src_state, remove_src, done](Status st) mutable {
    if (!st.ok() || !remove_src) return done(st);
    DeleteCollection(s, src, src_state, std::move(done));
  };
  // Then: the TTL, on the header the fill just wrote.
  auto set_ttl = [s, dst, type, expiry, finish](Status st) mutable {
    if (!st.ok() || expiry == 0) return finish(st);
    ReadCollection(s, dst, type, [s, dst, expiry, finish](Status rs, CollectionState cs) mutable {
      if (!rs.ok() || !cs.exists()) return finish(rs);
      SetCollectionExpiry(s, dst, cs, expiry, [finish](Status ws, cluster::WriteReply) mutable { finish(ws); });
    });
  };
  if (type == static_cast<char>(cluster::CollectionType::kList)) {
    // A list's values are pushed to a new list at dst, with positions of its own (lists.h).
    return ListRead(s, src, SIZE_MAX, [s, dst, set_ttl](Status st, ListView view) mutable {
      if (!st.ok()) return set_ttl(st);
      std::vector<std::string> values;
      for (auto& it : view.items) values.push_back(std::move(it.value));
      ListStore(s, dst, std::move(values), [set_ttl](Status ls, int64_t) mutable { set_ttl(ls); });
    });
  }
  ReadAllElements(s, src, type, [s, dst, to, type, set_ttl](Status st, bool, ElementList elements) mutable {
    if (!st.ok()) return set_ttl(st);
    auto fill = [s, dst, type, set_ttl, elements = std::move(elements)](Status cs) mutable {
      if (!cs.ok() || elements.empty()) return set_ttl(cs);
      std::vector<std::string> names;
      std::vector<std::string> values;
      for (auto& [e, v] : elements) {
        names.push_back(std::move(e));
        values.push_back(std::move(v));
      }
      UpdateElements(s, dst, type, std::move(names),
                     [values = std::move(values)](size_t i, const std::optional<std::string>&) {
                       return ElementChange{ElementChange::kSet, values[i]};
                     },
                     [set_ttl](Status us, UpdateResult) mutable { set_ttl(us); });
    };
    if (!to.exists) return fill(Status::OK());
    if (to.kind == cluster::ValueKind::kCollection) {
      return DeleteCollection(s, dst, CollectionState{to.header, to.context}, std::move(fill));
    }
    DeleteValue(s, dst, &to.context, 0, [fill](Status ds, cluster::WriteReply) mutable { fill(ds); });
  });
}

void StoreCollection(Server* s, const std::string& dest, char type, ElementList elements,
                     std::function<void(Status, int64_t)> done) {
  ReadAnyKey(s, dest, 0, [s, dest, type, elements = std::move(elements), done](Status st, KeyView cur) mutable {
    if (!st.ok()) return done(st, 0);
    int64_t n = int64_t(elements.size());
    auto fill = [s, dest, type, elements = std::move(elements), done, n](Status st2) mutable {
      if (!st2.ok() || elements.empty()) return done(st2, st2.ok() ? 0 : n);
      std::vector<std::string> names;
      auto values = std::make_shared<std::vector<std::string>>();
      names.reserve(elements.size());
      values->reserve(elements.size());
      for (auto& [e, v] : elements) {
        names.push_back(std::move(e));
        values->push_back(std::move(v));
      }
      UpdateElements(s, dest, type, std::move(names),
                     [values](size_t i, const std::optional<std::string>&) {
                       return ElementChange{ElementChange::kSet, (*values)[i]};
                     },
                     [done, n](Status st3, UpdateResult) { done(st3, n); });
    };
    DeleteAny(s, dest, cur, std::move(fill));
  });
}

bool ParseElementScan(CommandCtx& ctx, bool allow_novalues, std::string* pattern, bool* novalues) {
  int64_t cursor;
  if (!ParseInt64(ctx.args[2], &cursor) || cursor < 0) {
    ReplyErr(ctx.reply, "ERR invalid cursor");
    return false;
  }
  *novalues = false;
  for (size_t i = 3; i < ctx.args.size(); i++) {
    std::string o = Lower(ctx.args[i]);
    if (o == "match" && i + 1 < ctx.args.size()) {
      *pattern = ctx.args[++i];
    } else if (o == "count" && i + 1 < ctx.args.size()) {
      int64_t c;
      if (!ParseInt64(ctx.args[++i], &c)) {
        ReplyErr(ctx.reply, "ERR value is not an integer or out of range");
        return false;
      }
      if (c < 1) {
        ReplyErr(ctx.reply, "ERR syntax error");
        return false;
      }
    } else if (allow_novalues && o == "novalues") {
      *novalues = true;
    } else {
      ReplyErr(ctx.reply, "ERR syntax error");
      return false;
    }
  }
  return true;
}

void RemoveElementsCommand(CommandCtx& ctx, char type) {
  std::vector<std::string> elements(ctx.args.begin() + 2, ctx.args.end());
  ReplyTo reply = ctx.reply;
  UpdateElements(ctx.server, ctx.args[1], type, std::move(elements),
                 [](size_t, const std::optional<std::string>&) {
                   return ElementChange{ElementChange::kDelete, {}};
                 },
                 [reply](Status st, UpdateResult res) mutable {
                   if (!st.ok()) return ReplyStatus(reply, st);
                   reply.Send([&](protocol::RespWriter& w) { w.Int(int64_t(res.deleted)); });
                 });
}

bool ClampRanks(int64_t start, int64_t stop, size_t n, size_t* from, size_t* to) {
  int64_t len = int64_t(n);
  if (start < 0) start += len;
  if (stop < 0) stop += len;
  if (start < 0) start = 0;
  if (start > stop || start >= len) return false;
  if (stop >= len) stop = len - 1;
  *from = size_t(start);
  *to = size_t(stop);
  return true;
}

}  // namespace dynakv::server
