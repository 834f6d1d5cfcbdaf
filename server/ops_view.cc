// server/ops_view.cc: see ops_view.h. Pure renderers of an OpsView.
#include "server/ops_view.h"

#include <algorithm>
#include <cstdio>

namespace dynakv::server {
namespace {

// Prometheus histogram bounds, seconds (Prometheus's default set, finer below 5 ms).
constexpr double kBoundsS[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                               0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                               5,      10};

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string Short(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Prometheus label values and JSON strings share these escapes (\\, \", \n); JSON also
// escapes the other control characters.
std::string Esc(const std::string& s, bool json) {
  std::string o;
  for (unsigned char c : s) {
    if (c == '\\') o += "\\\\";
    else if (c == '"') o += "\\\"";
    else if (c == '\n') o += "\\n";
    else if (json && c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else {
      o.push_back(char(c));
    }
  }
  return o;
}

std::string Q(const std::string& s) { return "\"" + Esc(s, true) + "\""; }

// One Prometheus metric family at a time: HELP and TYPE once, then samples.
class Prom {
 public:
  explicit Prom(std::string* out) : out_(out) {}
  void Family(const std::string& name, const char* type, const char* help) {
    *out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Sample(const std::string& name, const std::string& labels, double v) {
    *out_ += name;
    if (!labels.empty()) *out_ += "{" + labels + "}";
    *out_ += " " + Num(v) + "\n";
  }
  void One(const std::string& name, const char* type, const char* help, double v) {
    Family(name, type, help);
    Sample(name, "", v);
  }
  void Hist(const std::string& name, const std::string& labels, const HistView& h) {
    std::string sep = labels.empty() ? "" : labels + ",";
    for (auto& [le, cum] : h.buckets) Sample(name + "_bucket", sep + "le=\"" + Short(le) + "\"", double(cum));
    Sample(name + "_bucket", sep + "le=\"+Inf\"", double(h.count));
    Sample(name + "_sum", labels, h.sum_s);
    Sample(name + "_count", labels, double(h.count));
  }

 private:
  std::string* out_;
};

std::string L(const char* k, const std::string& v) { return std::string(k) + "=\"" + Esc(v, false) + "\""; }

const char* kStates[] = {"joining", "up", "suspect", "down", "leaving", "removed"};

size_t Reachable(const OpsView& v) {
  size_t n = 0;
  for (auto& m : v.members) n += m.status == "up" || m.status == "joining" || m.status == "leaving";
  return n;
}

std::string HistJson(const HistView& h) {
  return "{\"count\":" + std::to_string(h.count) + ",\"p50_us\":" + std::to_string(h.p50_us) +
         ",\"p99_us\":" + std::to_string(h.p99_us) + ",\"p999_us\":" + std::to_string(h.p999_us) + "}";
}

std::string Bytes(int64_t b) {
  if (b < 0) return "?";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%lld B", (long long)b);
  else std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace

HistView ViewOf(const Histogram& h, double sum_s) {
  HistView v;
  v.count = h.count();
  v.sum_s = sum_s;
  for (double le : kBoundsS) {
    uint64_t us = uint64_t(le * 1e6 + 0.5);
    v.buckets.emplace_back(le, h.CountBelow(us + 1));
  }
  v.p50_us = h.ValueAtPercentile(50);
  v.p99_us = h.ValueAtPercentile(99);
  v.p999_us = h.ValueAtPercentile(99.9);
  return v;
}

Health CheckHealth(const OpsView& v) {
  if (v.state == "loading") return {503, "loading"};
  if (v.state == "shutting_down") return {503, "shutting down"};
  if (v.standalone) return {};
  size_t need = size_t(std::min(std::max(v.r, v.w), v.n));
  size_t have = Reachable(v);
  if (have < need) {
    return {503, "only " + std::to_string(have) + " of " + std::to_string(v.members.size()) +
                     " members reachable; R=" + std::to_string(v.r) + " W=" + std::to_string(v.w) +
                     " need " + std::to_string(need)};
  }
  return {};
}

std::string RenderPrometheus(const OpsView& v) {
  std::string out;
  Prom p(&out);
  const cluster::NodeStats& s = v.stats;
  p.Family("dynakv_build_info", "gauge", "Build information; the value is always 1.");
  p.Sample("dynakv_build_info", L("version", v.version) + "," + L("node", v.node_id), 1);
  p.One("dynakv_up", "gauge", "1 when /health would answer 200, else 0.", CheckHealth(v).code == 200 ? 1 : 0);
  p.One("dynakv_uptime_seconds", "gauge", "Seconds since the server started.", double(v.uptime_s));
  p.One("dynakv_connected_clients", "gauge", "Client connections open now.", double(v.connected_clients));
  p.One("dynakv_connections_received_total", "counter", "Client connections accepted.", double(v.total_connections));
  p.One("dynakv_connections_rejected_total", "counter", "Client connections refused (maxclients).", double(v.rejected_connections));
  p.One("dynakv_net_input_bytes_total", "counter", "Bytes read from clients.", double(v.net_input_bytes));
  p.One("dynakv_net_output_bytes_total", "counter", "Bytes written to clients.", double(v.net_output_bytes));
  p.One("dynakv_commands_processed_total", "counter", "Commands run, all kinds.", double(v.total_commands));
  p.One("dynakv_keyspace_hits_total", "counter", "Reads that found the key.", double(v.keyspace_hits));
  p.One("dynakv_keyspace_misses_total", "counter", "Reads that did not find the key.", double(v.keyspace_misses));
  p.One("dynakv_expired_keys_total", "counter", "Expired keys reaped.", double(v.expired_keys));
  p.One("dynakv_keys", "gauge", "Live keys in this node's replica.", double(v.keys));
  p.One("dynakv_storage_used_bytes", "gauge", "Bytes the storage engine uses.", double(v.used_bytes));

  p.Family("dynakv_commands_total", "counter", "Calls per command.");
  for (auto& c : v.commands) p.Sample("dynakv_commands_total", L("cmd", c.name), double(c.calls));
  p.Family("dynakv_command_failures_total", "counter", "Calls per command that replied with an error.");
  for (auto& c : v.commands) p.Sample("dynakv_command_failures_total", L("cmd", c.name), double(c.failed));
  p.Family("dynakv_command_rejections_total", "counter", "Calls per command refused before running.");
  for (auto& c : v.commands) p.Sample("dynakv_command_rejections_total", L("cmd", c.name), double(c.rejected));
  p.Family("dynakv_command_duration_seconds", "histogram", "Command run time.");
  for (auto& c : v.commands) {
    if (c.hist.count > 0) p.Hist("dynakv_command_duration_seconds", L("cmd", c.name), c.hist);
  }
  p.Family("dynakv_errors_total", "counter", "Error replies by error code.");
  for (auto& [code, n] : v.errors) p.Sample("dynakv_errors_total", L("error", code), double(n));

  // The cluster.
  p.Family("dynakv_members", "gauge", "Members this node knows, by state.");
  for (const char* st : kStates) {
    double n = double(std::count_if(v.members.begin(), v.members.end(), [&](auto& m) { return m.status == st; }));
    p.Sample("dynakv_members", L("state", st), n);
  }
  p.Family("dynakv_member_info", "gauge", "One series per member with its state, address and zone; the value is 1.");
  for (auto& m : v.members) {
    p.Sample("dynakv_member_info", L("member", m.id) + "," + L("state", m.status) + "," + L("address", m.cluster_addr) +
                                       "," + L("zone", m.zone), 1);
  }
  p.Family("dynakv_member_partitions", "gauge", "Partition replicas each member holds, in this node's ring.");
  for (auto& m : v.members) p.Sample("dynakv_member_partitions", L("member", m.id), double(m.partitions));
  p.One("dynakv_partitions_owned", "gauge", "Partitions this node holds a replica of.", double(v.partitions_owned));
  p.Family("dynakv_replication", "gauge", "The replication settings N, R and W.");
  p.Sample("dynakv_replication", L("param", "n"), v.n);
  p.Sample("dynakv_replication", L("param", "r"), v.r);
  p.Sample("dynakv_replication", L("param", "w"), v.w);
  p.One("dynakv_reads_total", "counter", "Quorum reads this node coordinated.", double(s.reads));
  p.One("dynakv_writes_total", "counter", "Quorum writes this node coordinated.", double(s.writes));
  p.One("dynakv_forwarded_total", "counter", "Requests forwarded to a preference-list node.", double(s.forwarded));
  p.One("dynakv_read_repairs_total", "counter", "Replicas repaired after a read.", double(s.read_repairs));
  p.One("dynakv_read_retries_total", "counter", "Spare replicas a read asked because one failed or was slow.", double(s.read_retries));
  p.One("dynakv_big_reads_from_peer_total", "counter", "Big-record reads answered by a peer's equal copy, the own copy not loaded.", double(s.big_reads_from_peer));
  p.Family("dynakv_coordinator_timeouts_total", "counter", "Requests that timed out waiting for replicas, by kind.");
  p.Sample("dynakv_coordinator_timeouts_total", L("kind", "read"), double(s.read_timeouts));
  p.Sample("dynakv_coordinator_timeouts_total", L("kind", "write"), double(s.write_timeouts));
  uint64_t other = s.coordinator_timeouts - std::min(s.coordinator_timeouts, s.read_timeouts + s.write_timeouts);
  p.Sample("dynakv_coordinator_timeouts_total", L("kind", "other"), double(other));
  p.One("dynakv_hints_stored_total", "counter", "Hinted records stored for unreachable replicas.", double(s.hints_stored));
  p.One("dynakv_hints_delivered_total", "counter", "Hinted records delivered to their owner.", double(s.hints_delivered));
  p.Family("dynakv_hints_pending", "gauge", "Hinted records held here, by the member they are for.");
  for (auto& m : v.members) p.Sample("dynakv_hints_pending", L("target", m.id), double(m.hints));
  p.One("dynakv_transfers_in_flight", "gauge", "Outbound partition transfers active or waiting.", double(v.transfers.size()));
  p.One("dynakv_handoff_transfers_total", "counter", "Partition transfers finished.", double(s.handoff_transfers_done));
  p.One("dynakv_handoff_records_sent_total", "counter", "Records sent by ownership handoff.", double(s.handoff_records_sent));
  p.One("dynakv_handoff_sent_bytes_total", "counter", "Bytes sent by ownership handoff.", double(s.handoff_bytes_sent));
  p.One("dynakv_handoff_records_received_total", "counter", "Records received by ownership handoff.", double(s.handoff_records_received));
  p.One("dynakv_handoff_partitions_dropped_total", "counter", "Partitions dropped after handing them off.", double(s.handoff_partitions_dropped));
  p.One("dynakv_anti_entropy_rounds_total", "counter", "Merkle anti-entropy exchanges finished.", double(s.ae_rounds));
  p.One("dynakv_anti_entropy_keys_repaired_total", "counter", "Local records anti-entropy changed.", double(s.ae_keys_repaired));
  p.One("dynakv_anti_entropy_sent_bytes_total", "counter", "Bytes of anti-entropy frames sent.", double(s.ae_bytes_sent));
  p.Family("dynakv_read_siblings", "histogram", "Live siblings per successful read.");
  {
    HistView h;
    uint64_t cum = 0;
    for (size_t i = 0; i < 4; i++) {
      cum += v.siblings[i];
      h.buckets.emplace_back(double(i + 1), cum);
    }
    h.count = cum + v.siblings[4];
    double sum = 0;
    for (size_t i = 0; i < 5; i++) sum += double(i + 1) * double(v.siblings[i]);
    h.sum_s = sum;  // a count of siblings here, not seconds (5 stands for "5 or more")
    p.Hist("dynakv_read_siblings", "", h);
  }
  p.Family("dynakv_quorum_duration_seconds", "histogram", "Client quorum operations, from the call into the node to its answer.");
  p.Hist("dynakv_quorum_duration_seconds", L("op", "read"), v.read_quorum);
  p.Hist("dynakv_quorum_duration_seconds", L("op", "write"), v.write_quorum);
  return out;
}

std::string RenderClusterJson(const OpsView& v) {
  Health h = CheckHealth(v);
  const cluster::NodeStats& s = v.stats;
  std::string o = "{\"node\":" + Q(v.node_id) + ",\"version\":" + Q(v.version) + ",\"state\":" + Q(v.state) +
                  ",\"health\":{\"code\":" + std::to_string(h.code) + ",\"reason\":" + Q(h.reason) + "}" +
                  ",\"n\":" + std::to_string(v.n) + ",\"r\":" + std::to_string(v.r) + ",\"w\":" + std::to_string(v.w) +
                  ",\"uptime_s\":" + std::to_string(v.uptime_s) + ",\"partitions\":" + std::to_string(cluster::kPartitions) +
                  ",\"partitions_owned\":" + std::to_string(v.partitions_owned) + ",\"members\":[";
  for (size_t i = 0; i < v.members.size(); i++) {
    const MemberView& m = v.members[i];
    if (i) o += ",";
    o += "{\"id\":" + Q(m.id) + ",\"address\":" + Q(m.cluster_addr) + ",\"client_address\":" + Q(m.client_addr) +
         ",\"state\":" + Q(m.status) + ",\"zone\":" + Q(m.zone) + ",\"weight\":" + std::to_string(m.weight) +
         ",\"self\":" + (m.self ? "true" : "false") + ",\"partitions\":" + std::to_string(m.partitions) +
         ",\"primary_partitions\":" + std::to_string(m.primaries) +
         ",\"keys\":" + (m.keys < 0 ? std::string("null") : std::to_string(m.keys)) +
         ",\"bytes\":" + (m.bytes < 0 ? std::string("null") : std::to_string(m.bytes)) +
         ",\"hints_pending\":" + std::to_string(m.hints) + ",\"transfers\":" + std::to_string(m.transfers) + "}";
  }
  o += "],\"ring\":[";
  for (size_t i = 0; i < v.ring.size(); i++) {
    if (i) o += ",";
    o += "[" + std::to_string(v.ring[i].first) + "," + std::to_string(v.ring[i].last) + "," + Q(v.ring[i].owner) + "]";
  }
  o += "],\"hints\":{\"pending\":" + std::to_string(v.hints_pending) + ",\"stored\":" + std::to_string(s.hints_stored) +
       ",\"delivered\":" + std::to_string(s.hints_delivered) + "},\"transfers\":[";
  for (size_t i = 0; i < v.transfers.size(); i++) {
    const TransferView& t = v.transfers[i];
    if (i) o += ",";
    uint64_t total = t.records_sent + t.records_left;
    double progress = total ? double(t.records_sent) / double(total) : 0.0;
    o += "{\"partition\":" + std::to_string(t.partition) + ",\"from\":" + Q(v.node_id) + ",\"to\":" + Q(t.to) +
         ",\"active\":" + (t.active ? "true" : "false") + ",\"records_sent\":" + std::to_string(t.records_sent) +
         ",\"bytes_sent\":" + std::to_string(t.bytes_sent) + ",\"records_left\":" + std::to_string(t.records_left) +
         ",\"records_per_s\":" + Short(t.records_per_s) + ",\"progress\":" + Short(progress) + "}";
  }
  uint64_t other = s.coordinator_timeouts - std::min(s.coordinator_timeouts, s.read_timeouts + s.write_timeouts);
  o += "],\"anti_entropy\":{\"rounds\":" + std::to_string(s.ae_rounds) + ",\"keys_repaired\":" +
       std::to_string(s.ae_keys_repaired) + "},\"reads\":" + std::to_string(s.reads) + ",\"writes\":" +
       std::to_string(s.writes) + ",\"read_repairs\":" + std::to_string(s.read_repairs) +
       ",\"coordinator_timeouts\":{\"read\":" + std::to_string(s.read_timeouts) + ",\"write\":" +
       std::to_string(s.write_timeouts) + ",\"other\":" + std::to_string(other) + "},\"siblings\":{";
  for (size_t i = 0; i < 5; i++) {
    if (i) o += ",";
    o += "\"" + std::to_string(i + 1) + (i == 4 ? "+" : "") + "\":" + std::to_string(v.siblings[i]);
  }
  o += "},\"latency\":{\"read_quorum\":" + HistJson(v.read_quorum) + ",\"write_quorum\":" + HistJson(v.write_quorum) +
       ",\"commands\":{";
  bool first = true;
  for (auto& c : v.commands) {
    if (c.hist.count == 0) continue;
    if (!first) o += ",";
    first = false;
    o += Q(c.name) + ":" + HistJson(c.hist);
  }
  o += "}}}";
  return o;
}

std::string RenderStatusText(const OpsView& v) {
  Health h = CheckHealth(v);
  const cluster::NodeStats& s = v.stats;
  std::string o;
  char line[512];
  std::snprintf(line, sizeof line, "dynakv %s  node %s  %s  N=%d R=%d W=%d  %zu member%s, %u partitions\n",
                v.version.c_str(), v.node_id.c_str(), h.code == 200 ? "healthy" : ("UNHEALTHY: " + h.reason).c_str(),
                v.n, v.r, v.w, v.members.size(), v.members.size() == 1 ? "" : "s", unsigned(cluster::kPartitions));
  o += line;
  o += "\n";
  size_t idw = 4, aw = 7, zw = 4;
  for (auto& m : v.members) {
    idw = std::max(idw, m.id.size() + (m.self ? 1 : 0));
    aw = std::max(aw, m.cluster_addr.size());
    zw = std::max(zw, m.zone.empty() ? 1 : m.zone.size());
  }
  std::snprintf(line, sizeof line, "%-8s %-*s %-*s %-*s %10s %7s %10s %10s %7s %9s\n", "State", int(idw), "Node",
                int(aw), "Address", int(zw), "Zone", "Partitions", "Owns", "Keys", "Load", "Hints", "Transfers");
  o += line;
  for (auto& m : v.members) {
    std::string id = m.id + (m.self ? "*" : "");
    char owns[16];
    std::snprintf(owns, sizeof owns, "%.1f%%", 100.0 * double(m.partitions) / double(cluster::kPartitions));
    std::string keys = m.keys < 0 ? "?" : std::to_string(m.keys);
    std::snprintf(line, sizeof line, "%-8s %-*s %-*s %-*s %10u %7s %10s %10s %7llu %9llu\n", m.status.c_str(),
                  int(idw), id.c_str(), int(aw), m.cluster_addr.c_str(), int(zw), m.zone.empty() ? "-" : m.zone.c_str(),
                  m.partitions, owns, keys.c_str(), Bytes(m.bytes).c_str(), (unsigned long long)m.hints,
                  (unsigned long long)m.transfers);
    o += line;
  }
  o += "\n";
  uint64_t other = s.coordinator_timeouts - std::min(s.coordinator_timeouts, s.read_timeouts + s.write_timeouts);
  std::snprintf(line, sizeof line,
                "Hints held here: %llu (stored %llu, delivered %llu)   Transfers in flight: %zu\n"
                "Anti-entropy: %llu rounds, %llu keys repaired   Read repairs: %llu\n"
                "Coordinator timeouts: read %llu, write %llu, other %llu\n",
                (unsigned long long)v.hints_pending, (unsigned long long)s.hints_stored,
                (unsigned long long)s.hints_delivered, v.transfers.size(), (unsigned long long)s.ae_rounds,
                (unsigned long long)s.ae_keys_repaired, (unsigned long long)s.read_repairs,
                (unsigned long long)s.read_timeouts, (unsigned long long)s.write_timeouts, (unsigned long long)other);
  o += line;
  std::snprintf(line, sizeof line,
                "Quorum latency (usec): read p50=%llu p99=%llu p99.9=%llu (%llu)   write p50=%llu p99=%llu "
                "p99.9=%llu (%llu)\n",
                (unsigned long long)v.read_quorum.p50_us, (unsigned long long)v.read_quorum.p99_us,
                (unsigned long long)v.read_quorum.p999_us, (unsigned long long)v.read_quorum.count,
                (unsigned long long)v.write_quorum.p50_us, (unsigned long long)v.write_quorum.p99_us,
                (unsigned long long)v.write_quorum.p999_us, (unsigned long long)v.write_quorum.count);
  o += line;
  std::snprintf(line, sizeof line, "Siblings per read: 1:%llu 2:%llu 3:%llu 4:%llu 5+:%llu\n",
                (unsigned long long)v.siblings[0], (unsigned long long)v.siblings[1], (unsigned long long)v.siblings[2],
                (unsigned long long)v.siblings[3], (unsigned long long)v.siblings[4]);
  o += line;
  for (auto& t : v.transfers) {
    uint64_t total = t.records_sent + t.records_left;
    std::snprintf(line, sizeof line, "  transfer partition %u -> %s: %s %llu/%llu records (%.0f%%)\n", t.partition,
                  t.to.c_str(), t.active ? "sending" : "waiting", (unsigned long long)t.records_sent,
                  (unsigned long long)total, total ? 100.0 * double(t.records_sent) / double(total) : 0.0);
    o += line;
    if (o.size() > 16000) break;  // one screen, not a dump
  }
  o += "(* = this node; Hints/Transfers: held or sent by this node; Keys/Load: as last reported, ? = no report)\n";
  return o;
}

std::string RenderDynamoInfo(const OpsView& v, const std::string& actor_hex, const std::string& cluster_addr) {
  const cluster::NodeStats& s = v.stats;
  char fp[24];
  std::snprintf(fp, sizeof fp, "%016llx", (unsigned long long)v.keyspace_fingerprint);
  std::string o = "# Dynamo\r\nnode_id:" + v.node_id + "\r\nactor:" + actor_hex + "\r\ncluster_address:" +
                  cluster_addr + "\r\nkeyspace_fingerprint:" + fp + "\r\n";
  // Numeric fields, each also as cluster_<name> (redis_exporter exports cluster_* fields
  // without configuration).
  std::vector<std::pair<std::string, uint64_t>> nums;
  auto add = [&](std::string k, uint64_t val) { nums.emplace_back(std::move(k), val); };
  add("members", v.members.size());
  for (const char* st : kStates) {
    add(std::string("members_") + st,
        uint64_t(std::count_if(v.members.begin(), v.members.end(), [&](auto& m) { return m.status == st; })));
  }
  add("partitions_owned", v.partitions_owned);
  add("n", uint64_t(v.n));
  add("r", uint64_t(v.r));
  add("w", uint64_t(v.w));
  add("keyspaces", v.keyspaces);
  add("reads", s.reads);
  add("writes", s.writes);
  add("read_repairs", s.read_repairs);
  add("read_retries", s.read_retries);
  add("big_reads_from_peer", s.big_reads_from_peer);
  add("ae_records_hashed", s.ae_records_hashed);
  add("ae_bytes_sent", s.ae_bytes_sent);
  add("coordinator_timeouts", s.coordinator_timeouts);
  add("coordinator_read_timeouts", s.read_timeouts);
  add("coordinator_write_timeouts", s.write_timeouts);
  add("forwarded", s.forwarded);
  add("hints_stored", s.hints_stored);
  add("hints_delivered", s.hints_delivered);
  add("hints_pending", v.hints_pending);
  for (auto& m : v.members) add("hints_pending_" + m.id, m.hints);
  add("ae_rounds", s.ae_rounds);
  add("ae_keys_repaired", s.ae_keys_repaired);
  add("handoff_transfers_pending", v.transfers.size());
  add("transfers_in_flight", v.transfers.size());
  add("handoff_transfers_done", s.handoff_transfers_done);
  add("handoff_records_sent", s.handoff_records_sent);
  add("handoff_bytes_sent", s.handoff_bytes_sent);
  add("handoff_records_received", s.handoff_records_received);
  add("handoff_partitions_dropped", s.handoff_partitions_dropped);
  for (size_t i = 0; i < 5; i++) add("read_siblings_" + std::to_string(i + 1) + (i == 4 ? "plus" : ""), v.siblings[i]);
  add("read_quorum_calls", v.read_quorum.count);
  add("read_quorum_p50_usec", v.read_quorum.p50_us);
  add("read_quorum_p99_usec", v.read_quorum.p99_us);
  add("read_quorum_p999_usec", v.read_quorum.p999_us);
  add("write_quorum_calls", v.write_quorum.count);
  add("write_quorum_p50_usec", v.write_quorum.p50_us);
  add("write_quorum_p99_usec", v.write_quorum.p99_us);
  add("write_quorum_p999_usec", v.write_quorum.p999_us);
  for (auto& m : v.members) {
    // Every item key=value, as Redis's slaveN lines: clients (redis-py's parse_info) split
    // a value with a comma and an '=' into key=value pairs, and fail on an item without '='.
    o += "member_" + m.id + ":state=" + m.status + ",address=" + m.cluster_addr +
         ",weight=" + std::to_string(m.weight) + ",zone=" + (m.zone.empty() ? "-" : m.zone) +
         ",partitions=" + std::to_string(m.partitions) + "\r\n";
  }
  for (auto& [k, val] : nums) o += k + ":" + std::to_string(val) + "\r\n";
  for (auto& [k, val] : nums) o += "cluster_" + k + ":" + std::to_string(val) + "\r\n";
  o += "\r\n";
  return o;
}

}  // namespace dynakv::server
