// cluster/version.cc: dotted version vectors, siblings, the record codec and context tokens.
// See version.h for the model; this file explains the choices behind it. The counters
// (integer PN-counter; the doubles of sorted-set scores; HINCRBYFLOAT's long doubles) are in
// counter.cc; both use the bounded Reader and the writers of byte_codec.h.
#include "cluster/version.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "cluster/byte_codec.h"

namespace dynakv::cluster {

using codec::PutFixed64;
using codec::PutVarint;
using codec::Reader;

namespace {

// Format versions. Bump when the byte layout changes; decoders refuse what they do not know.
// Format 2 seals records with XXH3-64 (several times cheaper than XXH64 on short records,
// and this runs on every write and every cache miss); format 1 (XXH64) still decodes.
constexpr uint8_t kRecordFormat = 2;
constexpr uint8_t kRecordFormatXxh64 = 1;
// The high bit of a sibling's kind byte: the sibling is last-writer-wins (Sibling::lww).
constexpr uint8_t kLwwKindBit = 0x80;
constexpr uint8_t kContextFormat = 1;
constexpr std::string_view kTokenPrefix = "c1";
constexpr size_t kTokenMacBytes = 16;

// Counts a decoder accepts. They exist so a corrupt length can never drive a huge
// allocation; each count is also checked against the bytes actually left (see MinBytes).
constexpr uint64_t kMaxEntries = 1u << 20;
constexpr uint64_t kMaxSiblings = 1u << 20;

// Smallest encodings, used to reject counts the remaining input cannot possibly hold.
constexpr size_t kMinEntryBytes = 8 + 1 + 1;             // actor, counter, timestamp
constexpr size_t kMinSiblingBytes = 8 + 1 + 1 + 1 + 1 + 1 + 1;  // + kind expiry flags len

// Seeds for the keyless token checksum and the cas hash; arbitrary but fixed forever,
// because tokens and cas values outlive a process.
constexpr uint64_t kTokenSeedA = 0x6479'6e61'6b76'0001ull;
constexpr uint64_t kTokenSeedB = 0x6479'6e61'6b76'0002ull;
constexpr uint64_t kRecordSeed = 0;
constexpr uint64_t kCasSeed = 0x6479'6e61'6b76'0003ull;

void PutVersionVector(std::string* out, const VersionVector& vv) {
  PutVarint(out, vv.size());
  for (const VVEntry& e : vv.entries()) {
    PutFixed64(out, e.actor);
    PutVarint(out, e.counter);
    PutVarint(out, e.timestamp_ms);
  }
}

// Entries must arrive strictly sorted by actor with counters > 0: the only shape
// VersionVector can hold, so anything else is corruption, not something to repair.
bool GetVersionVector(Reader* r, VersionVector* out) {
  uint64_t n = 0;
  if (!r->Count(kMaxEntries, kMinEntryBytes, &n)) return false;
  VersionVector vv;
  vv.Reserve(n);  // one allocation, not one per doubling
  ActorId prev = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t actor = 0, counter = 0, ts = 0;
    if (!r->Fixed64(&actor) || !r->Varint(&counter) || !r->Varint(&ts)) return false;
    if (counter == 0 || (i > 0 && actor <= prev)) return false;
    prev = actor;
    vv.Raise(actor, counter, ts);  // appends: input is sorted
  }
  *out = std::move(vv);
  return true;
}

// ---- base64url (RFC 4648 §5, no padding) --------------------------------------------------

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64UrlEncode(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(kB64[(v >> 6) & 63]);
    out.push_back(kB64[v & 63]);
  }
  size_t rest = in.size() - i;
  if (rest == 1) {
    uint32_t v = uint8_t(in[i]) << 16;
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
  } else if (rest == 2) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(kB64[(v >> 6) & 63]);
  }
  return out;
}

int B64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Strict: rejects foreign characters, impossible lengths and non-zero padding bits, so each
// byte string has exactly one text form and editing any character of a token changes the
// decoded bytes (or fails), which the MAC then catches.
bool Base64UrlDecode(std::string_view in, std::string* out) {
  if (in.size() % 4 == 1) return false;
  out->clear();
  out->reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = B64Value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
      acc &= (1u << bits) - 1;
    }
  }
  return acc == 0;  // leftover bits must be zero
}

std::string TokenMac(std::string_view payload, std::string_view secret) {
  std::string mac(kTokenMacBytes, '\0');
  if (!secret.empty()) {
    unsigned char full[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    unsigned char* r = HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                            reinterpret_cast<const unsigned char*>(payload.data()),
                            payload.size(), full, &len);
    DKV_ASSERT(r != nullptr && len >= kTokenMacBytes);
    std::memcpy(mac.data(), full, kTokenMacBytes);
  } else {
    // No secret: a checksum against accidents (truncation, typos), not against forgery.
    uint64_t a = XXH64(payload.data(), payload.size(), kTokenSeedA);
    uint64_t b = XXH64(payload.data(), payload.size(), kTokenSeedB);
    for (int i = 0; i < 8; ++i) {
      mac[i] = static_cast<char>((a >> (8 * i)) & 0xff);
      mac[8 + i] = static_cast<char>((b >> (8 * i)) & 0xff);
    }
  }
  return mac;
}

std::string EncodeContextPayload(const VersionVector& vv) {
  std::string p;
  p.push_back(static_cast<char>(kContextFormat));
  PutVersionVector(&p, vv);
  return p;
}

// ---- siblings -----------------------------------------------------------------------------

// Canonical sibling order: by dot, then by the remaining fields, so Join's output is the
// same whichever side a sibling came from and `==` on records means set equality.
auto SiblingKey(const Sibling& s) {
  return std::tie(s.dot.actor, s.dot.counter, s.timestamp_ms, s.kind, s.expiry_ms, s.flags,
                  s.lww, s.value);
}

bool SiblingLess(const Sibling& a, const Sibling& b) { return SiblingKey(a) < SiblingKey(b); }
// Last writer wins: the newer write, ties by the larger dot (Winner()'s order), then the
// canonical order, so the pick is total.
bool LwwLess(const Sibling& a, const Sibling& b) {
  auto head = [](const Sibling& s) { return std::tie(s.timestamp_ms, s.dot.actor, s.dot.counter); };
  if (head(a) != head(b)) return head(a) < head(b);
  return SiblingLess(a, b);
}

// Two siblings are the same write when dot and write time agree. The time is part of the
// identity because a pruned actor can reissue a dot (see Supersedes()).
bool SameWrite(const Sibling& a, const Sibling& b) {
  return a.dot == b.dot && a.timestamp_ms == b.timestamp_ms;
}

bool ContainsWrite(const std::vector<Sibling>& sorted, const Sibling& s) {
  auto it = std::lower_bound(sorted.begin(), sorted.end(), s, [](const Sibling& a, const Sibling& b) {
    return std::tie(a.dot.actor, a.dot.counter, a.timestamp_ms) <
           std::tie(b.dot.actor, b.dot.counter, b.timestamp_ms);
  });
  return it != sorted.end() && SameWrite(*it, s);
}

bool Expired(const Sibling& s, uint64_t now_ms) { return s.expiry_ms != 0 && s.expiry_ms <= now_ms; }

}  // namespace

// ---- VersionVector ------------------------------------------------------------------------

uint64_t VersionVector::Get(ActorId actor) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), actor,
                             [](const VVEntry& e, ActorId a) { return e.actor < a; });
  return (it != entries_.end() && it->actor == actor) ? it->counter : 0;
}

void VersionVector::Raise(ActorId actor, uint64_t counter, uint64_t timestamp_ms) {
  // Fast path for building a vector in actor order (decoders, merges).
  if (entries_.empty() || entries_.back().actor < actor) {
    if (counter > 0) entries_.push_back({actor, counter, timestamp_ms});
    return;
  }
  auto it = std::lower_bound(entries_.begin(), entries_.end(), actor,
                             [](const VVEntry& e, ActorId a) { return e.actor < a; });
  if (it != entries_.end() && it->actor == actor) {
    it->counter = std::max(it->counter, counter);
    it->timestamp_ms = std::max(it->timestamp_ms, timestamp_ms);
  } else if (counter > 0) {  // keep the "counters > 0" invariant
    entries_.insert(it, {actor, counter, timestamp_ms});
  }
}

void VersionVector::Merge(const VersionVector& other) {
  std::vector<VVEntry> out;
  out.reserve(entries_.size() + other.entries_.size());
  size_t i = 0, j = 0;
  while (i < entries_.size() || j < other.entries_.size()) {
    if (j == other.entries_.size() ||
        (i < entries_.size() && entries_[i].actor < other.entries_[j].actor)) {
      out.push_back(entries_[i++]);
    } else if (i == entries_.size() || other.entries_[j].actor < entries_[i].actor) {
      out.push_back(other.entries_[j++]);
    } else {
      const VVEntry& a = entries_[i++];
      const VVEntry& b = other.entries_[j++];
      out.push_back({a.actor, std::max(a.counter, b.counter), std::max(a.timestamp_ms, b.timestamp_ms)});
    }
  }
  entries_ = std::move(out);
}

Ordering VersionVector::Compare(const VersionVector& other) const {
  // Causality is in the counters alone; timestamps are bookkeeping for pruning.
  bool this_ahead = false, other_ahead = false;
  size_t i = 0, j = 0;
  while (i < entries_.size() || j < other.entries_.size()) {
    if (j == other.entries_.size() ||
        (i < entries_.size() && entries_[i].actor < other.entries_[j].actor)) {
      this_ahead = true;
      ++i;
    } else if (i == entries_.size() || other.entries_[j].actor < entries_[i].actor) {
      other_ahead = true;
      ++j;
    } else {
      if (entries_[i].counter > other.entries_[j].counter) this_ahead = true;
      if (entries_[i].counter < other.entries_[j].counter) other_ahead = true;
      ++i;
      ++j;
    }
  }
  if (this_ahead && other_ahead) return Ordering::kConcurrent;
  if (this_ahead) return Ordering::kAfter;
  if (other_ahead) return Ordering::kBefore;
  return Ordering::kEqual;
}

bool VersionVector::Descends(const VersionVector& other) const {
  Ordering o = Compare(other);
  return o == Ordering::kEqual || o == Ordering::kAfter;
}

void VersionVector::Erase(ActorId actor) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), actor,
                             [](const VVEntry& e, ActorId a) { return e.actor < a; });
  if (it != entries_.end() && it->actor == actor) entries_.erase(it);
}

const VVEntry* VersionVector::Find(ActorId actor) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), actor,
                             [](const VVEntry& e, ActorId a) { return e.actor < a; });
  return (it != entries_.end() && it->actor == actor) ? &*it : nullptr;
}

// ---- writes, sync, pruning ----------------------------------------------------------------

bool Supersedes(const VersionVector& ctx, const Sibling& s) {
  const VVEntry* e = ctx.Find(s.dot.actor);
  if (e == nullptr || s.dot.counter > e->counter) return false;
  // An entry's timestamp is the max over every write of that actor it has seen, so a context
  // that truly saw this sibling has timestamp >= the sibling's. A sibling written *later*
  // than anything the context saw of its actor must carry a reissued dot (the actor's entry
  // was pruned and its counter restarted), so the context cannot have seen it. Timestamp 0
  // means "unknown" (hand-built vectors): fall back to the counter alone.
  return e->timestamp_ms == 0 || s.timestamp_ms <= e->timestamp_ms;
}

Status ApplyWrite(Record* rec, const VersionVector& ctx, ActorId actor, NewValue v,
                  uint64_t now_ms, const VersionLimits& limits, Dot* dot_out) {
  uint64_t counter = std::max(rec->context.Get(actor), ctx.Get(actor));
  // Defensive: a record always covers its siblings, but never reissue a dot held by a
  // sibling even if a hand-built record does not.
  for (const Sibling& s : rec->siblings)
    if (s.dot.actor == actor) counter = std::max(counter, s.dot.counter);
  if (counter == std::numeric_limits<uint64_t>::max())
    return Status::Invalid("context counter exhausted");
  ++counter;

  // A write over last-writer-wins siblings (an lww write, or any write replacing one) takes
  // a timestamp above theirs: a write that saw a value must beat it in every later Join,
  // even when this coordinator's clock is behind the one that wrote it.
  uint64_t ts = now_ms;
  for (const Sibling& s : rec->siblings) {
    if ((v.lww || s.lww) && s.timestamp_ms >= ts) ts = s.timestamp_ms + 1;
  }
  size_t kept = 0;
  if (!v.lww) {
    for (const Sibling& s : rec->siblings) kept += !Supersedes(ctx, s);
  }
  if (kept + 1 > limits.max_siblings) {
    return Status::Limit("too many siblings (" + std::to_string(kept + 1) + " > " +
                         std::to_string(limits.max_siblings) + ")");
  }
  // From here on rec is changed in place (a SET is the hot path: no new sibling vector, the
  // superseded values are freed as they go). ctx may alias rec->context: it is read by
  // Supersedes before the context changes, and merging a context into itself changes nothing.
  bool alias = &ctx == &rec->context;
  auto& sibs = rec->siblings;
  if (v.lww) {
    sibs.clear();  // one value: this one
  } else {
    sibs.erase(std::remove_if(sibs.begin(), sibs.end(), [&](const Sibling& s) { return Supersedes(ctx, s); }),
               sibs.end());
  }
  if (!alias) rec->context.Merge(ctx);
  rec->context.Raise(actor, counter, ts);

  Sibling s;
  s.dot = {actor, counter};
  s.timestamp_ms = ts;
  s.kind = v.kind;
  s.expiry_ms = v.expiry_ms;
  s.flags = v.flags;
  s.lww = v.lww;
  s.value = std::move(v.value);
  sibs.push_back(std::move(s));
  if (sibs.size() > 1 && std::any_of(sibs.begin(), sibs.end(), [](const Sibling& x) { return x.lww; })) {
    // A record that holds a last-writer-wins value keeps one value (Join's rule): the
    // newest, which is this write (its timestamp is above theirs).
    auto best = std::max_element(sibs.begin(), sibs.end(), LwwLess);
    Sibling keep = std::move(*best);
    sibs.clear();
    sibs.push_back(std::move(keep));
  }
  std::sort(sibs.begin(), sibs.end(), SiblingLess);

  Prune(rec, now_ms, limits);
  if (dot_out != nullptr) *dot_out = {actor, counter};
  return Status::OK();
}

Record Join(const Record& a, const Record& b) {
  auto any_lww = [](const Record& r) {
    return std::any_of(r.siblings.begin(), r.siblings.end(), [](const Sibling& s) { return s.lww; });
  };
  if (any_lww(a) || any_lww(b)) {
    Record out;
    const Sibling* best = nullptr;
    for (const Record* r : {&a, &b}) {
      for (const Sibling& s : r->siblings) {
        if (best == nullptr || LwwLess(*best, s)) best = &s;
      }
    }
    out.siblings.push_back(*best);
    out.context = a.context;
    out.context.Merge(b.context);
    return out;
  }
  // Work on sorted siblings: inputs from peers or hand-built records may not be canonical,
  // and those are sorted in a copy. Stored records are canonical, and are read in place:
  // copying them cost a replica a tenth of its CPU per write (every value copied, and
  // most of them then superseded). The order is total, so a sorted input is what sorting
  // would have made of it.
  std::vector<Sibling> sorted_a, sorted_b;
  auto sorted = [](const std::vector<Sibling>& in, std::vector<Sibling>* copy) -> const std::vector<Sibling>& {
    if (std::is_sorted(in.begin(), in.end(), SiblingLess)) return in;
    *copy = in;
    std::sort(copy->begin(), copy->end(), SiblingLess);
    return *copy;
  };
  const std::vector<Sibling>& sa = sorted(a.siblings, &sorted_a);
  const std::vector<Sibling>& sb = sorted(b.siblings, &sorted_b);

  Record out;
  out.siblings.reserve(sa.size() + sb.size());
  // A sibling survives unless the other side has seen it (its context covers it) and no
  // longer holds it, i.e. the other side superseded it. The rule is symmetric, which makes
  // Join commutative.
  for (const Sibling& s : sa)
    if (ContainsWrite(sb, s) || !Supersedes(b.context, s)) out.siblings.push_back(s);
  for (const Sibling& s : sb)
    if (ContainsWrite(sa, s) || !Supersedes(a.context, s)) out.siblings.push_back(s);
  std::sort(out.siblings.begin(), out.siblings.end(), SiblingLess);
  // Both sides hold the same write: keep one. Should the copies differ (they never do when
  // dots are unique), the canonical order picks the same one regardless of argument order.
  auto last = std::unique(out.siblings.begin(), out.siblings.end(), SameWrite);
  out.siblings.erase(last, out.siblings.end());

  out.context = a.context;
  out.context.Merge(b.context);
  return out;
}

Record JoinTakingValues(Record& a, Record& b) {
  // The big values wait aside, by write, while Join works on the versions.
  std::vector<std::string> aside;
  std::vector<Sibling> keys;  // aside[i]'s write (dot and timestamp)
  for (Record* r : {&a, &b}) {
    for (Sibling& sib : r->siblings) {
      if (sib.kind != ValueKind::kPlain || sib.value.size() < kEncodeInPlaceBytes) continue;
      Sibling key;
      key.dot = sib.dot;
      key.timestamp_ms = sib.timestamp_ms;
      keys.push_back(std::move(key));
      aside.push_back(std::move(sib.value));
      sib.value.clear();
    }
  }
  Record out = Join(a, b);
  if (aside.empty()) return out;
  for (Sibling& sib : out.siblings) {
    if (sib.kind != ValueKind::kPlain || !sib.value.empty()) continue;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (aside[i].empty() || !SameWrite(keys[i], sib)) continue;
      sib.value = std::move(aside[i]);
      break;
    }
  }
  return out;
}

bool OnlyPlain(const Record& r) {
  return std::all_of(r.siblings.begin(), r.siblings.end(), [](const Sibling& s) {
    return s.kind == ValueKind::kPlain || s.kind == ValueKind::kTombstone;
  });
}

bool SameVersions(const Record& a, const Record& b) {
  if (!(a.context == b.context) || a.siblings.size() != b.siblings.size()) return false;
  for (size_t i = 0; i < a.siblings.size(); ++i) {
    const Sibling& x = a.siblings[i];
    const Sibling& y = b.siblings[i];
    if (!(x.dot == y.dot) || x.timestamp_ms != y.timestamp_ms || x.kind != y.kind ||
        x.expiry_ms != y.expiry_ms || x.flags != y.flags || x.lww != y.lww) {
      return false;
    }
  }
  return true;
}

bool SameRecord(const Record& a, const Record& b) {
  if (!SameVersions(a, b)) return false;
  for (size_t i = 0; i < a.siblings.size(); ++i) {
    const Sibling& x = a.siblings[i];
    if (x.kind != ValueKind::kPlain && x.kind != ValueKind::kTombstone && x.value != b.siblings[i].value) return false;
  }
  return true;
}

bool JoinKeeps(const Record& r) {
  const std::vector<Sibling>& s = r.siblings;
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i].lww || s[0].lww || !SiblingLess(s[i - 1], s[i]) || SameWrite(s[i - 1], s[i])) return false;
  }
  return true;  // the context: merging it into an empty one copies its entries in order
}

void Prune(Record* rec, uint64_t now_ms, const VersionLimits& limits) {
  size_t size = rec->context.size();
  if (size <= limits.prune_small) return;

  // Entries a live sibling names must stay: without them the sibling's own dot would look
  // unseen to this replica, and Supersedes() could no longer drop it once overwritten.
  std::vector<ActorId> pinned;
  pinned.reserve(rec->siblings.size());
  for (const Sibling& s : rec->siblings) pinned.push_back(s.dot.actor);
  std::sort(pinned.begin(), pinned.end());

  // Oldest first (ties by actor, so every replica prunes the same entries), as Riak does.
  std::vector<VVEntry> by_age = rec->context.entries();
  std::sort(by_age.begin(), by_age.end(), [](const VVEntry& x, const VVEntry& y) {
    return std::tie(x.timestamp_ms, x.actor) < std::tie(y.timestamp_ms, y.actor);
  });
  for (const VVEntry& e : by_age) {
    if (size <= limits.prune_small) break;
    if (std::binary_search(pinned.begin(), pinned.end(), e.actor)) continue;
    uint64_t age = now_ms > e.timestamp_ms ? now_ms - e.timestamp_ms : 0;
    // Young entries belong to actors that may still be writing: dropping them would turn
    // ordinary overwrites into conflicts. Everything after this one is younger still.
    if (age < limits.prune_young_ms) break;
    if (size <= limits.prune_big && age <= limits.prune_old_ms) break;
    rec->context.Erase(e.actor);
    --size;
  }
}

// ---- reading ------------------------------------------------------------------------------

bool IsLive(const Sibling& s, uint64_t now_ms) {
  return s.kind != ValueKind::kTombstone && !Expired(s, now_ms);
}

std::vector<const Sibling*> LiveSiblings(const Record& rec, uint64_t now_ms) {
  std::vector<const Sibling*> out;
  for (const Sibling& s : rec.siblings)
    if (IsLive(s, now_ms)) out.push_back(&s);
  return out;
}

const Sibling* Winner(const Record& rec, uint64_t now_ms) {
  const Sibling* best = nullptr;
  for (const Sibling& s : rec.siblings) {
    if (Expired(s, now_ms)) continue;
    if (best == nullptr ||
        std::tie(s.timestamp_ms, s.dot.actor, s.dot.counter) >
            std::tie(best->timestamp_ms, best->dot.actor, best->dot.counter)) {
      best = &s;
    }
  }
  if (best == nullptr || best->kind == ValueKind::kTombstone) return nullptr;
  return best;
}

bool IsDeleted(const Record& rec, uint64_t now_ms) {
  for (const Sibling& s : rec.siblings)
    if (s.kind != ValueKind::kTombstone && !Expired(s, now_ms)) return false;
  return true;
}

Status ResolveValue(const Record& rec, uint64_t now_ms, std::string* value,
                    const Sibling** winner) {
  const Sibling* w = Winner(rec, now_ms);
  if (winner != nullptr) *winner = w;
  if (w == nullptr) return Status::NotFound();
  if (w->kind != ValueKind::kCounter) {
    *value = w->value;
    return Status::OK();
  }
  // Concurrent INCRs become concurrent counter siblings; merging them all is what makes
  // none of the increments get lost.
  PNCounter total;
  bool any = false;
  for (const Sibling& s : rec.siblings) {
    if (s.kind != ValueKind::kCounter || Expired(s, now_ms)) continue;
    PNCounter c;
    Status st = DecodeCounter(s.value, &c);
    if (!st.ok()) return st;
    MergeCounterInto(&total, &any, c);
  }
  *value = std::to_string(total.Value());
  return Status::OK();
}

// ---- record codec -------------------------------------------------------------------------
//
// [u8 format][vv][varint n][n x sibling][u64 xxh64 of everything before]
// vv      = [varint n][n x (fixed64 actor, varint counter, varint timestamp_ms)]
// sibling = fixed64 actor, varint counter, varint timestamp_ms, u8 kind (| 0x80: lww), varint expiry_ms,
//           varint flags, varint len, len bytes

namespace {
// Raw encoders for EncodeRecord, the hottest encoder (every write): the output is sized
// once for the worst case and filled through a pointer, instead of an append per field.
char* RawVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
char* RawFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) *p++ = static_cast<char>((v >> (8 * i)) & 0xff);
  return p;
}
}  // namespace

namespace {
// The record's bytes before its first sibling: format, clock, sibling count.
size_t MaxRecordHead(const Record& rec) { return 1 + 10 + rec.context.size() * (8 + 10 + 10) + 10; }
char* PutRecordHead(char* p, const Record& rec) {
  *p++ = static_cast<char>(kRecordFormat);
  p = RawVarint(p, rec.context.size());
  for (const VVEntry& e : rec.context.entries()) {
    p = RawFixed64(p, e.actor);
    p = RawVarint(p, e.counter);
    p = RawVarint(p, e.timestamp_ms);
  }
  return RawVarint(p, rec.siblings.size());
}
// A sibling's bytes before its value (the last of them is the value's length).
constexpr size_t kMaxSiblingHead = 8 + 10 + 10 + 1 + 10 + 10 + 10;
char* PutSiblingHead(char* p, const Sibling& s) {
  p = RawFixed64(p, s.dot.actor);
  p = RawVarint(p, s.dot.counter);
  p = RawVarint(p, s.timestamp_ms);
  *p++ = static_cast<char>(static_cast<uint8_t>(s.kind) | (s.lww ? kLwwKindBit : 0));
  p = RawVarint(p, s.expiry_ms);
  p = RawVarint(p, s.flags);
  return RawVarint(p, s.value.size());
}
// Siblings [from, to) with their values, at p.
char* PutSiblings(char* p, const Record& rec, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i) {
    const Sibling& s = rec.siblings[i];
    p = PutSiblingHead(p, s);
    if (!s.value.empty()) std::memcpy(p, s.value.data(), s.value.size());
    p += s.value.size();
  }
  return p;
}
size_t MaxSiblingsBytes(const Record& rec, size_t from, size_t to) {
  size_t n = 0;
  for (size_t i = from; i < to; ++i) n += kMaxSiblingHead + rec.siblings[i].value.size();
  return n;
}
}  // namespace

std::string EncodeRecord(const Record& rec) {
  std::string out;
  AppendRecord(rec, &out);
  return out;
}

void AppendRecord(const Record& rec, std::string* dst) {
  // Sized once for the worst case (10 bytes per varint, 8 per fixed64), filled in place.
  size_t max = MaxRecordHead(rec) + MaxSiblingsBytes(rec, 0, rec.siblings.size()) + 8;
  size_t start = dst->size();
  dst->resize(start + max);
  char* const begin = dst->data() + start;
  char* p = PutSiblings(PutRecordHead(begin, rec), rec, 0, rec.siblings.size());
  p = RawFixed64(p, XXH3_64bits_withSeed(begin, static_cast<size_t>(p - begin), kRecordSeed));
  dst->resize(start + static_cast<size_t>(p - begin));
}

std::string EncodeRecord(Record&& rec) {
  size_t big = BiggestValue(rec);
  if (rec.siblings.empty() || rec.siblings[big].value.size() < kEncodeInPlaceBytes) {
    return EncodeRecord(static_cast<const Record&>(rec));
  }
  // Everything before the big value, then the value's own buffer with that moved in front
  // of it (in place when the buffer has the room: RespParser reserves it), then the rest.
  std::string head(MaxRecordHead(rec) + MaxSiblingsBytes(rec, 0, big) + kMaxSiblingHead, '\0');
  char* p = PutSiblingHead(PutSiblings(PutRecordHead(head.data(), rec), rec, 0, big), rec.siblings[big]);
  head.resize(static_cast<size_t>(p - head.data()));
  std::string out = std::move(rec.siblings[big].value);
  rec.siblings[big].value.clear();
  size_t value_len = out.size();
  size_t tail = MaxSiblingsBytes(rec, big + 1, rec.siblings.size()) + 8;
  if (out.capacity() < head.size() + value_len + tail) out.reserve(head.size() + value_len + tail);
  out.insert(0, head);
  size_t at = out.size();
  out.resize(at + tail);  // the tail only: a few bytes past the value, plus later siblings
  char* q = PutSiblings(out.data() + at, rec, big + 1, rec.siblings.size());
  out.resize(static_cast<size_t>(q - out.data()));
  char sum[8];
  RawFixed64(sum, XXH3_64bits_withSeed(out.data(), out.size(), kRecordSeed));
  out.append(sum, 8);
  return out;
}

namespace {
Status DecodeRecordImpl(std::string_view bytes, Record* out, bool values, std::vector<std::string_view>* views,
                        bool verify = true);
}  // namespace

Status DecodeRecord(std::string_view bytes, Record* out, bool values) {
  return DecodeRecordImpl(bytes, out, values, nullptr);
}

Status DecodeRecordVersions(std::string_view bytes, Record* out) {
  return DecodeRecordImpl(bytes, out, false, nullptr, /*verify=*/bytes.size() < kScanCheckedBytes);
}

Status DecodeRecordViews(std::string_view bytes, Record* out, std::vector<std::string_view>* values) {
  values->clear();
  return DecodeRecordImpl(bytes, out, false, values);
}

Status DecodeRecordTaking(std::string_view bytes, std::string* owner, Record* out,
                          bool keep_encoded, bool* kept) {
  if (kept) *kept = false;
  std::vector<std::string_view> views;
  Status s = DecodeRecordImpl(bytes, out, false, &views);
  if (!s.ok()) return s;
  size_t big = 0;
  for (size_t i = 1; i < views.size(); ++i) {
    if (views[i].size() > views[big].size()) big = i;
  }
  bool take = !views.empty() && views[big].size() >= kEncodeInPlaceBytes;
  // The small values first: moving the big one may overwrite their bytes.
  for (size_t i = 0; i < views.size(); ++i) {
    if (!take || i != big) out->siblings[i].value.assign(views[i]);
  }
  if (take && keep_encoded) {
    DKV_ASSERT(bytes.data() >= owner->data() && bytes.data() + bytes.size() <= owner->data() + owner->size());
    std::memmove(owner->data(), bytes.data(), bytes.size());
    owner->resize(bytes.size());
    if (kept) *kept = true;
  } else if (take) {
    DKV_ASSERT(views[big].data() >= owner->data() && views[big].data() + views[big].size() <= owner->data() + owner->size());
    std::memmove(owner->data(), views[big].data(), views[big].size());
    owner->resize(views[big].size());
    out->siblings[big].value = std::move(*owner);
  }
  return Status::OK();
}

uint64_t RecordSeal(std::string_view bytes) {
  uint64_t seal = 0;
  if (bytes.size() >= 8) std::memcpy(&seal, bytes.data() + bytes.size() - 8, 8);
  return seal;
}

namespace {
Status DecodeRecordImpl(std::string_view bytes, Record* out, bool values, std::vector<std::string_view>* views,
                        bool verify) {
  if (bytes.size() < 1 + 8) return Status::Corruption("record too short");
  std::string_view body = bytes.substr(0, bytes.size() - 8);
  if (verify) {
    Reader tail(bytes.substr(bytes.size() - 8));
    uint64_t want = 0;
    (void)tail.Fixed64(&want);
    uint8_t sealed = static_cast<uint8_t>(body[0]);
    uint64_t got = sealed == kRecordFormatXxh64 ? XXH64(body.data(), body.size(), kRecordSeed)
                                                : XXH3_64bits_withSeed(body.data(), body.size(), kRecordSeed);
    if (got != want) return Status::Corruption("record checksum mismatch");
  }

  Reader r(body);
  uint8_t format = 0;
  if (!r.Byte(&format) || (format != kRecordFormat && format != kRecordFormatXxh64))
    return Status::Corruption("unknown record format");
  Record rec;
  if (!GetVersionVector(&r, &rec.context)) return Status::Corruption("bad record context");
  uint64_t n = 0;
  if (!r.Count(kMaxSiblings, kMinSiblingBytes, &n)) return Status::Corruption("bad sibling count");
  rec.siblings.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    Sibling s;
    uint64_t flags = 0, len = 0;
    uint8_t kind = 0;
    std::string_view value;
    if (!r.Fixed64(&s.dot.actor) || !r.Varint(&s.dot.counter) || !r.Varint(&s.timestamp_ms) ||
        !r.Byte(&kind) || !r.Varint(&s.expiry_ms) || !r.Varint(&flags) || !r.Varint(&len)) {
      return Status::Corruption("truncated sibling");
    }
    s.lww = (kind & kLwwKindBit) != 0;
    kind &= static_cast<uint8_t>(~kLwwKindBit);
    if (kind > static_cast<uint8_t>(ValueKind::kCollection)) return Status::Corruption("bad value kind");
    if (flags > std::numeric_limits<uint32_t>::max()) return Status::Corruption("bad flags");
    if (len > r.left() || !r.Bytes(static_cast<size_t>(len), &value))
      return Status::Corruption("sibling value overruns record");
    s.kind = static_cast<ValueKind>(kind);
    s.flags = static_cast<uint32_t>(flags);
    if (values) {
      // A big value gets room past its end, so a header put in front of it later (a reply's,
      // RespWriter::BulkOwned) moves it within this buffer, not into a new one.
      if (value.size() >= kDecodeSlackAt) s.value.reserve(value.size() + kEncodeInPlaceRoom);
      s.value.assign(value);
    }
    if (views != nullptr) views->push_back(value);
    rec.siblings.push_back(std::move(s));
  }
  if (r.left() != 0) return Status::Corruption("trailing bytes in record");
  *out = std::move(rec);
  return Status::OK();
}
}  // namespace

// ---- context token ------------------------------------------------------------------------

std::string EncodeContext(const VersionVector& vv, std::string_view secret) {
  // The empty context is "" on the wire (the README, "Commands"), so a missing key needs no token.
  if (vv.empty()) return "";
  std::string payload = EncodeContextPayload(vv);
  std::string token(kTokenPrefix);
  token += Base64UrlEncode(payload);
  token.push_back('.');
  token += Base64UrlEncode(TokenMac(payload, secret));
  return token;
}

Status DecodeContext(std::string_view token, std::string_view secret, size_t max_bytes,
                     VersionVector* out) {
  // One message for every failure: a client learns nothing about why a forgery failed.
  const Status invalid = Status::Invalid("invalid context");
  if (token.empty()) {
    *out = VersionVector();
    return Status::OK();
  }
  if (token.size() > max_bytes) return invalid;
  if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix) return invalid;
  token.remove_prefix(kTokenPrefix.size());
  size_t dot = token.find('.');
  if (dot == std::string_view::npos) return invalid;
  std::string payload, mac;
  if (!Base64UrlDecode(token.substr(0, dot), &payload) ||
      !Base64UrlDecode(token.substr(dot + 1), &mac) || mac.size() != kTokenMacBytes) {
    return invalid;
  }
  std::string want = TokenMac(payload, secret);
  if (CRYPTO_memcmp(want.data(), mac.data(), kTokenMacBytes) != 0) return invalid;

  Reader r(payload);
  uint8_t format = 0;
  VersionVector vv;
  if (!r.Byte(&format) || format != kContextFormat || !GetVersionVector(&r, &vv) ||
      r.left() != 0) {
    return invalid;
  }
  *out = std::move(vv);
  return Status::OK();
}

uint64_t ContextCas(const VersionVector& vv) {
  std::string canonical = EncodeContextPayload(vv);
  uint64_t h = XXH64(canonical.data(), canonical.size(), kCasSeed);
  return h == 0 ? 1 : h;  // memcached clients read cas 0 as "no cas"
}

bool DeadFor(const Record& rec, uint64_t now_ms, uint64_t grace_ms, uint64_t expiry_grace_ms) {
  if (rec.siblings.empty()) return false;
  for (const auto& sib : rec.siblings) {
    bool expired = sib.expiry_ms != 0 && sib.expiry_ms + expiry_grace_ms <= now_ms;
    bool old_tomb = sib.kind == ValueKind::kTombstone && sib.timestamp_ms + grace_ms <= now_ms;
    if (!expired && !old_tomb) return false;
  }
  return true;
}

}  // namespace dynakv::cluster
