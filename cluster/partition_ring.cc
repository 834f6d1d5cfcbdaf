// cluster/partition_ring.cc: see partition_ring.h.
#include "cluster/partition_ring.h"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <map>
#include <utility>

#include "storage/status.h"

namespace dynakv::cluster {
namespace {

constexpr std::array<uint16_t, 256> MakeCrc16Table() {
  std::array<uint16_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i << 8;
    for (int b = 0; b < 8; ++b) crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
    t[i] = static_cast<uint16_t>(crc);
  }
  return t;
}
constexpr std::array<uint16_t, 256> kCrc16Table = MakeCrc16Table();

// Slicing by 8 (the CRC is linear, so 8 bytes fold in at once): kCrc16Slices[k][x] is the
// CRC of byte x followed by k zero bytes, and the register's two bytes XOR into the first two
// message bytes. 8 table loads per 8 bytes instead of 8 dependent steps: KeyPartition runs up
// to five times per request (1-2% of a cluster coordinator's CPU, perf).
constexpr std::array<std::array<uint16_t, 256>, 8> MakeCrc16Slices() {
  std::array<std::array<uint16_t, 256>, 8> t{};
  t[0] = kCrc16Table;
  for (size_t k = 1; k < 8; ++k) {
    for (size_t x = 0; x < 256; ++x) {
      uint16_t prev = t[k - 1][x];
      t[k][x] = static_cast<uint16_t>((prev << 8) ^ kCrc16Table[prev >> 8]);
    }
  }
  return t;
}
constexpr std::array<std::array<uint16_t, 256>, 8> kCrc16Slices = MakeCrc16Slices();

// Same order as Build keeps members_: sorted by id, the last of equal ids wins, weights
// clamped. Shared with SameMembers so that both normalize alike.
std::vector<PartitionRing::Member> Normalize(std::vector<PartitionRing::Member> members) {
  using Member = PartitionRing::Member;
  std::stable_sort(members.begin(), members.end(),
                   [](const Member& a, const Member& b) { return a.id < b.id; });
  std::vector<Member> out;
  out.reserve(members.size());
  for (auto& m : members) {
    m.weight = std::clamp<uint32_t>(m.weight, 1, PartitionRing::kMaxWeight);
    if (!out.empty() && out.back().id == m.id) {
      out.back() = std::move(m);
    } else {
      out.push_back(std::move(m));
    }
  }
  return out;
}

void PutU64(XXH3_state_t* st, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
  XXH3_64bits_update(st, b, sizeof b);
}

void PutString(XXH3_state_t* st, const std::string& s) {
  PutU64(st, s.size());  // length first, so ("ab","c") and ("a","bc") differ
  XXH3_64bits_update(st, s.data(), s.size());
}

struct Candidate {
  uint64_t key;
  uint32_t member;
  bool operator<(const Candidate& o) const {
    return key != o.key ? key < o.key : member < o.member;
  }
};

}  // namespace

uint16_t Crc16(std::string_view data) {
  uint16_t crc = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  const auto& t = kCrc16Slices;
  for (; n >= 8; p += 8, n -= 8) {
    crc = static_cast<uint16_t>(t[7][(crc >> 8) ^ p[0]] ^ t[6][(crc & 0xff) ^ p[1]] ^ t[5][p[2]] ^
                                t[4][p[3]] ^ t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]]);
  }
  for (; n > 0; ++p, --n) {
    crc = static_cast<uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ *p) & 0xff]);
  }
  return crc;
}

uint32_t KeyPartition(std::string_view key) {
  size_t open = key.find('{');
  if (open != std::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return Crc16(key) & (kPartitions - 1);
}

uint64_t PartitionRing::RankKey(uint32_t i, uint32_t p) const {
  // p as 4 little-endian bytes: the table must not depend on the host's byte order.
  const unsigned char b[4] = {static_cast<unsigned char>(p), static_cast<unsigned char>(p >> 8),
                              static_cast<unsigned char>(p >> 16),
                              static_cast<unsigned char>(p >> 24)};
  uint64_t h = XXH3_64bits_withSeed(b, sizeof b, seeds_[i]);
  // With equal weights the weighted score is monotonic in the hash, so rank by the hash
  // itself: exact integer comparisons (no libm rounding that could differ between builds)
  // and no logarithm in the inner loop. Higher hash = better, so invert it.
  if (uniform_) return ~h;
  // Weighted rendezvous: score = -weight / ln(u), u uniform in (0,1). Ranking by
  // -ln(u) / weight ascending is the same order; that value is a positive double, and the
  // bit patterns of positive doubles order like the doubles, so one integer key serves both.
  double u = (static_cast<double>(h >> 11) + 0.5) * 0x1p-53;
  return std::bit_cast<uint64_t>(-std::log(u) / weights_[i]);
}

void PartitionRing::Build(std::vector<Member> members, size_t n) {
  members_ = Normalize(std::move(members));
  n_ = n;
  const size_t k = members_.size();
  DKV_ASSERT(k < (size_t{1} << 31));
  width_ = std::min(n, k);

  seeds_.resize(k);
  weights_.resize(k);
  zone_of_.resize(k);
  uniform_ = true;
  uint64_t total_weight = 0;
  std::map<std::string_view, uint32_t> zones;
  for (uint32_t i = 0; i < k; ++i) {
    const Member& m = members_[i];
    seeds_[i] = XXH3_64bits(m.id.data(), m.id.size());
    weights_[i] = static_cast<double>(m.weight);
    if (m.weight != members_[0].weight) uniform_ = false;
    total_weight += m.weight;
    // Zone classes: members of a named zone share one; a member without a zone is its own
    // (it may be on any machine, so it can be no reason to skip another node).
    if (m.zone.empty()) {
      zone_of_[i] = i;
    } else {
      zone_of_[i] = zones.emplace(m.zone, i).first->second;  // the first member's index
    }
  }

  XXH3_state_t* st = XXH3_createState();
  DKV_ASSERT(st != nullptr);
  XXH3_64bits_reset(st);
  PutU64(st, kPlacementVersion);
  PutU64(st, n_);
  PutU64(st, k);
  for (const Member& m : members_) {
    PutString(st, m.id);
    PutU64(st, m.weight);
    PutString(st, m.zone);
  }
  fingerprint_ = XXH3_64bits_digest(st);
  XXH3_freeState(st);

  owners_.assign(kPartitions * width_, 0);
  if (width_ == 0) return;

  // Fair share of each member: n * Q replicas split by weight; cap = kLoadCapPercent % of
  // it. Integer arithmetic, so every node computes the same caps.
  const uint64_t replicas = static_cast<uint64_t>(kPartitions) * width_;
  std::vector<uint32_t> cap(k), load(k, 0);
  for (uint32_t i = 0; i < k; ++i) {
    unsigned __int128 c = static_cast<unsigned __int128>(replicas) * members_[i].weight *
                          kLoadCapPercent / (static_cast<unsigned __int128>(total_weight) * 100);
    cap[i] = static_cast<uint32_t>(std::clamp<unsigned __int128>(c, 1, UINT32_MAX));
  }

  std::vector<Candidate> cand(k);
  std::vector<uint8_t> taken(k, 0);
  std::vector<uint32_t> used_zones;
  used_zones.reserve(width_);
  // Most partitions need only the first n of the ranking; select those one at a time
  // (O(k) each) and sort the rest only when a partition needs to look deeper.
  constexpr size_t kSelectDepth = 8;

  for (uint32_t p = 0; p < kPartitions; ++p) {
    for (uint32_t i = 0; i < k; ++i) cand[i] = Candidate{RankKey(i, p), i};
    size_t sorted = 0;
    auto rank = [&](size_t j) -> uint32_t {
      while (sorted <= j) {
        if (sorted >= kSelectDepth) {
          std::sort(cand.begin() + sorted, cand.end());
          sorted = k;
          break;
        }
        auto best = std::min_element(cand.begin() + sorted, cand.end());
        std::iter_swap(cand.begin() + sorted, best);
        ++sorted;
      }
      return cand[j].member;
    };

    uint32_t* out = owners_.data() + static_cast<size_t>(p) * width_;
    size_t got = 0;
    used_zones.clear();
    // Passes in order of what matters more: distinct zones (a zone failure must not take
    // all replicas) over the load bound (an imbalance), and both over rank. The last pass
    // takes anything left, so every list gets width_ distinct members.
    for (int pass = 0; pass < 4 && got < width_; ++pass) {
      const bool new_zone = pass < 2;
      const bool under_cap = pass == 0 || pass == 2;
      for (size_t j = 0; j < k && got < width_; ++j) {
        uint32_t m = rank(j);
        if (taken[m]) continue;
        if (under_cap && load[m] >= cap[m]) continue;
        if (new_zone &&
            std::find(used_zones.begin(), used_zones.end(), zone_of_[m]) != used_zones.end()) {
          continue;
        }
        taken[m] = 1;
        ++load[m];
        used_zones.push_back(zone_of_[m]);
        out[got++] = m;
      }
    }
    DKV_ASSERT(got == width_);
    for (size_t j = 0; j < width_; ++j) taken[out[j]] = 0;
  }
}

bool PartitionRing::SameMembers(const std::vector<Member>& members, size_t n) const {
  return n == n_ && Normalize(members) == members_;
}

std::span<const uint32_t> PartitionRing::Owners(uint32_t p) const {
  DKV_ASSERT(p < kPartitions);
  return {owners_.data() + static_cast<size_t>(p) * width_, width_};
}

void PartitionRing::Walk(uint32_t p, size_t max, std::vector<uint32_t>* out) const {
  DKV_ASSERT(p < kPartitions);
  out->clear();
  max = std::min(max, members_.size());
  if (max == 0) return;
  auto owners = Owners(p);
  out->assign(owners.begin(), owners.begin() + std::min(max, owners.size()));
  if (out->size() == max) return;
  std::vector<Candidate> cand;
  cand.reserve(members_.size());
  for (uint32_t i = 0; i < members_.size(); ++i) {
    if (std::find(owners.begin(), owners.end(), i) == owners.end()) {
      cand.push_back(Candidate{RankKey(i, p), i});
    }
  }
  std::sort(cand.begin(), cand.end());
  for (size_t j = 0; j < cand.size() && out->size() < max; ++j) out->push_back(cand[j].member);
}

std::vector<uint32_t> PartitionRing::Load() const {
  std::vector<uint32_t> load(members_.size(), 0);
  for (uint32_t m : owners_) ++load[m];
  return load;
}

}  // namespace dynakv::cluster
