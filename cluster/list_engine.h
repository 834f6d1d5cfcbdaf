// cluster/list_engine.h: the list engine (issue #16): the steps Redis's list commands are
// built on (server/commands_list.cc). Positions and the header's reach: cluster/collection.h;
// the design and its concurrent semantics: docs/ARCHITECTURE.md, "Lists".
//
// Every list command on one key runs through that key's queue on this host (ListQueued), one
// at a time in arrival order, so a pipeline's LPUSH then LPOP see each other and two pops
// through one host never take the same element. Consecutive pushes are one batch (one header
// read and write), and so are consecutive pops (one read of the list's end); consecutive
// reads run at once. Through different hosts, commands run concurrently: pushes both
// survive, and two pops may take the same element (README, "Lists").
//
// The length (LLEN, the push replies) is a PN-counter per generation (element kLenElement),
// pushes adding and removals subtracting what they removed. It is exact while no element is
// removed by two hosts at once; each such double removal makes it one lower until the list
// is emptied (an emptied list is deleted, and the next push starts a new generation).
//
// Like the other collection steps (collection_engine.h), these do no I/O of their own: they
// run against a ListHost, which the server is (server/server.h) and the simulator's hosts
// are (tests/sim), so the simulator drives the same list code as a real node.
// Thread-safety: the host's thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/collection_engine.h"

namespace dynakv::cluster {

constexpr char kListType = static_cast<char>(CollectionType::kList);

struct ListQueues;  // list_engine.cc: per-key queues and head hints

// What the list steps run against: a collection host plus a monotonic clock, the tombstone
// grace (it bounds how long head hints are used), a random tag per new position, and a hook
// for pushes (the server wakes blocked pops with it).
class ListHost : public CollectionHost {
 public:
  virtual uint64_t MonoMs() = 0;            // monotonic ms
  virtual uint64_t TombstoneGraceMs() = 0;  // storage.tombstone_grace_s in ms
  // A tag for a new position: random, so concurrent inserts never collide (the simulator
  // draws it from its seed).
  virtual uint64_t DrawListTag();
  // A push through this host was acknowledged (RunPushes, ListPushNow, ListInsertNow).
  virtual void OnListPushed(const std::string& /*key*/) {}
  // Whether `key`'s queue may be held (hold_list_queues below). The server says no while a
  // pop is blocked on the key: a push must wake it before the next command runs, as in Redis.
  virtual bool MayHoldList(const std::string& /*key*/) { return true; }

  std::shared_ptr<ListQueues> list_queues;  // created on first use

  // Set by the host only while it runs a push or pop (LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP;
  // server/commands.h kCmdListHold). Such a command finding its key's queue idle leaves it
  // *held*: queued but not started, so the pushes and pops that follow join its batch (one
  // header read and write for the pushes, one read of the end for the pops) instead of each
  // running alone, as on a standalone node every command completes before the next one
  // arrives. The host must call FlushHeldLists before any other command runs and before it
  // returns to its event loop (docs/ARCHITECTURE.md, "Lists", "Held queues").
  bool hold_list_queues = false;
  std::vector<std::string> held_list_keys;  // keys whose queue is held
};

// Starts every held queue (its commands run in arrival order, batched as usual). Nothing is
// held afterwards.
void FlushHeldLists(ListHost* s);
inline bool HasHeldLists(const ListHost* s) { return !s->held_list_keys.empty(); }

// One present element of a list, as read.
struct ListItem {
  std::string pos;    // its position (element bytes)
  std::string value;
  uint64_t gen = 0;   // the generation holding it
  VersionVector ctx;  // its record's context (a removal supersedes what was read)
  std::string prev;   // the record before it in its generation as read (removed or not);
                      // filled only by a read of the whole list
};

// What a queued command reads: the key's header and, when asked, its elements.
struct ListView {
  CollectionState cs;
  std::vector<ListItem> items;  // present elements in list order (the first `n` asked)
  bool complete = false;        // items holds every present element
  uint64_t hint_base_ms = 0;    // the read skipped a head hint's span: its chain's start (list_engine.cc)
  bool hinted = false;          // the read skipped a head hint's span
};

// Runs `op` when every earlier list command on `key` from this host is done; `op` calls
// `release` when it is done (before or after replying). A read_only op (LRANGE, LINDEX,
// LPOS, LLEN) runs together with the read-only ops queued next to it.
using ListRelease = std::function<void()>;
void ListQueued(ListHost* s, const std::string& key, std::function<void(ListRelease)> op,
                bool read_only = false);

// Reads the header and the first `n` present elements (SIZE_MAX: all). Errors: WRONGTYPE.
void ListRead(ListHost* s, const std::string& key, size_t n, std::function<void(Status, ListView)> done);

// Pushes (queued, batched): done(status, length after; 0 and nothing written when
// only_if_exists and the key is missing).
void ListPush(ListHost* s, const std::string& key, bool left, std::vector<std::string> values,
              bool only_if_exists, std::function<void(Status, int64_t)> done);

// Pops up to `count` (queued, batched): done(status, existed, values).
void ListPop(ListHost* s, const std::string& key, bool left, size_t count,
             std::function<void(Status, bool, std::vector<std::string>)> done);

// Not queued (for a queued op): removes `items` of the list in `view` (tombstones with the
// contexts read, the length counter lowered), then deletes the list when `view` was complete
// and nothing is left. done(status).
void ListRemoveNow(ListHost* s, const std::string& key, const ListView& view, std::vector<ListItem> items,
                   std::function<void(Status)> done);

// Not queued: writes `values` at the head (left) or tail of the list whose header is `cs`;
// done(status, length after).
void ListPushNow(ListHost* s, const std::string& key, const CollectionState& cs, bool left,
                 std::vector<std::string> values, std::function<void(Status, int64_t)> done);

// Not queued: LINSERT's element at `pos` (between two neighbours), done(status, length).
void ListInsertNow(ListHost* s, const std::string& key, const CollectionState& cs, std::string pos,
                   std::string value, std::function<void(Status, int64_t)> done);

// LLEN (not queued: a read).
void ListLength(ListHost* s, const std::string& key, std::function<void(Status, int64_t)> done);

}  // namespace dynakv::cluster
