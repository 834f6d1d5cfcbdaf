// server/collections.h: the collection commands' server side (issue #16). The steps they are
// made of (read a header, update elements, page through them, delete) are in
// cluster/collection_engine.h, with the server as their host; here are the steps that need
// the server's own helpers (DEL of any type, RENAME/COPY, the *STORE forms) and shared
// command pieces. Records and rules: cluster/collection.h; the design and its concurrent
// semantics: docs/ARCHITECTURE.md, "Collections".
// Thread-safety: loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cluster/collection.h"
#include "cluster/collection_engine.h"
#include "server/commands.h"

namespace dynakv::server {

// The steps from cluster/collection_engine.h, under their names here.
using cluster::ChangeFn;
using cluster::CollectionBytes;
using cluster::CollectionState;
using cluster::DeleteCollection;
using cluster::ElementChange;
using cluster::ElementList;
using cluster::FirstError;
using cluster::ReadAllElements;
using cluster::ReadCollection;
using cluster::ReadElements;
using cluster::SetCollectionExpiry;
using cluster::TargetGeneration;
using cluster::UpdateElements;
using cluster::UpdateResult;
using cluster::WriteHeaderFor;

// Redis's index range rule (LRANGE, ZRANGE by rank, LTRIM): negative indexes count from the
// end, [start, stop] is clipped to [0, n); false when nothing is left.
bool ClampRanks(int64_t start, int64_t stop, size_t n, size_t* from, size_t* to);

// HINCRBY: a PN-counter add on one element (created with the collection if needed); done
// gets the value after the add. A non-integer value answers `not_int`.
void IncrementElement(Server* s, const std::string& key, char type, std::string element,
                      int64_t delta, std::string not_int,
                      std::function<void(Status, int64_t)> done);

// A sorted set's members in Redis's order (score, then member bytes), read at R (SORT's
// source; server/commands_zset.cc).
void ReadZsetMembers(Server* s, const std::string& key,
                     std::function<void(Status, std::vector<std::string>)> done);

// ZINCRBY: a score-counter add (cluster::FloatCounter) on one member of sorted set `key`
// (created if needed), so concurrent increments through different coordinators add up; done
// gets the score after the add. A NaN result answers Invalid("resulting score is not a
// number (NaN)") and changes nothing.
void IncrementScore(Server* s, const std::string& key, std::string member, double delta,
                    std::function<void(Status, double)> done);

// Deletes whatever `cur` (read by ReadAnyKey) is, as DEL would: a collection as
// DeleteCollection, a string by a tombstone with its context; nothing when it is missing.
void DeleteAny(Server* s, const std::string& key, KeyView& cur, std::function<void(Status)> done);

// RENAME / COPY of a collection (`from`, read by ReadAnyKey): whatever `dst` holds (`to`) is
// deleted as DEL deletes it, every element of `src` (read at R) is written to `dst`, `src`'s
// TTL goes with them, and with remove_src `src` is then deleted as DEL deletes it. As for
// strings (commands_keyspace.cc), each step is its own causal write: a crash between them
// leaves both keys, never neither.
void CopyCollection(Server* s, const std::string& src, const KeyView& from, const std::string& dst,
                    const KeyView& to, bool remove_src, std::function<void(Status)> done);

// The *STORE forms: replaces `dest` (any type, or missing) with a collection of `type` holding
// `elements` (element, value), deleting what it held as DEL deletes it; done(count).
void StoreCollection(Server* s, const std::string& dest, char type, ElementList elements,
                     std::function<void(Status, int64_t)> done);

// HSCAN / SSCAN / ZSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES (HSCAN only)]:
// checks the cursor and the options (COUNT is checked, then ignored: one reply holds every
// element, cursor 0, as Redis answers for a small collection). False once an error was
// answered.
bool ParseElementScan(CommandCtx& ctx, bool allow_novalues, std::string* pattern, bool* novalues);

// HDEL / SREM: removes args[2..] from collection args[1] of `type`, replies with how many
// were present.
void RemoveElementsCommand(CommandCtx& ctx, char type);

// Registers the hash (commands_hash.cc), set (commands_set.cc) and sorted set
// (commands_zset.cc) commands.
void RegisterHash(std::vector<CommandSpec>* t);
void RegisterSet(std::vector<CommandSpec>* t);
void RegisterZset(std::vector<CommandSpec>* t);

}  // namespace dynakv::server
