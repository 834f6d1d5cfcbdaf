// Unit tests for server/sort.h, SORT's engine: option parsing, pattern substitution, numeric
// and ALPHA ordering, BY (with missing values and without '*'), LIMIT clamping, GET
// projection, and the list/sorted set/set source kinds. Only strings exist in dynakv today,
// so these sources are built by hand; the expected orders are redis-server 7.0's replies for
// the same lists (RPUSH/ZADD then SORT).
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/sort.h"

namespace dynakv::server::sort {
namespace {

using Strs = std::vector<std::string>;

SortSpec Spec(const Strs& opts, bool readonly = false) {
  Strs args = {"sort", "key"};
  args.insert(args.end(), opts.begin(), opts.end());
  SortSpec s;
  EXPECT_EQ(ParseSort(args, readonly, &s), "");
  return s;
}

std::string ParseErr(const Strs& opts, bool readonly = false) {
  Strs args = {"sort", "key"};
  args.insert(args.end(), opts.begin(), opts.end());
  SortSpec s;
  return ParseSort(args, readonly, &s);
}

Lookup MapLookup(std::map<std::string, std::string> m) {
  return [m](const PatternRef& r) -> std::optional<std::string> {
    if (r.kind != PatternRef::kKey || r.has_field) return std::nullopt;
    auto it = m.find(r.key);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

// Order + Project, or the error text as the only element.
Strs Sorted(const Strs& opts, SourceKind kind, const Strs& elems, std::map<std::string, std::string> keys = {}) {
  SortSpec spec = Spec(opts);
  SortSource src{kind, elems};
  Strs ordered;
  std::string err = Order(spec, src, MapLookup(keys), &ordered);
  if (!err.empty()) return {err};
  Strs out;
  for (auto& v : Project(spec, ordered, MapLookup(keys))) out.push_back(v ? *v : "(nil)");
  return out;
}

const Strs kNums = {"3", "1", "2", "10", "1.5", " 7", "0x10"};

TEST(Sort, NumericAscDescAlpha) {
  EXPECT_EQ(Sorted({}, SourceKind::kList, kNums), (Strs{"1", "1.5", "2", "3", " 7", "10", "0x10"}));
  EXPECT_EQ(Sorted({"DESC"}, SourceKind::kList, kNums), (Strs{"0x10", "10", " 7", "3", "2", "1.5", "1"}));
  EXPECT_EQ(Sorted({"alpha"}, SourceKind::kList, kNums), (Strs{" 7", "0x10", "1", "1.5", "10", "2", "3"}));
  EXPECT_EQ(Sorted({}, SourceKind::kList, {"b", "a", ""}),
            (Strs{"ERR One or more scores can't be converted into double"}));
  EXPECT_EQ(Sorted({"alpha"}, SourceKind::kList, {"b", "a", ""}), (Strs{"", "a", "b"}));
  EXPECT_EQ(Sorted({}, SourceKind::kList, {"nan"}), (Strs{"ERR One or more scores can't be converted into double"}));
  EXPECT_EQ(Sorted({}, SourceKind::kList, {"1e400"}), (Strs{"ERR One or more scores can't be converted into double"}));
  // Equal scores are ordered by the elements themselves, so the result is deterministic.
  EXPECT_EQ(Sorted({}, SourceKind::kList, {"1.0", "1", "01"}), (Strs{"01", "1", "1.0"}));
}

TEST(Sort, LimitIsClampedLikeRedis) {
  EXPECT_EQ(Sorted({"limit", "1", "3"}, SourceKind::kList, kNums), (Strs{"1.5", "2", "3"}));
  EXPECT_EQ(Sorted({"limit", "5", "100", "desc"}, SourceKind::kList, kNums), (Strs{"1.5", "1"}));
  EXPECT_EQ(Sorted({"limit", "-1", "2"}, SourceKind::kList, kNums), (Strs{"1", "1.5"}));
  EXPECT_EQ(Sorted({"limit", "0", "-5"}, SourceKind::kList, kNums).size(), kNums.size());
  EXPECT_TRUE(Sorted({"limit", "7", "1"}, SourceKind::kList, kNums).empty());
  EXPECT_TRUE(Sorted({"limit", "2", "0"}, SourceKind::kList, kNums).empty());
  EXPECT_EQ(Sorted({"limit", "6", "9223372036854775807"}, SourceKind::kList, kNums), (Strs{"0x10"}));
  EXPECT_TRUE(Sorted({"limit", "0", "10"}, SourceKind::kList, {}).empty());
}

TEST(Sort, ByConstantKeepsTheSourceOrder) {
  EXPECT_EQ(Sorted({"by", "nosort"}, SourceKind::kList, kNums), kNums);
  EXPECT_EQ(Sorted({"by", "nosort", "desc"}, SourceKind::kList, kNums),
            (Strs{"0x10", " 7", "1.5", "10", "2", "1", "3"}));
  EXPECT_EQ(Sorted({"by", "nosort", "desc", "limit", "1", "2"}, SourceKind::kList, kNums), (Strs{" 7", "1.5"}));
  const Strs z = {"c", "a", "b"};  // a sorted set's order (by score)
  EXPECT_EQ(Sorted({"by", "nosort", "desc"}, SourceKind::kZset, z), (Strs{"b", "a", "c"}));
  EXPECT_EQ(Sorted({"by", "nosort", "limit", "1", "1"}, SourceKind::kZset, z), (Strs{"a"}));
  EXPECT_EQ(Sorted({"by", "nosort", "desc", "limit", "0", "2"}, SourceKind::kZset, z), (Strs{"b", "a"}));
  // A set has no order: DESC does not reverse it; with STORE Redis sorts it ALPHA instead.
  EXPECT_EQ(Sorted({"by", "nosort", "desc"}, SourceKind::kSet, z), z);
  EXPECT_EQ(Sorted({"by", "nosort", "store", "dst"}, SourceKind::kSet, z), (Strs{"a", "b", "c"}));
}

TEST(Sort, ByPatternWithMissingValues) {
  const Strs l = {"a", "b", "c", "d"};
  std::map<std::string, std::string> w = {{"w_a", "3"}, {"w_b", "1"}, {"w_c", "2"}, {"o_a", "A"}, {"o_b", "B"}};
  // d has no weight: it scores 0 (numeric) or sorts lowest (ALPHA).
  EXPECT_EQ(Sorted({"by", "w_*"}, SourceKind::kList, l, w), (Strs{"d", "b", "c", "a"}));
  EXPECT_EQ(Sorted({"by", "w_*", "alpha"}, SourceKind::kList, l, w), (Strs{"d", "b", "c", "a"}));
  EXPECT_EQ(Sorted({"by", "w_*", "limit", "0", "2"}, SourceKind::kList, l, w), (Strs{"d", "b"}));
  EXPECT_EQ(Sorted({"by", "w_*", "desc", "get", "#", "get", "o_*", "get", "nokey"}, SourceKind::kList, l, w),
            (Strs{"a", "A", "(nil)", "c", "(nil)", "(nil)", "b", "B", "(nil)", "d", "(nil)", "(nil)"}));
  auto w2 = w;
  w2["w_d"] = "x";
  EXPECT_EQ(Sorted({"by", "w_*"}, SourceKind::kList, l, w2),
            (Strs{"ERR One or more scores can't be converted into double"}));
  EXPECT_EQ(Sorted({"by", "w_*", "alpha", "desc"}, SourceKind::kList, l, w2), (Strs{"d", "a", "c", "b"}));
  // Hash fields answer nil (no hashes yet): every element scores 0, ties by the element.
  EXPECT_EQ(Sorted({"by", "w_*->f"}, SourceKind::kList, {"b", "a"}, w), (Strs{"a", "b"}));
  EXPECT_EQ(Sorted({"by", "nosort", "get", "w_*->f", "get", "w_*->"}, SourceKind::kList, {"a"}, {{"w_a->", "s"}}),
            (Strs{"(nil)", "s"}));
}

TEST(Sort, PatternSubstitution) {
  PatternRef r = Substitute("w_*_x", "el");
  EXPECT_EQ(r.kind, PatternRef::kKey);
  EXPECT_EQ(r.key, "w_el_x");
  EXPECT_FALSE(r.has_field);
  r = Substitute("h_*->field", "el");
  EXPECT_EQ(r.key, "h_el");
  EXPECT_TRUE(r.has_field);
  EXPECT_EQ(r.field, "field");
  r = Substitute("h_*->", "el");  // "->" with nothing after it is part of the key
  EXPECT_EQ(r.key, "h_el->");
  EXPECT_FALSE(r.has_field);
  EXPECT_EQ(Substitute("#", "el").kind, PatternRef::kSelf);
  EXPECT_EQ(Substitute("nostar", "el").kind, PatternRef::kNone);
  EXPECT_EQ(Substitute("a*b*c", "X").key, "aXb*c");  // only the first '*'
  auto keys = PatternKeys("w_*", {"a", "b", "a"});
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].key, "w_a");
  EXPECT_EQ(keys[1].key, "w_b");
}

TEST(Sort, ParseErrorsAndFlags) {
  EXPECT_EQ(ParseErr({"limit", "1"}), "ERR syntax error");
  EXPECT_EQ(ParseErr({"limit", "a", "1"}), "ERR value is not an integer or out of range");
  EXPECT_EQ(ParseErr({"limit", "0", "b"}), "ERR value is not an integer or out of range");
  EXPECT_EQ(ParseErr({"foo"}), "ERR syntax error");
  EXPECT_EQ(ParseErr({"get"}), "ERR syntax error");
  EXPECT_EQ(ParseErr({"by"}), "ERR syntax error");
  EXPECT_EQ(ParseErr({"store"}), "ERR syntax error");
  EXPECT_EQ(ParseErr({"store", "dst"}, /*readonly=*/true), "ERR syntax error");  // SORT_RO
  SortSpec s = Spec({"DESC", "ASC", "ALPHA", "BY", "w_*", "GET", "#", "GET", "o_*", "LIMIT", "1", "2", "STORE", "d"});
  EXPECT_FALSE(s.desc);
  EXPECT_TRUE(s.alpha);
  EXPECT_TRUE(s.has_by);
  EXPECT_FALSE(s.dontsort);
  EXPECT_EQ(s.gets, (Strs{"#", "o_*"}));
  EXPECT_EQ(s.limit_start, 1);
  EXPECT_EQ(s.limit_count, 2);
  EXPECT_TRUE(s.has_store);
  EXPECT_EQ(s.store, "d");
  EXPECT_TRUE(Spec({"by", "nosort"}).dontsort);
}

}  // namespace
}  // namespace dynakv::server::sort
