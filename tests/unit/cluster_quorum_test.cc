// Unit tests for the pure quorum logic (cluster/quorum.h) and the request table
// (cluster/request_table.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <utility>
#include <vector>

#include "cluster/quorum.h"
#include "cluster/request_table.h"

namespace dynakv::cluster {
namespace {

Record RecWith(ActorId actor, const std::string& value) {
  Record r;
  NewValue v;
  v.value = value;
  EXPECT_TRUE(ApplyWrite(&r, r.context, actor, v, 1000, VersionLimits{}).ok());
  return r;
}

TEST(ReadQuorumTest, SucceedsAtRAndJoinsReplies) {
  ReadQuorum q(2);
  q.Expect("a");
  q.Expect("b");
  q.Expect("c");
  EXPECT_EQ(q.Check(), Verdict::kPending);
  EXPECT_TRUE(q.Add("a", true, RecWith(1, "x")));
  EXPECT_EQ(q.Check(), Verdict::kPending);
  EXPECT_TRUE(q.Add("b", true, RecWith(2, "y")));
  EXPECT_EQ(q.Check(), Verdict::kSucceeded);
  EXPECT_FALSE(q.AllIn());
  EXPECT_EQ(q.joined().siblings.size(), 2u);  // concurrent writes: both kept
  EXPECT_TRUE(q.Add("c", true, Record()));
  EXPECT_TRUE(q.AllIn());
  // Every reply differs from the joined record: all three need read repair.
  size_t stale = 0;
  for (const auto& r : q.replies()) stale += r.record == q.joined() ? 0 : 1;
  EXPECT_EQ(stale, 3u);
}

// The first reply stands as the join when it is canonical (no copy); a reply out of Join's
// canonical order is joined instead, and a later different reply joins either.
TEST(ReadQuorumTest, JoinedIsTheJoinWhateverTheFirstReply) {
  Record a = RecWith(1, "x"), b = RecWith(2, "y");
  Record both = Join(a, b);
  ASSERT_EQ(both.siblings.size(), 2u);
  Record reversed = both;
  std::swap(reversed.siblings[0], reversed.siblings[1]);  // same writes, not canonical
  for (const Record& first : {a, both, reversed}) {
    ReadQuorum q(2);
    q.Expect("a");
    q.Expect("b");
    ASSERT_TRUE(q.Add("a", true, first));
    EXPECT_EQ(q.joined(), Join(Record{}, first));
    ASSERT_TRUE(q.Add("b", true, b));
    EXPECT_EQ(q.joined(), both);
    EXPECT_EQ(q.replies()[0].record, first);  // the replies are kept as they came
    EXPECT_EQ(q.TakeJoined(), both);
  }
  // Equal replies: the joined record is the first reply itself, and TakeJoined moves it out.
  ReadQuorum q(2);
  q.Expect("a");
  q.Expect("b");
  ASSERT_TRUE(q.Add("a", true, a));
  ASSERT_TRUE(q.Add("b", true, a));
  EXPECT_EQ(q.joined(), a);
  for (const auto& r : q.replies()) EXPECT_EQ(r.record, q.joined());  // nothing to repair
  EXPECT_EQ(q.TakeJoined(), a);
}

// Replies holding the same writes are not joined, whatever their bytes (a plain value is
// named by its write; comparing two 100 MB values took the loop 30-60 ms): the first reply
// stands. Counters, whose state merges under one dot, are still joined when they differ.
TEST(ReadQuorumTest, RepliesWithTheSameWritesAreNotJoined) {
  Record first = RecWith(1, "y");
  Record same = first;
  same.siblings[0].value = "x";  // sorts first: a join would keep it
  ReadQuorum q(2);
  q.Expect("a");
  q.Expect("b");
  EXPECT_TRUE(q.Add("a", true, first));
  EXPECT_TRUE(q.Add("b", true, same));
  ASSERT_EQ(q.Check(), Verdict::kSucceeded);
  ASSERT_EQ(q.joined().siblings.size(), 1u);
  EXPECT_EQ(q.joined().siblings[0].value, "y");
  for (const auto& r : q.replies()) EXPECT_TRUE(SameRecord(r.record, q.joined()));

  Record c1;
  c1.context.Raise(1, 1, 1000);
  Sibling s;
  s.dot = {1, 1};
  s.kind = ValueKind::kCounter;
  PNCounter one, two;
  one.Add(1, 1);
  two.Add(1, 2);
  s.value = EncodeCounter(one);
  c1.siblings.push_back(s);
  Record c2 = c1;
  c2.siblings[0].value = EncodeCounter(two);
  ReadQuorum qc(2);
  qc.Expect("a");
  qc.Expect("b");
  EXPECT_TRUE(qc.Add("a", true, c1));
  EXPECT_TRUE(qc.Add("b", true, c2));
  ASSERT_EQ(qc.Check(), Verdict::kSucceeded);
  EXPECT_EQ(qc.joined(), Join(c1, c2));
  EXPECT_FALSE(SameRecord(qc.replies()[0].record, qc.joined()) && SameRecord(qc.replies()[1].record, qc.joined()));
}

// Differing replies that hold big values: the join takes their buffers instead of copying
// them (the replies keep their versions, which is all read repair compares).
TEST(ReadQuorumTest, BigValuesMoveIntoTheJoin) {
  Record a = RecWith(1, std::string(kEncodeInPlaceBytes, 'a'));
  Record b = RecWith(2, std::string(kEncodeInPlaceBytes, 'b'));  // concurrent: both kept
  const char* a_bytes = a.siblings[0].value.data();
  const char* b_bytes = b.siblings[0].value.data();
  ReadQuorum q(2);
  q.Expect("a");
  q.Expect("b");
  EXPECT_TRUE(q.Add("a", true, std::move(a)));
  EXPECT_TRUE(q.Add("b", true, std::move(b)));
  ASSERT_EQ(q.Check(), Verdict::kSucceeded);
  ASSERT_EQ(q.joined().siblings.size(), 2u);
  std::vector<const char*> got;
  for (const Sibling& s : q.joined().siblings) {
    EXPECT_EQ(s.value.size(), kEncodeInPlaceBytes);
    got.push_back(s.value.data());
  }
  std::sort(got.begin(), got.end());
  std::vector<const char*> want = {a_bytes, b_bytes};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want) << "a value was copied into the join";
  for (const auto& r : q.replies()) {
    EXPECT_FALSE(SameRecord(r.record, q.joined()));  // each needs repair: the other's write
    EXPECT_TRUE(r.record.siblings.at(0).value.empty());
  }
}

TEST(ReadQuorumTest, FailsWhenTooFewCanAnswer) {
  ReadQuorum q(2);
  q.Expect("a");
  q.Expect("b");
  EXPECT_TRUE(q.Add("a", false, Record()));
  EXPECT_EQ(q.Check(), Verdict::kFailed);
}

TEST(ReadQuorumTest, IgnoresStrangersAndDuplicates) {
  ReadQuorum q(1);
  q.Expect("a");
  EXPECT_FALSE(q.Add("z", true, RecWith(1, "x")));
  EXPECT_EQ(q.Check(), Verdict::kPending);
  EXPECT_TRUE(q.Add("a", true, RecWith(1, "x")));
  EXPECT_FALSE(q.Add("a", true, RecWith(2, "y")));
  EXPECT_EQ(q.replies().size(), 1u);
}

TEST(WriteQuorumTest, LocalCopyCountsAndFailuresEndIt) {
  WriteQuorum q(2, /*local_acks=*/1);
  q.Expect("b");
  q.Expect("c");
  EXPECT_EQ(q.Check(), Verdict::kPending);
  EXPECT_FALSE(q.Ack("z", true));
  EXPECT_TRUE(q.Ack("b", false));
  EXPECT_EQ(q.Check(), Verdict::kPending);  // c may still ack
  EXPECT_TRUE(q.Ack("c", true));
  EXPECT_EQ(q.Check(), Verdict::kSucceeded);
  EXPECT_FALSE(q.Ack("c", true));  // duplicate

  WriteQuorum f(3, 1);
  f.Expect("b");
  f.Expect("c");
  EXPECT_TRUE(f.Ack("b", false));
  EXPECT_EQ(f.Check(), Verdict::kFailed);
}

TEST(WriteQuorumTest, W1WithLocalCopyIsDoneAtOnce) {
  WriteQuorum q(1, 1);
  q.Expect("b");
  EXPECT_EQ(q.Check(), Verdict::kSucceeded);
}

TEST(RequestTableTest, ExpiresInDeadlineOrderOnceByKind) {
  RequestTable t;
  t.Reset(100);
  std::vector<std::pair<char, uint64_t>> fired;
  t.OnExpire(RequestKind::kRead, [&](uint64_t id) { fired.push_back({'r', id}); });
  t.OnExpire(RequestKind::kWrite, [&](uint64_t id) { fired.push_back({'w', id}); });
  uint64_t a = t.Add(RequestKind::kRead, 50);
  uint64_t b = t.Add(RequestKind::kWrite, 20);
  uint64_t c = t.Add(RequestKind::kRead, 20);
  EXPECT_EQ(a, 100u);
  EXPECT_EQ(b, 101u);
  EXPECT_EQ(c, 102u);
  t.ExpireDue(19);
  EXPECT_TRUE(fired.empty());
  t.ExpireDue(20);
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0], std::make_pair('w', b));  // equal deadlines: in the order added
  EXPECT_EQ(fired[1], std::make_pair('r', c));
  t.ExpireDue(1000);
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[2], std::make_pair('r', a));
  t.ExpireDue(2000);
  EXPECT_EQ(fired.size(), 3u);
  EXPECT_EQ(t.size(), 0u);
}

// A kind's deadlines mostly come in order (one fixed timeout) and go to its FIFO; an earlier
// one than the FIFO's last (a shorter timeout) is kept apart. Either way they fire in
// deadline order, equal deadlines in the order added, across kinds, each exactly once.
TEST(RequestTableTest, OutOfOrderDeadlinesStillFireInOrder) {
  RequestTable t;
  t.Reset(~uint64_t{0} - 2);  // ids wrap within this run: the order must not depend on them
  std::vector<uint64_t> fired;
  t.OnExpire(RequestKind::kRead, [&](uint64_t id) { fired.push_back(id); });
  t.OnExpire(RequestKind::kWrite, [&](uint64_t id) { fired.push_back(id); });
  std::vector<std::pair<uint64_t, uint64_t>> added;  // (deadline, id), in the order added
  const uint64_t deadlines[] = {100, 100, 40, 300, 40, 100, 10, 500, 300, 20};
  for (size_t i = 0; i < std::size(deadlines); ++i) {
    RequestKind kind = i % 3 == 0 ? RequestKind::kWrite : RequestKind::kRead;
    added.push_back({deadlines[i], t.Add(kind, deadlines[i])});
  }
  EXPECT_EQ(t.size(), added.size());
  std::vector<uint64_t> want;
  std::stable_sort(added.begin(), added.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [deadline, id] : added) want.push_back(id);
  t.ExpireDue(39);
  EXPECT_EQ(fired, std::vector<uint64_t>(want.begin(), want.begin() + 2));  // 10, 20
  t.ExpireDue(300);
  EXPECT_EQ(fired, std::vector<uint64_t>(want.begin(), want.begin() + 9));
  EXPECT_EQ(t.size(), 1u);
  t.ExpireDue(10000);
  EXPECT_EQ(fired, want);
  EXPECT_EQ(t.size(), 0u);
  t.ExpireDue(20000);
  EXPECT_EQ(fired.size(), want.size());
}

TEST(RequestTableTest, HandlersMayAddRequests) {
  RequestTable t;
  int fired = 0;
  t.OnExpire(RequestKind::kScan, [&](uint64_t) {
    if (++fired == 1) t.Add(RequestKind::kScan, 10);  // already due: next call, not this one
  });
  t.Add(RequestKind::kScan, 5);
  t.ExpireDue(10);
  EXPECT_EQ(fired, 1);
  t.ExpireDue(10);
  EXPECT_EQ(fired, 2);
}

// Rearm: one more deadline for a request that has one (a big record given more time); the
// handler sees the same id at each, in deadline order with the others of its kind.
TEST(RequestTableTest, RearmFiresTheSameIdAgainLater) {
  RequestTable t;
  std::vector<uint64_t> fired;
  t.OnExpire(RequestKind::kRead, [&](uint64_t id) { fired.push_back(id); });
  uint64_t a = t.Add(RequestKind::kRead, 100);
  uint64_t b = t.Add(RequestKind::kRead, 200);
  t.ExpireDue(100);
  EXPECT_EQ(fired, std::vector<uint64_t>{a});
  t.Rearm(a, RequestKind::kRead, 250);
  EXPECT_EQ(t.size(), 2u);
  t.ExpireDue(300);
  EXPECT_EQ(fired, (std::vector<uint64_t>{a, b, a}));
  EXPECT_EQ(t.size(), 0u);
}

}  // namespace
}  // namespace dynakv::cluster
