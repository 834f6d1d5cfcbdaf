// Unit tests for server/redis_cluster: the CLUSTER SLOTS/SHARDS/NODES/INFO replies built from
// a ring snapshot (byte-exact against the shapes a Redis 7 cluster sends), node ids, and the
// MOVED decision over remembered slot maps.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/redis_cluster.h"

namespace dynakv::server {
namespace {

using cluster::MemberInfo;
using Range = cluster::Node::PartitionRange;

MemberInfo M(const std::string& id, int port, const std::string& status = "up") {
  MemberInfo m;
  m.id = id;
  m.client_addr = "127.0.0.1:" + std::to_string(port);
  m.cluster_addr = "127.0.0.1:" + std::to_string(port + 10000);
  m.status = status;
  m.weight = 100;
  return m;
}

// n1 (port 7001), n2 (7002), n3 (7003); slots 0..99 coordinated by n2, the rest by n1.
ClusterView ThreeNodes(const std::string& self = "n1", const std::string& n3_status = "up") {
  std::vector<MemberInfo> members = {M("n3", 7003, n3_status), M("n1", 7001), M("n2", 7002)};
  std::vector<Range> ranges = {{0, 99, {"n2", "n1", "n3"}}, {100, 16383, {"n1", "n3", "n2"}}};
  return MakeClusterView(self, members, ranges, 5);
}

std::string Resp(const ClusterView& v, bool shards, int proto = 2) {
  std::string out;
  protocol::RespWriter w(&out, proto);
  if (shards) {
    WriteClusterShards(w, v);
  } else {
    WriteClusterSlots(w, v);
  }
  return out;
}

std::string NodeEntry(int port, const std::string& id, const char* meta = "*0\r\n") {
  return "*4\r\n$9\r\n127.0.0.1\r\n:" + std::to_string(port) + "\r\n$40\r\n" + id + "\r\n" + meta;
}

TEST(RedisCluster, NodeIdsAreFortyHexCharactersOfTheDynakvId) {
  EXPECT_EQ(RedisNodeId("n1"), "b7a6b6f94116964ae55ab9e91dc5eb2f868eba20");  // sha1("dynakv:n1")
  EXPECT_EQ(RedisNodeId("n1"), RedisNodeId("n1"));
  EXPECT_NE(RedisNodeId("n1"), RedisNodeId("n2"));
  std::string id = RedisNodeId("some-long-node-name");
  ASSERT_EQ(id.size(), 40u);
  for (char ch : id) EXPECT_TRUE((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')) << id;
}

TEST(RedisCluster, ViewSortsNodesAndParsesAddresses) {
  ClusterView v = ThreeNodes("n2");
  ASSERT_EQ(v.nodes.size(), 3u);
  EXPECT_EQ(v.nodes[0].id, "n1");
  EXPECT_EQ(v.nodes[2].id, "n3");
  EXPECT_EQ(v.self, 1u);
  EXPECT_TRUE(v.nodes[1].myself);
  EXPECT_FALSE(v.nodes[0].myself);
  EXPECT_EQ(v.nodes[2].host, "127.0.0.1");
  EXPECT_EQ(v.nodes[2].port, 7003);
  EXPECT_EQ(v.nodes[2].cport, 17003);
  ASSERT_EQ(v.ranges.size(), 2u);
  EXPECT_EQ(v.ranges[0].owners, (std::vector<uint32_t>{1, 0, 2}));
  EXPECT_EQ(v.epoch, 5u);
}

TEST(RedisCluster, SlotsListThePreferenceListMasterFirst) {
  ClusterView v = ThreeNodes();
  std::string id1 = RedisNodeId("n1"), id2 = RedisNodeId("n2"), id3 = RedisNodeId("n3");
  std::string want = "*2\r\n*5\r\n:0\r\n:99\r\n" + NodeEntry(7002, id2) + NodeEntry(7001, id1) +
                     NodeEntry(7003, id3) + "*5\r\n:100\r\n:16383\r\n" + NodeEntry(7001, id1) +
                     NodeEntry(7003, id3) + NodeEntry(7002, id2);
  EXPECT_EQ(Resp(v, false), want);
  // RESP3: the networking metadata is an empty map, as Redis 7 sends it.
  std::string r3 = Resp(v, false, 3);
  EXPECT_NE(r3.find(NodeEntry(7002, id2, "%0\r\n")), std::string::npos) << r3;
}

TEST(RedisCluster, SlotsLeaveOutDownReplicasButNotTheMaster) {
  ClusterView v = ThreeNodes("n1", "down");
  std::string id1 = RedisNodeId("n1"), id2 = RedisNodeId("n2");
  std::string want = "*2\r\n*4\r\n:0\r\n:99\r\n" + NodeEntry(7002, id2) + NodeEntry(7001, id1) +
                     "*4\r\n:100\r\n:16383\r\n" + NodeEntry(7001, id1) + NodeEntry(7002, id2);
  EXPECT_EQ(Resp(v, false), want);
  std::vector<Range> ranges = {{0, 16383, {"n3", "n1"}}};
  ClusterView w = MakeClusterView("n1", {M("n1", 7001), M("n3", 7003, "down")}, ranges, 1);
  EXPECT_EQ(Resp(w, false), "*1\r\n*4\r\n:0\r\n:16383\r\n" + NodeEntry(7003, RedisNodeId("n3")) +
                                NodeEntry(7001, id1));
}

TEST(RedisCluster, ShardsGroupRunsByPreferenceList) {
  std::vector<Range> ranges = {{0, 9, {"n1", "n2"}}, {10, 19, {"n2", "n1"}},
                               {20, 16383, {"n1", "n2"}}};
  ClusterView v = MakeClusterView("n1", {M("n1", 7001), M("n2", 7002)}, ranges, 2);
  auto node = [](int port, const std::string& id, const char* role) {
    return "*14\r\n$2\r\nid\r\n$40\r\n" + id + "\r\n$4\r\nport\r\n:" + std::to_string(port) +
           "\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$" +
           std::to_string(std::string(role).size()) + "\r\n" + role +
           "\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";
  };
  std::string id1 = RedisNodeId("n1"), id2 = RedisNodeId("n2");
  std::string want = "*2\r\n*4\r\n$5\r\nslots\r\n*4\r\n:0\r\n:9\r\n:20\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n" +
                     node(7001, id1, "master") + node(7002, id2, "replica") +
                     "*4\r\n$5\r\nslots\r\n*2\r\n:10\r\n:19\r\n$5\r\nnodes\r\n*2\r\n" +
                     node(7002, id2, "master") + node(7001, id1, "replica");
  EXPECT_EQ(Resp(v, true), want);
  EXPECT_EQ(Resp(v, true, 3).substr(0, 8), "*2\r\n%2\r\n");
}

TEST(RedisCluster, NodesTextHasRedisFieldsAndMasterSlots) {
  std::vector<Range> ranges = {{0, 0, {"n2", "n1"}}, {1, 99, {"n1", "n2"}}, {100, 200, {"n1", "n3"}},
                               {201, 16383, {"n2", "n3"}}};
  ClusterView v = MakeClusterView(
      "n1", {M("n1", 7001), M("n2", 7002, "suspect"), M("n3", 7003, "down")}, ranges, 9);
  std::string want = RedisNodeId("n1") + " 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 1-200\n" +
                     RedisNodeId("n2") + " 127.0.0.1:7002@17002 master,fail? - 0 0 2 connected 0 201-16383\n" +
                     RedisNodeId("n3") + " 127.0.0.1:7003@17003 master,fail - 0 0 3 disconnected\n";
  EXPECT_EQ(ClusterNodesText(v), want);
  std::string info = ClusterInfoText(v);
  EXPECT_EQ(info.rfind("cluster_state:ok\r\ncluster_slots_assigned:16384\r\n", 0), 0u) << info;
  for (const char* line : {"cluster_slots_ok:200\r\n", "cluster_slots_pfail:16184\r\n",
                           "cluster_slots_fail:0\r\n", "cluster_known_nodes:3\r\n",
                           "cluster_size:2\r\n", "cluster_my_epoch:1\r\n"}) {
    EXPECT_NE(info.find(line), std::string::npos) << line << " in\n" << info;
  }
}

TEST(RedisCluster, StandaloneNodeServesEverySlot) {
  std::vector<Range> ranges = {{0, 16383, {}}};
  MemberInfo self = M("solo", 6379);
  self.cluster_addr = "";
  ClusterView v = MakeClusterView("solo", {self}, ranges, 1);
  ASSERT_EQ(v.ranges.size(), 1u);
  EXPECT_EQ(v.ranges[0].owners, std::vector<uint32_t>{0});
  EXPECT_EQ(ClusterNodesText(v),
            RedisNodeId("solo") + " 127.0.0.1:6379@0 myself,master - 0 0 1 connected 0-16383\n");
  ClusterView empty = MakeClusterView("solo", {self}, {}, 1);
  ASSERT_EQ(empty.ranges.size(), 1u);
  EXPECT_EQ(empty.ranges[0].last, 16383u);
}

TEST(RedisCluster, MovedOnlyAfterARingChangeForSlotsWhoseFirstOwnerChanged) {
  SlotHistory h;
  ClusterView before = ThreeNodes();  // epoch 5: slots 0..99 -> n2, the rest -> n1
  h.Remember(before);
  ASSERT_NE(h.FirstOwner(5, 50), nullptr);
  EXPECT_EQ(*h.FirstOwner(5, 50), "n2");
  EXPECT_EQ(*h.FirstOwner(5, 100), "n1");
  EXPECT_EQ(h.FirstOwner(6, 100), nullptr);
  EXPECT_TRUE(h.Has(5));
  EXPECT_FALSE(h.Has(6));
  EXPECT_EQ(h.FirstOwner(5, 16384), nullptr);
  // Never fetched, or fetched at the current epoch: nothing to compare.
  EXPECT_FALSE(MovedDue(h, 0, 6, 100, "n4", "n1"));
  EXPECT_FALSE(MovedDue(h, 6, 6, 100, "n4", "n1"));
  // The ring changed (epoch 6): slot 100 went from n1 to n4, slot 50 stayed with n2.
  EXPECT_TRUE(MovedDue(h, 5, 6, 100, "n4", "n1"));
  EXPECT_FALSE(MovedDue(h, 5, 6, 50, "n2", "n1"));
  // Never towards ourselves, nor to nobody.
  EXPECT_FALSE(MovedDue(h, 5, 6, 50, "n1", "n1"));
  EXPECT_FALSE(MovedDue(h, 5, 6, 50, "", "n1"));
  // A map that is no longer remembered counts as moved.
  EXPECT_TRUE(MovedDue(h, 4, 6, 50, "n2", "n1"));
  for (uint64_t e = 6; e < 6 + SlotHistory::kKeep; e++) {
    ClusterView v = ThreeNodes();
    v.epoch = e;
    h.Remember(v);
  }
  EXPECT_EQ(h.FirstOwner(5, 50), nullptr) << "the oldest epoch was dropped";
  EXPECT_NE(h.FirstOwner(6, 50), nullptr);
  EXPECT_TRUE(MovedDue(h, 5, 20, 50, "n2", "n1"));
}

TEST(RedisCluster, MapRepliesAreReusedWhileTheViewIsTheSame) {
  std::vector<MemberInfo> members = {M("n1", 7001), M("n2", 7002)};
  std::string sig = MapReplyCache::Signature(3, members);
  MapReplyCache cache;
  EXPECT_EQ(cache.Find(sig, "slots/2"), nullptr);
  EXPECT_EQ(cache.Put(sig, "slots/2", "bytes2"), "bytes2");
  cache.Put(sig, "slots/3", "bytes3");
  ASSERT_NE(cache.Find(sig, "slots/2"), nullptr);
  EXPECT_EQ(*cache.Find(sig, "slots/2"), "bytes2");
  EXPECT_EQ(*cache.Find(sig, "slots/3"), "bytes3");
  // Another epoch, or a member whose state or address changed, is another view.
  EXPECT_EQ(cache.Find(MapReplyCache::Signature(4, members), "slots/2"), nullptr);
  members[1].status = "down";
  std::string down = MapReplyCache::Signature(3, members);
  EXPECT_NE(down, sig);
  EXPECT_EQ(cache.Find(down, "slots/2"), nullptr);
  members[1].status = "up";
  members[1].client_addr = "127.0.0.1:9999";
  EXPECT_NE(MapReplyCache::Signature(3, members), sig);
  cache.Put(down, "nodes/2", "n");
  EXPECT_EQ(cache.Find(sig, "slots/2"), nullptr) << "a new view drops the old replies";
}

}  // namespace
}  // namespace dynakv::server
