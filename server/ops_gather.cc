// server/ops_gather.cc: fills an OpsView (server/ops_view.h) from the live server on the
// loop thread, and times client-facing quorum operations into QuorumStats.
#include <uv.h>

#include <algorithm>

#include "cluster/partition_ring.h"
#include "server/commands.h"
#include "server/ops_view.h"
#include "server/server.h"

namespace dynakv::server {

cluster::Node::ReadCallback TimeRead(Server* s, cluster::Node::ReadCallback done) {
  uint64_t t0 = uv_hrtime();
  return [s, t0, done = std::move(done)](Status st, cluster::ReadReply rr) {
    QuorumStats& q = s->quorum();
    uint64_t us = (uv_hrtime() - t0) / 1000;
    q.read.Record(us);
    q.read_sum_us += us;
    if (st.ok()) {
      uint64_t now = s->WallMs();
      size_t live = 0;
      for (const auto& sib : rr.record.siblings) {
        live += sib.kind != cluster::ValueKind::kTombstone && (sib.expiry_ms == 0 || sib.expiry_ms > now);
      }
      if (live > 0) q.siblings[std::min<size_t>(live, 5) - 1]++;
    }
    done(st, std::move(rr));
  };
}

cluster::Node::WriteCallback TimeWrite(Server* s, cluster::Node::WriteCallback done) {
  uint64_t t0 = uv_hrtime();
  return [s, t0, done = std::move(done)](Status st, cluster::WriteReply wr) {
    QuorumStats& q = s->quorum();
    uint64_t us = (uv_hrtime() - t0) / 1000;
    q.write.Record(us);
    q.write_sum_us += us;
    done(st, std::move(wr));
  };
}

OpsView GatherOpsView(Server* s, bool with_commands) {
  OpsView v;
  const Config& c = s->config();
  cluster::Node* node = s->node();
  v.node_id = c.node_id;
  v.state = s->shutting_down() ? "shutting_down" : "serving";
  v.n = int(c.n);
  v.keyspaces = node->keyspaces().entries().size();
  v.keyspace_fingerprint = node->keyspaces().Fingerprint();
  v.r = int(c.r);
  v.w = int(c.w);
  v.standalone = c.cluster_addr.empty();
  ServerStats& st = s->stats();
  uint64_t now = s->WallMs();
  v.uptime_s = now > st.start_ms ? (now - st.start_ms) / 1000 : 0;
  v.stats = node->stats();
  v.partitions_owned = node->PartitionsOwned();
  auto hints = node->PendingHints();
  for (auto& [id, n] : hints) v.hints_pending += n;
  for (const auto& t : node->Transfers()) {
    v.transfers.push_back({t.partition, t.to, t.active, t.records_sent, t.bytes_sent, t.records_left, t.records_per_s});
  }
  v.keys = node->LocalLiveKeyCount();
  v.used_bytes = s->engine()->Stats().used_bytes;
  // Partition replicas and first owners per member, and the ring strip (runs by first owner).
  std::map<std::string, std::pair<uint32_t, uint32_t>> held;  // id -> (replicas, primaries)
  for (const auto& range : node->RingRanges()) {
    uint32_t len = range.last - range.first + 1;
    for (size_t i = 0; i < range.owners.size(); i++) {
      held[range.owners[i]].first += len;
      if (i == 0) held[range.owners[i]].second += len;
    }
    std::string owner = range.owners.empty() ? "" : range.owners[0];
    if (!v.ring.empty() && v.ring.back().owner == owner && v.ring.back().last + 1 == range.first) {
      v.ring.back().last = range.last;
    } else {
      v.ring.push_back({range.first, range.last, owner});
    }
  }
  for (const auto& m : node->Members()) {
    MemberView mv;
    mv.id = m.id;
    mv.cluster_addr = m.cluster_addr;
    mv.client_addr = m.client_addr;
    mv.status = m.status;
    mv.zone = m.zone;
    mv.weight = m.weight;
    mv.self = m.id == c.node_id;
    auto it = held.find(m.id);
    if (it != held.end()) {
      mv.partitions = it->second.first;
      mv.primaries = it->second.second;
    }
    uint64_t keys = 0, bytes = 0;
    if (mv.self) {
      mv.keys = int64_t(v.keys);
      mv.bytes = int64_t(v.used_bytes);
    } else if (node->MemberLoad(m.id, &keys, &bytes)) {  // reported every 5 s (kLoad)
      mv.keys = int64_t(keys);
      mv.bytes = int64_t(bytes);
    }
    auto h = hints.find(m.id);
    if (h != hints.end()) mv.hints = h->second;
    for (const auto& t : v.transfers) mv.transfers += t.to == m.id;
    v.members.push_back(std::move(mv));
  }
  std::sort(v.members.begin(), v.members.end(), [](auto& a, auto& b) { return a.id < b.id; });
  if (v.members.empty()) {  // standalone: this node alone
    MemberView mv;
    mv.id = c.node_id;
    mv.client_addr = c.redis_addr;
    mv.status = "up";
    mv.zone = c.zone;
    mv.weight = uint32_t(c.weight);
    mv.self = true;
    mv.partitions = mv.primaries = cluster::kPartitions;
    mv.keys = int64_t(v.keys);
    mv.bytes = int64_t(v.used_bytes);
    v.members.push_back(std::move(mv));
    v.ring.push_back({0, cluster::kPartitions - 1, c.node_id});
  }
  QuorumStats& q = s->quorum();
  v.siblings = q.siblings;
  v.read_quorum = ViewOf(q.read, double(q.read_sum_us) / 1e6);
  v.write_quorum = ViewOf(q.write, double(q.write_sum_us) / 1e6);
  v.connected_clients = s->client_count();
  v.total_connections = st.total_connections;
  v.rejected_connections = st.rejected_connections;
  v.total_commands = st.total_commands;
  v.net_input_bytes = st.net_input_bytes;
  v.net_output_bytes = st.net_output_bytes;
  v.keyspace_hits = st.keyspace_hits;
  v.keyspace_misses = st.keyspace_misses;
  v.expired_keys = st.expired_keys;
  if (with_commands) {
    const auto& table = CommandTable();
    const auto& stats = s->metrics().commands();
    for (size_t i = 0; i < stats.size() && i < table.size(); i++) {
      const CommandStat& cs = stats[i];
      if (cs.calls == 0 && cs.rejected == 0 && cs.failed == 0) continue;
      CommandView cv;
      cv.name = table[i].name;
      cv.calls = cs.calls;
      cv.usec = cs.usec;
      cv.failed = cs.failed;
      cv.rejected = cs.rejected;
      if (cs.hist) cv.hist = ViewOf(*cs.hist, double(cs.usec) / 1e6);
      v.commands.push_back(std::move(cv));
    }
    v.errors = s->metrics().errors();
  }
  return v;
}

}  // namespace dynakv::server
