// tests/unit/server_ops_view_test.cc: the operator views of a node (server/ops_view.h):
// Prometheus text (well-formed families, cumulative histograms, escaping), /health's verdict,
// the DYNAMO STATUS screen, the cluster JSON and INFO's # Dynamo section.
#include "server/ops_view.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace dynakv::server {
namespace {

OpsView ThreeNodes() {
  OpsView v;
  v.node_id = "n1";
  v.n = 3;
  v.r = 2;
  v.w = 2;
  v.standalone = false;
  for (int i = 1; i <= 3; i++) {
    MemberView m;
    m.id = "n" + std::to_string(i);
    m.cluster_addr = "127.0.0.1:700" + std::to_string(i);
    m.client_addr = "127.0.0.1:600" + std::to_string(i);
    m.status = "up";
    m.zone = i == 3 ? "" : "z" + std::to_string(i);
    m.weight = 100;
    m.partitions = 16384;
    m.primaries = i == 1 ? 5462 : 5461;
    m.self = i == 1;
    if (m.self) {
      m.keys = 42;
      m.bytes = 3 * 1024 * 1024;
    }
    v.members.push_back(m);
  }
  v.members[1].hints = 7;
  v.members[2].transfers = 1;
  v.hints_pending = 7;
  v.ring = {{0, 5461, "n1"}, {5462, 10922, "n2"}, {10923, 16383, "n3"}};
  v.transfers.push_back({12, "n3", true, 30, 3000, 70, 100.0});
  v.stats.reads = 10;
  v.stats.writes = 20;
  v.stats.coordinator_timeouts = 5;
  v.stats.read_timeouts = 2;
  v.stats.write_timeouts = 1;
  v.stats.ae_rounds = 4;
  v.stats.ae_keys_repaired = 9;
  v.siblings = {8, 2, 0, 0, 1};
  Histogram h;
  for (uint64_t us : {50, 150, 700, 3000}) h.Record(us);
  v.write_quorum = ViewOf(h, 0.0039);
  CommandView set;
  set.name = "set";
  set.calls = 4;
  set.usec = 3900;
  set.hist = v.write_quorum;
  v.commands.push_back(set);
  v.errors["ERR"] = 3;
  return v;
}

TEST(OpsView, HistogramBucketsAreCumulativeInSeconds) {
  Histogram h;
  for (uint64_t us : {50, 150, 700, 3000}) h.Record(us);
  HistView v = ViewOf(h, 0.0039);
  ASSERT_FALSE(v.buckets.empty());
  EXPECT_EQ(v.count, 4u);
  uint64_t prev = 0;
  for (auto& [le, cum] : v.buckets) {
    EXPECT_GE(cum, prev) << le;
    prev = cum;
  }
  std::map<double, uint64_t> at(v.buckets.begin(), v.buckets.end());
  EXPECT_EQ(at[0.0001], 1u);  // 50 us
  EXPECT_EQ(at[0.00025], 2u);
  EXPECT_EQ(at[0.001], 3u);
  EXPECT_EQ(at[0.005], 4u);
  EXPECT_EQ(at[10], 4u);
}

TEST(OpsView, PrometheusTextIsWellFormed) {
  OpsView v = ThreeNodes();
  v.members[0].zone = "rack \"a\"\\b\nc";  // label escaping
  std::string text = RenderPrometheus(v);
  std::istringstream in(text);
  std::string line;
  std::set<std::string> typed;
  std::map<std::string, std::string> type_of;
  std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*)?\})? (-?[0-9.e+]+|\+Inf|NaN)$)");
  int samples = 0;
  while (std::getline(in, line)) {
    ASSERT_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      EXPECT_TRUE(typed.insert(name).second) << "family typed twice: " << name;
      type_of[name] = type;
      EXPECT_EQ(name.rfind("dynakv_", 0), 0u) << name;
      if (type == "counter") {
        EXPECT_TRUE(name.size() > 6 && name.substr(name.size() - 6) == "_total") << name;
      }
      continue;
    }
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
    std::string name = m[1];
    std::string family = name;
    for (const char* suf : {"_bucket", "_sum", "_count"}) {
      std::string s = suf;
      if (family.size() > s.size() && family.substr(family.size() - s.size()) == s &&
          type_of.count(family.substr(0, family.size() - s.size()))) {
        family = family.substr(0, family.size() - s.size());
      }
    }
    EXPECT_TRUE(typed.count(family)) << "sample before its TYPE: " << line;
    samples++;
  }
  EXPECT_GT(samples, 40);
  EXPECT_NE(text.find("dynakv_build_info{version=\"0.1.0\",node=\"n1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("dynakv_commands_total{cmd=\"set\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("dynakv_command_duration_seconds_bucket{cmd=\"set\",le=\"0.0001\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("dynakv_command_duration_seconds_bucket{cmd=\"set\",le=\"+Inf\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("dynakv_command_duration_seconds_count{cmd=\"set\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("dynakv_quorum_duration_seconds_count{op=\"write\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("dynakv_coordinator_timeouts_total{kind=\"read\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("dynakv_coordinator_timeouts_total{kind=\"other\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("dynakv_hints_pending{target=\"n2\"} 7\n"), std::string::npos);
  EXPECT_NE(text.find("dynakv_members{state=\"up\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("dynakv_transfers_in_flight 1\n"), std::string::npos);
  EXPECT_NE(text.find("dynakv_read_siblings_bucket{le=\"2\"} 10\n"), std::string::npos);
  EXPECT_NE(text.find("dynakv_read_siblings_count 11\n"), std::string::npos);
  EXPECT_NE(text.find("dynakv_errors_total{error=\"ERR\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("zone=\"rack \\\"a\\\"\\\\b\\nc\""), std::string::npos) << "label escaping";
  EXPECT_NE(text.find("dynakv_up 1\n"), std::string::npos);
}

TEST(OpsView, Health) {
  OpsView v = ThreeNodes();
  EXPECT_EQ(CheckHealth(v).code, 200);
  EXPECT_EQ(CheckHealth(v).reason, "OK");
  v.members[1].status = "down";
  EXPECT_EQ(CheckHealth(v).code, 200);  // 2 reachable, R=W=2
  v.members[2].status = "suspect";
  Health h = CheckHealth(v);
  EXPECT_EQ(h.code, 503);
  EXPECT_EQ(h.reason, "only 1 of 3 members reachable; R=2 W=2 need 2");
  EXPECT_NE(RenderPrometheus(v).find("dynakv_up 0\n"), std::string::npos);
  v = ThreeNodes();
  v.state = "loading";
  EXPECT_EQ(CheckHealth(v).code, 503);
  EXPECT_EQ(CheckHealth(v).reason, "loading");
  v.state = "shutting_down";
  EXPECT_EQ(CheckHealth(v).reason, "shutting down");
  OpsView solo;
  solo.node_id = "n1";
  EXPECT_EQ(CheckHealth(solo).code, 200);
}

TEST(OpsView, StatusTextHasOneRowPerMember) {
  OpsView v = ThreeNodes();
  std::string t = RenderStatusText(v);
  EXPECT_NE(t.find("node n1  healthy  N=3 R=2 W=2  3 members"), std::string::npos) << t;
  EXPECT_NE(t.find("State"), std::string::npos);
  EXPECT_NE(t.find("Partitions"), std::string::npos);
  std::istringstream in(t);
  std::string line;
  std::map<std::string, std::string> rows;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string state, id;
    f >> state >> id;
    if (state == "up") rows[id] = line;
  }
  ASSERT_EQ(rows.size(), 3u) << t;
  EXPECT_NE(rows["n1*"].find("127.0.0.1:7001"), std::string::npos);
  EXPECT_NE(rows["n1*"].find(" 42 "), std::string::npos);
  EXPECT_NE(rows["n1*"].find("3.0 MiB"), std::string::npos);
  EXPECT_NE(rows["n1*"].find("z1"), std::string::npos);
  EXPECT_NE(rows["n1*"].find("100.0%"), std::string::npos);
  // A member that has not reported its load (kLoad) shows "?".
  EXPECT_NE(rows["n2"].find(" ? "), std::string::npos) << rows["n2"];
  EXPECT_NE(rows["n2"].find("       7 "), std::string::npos) << rows["n2"];  // hints for n2
  EXPECT_NE(rows["n3"].find(" - "), std::string::npos) << "no zone shows -: " << rows["n3"];
  EXPECT_NE(t.find("Coordinator timeouts: read 2, write 1, other 2"), std::string::npos);
  EXPECT_NE(t.find("transfer partition 12 -> n3: sending 30/100 records (30%)"), std::string::npos) << t;
  v.members[2].status = "down";
  v.members[1].status = "down";
  EXPECT_NE(RenderStatusText(v).find("UNHEALTHY: only 1 of 3"), std::string::npos);
}

TEST(OpsView, ClusterJson) {
  OpsView v = ThreeNodes();
  v.members[2].id = "n\"3";
  std::string j = RenderClusterJson(v);
  EXPECT_EQ(j.front(), '{');
  EXPECT_EQ(j.back(), '}');
  EXPECT_NE(j.find("\"node\":\"n1\""), std::string::npos);
  EXPECT_NE(j.find("{\"id\":\"n1\",\"address\":\"127.0.0.1:7001\""), std::string::npos);
  EXPECT_NE(j.find("\"id\":\"n\\\"3\""), std::string::npos) << "escaped";
  EXPECT_NE(j.find("\"keys\":42,\"bytes\":3145728"), std::string::npos);
  EXPECT_NE(j.find("\"keys\":null,\"bytes\":null"), std::string::npos);
  EXPECT_NE(j.find("\"ring\":[[0,5461,\"n1\"],"), std::string::npos);
  EXPECT_NE(j.find("\"progress\":0.3"), std::string::npos);
  EXPECT_NE(j.find("\"coordinator_timeouts\":{\"read\":2,\"write\":1,\"other\":2}"), std::string::npos);
  EXPECT_NE(j.find("\"siblings\":{\"1\":8,\"2\":2,\"3\":0,\"4\":0,\"5+\":1}"), std::string::npos);
  EXPECT_NE(j.find("\"commands\":{\"set\":{\"count\":4,"), std::string::npos);
  EXPECT_NE(j.find("\"health\":{\"code\":200,\"reason\":\"OK\"}"), std::string::npos);
  // Balanced braces and brackets outside strings.
  int depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < j.size(); i++) {
    if (in_str) {
      if (j[i] == '\\') {
        i++;
      } else if (j[i] == '"') {
        in_str = false;
      }
    } else if (j[i] == '"') {
      in_str = true;
    } else if (j[i] == '{' || j[i] == '[') {
      depth++;
    } else if (j[i] == '}' || j[i] == ']') {
      ASSERT_GE(--depth, 0);
    }
  }
  EXPECT_EQ(depth, 0);
}

TEST(OpsView, DynamoInfoHasClusterTwins) {
  OpsView v = ThreeNodes();
  std::string info = RenderDynamoInfo(v, "abc", "127.0.0.1:7001");
  EXPECT_EQ(info.rfind("# Dynamo\r\nnode_id:n1\r\nactor:abc\r\ncluster_address:127.0.0.1:7001\r\n", 0), 0u);
  EXPECT_EQ(info.substr(info.size() - 4), "\r\n\r\n");
  std::map<std::string, std::string> f;
  std::istringstream in(info);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto c = line.find(':');
    if (c != std::string::npos && line[0] != '#') f[line.substr(0, c)] = line.substr(c + 1);
  }
  for (const char* k : {"members", "members_up", "partitions_owned", "hints_pending", "hints_pending_n2",
                        "transfers_in_flight", "ae_rounds", "ae_keys_repaired", "read_repairs",
                        "coordinator_read_timeouts", "coordinator_write_timeouts", "read_siblings_1",
                        "read_siblings_5plus", "read_quorum_p99_usec", "write_quorum_p50_usec"}) {
    ASSERT_TRUE(f.count(k)) << k;
    EXPECT_EQ(f[std::string("cluster_") + k], f[k]) << k;
  }
  EXPECT_EQ(f["members_up"], "3");
  EXPECT_EQ(f["hints_pending_n2"], "7");
  EXPECT_EQ(f["coordinator_read_timeouts"], "2");
  EXPECT_EQ(f["read_siblings_5plus"], "1");
  EXPECT_EQ(f["write_quorum_calls"], "4");
  EXPECT_EQ(f["member_n1"], "state=up,address=127.0.0.1:7001,weight=100,zone=z1,partitions=16384");
  // What redis-py's parse_info does with a value: one with a comma and an '=' must be
  // key=value items throughout (a member line that was not broke every RedisCluster).
  for (auto& [k, val] : f) {
    if (val.find(',') == std::string::npos || val.find('=') == std::string::npos) continue;
    size_t start = 0;
    while (start <= val.size()) {
      size_t comma = val.find(',', start);
      std::string item = val.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      EXPECT_NE(item.find('='), std::string::npos) << k << ":" << val;
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  // Every cluster_* twin is numeric (redis_exporter exports them as gauges).
  for (auto& [k, val] : f) {
    if (k.rfind("cluster_", 0) == 0 && k != "cluster_address") {
      EXPECT_FALSE(val.empty());
      EXPECT_EQ(val.find_first_not_of("0123456789"), std::string::npos) << k << "=" << val;
    }
  }
}

TEST(OpsView, ClusterPageIsSelfContained) {
  const std::string& html = ClusterPageHtml();
  EXPECT_NE(html.find("/cluster.json"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
}

}  // namespace
}  // namespace dynakv::server
