// cluster/version.h: causality for one key: version vectors, dots, siblings, the stored
// record format, the client's context token, and the PN-counter CRDT.
//
// Model: dotted version vectors (DVV sets, Preguica et al.). A key's state is a Record:
// a causal context `context` (a version vector: actor -> (counter, timestamp)) plus the
// live siblings, each tagged with the dot (actor, counter) of the write that created it.
// A write carrying client context C, coordinated by actor A:
//   - drops exactly the siblings whose dots C covers,
//   - gets the dot (A, max(context[A], C[A]) + 1),
//   - leaves every other sibling in place as concurrent.
// So N writers that each write with the context they last read yield at most N siblings
// (no "sibling explosion", riak_kv#1648). Replicas reconcile with Join(), the DVV sync.
//
// Actors are node *incarnations*: a node takes a fresh random ActorId every time it starts
// (and on FLUSHALL), so it can never reissue a dot it used before it lost its data (Riak's
// kv679). Clocks therefore grow by one entry per incarnation that wrote the key; Prune()
// bounds them and the price is a false conflict, never a lost write.
//
// Thread-safety: value types and pure functions; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

namespace dynakv::cluster {

using ActorId = uint64_t;

struct Dot {
  ActorId actor = 0;
  uint64_t counter = 0;
  bool operator==(const Dot&) const = default;
};

enum class Ordering { kEqual, kBefore, kAfter, kConcurrent };

struct VVEntry {
  ActorId actor = 0;
  uint64_t counter = 0;
  uint64_t timestamp_ms = 0;  // wall time of the actor's last write seen (for age pruning)
  bool operator==(const VVEntry&) const = default;
};

// A version vector, entries sorted by actor, counters > 0.
class VersionVector {
 public:
  uint64_t Get(ActorId actor) const;                // 0 when absent
  bool Covers(const Dot& d) const { return d.counter <= Get(d.actor); }
  // Raise actor's entry to at least `counter` (timestamp max'ed).
  void Raise(ActorId actor, uint64_t counter, uint64_t timestamp_ms);
  void Merge(const VersionVector& other);           // pointwise max
  Ordering Compare(const VersionVector& other) const;  // kBefore: this < other
  bool Descends(const VersionVector& other) const;  // this >= other
  void Erase(ActorId actor);
  void Reserve(size_t n) { entries_.reserve(n); }  // room for n entries (a decoder's count)
  const VVEntry* Find(ActorId actor) const;         // nullptr when absent
  const std::vector<VVEntry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  bool operator==(const VersionVector& o) const { return entries_ == o.entries_; }

 private:
  std::vector<VVEntry> entries_;
};

enum class ValueKind : uint8_t {
  kPlain = 0,      // bytes
  kTombstone = 1,  // a delete; value empty
  kCounter = 2,    // value is an encoded PNCounter (see below)
  kCollection = 3, // a collection's header: value is a CollectionHeader (cluster/collection.h)
};

struct Sibling {
  Dot dot;
  uint64_t timestamp_ms = 0;  // coordinator wall clock at write; used by Winner()
  ValueKind kind = ValueKind::kPlain;
  uint64_t expiry_ms = 0;     // absolute unix ms; 0 = never
  uint32_t flags = 0;         // memcached client flags
  // Written under conflict = "lww" (cluster/keyspace.h): a record holding such a sibling
  // keeps one value, the newest by (timestamp, dot); see Join().
  bool lww = false;
  std::string value;
  bool operator==(const Sibling&) const = default;
};

struct Record {
  VersionVector context;
  std::vector<Sibling> siblings;  // sorted by dot (actor, counter)
  bool operator==(const Record&) const = default;
};

struct VersionLimits {
  size_t max_siblings = 100;        // a write that would exceed this fails with kLimit
  size_t warn_siblings = 25;        // callers log a warning at this many
  size_t prune_small = 10;          // never prune below this many entries
  size_t prune_big = 50;            // always prune above this many entries
  uint64_t prune_young_ms = 20ull * 1000;              // never prune entries younger than this
  uint64_t prune_old_ms = 24ull * 3600 * 1000;         // prune entries older than this (if > small)
  size_t max_context_bytes = 16 * 1024;                // bound on an encoded context token
};

// What the coordinator writes: the new sibling's payload (dot and timestamp are assigned).
struct NewValue {
  ValueKind kind = ValueKind::kPlain;
  std::string value;
  uint64_t expiry_ms = 0;
  uint32_t flags = 0;
  // Last writer wins: the write replaces every sibling whatever the context, and takes a
  // timestamp above all of theirs (so a write that saw a value always beats it, whatever
  // the clocks say); the new sibling is marked lww.
  bool lww = false;
};

// True when context `ctx` has seen sibling `s`, i.e. a write carrying ctx replaces it: the
// counter covers s's dot *and* s is not newer than the newest write of s.dot.actor that ctx
// has seen (entry timestamp 0 = unknown: counter only). The time check matters only after
// Prune() dropped an actor's entry and that actor reissued a low counter: the reissued dot
// is then concurrent to old contexts, not silently covered by them (pruning costs a false
// conflict, never a lost write). For histories without such reuse it equals Covers(s.dot).
// ApplyWrite() and Join() use this for "covers".
bool Supersedes(const VersionVector& ctx, const Sibling& s);

// Coordinator-side write: supersede the siblings `ctx` covers, add the new one with a fresh
// dot for `actor`, merge ctx into rec->context. Then Prune(). Returns kLimit (rec unchanged)
// if the result would hold more than limits.max_siblings siblings. On success *dot_out
// (if non-null) receives the new dot. ctx may be rec->context itself. v is taken by value:
// pass an rvalue to move the payload into the record.
Status ApplyWrite(Record* rec, const VersionVector& ctx, ActorId actor, NewValue v,
                  uint64_t now_ms, const VersionLimits& limits, Dot* dot_out = nullptr);

// DVV sync of two replicas' states; commutative, associative, idempotent.
// Last writer wins: when either side holds an lww sibling, the result keeps exactly one
// sibling, the greatest of both sides' by (timestamp, dot), whatever the contexts say, and
// the merged context: a max over a total order, so it is still a join (it converges) and
// never ends with no value where either side had one.
Record Join(const Record& a, const Record& b);
// Join(a, b), with every plain value of kEncodeInPlaceBytes or more moved out of a and b
// instead of copied (left empty there: their versions stay, for SameRecord). For a read's
// replies, whose differing copies of a 100 MB value were each copied into the join, in
// fresh memory, in one loop turn (600 ms here).
Record JoinTakingValues(Record& a, Record& b);
// True when Join(Record{}, r) == r: r is already in Join's canonical form (siblings in
// strictly increasing order, no write twice, at most one sibling if any is lww). A joiner
// may then take r as it is instead of joining a copy.
bool JoinKeeps(const Record& r);
// Plain values and tombstones only: one dot, one write, one value (a counter's or a
// collection header's value is merged, not chosen).
bool OnlyPlain(const Record& r);
// a and b hold the same versions: the same context and siblings, values not compared.
bool SameVersions(const Record& a, const Record& b);
// a and b are the same record as far as a read's replies can differ: SameVersions, and the
// values of counters and collection headers equal (those merge under one dot). A plain
// value or tombstone is named by its write (dot and timestamp), so its bytes are not
// compared: comparing two replies' 100 MB values held a coordinator's loop 30-60 ms.
bool SameRecord(const Record& a, const Record& b);

// Bound the context size (small/big/young/old like Riak). Never removes an entry that a live
// sibling's dot still names.
void Prune(Record* rec, uint64_t now_ms, const VersionLimits& limits);

// Siblings a client should see: not tombstones, not expired at now_ms.
bool IsLive(const Sibling& s, uint64_t now_ms);
std::vector<const Sibling*> LiveSiblings(const Record& rec, uint64_t now_ms);

// The deterministic winner for plain GET: among non-expired siblings (tombstones included)
// the newest timestamp, ties by larger dot. nullptr when that winner is a tombstone or
// nothing is live. Counter siblings: see CounterValue().
const Sibling* Winner(const Record& rec, uint64_t now_ms);

// True when the record holds nothing but tombstones/expired siblings (a reap candidate).
bool IsDeleted(const Record& rec, uint64_t now_ms);
// Every sibling has been dead for the grace period: a tombstone written at least grace_ms
// ago, or a value whose TTL passed at least expiry_grace_ms ago (the reaper's test).
bool DeadFor(const Record& rec, uint64_t now_ms, uint64_t grace_ms, uint64_t expiry_grace_ms);

// Storage format: versioned, checksummed (xxh64), decoded defensively (every length bounded
// by the input). Decode returns kCorruption on any mismatch and never reads out of bounds.
std::string EncodeRecord(const Record& rec);
// The same bytes appended to *out (a frame encodes records in place, without a temporary).
void AppendRecord(const Record& rec, std::string* out);
// The same bytes, taking the record's largest value when it has at least kEncodeInPlaceBytes:
// its buffer becomes the encoding, the bytes before the value moved in front inside it (the
// value is not copied when the buffer has room, which RespParser reserves for big arguments).
// That value is left empty in *rec; smaller records are encoded as EncodeRecord(const&) does.
constexpr size_t kEncodeInPlaceBytes = 1 << 20;
// A sibling's value is of kEncodeInPlaceBytes or more: the record is one a node moves rather
// than copies where it can (docs/ARCHITECTURE.md, "Big values").
// The index of the sibling with the biggest value (the first of equals; 0 when there is none).
inline size_t BiggestValue(const Record& r) {
  size_t big = 0;
  for (size_t i = 1; i < r.siblings.size(); ++i) {
    if (r.siblings[i].value.size() > r.siblings[big].value.size()) big = i;
  }
  return big;
}
inline bool HoldsBigValue(const Record& r) {
  for (const Sibling& s : r.siblings) {
    if (s.value.size() >= kEncodeInPlaceBytes) return true;
  }
  return false;
}
// The extra time a request carrying `bytes` of values gets to cross between nodes and be
// made durable there: 20 ms per MB (100 MB: two more seconds). On a 2-core machine running
// three nodes a 100 MB SET or GET took 0.5-1.8 s end to end, a 300 MB one 3.5-5 s, against
// a 1 s request timeout.
inline uint64_t CrossingMs(size_t bytes) { return bytes >= kEncodeInPlaceBytes ? bytes / (50 * 1024) : 0; }
inline uint64_t CrossingMs(const Record& r) {
  size_t bytes = 0;
  for (const Sibling& s : r.siblings) bytes += s.value.size();
  return CrossingMs(bytes);
}
std::string EncodeRecord(Record&& rec);
// Room a value's buffer keeps past its size for that (a record's head, tail and checksum;
// RespParser reserves as much for a big argument).
constexpr size_t kEncodeInPlaceRoom = 4096;
// Makes *value's buffer able to grow to `size` bytes and still be encoded in place: a command
// that builds a big value (SETRANGE, APPEND, SETBIT) calls it before growing the value, so the
// value is moved into a bigger buffer at most once.
// A buffer with a quarter of that room left is kept (a record's head is rarely over 1 KB).
inline void ReserveForEncoding(std::string* value, size_t size) {
  if (size >= kEncodeInPlaceBytes && value->capacity() < size + kEncodeInPlaceRoom / 4) {
    value->reserve(size + kEncodeInPlaceRoom);
  }
}
// values = false: every sibling's value is left empty (its bytes are checked and skipped), for
// walks that need only versions, kinds, timestamps and expiry (the reaper, SCAN, a write that
// replaces every sibling): a 100 MB value is then not copied. A value of kDecodeSlackAt bytes
// or more is copied into a buffer with kEncodeInPlaceRoom bytes to spare (a reply's header, or
// a small APPEND, then fits without a new buffer).
constexpr size_t kDecodeSlackAt = 64 * 1024;
Status DecodeRecord(std::string_view bytes, Record* out, bool values = true);
// DecodeRecord(values = false) for a walk that only picks candidates and loads, verified,
// whatever it acts on (ReplicaStore::Scan with values = false: the reaper, KEYS, SCAN,
// RANDOMKEY). A record of kScanCheckedBytes or more is parsed, bounds-checked, without its
// checksum: a walk meeting a 300 MB record hashed all of it on every reaper step (50-130 ms
// loop turns, every ~100 ms, for as long as the reaper had work). Smaller records are
// verified as by DecodeRecord.
constexpr size_t kScanCheckedBytes = 64 * 1024;
Status DecodeRecordVersions(std::string_view bytes, Record* out);
// DecodeRecord without the values' copies: (*values)[i] is sibling i's value inside `bytes`
// (the siblings' own values are left empty). The checksum is verified as by DecodeRecord.
Status DecodeRecordViews(std::string_view bytes, Record* out, std::vector<std::string_view>* values);
// DecodeRecord of `bytes`, which lie inside *owner (a frame that arrived): the biggest
// value, when of kEncodeInPlaceBytes or more, takes owner's buffer (moved to its front)
// instead of being copied out of it; smaller values are copied. *owner is moved from.
// keep_encoded: the biggest value is left out of *out instead (empty), and *owner becomes
// the record's bytes themselves (moved to its front; *kept set), for a caller that stores
// them as they are. *kept stays false, and *owner untouched, when no value is that big.
Status DecodeRecordTaking(std::string_view bytes, std::string* owner, Record* out,
                          bool keep_encoded = false, bool* kept = nullptr);
// The stored checksum a record's bytes end with: two encodings of one key differ in it unless
// they are the same record (a big GET copied over several turns checks it did not change).
uint64_t RecordSeal(std::string_view bytes);

// The client's opaque context token: printable ASCII ("c1" + base64url payload + checksum).
// With a non-empty secret the checksum is an HMAC-SHA256 (truncated to 16 bytes), so a token
// that was tampered with or minted elsewhere is refused. "" decodes to the empty vector, and
// the empty vector encodes to "". Decode: a token longer than max_bytes, malformed, truncated
// or failing the check yields Invalid("invalid context") and leaves *out untouched.
std::string EncodeContext(const VersionVector& vv, std::string_view secret);
Status DecodeContext(std::string_view token, std::string_view secret, size_t max_bytes,
                     VersionVector* out);

// 64-bit memcached cas derived from a causal context (stable hash of its entries).
uint64_t ContextCas(const VersionVector& vv);

// PN-counter CRDT used by INCR/DECR and memcached incr/decr. Each actor owns a slot it alone
// increments; merge is pointwise max, so concurrent siblings merge without losing updates.
// `base` carries the plain integer value the first increment started from.
struct PNCounter {
  int64_t base = 0;
  struct Slot {
    ActorId actor = 0;
    uint64_t inc = 0;
    uint64_t dec = 0;
    bool operator==(const Slot&) const = default;
  };
  std::vector<Slot> slots;  // sorted by actor
  int64_t Value() const;    // base + sum(inc) - sum(dec), wrapping as int64
  void Add(ActorId actor, int64_t delta);
  void Merge(const PNCounter& other);  // base = max, slots pointwise max
  bool operator==(const PNCounter&) const = default;
};
std::string EncodeCounter(const PNCounter& c);
Status DecodeCounter(std::string_view bytes, PNCounter* out);

// The counter a sorted-set score becomes under ZINCRBY: the PN-counter above over doubles.
// Each actor's slot sums its own positive (inc) and negative (dec) increments, so both only
// grow and merge is again pointwise max; `base` is the score the first increment started
// from. Stored as a kCounter sibling whose first byte is kFloatCounterFormat (the integer
// counter's is 1), so an integer counter never decodes as one and the reverse.
struct FloatCounter {
  double base = 0;
  struct Slot {
    ActorId actor = 0;
    double inc = 0;
    double dec = 0;
    bool operator==(const Slot&) const = default;
  };
  std::vector<Slot> slots;  // sorted by actor
  // base + sum(inc - dec), summed in actor order (so every replica gets the same bits); a
  // NaN (inf - inf from increments concurrent at two coordinators) reads as 0, as Redis's
  // ZUNIONSTORE SUM reads one.
  double Value() const;
  void Add(ActorId actor, double delta);
  void Merge(const FloatCounter& other);  // base = max, slots pointwise max
  bool operator==(const FloatCounter&) const = default;
};

// The counter a hash field becomes under HINCRBYFLOAT, in long double as Redis computes
// HINCRBYFLOAT. Each actor's slot is the running sum of that actor's increments in the order
// it made them (`net`), with their count (`seq`): only its actor writes a slot, so of two
// copies the one with the larger seq has seen every increment of the other, and merge keeps
// it. A running sum, unlike separate sums of the positive and negative increments, loses
// nothing to a large swing (1e20, -1e20, 1 is 1, as in Redis), and one writer's sums are
// Redis's. `base` is the value the first increment started from (merge: the larger).
// First byte kLongFloatCounterFormat.
struct LongFloatCounter {
  long double base = 0;
  struct Slot {
    ActorId actor = 0;
    uint64_t seq = 0;  // increments made by `actor` (>= 1)
    long double net = 0;
    bool operator==(const Slot&) const = default;
  };
  std::vector<Slot> slots;  // sorted by actor
  long double Value() const;  // base + the nets in actor order; a NaN reads as 0
  void Add(ActorId actor, long double delta);
  void Merge(const LongFloatCounter& other);
  bool Finite() const;  // base and every slot finite (what the codec can store)
  bool operator==(const LongFloatCounter&) const = default;
};

// Merges `c` into `*total`, taking the first counter (`*any` false) as it is. A default
// counter's base is 0 and Merge keeps the larger base, so merging the first one into a
// default counter would lift a negative base to 0 (SET k -5, INCR k answered 1).
template <typename Counter>
void MergeCounterInto(Counter* total, bool* any, const Counter& c) {
  if (*any) {
    total->Merge(c);
  } else {
    *total = c;
    *any = true;
  }
}

constexpr uint8_t kFloatCounterFormat = 2;
constexpr uint8_t kLongFloatCounterFormat = 3;
bool IsFloatCounter(std::string_view counter_bytes);
bool IsLongFloatCounter(std::string_view counter_bytes);
std::string EncodeFloatCounter(const FloatCounter& c);
// kCorruption on a bad format, a NaN anywhere, a negative slot, unsorted slots, trailing bytes.
Status DecodeFloatCounter(std::string_view bytes, FloatCounter* out);
// Each long double as [u8 sign][fixed64 mantissa][varint zigzag exponent] (exact for the
// x87 80-bit format; canonical bytes only; never an infinity or NaN); a slot's seq is in
// 1..2^62.
std::string EncodeLongFloatCounter(const LongFloatCounter& c);
Status DecodeLongFloatCounter(std::string_view bytes, LongFloatCounter* out);

// HINCRBYFLOAT's request payload (WriteRequest::value.value of kFloatAdd): the increment, and
// optionally the base a counter started by it begins from (read across a collection's
// generations; cluster/collection_engine.cc IncrementAcross).
std::string EncodeFloatAdd(long double delta, const long double* base);
bool DecodeFloatAdd(std::string_view bytes, long double* delta, bool* has_base, long double* base);

// The value a plain GET sees. For a counter winner: the decimal of the merge of all live
// counter siblings. For a plain winner: its bytes. NotFound when Winner() is null.
Status ResolveValue(const Record& rec, uint64_t now_ms, std::string* value,
                    const Sibling** winner = nullptr);

}  // namespace dynakv::cluster
