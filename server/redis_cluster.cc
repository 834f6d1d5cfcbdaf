// server/redis_cluster.cc: CLUSTER SLOTS/SHARDS/NODES/INFO replies and the MOVED decision
// (see redis_cluster.h).
#include "server/redis_cluster.h"

#include <openssl/evp.h>

#include <algorithm>
#include <map>

#include "cluster/partition_ring.h"
#include "server/config.h"

namespace dynakv::server {

std::string RedisNodeId(std::string_view dynakv_id) {
  std::string in = "dynakv:";
  in.append(dynakv_id);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), md, &len, EVP_sha1(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len && i < 20; i++) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

ClusterView MakeClusterView(const std::string& self_id,
                            const std::vector<cluster::MemberInfo>& members,
                            const std::vector<cluster::Node::PartitionRange>& ranges,
                            uint64_t epoch) {
  ClusterView v;
  v.epoch = epoch;
  std::map<std::string, uint32_t> index;
  std::vector<cluster::MemberInfo> sorted = members;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  for (const auto& m : sorted) {
    if (m.status == "removed" || index.count(m.id)) continue;
    ClusterNodeInfo n;
    n.id = m.id;
    n.redis_id = RedisNodeId(m.id);
    if (!SplitHostPort(m.client_addr, &n.host, &n.port).ok()) {
      n.host.clear();
      n.port = 0;
    }
    std::string chost;
    if (!SplitHostPort(m.cluster_addr, &chost, &n.cport).ok()) n.cport = 0;
    n.status = m.status;
    n.myself = m.id == self_id;
    index[m.id] = uint32_t(v.nodes.size());
    v.nodes.push_back(std::move(n));
  }
  if (!index.count(self_id)) {  // not in its own member list (never in practice)
    ClusterNodeInfo n;
    n.id = self_id;
    n.redis_id = RedisNodeId(self_id);
    n.status = "up";
    n.myself = true;
    index[self_id] = uint32_t(v.nodes.size());
    v.nodes.push_back(std::move(n));
  }
  v.self = index[self_id];
  for (const auto& r : ranges) {
    ClusterView::Range out;
    out.first = r.first;
    out.last = r.last;
    for (const auto& id : r.owners) {
      auto it = index.find(id);
      if (it != index.end()) out.owners.push_back(it->second);
    }
    if (out.owners.empty()) out.owners.push_back(uint32_t(v.self));
    // Runs that differ only in owners we skipped become one.
    if (!v.ranges.empty() && v.ranges.back().last + 1 == out.first &&
        v.ranges.back().owners == out.owners) {
      v.ranges.back().last = out.last;
    } else {
      v.ranges.push_back(std::move(out));
    }
  }
  if (v.ranges.empty()) v.ranges.push_back({0, cluster::kPartitions - 1, {uint32_t(v.self)}});
  return v;
}

namespace {

bool Down(const ClusterNodeInfo& n) { return n.status == "down"; }

void WriteNodeEntry(protocol::RespWriter& w, const ClusterNodeInfo& n) {
  w.Array(4);
  w.Bulk(n.host);
  w.Int(n.port);
  w.Bulk(n.redis_id);
  w.Map(0);  // networking metadata (hostname): none
}

}  // namespace

void WriteClusterSlots(protocol::RespWriter& w, const ClusterView& v) {
  w.Array(v.ranges.size());
  for (const auto& r : v.ranges) {
    size_t shown = 1;
    for (size_t i = 1; i < r.owners.size(); i++) shown += !Down(v.nodes[r.owners[i]]);
    w.Array(2 + shown);
    w.Int(r.first);
    w.Int(r.last);
    WriteNodeEntry(w, v.nodes[r.owners[0]]);
    for (size_t i = 1; i < r.owners.size(); i++) {
      if (!Down(v.nodes[r.owners[i]])) WriteNodeEntry(w, v.nodes[r.owners[i]]);
    }
  }
}

void WriteClusterShards(protocol::RespWriter& w, const ClusterView& v) {
  // Shards in the order their first run appears.
  std::vector<const std::vector<uint32_t>*> lists;
  std::map<std::vector<uint32_t>, std::vector<const ClusterView::Range*>> runs;
  for (const auto& r : v.ranges) {
    auto& slot = runs[r.owners];
    if (slot.empty()) lists.push_back(&r.owners);
    slot.push_back(&r);
  }
  w.Array(lists.size());
  for (const auto* owners : lists) {
    const auto& rs = runs[*owners];
    w.Map(2);
    w.Bulk("slots");
    w.Array(2 * rs.size());
    for (const auto* r : rs) {
      w.Int(r->first);
      w.Int(r->last);
    }
    w.Bulk("nodes");
    w.Array(owners->size());
    for (size_t i = 0; i < owners->size(); i++) {
      const ClusterNodeInfo& n = v.nodes[(*owners)[i]];
      w.Map(7);
      w.Bulk("id");
      w.Bulk(n.redis_id);
      w.Bulk("port");
      w.Int(n.port);
      w.Bulk("ip");
      w.Bulk(n.host);
      w.Bulk("endpoint");
      w.Bulk(n.host);
      w.Bulk("role");
      w.Bulk(i == 0 ? "master" : "replica");
      w.Bulk("replication-offset");
      w.Int(0);
      w.Bulk("health");
      w.Bulk(Down(n) ? "fail" : "online");
    }
  }
}

std::string ClusterNodesText(const ClusterView& v) {
  // Each node's master slots: the runs it is first owner of, adjacent runs merged.
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> slots(v.nodes.size());
  for (const auto& r : v.ranges) {
    auto& mine = slots[r.owners[0]];
    if (!mine.empty() && mine.back().second + 1 == r.first) {
      mine.back().second = r.last;
    } else {
      mine.emplace_back(r.first, r.last);
    }
  }
  std::string out;
  for (size_t i = 0; i < v.nodes.size(); i++) {
    const ClusterNodeInfo& n = v.nodes[i];
    out += n.redis_id + " " + n.host + ":" + std::to_string(n.port) + "@" +
           std::to_string(n.cport) + " ";
    if (n.myself) out += "myself,";
    out += "master";
    if (n.status == "suspect") out += ",fail?";
    if (n.status == "down") out += ",fail";
    // master, ping-sent, pong-recv, config-epoch (the node's place in id order), link-state
    out += " - 0 0 " + std::to_string(i + 1) + (Down(n) ? " disconnected" : " connected");
    for (auto [a, b] : slots[i]) {
      out += " " + std::to_string(a);
      if (b != a) out += "-" + std::to_string(b);
    }
    out += "\n";
  }
  return out;
}

std::string ClusterInfoText(const ClusterView& v) {
  uint32_t pfail = 0, fail = 0;
  std::vector<bool> serves(v.nodes.size(), false);
  for (const auto& r : v.ranges) {
    const ClusterNodeInfo& m = v.nodes[r.owners[0]];
    uint32_t count = r.last - r.first + 1;
    if (m.status == "suspect") pfail += count;
    if (Down(m)) fail += count;
    serves[r.owners[0]] = true;
  }
  size_t size = std::count(serves.begin(), serves.end(), true);
  std::string s;
  auto line = [&](const char* k, uint64_t val) {
    s += k;
    s += ":" + std::to_string(val) + "\r\n";
  };
  // Every node coordinates every key (a down first owner is stood in for): the state is ok.
  s += "cluster_state:ok\r\n";
  line("cluster_slots_assigned", cluster::kPartitions);
  line("cluster_slots_ok", cluster::kPartitions - pfail - fail);
  line("cluster_slots_pfail", pfail);
  line("cluster_slots_fail", fail);
  line("cluster_known_nodes", v.nodes.size());
  line("cluster_size", size);
  line("cluster_current_epoch", v.nodes.size());
  line("cluster_my_epoch", v.self + 1);
  line("cluster_stats_messages_sent", 0);
  line("cluster_stats_messages_received", 0);
  line("total_cluster_links_buffer_limit_exceeded", 0);
  return s;
}

void SlotHistory::Remember(const ClusterView& v) {
  for (const auto& e : entries_) {
    if (e.epoch == v.epoch) return;
  }
  Entry e;
  e.epoch = v.epoch;
  e.first.resize(cluster::kPartitions, 0);
  std::map<uint32_t, uint16_t> idx;  // node index -> index into e.ids
  for (const auto& r : v.ranges) {
    uint32_t node = r.owners[0];
    auto it = idx.find(node);
    if (it == idx.end()) {
      it = idx.emplace(node, uint16_t(e.ids.size())).first;
      e.ids.push_back(v.nodes[node].id);
    }
    for (uint32_t p = r.first; p <= r.last && p < cluster::kPartitions; p++) e.first[p] = it->second;
  }
  if (e.ids.empty()) return;
  entries_.push_back(std::move(e));
  while (entries_.size() > kKeep) entries_.pop_front();
}

const std::string* SlotHistory::FirstOwner(uint64_t epoch, uint32_t slot) const {
  if (slot >= cluster::kPartitions) return nullptr;
  for (const auto& e : entries_) {
    if (e.epoch == epoch) return &e.ids[e.first[slot]];
  }
  return nullptr;
}

std::string MapReplyCache::Signature(uint64_t epoch,
                                     const std::vector<cluster::MemberInfo>& members) {
  std::string s = std::to_string(epoch);
  for (const auto& m : members) {
    s += '\0' + m.id + '\1' + m.status + '\1' + m.client_addr + '\1' + m.cluster_addr;
  }
  return s;
}

const std::string* MapReplyCache::Find(const std::string& signature,
                                       const std::string& what) const {
  if (signature != signature_) return nullptr;
  auto it = replies_.find(what);
  return it == replies_.end() ? nullptr : &it->second;
}

const std::string& MapReplyCache::Put(const std::string& signature, const std::string& what,
                                      std::string bytes) {
  if (signature != signature_) {
    replies_.clear();
    signature_ = signature;
  }
  return replies_[what] = std::move(bytes);
}

bool SlotHistory::Has(uint64_t epoch) const {
  for (const auto& e : entries_) {
    if (e.epoch == epoch) return true;
  }
  return false;
}

bool MovedDue(const SlotHistory& h, uint64_t fetched, uint64_t now, uint32_t slot,
              const std::string& now_first, const std::string& self_id) {
  if (fetched == 0 || fetched == now) return false;
  if (now_first.empty() || now_first == self_id) return false;
  const std::string* was = h.FirstOwner(fetched, slot);
  return was == nullptr || *was != now_first;
}

}  // namespace dynakv::server
