// Membership: merge rules, failure detection by timeout, refutation, tombstones.
#include "cluster/membership.h"

#include <gtest/gtest.h>

namespace dynakv::cluster {
namespace {

MembershipConfig Cfg(const std::string& id, std::vector<std::string> seeds = {}) {
  MembershipConfig c;
  c.id = id;
  c.cluster_addr = "addr-" + id;
  c.weight = 100;
  c.seeds = std::move(seeds);
  c.gossip_interval_ms = 100;
  c.suspect_after_ms = 1000;
  c.down_after_ms = 2000;
  return c;
}

MemberState State(const std::string& id, uint64_t inc, uint64_t hb,
                  MemberStatus st = MemberStatus::kUp) {
  return MemberState{id, "addr-" + id, "", st, 100, "", hb, inc};
}

TEST(MembershipTest, StartsUpWithoutSeedsJoiningWithThem) {
  SeededRandom rnd(1);
  Membership a(Cfg("a"), &rnd);
  a.Start(0, 1);
  EXPECT_EQ(a.self().status, MemberStatus::kUp);
  Membership b(Cfg("b", {"addr-a", "addr-b"}), &rnd);
  b.Start(0, 1);
  EXPECT_EQ(b.self().status, MemberStatus::kJoining);
  std::vector<std::string> to;
  b.Tick(0, &to);
  EXPECT_EQ(to, std::vector<std::string>{"addr-a"});  // every seed but ourselves
  b.Merge(a.Digest(), 0);
  EXPECT_EQ(b.self().status, MemberStatus::kUp);
  EXPECT_EQ(b.RingMembers().size(), 2u);
}

TEST(MembershipTest, SuspectThenDownThenUpAgain) {
  SeededRandom rnd(1);
  Membership a(Cfg("a"), &rnd);
  a.Start(0, 1);
  EXPECT_TRUE(a.Merge({State("b", 1, 5)}, 0));  // ring changed: b owns ranges
  std::vector<std::string> to;
  a.Tick(999, &to);
  EXPECT_EQ(a.Find("b")->status, MemberStatus::kUp);
  a.Tick(1000, &to);
  EXPECT_EQ(a.Find("b")->status, MemberStatus::kSuspect);
  a.Tick(2000, &to);
  EXPECT_EQ(a.Find("b")->status, MemberStatus::kDown);
  EXPECT_FALSE(a.IsReachable("b"));
  EXPECT_EQ(a.RingMembers().size(), 2u);  // down still owns its ranges
  // Old news does not revive it; a newer heartbeat does.
  EXPECT_FALSE(a.Merge({State("b", 1, 5)}, 2100));
  EXPECT_EQ(a.Find("b")->status, MemberStatus::kDown);
  a.Merge({State("b", 1, 6)}, 2200);
  EXPECT_EQ(a.Find("b")->status, MemberStatus::kUp);
}

TEST(MembershipTest, GraverStatusWinsTiesAndSelfRefutes) {
  SeededRandom rnd(1);
  Membership a(Cfg("a"), &rnd);
  a.Start(0, 3);
  a.Merge({State("b", 1, 5)}, 0);
  a.Merge({State("b", 1, 5, MemberStatus::kSuspect)}, 0);
  EXPECT_EQ(a.Find("b")->status, MemberStatus::kSuspect);
  // Someone claims we are down at a view as recent as ours: we outbid it.
  MemberState me = a.self();
  me.status = MemberStatus::kDown;
  a.Merge({me}, 0);
  EXPECT_EQ(a.self().status, MemberStatus::kUp);
  EXPECT_EQ(a.self().incarnation, 4u);
  // A view of us from a later incarnation (we lost our counter): jump past it.
  a.Merge({State("a", 10, 1)}, 0);
  EXPECT_EQ(a.self().incarnation, 11u);
}

TEST(MembershipTest, RemovedIsPermanentAndLeavingOwnsNothing) {
  SeededRandom rnd(1);
  Membership a(Cfg("a"), &rnd);
  a.Start(0, 1);
  a.Merge({State("b", 1, 5), State("c", 1, 5)}, 0);
  ASSERT_TRUE(a.Remove("b", 0).ok());
  EXPECT_FALSE(a.Remove("a", 0).ok());
  a.Merge({State("b", 99, 99)}, 0);  // b restarted: still removed
  EXPECT_EQ(a.Find("b")->status, MemberStatus::kRemoved);
  EXPECT_TRUE(a.Merge({State("c", 2, 1, MemberStatus::kLeaving)}, 0));
  auto ring = a.RingMembers();
  ASSERT_EQ(ring.size(), 1u);
  EXPECT_EQ(ring[0].id, "a");
  // A removed member is never gossiped to, and hearing we were removed silences us.
  std::vector<std::string> to;
  a.Tick(0, &to);
  for (auto& t : to) EXPECT_NE(t, "addr-b");
  Membership b(Cfg("b"), &rnd);
  b.Start(0, 1);
  b.Merge(a.Digest(), 0);
  EXPECT_EQ(b.self().status, MemberStatus::kRemoved);
  to.clear();
  b.Tick(1000, &to);
  EXPECT_TRUE(to.empty());
}

TEST(MembershipTest, GossipsToALivePeerAndNowAndThenASeed) {
  SeededRandom rnd(5);
  Membership a(Cfg("a", {"addr-s"}), &rnd);
  a.Start(0, 1);
  a.Merge({State("b", 1, 1), State("c", 1, 1)}, 0);
  int seeds = 0, rounds = 0;
  for (uint64_t t = 0; t < 1000; t += 100) {
    std::vector<std::string> to;
    a.Merge({State("b", 1, 2 + t), State("c", 1, 2 + t)}, t);  // keep them alive
    a.Tick(t, &to);
    ASSERT_FALSE(to.empty());
    ++rounds;
    for (auto& x : to) seeds += x == "addr-s";
  }
  EXPECT_EQ(rounds, 10);
  EXPECT_GE(seeds, 1);
  EXPECT_LE(seeds, 3);
}

}  // namespace
}  // namespace dynakv::cluster
