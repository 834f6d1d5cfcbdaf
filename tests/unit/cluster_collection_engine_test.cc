// Unit tests of the collection steps (cluster/collection_engine.h, cluster/list_engine.h)
// against a standalone Node over a MemEngine, where every step completes at once: held header
// writes (the adds of one pipeline sharing one follow-up header write), held list queues (the
// pushes and pops of one pipeline forming one batch) and what closes them.
#include "cluster/collection_engine.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "cluster/env.h"
#include "cluster/list_engine.h"
#include "storage/mem_engine.h"

namespace dynakv::cluster {
namespace {

class TestClock final : public Clock {
 public:
  uint64_t NowMs() override { return 1000; }
  uint64_t WallMs() override { return 1'700'000'000'000ull; }
};

struct NoNet : Transport {
  void Send(const std::string&, std::string) override { ADD_FAILURE() << "a standalone node sent a frame"; }
};

// A standalone node (N=R=W=1) and the host the steps run against.
class StandaloneHost final : public ListHost {
 public:
  uint64_t MonoMs() override { return clock_.NowMs(); }
  uint64_t TombstoneGraceMs() override { return 60'000; }

  StandaloneHost() { EXPECT_TRUE(node_.Start().ok()); }
  Node* node() override { return &node_; }
  uint64_t WallMs() override { return clock_.WallMs(); }

  // Writes to `key`'s header record so far: the sum of its context's counters.
  uint64_t HeaderWrites(const std::string& key) {
    uint64_t n = 0;
    node_.Read(key, 0, [&](Status st, ReadReply r) {
      ASSERT_TRUE(st.ok()) << st.ToString();
      for (const VVEntry& e : r.record.context.entries()) n += e.counter;
    });
    return n;
  }
  size_t HeaderSiblings(const std::string& key) {
    size_t n = 0;
    node_.Read(key, 0, [&](Status st, ReadReply r) {
      ASSERT_TRUE(st.ok()) << st.ToString();
      n = r.record.siblings.size();
    });
    return n;
  }

 private:
  TestClock clock_;
  SeededRandom rnd_{1};
  storage::MemEngine engine_;
  NoNet net_;
  Node node_{NodeConfig{}, &net_, &clock_, &rnd_, &engine_, nullptr};
};

constexpr char kHashType = static_cast<char>(CollectionType::kHash);
constexpr char kSetType = static_cast<char>(CollectionType::kSet);

// HSET key field value through UpdateElements; *done is set when it answers.
void Hset(CollectionHost* h, const std::string& key, const std::string& field, const std::string& value,
          std::optional<Status>* done) {
  UpdateElements(h, key, kHashType, {field},
                 [value](size_t, const std::optional<std::string>&) {
                   return ElementChange{ElementChange::kSet, value};
                 },
                 [done](Status st, UpdateResult) { *done = st; });
}

std::vector<std::optional<std::string>> Hmget(CollectionHost* h, const std::string& key,
                                              std::vector<std::string> fields, bool* exists = nullptr) {
  std::vector<std::optional<std::string>> out;
  bool answered = false;
  ReadElements(h, key, kHashType, std::move(fields),
               [&](Status st, bool ex, std::vector<std::optional<std::string>> v) {
                 EXPECT_TRUE(st.ok()) << st.ToString();
                 answered = true;
                 if (exists) *exists = ex;
                 out = std::move(v);
               });
  EXPECT_TRUE(answered);
  return out;
}

// Without holding (the simulator's hosts, a cluster): every add writes the header.
TEST(HeldHeaderTest, WithoutHoldingEveryAddWritesTheHeader) {
  StandaloneHost h;
  for (int i = 0; i < 5; i++) {
    std::optional<Status> done;
    Hset(&h, "k", "f" + std::to_string(i), "v", &done);
    ASSERT_TRUE(done.has_value()) << i;  // a standalone node answers at once
    ASSERT_TRUE(done->ok());
  }
  EXPECT_EQ(h.HeaderWrites("k"), 5u);
  EXPECT_FALSE(HasHeldHeaders(&h));
  EXPECT_TRUE(h.header_flights.empty());
}

// Holding: the first add's header write completes and stays open; the adds after it write
// their elements at once, wait, and share one follow-up that the flush issues. The result is
// what five separate header writes leave: one live sibling naming the generation.
TEST(HeldHeaderTest, AddsAfterAHeldWriteShareOneFollowUp) {
  StandaloneHost h;
  std::optional<Status> created;
  Hset(&h, "k", "f0", "v0", &created);  // not held: the key exists before the batch
  ASSERT_TRUE(created && created->ok());
  ASSERT_EQ(h.HeaderWrites("k"), 1u);

  h.hold_header_flights = true;
  std::vector<std::optional<Status>> done(5);
  for (int i = 1; i <= 5; i++) Hset(&h, "k", "f" + std::to_string(i), "v" + std::to_string(i), &done[i - 1]);
  h.hold_header_flights = false;
  EXPECT_TRUE(done[0].has_value()) << "the add whose header write is held answers at once";
  for (int i = 1; i < 5; i++) EXPECT_FALSE(done[i].has_value()) << "add " << i << " waits for the follow-up";
  EXPECT_TRUE(HasHeldHeaders(&h));
  EXPECT_EQ(h.HeaderWrites("k"), 2u);
  // The elements are written (and readable) before the follow-up: the header names their
  // generation already.
  EXPECT_EQ(Hmget(&h, "k", {"f3"})[0], std::optional<std::string>("v3"));

  FlushHeldHeaders(&h);
  for (int i = 0; i < 5; i++) {
    ASSERT_TRUE(done[i].has_value()) << i;
    EXPECT_TRUE(done[i]->ok()) << done[i]->ToString();
  }
  EXPECT_FALSE(HasHeldHeaders(&h));
  EXPECT_TRUE(h.header_flights.empty());
  EXPECT_EQ(h.HeaderWrites("k"), 3u) << "one held write and one follow-up, not five writes";
  EXPECT_EQ(h.HeaderSiblings("k"), 1u);
  auto v = Hmget(&h, "k", {"f0", "f1", "f2", "f3", "f4", "f5"});
  for (int i = 0; i <= 5; i++) EXPECT_EQ(v[i], std::optional<std::string>("v" + std::to_string(i))) << i;
}

// A held write with nobody waiting closes without another write.
TEST(HeldHeaderTest, AHeldWriteAloneClosesWithoutAFollowUp) {
  StandaloneHost h;
  h.hold_header_flights = true;
  std::optional<Status> done;
  Hset(&h, "k", "f", "v", &done);
  h.hold_header_flights = false;
  ASSERT_TRUE(done && done->ok());
  EXPECT_TRUE(HasHeldHeaders(&h));
  FlushHeldHeaders(&h);
  EXPECT_FALSE(HasHeldHeaders(&h));
  EXPECT_TRUE(h.header_flights.empty());
  EXPECT_EQ(h.HeaderWrites("k"), 1u);
}

// Several keys and types in one held run: each key gets its own follow-up, and a key created
// inside the run keeps one generation for every add to it.
TEST(HeldHeaderTest, EachKeyOfARunGetsItsOwnFollowUp) {
  StandaloneHost h;
  h.hold_header_flights = true;
  std::vector<std::optional<Status>> done;
  done.reserve(40);
  for (int i = 0; i < 20; i++) {
    done.emplace_back();
    Hset(&h, "h" + std::to_string(i % 2), "f" + std::to_string(i), "v", &done.back());
    done.emplace_back();
    std::optional<Status>* d = &done.back();
    UpdateElements(&h, "s", kSetType, {"m" + std::to_string(i)},
                   [](size_t, const std::optional<std::string>& cur) {
                     if (cur) return ElementChange{};
                     return ElementChange{ElementChange::kSet, {}};
                   },
                   [d](Status st, UpdateResult) { *d = st; });
  }
  h.hold_header_flights = false;
  FlushHeldHeaders(&h);
  for (size_t i = 0; i < done.size(); i++) ASSERT_TRUE(done[i] && done[i]->ok()) << i;
  for (const char* key : {"h0", "h1", "s"}) {
    EXPECT_EQ(h.HeaderWrites(key), 2u) << key;
    EXPECT_EQ(h.HeaderSiblings(key), 1u) << key;
    bool answered = false;
    ReadCollection(&h, key, key[0] == 's' ? kSetType : kHashType, [&](Status st, CollectionState cs) {
      ASSERT_TRUE(st.ok());
      answered = true;
      EXPECT_EQ(cs.view.gens.size(), 1u) << key << ": one generation for the whole run";
    });
    EXPECT_TRUE(answered);
  }
  EXPECT_EQ(Hmget(&h, "h1", {"f19", "f18"}), (std::vector<std::optional<std::string>>{"v", std::nullopt}));
}

std::vector<std::string> ListAll(StandaloneHost* h, const std::string& key) {
  std::vector<std::string> out;
  bool answered = false;
  ListRead(h, key, SIZE_MAX, [&](Status st, ListView v) {
    EXPECT_TRUE(st.ok()) << st.ToString();
    answered = true;
    for (auto& it : v.items) out.push_back(it.value);
  });
  EXPECT_TRUE(answered);
  return out;
}

// Held list queues: the pushes of a run wait in their key's queue and run as one batch (one
// header write) when the queue is flushed; the replies are Redis's for the order they came in.
TEST(HeldListTest, PushesOfARunAreOneBatch) {
  StandaloneHost h;
  h.hold_list_queues = true;
  std::vector<std::optional<int64_t>> len(6);
  for (int i = 0; i < 6; i++) {
    ListPush(&h, "l", /*left=*/i % 2 == 0, {"v" + std::to_string(i)}, false, [&len, i](Status st, int64_t n) {
      EXPECT_TRUE(st.ok()) << st.ToString();
      len[i] = n;
    });
  }
  h.hold_list_queues = false;
  for (int i = 0; i < 6; i++) EXPECT_FALSE(len[i].has_value()) << "push " << i << " ran before the flush";
  EXPECT_TRUE(HasHeldLists(&h));
  FlushHeldLists(&h);
  EXPECT_FALSE(HasHeldLists(&h));
  for (int i = 0; i < 6; i++) EXPECT_EQ(len[i], std::optional<int64_t>(i + 1)) << i;
  EXPECT_EQ(h.HeaderWrites("l"), 1u) << "one batch, one header write";
  // LPUSH v0, RPUSH v1, LPUSH v2, RPUSH v3, LPUSH v4, RPUSH v5, as Redis orders them.
  EXPECT_EQ(ListAll(&h, "l"), (std::vector<std::string>{"v4", "v2", "v0", "v1", "v3", "v5"}));
}

// Pushes then pops of one key in one run keep their order; a pop that empties the list
// deletes it, and a push after it (in the same run) starts it again.
TEST(HeldListTest, PushesAndPopsOfARunKeepTheirOrder) {
  StandaloneHost h;
  h.hold_list_queues = true;
  std::vector<std::string> got;
  auto pop = [&](bool left) {
    ListPop(&h, "q", left, 1, [&got](Status st, bool, std::vector<std::string> v) {
      EXPECT_TRUE(st.ok()) << st.ToString();
      got.push_back(v.empty() ? "(nil)" : v[0]);
    });
  };
  auto push = [&](const std::string& v) {
    ListPush(&h, "q", false, {v}, false, [](Status st, int64_t) { EXPECT_TRUE(st.ok()); });
  };
  push("a");
  push("b");
  pop(true);
  push("c");
  pop(false);
  pop(true);
  pop(true);  // the list is empty by now
  push("d");
  h.hold_list_queues = false;
  EXPECT_TRUE(got.empty());
  FlushHeldLists(&h);
  EXPECT_EQ(got, (std::vector<std::string>{"a", "c", "b", "(nil)"}));
  EXPECT_EQ(ListAll(&h, "q"), (std::vector<std::string>{"d"}));
  EXPECT_FALSE(HasHeldLists(&h));
}

// A queue that runs (here: not held, so it started at once) is not held by a later push:
// the push joins it as usual.
TEST(HeldListTest, OnlyAnIdleQueueIsHeld) {
  StandaloneHost h;
  ListPush(&h, "l", false, {"x"}, false, [](Status st, int64_t) { EXPECT_TRUE(st.ok()); });
  EXPECT_FALSE(HasHeldLists(&h));
  EXPECT_EQ(ListAll(&h, "l"), std::vector<std::string>{"x"});
  h.hold_list_queues = true;
  bool read_done = false;
  // A queued read (LRANGE's kind) is not held even while holding: it starts the queue.
  ListQueued(&h, "l", [&](ListRelease release) {
    read_done = true;
    release();
  }, /*read_only=*/true);
  h.hold_list_queues = false;
  EXPECT_TRUE(read_done);
  EXPECT_FALSE(HasHeldLists(&h));
}

}  // namespace
}  // namespace dynakv::cluster
