// server/commands_dynamo.cc: the causal client API (DGET / DPUT / DDEL) and cluster
// administration (DYNAMO ...), per the README, "Commands".
#include "server/commands.h"

#include <cstdio>

#include "cluster/partition_ring.h"

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

// DGET key [R n] -> [context, [value, ...]]
void CmdDget(CommandCtx& ctx) {
  int r;
  std::string err = ParseQuorum(ctx.args, 2, "R", int(ctx.server->config().n), &r);
  if (!err.empty()) return ReplyErr(ctx.reply, err);
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  s->node()->Read(key, r, [s, reply, key](Status st, cluster::ReadReply rr) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    std::string token = cluster::EncodeContext(rr.record.context, TokenKey(s, key));
    auto live = cluster::LiveSiblings(rr.record, s->WallMs());
    reply.Send([&](RespWriter& w) {
      w.Array(2);
      w.Bulk(token);
      w.Array(live.size());
      for (const auto* sib : live) w.Bulk(SiblingValue(*sib));
    });
  });
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
  if (sub == "status" && ctx.args.size() == 2) {
    auto st = node->stats();
    const Config& c = ctx.server->config();
    auto members = node->Members();
    size_t up = 0;
    for (auto& m : members) up += m.status == "up";
    return ctx.reply.Send([&](RespWriter& w) {
      w.Map(12);
      w.Bulk("node_id");
      w.Bulk(c.node_id);
      w.Bulk("members");
      w.Int(int64_t(members.size()));
      w.Bulk("members_up");
      w.Int(int64_t(up));
      w.Bulk("n");
      w.Int(c.n);
      w.Bulk("r");
      w.Int(c.r);
      w.Bulk("w");
      w.Int(c.w);
      w.Bulk("reads");
      w.Int(int64_t(st.reads));
      w.Bulk("writes");
      w.Int(int64_t(st.writes));
      w.Bulk("read_repairs");
      w.Int(int64_t(st.read_repairs));
      w.Bulk("coordinator_timeouts");
      w.Int(int64_t(st.coordinator_timeouts));
      w.Bulk("ae_rounds");
      w.Int(int64_t(st.ae_rounds));
      w.Bulk("ae_keys_repaired");
      w.Int(int64_t(st.ae_keys_repaired));
    });
  }
  // Anti-entropy now, with every reachable peer this node shares replicas with (the rounds
  // run in the background); replies with how many peers will be contacted.
  if (sub == "sync" && ctx.args.size() == 2) {
    size_t peers = node->SyncNow();
    return ctx.reply.Send([&](RespWriter& w) { w.Int(int64_t(peers)); });
  }
  ReplyErr(ctx.reply, "ERR unknown subcommand or wrong number of arguments for '" + ctx.args[1] +
                          "'. Try DYNAMO MEMBERS|RING|PREFLIST key|JOIN host:port|LEAVE|REMOVE id|REPLACE old-id host:port|PLAN|COMMIT|CLEAR|TRANSFERS|HINTS|SYNC|STATUS.");
}

// CLUSTER KEYSLOT key: the key's partition, which is its Redis Cluster hash slot (the ring
// has 16384 partitions; DYNAMO RING lists their owners). Other CLUSTER subcommands belong to
// Redis Cluster mode, which dynakv does not speak (yet).
void CmdCluster(CommandCtx& ctx) {
  std::string sub = Lower(ctx.args[1]);
  if (sub == "keyslot" && ctx.args.size() == 3) {
    int64_t slot = cluster::KeyPartition(ctx.args[2]);
    return ctx.reply.Send([&](RespWriter& w) { w.Int(slot); });
  }
  ReplyErr(ctx.reply, "ERR unknown subcommand or wrong number of arguments for '" + ctx.args[1] +
                          "'. Try CLUSTER KEYSLOT key (the partition of a key; DYNAMO RING lists owners).");
}

}  // namespace

void RegisterDynamo(std::vector<CommandSpec>* t) {
  t->insert(t->end(), {
                          {"dget", -2, kCmdReadonly, CmdDget, 1, 1, 1},
                          {"dput", -4, kCmdWrite, CmdDput, 1, 1, 1},
                          {"ddel", -3, kCmdWrite, CmdDdel, 1, 1, 1},
                          {"dynamo", -2, kCmdAdmin, CmdDynamo, 0, 0, 0},
                          {"cluster", -2, kCmdReadonly, CmdCluster, 0, 0, 0},
                      });
}

}  // namespace dynakv::server
