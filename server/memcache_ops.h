// server/memcache_ops.h: the memcached operations the text/meta front end (server/memcache.cc)
// and the binary front end (server/memcache_binary.cc) share: store (set/add/replace/append/
// prepend, optionally with a cas), delete, incr/decr, touch, expiry conversion, the counters
// behind `stats`. Defined in server/memcache.cc; their semantics over the Dynamo core (cas as
// a hash of the causal context, read-then-write with the read context) are described there.
// Thread-safety: loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/commands.h"

namespace dynakv::server::mcops {

constexpr const char* kMcVersion = "1.6.21-dynakv";

// memcached's counters, per server (a process normally runs one).
struct McStats {
  uint64_t cmd_get = 0, cmd_set = 0, cmd_flush = 0, cmd_touch = 0, cmd_meta = 0;
  uint64_t get_hits = 0, get_misses = 0, delete_hits = 0, delete_misses = 0;
  uint64_t incr_hits = 0, incr_misses = 0, decr_hits = 0, decr_misses = 0;
  uint64_t cas_hits = 0, cas_misses = 0, cas_badval = 0, touch_hits = 0, touch_misses = 0;
  uint64_t store_too_large = 0, total_items = 0;
  uint64_t auth_cmds = 0, auth_errors = 0;
};
McStats& StatsFor(Server* s);

// memcached exptime (0 never; < 0 expired; <= 30 days relative; else unix time) -> unix ms.
uint64_t ExpiryMs(Server* s, int64_t exptime);

enum class StoreResult { kStored, kNotStored, kExists, kNotFound, kNoMemory };
using StoreDone = std::function<void(Status, StoreResult, uint64_t cas)>;
// mode: S set, E add, R replace, A append, P prepend. cas (optional) must match.
void DoStore(Server* s, std::string key, std::string data, uint32_t flags, uint64_t expiry_ms,
             char mode, std::optional<uint64_t> cas, StoreDone done);

enum class DelResult { kDeleted, kNotFound, kExists };
void DoDelete(Server* s, std::string key, std::optional<uint64_t> cas,
              std::function<void(Status, DelResult)> done);

struct ArithResult {
  enum Code { kOk, kNotFound, kNonNumeric, kExists } code = kOk;
  uint64_t value = 0;
  uint64_t cas = 0;
  uint64_t expiry_ms = 0;
};
struct ArithArgs {
  bool incr = true;
  uint64_t delta = 1;
  std::optional<uint64_t> cas;
  bool vivify = false;  // ma N / binary incr: create with `initial` on a miss
  uint64_t initial = 0;
  uint64_t vivify_expiry_ms = 0;
};
void DoArith(Server* s, std::string key, ArithArgs a, std::function<void(Status, ArithResult)> done);

// Rewrites the current value with a new expiry (touch, gat, mg T). cur must exist.
void DoTouch(Server* s, const std::string& key, const KeyView& cur, uint64_t expiry_ms, WriteDone done);

// The `stats [group]` values, in memcached's order. kUnknown: no such group.
enum class StatsGroup { kOk, kReset, kUnknown };
StatsGroup CollectStats(Server* s, const std::string& group,
                        std::vector<std::pair<std::string, std::string>>* out);

}  // namespace dynakv::server::mcops
