// server/commands.h: the one command table (name, arity, flags, handler) and the context a
// handler gets. Handlers parse their arguments, call the coordinator (cluster::Node), and
// reply through ReplyTo, exactly once, possibly later (after replicas answer).
// Thread-safety: loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/collection.h"
#include "server/server.h"

namespace dynakv::server {

enum CommandFlags : uint32_t {
  kCmdWrite = 1 << 0,
  kCmdReadonly = 1 << 1,
  kCmdNoAuth = 1 << 2,  // allowed before AUTH (AUTH, HELLO, QUIT)
  kCmdAdmin = 1 << 3,
  kCmdFast = 1 << 4,
  kCmdTxControl = 1 << 5,  // runs at once inside MULTI (EXEC DISCARD MULTI WATCH QUIT RESET)
  kCmdPubSubOk = 1 << 6,  // allowed to a subscribed RESP2 client (commands_pubsub.cc)
  // Adds to a hash, set or sorted set and touches the header only through WriteHeaderFor
  // (HSET HMSET HSETNX SADD ZADD): runs with held header writes open, and may hold its own
  // (cluster::CollectionHost::hold_header_flights). Every other command closes them first.
  kCmdHeaderAdd = 1 << 7,
  // A list push or pop that only queues on its key (LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP):
  // runs with held list queues open, and may hold its own (cluster::ListHost::hold_list_queues).
  kCmdListHold = 1 << 8,
  // Its reply shows nothing stored (PING ECHO TIME HELLO AUTH SELECT QUIT COMMAND): on a
  // connection with nothing else to send it leaves without waiting for the group commit in
  // flight (Server::CommitAndFlush).
  kCmdNoData = 1 << 9,
};

// Closes what the adds and list commands run just before held open (held header writes,
// held list queues): before any command that is not of their kind, and before the server
// returns to its loop. docs/ARCHITECTURE.md, "Held header writes".
inline void CloseHeld(Server* s) {
  if (cluster::HasHeldHeaders(s)) cluster::FlushHeldHeaders(s);
  if (cluster::HasHeldLists(s)) cluster::FlushHeldLists(s);
}

// Where commands may hold (Server::hold_scopes): HandleInput and RunDeferred. The last scope
// to end closes what was held.
class HoldScope {
 public:
  explicit HoldScope(Server* s) : s_(s) { ++s_->hold_scopes; }
  ~HoldScope() {
    if (--s_->hold_scopes == 0) CloseHeld(s_);
  }
  HoldScope(const HoldScope&) = delete;
  HoldScope& operator=(const HoldScope&) = delete;

 private:
  Server* s_;
};

struct CommandCtx {
  Server* server;
  std::shared_ptr<Client> client;
  std::vector<std::string> args;  // args[0] is the command name as sent
  ReplyTo reply;
  cluster::Node* node() const { return server->node(); }
};

using Handler = void (*)(CommandCtx& ctx);

struct CommandSpec {
  const char* name;   // lower case
  int arity;          // Redis convention: N exact, -N at least N
  uint32_t flags;
  Handler handler;
  int first_key, last_key, step;  // for COMMAND INFO
};

// The table, sorted by name. Defined in commands.cc.
const std::vector<CommandSpec>& CommandTable();
const CommandSpec* LookupCommand(std::string_view name);

// The one place a Status becomes client-visible error text (RESP side).
std::string ErrorText(const Status& s);

// Small helpers every command group uses.
std::string Lower(std::string_view s);  // ASCII lower case
void ReplyErr(ReplyTo& r, const std::string& msg);
inline void ReplyErr(CommandCtx& ctx, const std::string& msg) { ReplyErr(ctx.reply, msg); }
inline void ReplyStatus(ReplyTo& r, const Status& s) { ReplyErr(r, ErrorText(s)); }

// Shared by the command groups (commands_*.cc).
bool ParseInt64(std::string_view s, int64_t* out);
bool ParseLongDouble(std::string_view s, long double* out);
bool StringMatch(std::string_view pattern, std::string_view str, bool nocase = false);
std::string FormatLongDouble(long double d);  // Redis's INCRBYFLOAT formatting

void RegisterGeneric(std::vector<CommandSpec>* t);
void RegisterStrings(std::vector<CommandSpec>* t);
void RegisterKeys(std::vector<CommandSpec>* t);
void RegisterDynamo(std::vector<CommandSpec>* t);
void RegisterTx(std::vector<CommandSpec>* t);
void RegisterKeyspace(std::vector<CommandSpec>* t);

// Inside MULTI: queue the command (or refuse it and mark the transaction aborted).
// Returns false when the client is not in a transaction or the command is a control one.
bool QueueIfInMulti(CommandCtx& ctx, const CommandSpec* spec);
// A command refused before it ran (unknown, wrong arity, no auth): inside MULTI this aborts
// the transaction, as Redis does.
void FlagTransactionError(Client* c);
// Leaves MULTI and forgets WATCHed keys (EXEC, DISCARD, RESET).
void ClearTransaction(Client* c);
void RegisterBits(std::vector<CommandSpec>* t);  // commands_bits.cc: bits, LCS, SORT
void RegisterPubSub(std::vector<CommandSpec>* t);
void RegisterDebug(std::vector<CommandSpec>* t);  // commands_debug.cc: DEBUG (tests only)
// commands_metrics.cc: SLOWLOG, LATENCY, and INFO's commandstats/errorstats/latencystats.
void RegisterMetrics(std::vector<CommandSpec>* t);
void AppendMetricsInfo(Server* s, std::string_view section, std::string* out);

// cluster.redis_cluster_api: a connection that fetched the slot map before the ring changed
// gets one MOVED for a key whose slot's first owner changed (README, "Cluster-aware
// clients"). Replies and returns true when it did. Defined in commands_dynamo.cc.
bool RedirectIfMoved(CommandCtx& ctx, const CommandSpec& spec);
// cluster.redis_cluster_moved = "all": a new RESP connection counts as holding the current
// map (so it gets MOVED after the next ring change). Defined in commands_dynamo.cc.
void TreatAsFetched(Server* server, Client* c);

}  // namespace dynakv::server

namespace dynakv::server {

// A key as the Redis/memcached commands see it: the deterministic winner among siblings.
struct KeyView {
  bool exists = false;
  std::string value;       // resolved bytes (a counter's decimal)
  uint64_t expiry_ms = 0;  // 0 = none
  uint32_t flags = 0;      // memcached flags
  cluster::ValueKind kind = cluster::ValueKind::kPlain;
  cluster::VersionVector context;  // covers every sibling read (and tombstones)
  size_t siblings = 0;             // live siblings
  // kind kCollection: the collection's header (cluster/collection.h; decider is null).
  cluster::HeaderView header;
};

// Sets Server::write_owner for a scope (a command's handler, a key helper's callback).
class OwnerScope {
 public:
  OwnerScope(Server* s, std::weak_ptr<Client> owner)
      : s_(s), prev_(std::exchange(s->write_owner, std::move(owner))) {}
  ~OwnerScope() { s_->write_owner = std::move(prev_); }
  OwnerScope(const OwnerScope&) = delete;
  OwnerScope& operator=(const OwnerScope&) = delete;

 private:
  Server* s_;
  std::weak_ptr<Client> prev_;
};

using KeyCallback = std::function<void(Status, KeyView)>;
using WriteDone = std::function<void(Status, cluster::WriteReply)>;

extern const char* const kWrongType;  // Redis's WRONGTYPE error text

// Read `key` with quorum r (0 = default) and resolve it as a string: a collection
// (hash, set, ...) answers WRONGTYPE as the status.
void ReadKey(Server* s, const std::string& key, int r, KeyCallback done);
// The same for commands that work on any type (TYPE, EXISTS, DEL, EXPIRE, TTL, ...): a
// collection is kind kCollection with its header in KeyView::header.
void ReadAnyKey(Server* s, const std::string& key, int r, KeyCallback done);
// A write of any request, counted as the client's (WAIT) like the helpers above; key is a
// record key when record_key (a collection's element), else a client key.
void WriteTracked(Server* s, const std::string& key, cluster::WriteRequest req, WriteDone done,
                  bool record_key);
// Write a plain value. ctx null: supersede what the coordinator knows (SET); else causal.
// want_context false: `done` does not read WriteReply::context (SET, MSET: saves a copy).
void WriteValue(Server* s, const std::string& key, std::string value, uint64_t expiry_ms,
                uint32_t flags, const cluster::VersionVector* ctx, int w, WriteDone done,
                bool want_context = true);
// Tombstone write covering ctx (null: what the coordinator knows).
void DeleteValue(Server* s, const std::string& key, const cluster::VersionVector* ctx, int w,
                 WriteDone done);
// Counter CRDT add (INCR family, memcached incr/decr).
void CounterAdd(Server* s, const std::string& key, int64_t delta, WriteDone done);
// A counter's TTL (0 = none), as a counter write: concurrent increments elsewhere still add up.
void CounterSetExpiry(Server* s, const std::string& key, uint64_t expiry_ms, WriteDone done);

// Per-turn bounds (README "Limits"): a command with many keys spends at most kTurnBudgetUs
// of loop time per turn issuing them, then yields (Server::Yield) so other clients are
// served in between. Inside EXEC everything runs at once (a standalone transaction stays
// atomic, commands_tx.cc).
constexpr uint64_t kTurnBudgetUs = 2000;
class TurnBudget {
 public:
  TurnBudget();
  bool Spent() const;

 private:
  uint64_t start_us_;
};
// Calls step(i) for i in [0, n), in order, over as many loop turns as the budget needs; the
// client's next commands wait until the last step was issued. Steps report completion
// themselves (a Gather).
void ForEachBounded(Server* s, const std::shared_ptr<Client>& c, size_t n, std::function<void(size_t)> step);
// The command being dispatched for `c` works over several loop turns (it yields between
// steps): SLOWLOG judges it from dispatch to reply, not by its handler's first turn alone.
inline void MarkBounded(const std::shared_ptr<Client>& c) {
  if (c != nullptr && c->dispatching != nullptr) c->dispatching->bounded = true;
}
inline void ForEachBounded(CommandCtx& ctx, size_t n, std::function<void(size_t)> step) {
  ForEachBounded(ctx.server, ctx.client, n, std::move(step));
}

// Runs `n` async steps and calls `done` once all have called their completion.
using cluster::Gather;

}  // namespace dynakv::server
