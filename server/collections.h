// server/collections.h: the asynchronous steps every collection command is made of
// (issue #16): read a key's header, read or change some of its elements, page through all
// of them, delete it. Records and rules: cluster/collection.h; the design and its
// concurrent semantics: docs/ARCHITECTURE.md, "Collections".
//
// Every step reads the header first (quorum R), so a command sees the generations that are
// live, then touches only element records of those generations. A command that adds an
// element also writes the header (with the context it read and the union of the live
// generations), so a DEL concurrent with it cannot hide what it added (add-wins at the key
// level). A command that removes elements checks afterwards whether any is left, and if not
// deletes the header with the context it read, so an emptied collection stops existing as
// in Redis (a concurrent add elsewhere still wins).
// Thread-safety: loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cluster/collection.h"
#include "server/commands.h"

namespace dynakv::server {

// Collects the first error of several concurrent steps.
struct FirstError {
  Status st;
  void Note(const Status& s) {
    if (!s.ok() && st.ok()) st = s;
  }
};

// Redis's index range rule (LRANGE, ZRANGE by rank, LTRIM): negative indexes count from the
// end, [start, stop] is clipped to [0, n); false when nothing is left.
bool ClampRanks(int64_t start, int64_t stop, size_t n, size_t* from, size_t* to);

struct CollectionState {
  cluster::HeaderView view;        // decider is not kept (points into a dead record)
  cluster::VersionVector context;  // the header record's context
  bool exists() const { return view.kind == cluster::KeyType::kCollection; }
};

// Reads `key`'s header. WRONGTYPE (as the status) when the key holds a string or a
// collection of another type; a missing key is ok with exists() false.
void ReadCollection(Server* s, const std::string& key, char type,
                    std::function<void(Status, CollectionState)> done);

// What an Update does to one element, given its current value (nullopt: absent).
struct ElementChange {
  enum { kKeep, kSet, kDelete } op = kKeep;
  std::string value;  // kSet
};
using ChangeFn =
    std::function<ElementChange(size_t i, const std::optional<std::string>& current)>;

struct UpdateResult {
  std::vector<std::optional<std::string>> before;  // each element's value before
  size_t set = 0, deleted = 0;                     // elements written / removed
  bool existed = false;                           // the collection existed before
};

// Reads `elements` of collection `key` (creating nothing), asks `change` what to do with
// each (in order; an element named twice is decided twice, each time seeing the earlier
// decision), writes the changes, and calls done once every write is acknowledged at W.
void UpdateElements(Server* s, const std::string& key, char type,
                    std::vector<std::string> elements, ChangeFn change,
                    std::function<void(Status, UpdateResult)> done);

// The generation a command that adds to `key` writes to: the newest live one; for a key that
// does not exist, the generation of this server's header write in flight for it (one
// creating burst shares a generation), else a fresh one.
uint64_t TargetGeneration(Server* s, const std::string& key, char type, const CollectionState& cs);

// The header write of a command that adds to generation `target` (lists: with `reach`, the
// header's max-register, see cluster/collection.h): the type, the live generations read plus
// `target`, with the context read; coalesced per key on this server (collections.cc).
void WriteHeaderFor(Server* s, const std::string& key, char type, const CollectionState& cs,
                    uint64_t target, uint64_t reach, WriteDone done);

// Reads some elements: each one's value, or nullopt. exists: the collection exists.
void ReadElements(Server* s, const std::string& key, char type,
                  std::vector<std::string> elements,
                  std::function<void(Status, bool exists,
                                     std::vector<std::optional<std::string>>)> done);

// Every present element with its value, in element order (pages of the range, quorum R).
using ElementList = std::vector<std::pair<std::string, std::string>>;
void ReadAllElements(Server* s, const std::string& key, char type,
                     std::function<void(Status, bool exists, ElementList)> done);

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

// DEL of a collection: tombstones every element it reads (so a concurrent add elsewhere
// is the only thing that survives), then the header with the context in `st`.
void DeleteCollection(Server* s, const std::string& key, const CollectionState& st,
                      std::function<void(Status)> done);

// A collection's header rewritten with a new TTL (0 = none): EXPIRE, PERSIST.
void SetCollectionExpiry(Server* s, const std::string& key, const CollectionState& st,
                         uint64_t expiry_ms, WriteDone done);

// RENAME / COPY of a collection (`from`, read by ReadAnyKey): whatever `dst` holds (`to`) is
// deleted as DEL deletes it, every element of `src` (read at R) is written to `dst`, `src`'s
// TTL goes with them, and with remove_src `src` is then deleted as DEL deletes it. As for
// strings (commands_keyspace.cc), each step is its own causal write: a crash between them
// leaves both keys, never neither.
void CopyCollection(Server* s, const std::string& src, const KeyView& from, const std::string& dst,
                    const KeyView& to, bool remove_src, std::function<void(Status)> done);

// MEMORY USAGE of a collection: the bytes of every element record of the live generations
// `gens` in the replicas' stores (record key and encoded record, tombstones included), as
// read at R.
void CollectionBytes(Server* s, const std::string& key, char type, std::vector<uint64_t> gens,
                     std::function<void(Status, uint64_t)> done);

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
