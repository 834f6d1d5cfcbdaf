// server/commands.cc: the command table, dispatch (arity, auth), shared helpers, and the
// key operations every command group builds on.
#include "server/commands.h"
#include "server/collections.h"
#include "server/lists.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <unordered_map>

namespace dynakv::server {

const std::vector<CommandSpec>& CommandTable() {
  static const std::vector<CommandSpec> kTable = [] {
    std::vector<CommandSpec> t;
    RegisterGeneric(&t);
    RegisterStrings(&t);
    RegisterKeys(&t);
    RegisterDynamo(&t);
    RegisterTx(&t);
    RegisterKeyspace(&t);
    RegisterBits(&t);
    RegisterPubSub(&t);
    RegisterHash(&t);
    RegisterSet(&t);
    RegisterZset(&t);
    RegisterList(&t);
    RegisterDebug(&t);
    RegisterMetrics(&t);
    std::sort(t.begin(), t.end(), [](const CommandSpec& a, const CommandSpec& b) {
      return std::strcmp(a.name, b.name) < 0;
    });
    return t;
  }();
  return kTable;
}

const CommandSpec* LookupCommand(std::string_view name) {
  // Looked up once per command: a hash of the lower-cased name (short names stay in the
  // string's inline buffer, so no allocation).
  static const std::unordered_map<std::string, const CommandSpec*> kByName = [] {
    std::unordered_map<std::string, const CommandSpec*> m;
    for (const auto& c : CommandTable()) m.emplace(c.name, &c);
    return m;
  }();
  if (name.size() >= 32) return nullptr;
  std::string key(name);
  for (char& ch : key) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  auto it = kByName.find(key);
  return it == kByName.end() ? nullptr : it->second;
}

std::string ErrorText(const Status& s) {
  switch (s.code()) {
    case Code::kUnavailable:
    case Code::kTimeout:
      return "UNAVAILABLE " + s.message();
    case Code::kNoSpace:
      return "ERR disk full, write not stored: " + s.message();
    case Code::kIOError:
      return "ERR storage error: " + s.message();
    case Code::kCorruption:
      return "ERR corrupted data: " + s.message();
    default: {
      // Messages from handlers may already carry a Redis error code (e.g. "WRONGTYPE ...").
      const std::string& m = s.message();
      if (!m.empty() && std::isupper(static_cast<unsigned char>(m[0]))) {
        auto sp = m.find(' ');
        std::string first = m.substr(0, sp);
        bool all_upper = std::all_of(first.begin(), first.end(), [](char ch) { return std::isupper(static_cast<unsigned char>(ch)); });
        if (all_upper && first.size() > 1) return m;
      }
      return "ERR " + m;
    }
  }
}

bool ParseInt64(std::string_view s, int64_t* out) { return protocol::ParseRedisInt(s, out); }

bool ParseLongDouble(std::string_view s, long double* out) { return protocol::ParseRedisLongDouble(s, out); }
std::string FormatLongDouble(long double d) { return protocol::FormatRedisLongDouble(d); }

// Glob matching with Redis's rules: * ? [abc] [^a] [a-z] and backslash escapes.
//
// Iterative, with one backtrack point (the last '*'): on a mismatch the text position after
// that star moves on by one and matching resumes from just after the star. Earlier stars
// never need revisiting (the last star can absorb whatever they would), so the cost is
// O(|pattern| * |string|) in the worst case, never exponential: the recursive matcher this
// replaces took minutes on "a*a*...*b" against a 40-byte key and froze the event loop (the
// same bug as Redis's CVE-2022-36021).
namespace {

// Nanoseconds of the steady clock: a command's start and end (command statistics, SLOWLOG).
uint64_t SteadyNs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

// Matches one pattern element at p[pi] (not '*') against ch; *next is the element after it.
bool MatchOne(std::string_view p, size_t pi, char ch, bool nocase, size_t* next) {
  auto fold = [nocase](char c) {
    return nocase ? char(std::tolower(static_cast<unsigned char>(c))) : c;
  };
  char c = p[pi];
  if (c == '?') {
    *next = pi + 1;
    return true;
  }
  if (c == '[') {
    size_t j = pi + 1;
    bool neg = j < p.size() && p[j] == '^';
    if (neg) j++;
    bool match = false;
    while (j < p.size() && p[j] != ']') {
      if (p[j] == '\\' && j + 1 < p.size()) {
        j++;
        if (fold(p[j]) == fold(ch)) match = true;
        j++;
      } else if (j + 2 < p.size() && p[j + 1] == '-' && p[j + 2] != ']') {
        char lo = fold(p[j]), hi = fold(p[j + 2]);
        if (lo > hi) std::swap(lo, hi);
        char x = fold(ch);
        if (x >= lo && x <= hi) match = true;
        j += 3;
      } else {
        if (fold(p[j]) == fold(ch)) match = true;
        j++;
      }
    }
    *next = j < p.size() ? j + 1 : j;
    return neg ? !match : match;
  }
  if (c == '\\' && pi + 1 < p.size()) {
    pi++;
    c = p[pi];
  }
  *next = pi + 1;
  return fold(c) == fold(ch);
}

}  // namespace

bool StringMatch(std::string_view p, std::string_view s, bool nocase) {
  size_t pi = 0, si = 0;
  size_t star_p = std::string_view::npos, star_s = 0;  // after the last '*', and where it resumed
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      while (pi < p.size() && p[pi] == '*') pi++;
      if (pi == p.size()) return true;
      star_p = pi;
      star_s = si;
      continue;
    }
    size_t next = 0;
    if (pi < p.size() && MatchOne(p, pi, s[si], nocase, &next)) {
      pi = next;
      si++;
      continue;
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p;  // let the last star absorb one more character
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '*') pi++;
  return pi == p.size();
}

// s equals the lower-case `lower`, ignoring the case of s.
static bool EqualsLower(std::string_view s, const char* lower) {
  size_t i = 0;
  for (; i < s.size(); ++i) {
    if (lower[i] == '\0' || std::tolower(static_cast<unsigned char>(s[i])) != lower[i]) return false;
  }
  return lower[i] == '\0';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

void ReplyErr(ReplyTo& r, const std::string& msg) {
  r.Send([&](protocol::RespWriter& w) { w.Error(msg); });
}

// A subscribed RESP2 connection carries pushes; Redis refuses other commands on it.
static void ReplyPubSubOnly(CommandCtx& ctx, const CommandSpec& spec) {
  std::string name = spec.name;
  static const char* const kContainers[] = {"client", "command", "config", "pubsub", "object", "memory"};
  if (ctx.args.size() >= 2 && std::any_of(std::begin(kContainers), std::end(kContainers),
                                          [&](const char* n) { return name == n; })) {
    name += "|" + Lower(ctx.args[1]);  // Redis names the subcommand: 'client|info'
  }
  ReplyErr(ctx, "ERR Can't execute '" + name +
                    "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
}

// SLOWLOG never shows a password: AUTH's arguments and HELLO's AUTH user pass read
// "(redacted)", as Redis 7's.
static void RedactSecrets(const CommandSpec* spec, std::vector<std::string>* args) {
  if (std::strcmp(spec->name, "auth") == 0) {
    for (size_t i = 1; i < args->size(); i++) (*args)[i] = "(redacted)";
  } else if (std::strcmp(spec->name, "hello") == 0) {
    for (size_t i = 2; i < args->size(); i++) {
      if (!EqualsLower((*args)[i], "auth")) continue;
      for (size_t j = i + 1; j < args->size() && j <= i + 2; j++) (*args)[j] = "(redacted)";
      i += 2;
    }
  }
}

void Server::Dispatch(const std::shared_ptr<Client>& c) {
  // EXEC (commands_tx.cc) or a command that yields (ForEachBounded) is still running: this
  // command waits for it.
  if (c->in_exec || c->yielding > 0) {
    c->after_exec.push_back(std::move(c->args));
    c->args.clear();
    return;
  }
  c->waiting.emplace_back();
  CommandCtx ctx{this, c, std::move(c->args), ReplyTo(c, &c->waiting.back())};
  c->args.clear();
  // Clients mostly repeat one command (a pipeline of SETs): compare with the last one before
  // hashing the name.
  const CommandSpec* spec = c->last_spec;
  if (spec == nullptr || !EqualsLower(ctx.args[0], spec->name)) {
    spec = LookupCommand(ctx.args[0]);
    if (spec != nullptr) c->last_spec = spec;
  }
  if (spec == nullptr) {
    std::string msg = "ERR unknown command '" + ctx.args[0] + "', with args beginning with: ";
    for (size_t i = 1; i < ctx.args.size() && i < 20; i++) msg += "'" + ctx.args[i].substr(0, 128) + "' ";
    FlagTransactionError(c.get());
    ctx.reply.Send([&](protocol::RespWriter& w) { w.Error(msg); });
    return;
  }
  c->last_cmd = spec->name;
  int argc = int(ctx.args.size());
  if ((spec->arity > 0 && argc != spec->arity) || (spec->arity < 0 && argc < -spec->arity)) {
    std::string msg = "ERR wrong number of arguments for '" + Lower(ctx.args[0]) + "' command";
    metrics_.RecordRejected(spec);
    FlagTransactionError(c.get());
    ctx.reply.Send([&](protocol::RespWriter& w) { w.Error(msg); });
    return;
  }
  if (!c->authed && !(spec->flags & kCmdNoAuth)) {
    metrics_.RecordRejected(spec);
    FlagTransactionError(c.get());
    ctx.reply.Send([](protocol::RespWriter& w) { w.Error("NOAUTH Authentication required."); });
    return;
  }
  if (c->subscriptions > 0 && c->proto == 2 && !(spec->flags & kCmdPubSubOk)) {
    metrics_.RecordRejected(spec);
    return ReplyPubSubOnly(ctx, *spec);
  }
  // Nothing but this compare unless the client fetched a slot map (redis_cluster_api).
  if (c->slots_epoch != 0 && spec->first_key > 0 && RedirectIfMoved(ctx, *spec)) {
    metrics_.RecordRejected(spec);
    FlagTransactionError(c.get());  // as Redis Cluster: a MOVED while queuing aborts EXEC
    return;
  }
  if (c->in_multi && QueueIfInMulti(ctx, spec)) return;  // counted when EXEC runs (as EXEC)
  // Command statistics (metrics.h): the reply's completion (OnReply) measures from here.
  PendingReply* slot = &c->waiting.back();
  bool slowlog = cfg_.slowlog_log_slower_than >= 0 && cfg_.slowlog_max_len > 0;
  if (slowlog) {
    SlowLog::TruncateArgs(ctx.args, &c->slow_args);
    RedactSecrets(spec, &c->slow_args);
  }
  // Held header writes and list queues (docs/ARCHITECTURE.md "Held header writes") stay
  // open only across commands of their kind; anything else sees each held command as if it
  // had run alone. Closed before this command's clock starts: their work is not its.
  bool header_add = hold_scopes > 0 && (spec->flags & kCmdHeaderAdd) != 0;
  bool list_hold = hold_scopes > 0 && (spec->flags & kCmdListHold) != 0;
  if (!header_add && cluster::HasHeldHeaders(this)) cluster::FlushHeldHeaders(this);
  if (!list_hold && cluster::HasHeldLists(this)) cluster::FlushHeldLists(this);
  slot->spec = spec;
  slot->data_free = (spec->flags & kCmdNoData) != 0;
  slot->bounded = false;
  slot->start_ns = SteadyNs();
  c->dispatching = slot;
  {
    OwnerScope owner(this, c);
    bool hold = std::exchange(hold_header_flights, header_add);
    bool hold_lists = std::exchange(hold_list_queues, list_hold);
    spec->handler(ctx);
    hold_header_flights = hold;
    hold_list_queues = hold_lists;
  }
  if (c->dispatching == slot) {  // still running: it completes later
    c->dispatching = nullptr;
    // SLOWLOG counts execution, as Redis does: a command waiting for other replicas or for
    // the disk is logged here with the time its handler ran, not the wait (under a cluster's
    // load every write waited longer than the threshold: the log was all plain SETs, and
    // copying their arguments into it cost 3% of a coordinator's CPU). A command that works
    // over several turns keeps its arguments and is judged when it replies.
    if (slowlog && slot->bounded) {
      slot->slow_args.swap(c->slow_args);
    } else if (slowlog) {
      LogIfSlow(c.get(), (SteadyNs() - slot->start_ns) / 1000, c->slow_args);
    }
  }
  // Hand the argument strings back so the parser reuses their buffers for the next command
  // (handlers copy or move what they keep).
  if (c->args.empty()) c->args = std::move(ctx.args);
}

void Server::LogIfSlow(Client* c, uint64_t usec, const std::vector<std::string>& args) {
  int64_t slower = cfg_.slowlog_log_slower_than;
  if (slower < 0 || cfg_.slowlog_max_len <= 0 || usec < uint64_t(slower)) return;
  metrics_.slowlog().Add(int64_t(WallMs() / 1000), usec, args, c->peer, c->name,
                         size_t(cfg_.slowlog_max_len));
}

void Server::OnReply(Client* c, PendingReply* slot, std::string_view reply) {
  bool error = !reply.empty() && reply[0] == '-';
  if (error) metrics_.RecordError(reply);
  const CommandSpec* spec = slot->spec;
  if (spec == nullptr) return;
  slot->spec = nullptr;
  uint64_t usec = (SteadyNs() - slot->start_ns) / 1000;
  metrics_.RecordCall(spec, usec, error);
  bool sync = c->dispatching == slot;
  if (sync) c->dispatching = nullptr;
  if (sync || slot->bounded) LogIfSlow(c, usec, sync ? c->slow_args : slot->slow_args);
  // A command that completed later hands its argument buffers back to the client's, for the
  // next command to reuse (none is being dispatched, so the client's is free).
  if (!sync && c->dispatching == nullptr && c->slow_args.capacity() < slot->slow_args.capacity()) {
    c->slow_args.swap(slot->slow_args);
  }
  uint64_t threshold = uint64_t(cfg_.latency_monitor_threshold);
  if (threshold > 0 && usec / 1000 >= threshold) {
    metrics_.AddLatencySample((spec->flags & kCmdFast) ? "fast-command" : "command",
                              int64_t(WallMs() / 1000), usec / 1000);
  }
}

// ---- per-turn bounds -------------------------------------------------------------------

namespace {
uint64_t MonoUs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

// Steps [from, n) until the turn's budget is spent, then yields; the client's next commands
// wait (Client::yielding counts the runs that yielded) until the last step of every such run
// was issued, so a pipeline keeps its order.
void RunBounded(Server* s, std::shared_ptr<Client> c, std::shared_ptr<std::function<void(size_t)>> step,
                size_t from, size_t n, bool yielded) {
  TurnBudget budget;
  size_t i = from;
  {
    OwnerScope scope(s, c);
    while (i < n) {
      (*step)(i++);
      if ((i & 15) == 0 && budget.Spent()) break;
    }
  }
  if (i < n) {
    if (!yielded) c->yielding++;
    return s->Yield([s, c, step, i, n] { RunBounded(s, c, step, i, n, true); });
  }
  if (!yielded || --c->yielding > 0) return;
  while (!c->in_exec && c->yielding == 0 && !c->after_exec.empty() && !c->closing) {
    c->args = std::move(c->after_exec.front());
    c->after_exec.pop_front();
    s->Dispatch(c);
    c->args.clear();
  }
}
}  // namespace

TurnBudget::TurnBudget() : start_us_(MonoUs()) {}
bool TurnBudget::Spent() const { return MonoUs() - start_us_ >= kTurnBudgetUs; }

void ForEachBounded(Server* s, const std::shared_ptr<Client>& c, size_t n, std::function<void(size_t)> step) {
  MarkBounded(c);
  if (c == nullptr || c->in_exec) {
    for (size_t i = 0; i < n; i++) step(i);
    return;
  }
  RunBounded(s, c, std::make_shared<std::function<void(size_t)>>(std::move(step)), 0, n, false);
}

// ---- key operations -------------------------------------------------------------------

namespace {
// Takes the record: the winner's bytes are moved into the view, not copied (a 100 MB value
// is copied once fewer on every read).
KeyView Resolve(cluster::Record&& rec, uint64_t now_ms) {
  KeyView v;
  v.context = rec.context;
  cluster::HeaderView hv;
  bool has_header = std::any_of(rec.siblings.begin(), rec.siblings.end(), [](const cluster::Sibling& sib) {
    return sib.kind == cluster::ValueKind::kCollection;
  });
  if (has_header && cluster::ViewHeader(rec, now_ms, &hv).ok() && hv.kind == cluster::KeyType::kCollection) {
    v.exists = true;
    v.kind = cluster::ValueKind::kCollection;
    v.expiry_ms = hv.expiry_ms;
    hv.decider = nullptr;  // points into `rec`
    v.header = std::move(hv);
    v.siblings = cluster::LiveSiblings(rec, now_ms).size();
    return v;
  }
  v.siblings = cluster::LiveSiblings(rec, now_ms).size();
  const cluster::Sibling* win = cluster::Winner(rec, now_ms);
  if (win == nullptr) return v;
  if (win->kind == cluster::ValueKind::kCounter) {
    if (!cluster::ResolveValue(rec, now_ms, &v.value).ok()) {
      v.value.clear();
      return v;
    }
  } else {
    v.value = std::move(rec.siblings[size_t(win - rec.siblings.data())].value);
  }
  v.exists = true;
  v.expiry_ms = win->expiry_ms;
  v.flags = win->flags;
  v.kind = win->kind;
  return v;
}
}  // namespace

const char* const kWrongType = cluster::kWrongTypeError;

void ReadKey(Server* s, const std::string& key, int r, KeyCallback done) {
  ReadAnyKey(s, key, r, [done = std::move(done)](Status st, KeyView v) {
    if (st.ok() && v.kind == cluster::ValueKind::kCollection) return done(Status::Invalid(kWrongType), KeyView{});
    done(st, std::move(v));
  });
}

void ReadAnyKey(Server* s, const std::string& key, int r, KeyCallback done) {
  s->node()->Read(key, r, TimeRead(s, [s, owner = s->write_owner, done = std::move(done)](Status st, cluster::ReadReply reply) {
    OwnerScope scope(s, owner);
    if (!st.ok()) {
      done(st, KeyView{});
      return;
    }
    KeyView v = Resolve(std::move(reply.record), s->WallMs());
    if (v.exists) s->stats().keyspace_hits++;
    else s->stats().keyspace_misses++;
    done(Status::OK(), std::move(v));
  }));
}

namespace {
// Counts a write as its client's (Client::pending_writes, last_write_*: WAIT) and keeps the
// client as the write owner while `done` runs (a command may write again from there).
WriteDone TrackWrite(Server* s, WriteDone done) {
  std::shared_ptr<Client> owner = s->write_owner.lock();
  if (!owner) return TimeWrite(s, std::move(done));
  owner->pending_writes++;
  return TimeWrite(s, [s, owner, done = std::move(done)](Status st, cluster::WriteReply wr) {
    owner->pending_writes--;
    if (st.ok()) {
      owner->last_write_copies = wr.copies;
      owner->last_write_progress = wr.progress;
    }
    OwnerScope scope(s, owner);
    done(st, std::move(wr));
  });
}
}  // namespace

cluster::WriteDone Server::TrackedWrite(cluster::WriteDone done) { return TrackWrite(this, std::move(done)); }
cluster::Node::ReadCallback Server::TimedRead(cluster::Node::ReadCallback done) {
  return TimeRead(this, std::move(done));
}

void WriteValue(Server* s, const std::string& key, std::string value, uint64_t expiry_ms,
                uint32_t flags, const cluster::VersionVector* ctx, int w, WriteDone done,
                bool want_context) {
  cluster::WriteRequest req;
  req.op = cluster::OpKind::kPut;
  req.value.kind = cluster::ValueKind::kPlain;
  req.value.value = std::move(value);
  req.value.expiry_ms = expiry_ms;
  req.value.flags = flags;
  if (ctx) {
    req.has_context = true;
    req.context = *ctx;
  }
  req.w = w;
  req.want_record = false;  // no caller of WriteValue looks at WriteReply::record
  req.want_context = want_context;
  s->node()->Write(key, std::move(req), TrackWrite(s, std::move(done)));
}

void DeleteValue(Server* s, const std::string& key, const cluster::VersionVector* ctx, int w,
                 WriteDone done) {
  cluster::WriteRequest req;
  req.op = cluster::OpKind::kDelete;
  req.value.kind = cluster::ValueKind::kTombstone;
  if (ctx) {
    req.has_context = true;
    req.context = *ctx;
  }
  req.w = w;
  s->node()->Write(key, std::move(req), TrackWrite(s, std::move(done)));
}

void CounterAdd(Server* s, const std::string& key, int64_t delta, WriteDone done) {
  cluster::WriteRequest req;
  req.op = cluster::OpKind::kCounterAdd;
  req.delta = delta;
  s->node()->Write(key, std::move(req), TrackWrite(s, std::move(done)));
}

void WriteTracked(Server* s, const std::string& key, cluster::WriteRequest req, WriteDone done,
                  bool record_key) {
  if (record_key) s->node()->WriteRecord(key, std::move(req), TrackWrite(s, std::move(done)));
  else s->node()->Write(key, std::move(req), TrackWrite(s, std::move(done)));
}

void CounterSetExpiry(Server* s, const std::string& key, uint64_t expiry_ms, WriteDone done) {
  cluster::WriteRequest req;
  req.op = cluster::OpKind::kCounterAdd;
  req.delta = 0;
  req.value.kind = cluster::ValueKind::kCounter;
  req.value.expiry_ms = expiry_ms;
  s->node()->Write(key, std::move(req), TrackWrite(s, std::move(done)));
}

}  // namespace dynakv::server
