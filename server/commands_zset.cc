// server/commands_zset.cc: Redis sorted-set commands over collection records (collections.h).
//
// A sorted set is a collection of type 'z' whose element records are its members; each
// member's value is its score (cluster::EncodeScore) or a score counter. Concurrent semantics
// (README, "Sorted sets"; docs/ARCHITECTURE.md, "Collections"):
//   - membership is add-wins, observed-remove, as for sets: ZREM and the pops remove only
//     the adds they read;
//   - a score set by ZADD is a last-writer-wins register (timestamp, then dot), as Riak's map
//     registers are; ZINCRBY and ZADD INCR make it a counter (cluster::FloatCounter, a
//     PN-counter over doubles), so concurrent increments through different coordinators
//     add up. A ZADD that read the counter supersedes it, as HSET supersedes HINCRBY.
// Ordered reads (ZRANGE and friends, ZRANK, ZCOUNT, the pops) read every member at R and
// order them by (score, member bytes) as Redis does: O(n) per command, not O(log n).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>

#include "server/collections.h"

namespace dynakv::server {
namespace {

using protocol::RespWriter;

constexpr char kZset = static_cast<char>(cluster::CollectionType::kZset);
constexpr const char* kNotInt = "ERR value is not an integer or out of range";
constexpr const char* kNotFloat = "ERR value is not a valid float";
constexpr const char* kNan = "ERR resulting score is not a number (NaN)";
constexpr const char* kScoreRange = "ERR min or max is not a float";
constexpr const char* kLexRange = "ERR min or max not valid string range item";

using cluster::DecodeScore;
using cluster::EncodeScore;

// Redis's getDoubleFromObject: the whole argument is one strtod number, no leading space,
// no NaN, no overflow.
bool ParseScore(const std::string& s, double* out) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  errno = 0;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (static_cast<size_t>(end - s.c_str()) != s.size() || std::isnan(d)) return false;
  if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL || std::fpclassify(d) == FP_ZERO)) return false;
  *out = d;
  return true;
}

struct ScoreRange {
  double min = 0, max = 0;
  bool minex = false, maxex = false;
  bool GteMin(double v) const { return minex ? v > min : v >= min; }
  bool LteMax(double v) const { return maxex ? v < max : v <= max; }
  bool Has(double v) const { return GteMin(v) && LteMax(v); }
};

// Redis's zslParseRange item: "(" for exclusive, then a strtod number (trailing bytes and
// NaN refused; an empty number reads as 0, as strtod gives it to Redis).
bool ParseScoreBound(const std::string& s, double* v, bool* ex) {
  const char* p = s.c_str();
  *ex = *p == '(';
  if (*ex) p++;
  char* end = nullptr;
  *v = std::strtod(p, &end);
  return *end == '\0' && !std::isnan(*v);
}

struct LexBound {
  enum Kind { kMinusInf, kPlusInf, kIncl, kExcl } kind = kMinusInf;
  std::string s;
};
struct LexRange {
  LexBound min, max;
  bool GteMin(const std::string& m) const {
    switch (min.kind) {
      case LexBound::kMinusInf: return true;
      case LexBound::kPlusInf: return false;
      case LexBound::kIncl: return m >= min.s;
      case LexBound::kExcl: return m > min.s;
    }
    return false;
  }
  bool LteMax(const std::string& m) const {
    switch (max.kind) {
      case LexBound::kMinusInf: return false;
      case LexBound::kPlusInf: return true;
      case LexBound::kIncl: return m <= max.s;
      case LexBound::kExcl: return m < max.s;
    }
    return false;
  }
  bool Has(const std::string& m) const { return GteMin(m) && LteMax(m); }
};

// Redis's zslParseLexRangeItem: "-", "+", "[member" or "(member" (C-string semantics).
bool ParseLexBound(const std::string& s, LexBound* b) {
  const char* c = s.c_str();
  switch (c[0]) {
    case '+':
      if (c[1] != '\0') return false;
      b->kind = LexBound::kPlusInf;
      return true;
    case '-':
      if (c[1] != '\0') return false;
      b->kind = LexBound::kMinusInf;
      return true;
    case '(':
    case '[':
      b->kind = c[0] == '(' ? LexBound::kExcl : LexBound::kIncl;
      b->s.assign(s, 1, std::string::npos);
      return true;
    default:
      return false;
  }
}

struct Entry {
  std::string member;
  double score = 0;
};
using Entries = std::vector<Entry>;  // in (score, member) order

// Every member of `key` with its score, in Redis's order; done(status, exists, entries).
void ReadZset(Server* s, const std::string& key, std::function<void(Status, bool, Entries)> done) {
  ReadAllElements(s, key, kZset, [done = std::move(done)](Status st, bool exists, ElementList all) {
    if (!st.ok()) return done(st, false, {});
    Entries out;
    out.reserve(all.size());
    for (auto& [m, v] : all) {
      Entry e;
      if (!DecodeScore(v, &e.score)) {
        return done(Status::Corruption("sorted set member holds no score"), false, {});
      }
      e.member = std::move(m);
      out.push_back(std::move(e));
    }
    std::stable_sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
      return a.score < b.score;  // members already in byte order: ties keep it
    });
    done(Status::OK(), exists, std::move(out));
  });
}

void SendEntries(RespWriter& w, const Entries& es, const std::vector<size_t>& pick, bool withscores) {
  bool pairs = withscores && w.proto() >= 3;
  w.Array(withscores && !pairs ? pick.size() * 2 : pick.size());
  for (size_t i : pick) {
    if (pairs) w.Array(2);
    w.Bulk(es[i].member);
    if (withscores) w.Double17(es[i].score);
  }
}

// ---- ZADD / ZINCRBY ----

// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]; ZINCRBY is ZADD INCR.
void Zadd(CommandCtx& ctx, bool zincrby) {
  bool nx = false, xx = false, gt = false, lt = false, ch = false, incr = zincrby;
  size_t at = 2;
  for (; !zincrby && at < ctx.args.size(); at++) {
    std::string o = Lower(ctx.args[at]);
    if (o == "nx") nx = true;
    else if (o == "xx") xx = true;
    else if (o == "gt") gt = true;
    else if (o == "lt") lt = true;
    else if (o == "ch") ch = true;
    else if (o == "incr") incr = true;
    else break;
  }
  size_t n = ctx.args.size() - at;
  if (n == 0 || n % 2 != 0) return ReplyErr(ctx, "ERR syntax error");
  n /= 2;
  if (nx && xx) return ReplyErr(ctx, "ERR XX and NX options at the same time are not compatible");
  if ((gt && nx) || (lt && nx) || (gt && lt)) {
    return ReplyErr(ctx, "ERR GT, LT, and/or NX options at the same time are not compatible");
  }
  if (incr && n > 1) return ReplyErr(ctx, "ERR INCR option supports a single increment-element pair");
  auto scores = std::make_shared<std::vector<double>>(n);
  std::vector<std::string> members(n);
  for (size_t j = 0; j < n; j++) {
    if (!ParseScore(ctx.args[at + 2 * j], &(*scores)[j])) return ReplyErr(ctx, kNotFloat);
    members[j] = ctx.args[at + 2 * j + 1];
  }
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  if (incr) {
    // A score counter add, so concurrent increments add up. The conditions (NX XX GT LT)
    // are judged against the score read just before.
    double delta = (*scores)[0];
    std::string member = members[0];
    auto add = [s, reply, key, member, delta]() mutable {
      IncrementScore(s, key, member, delta, [reply](Status st, double score) mutable {
        if (!st.ok() && st.message().find("(NaN)") != std::string::npos) return ReplyErr(reply, kNan);
        if (!st.ok()) return ReplyStatus(reply, st);
        reply.Send([&](RespWriter& w) { w.Double17(score); });
      });
    };
    if (!nx && !xx && !gt && !lt) return add();
    return ReadElements(s, key, kZset, {member}, [=](Status st, bool, std::vector<std::optional<std::string>> v) mutable {
      if (!st.ok()) return ReplyStatus(reply, st);
      double now = 0;
      bool exists = v[0] && DecodeScore(*v[0], &now);
      double next = exists ? now + delta : delta;
      bool skip = (nx && exists) || (xx && !exists);
      if (!skip && exists && std::isnan(next)) return ReplyErr(reply, kNan);
      if (!skip && exists && ((lt && next >= now) || (gt && next <= now))) skip = true;
      if (skip) return reply.Send([](RespWriter& w) { w.Null(); });
      add();
    });
  }
  struct Out {
    int64_t added = 0, updated = 0;
  };
  auto out = std::make_shared<Out>();
  // XX on a missing key changes nothing and creates nothing; ReadCollection answers
  // WRONGTYPE first, as Redis checks the type before XX.
  ReadCollection(s, key, kZset, [=](Status st, CollectionState cs) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    auto finish = [reply, out, ch]() mutable {
      reply.Send([&](RespWriter& w) { w.Int(ch ? out->added + out->updated : out->added); });
    };
    if (!cs.exists() && xx) return finish();
    UpdateElements(
        s, key, kZset, members,
        [=](size_t i, const std::optional<std::string>& cur) -> ElementChange {
          double score = (*scores)[i], now = 0;
          if (cur && DecodeScore(*cur, &now)) {
            if (nx || (lt && score >= now) || (gt && score <= now) || score == now) return {};
            out->updated++;
            return ElementChange{ElementChange::kSet, EncodeScore(score)};
          }
          if (xx) return {};
          out->added++;
          return ElementChange{ElementChange::kSet, EncodeScore(score)};
        },
        [=](Status st2, UpdateResult) mutable {
          if (!st2.ok()) return ReplyStatus(reply, st2);
          finish();
        });
  });
}

void CmdZadd(CommandCtx& ctx) { Zadd(ctx, false); }

// ZINCRBY key increment member
void CmdZincrby(CommandCtx& ctx) { Zadd(ctx, true); }  // (increment, member): ZADD's pair order

void CmdZrem(CommandCtx& ctx) { RemoveElementsCommand(ctx, kZset); }

// ---- point reads ----

void Scores(CommandCtx& ctx, bool multi) {
  std::vector<std::string> members(ctx.args.begin() + 2, ctx.args.end());
  ReplyTo reply = ctx.reply;
  ReadElements(ctx.server, ctx.args[1], kZset, std::move(members),
               [reply, multi](Status st, bool, std::vector<std::optional<std::string>> v) mutable {
                 if (!st.ok()) return ReplyStatus(reply, st);
                 reply.Send([&](RespWriter& w) {
                   if (multi) w.Array(v.size());
                   for (const auto& x : v) {
                     double d;
                     if (x && DecodeScore(*x, &d)) w.Double17(d);
                     else w.Null();
                   }
                 });
               });
}
void CmdZscore(CommandCtx& ctx) { Scores(ctx, false); }
void CmdZmscore(CommandCtx& ctx) { Scores(ctx, true); }

void CmdZcard(CommandCtx& ctx) {
  ReplyTo reply = ctx.reply;
  ReadAllElements(ctx.server, ctx.args[1], kZset, [reply](Status st, bool, ElementList all) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    reply.Send([&](RespWriter& w) { w.Int(int64_t(all.size())); });
  });
}

void Rank(CommandCtx& ctx, bool rev) {
  ReplyTo reply = ctx.reply;
  std::string member = ctx.args[2];
  ReadZset(ctx.server, ctx.args[1], [reply, member, rev](Status st, bool, Entries es) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    for (size_t i = 0; i < es.size(); i++) {
      if (es[i].member == member) {
        int64_t r = int64_t(rev ? es.size() - 1 - i : i);
        return reply.Send([&](RespWriter& w) { w.Int(r); });
      }
    }
    reply.Send([](RespWriter& w) { w.Null(); });
  });
}
void CmdZrank(CommandCtx& ctx) { Rank(ctx, false); }
void CmdZrevrank(CommandCtx& ctx) { Rank(ctx, true); }

void CmdZcount(CommandCtx& ctx) {
  ScoreRange r;
  if (!ParseScoreBound(ctx.args[2], &r.min, &r.minex) || !ParseScoreBound(ctx.args[3], &r.max, &r.maxex)) {
    return ReplyErr(ctx, kScoreRange);
  }
  ReplyTo reply = ctx.reply;
  ReadZset(ctx.server, ctx.args[1], [reply, r](Status st, bool, Entries es) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    int64_t n = std::count_if(es.begin(), es.end(), [&](const Entry& e) { return r.Has(e.score); });
    reply.Send([&](RespWriter& w) { w.Int(n); });
  });
}

void CmdZlexcount(CommandCtx& ctx) {
  LexRange r;
  if (!ParseLexBound(ctx.args[2], &r.min) || !ParseLexBound(ctx.args[3], &r.max)) {
    return ReplyErr(ctx, kLexRange);
  }
  ReplyTo reply = ctx.reply;
  ReadZset(ctx.server, ctx.args[1], [reply, r](Status st, bool, Entries es) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    int64_t n = std::count_if(es.begin(), es.end(), [&](const Entry& e) { return r.Has(e.member); });
    reply.Send([&](RespWriter& w) { w.Int(n); });
  });
}

// ---- ranges ----

enum class By { kAuto, kRank, kScore, kLex };
enum class Dir { kAuto, kForward, kReverse };

struct RangeSpec {
  By by = By::kRank;
  bool rev = false;
  bool withscores = false;
  int64_t offset = 0, limit = -1;
  int64_t start = 0, stop = 0;  // kRank
  ScoreRange score;             // kScore
  LexRange lex;                 // kLex
};

// Redis's zrangeGenericCommand option and range parsing. `first` indexes the range's first
// bound (args[first], args[first + 1]); options follow. False: an error was answered.
bool ParseRange(CommandCtx& ctx, size_t first, By by, Dir dir, RangeSpec* spec) {
  bool has_limit = false;
  for (size_t j = first + 2; j < ctx.args.size(); j++) {
    size_t left = ctx.args.size() - j - 1;
    std::string o = Lower(ctx.args[j]);
    if (o == "withscores") {
      spec->withscores = true;
    } else if (o == "limit" && left >= 2) {
      if (!ParseInt64(ctx.args[j + 1], &spec->offset) || !ParseInt64(ctx.args[j + 2], &spec->limit)) {
        ReplyErr(ctx, kNotInt);
        return false;
      }
      has_limit = true;
      j += 2;
    } else if (dir == Dir::kAuto && o == "rev") {
      dir = Dir::kReverse;
    } else if (by == By::kAuto && o == "bylex") {
      by = By::kLex;
    } else if (by == By::kAuto && o == "byscore") {
      by = By::kScore;
    } else {
      ReplyErr(ctx, "ERR syntax error");
      return false;
    }
  }
  if (by == By::kAuto) by = By::kRank;
  spec->by = by;
  spec->rev = dir == Dir::kReverse;
  // Redis tests its limit against its "no limit" default (-1), so LIMIT 0 -1 passes.
  if (has_limit && spec->limit != -1 && by == By::kRank) {
    ReplyErr(ctx, "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    return false;
  }
  if (spec->withscores && by == By::kLex) {
    ReplyErr(ctx, "ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    return false;
  }
  size_t lo = first, hi = first + 1;
  if (spec->rev && by != By::kRank) std::swap(lo, hi);  // given as max, min
  switch (by) {
    case By::kAuto:
    case By::kRank:
      if (!ParseInt64(ctx.args[lo], &spec->start) || !ParseInt64(ctx.args[hi], &spec->stop)) {
        ReplyErr(ctx, kNotInt);
        return false;
      }
      break;
    case By::kScore:
      if (!ParseScoreBound(ctx.args[lo], &spec->score.min, &spec->score.minex) ||
          !ParseScoreBound(ctx.args[hi], &spec->score.max, &spec->score.maxex)) {
        ReplyErr(ctx, kScoreRange);
        return false;
      }
      break;
    case By::kLex:
      if (!ParseLexBound(ctx.args[lo], &spec->lex.min) || !ParseLexBound(ctx.args[hi], &spec->lex.max)) {
        ReplyErr(ctx, kLexRange);
        return false;
      }
      break;
  }
  return true;
}

// The indexes into `es` a range selects, in reply order.
std::vector<size_t> Select(const RangeSpec& spec, const Entries& es) {
  std::vector<size_t> pick;
  size_t n = es.size();
  if (spec.by == By::kRank) {
    size_t from, to;
    if (!ClampRanks(spec.start, spec.stop, n, &from, &to)) return pick;
    for (size_t r = from; r <= to; r++) pick.push_back(spec.rev ? n - 1 - r : r);
    return pick;
  }
  if (spec.offset < 0) return pick;  // as Redis: a negative offset skips everything
  int64_t skip = spec.offset, left = spec.limit;
  for (size_t k = 0; k < n && left != 0; k++) {
    size_t i = spec.rev ? n - 1 - k : k;
    bool in = spec.by == By::kScore ? spec.score.Has(es[i].score) : spec.lex.Has(es[i].member);
    if (!in) continue;
    if (skip > 0) {
      skip--;
      continue;
    }
    pick.push_back(i);
    if (left > 0) left--;
  }
  return pick;
}

void Range(CommandCtx& ctx, By by, Dir dir) {
  RangeSpec spec;
  if (!ParseRange(ctx, 2, by, dir, &spec)) return;
  ReplyTo reply = ctx.reply;
  ReadZset(ctx.server, ctx.args[1], [reply, spec](Status st, bool, Entries es) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    std::vector<size_t> pick = Select(spec, es);
    reply.Send([&](RespWriter& w) { SendEntries(w, es, pick, spec.withscores); });
  });
}

void CmdZrange(CommandCtx& ctx) { Range(ctx, By::kAuto, Dir::kAuto); }
void CmdZrevrange(CommandCtx& ctx) { Range(ctx, By::kRank, Dir::kReverse); }
void CmdZrangebyscore(CommandCtx& ctx) { Range(ctx, By::kScore, Dir::kForward); }
void CmdZrevrangebyscore(CommandCtx& ctx) { Range(ctx, By::kScore, Dir::kReverse); }
void CmdZrangebylex(CommandCtx& ctx) { Range(ctx, By::kLex, Dir::kForward); }
void CmdZrevrangebylex(CommandCtx& ctx) { Range(ctx, By::kLex, Dir::kReverse); }

// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
void CmdZrangestore(CommandCtx& ctx) {
  RangeSpec spec;
  if (!ParseRange(ctx, 3, By::kAuto, Dir::kAuto, &spec)) return;
  if (spec.withscores) return ReplyErr(ctx, "ERR syntax error");
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string dst = ctx.args[1];
  ReadZset(s, ctx.args[2], [s, reply, spec, dst](Status st, bool, Entries es) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    ElementList picked;
    for (size_t i : Select(spec, es)) picked.emplace_back(es[i].member, EncodeScore(es[i].score));
    std::sort(picked.begin(), picked.end());
    StoreCollection(s, dst, kZset, std::move(picked), [reply](Status st2, int64_t n) mutable {
      if (!st2.ok()) return ReplyStatus(reply, st2);
      reply.Send([&](RespWriter& w) { w.Int(n); });
    });
  });
}

// Removes the members at `pick` (observed-remove: only the adds read); done(removed).
void RemovePicked(Server* s, const std::string& key, const Entries& es, const std::vector<size_t>& pick,
                  std::function<void(Status, int64_t)> done) {
  if (pick.empty()) return done(Status::OK(), 0);
  std::vector<std::string> members;
  for (size_t i : pick) members.push_back(es[i].member);
  UpdateElements(s, key, kZset, std::move(members),
                 [](size_t, const std::optional<std::string>&) {
                   return ElementChange{ElementChange::kDelete, {}};
                 },
                 [done](Status st, UpdateResult res) { done(st, int64_t(res.deleted)); });
}

void RemoveRange(CommandCtx& ctx, By by) {
  RangeSpec spec;
  spec.by = by;
  bool ok = true;
  switch (by) {
    case By::kRank:
      ok = ParseInt64(ctx.args[2], &spec.start) && ParseInt64(ctx.args[3], &spec.stop);
      if (!ok) return ReplyErr(ctx, kNotInt);
      break;
    case By::kScore:
      ok = ParseScoreBound(ctx.args[2], &spec.score.min, &spec.score.minex) &&
           ParseScoreBound(ctx.args[3], &spec.score.max, &spec.score.maxex);
      if (!ok) return ReplyErr(ctx, kScoreRange);
      break;
    default:
      ok = ParseLexBound(ctx.args[2], &spec.lex.min) && ParseLexBound(ctx.args[3], &spec.lex.max);
      if (!ok) return ReplyErr(ctx, kLexRange);
      break;
  }
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  ReadZset(s, key, [s, reply, spec, key](Status st, bool, Entries es) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    RemovePicked(s, key, es, Select(spec, es), [reply](Status st2, int64_t n) mutable {
      if (!st2.ok()) return ReplyStatus(reply, st2);
      reply.Send([&](RespWriter& w) { w.Int(n); });
    });
  });
}
void CmdZremrangebyrank(CommandCtx& ctx) { RemoveRange(ctx, By::kRank); }
void CmdZremrangebyscore(CommandCtx& ctx) { RemoveRange(ctx, By::kScore); }
void CmdZremrangebylex(CommandCtx& ctx) { RemoveRange(ctx, By::kLex); }

// ZPOPMIN / ZPOPMAX key [count]. Two concurrent pops through different coordinators may
// return the same member (README, "Sorted sets").
void Pop(CommandCtx& ctx, bool max) {
  if (ctx.args.size() > 3) return ReplyErr(ctx, "ERR syntax error");
  bool has_count = ctx.args.size() == 3;
  int64_t count = 1;
  if (has_count && (!ParseInt64(ctx.args[2], &count) || count < 0)) {
    return ReplyErr(ctx, "ERR value is out of range, must be positive");
  }
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  ReadZset(s, key, [s, reply, key, count, has_count, max](Status st, bool, Entries es) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    std::vector<size_t> pick;
    for (size_t k = 0; k < es.size() && int64_t(pick.size()) < count; k++) pick.push_back(max ? es.size() - 1 - k : k);
    auto kept = std::make_shared<Entries>(std::move(es));
    RemovePicked(s, key, *kept, pick, [reply, kept, pick, has_count](Status st2, int64_t) mutable {
      if (!st2.ok()) return ReplyStatus(reply, st2);
      reply.Send([&](RespWriter& w) {
        // Redis 7.0: a flat [member, score] without a count, and with one in RESP2; pairs
        // with a count in RESP3.
        bool pairs = has_count && w.proto() >= 3;
        w.Array(pairs ? pick.size() : pick.size() * 2);
        for (size_t i : pick) {
          if (pairs) w.Array(2);
          w.Bulk((*kept)[i].member);
          w.Double17((*kept)[i].score);
        }
      });
    });
  });
}
void CmdZpopmin(CommandCtx& ctx) { Pop(ctx, false); }
void CmdZpopmax(CommandCtx& ctx) { Pop(ctx, true); }

// ---- ZUNION / ZINTER / ZDIFF, their STORE forms, ZINTERCARD ----

enum class SetOp { kUnion, kInter, kDiff };
enum class Aggregate { kSum, kMin, kMax };

// Each key's members with scores: a sorted set as it is, a set with score 1, a missing key
// empty; any other type answers WRONGTYPE.
void ReadScored(Server* s, std::vector<std::string> keys, std::function<void(Status, std::vector<Entries>)> done) {
  auto out = std::make_shared<std::vector<Entries>>(keys.size());
  auto err = std::make_shared<Status>();
  auto g = Gather::Make(keys.size(), [out, err, done]() { done(*err, std::move(*out)); });
  for (size_t i = 0; i < keys.size(); i++) {
    auto note = [err](const Status& st) {
      if (!st.ok() && err->ok()) *err = st;
    };
    ReadAnyKey(s, keys[i], 0, [s, out, g, i, note, key = keys[i]](Status st, KeyView kv) {
      if (!st.ok() || !kv.exists) {
        note(st);
        return g->One();
      }
      char type = kv.kind == cluster::ValueKind::kCollection ? kv.header.type : 0;
      if (type == kZset) {
        return ReadZset(s, key, [out, g, i, note](Status st2, bool, Entries es) {
          note(st2);
          (*out)[i] = std::move(es);
          g->One();
        });
      }
      if (type == static_cast<char>(cluster::CollectionType::kSet)) {
        return ReadAllElements(s, key, type, [out, g, i, note](Status st2, bool, ElementList all) {
          note(st2);
          for (auto& [m, v] : all) (*out)[i].push_back(Entry{std::move(m), 1.0});
          g->One();
        });
      }
      note(Status::Invalid(kWrongType));
      g->One();
    });
  }
}

// Redis's zunionInterDiffGenericCommand: weights apply to union and intersection (a NaN
// product counts as 0), SUM turns a NaN sum into 0, the difference keeps the first key's
// scores. The result in (score, member) order.
Entries Combine(SetOp op, const std::vector<Entries>& in, const std::vector<double>& weights, Aggregate agg) {
  std::map<std::string, double> acc;
  auto weighted = [&](size_t i, double v) {
    double x = weights[i] * v;
    return std::isnan(x) ? 0.0 : x;
  };
  auto fold = [&](double* t, double v) {
    switch (agg) {
      case Aggregate::kSum:
        *t += v;
        if (std::isnan(*t)) *t = 0;
        break;
      case Aggregate::kMin: *t = std::min(*t, v); break;
      case Aggregate::kMax: *t = std::max(*t, v); break;
    }
  };
  if (op == SetOp::kDiff) {
    std::map<std::string, double> first;
    for (const Entry& e : in[0]) first[e.member] = e.score;
    for (size_t i = 1; i < in.size(); i++) {
      for (const Entry& e : in[i]) first.erase(e.member);
    }
    acc = std::move(first);
  } else if (op == SetOp::kUnion) {
    for (size_t i = 0; i < in.size(); i++) {
      for (const Entry& e : in[i]) {
        auto [it, fresh] = acc.emplace(e.member, weighted(i, e.score));
        if (!fresh) fold(&it->second, weighted(i, e.score));
      }
    }
  } else {
    std::map<std::string, std::pair<double, size_t>> seen;  // score so far, sets holding it
    for (size_t i = 0; i < in.size(); i++) {
      for (const Entry& e : in[i]) {
        auto [it, fresh] = seen.emplace(e.member, std::make_pair(weighted(i, e.score), size_t(1)));
        if (fresh) continue;
        if (it->second.second == i) {  // in every set so far
          fold(&it->second.first, weighted(i, e.score));
          it->second.second++;
        }
      }
    }
    for (auto& [m, sc] : seen) {
      if (sc.second == in.size()) acc.emplace(m, sc.first);
    }
  }
  Entries out;
  out.reserve(acc.size());
  for (auto& [m, v] : acc) out.push_back(Entry{m, v == 0 ? 0.0 : v});
  std::stable_sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.score < b.score; });
  return out;
}

// Z{UNION,INTER,DIFF}[STORE] [dst] numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX]
// [WITHSCORES]; ZINTERCARD numkeys key... [LIMIT n]. As in Redis, the keys' types are
// checked (WRONGTYPE) before the options after them are judged.
void ZsetOp(CommandCtx& ctx, SetOp op, bool store, bool card) {
  size_t numkeys_at = store ? 2 : 1;
  int64_t n;
  if (!ParseInt64(ctx.args[numkeys_at], &n)) return ReplyErr(ctx, kNotInt);
  if (n < 1) return ReplyErr(ctx, "ERR at least 1 input key is needed for '" + Lower(ctx.args[0]) + "' command");
  if (n > int64_t(ctx.args.size() - numkeys_at - 1)) return ReplyErr(ctx, "ERR syntax error");
  size_t nkeys = size_t(n);
  std::vector<std::string> keys(ctx.args.begin() + long(numkeys_at + 1), ctx.args.begin() + long(numkeys_at + 1 + nkeys));
  std::vector<double> weights(nkeys, 1.0);
  Aggregate agg = Aggregate::kSum;
  bool withscores = false;
  int64_t limit = 0;
  std::string option_err;
  for (size_t j = numkeys_at + 1 + nkeys; j < ctx.args.size() && option_err.empty(); j++) {
    size_t remaining = ctx.args.size() - j;
    std::string o = Lower(ctx.args[j]);
    if (card) {
      if (o == "limit" && remaining >= 2) {
        if (!ParseInt64(ctx.args[++j], &limit)) option_err = kNotInt;
        else if (limit < 0) option_err = "ERR LIMIT can't be negative";
      } else {
        option_err = "ERR syntax error";
      }
    } else if (op != SetOp::kDiff && remaining >= nkeys + 1 && o == "weights") {
      for (size_t i = 0; i < nkeys; i++) {
        if (!ParseScore(ctx.args[++j], &weights[i])) {
          option_err = "ERR weight value is not a float";
          break;
        }
      }
    } else if (op != SetOp::kDiff && remaining >= 2 && o == "aggregate") {
      std::string a = Lower(ctx.args[++j]);
      if (a == "sum") agg = Aggregate::kSum;
      else if (a == "min") agg = Aggregate::kMin;
      else if (a == "max") agg = Aggregate::kMax;
      else option_err = "ERR syntax error";
    } else if (!store && o == "withscores") {
      withscores = true;
    } else {
      option_err = "ERR syntax error";
    }
  }
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string dst = store ? ctx.args[1] : "";
  ReadScored(s, keys, [=](Status st, std::vector<Entries> in) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    if (!option_err.empty()) return ReplyErr(reply, option_err);
    Entries out = Combine(op, in, weights, agg);
    if (card) {
      int64_t c = int64_t(out.size());
      if (limit > 0) c = std::min(c, limit);
      return reply.Send([&](RespWriter& w) { w.Int(c); });
    }
    if (!store) {
      std::vector<size_t> pick(out.size());
      for (size_t i = 0; i < pick.size(); i++) pick[i] = i;
      return reply.Send([&](RespWriter& w) { SendEntries(w, out, pick, withscores); });
    }
    ElementList elements;
    elements.reserve(out.size());
    for (const Entry& e : out) elements.emplace_back(e.member, EncodeScore(e.score));
    std::sort(elements.begin(), elements.end());
    StoreCollection(s, dst, kZset, std::move(elements), [reply](Status st2, int64_t count) mutable {
      if (!st2.ok()) return ReplyStatus(reply, st2);
      reply.Send([&](RespWriter& w) { w.Int(count); });
    });
  });
}
void CmdZunion(CommandCtx& ctx) { ZsetOp(ctx, SetOp::kUnion, false, false); }
void CmdZinter(CommandCtx& ctx) { ZsetOp(ctx, SetOp::kInter, false, false); }
void CmdZdiff(CommandCtx& ctx) { ZsetOp(ctx, SetOp::kDiff, false, false); }
void CmdZunionstore(CommandCtx& ctx) { ZsetOp(ctx, SetOp::kUnion, true, false); }
void CmdZinterstore(CommandCtx& ctx) { ZsetOp(ctx, SetOp::kInter, true, false); }
void CmdZdiffstore(CommandCtx& ctx) { ZsetOp(ctx, SetOp::kDiff, true, false); }
void CmdZintercard(CommandCtx& ctx) { ZsetOp(ctx, SetOp::kInter, false, true); }

std::mt19937_64& Rng() {
  static std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

// ZRANDMEMBER key [count [WITHSCORES]]: count >= 0 distinct members, < 0 with repeats.
void CmdZrandmember(CommandCtx& ctx) {
  bool has_count = ctx.args.size() >= 3, withscores = false;
  int64_t count = 1;
  if (ctx.args.size() > 4) return ReplyErr(ctx, "ERR syntax error");
  if (ctx.args.size() == 4) {
    if (Lower(ctx.args[3]) != "withscores") return ReplyErr(ctx, "ERR syntax error");
    withscores = true;
  }
  if (has_count && !ParseInt64(ctx.args[2], &count)) return ReplyErr(ctx, kNotInt);
  if (count < -(INT64_MAX / 2) || count > INT64_MAX / 2) return ReplyErr(ctx, "ERR value is out of range");
  ReplyTo reply = ctx.reply;
  ReadZset(ctx.server, ctx.args[1], [reply, has_count, count, withscores](Status st, bool, Entries es) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    std::vector<size_t> pick;
    if (!es.empty()) {
      if (count >= 0) {
        std::vector<size_t> idx(es.size());
        for (size_t i = 0; i < idx.size(); i++) idx[i] = i;
        std::shuffle(idx.begin(), idx.end(), Rng());
        idx.resize(std::min<size_t>(idx.size(), size_t(count)));
        pick = std::move(idx);
      } else {
        for (int64_t i = 0; i < -count; i++) pick.push_back(Rng()() % es.size());
      }
    }
    reply.Send([&](RespWriter& w) {
      if (!has_count) {
        if (pick.empty()) return w.Null();
        return w.Bulk(es[pick[0]].member);
      }
      SendEntries(w, es, pick, withscores);
    });
  });
}

// ZSCAN key cursor [MATCH pattern] [COUNT count]: one reply, cursor 0 (as HSCAN).
void CmdZscan(CommandCtx& ctx) {
  std::string pattern;
  bool novalues;
  if (!ParseElementScan(ctx, /*allow_novalues=*/false, &pattern, &novalues)) return;
  ReplyTo reply = ctx.reply;
  ReadAllElements(ctx.server, ctx.args[1], kZset, [reply, pattern](Status st, bool, ElementList all) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    std::vector<std::pair<std::string, double>> keep;
    for (auto& [m, v] : all) {
      double d;
      if ((pattern.empty() || StringMatch(pattern, m)) && DecodeScore(v, &d)) keep.emplace_back(std::move(m), d);
    }
    reply.Send([&](RespWriter& w) {
      w.Array(2);
      w.Bulk("0");
      w.Array(keep.size() * 2);
      for (auto& [m, d] : keep) {
        w.Bulk(m);
        w.Double17(d);
      }
    });
  });
}

}  // namespace

void ReadZsetMembers(Server* s, const std::string& key,
                     std::function<void(Status, std::vector<std::string>)> done) {
  ReadZset(s, key, [done = std::move(done)](Status st, bool, Entries es) {
    std::vector<std::string> out;
    out.reserve(es.size());
    for (auto& e : es) out.push_back(std::move(e.member));
    done(st, std::move(out));
  });
}

void RegisterZset(std::vector<CommandSpec>* t) {
  const uint32_t W = kCmdWrite, R = kCmdReadonly, F = kCmdFast;
  t->push_back({"zadd", -4, W | F | kCmdHeaderAdd, CmdZadd, 1, 1, 1});
  t->push_back({"zcard", 2, R | F, CmdZcard, 1, 1, 1});
  t->push_back({"zcount", 4, R | F, CmdZcount, 1, 1, 1});
  t->push_back({"zdiff", -3, R, CmdZdiff, 0, 0, 0});
  t->push_back({"zdiffstore", -4, W, CmdZdiffstore, 1, 1, 1});
  t->push_back({"zincrby", 4, W | F, CmdZincrby, 1, 1, 1});
  t->push_back({"zinter", -3, R, CmdZinter, 0, 0, 0});
  t->push_back({"zintercard", -3, R, CmdZintercard, 0, 0, 0});
  t->push_back({"zinterstore", -4, W, CmdZinterstore, 1, 1, 1});
  t->push_back({"zlexcount", 4, R | F, CmdZlexcount, 1, 1, 1});
  t->push_back({"zmscore", -3, R | F, CmdZmscore, 1, 1, 1});
  t->push_back({"zpopmax", -2, W | F, CmdZpopmax, 1, 1, 1});
  t->push_back({"zpopmin", -2, W | F, CmdZpopmin, 1, 1, 1});
  t->push_back({"zrandmember", -2, R, CmdZrandmember, 1, 1, 1});
  t->push_back({"zrange", -4, R, CmdZrange, 1, 1, 1});
  t->push_back({"zrangebylex", -4, R, CmdZrangebylex, 1, 1, 1});
  t->push_back({"zrangebyscore", -4, R, CmdZrangebyscore, 1, 1, 1});
  t->push_back({"zrangestore", -5, W, CmdZrangestore, 1, 2, 1});
  t->push_back({"zrank", 3, R | F, CmdZrank, 1, 1, 1});
  t->push_back({"zrem", -3, W | F, CmdZrem, 1, 1, 1});
  t->push_back({"zremrangebylex", 4, W, CmdZremrangebylex, 1, 1, 1});
  t->push_back({"zremrangebyrank", 4, W, CmdZremrangebyrank, 1, 1, 1});
  t->push_back({"zremrangebyscore", 4, W, CmdZremrangebyscore, 1, 1, 1});
  t->push_back({"zrevrange", -4, R, CmdZrevrange, 1, 1, 1});
  t->push_back({"zrevrangebylex", -4, R, CmdZrevrangebylex, 1, 1, 1});
  t->push_back({"zrevrangebyscore", -4, R, CmdZrevrangebyscore, 1, 1, 1});
  t->push_back({"zrevrank", 3, R | F, CmdZrevrank, 1, 1, 1});
  t->push_back({"zscan", -3, R, CmdZscan, 1, 1, 1});
  t->push_back({"zscore", 3, R | F, CmdZscore, 1, 1, 1});
  t->push_back({"zunion", -3, R, CmdZunion, 0, 0, 0});
  t->push_back({"zunionstore", -4, W, CmdZunionstore, 1, 1, 1});
}

}  // namespace dynakv::server
