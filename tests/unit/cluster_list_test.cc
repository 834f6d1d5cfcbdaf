// Tests for the list parts of cluster/collection.h: the header's reach, position bytes and
// their order, ListPositionBetween, and the push rule checked against Redis's sequential
// answer (a std::deque) over random histories, with concurrent pushes through two servers
// surviving in one order on every replica.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cluster/collection.h"

namespace dynakv::cluster {
namespace {

TEST(ListHeaderTest, ReachRoundTripsAndIsRequiredOnlyForLists) {
  for (uint64_t reach : {uint64_t(0), uint64_t(1), uint64_t(1) << 62, ~uint64_t(0)}) {
    CollectionHeader h{'l', {3, 9}, reach}, back;
    ASSERT_TRUE(DecodeHeader(EncodeHeader(h), &back).ok());
    EXPECT_EQ(back, h);
  }
  std::string list = EncodeHeader({'l', {3}, 77});
  CollectionHeader out;
  EXPECT_FALSE(DecodeHeader(list.substr(0, list.size() - 8), &out).ok()) << "a list header without its reach";
  EXPECT_FALSE(DecodeHeader(list + "x", &out).ok());
  std::string set = EncodeHeader({'s', {3}, 77});
  EXPECT_EQ(set.size(), list.size() - 8) << "only a list carries a reach";
  EXPECT_FALSE(DecodeHeader(set + std::string(8, '\0'), &out).ok());
}

Sibling HeaderSib(ActorId a, uint64_t ts, CollectionHeader h) {
  Sibling s;
  s.dot = {a, 1};
  s.timestamp_ms = ts;
  s.kind = ValueKind::kCollection;
  s.value = EncodeHeader(h);
  return s;
}

TEST(ListHeaderTest, TheReachOfConcurrentHeadersIsTheirMaximum) {
  Record rec;
  rec.siblings = {HeaderSib(1, 10, {'l', {5}, 900}), HeaderSib(2, 20, {'l', {6}, 300}),
                  HeaderSib(3, 5, {'s', {7}, 0})};
  HeaderView v;
  ASSERT_TRUE(ViewHeader(rec, 100, &v).ok());
  EXPECT_EQ(v.type, 'l');
  EXPECT_EQ(v.reach, 900u) << "the newer sibling's smaller reach does not lower it";
  EXPECT_EQ(v.gens, (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(HeaderOf(v).reach, 900u);
}

TEST(ListPositionTest, BytesCompareAsMajorThenTag) {
  std::mt19937_64 rng(7);
  std::vector<int64_t> majors = {INT64_MIN, INT64_MIN + 1, -1000, -1, 0, 1, 1000, INT64_MAX - 1, INT64_MAX};
  for (int i = 0; i < 2000; i++) {
    int64_t a = i % 3 == 0 ? majors[rng() % majors.size()] : int64_t(rng());
    int64_t b = i % 5 == 0 ? a : int64_t(rng());
    uint64_t ta = rng() % 4, tb = rng() % 4;
    std::string pa = ListPosition(a, ta), pb = ListPosition(b, tb);
    ASSERT_EQ(pa.size(), kListComponent);
    EXPECT_EQ(ListMajor(pa), a);
    EXPECT_EQ(pa < pb, std::make_pair(a, ta) < std::make_pair(b, tb)) << a << " " << b;
  }
  EXPECT_FALSE(IsListPosition(""));
  EXPECT_FALSE(IsListPosition(std::string(1, '\0'))) << "the length counter's element";
  EXPECT_TRUE(IsListPosition(std::string(32, 'x')));
}

TEST(ListPositionTest, BetweenIsStrictlyBetweenOverRandomInserts) {
  std::mt19937_64 rng(11);
  std::vector<std::string> list = {ListPosition(0, 1)};
  for (int i = 0; i < 3000; i++) {
    size_t at = rng() % (list.size() + 1);  // insert before list[at] (at == size: at the end)
    std::string lo = at == 0 ? "" : list[at - 1];
    std::string hi = at == list.size() ? "" : list[at];
    // Mostly at one hot spot, so positions grow long as repeated LINSERTs make them.
    if (i % 4 != 0 && list.size() > 2) {
      at = 1;
      lo = list[0];
      hi = list[1];
    }
    std::string p = ListPositionBetween(lo, hi, rng());
    ASSERT_FALSE(p.empty());
    ASSERT_TRUE(IsListPosition(p));
    if (!lo.empty()) {
      ASSERT_LT(lo, p);
    }
    if (!hi.empty()) {
      ASSERT_LT(p, hi);
    }
    list.insert(list.begin() + long(at), p);
  }
  EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
  EXPECT_TRUE(std::adjacent_find(list.begin(), list.end()) == list.end());
  // No room: below a first component already at the int64 limit.
  EXPECT_EQ(ListPositionBetween("", ListPosition(INT64_MIN, 0), 1), "");
  EXPECT_EQ(ListPositionBetween(ListPosition(INT64_MAX, 0), "", 1), "");
  std::string lo = ListPosition(5, 1);
  EXPECT_EQ(ListPositionBetween(lo, lo + ListPosition(INT64_MIN, 0), 1), "");
}

// A server's pushes as cluster/list_engine.cc makes them: the position's major from ListPushMajor over
// the reach it read and its own last major.
struct PushServer {
  int64_t last = 0;
  std::string Push(bool left, uint64_t* reach, int64_t now_us, uint64_t tag) {
    int64_t m = ListPushMajor(*reach, last, now_us);
    last = m;
    *reach = std::max<uint64_t>(*reach, uint64_t(m));
    return ListPosition(left ? -m : m, tag);
  }
};

TEST(ListPushTest, SequentialPushesAndPopsThroughManyServersMatchRedis) {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 50; round++) {
    std::vector<PushServer> servers(3);
    // Clocks skewed by up to a second either way: the header's reach keeps the order.
    std::vector<int64_t> skew = {0, int64_t(rng() % 1000000), -int64_t(rng() % 1000000)};
    uint64_t reach = 0;  // the header, read by every sequential command
    std::map<std::string, int> replica;  // position -> value
    std::deque<int> model;
    int64_t now = 1'700'000'000'000'000;
    for (int op = 0; op < 300; op++) {
      now += int64_t(rng() % 50);
      PushServer& sv = servers[rng() % 3];
      int64_t clock = now + skew[&sv - servers.data()];
      int kind = int(rng() % 5);
      if (kind <= 2) {
        bool left = kind == 0;
        replica[sv.Push(left, &reach, clock, rng())] = op;
        if (left) model.push_front(op);
        else model.push_back(op);
      } else if (!model.empty()) {
        bool left = kind == 3;
        auto it = left ? replica.begin() : std::prev(replica.end());
        EXPECT_EQ(it->second, left ? model.front() : model.back());
        replica.erase(it);
        if (left) model.pop_front();
        else model.pop_back();
      }
      std::vector<int> got;
      for (auto& [p, v] : replica) got.push_back(v);
      ASSERT_EQ(got, std::vector<int>(model.begin(), model.end())) << "round " << round << " op " << op;
    }
  }
}

TEST(ListPushTest, ConcurrentPushesBothSurviveInOneOrder) {
  // Two servers read the same header and push at once; each replica applies the two writes
  // in either order and holds the same list, both elements in it.
  uint64_t reach_a = 500, reach_b = 500;
  PushServer a, b;
  std::string pa = a.Push(true, &reach_a, 100, 1), pb = b.Push(true, &reach_b, 100, 2);
  std::map<std::string, char> r1, r2;
  r1[pa] = 'a';
  r1[pb] = 'b';
  r2[pb] = 'b';
  r2[pa] = 'a';
  EXPECT_EQ(r1, r2);
  EXPECT_EQ(r1.size(), 2u);
  EXPECT_EQ(ListMajor(pa), ListMajor(pb)) << "same major: the tag orders them";
  // Then a push that read either header goes before both.
  uint64_t merged = std::max(reach_a, reach_b);
  std::string pc = a.Push(true, &merged, 0, 0);
  EXPECT_LT(pc, std::min(pa, pb));
}

}  // namespace
}  // namespace dynakv::cluster
