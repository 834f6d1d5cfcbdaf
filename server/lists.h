// server/lists.h: the list engine (issue #16) that server/commands_list.cc builds Redis's
// list commands on. Positions and the header's reach: cluster/collection.h; the design and
// its concurrent semantics: docs/ARCHITECTURE.md, "Lists".
//
// Every list command on one key runs through that key's queue on this server (ListQueue),
// one at a time in arrival order, so a pipeline's LPUSH then LPOP see each other and two
// pops through one server never take the same element. Consecutive pushes are one batch (one
// header read and write), and so are consecutive pops (one read of the list's end);
// consecutive reads run at once. Through
// different servers, commands run concurrently: pushes both survive, and two pops may take
// the same element (README, "Lists").
//
// The length (LLEN, the push replies) is a PN-counter per generation (element kLenElement),
// pushes adding and removals subtracting what they removed. It is exact while no element is
// removed by two servers at once; each such double removal makes it one lower until the list
// is emptied (an emptied list is deleted, and the next push starts a new generation).
// Thread-safety: loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/collections.h"

namespace dynakv::server {

constexpr char kList = static_cast<char>(cluster::CollectionType::kList);

// One present element of a list, as read.
struct ListItem {
  std::string pos;    // its position (element bytes)
  std::string value;
  uint64_t gen = 0;   // the generation holding it
  cluster::VersionVector ctx;  // its record's context (a removal supersedes what was read)
  std::string prev;   // the record before it in its generation as read (removed or not);
                      // filled only by a read of the whole list
};

// What a queued command reads: the key's header and, when asked, its elements.
struct ListView {
  CollectionState cs;
  std::vector<ListItem> items;  // present elements in list order (the first `n` asked)
  bool complete = false;        // items holds every present element
  uint64_t hint_base_ms = 0;    // the read skipped a head hint's span: its chain's start (lists.cc)
};

// Runs `op` when every earlier list command on `key` from this server is done; `op` calls
// `release` when it is done (before or after replying). A read_only op (LRANGE, LINDEX,
// LPOS, LLEN) runs together with the read-only ops queued next to it.
using ListRelease = std::function<void()>;
void ListQueued(Server* s, const std::string& key, std::function<void(ListRelease)> op, bool read_only = false);

// Reads the header and the first `n` present elements (SIZE_MAX: all). Errors: WRONGTYPE.
void ListRead(Server* s, const std::string& key, size_t n, std::function<void(Status, ListView)> done);

// Pushes (queued, batched): done(status, length after; 0 and nothing written when
// only_if_exists and the key is missing).
void ListPush(Server* s, const std::string& key, bool left, std::vector<std::string> values,
              bool only_if_exists, std::function<void(Status, int64_t)> done);

// Pops up to `count` (queued, batched): done(status, existed, values).
void ListPop(Server* s, const std::string& key, bool left, size_t count,
             std::function<void(Status, bool, std::vector<std::string>)> done);

// Not queued (for a queued op): removes `items` of the list in `view` (tombstones with the
// contexts read, the length counter lowered), then deletes the list when `view` was complete
// and nothing is left. done(status).
void ListRemoveNow(Server* s, const std::string& key, const ListView& view, std::vector<ListItem> items,
                   std::function<void(Status)> done);

// Not queued: writes `values` at the head (left) or tail of the list whose header is `cs`;
// done(status, length after).
void ListPushNow(Server* s, const std::string& key, const CollectionState& cs, bool left,
                 std::vector<std::string> values, std::function<void(Status, int64_t)> done);

// Not queued: LINSERT's element at `pos` (between two neighbours), done(status, length).
void ListInsertNow(Server* s, const std::string& key, const CollectionState& cs, std::string pos,
                   std::string value, std::function<void(Status, int64_t)> done);

// SORT ... STORE: `dest` (any type, or missing) becomes a list of `values` (none: `dest` is
// deleted), deleting what it held as DEL does; done(status, length).
void ListStore(Server* s, const std::string& dest, std::vector<std::string> values,
               std::function<void(Status, int64_t)> done);

// LLEN (not queued: a read).
void ListLength(Server* s, const std::string& key, std::function<void(Status, int64_t)> done);

// A tag for a new position: random, so concurrent inserts never collide.
uint64_t ListTag();

// Blocking pops (BLPOP, BRPOP, BLMOVE, BLMPOP): `attempt` tries the command without
// blocking and calls back true when it answered. Until then it is tried again whenever a
// push to one of `keys` is seen (through this server, or announced by another), at least
// once a second, and once the deadline (NowMs; 0 = none) passes `timeout` answers instead.
// A closed client stops waiting.
void ListBlock(Server* s, std::shared_ptr<Client> c, std::vector<std::string> keys, uint64_t deadline_ms,
               std::function<void(std::function<void(bool)>)> attempt, std::function<void()> timeout);

// A push to `key` was seen: wake the commands blocked on it (and, for a push through this
// server, announce it to the other members once per tick).
void ListPushed(Server* s, const std::string& key, bool announce);

// A publish frame from a member: true when it was a push announcement (then handled here:
// the blocked pops of its keys are woken), false when it is a client's message.
bool ListAnnouncement(Server* s, const std::string& channel, const std::string& message);

// Registers the list commands (commands_list.cc).
void RegisterList(std::vector<CommandSpec>* t);

}  // namespace dynakv::server
