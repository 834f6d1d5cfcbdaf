// Tests for cluster/collection.h: the header codec, the type rule, generations, element
// record keys, and the add-wins element rule checked against an observed-remove set model
// over random histories of three replicas.
#include "cluster/collection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cluster/env.h"
#include "cluster/key_layout.h"
#include "cluster/partition_ring.h"

namespace dynakv::cluster {
namespace {

Sibling MakeSib(ActorId a, uint64_t c, uint64_t ts, ValueKind k, std::string v,
                uint64_t expiry = 0) {
  Sibling s;
  s.dot = {a, c};
  s.timestamp_ms = ts;
  s.kind = k;
  s.value = std::move(v);
  s.expiry_ms = expiry;
  return s;
}

std::string Hdr(char type, std::vector<uint64_t> gens) {
  CollectionHeader h;
  h.type = type;
  h.gens = std::move(gens);
  return EncodeHeader(h);
}

TEST(CollectionHeaderTest, RoundTripsAndRefusesMalformedBytes) {
  for (std::vector<uint64_t> gens : {std::vector<uint64_t>{}, {1}, {5, 1ull << 63, ~0ull}}) {
    CollectionHeader h{'z', gens}, back;
    ASSERT_TRUE(DecodeHeader(EncodeHeader(h), &back).ok());
    EXPECT_EQ(back, h);
  }
  CollectionHeader out{'s', {7}};
  std::string good = Hdr('h', {3, 9});
  const std::vector<std::string> bad = {
      "",                                       // empty
      std::string("x") + good.substr(1),        // unknown type
      good.substr(0, good.size() - 1),          // truncated generation
      good + "x",                               // trailing byte
      Hdr('h', {9, 3}),                         // encoder trusts its input: unsorted
      Hdr('h', {0}),                            // generation 0
      Hdr('h', {4, 4}),                         // duplicate
      std::string("h\xff\xff\xff\xff\x0f", 6),  // a count far beyond the bytes
      std::string("h\x80", 2),                  // truncated count
  };
  for (const std::string& b : bad) {
    EXPECT_FALSE(DecodeHeader(b, &out).ok()) << testing::PrintToString(b);
    EXPECT_EQ(out, (CollectionHeader{'s', {7}})) << "a failed decode leaves *out alone";
  }
  EXPECT_STREQ(CollectionTypeName('h'), "hash");
  EXPECT_STREQ(CollectionTypeName('s'), "set");
  EXPECT_STREQ(CollectionTypeName('z'), "zset");
  EXPECT_STREQ(CollectionTypeName('l'), "list");
  EXPECT_STREQ(CollectionTypeName('q'), "none");
}

TEST(CollectionHeaderTest, NewestLiveSiblingDecidesTheType) {
  HeaderView v;
  Record empty;
  ASSERT_TRUE(ViewHeader(empty, 100, &v).ok());
  EXPECT_EQ(v.kind, KeyType::kNone);

  // Only a tombstone and an expired set: nothing is there, but the expired set's
  // generation is remembered so a new collection does not reuse it.
  Record dead;
  dead.siblings = {MakeSib(1, 1, 10, ValueKind::kTombstone, ""),
                   MakeSib(2, 1, 20, ValueKind::kCollection, Hdr('s', {42}), /*expiry=*/50)};
  ASSERT_TRUE(ViewHeader(dead, 100, &v).ok());
  EXPECT_EQ(v.kind, KeyType::kNone);
  EXPECT_EQ(v.all_gens, std::vector<uint64_t>{42});
  std::vector<uint64_t> draws = {0, 42, 42, 43};
  size_t next = 0;
  EXPECT_EQ(NewGeneration(v, [&] { return draws[next++]; }), 43u);

  // A set and a string written concurrently: the newer one decides, either way round.
  Record mixed;
  mixed.siblings = {MakeSib(1, 1, 10, ValueKind::kCollection, Hdr('s', {7})),
                    MakeSib(2, 1, 20, ValueKind::kPlain, "str")};
  ASSERT_TRUE(ViewHeader(mixed, 100, &v).ok());
  EXPECT_EQ(v.kind, KeyType::kString);
  mixed.siblings[1].timestamp_ms = 5;
  ASSERT_TRUE(ViewHeader(mixed, 100, &v).ok());
  EXPECT_EQ(v.kind, KeyType::kCollection);
  EXPECT_EQ(v.type, 's');
  EXPECT_EQ(v.gens, std::vector<uint64_t>{7});

  // A tombstone newer than a live header does not hide it (add-wins for the header too).
  Record del;
  del.siblings = {MakeSib(1, 1, 10, ValueKind::kCollection, Hdr('h', {3}), 500),
                  MakeSib(2, 1, 99, ValueKind::kTombstone, "")};
  ASSERT_TRUE(ViewHeader(del, 100, &v).ok());
  EXPECT_EQ(v.kind, KeyType::kCollection);
  EXPECT_EQ(v.expiry_ms, 500u);

  // Two concurrent creations: both generations live. A concurrent collection of another
  // type that lost the type rule contributes none.
  Record two;
  two.siblings = {MakeSib(1, 1, 10, ValueKind::kCollection, Hdr('h', {9})),
                  MakeSib(2, 1, 11, ValueKind::kCollection, Hdr('h', {4})),
                  MakeSib(3, 1, 5, ValueKind::kCollection, Hdr('s', {6}))};
  ASSERT_TRUE(ViewHeader(two, 100, &v).ok());
  EXPECT_EQ(v.type, 'h');
  EXPECT_EQ(v.gens, (std::vector<uint64_t>{4, 9}));
  EXPECT_EQ(v.all_gens, (std::vector<uint64_t>{4, 6, 9}));
  EXPECT_EQ(HeaderOf(v), (CollectionHeader{'h', {4, 9}}));

  // A live header sibling that does not decode is corruption, not a silent empty hash.
  Record corrupt;
  corrupt.siblings = {MakeSib(1, 1, 10, ValueKind::kCollection, "h\x05")};
  EXPECT_FALSE(ViewHeader(corrupt, 100, &v).ok());
}

TEST(CollectionKeyTest, GenerationsAreDisjointRangesOfTheCollectionsPartition) {
  std::string key = "user:1";
  std::string a = GenElementKey('h', key, 1, "name");
  std::string b = GenElementKey('h', key, 2, "name");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind(GenElementPrefix('h', key, 1), 0), 0u);
  EXPECT_NE(b.rfind(GenElementPrefix('h', key, 1), 0), 0u);
  ParsedRecordKey p = ParseRecordKey(a);
  EXPECT_EQ(p.kind, RecordKind::kElement);
  EXPECT_EQ(p.type, 'h');
  EXPECT_EQ(p.key, key);
  EXPECT_EQ(p.element.size(), 8u + 4u);
  EXPECT_EQ(RecordPartition(a), KeyPartition(key));
  EXPECT_FALSE(IsPlainRecordKey(a));
}

// The observed-remove set an element record must behave as (ORSWOT): each replica keeps
// the add tags it holds and the tags it has seen.
struct ModelReplica {
  std::set<std::pair<ActorId, uint64_t>> live, seen;
  bool present() const { return !live.empty(); }
};

ModelReplica ModelJoin(const ModelReplica& a, const ModelReplica& b) {
  ModelReplica out;
  out.seen = a.seen;
  out.seen.insert(b.seen.begin(), b.seen.end());
  for (const auto& t : a.live)
    if (b.live.count(t) || !b.seen.count(t)) out.live.insert(t);
  for (const auto& t : b.live)
    if (a.live.count(t) || !a.seen.count(t)) out.live.insert(t);
  return out;
}

TEST(CollectionElementTest, AddWinsMatchesAnObservedRemoveSetOverRandomHistories) {
  const uint64_t kNow = 1'000'000;
  VersionLimits limits;
  int concurrent_add_remove = 0;
  for (uint64_t seed = 1; seed <= 300; seed++) {
    SeededRandom rng(seed);
    Record rec[3];
    ModelReplica model[3];
    uint64_t ts = 1000;
    for (int step = 0; step < 40; step++) {
      int i = static_cast<int>(rng.Uniform(3));
      int op = static_cast<int>(rng.Uniform(3));
      ts += rng.Uniform(3);  // ties happen
      if (op == 0) {  // add (SADD/HSET): supersedes what this replica saw
        NewValue v;
        v.value = "v" + std::to_string(step);
        Dot d;
        ASSERT_TRUE(ApplyWrite(&rec[i], rec[i].context, 100 + i, v, ts, limits, &d).ok());
        std::pair<ActorId, uint64_t> tag{d.actor, d.counter};
        model[i].seen.insert(model[i].live.begin(), model[i].live.end());
        model[i].live = {tag};
        model[i].seen.insert(tag);
      } else if (op == 1) {  // remove (SREM/HDEL): a tombstone with the context read here
        NewValue v;
        v.kind = ValueKind::kTombstone;
        ASSERT_TRUE(ApplyWrite(&rec[i], rec[i].context, 100 + i, v, ts, limits).ok());
        model[i].live.clear();
      } else {  // anti-entropy / read repair between two replicas
        int j = static_cast<int>(rng.Uniform(3));
        bool a_present = model[i].present(), b_present = model[j].present();
        Record joined = Join(rec[i], rec[j]);
        ModelReplica mj = ModelJoin(model[i], model[j]);
        if (a_present != b_present && mj.present()) concurrent_add_remove++;
        rec[i] = rec[j] = joined;
        model[i] = model[j] = mj;
      }
      for (int k = 0; k < 3; k++) {
        ElementView ev;
        ASSERT_TRUE(ResolveElement(rec[k], kNow, &ev).ok());
        ASSERT_EQ(ev.present, model[k].present()) << "seed " << seed << " step " << step;
        // Resolving a record it may take the value from (a range read's page) agrees.
        ElementView taken;
        ASSERT_TRUE(ResolveElement(Record(rec[k]), kNow, &taken).ok());
        EXPECT_EQ(std::tie(taken.present, taken.value, taken.timestamp_ms, taken.dot.actor, taken.dot.counter),
                  std::tie(ev.present, ev.value, ev.timestamp_ms, ev.dot.actor, ev.dot.counter));
      }
    }
    // Join is commutative, associative and idempotent on what a client sees.
    auto view = [&](const Record& r) {
      ElementView ev;
      EXPECT_TRUE(ResolveElement(r, kNow, &ev).ok());
      return std::make_pair(ev.present, ev.value);
    };
    EXPECT_EQ(view(Join(rec[0], rec[1])), view(Join(rec[1], rec[0])));
    EXPECT_EQ(view(Join(Join(rec[0], rec[1]), rec[2])), view(Join(rec[0], Join(rec[1], rec[2]))));
    EXPECT_EQ(view(Join(rec[0], rec[0])), view(rec[0]));
    // After a full exchange every replica reads the same.
    Record all = Join(Join(rec[0], rec[1]), rec[2]);
    ModelReplica mall = ModelJoin(ModelJoin(model[0], model[1]), model[2]);
    EXPECT_EQ(view(all).first, mall.present()) << "seed " << seed;
  }
  EXPECT_GT(concurrent_add_remove, 0) << "the histories never raced an add with a remove";
}

TEST(CollectionElementTest, ValueIsLastWriterWinsAndCountersAddUp) {
  const uint64_t kNow = 1'000'000;
  VersionLimits limits;
  Record a, b;
  NewValue v1, v2;
  v1.value = "old";
  v2.value = "new";
  ASSERT_TRUE(ApplyWrite(&a, a.context, 1, v1, 100, limits).ok());
  ASSERT_TRUE(ApplyWrite(&b, b.context, 2, v2, 200, limits).ok());
  ElementView ev;
  ASSERT_TRUE(ResolveElement(Join(a, b), kNow, &ev).ok());
  EXPECT_TRUE(ev.present);
  EXPECT_EQ(ev.value, "new");
  EXPECT_EQ(ev.timestamp_ms, 200u);

  // A concurrent HDEL does not remove a value it did not see; one that saw it does.
  Record c = a;
  NewValue tomb;
  tomb.kind = ValueKind::kTombstone;
  ASSERT_TRUE(ApplyWrite(&c, c.context, 3, tomb, 300, limits).ok());
  ASSERT_TRUE(ResolveElement(Join(c, b), kNow, &ev).ok());
  EXPECT_TRUE(ev.present);
  EXPECT_EQ(ev.value, "new");
  ASSERT_TRUE(ResolveElement(c, kNow, &ev).ok());
  EXPECT_FALSE(ev.present);

  // Two concurrent HINCRBY siblings: the value is their merge.
  PNCounter x, y;
  x.Add(1, 5);
  y.Add(2, 7);
  Record counters;
  counters.siblings = {MakeSib(1, 1, 10, ValueKind::kCounter, EncodeCounter(x)),
                       MakeSib(2, 1, 11, ValueKind::kCounter, EncodeCounter(y))};
  ASSERT_TRUE(ResolveElement(counters, kNow, &ev).ok());
  EXPECT_TRUE(ev.counter);
  EXPECT_EQ(ev.value, "12");
  ASSERT_TRUE(ResolveElement(Record(counters), kNow, &ev).ok());  // the taking form merges too
  EXPECT_TRUE(ev.counter);
  EXPECT_EQ(ev.value, "12");
  counters.siblings[0].value = "garbage";
  EXPECT_FALSE(ResolveElement(counters, kNow, &ev).ok());
  EXPECT_FALSE(ResolveElement(Record(counters), kNow, &ev).ok());

  // An expired value is not present.
  Record exp;
  exp.siblings = {MakeSib(1, 1, 10, ValueKind::kPlain, "x", /*expiry=*/500)};
  ASSERT_TRUE(ResolveElement(exp, 400, &ev).ok());
  EXPECT_TRUE(ev.present);
  ASSERT_TRUE(ResolveElement(exp, 600, &ev).ok());
  EXPECT_FALSE(ev.present);
  ASSERT_TRUE(ResolveElement(Record(exp), 600, &ev).ok());
  EXPECT_FALSE(ev.present);

  // Across generations the newest present value wins; none present, none.
  ElementView p1{true, "g1", false, 50, {1, 1}}, p2{true, "g2", false, 70, {2, 1}}, gone;
  EXPECT_EQ(ResolveAcross({p1, gone, p2}).value, "g2");
  EXPECT_EQ(ResolveAcross({p2, p1}).value, "g2");
  EXPECT_FALSE(ResolveAcross({gone, gone}).present);
  // Counters in two generations (two coordinators each created the hash with an HINCRBY):
  // both count. A plain value newer than the counters wins as a plain value.
  ElementView c1{true, "3", true, 50, {1, 1}}, c2{true, "4", true, 60, {2, 1}};
  EXPECT_EQ(ResolveAcross({c1, c2}).value, "7");
  EXPECT_EQ(ResolveAcross({c1, c2, p2}).value, "g2");
  EXPECT_FALSE(ResolveAcross({}).present);
}

// Sorted-set scores: a ZADD register, concurrent ZINCRBY counters that add up, a ZADD that
// read the counter superseding it, and counters of two generations summed.
TEST(CollectionElementTest, ScoresAreRegistersAndScoreCountersAddUp) {
  const uint64_t kNow = 1'000'000;
  double d = 0;
  EXPECT_TRUE(DecodeScore(EncodeScore(2.5), &d));
  EXPECT_EQ(d, 2.5);
  EXPECT_EQ(EncodeScore(-0.0), EncodeScore(0.0));
  EXPECT_FALSE(DecodeScore("1234567", &d));
  EXPECT_FALSE(DecodeScore(EncodeScore(std::nan("")), &d));

  // A register: ScoreCounterOf starts from its score.
  Record reg;
  reg.siblings = {MakeSib(1, 1, 10, ValueKind::kPlain, EncodeScore(5))};
  FloatCounter fc;
  ASSERT_TRUE(ScoreCounterOf(reg, kNow, &fc).ok());
  EXPECT_EQ(fc.Value(), 5);
  // Absent (a tombstone): 0.
  Record gone;
  gone.siblings = {MakeSib(1, 2, 20, ValueKind::kTombstone, "")};
  ASSERT_TRUE(ScoreCounterOf(gone, kNow, &fc).ok());
  EXPECT_EQ(fc.Value(), 0);
  // A register that is not a score is corruption.
  Record junk;
  junk.siblings = {MakeSib(1, 1, 10, ValueKind::kPlain, "abc")};
  EXPECT_EQ(ScoreCounterOf(junk, kNow, &fc).code(), Code::kCorruption);

  // Two coordinators each ZINCRBY from the register 5: +1.5 and +2. Their siblings are
  // concurrent; the member reads 8.5, and the next increment starts from that.
  FloatCounter x, y;
  x.base = y.base = 5;
  x.Add(1, 1.5);
  y.Add(2, 2);
  Record counters;
  counters.siblings = {MakeSib(1, 2, 30, ValueKind::kCounter, EncodeFloatCounter(x)),
                       MakeSib(2, 1, 31, ValueKind::kCounter, EncodeFloatCounter(y))};
  ElementView ev;
  ASSERT_TRUE(ResolveElement(counters, kNow, &ev).ok());
  EXPECT_TRUE(ev.counter);
  EXPECT_TRUE(ev.score_counter);
  ASSERT_TRUE(DecodeScore(ev.value, &d));
  EXPECT_EQ(d, 8.5);
  ASSERT_TRUE(ScoreCounterOf(counters, kNow, &fc).ok());
  EXPECT_EQ(fc.Value(), 8.5);
  // A newer register (a ZADD) wins over the counters.
  counters.siblings.push_back(MakeSib(3, 1, 40, ValueKind::kPlain, EncodeScore(1)));
  ASSERT_TRUE(ResolveElement(counters, kNow, &ev).ok());
  EXPECT_FALSE(ev.counter);
  ASSERT_TRUE(DecodeScore(ev.value, &d));
  EXPECT_EQ(d, 1);
  // An integer counter sibling (HINCRBY) next to a score counter: each kind merges only its
  // own, and neither is misread.
  PNCounter pn;
  pn.Add(4, 7);
  Record mixed;
  mixed.siblings = {MakeSib(1, 1, 10, ValueKind::kCounter, EncodeCounter(pn)),
                    MakeSib(2, 1, 50, ValueKind::kCounter, EncodeFloatCounter(x))};
  ASSERT_TRUE(ResolveElement(mixed, kNow, &ev).ok());
  ASSERT_TRUE(DecodeScore(ev.value, &d));
  EXPECT_EQ(d, 6.5);
  // Across two generations, score counters add up.
  ElementView g1, g2;
  g1.present = g2.present = true;
  g1.counter = g2.counter = g1.score_counter = g2.score_counter = true;
  g1.value = EncodeScore(2);
  g2.value = EncodeScore(3.5);
  g1.timestamp_ms = 10;
  g2.timestamp_ms = 20;
  ASSERT_TRUE(DecodeScore(ResolveAcross({g1, g2}).value, &d));
  EXPECT_EQ(d, 5.5);
}

TEST(CollectionRecordTest, HeaderSiblingsSurviveTheRecordCodec) {
  Record r;
  r.siblings = {MakeSib(1, 1, 10, ValueKind::kCollection, Hdr('l', {11, 12}), 99)};
  r.context.Raise(1, 1, 10);
  Record back;
  ASSERT_TRUE(DecodeRecord(EncodeRecord(r), &back).ok());
  EXPECT_EQ(back, r);
}

}  // namespace
}  // namespace dynakv::cluster
