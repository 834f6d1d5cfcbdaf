// server/lists.h: the server side of the list engine (issue #16): blocking pops, push
// announcements between members, and SORT ... STORE. The engine itself (per-key queues,
// pushes, pops, reads) is cluster/list_engine.h, with the server as its host; its names are
// brought in here for server/commands_list.cc. Positions and the header's reach:
// cluster/collection.h; the design and its concurrent semantics: docs/ARCHITECTURE.md,
// "Lists".
// Thread-safety: loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/list_engine.h"
#include "server/collections.h"

namespace dynakv::server {

constexpr char kList = cluster::kListType;

// The list engine's steps (cluster/list_engine.h), under their names here.
using cluster::ListInsertNow;
using cluster::ListItem;
using cluster::ListLength;
using cluster::ListPop;
using cluster::ListPush;
using cluster::ListPushNow;
using cluster::ListQueued;
using cluster::ListRead;
using cluster::ListRelease;
using cluster::ListRemoveNow;
using cluster::ListView;

// SORT ... STORE: `dest` (any type, or missing) becomes a list of `values` (none: `dest` is
// deleted), deleting what it held as DEL does; done(status, length).
void ListStore(Server* s, const std::string& dest, std::vector<std::string> values,
               std::function<void(Status, int64_t)> done);

// Blocking pops (BLPOP, BRPOP, BLMOVE, BLMPOP): `attempt` tries the command without
// blocking and calls back true when it answered. Until then it is tried again whenever a
// push to one of `keys` is seen (through this server, or announced by another), at least
// once a second, and once the deadline (NowMs; 0 = none) passes `timeout` answers instead.
// A closed client stops waiting.
void ListBlock(Server* s, std::shared_ptr<Client> c, std::vector<std::string> keys, uint64_t deadline_ms,
               std::function<void(std::function<void(bool)>)> attempt, std::function<void()> timeout);

// Whether a pop is blocked on `key` here.
bool ListHasBlocked(Server* s, const std::string& key);

// A push to `key` was seen: wake the commands blocked on it (and, for a push through this
// server, announce it to the other members once per tick).
void ListPushed(Server* s, const std::string& key, bool announce);

// A publish frame from a member: true when it was a push announcement (then handled here:
// the blocked pops of its keys are woken), false when it is a client's message.
bool ListAnnouncement(Server* s, const std::string& channel, const std::string& message);

// Registers the list commands (commands_list.cc).
void RegisterList(std::vector<CommandSpec>* t);

}  // namespace dynakv::server
