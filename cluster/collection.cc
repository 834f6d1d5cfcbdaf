// cluster/collection.cc: see collection.h.
#include "cluster/collection.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <tuple>
#include <type_traits>

#include "cluster/key_layout.h"
#include "protocol/resp.h"

namespace dynakv::cluster {

namespace {
constexpr size_t kMaxGens = 1u << 16;  // far above any real concurrency; bounds a decode

bool Newer(const Sibling& a, const Sibling& b) {
  return std::tie(a.timestamp_ms, a.dot.actor, a.dot.counter) >
         std::tie(b.timestamp_ms, b.dot.actor, b.dot.counter);
}

void PutGen(std::string* out, uint64_t g) {
  for (int i = 7; i >= 0; i--) out->push_back(static_cast<char>((g >> (8 * i)) & 0xff));
}
}  // namespace

const char* CollectionTypeName(char type) {
  switch (type) {
    case 'h': return "hash";
    case 's': return "set";
    case 'z': return "zset";
    case 'l': return "list";
    default: return "none";
  }
}

std::string EncodeHeader(const CollectionHeader& h) {
  std::string out;
  out.reserve(2 + 8 * h.gens.size());
  out.push_back(h.type);
  uint64_t n = h.gens.size();
  do {
    uint8_t b = n & 0x7f;
    n >>= 7;
    out.push_back(static_cast<char>(n ? (b | 0x80) : b));
  } while (n);
  for (uint64_t g : h.gens) PutGen(&out, g);
  if (h.type == 'l') PutGen(&out, h.reach);
  return out;
}

Status DecodeHeader(std::string_view bytes, CollectionHeader* out) {
  if (bytes.empty() || !IsCollectionType(bytes[0])) return Status::Corruption("bad collection type");
  size_t i = 1;
  uint64_t n = 0;
  for (int shift = 0;; shift += 7) {
    if (i >= bytes.size() || shift > 28) return Status::Corruption("bad collection header");
    uint8_t b = static_cast<uint8_t>(bytes[i++]);
    n |= uint64_t(b & 0x7f) << shift;
    if ((b & 0x80) == 0) break;
  }
  size_t extra = bytes[0] == 'l' ? 8 : 0;
  if (n > kMaxGens || bytes.size() - i != 8 * n + extra) return Status::Corruption("bad collection header");
  CollectionHeader h;
  h.type = bytes[0];
  h.gens.reserve(n);
  for (uint64_t k = 0; k < n; k++, i += 8) {
    uint64_t g = 0;
    for (size_t j = 0; j < 8; j++) g = (g << 8) | static_cast<uint8_t>(bytes[i + j]);
    if (g == 0 || (!h.gens.empty() && g <= h.gens.back())) {
      return Status::Corruption("bad collection generation");
    }
    h.gens.push_back(g);
  }
  if (extra) {
    for (size_t j = 0; j < 8; j++) h.reach = (h.reach << 8) | static_cast<uint8_t>(bytes[i + j]);
  }
  *out = std::move(h);
  return Status::OK();
}

Status ViewHeader(const Record& rec, uint64_t now_ms, HeaderView* out) {
  HeaderView v;
  for (const Sibling& s : rec.siblings) {
    if (s.kind != ValueKind::kCollection) continue;
    CollectionHeader h;
    if (!DecodeHeader(s.value, &h).ok()) continue;  // a dead sibling may be anything
    v.all_gens.insert(v.all_gens.end(), h.gens.begin(), h.gens.end());
  }
  std::sort(v.all_gens.begin(), v.all_gens.end());
  v.all_gens.erase(std::unique(v.all_gens.begin(), v.all_gens.end()), v.all_gens.end());

  std::vector<const Sibling*> live = LiveSiblings(rec, now_ms);
  for (const Sibling* s : live)
    if (v.decider == nullptr || Newer(*s, *v.decider)) v.decider = s;
  if (v.decider == nullptr) {
    *out = std::move(v);
    return Status::OK();
  }
  v.expiry_ms = v.decider->expiry_ms;
  if (v.decider->kind != ValueKind::kCollection) {
    v.kind = KeyType::kString;
    *out = std::move(v);
    return Status::OK();
  }
  CollectionHeader win;
  Status st = DecodeHeader(v.decider->value, &win);
  if (!st.ok()) return st;
  v.kind = KeyType::kCollection;
  v.type = win.type;
  for (const Sibling* s : live) {
    if (s->kind != ValueKind::kCollection) continue;
    CollectionHeader h;
    st = DecodeHeader(s->value, &h);
    if (!st.ok()) return st;
    if (h.type != v.type) continue;  // a concurrent collection of another type lost
    v.gens.insert(v.gens.end(), h.gens.begin(), h.gens.end());
    v.reach = std::max(v.reach, h.reach);
  }
  std::sort(v.gens.begin(), v.gens.end());
  v.gens.erase(std::unique(v.gens.begin(), v.gens.end()), v.gens.end());
  *out = std::move(v);
  return Status::OK();
}

CollectionHeader HeaderOf(const HeaderView& view) {
  CollectionHeader h;
  h.type = view.type;
  h.gens = view.gens;
  h.reach = view.reach;
  return h;
}

std::string ListPosition(int64_t major, uint64_t tag) {
  std::string p;
  p.reserve(kListComponent);
  PutGen(&p, static_cast<uint64_t>(major) ^ (uint64_t(1) << 63));
  PutGen(&p, tag);
  return p;
}

int64_t ListPushMajor(uint64_t reach, int64_t last, int64_t now_us) {
  int64_t r = int64_t(std::min<uint64_t>(reach, uint64_t(INT64_MAX) - 1));
  return std::max<int64_t>({r + 1, last < INT64_MAX ? last + 1 : last, now_us});
}

int64_t ListMajor(std::string_view p) {
  uint64_t u = 0;
  for (size_t j = 0; j < 8; j++) u = (u << 8) | static_cast<uint8_t>(p[j]);
  return static_cast<int64_t>(u ^ (uint64_t(1) << 63));
}

// Below hi with no lower bound: a first component with a smaller major. Above lo with no
// upper bound: a larger one. Between two: any extension of lo is above lo; it is below hi
// unless hi itself extends lo, and then the component after lo in hi, lowered by one major,
// fits (and ends there).
std::string ListPositionBetween(std::string_view lo, std::string_view hi, uint64_t tag) {
  if (lo.empty() && hi.empty()) return ListPosition(0, tag);
  if (lo.empty()) {
    int64_t m = ListMajor(hi);
    return m == INT64_MIN ? std::string() : ListPosition(m - 1, tag);
  }
  if (hi.empty()) {
    int64_t m = ListMajor(lo);
    return m == INT64_MAX ? std::string() : ListPosition(m + 1, tag);
  }
  std::string out(lo);
  if (hi.size() > lo.size() && hi.substr(0, lo.size()) == lo) {
    int64_t m = ListMajor(hi.substr(lo.size()));
    if (m == INT64_MIN) return std::string();
    out += ListPosition(m - 1, tag);
    return out;
  }
  out += ListPosition(0, tag);
  return out;
}

std::string GenElementPrefix(char type, std::string_view key, uint64_t gen) {
  std::string k = ElementPrefix(type, key);
  PutGen(&k, gen);
  return k;
}

std::string GenElementKey(char type, std::string_view key, uint64_t gen,
                          std::string_view element) {
  std::string k = GenElementPrefix(type, key, gen);
  k.append(element);
  return k;
}

std::string EncodeScore(double d) {
  if (d == 0) d = 0;  // -0 as 0
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  std::string out(8, '\0');
  for (int i = 7; i >= 0; i--, bits >>= 8) out[size_t(i)] = static_cast<char>(bits & 0xff);
  return out;
}

bool DecodeScore(std::string_view v, double* d) {
  if (v.size() != 8) return false;
  uint64_t bits = 0;
  for (char c : v) bits = (bits << 8) | static_cast<uint8_t>(c);
  std::memcpy(d, &bits, 8);
  return !std::isnan(*d);
}

namespace {
const Sibling* NewestLive(const std::vector<const Sibling*>& live) {
  const Sibling* best = nullptr;
  for (const Sibling* s : live)
    if (best == nullptr || Newer(*s, *best)) best = s;
  return best;
}
bool IsScoreCounter(const Sibling& s) { return s.kind == ValueKind::kCounter && IsFloatCounter(s.value); }

// The merge of every live score counter sibling.
Status MergeScoreCounters(const std::vector<const Sibling*>& live, FloatCounter* total) {
  bool any = false;
  for (const Sibling* s : live) {
    if (!IsScoreCounter(*s)) continue;
    FloatCounter c;
    Status st = DecodeFloatCounter(s->value, &c);
    if (!st.ok()) return st;
    MergeCounterInto(total, &any, c);
  }
  return Status::OK();
}
bool IsFloatCounterSibling(const Sibling& s) { return s.kind == ValueKind::kCounter && IsLongFloatCounter(s.value); }

// The merge of every live float counter sibling (HINCRBYFLOAT).
Status MergeFloatCounters(const std::vector<const Sibling*>& live, LongFloatCounter* total) {
  bool any = false;
  for (const Sibling* s : live) {
    if (!IsFloatCounterSibling(*s)) continue;
    LongFloatCounter c;
    Status st = DecodeLongFloatCounter(s->value, &c);
    if (!st.ok()) return st;
    MergeCounterInto(total, &any, c);
  }
  return Status::OK();
}
}  // namespace

Status LongFloatCounterOf(const Record& rec, uint64_t now_ms, LongFloatCounter* out, const long double* base_hint) {
  std::vector<const Sibling*> live = LiveSiblings(rec, now_ms);
  const Sibling* best = NewestLive(live);
  LongFloatCounter c;
  if (best != nullptr && IsFloatCounterSibling(*best)) {
    Status st = MergeFloatCounters(live, &c);
    if (!st.ok()) return st;
  } else if (base_hint != nullptr) {
    c.base = *base_hint;
  } else if (best != nullptr) {
    ElementView shown;
    Status st = ResolveElement(rec, now_ms, &shown);
    if (!st.ok()) return st;
    if (shown.score_counter || !protocol::ParseRedisLongDouble(shown.value, &c.base)) {
      return Status::Invalid("hash value is not a float");
    }
  }
  *out = std::move(c);
  return Status::OK();
}

Status ScoreCounterOf(const Record& rec, uint64_t now_ms, FloatCounter* out, const double* base_hint) {
  std::vector<const Sibling*> live = LiveSiblings(rec, now_ms);
  const Sibling* best = NewestLive(live);
  FloatCounter c;
  if (best != nullptr && IsScoreCounter(*best)) {
    Status st = MergeScoreCounters(live, &c);
    if (!st.ok()) return st;
  } else if (base_hint != nullptr) {
    c.base = *base_hint;
  } else if (best != nullptr && !DecodeScore(best->value, &c.base)) {
    return Status::Corruption("sorted set member holds no score");
  }
  *out = std::move(c);
  return Status::OK();
}

namespace {

// ResolveElement's body. Given a const record it copies a plain winner's value; given one it
// may change, it moves the value out.
template <typename Rec>
Status ResolveElementIn(Rec& rec, uint64_t now_ms, ElementView* out) {
  using Sib = std::conditional_t<std::is_const_v<Rec>, const Sibling, Sibling>;
  ElementView v;
  // The newest live sibling, found without listing the live ones: only counters need the list.
  Sib* best = nullptr;
  for (Sib& s : rec.siblings) {
    if (IsLive(s, now_ms) && (best == nullptr || Newer(s, *best))) best = &s;
  }
  if (best == nullptr) {
    *out = std::move(v);
    return Status::OK();
  }
  v.present = true;
  v.timestamp_ms = best->timestamp_ms;
  v.dot = best->dot;
  if (best->kind != ValueKind::kCounter) {
    if constexpr (std::is_const_v<Rec>) {
      v.value = best->value;
    } else {
      v.value = std::move(best->value);
    }
    *out = std::move(v);
    return Status::OK();
  }
  std::vector<const Sibling*> live = LiveSiblings(rec, now_ms);
  if (IsFloatCounter(best->value)) {
    // Concurrent ZINCRBYs are concurrent score counter siblings: merged, every increment
    // counts.
    FloatCounter total;
    Status st = MergeScoreCounters(live, &total);
    if (!st.ok()) return st;
    v.counter = true;
    v.score_counter = true;
    v.value = EncodeScore(total.Value());
  } else if (IsLongFloatCounter(best->value)) {
    // Concurrent HINCRBYFLOATs, the same way.
    LongFloatCounter total;
    Status st = MergeFloatCounters(live, &total);
    if (!st.ok()) return st;
    v.counter = true;
    v.float_counter = true;
    v.number = total.Value();
    v.value = protocol::FormatRedisLongDouble(v.number);
  } else {
    // Concurrent HINCRBYs are concurrent counter siblings: merging every live one is what
    // keeps each increment.
    PNCounter total;
    bool any = false;
    for (const Sibling* s : live) {
      if (s->kind != ValueKind::kCounter || IsFloatCounter(s->value) || IsLongFloatCounter(s->value)) continue;
      PNCounter c;
      Status st = DecodeCounter(s->value, &c);
      if (!st.ok()) return st;
      MergeCounterInto(&total, &any, c);
    }
    v.counter = true;
    v.value = std::to_string(total.Value());
  }
  *out = std::move(v);
  return Status::OK();
}

}  // namespace

Status ResolveElement(const Record& rec, uint64_t now_ms, ElementView* out) {
  return ResolveElementIn(rec, now_ms, out);
}

Status ResolveElement(Record&& rec, uint64_t now_ms, ElementView* out) {
  return ResolveElementIn(rec, now_ms, out);
}

ElementView ResolveAcross(const std::vector<ElementView>& views) {
  const ElementView* best = nullptr;
  for (const ElementView& v : views) {
    if (!v.present) continue;
    if (best == nullptr ||
        std::tie(v.timestamp_ms, v.dot.actor, v.dot.counter) >
            std::tie(best->timestamp_ms, best->dot.actor, best->dot.counter)) {
      best = &v;
    }
  }
  if (best == nullptr) return ElementView{};
  ElementView out = *best;
  if (!out.counter) return out;
  // Counters in several generations (HINCRBYs through coordinators that each created the
  // collection) are separate records incremented separately: every increment counts.
  if (out.score_counter) {
    double total = 0;
    for (const ElementView& v : views) {
      double d;
      if (v.present && v.score_counter && DecodeScore(v.value, &d)) total += d;
    }
    out.value = EncodeScore(std::isnan(total) ? 0.0 : total);
    return out;
  }
  if (out.float_counter) {
    long double total = 0;
    for (const ElementView& v : views) {
      if (v.present && v.float_counter) total += v.number;
    }
    out.number = std::isnan(total) ? 0 : total;
    out.value = protocol::FormatRedisLongDouble(out.number);
    return out;
  }
  uint64_t sum = 0;
  for (const ElementView& v : views) {
    if (!v.present || !v.counter || v.score_counter || v.float_counter) continue;
    sum += static_cast<uint64_t>(std::strtoll(v.value.c_str(), nullptr, 10));  // wraps as int64
  }
  out.value = std::to_string(static_cast<int64_t>(sum));
  return out;
}

}  // namespace dynakv::cluster
