// tests/integration/bits_cluster_test.cc: the bit commands on a real 3-node cluster (N=3 R=2
// W=2): SETBIT through one node is read by GETBIT/BITCOUNT/BITPOS through the others; a
// BITFIELD INCRBY run through each node in turn adds up (each read-modify-write reads the
// previous one's write and supersedes it with the context it read: one version, no
// siblings); a SETBIT over two concurrent siblings supersedes both (it writes with the
// context it read); BITOP on one node reads sources written through the others.
// The replies themselves are compared with redis-server's by bits_test.sh.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;

class BitsClusterTest : public ThreeNodeTest {};

TEST_F(BitsClusterTest, SetbitThroughOneNodeIsReadThroughTheOthers) {
  StartCluster();
  constexpr int kKeys = 30;
  for (int k = 0; k < kKeys; k++) {
    std::string key = "cb:" + std::to_string(k);
    size_t w = size_t(k) % 3;
    ASSERT_TRUE(IsInt(c(w)("SETBIT", key, std::to_string(k * 3 + 1), "1"), 0)) << key;
    ASSERT_TRUE(IsInt(c(w)("SETBIT", key, "0", "1"), 0)) << key;
    for (size_t r : {(w + 1) % 3, (w + 2) % 3}) {
      EXPECT_TRUE(IsInt(c(r)("GETBIT", key, std::to_string(k * 3 + 1)), 1)) << key << " via node " << r;
      EXPECT_TRUE(IsInt(c(r)("GETBIT", key, std::to_string(k * 3 + 2)), 0)) << key << " via node " << r;
      EXPECT_TRUE(IsInt(c(r)("BITCOUNT", key), 2)) << key << " via node " << r;
      EXPECT_TRUE(IsInt(c(r)("BITPOS", key, "1", "1"), k * 3 + 1 >= 8 ? k * 3 + 1 : -1)) << key;
    }
  }

  // One counter field, incremented through every node in turn: each BITFIELD reads the last
  // write (R + W > N) and writes back with its context, so nothing is lost and no sibling
  // appears.
  constexpr int kRounds = 12;
  for (int i = 0; i < kRounds; i++) {
    Reply r = c(size_t(i) % 3)("BITFIELD", "cb:field", "INCRBY", "u16", "#1", "5", "GET", "u8", "0");
    ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) << Describe(r);
    EXPECT_EQ(r->element[0]->integer, (i + 1) * 5) << "round " << i;
  }
  for (size_t n = 0; n < 3; n++) {
    Reply r = c(n)("BITFIELD_RO", "cb:field", "GET", "u16", "#1");
    ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) << Describe(r);
    EXPECT_EQ(r->element[0]->integer, kRounds * 5) << "via node " << n;
    Reply d = c(n)("DGET", "cb:field");
    ASSERT_TRUE(d && d->type == REDIS_REPLY_ARRAY && d->elements == 2) << Describe(d);
    EXPECT_EQ(d->element[1]->elements, 1u) << "sequential read-modify-writes must not make siblings: "
                                           << Describe(d);
  }

  // Two concurrent versions (DPUT from the empty context through two nodes): SETBIT through
  // the third reads the winner and writes back with the context it read, which covers both,
  // so the siblings collapse into its one new value.
  ASSERT_TRUE(c(0)("DPUT", "cb:sib", std::string("\x80", 1), ""));
  ASSERT_TRUE(c(1)("DPUT", "cb:sib", std::string("\x80", 1), ""));
  Reply before = c(2)("DGET", "cb:sib");
  ASSERT_TRUE(before && before->type == REDIS_REPLY_ARRAY && before->elements == 2) << Describe(before);
  EXPECT_EQ(before->element[1]->elements, 2u) << Describe(before);
  EXPECT_TRUE(IsInt(c(2)("SETBIT", "cb:sib", "7", "1"), 0));
  Reply after = c(0)("DGET", "cb:sib");
  ASSERT_TRUE(after && after->type == REDIS_REPLY_ARRAY && after->elements == 2) << Describe(after);
  ASSERT_EQ(after->element[1]->elements, 1u) << Describe(after);
  EXPECT_EQ(std::string(after->element[1]->element[0]->str, after->element[1]->element[0]->len),
            std::string("\x81", 1));
  EXPECT_TRUE(IsInt(c(1)("BITCOUNT", "cb:sib"), 2));

  // BITOP through node 2 over sources written through nodes 0 and 1.
  ASSERT_TRUE(IsStatus(c(0)("SET", "cb:src1", std::string("\xff\x0f", 2)), "OK"));
  ASSERT_TRUE(IsStatus(c(1)("SET", "cb:src2", std::string("\x0f", 1)), "OK"));
  EXPECT_TRUE(IsInt(c(2)("BITOP", "AND", "cb:dst", "cb:src1", "cb:src2"), 2));
  EXPECT_TRUE(IsBulk(c(0)("GET", "cb:dst"), std::string("\x0f\x00", 2)));
  EXPECT_TRUE(IsInt(c(1)("BITCOUNT", "cb:dst"), 4));
}

}  // namespace
}  // namespace dynakv::itest
