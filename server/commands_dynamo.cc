// server/commands_dynamo.cc: the causal client API (DGET / DPUT / DDEL), cluster
// administration (DYNAMO ...), per the README, "Commands", and the Redis Cluster API for
// cluster-aware clients (CLUSTER ..., READONLY, MOVED; README, "Cluster-aware clients").
#include "server/commands.h"

#include <algorithm>
#include <cstdio>
#include <iterator>

#include "cluster/key_layout.h"
#include "cluster/partition_ring.h"
#include "server/big_value.h"
#include "server/commands_backup.h"

namespace dynakv::server {
namespace {

using protocol::RespWriter;


// Parses trailing "R n" / "W n" options. Returns an error text or "".
std::string ParseQuorum(const std::vector<std::string>& a, size_t from, const char* letter, int n_max, int* out) {
  *out = 0;
  for (size_t i = from; i < a.size(); i++) {
    if (Lower(a[i]) == Lower(letter) && i + 1 < a.size()) {
      int64_t v;
      if (!ParseInt64(a[++i], &v)) return "ERR value is not an integer or out of range";
      if (v < 1 || v > n_max) {
        return std::string("ERR ") + letter + " must be between 1 and N (" + std::to_string(n_max) + ")";
      }
      *out = int(v);
    } else {
      return "ERR syntax error";
    }
  }
  return "";
}

// Tokens are bound to their key: the MAC key is the cluster secret plus the key, so a context
// read from one key cannot be replayed on another (its counters would otherwise supersede
// siblings of that key the client never saw). "" stays the empty context for any key.
std::string TokenKey(Server* s, const std::string& key) {
  std::string k = s->config().cluster_secret;
  k.push_back('\0');
  k += key;
  return k;
}

Status DecodeClientContext(Server* s, const std::string& key, const std::string& token,
                           cluster::VersionVector* vv) {
  Status st = cluster::DecodeContext(token, TokenKey(s, key),
                                     s->node()->config().limits.max_context_bytes, vv);
  if (!st.ok()) return Status::Invalid("invalid context");
  return st;
}

std::string SiblingValue(const cluster::Sibling& sib) {
  if (sib.kind != cluster::ValueKind::kCounter) return sib.value;
  cluster::PNCounter c;
  if (!cluster::DecodeCounter(sib.value, &c).ok()) return sib.value;
  return std::to_string(c.Value());
}

// DGET of a big record this node alone holds (standalone, or N=1; server/big_value.h): the
// siblings are copied a slice per step over several turns, as a big GET's value is, instead
// of read whole and copied again into the reply in one turn. False: read it the usual way
// (other replicas hold it, it is small or cached, or a sibling is a counter, whose value
// the reply shows as a number).
bool SlicedDget(Server* s, const std::string& key, int r, ReplyTo reply);

void DgetOf(Server* s, const std::string& key, int r, ReplyTo reply) {
  if (SlicedDget(s, key, r, reply)) return;
  s->node()->Read(key, r, TimeRead(s, [s, reply, key](Status st, cluster::ReadReply rr) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    std::string token = cluster::EncodeContext(rr.record.context, TokenKey(s, key));
    auto live = cluster::LiveSiblings(rr.record, s->WallMs());
    reply.Send([&](RespWriter& w) {
      w.Array(2);
      w.Bulk(token);
      w.Array(live.size());
      for (const auto* sib : live) w.Bulk(SiblingValue(*sib));
    });
  }));
}

bool SlicedDget(Server* s, const std::string& key, int r, ReplyTo reply) {
  std::string buf;
  std::string rkey = cluster::PlainRecordKeyRef(key, &buf);
  bool found = false;
  size_t record_size = 0;
  uint64_t seal = 0;
  std::string head;
  std::vector<std::pair<size_t, size_t>> parts;
  Status st = s->node()->ViewOnlyCopy(rkey, [&](std::string_view bytes) {
    if (bytes.size() < kBigValueBytes) return;
    cluster::Record rec;
    std::vector<std::string_view> values;
    if (!cluster::DecodeRecordViews(bytes, &rec, &values).ok()) return;
    auto live = cluster::LiveSiblings(rec, s->WallMs());
    for (const auto* sib : live) {
      if (sib->kind == cluster::ValueKind::kCounter) return;
      std::string_view v = values[size_t(sib - rec.siblings.data())];
      parts.emplace_back(size_t(v.data() - bytes.data()), v.size());
    }
    std::string token = cluster::EncodeContext(rec.context, TokenKey(s, key));
    head = "*2\r\n$" + std::to_string(token.size()) + "\r\n" + token + "\r\n*" + std::to_string(live.size()) + "\r\n";
    record_size = bytes.size();
    seal = cluster::RecordSeal(bytes);
    found = true;
  });
  if (!st.ok() || !found) return false;
  SlicedBulks(s, rkey, reply, record_size, seal, std::move(head), std::move(parts),
              [s, key, r, reply]() { DgetOf(s, key, r, reply); });
  return true;
}

// DGET key [R n] -> [context, [value, ...]]
void CmdDget(CommandCtx& ctx) {
  int r;
  std::string err = ParseQuorum(ctx.args, 2, "R", int(ctx.server->config().n), &r);
  if (!err.empty()) return ReplyErr(ctx.reply, err);
  DgetOf(ctx.server, ctx.args[1], r, ctx.reply);
}

void DWrite(CommandCtx& ctx, bool is_delete) {
  size_t ctx_index = is_delete ? 2 : 3;
  int w;
  std::string err = ParseQuorum(ctx.args, ctx_index + 1, "W", int(ctx.server->config().n), &w);
  if (!err.empty()) return ReplyErr(ctx.reply, err);
  cluster::VersionVector vv;
  if (Status st = DecodeClientContext(ctx.server, ctx.args[1], ctx.args[ctx_index], &vv); !st.ok()) {
    return ReplyStatus(ctx.reply, st);
  }
  if (!is_delete && ctx.args[2].size() > uint64_t(ctx.server->config().proto_max_bulk_len)) {
    return ReplyErr(ctx.reply, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  }
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  auto done = [s, reply, is_delete, key](Status st, cluster::WriteReply wr) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    if (is_delete) return reply.Send([](RespWriter& w) { w.Int(1); });
    std::string token = cluster::EncodeContext(wr.context, TokenKey(s, key));
    reply.Send([&](RespWriter& w) { w.Bulk(token); });
  };
  if (is_delete) DeleteValue(s, ctx.args[1], &vv, w, std::move(done));
  else WriteValue(s, ctx.args[1], std::move(ctx.args[2]), 0, 0, &vv, w, std::move(done));
}

void CmdDput(CommandCtx& ctx) { DWrite(ctx, false); }
void CmdDdel(CommandCtx& ctx) { DWrite(ctx, true); }

void CmdDynamo(CommandCtx& ctx) {
  std::string sub = Lower(ctx.args[1]);
  cluster::Node* node = ctx.node();
  auto ok_or_err = [&](const Status& st) {
    if (!st.ok()) return ReplyStatus(ctx.reply, st);
    ctx.reply.Send([](RespWriter& w) { w.Ok(); });
  };
  if (sub == "backup" && ctx.args.size() == 3) return CmdDynamoBackup(ctx);
  if (sub == "members" && ctx.args.size() == 2) {
    auto members = node->Members();
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(members.size());
      for (auto& m : members) {
        w.Array(5);
        w.Bulk(m.id);
        w.Bulk(m.cluster_addr);
        w.Bulk(m.client_addr);
        w.Bulk(m.status);
        w.Int(m.weight);
      }
    });
  }
  // One row per run of consecutive partitions (Redis Cluster hash slots) that share a
  // preference list: [first, last, [node id, ...]], as CLUSTER SLOTS groups slots.
  if (sub == "ring" && ctx.args.size() == 2) {
    auto ring = node->RingRanges();
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(ring.size());
      for (auto& range : ring) {
        w.Array(3);
        w.Int(range.first);
        w.Int(range.last);
        w.Array(range.owners.size());
        for (auto& id : range.owners) w.Bulk(id);
      }
    });
  }
  // Keyspace policies (cluster/keyspace.h): the default first (prefix ""), then the
  // [[keyspace]] entries, longest prefix first: [prefix, n, r, w, conflict] each.
  if (sub == "keyspaces" && ctx.args.size() == 2) {
    const cluster::Keyspaces& ks = node->keyspaces();
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(ks.entries().size() + 1);
      auto row = [&](const cluster::KeyspacePolicy& p) {
        w.Array(5);
        w.Bulk(p.prefix);
        w.Int(p.n);
        w.Int(p.r);
        w.Int(p.w);
        w.Bulk(p.lww ? "lww" : "siblings");
      };
      row(ks.Default());
      for (const auto& p : ks.entries()) row(p);
    });
  }
  if (sub == "preflist" && ctx.args.size() == 3) {
    auto ids = node->PreferenceList(ctx.args[2]);
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(ids.size());
      for (auto& id : ids) w.Bulk(id);
    });
  }
  // Membership changes: applied at once, or staged (cluster.auto_commit = false) and then
  // reviewed with PLAN and applied with COMMIT, as Riak's `riak-admin cluster`.
  bool staged = false;
  auto changed = [&](const Status& st) {
    if (!st.ok()) return ReplyStatus(ctx.reply, st);
    ctx.reply.Send([&](RespWriter& w) {
      if (staged) {
        w.Simple("OK staged: review with DYNAMO PLAN, apply with DYNAMO COMMIT");
      } else {
        w.Ok();
      }
    });
  };
  if (sub == "join" && ctx.args.size() == 3) return changed(node->Join(ctx.args[2], &staged));
  if (sub == "leave" && ctx.args.size() == 2) return changed(node->Leave(&staged));
  if (sub == "remove" && ctx.args.size() == 3) return changed(node->Remove(ctx.args[2], &staged));
  if (sub == "replace" && ctx.args.size() == 4) {
    return changed(node->Replace(ctx.args[2], ctx.args[3], &staged));
  }
  if (sub == "plan" && ctx.args.size() == 2) {
    auto plan = node->Plan();
    if (plan.changes.empty()) return ctx.reply.Send([](RespWriter& w) { w.Simple("No changes planned"); });
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(plan.changes.size() + plan.nodes.size() + 1);
      for (auto& c : plan.changes) w.Bulk("change: " + c);
      for (auto& n : plan.nodes) {
        char line[200];
        std::snprintf(line, sizeof line, "node %s: %u -> %u partition replicas (%+lld)",
                      n.id.c_str(), n.before, n.after, (long long)n.after - (long long)n.before);
        w.Bulk(line);
      }
      w.Bulk("partitions moving: " + std::to_string(plan.partitions_moving) + " of 16384");
    });
  }
  if (sub == "commit" && ctx.args.size() == 2) return ok_or_err(node->Commit());
  if (sub == "clear" && ctx.args.size() == 2) {
    node->ClearPlan();
    return ctx.reply.Send([](RespWriter& w) { w.Ok(); });
  }
  // Ownership handoff progress, as Riak's `riak-admin transfers`: one line per outbound
  // partition transfer of this node, or exactly "No transfers active".
  if (sub == "transfers" && ctx.args.size() == 2) {
    auto xfers = node->Transfers();
    if (xfers.empty()) return ctx.reply.Send([](RespWriter& w) { w.Simple("No transfers active"); });
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(xfers.size());
      for (auto& t : xfers) {
        char eta[32] = "?";
        if (t.records_per_s > 0) {
          std::snprintf(eta, sizeof eta, "%.0fs", double(t.records_left) / t.records_per_s);
        }
        char line[256];
        std::snprintf(line, sizeof line,
                      "partition %u %s -> %s: %s, %llu records (%llu bytes) sent, %.0f records/s, "
                      "~%llu left, eta %s",
                      t.partition, ctx.server->config().node_id.c_str(), t.to.c_str(),
                      t.active ? "sending" : "waiting", (unsigned long long)t.records_sent,
                      (unsigned long long)t.bytes_sent, t.records_per_s,
                      (unsigned long long)t.records_left, eta);
        w.Bulk(line);
      }
    });
  }
  if (sub == "hints" && ctx.args.size() == 2) {
    auto st = node->stats();
    return ctx.reply.Send([&](RespWriter& w) {
      w.Map(2);
      w.Bulk("hints_stored");
      w.Int(int64_t(st.hints_stored));
      w.Bulk("hints_delivered");
      w.Int(int64_t(st.hints_delivered));
    });
  }
  // A one-screen summary, as `nodetool status` (a verbatim string in RESP3, a bulk string in
  // RESP2), or with JSON the document /cluster.json serves (server/ops_view.h).
  if (sub == "status" && (ctx.args.size() == 2 || (ctx.args.size() == 3 && Lower(ctx.args[2]) == "json"))) {
    bool json = ctx.args.size() == 3;
    OpsView v = GatherOpsView(ctx.server, /*with_commands=*/json);
    std::string text = json ? RenderClusterJson(v) : RenderStatusText(v);
    return ctx.reply.Send([&](RespWriter& w) {
      if (json) w.Bulk(text);
      else w.Verbatim(text);
    });
  }
  // Anti-entropy now, with every reachable peer this node shares replicas with (the rounds
  // run in the background); replies with how many peers will be contacted.
  if (sub == "sync" && ctx.args.size() == 2) {
    size_t peers = node->SyncNow();
    return ctx.reply.Send([&](RespWriter& w) { w.Int(int64_t(peers)); });
  }
  ReplyErr(ctx.reply, "ERR unknown subcommand or wrong number of arguments for '" + ctx.args[1] +
                          "'. Try DYNAMO MEMBERS|RING|PREFLIST key|KEYSPACES|JOIN host:port|LEAVE|REMOVE id|REPLACE old-id host:port|PLAN|COMMIT|CLEAR|TRANSFERS|HINTS|SYNC|STATUS [JSON].");
}

// ---- Redis Cluster API (cluster.redis_cluster_api; README, "Cluster-aware clients") -------

constexpr const char* kClusterDisabled = "ERR This instance has cluster support disabled";

// The ring as Redis Cluster clients see it, taken now.
ClusterView TakeClusterView(CommandCtx& ctx) {
  cluster::Node* node = ctx.node();
  return MakeClusterView(ctx.server->config().node_id, node->Members(), node->RingRanges(),
                         node->RingEpoch());
}

// CLUSTER SLOTS / SHARDS / NODES: the map, built once per view and RESP version
// (MapReplyCache); the connection now holds it (the epoch MOVED compares against).
void SendMap(CommandCtx& ctx, const char* what, void (*build)(RespWriter&, const ClusterView&)) {
  cluster::Node* node = ctx.node();
  uint64_t epoch = node->RingEpoch();
  auto members = node->Members();
  std::string sig = MapReplyCache::Signature(epoch, members);
  std::string key = std::string(what) + "/" + std::to_string(ctx.reply.proto());
  MapReplyCache& cache = ctx.server->map_replies();
  const std::string* bytes = cache.Find(sig, key);
  if (bytes == nullptr || !ctx.server->slot_history().Has(epoch)) {
    ClusterView v = MakeClusterView(ctx.server->config().node_id, members, node->RingRanges(), epoch);
    ctx.server->slot_history().Remember(v);
    if (bytes == nullptr) {
      std::string out;
      RespWriter w(&out, ctx.reply.proto());
      build(w, v);
      bytes = &cache.Put(sig, key, std::move(out));
    }
  }
  if (ctx.client) ctx.client->slots_epoch = epoch;
  ctx.reply.SendRaw(*bytes);
}

void BuildNodes(RespWriter& w, const ClusterView& v) { w.Verbatim(ClusterNodesText(v)); }

// CLUSTER subcommands: name and Redis arity (counting CLUSTER itself).
struct ClusterSub {
  const char* name;
  int arity;
  bool supported;
};
constexpr ClusterSub kClusterSubs[] = {
    {"countkeysinslot", 3, true}, {"getkeysinslot", 4, true}, {"help", 2, true},
    {"info", 2, true},            {"keyslot", 3, true},       {"myid", 2, true},
    {"nodes", 2, true},           {"shards", 2, true},        {"slots", 2, true},
    // Redis Cluster's own administration: dynakv places slots itself.
    {"addslots", -3, false},      {"addslotsrange", -4, false}, {"bumpepoch", 2, false},
    {"count-failure-reports", 3, false}, {"delslots", -3, false}, {"delslotsrange", -4, false},
    {"failover", -2, false},      {"flushslots", 2, false},   {"forget", 3, false},
    {"links", 2, false},          {"meet", -4, false},        {"replicas", 3, false},
    {"replicate", 3, false},      {"reset", -2, false},       {"saveconfig", 2, false},
    {"set-config-epoch", 3, false}, {"setslot", -4, false},   {"slaves", 3, false},
};

// Parses a slot number the way Redis's getSlotOrReply does. False after replying.
bool ParseSlot(CommandCtx& ctx, const std::string& text, int64_t* slot, const char* range_err) {
  if (!ParseInt64(text, slot)) {
    ReplyErr(ctx.reply, "ERR value is not an integer or out of range");
    return false;
  }
  if (*slot < 0 || *slot >= int64_t(cluster::kPartitions)) {
    ReplyErr(ctx.reply, range_err);
    return false;
  }
  return true;
}

// CLUSTER ...: KEYSLOT always (the key's partition is its hash slot); with
// cluster.redis_cluster_api the slot map (SLOTS, SHARDS, NODES), INFO, MYID and this
// replica's keys of a slot; without it, what a standalone Redis answers.
void CmdCluster(CommandCtx& ctx) {
  std::string sub = Lower(ctx.args[1]);
  const ClusterSub* spec = nullptr;
  for (const auto& cs : kClusterSubs) {
    if (sub == cs.name) spec = &cs;
  }
  if (spec == nullptr) {
    return ReplyErr(ctx.reply, "ERR unknown subcommand '" + ctx.args[1].substr(0, 128) +
                                   "'. Try CLUSTER HELP.");
  }
  int argc = int(ctx.args.size());
  if ((spec->arity > 0 && argc != spec->arity) || (spec->arity < 0 && argc < -spec->arity)) {
    return ReplyErr(ctx.reply, "ERR wrong number of arguments for 'cluster|" + sub + "' command");
  }
  if (sub == "keyslot") {
    int64_t slot = cluster::KeyPartition(ctx.args[2]);
    return ctx.reply.Send([&](RespWriter& w) { w.Int(slot); });
  }
  if (sub == "help") {
    static const char* kHelp[] = {
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "COUNTKEYSINSLOT <slot>",
        "    Return the number of keys in <slot> held by this node's replica.",
        "GETKEYSINSLOT <slot> <count>",
        "    Return key names stored by this node's replica in a slot.",
        "INFO",
        "    Return information about the cluster.",
        "KEYSLOT <key>",
        "    Return the hash slot for <key> (the key's dynakv partition).",
        "MYID",
        "    Return the node id.",
        "NODES",
        "    Return the cluster configuration seen by this node (every node a master of the",
        "    slots it coordinates).",
        "SHARDS",
        "    Return slot ranges grouped by preference list, with their nodes.",
        "SLOTS",
        "    Return slot ranges: start, end, then the preference list (first owner first).",
        "HELP",
        "    Print this help.",
        "Only KEYSLOT and HELP work unless cluster.redis_cluster_api is on; membership is",
        "managed with DYNAMO JOIN/LEAVE/REMOVE.",
    };
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(std::size(kHelp));
      for (const char* line : kHelp) w.Simple(line);
    });
  }
  if (!ctx.server->config().redis_cluster_api) return ReplyErr(ctx.reply, kClusterDisabled);
  if (!spec->supported) {
    return ReplyErr(ctx.reply, "ERR CLUSTER " + Lower(ctx.args[1]) +
                                   " is not supported: dynakv places slots itself (use DYNAMO "
                                   "JOIN/LEAVE/REMOVE to change the members)");
  }
  if (sub == "slots") return SendMap(ctx, "slots", WriteClusterSlots);
  if (sub == "shards") return SendMap(ctx, "shards", WriteClusterShards);
  if (sub == "nodes") return SendMap(ctx, "nodes", BuildNodes);
  if (sub == "info") {
    std::string text = ClusterInfoText(TakeClusterView(ctx));
    return ctx.reply.Send([&](RespWriter& w) { w.Verbatim(text); });
  }
  if (sub == "myid") {
    std::string id = RedisNodeId(ctx.server->config().node_id);
    return ctx.reply.Send([&](RespWriter& w) { w.Bulk(id); });
  }
  if (sub == "countkeysinslot") {
    int64_t slot;
    if (!ParseSlot(ctx, ctx.args[2], &slot, "ERR Invalid slot")) return;
    uint64_t count = 0;
    Status st = ctx.node()->LivePartitionKeys(uint32_t(slot), 0, nullptr, &count);
    if (!st.ok()) return ReplyStatus(ctx.reply, st);
    return ctx.reply.Send([&](RespWriter& w) { w.Int(int64_t(count)); });
  }
  if (sub == "getkeysinslot") {
    int64_t slot, max;
    if (!ParseInt64(ctx.args[2], &slot) || !ParseInt64(ctx.args[3], &max)) {
      return ReplyErr(ctx.reply, "ERR value is not an integer or out of range");
    }
    if (slot < 0 || slot >= int64_t(cluster::kPartitions) || max < 0) {
      return ReplyErr(ctx.reply, "ERR Invalid slot or number of keys");
    }
    std::vector<std::string> keys;
    uint64_t count = 0;
    Status st = ctx.node()->LivePartitionKeys(uint32_t(slot), size_t(std::min<int64_t>(max, 1 << 20)),
                                              &keys, &count);
    if (!st.ok()) return ReplyStatus(ctx.reply, st);
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(keys.size());
      for (auto& k : keys) w.Bulk(k);
    });
  }
}

// READONLY / READWRITE / ASKING: accepted (every node serves reads and writes of every
// slot, and there are no slot migrations to ask about).
void CmdClusterOk(CommandCtx& ctx) {
  if (!ctx.server->config().redis_cluster_api) return ReplyErr(ctx.reply, kClusterDisabled);
  ctx.reply.Send([](RespWriter& w) { w.Ok(); });
}

}  // namespace

void TreatAsFetched(Server* server, Client* c) {
  cluster::Node* node = server->node();
  uint64_t epoch = node->RingEpoch();
  if (!server->slot_history().Has(epoch)) {  // once per epoch: O(partitions)
    server->slot_history().Remember(
        MakeClusterView(server->config().node_id, node->Members(), node->RingRanges(), epoch));
  }
  c->slots_epoch = epoch;
}

bool RedirectIfMoved(CommandCtx& ctx, const CommandSpec& spec) {
  Client* c = ctx.client.get();
  cluster::Node* node = ctx.node();
  uint64_t now = node->RingEpoch();
  if (c->slots_epoch == now || size_t(spec.first_key) >= ctx.args.size()) return false;
  uint32_t slot = cluster::KeyPartition(ctx.args[size_t(spec.first_key)]);
  const std::string& first = node->FirstOwner(slot);
  const std::string& self = ctx.server->config().node_id;
  if (!MovedDue(ctx.server->slot_history(), c->slots_epoch, now, slot, first, self)) return false;
  std::string target;
  for (const auto& m : node->Members()) {
    if (m.id == first) target = m.client_addr;
  }
  if (target.empty()) return false;
  // Once: the client refreshes its map now (or, like redis-py, moves this slot), and keys
  // it sends here afterwards are served, wherever their slots went.
  c->slots_epoch = now;
  std::string host;
  int port = 0;
  if (!SplitHostPort(target, &host, &port).ok()) return false;
  ReplyErr(ctx.reply, "MOVED " + std::to_string(slot) + " " + host + ":" + std::to_string(port));
  return true;
}

void RegisterDynamo(std::vector<CommandSpec>* t) {
  t->insert(t->end(), {
                          {"dget", -2, kCmdReadonly, CmdDget, 1, 1, 1},
                          {"dput", -4, kCmdWrite, CmdDput, 1, 1, 1},
                          {"ddel", -3, kCmdWrite, CmdDdel, 1, 1, 1},
                          {"dynamo", -2, kCmdAdmin, CmdDynamo, 0, 0, 0},
                          {"cluster", -2, kCmdReadonly, CmdCluster, 0, 0, 0},
                          {"readonly", 1, kCmdFast, CmdClusterOk, 0, 0, 0},
                          {"readwrite", 1, kCmdFast, CmdClusterOk, 0, 0, 0},
                          {"asking", 1, kCmdFast, CmdClusterOk, 0, 0, 0},
                      });
}

}  // namespace dynakv::server
