// cluster/collection_engine.h: the asynchronous steps every collection command is made of
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
//
// The steps run against a CollectionHost: a Node and a wall clock, plus hooks the server
// fills in (metrics, WAIT accounting). They do no I/O of their own, so the simulator can
// drive them as the server does (docs/ARCHITECTURE.md, "Collections").
// Thread-safety: the host's thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cluster/collection.h"
#include "cluster/node.h"

namespace dynakv::cluster {

using WriteDone = Node::WriteCallback;

// Collects the first error of several concurrent steps.
struct FirstError {
  Status st;
  void Note(const Status& s) {
    if (!s.ok() && st.ok()) st = s;
  }
};

// Runs `n` async steps and calls `done` once all have called their completion.
class Gather : public std::enable_shared_from_this<Gather> {
 public:
  static std::shared_ptr<Gather> Make(size_t n, std::function<void()> done) {
    auto g = std::make_shared<Gather>();
    g->left_ = n;
    g->done_ = std::move(done);
    if (n == 0) g->done_();
    return g;
  }
  void One() {
    if (--left_ == 0 && done_) {
      auto d = std::move(done_);
      d();
    }
  }

 private:
  size_t left_ = 0;
  std::function<void()> done_;
};

struct HeaderFlight;  // collection_engine.cc

// What the steps run against. The server is one (server/server.h); the simulator's hosts are
// others (tests/sim).
class CollectionHost {
 public:
  virtual ~CollectionHost() = default;
  virtual Node* node() = 0;
  virtual uint64_t WallMs() = 0;  // unix ms: element expiry and resolution
  // Wraps a read's callback (the server times it for its metrics).
  virtual Node::ReadCallback TimedRead(Node::ReadCallback done) { return done; }
  // Wraps a write's callback (the server counts it as its client's, for WAIT).
  virtual WriteDone TrackedWrite(WriteDone done) { return done; }
  // A header read found the collection (hit) or not (INFO keyspace_hits / misses).
  virtual void CountLookup(bool /*hit*/) {}
  // A random 64-bit number for a new generation (the simulator draws it from its seed).
  virtual uint64_t DrawGeneration();

  // Header writes in flight per key from this host (WriteHeaderFor coalesces on them).
  std::unordered_map<std::string, std::shared_ptr<HeaderFlight>> header_flights;

  // Set by the host only while it runs a command that adds to a hash, set or sorted set and
  // does nothing else with the header (server/commands.h kCmdHeaderAdd). A header write of
  // such a command that completes at once (a standalone node: no replica to wait for) is
  // then held open, not closed, so the adds that follow it share one follow-up write
  // instead of each writing the header again. The host must call FlushHeldHeaders before
  // any other command runs and before it returns to its event loop
  // (docs/ARCHITECTURE.md, "Collections", "Held header writes").
  bool hold_header_flights = false;
  std::vector<std::string> held_header_keys;  // keys whose flight is held
};

// Issues the follow-up write of every held header flight (the adds that joined it reply when
// it completes) and closes the rest. Nothing is held afterwards.
void FlushHeldHeaders(CollectionHost* s);
inline bool HasHeldHeaders(const CollectionHost* s) { return !s->held_header_keys.empty(); }

// How held work is closed (FlushHeldHeaders, list_engine.h FlushHeldLists): `*hold` is off
// while it runs, so nothing closing runs holds again, and `close_one` gets every key of
// `*keys`, including any a callback of an earlier one held meanwhile; then `*hold` is as it was.
template <typename CloseOne>
void CloseHeldKeys(bool* hold, std::vector<std::string>* keys, CloseOne close_one) {
  bool was = std::exchange(*hold, false);
  while (!keys->empty()) {
    std::vector<std::string> batch;
    batch.swap(*keys);
    for (const std::string& key : batch) close_one(key);
  }
  *hold = was;
}

// A write counted as the host's client's (WAIT); key is a record key when record_key (a
// collection's element), else a client key. As server/commands.cc's WriteTracked.
void WriteTracked(CollectionHost* s, const std::string& key, WriteRequest req, WriteDone done,
                  bool record_key);
// A tombstone write covering ctx (null: what the coordinator knows) at W `w` (0: the
// configured one). As server/commands.cc's DeleteValue.
void DeleteValue(CollectionHost* s, const std::string& key, const VersionVector* ctx, int w,
                 WriteDone done);

struct CollectionState {
  HeaderView view;        // decider is not kept (points into a dead record)
  VersionVector context;  // the header record's context
  bool exists() const { return view.kind == KeyType::kCollection; }
};

// Reads `key`'s header. WRONGTYPE (as the status) when the key holds a string or a
// collection of another type; a missing key is ok with exists() false.
void ReadCollection(CollectionHost* s, const std::string& key, char type,
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
void UpdateElements(CollectionHost* s, const std::string& key, char type,
                    std::vector<std::string> elements, ChangeFn change,
                    std::function<void(Status, UpdateResult)> done);

// The generation a command that adds to `key` writes to: the newest live one; for a key that
// does not exist, the generation of this host's header write in flight for it (one
// creating burst shares a generation), else a fresh one.
uint64_t TargetGeneration(CollectionHost* s, const std::string& key, char type,
                          const CollectionState& cs);

// The header write of a command that adds to generation `target` (lists: with `reach`, the
// header's max-register, see cluster/collection.h): the type, the live generations read plus
// `target`, with the context read; coalesced per key on this host (collection_engine.cc).
void WriteHeaderFor(CollectionHost* s, const std::string& key, char type, const CollectionState& cs,
                    uint64_t target, uint64_t reach, WriteDone done);

// Reads some elements: each one's value, or nullopt. exists: the collection exists.
void ReadElements(CollectionHost* s, const std::string& key, char type,
                  std::vector<std::string> elements,
                  std::function<void(Status, bool exists,
                                     std::vector<std::optional<std::string>>)> done);

// Every present element with its value, in element order (pages of the range, quorum R).
using ElementList = std::vector<std::pair<std::string, std::string>>;
void ReadAllElements(CollectionHost* s, const std::string& key, char type,
                     std::function<void(Status, bool exists, ElementList)> done);

// HINCRBY: a PN-counter add of `delta` on `element` (created with the collection if needed;
// Redis's integer rules, a value that is no integer answers `not_int`); ZINCRBY: a
// score-counter add on member `member` of sorted set `key` (a member holding no score answers
// `no_score`). done gets the element as the coordinator left it. Concurrent increments
// through different coordinators add up (IncrementAcross in collection_engine.cc).
void AddToCounter(CollectionHost* s, const std::string& key, char type, std::string element,
                  int64_t delta, Status not_int, std::function<void(Status, ElementView)> done);
void AddToScore(CollectionHost* s, const std::string& key, std::string member, double delta,
                Status no_score, std::function<void(Status, ElementView)> done);
// HINCRBYFLOAT: a float-counter add (cluster::LongFloatCounter, long double as Redis computes
// it) of `delta` on `element`, the same way; a field whose value is no number answers
// `not_float`; done gets the element as the coordinator left it (its value as Redis formats it).
void AddToFloat(CollectionHost* s, const std::string& key, char type, std::string element, long double delta,
                Status not_float, std::function<void(Status, ElementView)> done);

// DEL of a collection: tombstones every element it reads (so a concurrent add elsewhere
// is the only thing that survives), then the header with the context in `st`.
void DeleteCollection(CollectionHost* s, const std::string& key, const CollectionState& st,
                      std::function<void(Status)> done);

// A collection's header rewritten with a new TTL (0 = none): EXPIRE, PERSIST.
void SetCollectionExpiry(CollectionHost* s, const std::string& key, const CollectionState& st,
                         uint64_t expiry_ms, WriteDone done);

// MEMORY USAGE of a collection: the bytes of every element record of the live generations
// `gens` in the replicas' stores (record key and encoded record, tombstones included), as
// read at R.
void CollectionBytes(CollectionHost* s, const std::string& key, char type, std::vector<uint64_t> gens,
                     std::function<void(Status, uint64_t)> done);

}  // namespace dynakv::cluster
