// cluster/collection.h: the records a collection (hash, set, sorted set, list) is made of,
// and the add-wins rules that read them. Pure functions over Records; the command layer
// and the simulator's workloads both build on these (issue #16).
//
// A collection is
//   - a header: the plain record of its key, whose siblings are kCollection values holding
//     the collection's type and its live *generations* (random 64-bit ids, never 0), and
//     whose winning sibling carries the TTL;
//   - element records, one per member/field, under GenElementPrefix(type, key, gen): the
//     generation is part of the record key, so the elements of a collection that expired,
//     was overwritten by a string, or was deleted are a different range from those of the
//     collection created at that key afterwards, and are never read again.
//
// Rules (docs/ARCHITECTURE.md, "Collections"):
//   - The key's type is decided by the newest (timestamp, then dot) live non-tombstone
//     sibling of the header: a kCollection sibling makes it a collection of that type, a
//     plain or counter sibling a string. So a key written concurrently as a string and as a
//     set resolves deterministically, and never to a corrupt record.
//   - The live generations are the union of the generations of every live kCollection
//     sibling of the deciding type. Concurrent creations through two coordinators make two
//     generations, both live: neither side's adds are lost.
//   - An element is present while its record has a live non-tombstone sibling (add-wins: a
//     remove writes a tombstone with the context it read, so it supersedes only the adds it
//     saw). Its value is the newest such sibling's (last writer wins by timestamp, then dot);
//     when that is a counter, the merge of every live counter sibling (HINCRBY adds up).
//   - Present in several live generations: the newest value wins, and counters add up
//     (ResolveAcross).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/version.h"
#include "storage/status.h"

namespace dynakv::cluster {

// Redis's WRONGTYPE error text.
inline constexpr char kWrongTypeError[] =
    "WRONGTYPE Operation against a key holding the wrong kind of value";

// The type byte of a collection's header and element record keys (never 0xFF).
enum class CollectionType : char { kHash = 'h', kSet = 's', kZset = 'z', kList = 'l' };
inline bool IsCollectionType(char t) { return t == 'h' || t == 's' || t == 'z' || t == 'l'; }
// Redis's TYPE name: "hash", "set", "zset", "list"; "none" for anything else.
const char* CollectionTypeName(char type);

// A header sibling's value.
struct CollectionHeader {
  char type = 0;
  std::vector<uint64_t> gens;  // sorted, unique, non-zero
  // Lists only: the largest |major| of the first component of any position a push or insert
  // gave (ListPush below); a max-register, so concurrent header siblings merge by max.
  uint64_t reach = 0;
  bool operator==(const CollectionHeader&) const = default;
};
// type byte, LEB128 count, count x 8-byte big-endian generation; a list adds its reach (8
// bytes big-endian).
std::string EncodeHeader(const CollectionHeader& h);
// Bounded decode: kCorruption on a bad type, a zero or unsorted generation, a count that
// does not match the bytes, or trailing bytes.
Status DecodeHeader(std::string_view bytes, CollectionHeader* out);

enum class KeyType : uint8_t { kNone, kString, kCollection };

// What a key's plain record says it is at now_ms.
struct HeaderView {
  KeyType kind = KeyType::kNone;
  char type = 0;                   // kCollection: the collection's type
  std::vector<uint64_t> gens;      // kCollection: live generations, sorted
  std::vector<uint64_t> all_gens;  // every generation any sibling names, live or not, sorted
  uint64_t reach = 0;              // lists: the max reach of the live siblings of the type
  uint64_t expiry_ms = 0;          // of the deciding sibling (0 = none)
  const Sibling* decider = nullptr;  // the deciding sibling (points into the record)
};
// Applies the type rule above. kCorruption when a live kCollection sibling does not decode.
Status ViewHeader(const Record& rec, uint64_t now_ms, HeaderView* out);

// The header value a write that supersedes what `view` saw should carry: the type and the
// live generations (the union: nothing live is dropped).
CollectionHeader HeaderOf(const HeaderView& view);

// A generation for a new collection at a key: non-zero and named by no sibling of its
// header record (`view.all_gens`), so no element record of an earlier life of the key can
// be read as part of it. `draw` supplies random 64-bit numbers.
template <typename Draw>
uint64_t NewGeneration(const HeaderView& view, Draw&& draw) {
  for (;;) {
    uint64_t g = draw();
    if (g == 0) continue;
    bool used = false;
    for (uint64_t u : view.all_gens) used = used || u == g;
    if (!used) return g;
  }
}

// Element record keys: ElementPrefix(type, key) + 8-byte big-endian generation + element.
std::string GenElementPrefix(char type, std::string_view key, uint64_t gen);
std::string GenElementKey(char type, std::string_view key, uint64_t gen,
                          std::string_view element);

// List positions (docs/ARCHITECTURE.md, "Lists"). A list element's element bytes are its
// position: one or more 16-byte components, each an int64 `major` (sign bit flipped, then
// big-endian, so bytes compare as the numbers do) and a 64-bit `tag` unique to the insert
// (big-endian). Byte order is list order; a position sorts before its extensions. So
//   - RPUSH gives (m, tag) with m above every major the list has had (the header's reach
//     and the pushing server's clock, whichever is larger), LPUSH (-m, tag): pushes need
//     no element read, and concurrent pushes through two coordinators both survive,
//     ordered by (major, tag) on every replica;
//   - LINSERT gives a position strictly between two neighbours (ListPositionBetween).
// The element "" (no position) of each generation is the list's length counter.
constexpr size_t kListComponent = 16;
std::string ListPosition(int64_t major, uint64_t tag);
// The magnitude of a push's major: above the header's `reach`, above `last` (the largest
// the pushing server gave, so a pipeline's pushes keep their order even before the header
// shows them) and at least `now_us` (so pushes through servers that do not read each other's
// header writes still follow real time). RPUSH uses +m, LPUSH -m.
int64_t ListPushMajor(uint64_t reach, int64_t last, int64_t now_us);
// A valid position: a non-empty multiple of 16 bytes.
inline bool IsListPosition(std::string_view p) {
  return !p.empty() && p.size() % kListComponent == 0;
}
// The major of a position's first component (p must be valid).
int64_t ListMajor(std::string_view p);
// A position strictly between `lo` and `hi` (empty: no bound on that side), lo < hi, with
// `tag` in its last component. Empty when there is none (a major at the int64 limit).
std::string ListPositionBetween(std::string_view lo, std::string_view hi, uint64_t tag);

// A sorted-set member's score as its element value: 8 bytes, the IEEE-754 bits big-endian
// (-0 stored as 0). Decode: false for anything but 8 bytes holding a number (never NaN).
std::string EncodeScore(double d);
bool DecodeScore(std::string_view v, double* d);

// One element record, read by the add-wins rule.
struct ElementView {
  bool present = false;
  // The newest live sibling's bytes; a PN-counter's decimal; a score counter's (ZINCRBY)
  // value as EncodeScore bytes; a float counter's (HINCRBYFLOAT) as Redis formats it.
  std::string value;
  bool counter = false;        // the newest live sibling is a counter (of any kind)
  uint64_t timestamp_ms = 0;   // of the newest live sibling
  Dot dot;                     // of the newest live sibling
  bool score_counter = false;  // the counter is a score counter (FloatCounter)
  bool float_counter = false;  // the counter is a float counter (LongFloatCounter)
  long double number = 0;      // a float counter's value (`value` is its text)
};
// kCorruption when a live counter sibling does not decode.
Status ResolveElement(const Record& rec, uint64_t now_ms, ElementView* out);
// The same, moving the winner's value out of `rec` instead of copying it (a range read that
// is done with its records).
Status ResolveElement(Record&& rec, uint64_t now_ms, ElementView* out);
// ZINCRBY's starting point on a member's element record (the coordinator applies it, see
// OpKind::kScoreAdd): the merge of its live score counters when the newest live sibling is
// one; otherwise a counter whose base is `base_hint` when given (the score the server read
// across the collection's generations, see IncrementAcross in cluster/collection_engine.cc), else the
// newest live sibling's score (0 when the member is absent). kCorruption when a live sibling
// that should hold a score does not.
Status ScoreCounterOf(const Record& rec, uint64_t now_ms, FloatCounter* out,
                      const double* base_hint = nullptr);
// HINCRBYFLOAT's starting point on a field's element record (OpKind::kFloatAdd): the merge of
// its live float counters when the newest live sibling is one; otherwise a counter whose base
// is `base_hint` when given (as for ScoreCounterOf), else the number the field shows (a plain
// value, or an HINCRBY counter's value; 0 when absent). Invalid("hash value is not a float")
// when what it shows is no number.
Status LongFloatCounterOf(const Record& rec, uint64_t now_ms, LongFloatCounter* out,
                      const long double* base_hint = nullptr);

// The same element read in several generations: the present one with the newest
// (timestamp, dot); not present when none is. When that one is a counter, its value is the
// sum of every present counter's of the same kind (each generation's record counted its
// own increments).
ElementView ResolveAcross(const std::vector<ElementView>& views);

}  // namespace dynakv::cluster
