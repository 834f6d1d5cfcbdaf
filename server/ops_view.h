// server/ops_view.h: what an operator sees of one node, taken on the loop thread as one
// plain value (OpsView), and its renderings: Prometheus text for /metrics, the JSON document
// behind /cluster.json and DYNAMO STATUS JSON, the DYNAMO STATUS screen, /health's verdict,
// and INFO's # Dynamo section. The renderers are pure (no I/O, no clock), so they are unit
// tested (tests/unit/server_ops_view_test.cc) and may run on any thread on a copied view.
// GatherOpsView (server/ops_gather.cc) fills a view from a live Server; README, "Monitoring".
//
// Thread-safety: an OpsView is a value; the renderers touch nothing else. QuorumStats is
// owned by the loop thread.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cluster/node.h"
#include "cluster/partition_ring.h"
#include "server/histogram.h"

namespace dynakv::server {

class Server;

inline constexpr const char* kDynakvVersion = "0.1.0";

// Client-facing quorum operations as the server sees them (server/ops_gather.cc records
// them): latency from the call into the node to its callback, and how many live siblings a
// successful read found (1, 2, 3, 4, 5 or more; misses are not counted).
struct QuorumStats {
  Histogram read, write;
  uint64_t read_sum_us = 0, write_sum_us = 0;
  std::array<uint64_t, 5> siblings{};
};

// A histogram at the fixed Prometheus bucket bounds (seconds), plus percentiles.
struct HistView {
  std::vector<std::pair<double, uint64_t>> buckets;  // (le in seconds, cumulative count)
  uint64_t count = 0;
  double sum_s = 0;
  uint64_t p50_us = 0, p99_us = 0, p999_us = 0;
};
HistView ViewOf(const Histogram& h, double sum_s);

struct MemberView {
  std::string id, cluster_addr, client_addr, status, zone;
  uint32_t weight = 0;
  bool self = false;
  uint32_t partitions = 0;  // partition replicas it holds (it is in the preference list)
  uint32_t primaries = 0;   // partitions it coordinates (first in the preference list)
  int64_t keys = -1, bytes = -1;  // load; -1 = unknown (only this node's own is known)
  uint64_t hints = 0;       // hints held on this node for that member
  uint64_t transfers = 0;   // this node's outbound partition transfers to that member
};

struct TransferView {
  uint32_t partition = 0;
  std::string to;
  bool active = false;
  uint64_t records_sent = 0, bytes_sent = 0, records_left = 0;
  double records_per_s = 0;
};

struct CommandView {
  std::string name;
  uint64_t calls = 0, usec = 0, failed = 0, rejected = 0;
  HistView hist;
};

// A run of partitions with the same first owner (the ring strip on the cluster page).
struct RingRun {
  uint32_t first = 0, last = 0;
  std::string owner;
};

struct OpsView {
  std::string node_id, version = kDynakvVersion;
  std::string state = "serving";  // serving | loading | shutting_down
  int n = 1, r = 1, w = 1;
  size_t keyspaces = 0;              // [[keyspace]] entries
  uint64_t keyspace_fingerprint = 0; // of every policy: equal on nodes configured alike
  bool standalone = true;
  uint64_t uptime_s = 0;
  std::vector<MemberView> members;  // id order
  std::vector<RingRun> ring;
  std::vector<TransferView> transfers;
  cluster::NodeStats stats;
  uint32_t partitions_owned = 0;
  uint64_t hints_pending = 0;
  std::array<uint64_t, 5> siblings{};  // QuorumStats::siblings
  HistView read_quorum, write_quorum;
  std::vector<CommandView> commands;  // commands that ran, table order
  std::map<std::string, uint64_t> errors;
  uint64_t connected_clients = 0, total_connections = 0, rejected_connections = 0;
  uint64_t total_commands = 0, net_input_bytes = 0, net_output_bytes = 0;
  uint64_t keyspace_hits = 0, keyspace_misses = 0, expired_keys = 0;
  uint64_t keys = 0, used_bytes = 0;  // this node's replica: live keys, storage bytes
};

struct Health {
  int code = 200;  // 200 or 503
  std::string reason = "OK";
};
// 503 while loading or shutting down, or when fewer members are reachable (up, joining or
// leaving) than max(R, W) needs; 200 "OK" otherwise.
Health CheckHealth(const OpsView& v);

std::string RenderPrometheus(const OpsView& v);
std::string RenderClusterJson(const OpsView& v);
std::string RenderStatusText(const OpsView& v);
// INFO's # Dynamo section, header and trailing blank line included ("\r\n" line ends).
// `actor` and `cluster_addr` are the node's own (shown as before).
std::string RenderDynamoInfo(const OpsView& v, const std::string& actor_hex,
                             const std::string& cluster_addr);
// The self-contained cluster page served at "/" (server/ops_page.cc).
const std::string& ClusterPageHtml();

// Fills a view from a live server (loop thread only). with_commands = false skips the
// per-command histograms (INFO and DYNAMO STATUS do not show them).
OpsView GatherOpsView(Server* s, bool with_commands);

}  // namespace dynakv::server

namespace dynakv::server {
// Wrap a client-facing quorum read or write's callback so its latency (and, for a read, the
// live siblings it found) lands in the server's QuorumStats (loop thread only).
cluster::Node::ReadCallback TimeRead(Server* s, cluster::Node::ReadCallback done);
cluster::Node::WriteCallback TimeWrite(Server* s, cluster::Node::WriteCallback done);
}  // namespace dynakv::server
