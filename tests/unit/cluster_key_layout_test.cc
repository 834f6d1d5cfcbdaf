// Record keys (cluster/key_layout.h): plain keys, the 0xFF escape, collection elements,
// and the partition each one lands in.
#include "cluster/key_layout.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "cluster/range_reader.h"

namespace dynakv::cluster {
namespace {

TEST(RecordKeyTest, PlainKeysAreThemselvesAndEscapedOnlyAfter0xFF) {
  EXPECT_EQ(PlainRecordKey("user:1"), "user:1");
  EXPECT_EQ(PlainRecordKey(""), "");
  EXPECT_EQ(PlainRecordKey("\xff"), "\xff\xff");
  EXPECT_EQ(PlainRecordKey("\xffh\x01x"), "\xff\xffh\x01x");
  std::string buf;
  const std::string k = "abc";
  EXPECT_EQ(&PlainRecordKeyRef(k, &buf), &k);  // no copy in the common case
  for (std::string key : {"", "a", "\xff", "\xff\xff", "\xffh\x01xy", "{tag}x"}) {
    std::string rk = PlainRecordKey(key);
    ParsedRecordKey p = ParseRecordKey(rk);
    EXPECT_EQ(p.kind, RecordKind::kPlain);
    EXPECT_EQ(p.key, key);
    EXPECT_TRUE(IsPlainRecordKey(rk));
    EXPECT_EQ(RecordPartition(rk), KeyPartition(key));
    EXPECT_EQ(PartitionOfDataKey(DataKey(rk)), KeyPartition(key));
  }
}

TEST(RecordKeyTest, ElementsParseBackAndLiveInTheirCollectionsPartition) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string key(rng() % 300, '\0'), elem(rng() % 20, '\0');
    for (char& c : key) c = static_cast<char>(rng());
    for (char& c : elem) c = static_cast<char>(rng());
    char type = "hszl"[rng() % 4];
    std::string rk = ElementKey(type, key, elem);
    ParsedRecordKey p = ParseRecordKey(rk);
    ASSERT_EQ(p.kind, RecordKind::kElement);
    EXPECT_EQ(p.type, type);
    EXPECT_EQ(p.key, key);
    EXPECT_EQ(p.element, elem);
    EXPECT_FALSE(IsPlainRecordKey(rk));
    EXPECT_EQ(RecordPartition(rk), KeyPartition(key));
    EXPECT_EQ(rk.substr(0, ElementPrefix(type, key).size()), ElementPrefix(type, key));
  }
}

// No collection's prefix starts another's: each collection is its own range.
TEST(RecordKeyTest, CollectionPrefixesAreDisjoint) {
  std::vector<std::string> keys = {"", "a", "ab", "a\x01", std::string(127, 'x'),
                                   std::string(128, 'x'), std::string(129, 'x')};
  std::set<std::string> seen;
  for (char t : {'h', 's'}) {
    for (auto& k : keys) {
      std::string p = ElementPrefix(t, k);
      EXPECT_TRUE(seen.insert(p).second);
      for (char t2 : {'h', 's'}) {
        for (auto& k2 : keys) {
          if (t == t2 && k == k2) continue;
          std::string q = ElementPrefix(t2, k2);
          EXPECT_NE(q.substr(0, p.size()), p) << k << " / " << k2;
        }
      }
    }
  }
}

TEST(RecordKeyTest, MalformedKeysAreOtherAndNeverCrash) {
  for (std::string rk : {std::string("\xff"), std::string("\xffh"), std::string("\xffh\x80"),
                         std::string("\xffh\x05" "ab"), std::string("\xffh\xff\xff\xff\xff\xff\x01")}) {
    ParsedRecordKey p = ParseRecordKey(rk);
    EXPECT_EQ(p.kind, RecordKind::kOther);
    EXPECT_FALSE(IsPlainRecordKey(rk));
    EXPECT_EQ(RecordPartition(rk), KeyPartition(rk));
  }
}

Record Rec(uint64_t actor, uint64_t counter, std::string v) {
  Record r;
  Sibling s;
  s.dot = {actor, counter};
  s.timestamp_ms = counter;
  s.value = std::move(v);
  r.siblings.push_back(s);
  r.context.Raise(actor, counter, counter);
  return r;
}

TEST(RangeJoinTest, PagesJoinPerElementAndStopWhereACutPageStops) {
  using Page = std::vector<std::pair<std::string, Record>>;
  Page a = {{"a", Rec(1, 1, "x")}, {"c", Rec(1, 2, "y")}, {"e", Rec(1, 3, "z")}};
  Page b = {{"a", Rec(2, 1, "x2")}, {"b", Rec(2, 2, "w")}};  // cut after "b"
  Node::RangeReply r = JoinPages({&a, &b}, {true, false});
  EXPECT_FALSE(r.done);
  ASSERT_EQ(r.elements.size(), 2u);  // "a" and "b"; "c" lies past b's cut
  EXPECT_EQ(r.elements[0].first, "a");
  EXPECT_EQ(r.elements[0].second.siblings.size(), 2u);  // concurrent: both kept
  EXPECT_EQ(r.elements[1].first, "b");
  Node::RangeReply all = JoinPages({&a, &b}, {true, true});
  EXPECT_TRUE(all.done);
  EXPECT_EQ(all.elements.size(), 4u);
  // Order does not matter.
  Node::RangeReply rev = JoinPages({&b, &a}, {true, true});
  EXPECT_EQ(rev.elements, all.elements);
}

}  // namespace
}  // namespace dynakv::cluster
