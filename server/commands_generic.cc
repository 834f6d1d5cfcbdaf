// server/commands_generic.cc: connection and server commands: PING ECHO QUIT HELLO AUTH
// SELECT CLIENT COMMAND CONFIG INFO DBSIZE TIME FLUSHDB FLUSHALL.
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "server/commands.h"

namespace dynakv::server {
namespace {

using protocol::RespWriter;

void CmdPing(CommandCtx& ctx) {
  if (ctx.args.size() > 2) return ReplyErr(ctx, "ERR wrong number of arguments for 'ping' command");
  if (ctx.client->subscriptions > 0 && ctx.client->proto == 2) {  // Redis: ["pong", msg]
    std::string msg = ctx.args.size() == 2 ? ctx.args[1] : std::string();
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(2);
      w.Bulk("pong");
      w.Bulk(msg);
    });
  }
  if (ctx.args.size() == 2) {
    ctx.reply.Send([&](RespWriter& w) { w.Bulk(ctx.args[1]); });
  } else {
    ctx.reply.Send([](RespWriter& w) { w.Simple("PONG"); });
  }
}

void CmdEcho(CommandCtx& ctx) {
  ctx.reply.Send([&](RespWriter& w) { w.Bulk(ctx.args[1]); });
}

void CmdQuit(CommandCtx& ctx) {
  ctx.client->close_after_flush = true;
  ctx.reply.Send([](RespWriter& w) { w.Ok(); });
}

bool CheckPassword(Server* s, const std::string& user, const std::string& pass) {
  return user == "default" && pass == s->config().requirepass;
}

void CmdAuth(CommandCtx& ctx) {
  if (ctx.args.size() > 3) return ReplyErr(ctx, "ERR syntax error");
  if (ctx.server->config().requirepass.empty()) {
    return ReplyErr(ctx,
                    "ERR AUTH <password> called without any password configured for the default user. "
                    "Are you sure your configuration is correct?");
  }
  std::string user = ctx.args.size() == 3 ? ctx.args[1] : "default";
  std::string pass = ctx.args.back();
  if (!CheckPassword(ctx.server, user, pass)) {
    return ReplyErr(ctx, "WRONGPASS invalid username-password pair or user is disabled.");
  }
  ctx.client->authed = true;
  ctx.reply.Send([](RespWriter& w) { w.Ok(); });
}

void CmdHello(CommandCtx& ctx) {
  int proto = ctx.client->proto;
  size_t i = 1;
  if (ctx.args.size() >= 2) {
    int64_t v;
    if (!ParseInt64(ctx.args[1], &v)) {
      return ReplyErr(ctx, "ERR Protocol version is not an integer or out of range");
    }
    if (v < 2 || v > 3) return ReplyErr(ctx, "NOPROTO unsupported protocol version");
    proto = int(v);
    i = 2;
  }
  std::string setname;
  bool has_setname = false;
  for (; i < ctx.args.size(); i++) {
    std::string opt = Lower(ctx.args[i]);
    if (opt == "auth" && i + 2 < ctx.args.size()) {
      if (!CheckPassword(ctx.server, ctx.args[i + 1], ctx.args[i + 2])) {
        return ReplyErr(ctx, "WRONGPASS invalid username-password pair or user is disabled.");
      }
      ctx.client->authed = true;
      i += 2;
    } else if (opt == "setname" && i + 1 < ctx.args.size()) {
      setname = ctx.args[++i];
      has_setname = true;
    } else {
      return ReplyErr(ctx, "ERR Syntax error in HELLO option '" + ctx.args[i] + "'");
    }
  }
  if (!ctx.client->authed) {
    return ReplyErr(ctx, "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                         "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
                         "select the RESP protocol version at the same time");
  }
  if (has_setname) ctx.client->name = setname;
  ctx.client->proto = proto;
  uint64_t id = ctx.client->id;
  ctx.reply.Send([&](RespWriter& w) {
    w.Map(7);
    w.Bulk("server");
    w.Bulk("redis");
    w.Bulk("version");
    w.Bulk("7.0.0");
    w.Bulk("proto");
    w.Int(proto);
    w.Bulk("id");
    w.Int(int64_t(id));
    w.Bulk("mode");
    w.Bulk(ctx.server->config().cluster_addr.empty() ? "standalone" : "cluster");
    w.Bulk("role");
    w.Bulk("master");
    w.Bulk("modules");
    w.Array(0);
  });
}

void CmdSelect(CommandCtx& ctx) {
  int64_t db;
  if (!ParseInt64(ctx.args[1], &db)) return ReplyErr(ctx, "ERR value is not an integer or out of range");
  // A Dynamo keyspace has no numbered databases; only 0 exists.
  if (db != 0) return ReplyErr(ctx, "ERR DB index is out of range");
  ctx.reply.Send([](RespWriter& w) { w.Ok(); });
}

std::string ClientLine(Server* s, const Client& c) {
  uint64_t now = s->NowMs();
  std::ostringstream os;
  os << "id=" << c.id << " addr=" << c.peer << " laddr=" << s->config().redis_addr << " fd=" << c.handle.io_watcher.fd
     << " name=" << c.name << " age=" << (now - c.created_ms) / 1000 << " idle=" << (now - c.last_active_ms) / 1000
     << " flags=" << (c.subscriptions > 0 ? "P" : "N") << " db=0 sub=" << s->pubsub().CountOf(&c, PubSub::Kind::kChannel)
     << " psub=" << s->pubsub().CountOf(&c, PubSub::Kind::kPattern) << " ssub=" << s->pubsub().CountOf(&c, PubSub::Kind::kShard)
     << " multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=65536 rbp=0 obl=0 oll="
     << c.waiting.size() << " omem=" << c.out.size() + c.ready.size() + c.bytes_in_libuv << " tot-mem=0 events=r cmd="
     << (c.last_cmd == nullptr ? "NULL" : c.last_cmd) << " user=default redir=-1 resp=" << c.proto
     << " lib-name=" << c.lib_name << " lib-ver=" << c.lib_ver << "\n";
  return os.str();
}

void CmdClient(CommandCtx& ctx) {
  std::string sub = Lower(ctx.args[1]);
  Client* c = ctx.client.get();
  if (sub == "setname" && ctx.args.size() == 3) {
    for (char ch : ctx.args[2]) {
      if (ch <= ' ' || ch > '~') {
        return ReplyErr(ctx, "ERR Client names cannot contain spaces, newlines or special characters.");
      }
    }
    c->name = ctx.args[2];
    return ctx.reply.Send([](RespWriter& w) { w.Ok(); });
  }
  if (sub == "getname" && ctx.args.size() == 2) {
    std::string n = c->name;
    return ctx.reply.Send([&](RespWriter& w) {
      if (n.empty()) w.Null();
      else w.Bulk(n);
    });
  }
  if (sub == "id" && ctx.args.size() == 2) {
    return ctx.reply.Send([&](RespWriter& w) { w.Int(int64_t(c->id)); });
  }
  if (sub == "setinfo" && ctx.args.size() == 4) {
    std::string attr = Lower(ctx.args[2]);
    if (attr == "lib-name") c->lib_name = ctx.args[3];
    else if (attr == "lib-ver") c->lib_ver = ctx.args[3];
    else return ReplyErr(ctx, "ERR Unrecognized option '" + ctx.args[2] + "'");
    return ctx.reply.Send([](RespWriter& w) { w.Ok(); });
  }
  if (sub == "list") {
    std::string out;
    for (auto& other : ctx.server->Clients()) out += ClientLine(ctx.server, *other);
    return ctx.reply.Send([&](RespWriter& w) { w.Verbatim(out); });
  }
  if (sub == "info" && ctx.args.size() == 2) {
    std::string line = ClientLine(ctx.server, *c);
    return ctx.reply.Send([&](RespWriter& w) { w.Verbatim(line); });
  }
  if (sub == "kill" && ctx.args.size() >= 3) {
    // CLIENT KILL ID n | CLIENT KILL addr
    int killed = 0;
    bool by_id = ctx.args.size() == 4 && Lower(ctx.args[2]) == "id";
    for (auto& other : ctx.server->Clients()) {
      if ((by_id && std::to_string(other->id) == ctx.args[3]) || (!by_id && other->peer == ctx.args[2])) {
        if (other.get() == c) other->close_after_flush = true;
        else ctx.server->CloseClient(other.get());
        killed++;
      }
    }
    if (!by_id) {
      if (killed == 0) return ReplyErr(ctx, "ERR No such client");
      return ctx.reply.Send([](RespWriter& w) { w.Ok(); });
    }
    return ctx.reply.Send([&](RespWriter& w) { w.Int(killed); });
  }
  if (sub == "help") {
    return ctx.reply.Send([](RespWriter& w) {
      const char* lines[] = {"CLIENT <subcommand> [<arg> ...]. Subcommands are:", "ID", "GETNAME", "SETNAME <name>",
                             "SETINFO <LIB-NAME|LIB-VER> <value>", "LIST", "INFO", "KILL <ip:port> | KILL ID <id>"};
      w.Array(std::size(lines));
      for (auto* l : lines) w.Simple(l);
    });
  }
  ReplyErr(ctx, "ERR unknown subcommand or wrong number of arguments for '" + ctx.args[1] + "'. Try CLIENT HELP.");
}

void WriteCommandInfo(RespWriter& w, const CommandSpec& c) {
  w.Array(10);
  w.Bulk(c.name);
  w.Int(c.arity);
  std::vector<const char*> flags;
  if (c.flags & kCmdWrite) flags.push_back("write");
  if (c.flags & kCmdReadonly) flags.push_back("readonly");
  if (c.flags & kCmdFast) flags.push_back("fast");
  if (c.flags & kCmdNoAuth) flags.push_back("no_auth");
  if (c.flags & kCmdAdmin) flags.push_back("admin");
  w.Set(flags.size());
  for (auto* f : flags) w.Simple(f);
  w.Int(c.first_key);
  w.Int(c.last_key);
  w.Int(c.step);
  w.Set(0);    // ACL categories
  w.Set(0);    // tips
  w.Array(0);  // key specs
  w.Array(0);  // subcommands
}

void CmdCommand(CommandCtx& ctx) {
  const auto& t = CommandTable();
  if (ctx.args.size() == 1) {
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(t.size());
      for (const auto& c : t) WriteCommandInfo(w, c);
    });
  }
  std::string sub = Lower(ctx.args[1]);
  if (sub == "count") return ctx.reply.Send([&](RespWriter& w) { w.Int(int64_t(t.size())); });
  if (sub == "info") {
    return ctx.reply.Send([&](RespWriter& w) {
      if (ctx.args.size() == 2) {
        w.Array(t.size());
        for (const auto& c : t) WriteCommandInfo(w, c);
        return;
      }
      w.Array(ctx.args.size() - 2);
      for (size_t i = 2; i < ctx.args.size(); i++) {
        const CommandSpec* c = LookupCommand(ctx.args[i]);
        if (c) WriteCommandInfo(w, *c);
        else w.NullArray();
      }
    });
  }
  if (sub == "docs") {
    // redis-cli asks for docs to drive its hints; a summary per command is enough.
    std::vector<const CommandSpec*> specs;
    if (ctx.args.size() == 2) {
      for (const auto& c : t) specs.push_back(&c);
    } else {
      for (size_t i = 2; i < ctx.args.size(); i++) {
        if (const CommandSpec* c = LookupCommand(ctx.args[i])) specs.push_back(c);
      }
    }
    return ctx.reply.Send([&](RespWriter& w) {
      w.Map(specs.size());
      for (auto* c : specs) {
        w.Bulk(c->name);
        w.Map(2);
        w.Bulk("summary");
        w.Bulk(std::string("dynakv ") + c->name);
        w.Bulk("group");
        w.Bulk(std::strncmp(c->name, "d", 1) == 0 && std::strlen(c->name) <= 6 ? "dynamo" : "generic");
      }
    });
  }
  if (sub == "list") {
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(t.size());
      for (const auto& c : t) w.Bulk(c.name);
    });
  }
  if (sub == "getkeys" && ctx.args.size() >= 3) {
    const CommandSpec* c = LookupCommand(ctx.args[2]);
    if (!c) return ReplyErr(ctx, "ERR Invalid command specified");
    std::vector<std::string> keys;
    int argc = int(ctx.args.size()) - 2;
    if (c->first_key > 0) {
      int last = c->last_key < 0 ? argc + c->last_key : c->last_key;
      for (int i = c->first_key; i <= last && i < argc; i += std::max(1, c->step)) keys.push_back(ctx.args[2 + i]);
    }
    if (keys.empty()) return ReplyErr(ctx, "ERR The command has no key arguments");
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(keys.size());
      for (auto& k : keys) w.Bulk(k);
    });
  }
  ReplyErr(ctx, "ERR unknown subcommand or wrong number of arguments for '" + ctx.args[1] + "'. Try COMMAND HELP.");
}

std::vector<std::pair<std::string, std::string>> ConfigParams(Server* s) {
  const Config& c = s->config();
  std::string host;
  int port = 0;
  SplitHostPort(c.redis_addr, &host, &port).ok();
  return {
      {"appendonly", "no"},
      {"appendfsync", c.sync == "always" ? "always" : c.sync == "none" ? "no" : "everysec"},
      {"bind", host},
      {"databases", "1"},
      {"dir", c.data_dir},
      {"maxclients", std::to_string(c.maxclients)},
      {"maxmemory", "0"},
      {"maxmemory-policy", "noeviction"},
      {"port", std::to_string(port)},
      {"protected-mode", c.protected_mode ? "yes" : "no"},
      {"enable-debug-command", c.enable_debug_command ? "yes" : "no"},
      {"proto-max-bulk-len", std::to_string(c.proto_max_bulk_len)},
      {"requirepass", ""},  // never shown: anyone who can run CONFIG GET would read it
      {"save", ""},
      {"timeout", std::to_string(c.timeout_s)},
      {"slowlog-log-slower-than", std::to_string(c.slowlog_log_slower_than)},
      {"slowlog-max-len", std::to_string(c.slowlog_max_len)},
      {"latency-monitor-threshold", std::to_string(c.latency_monitor_threshold)},
      {"dynamo-n", std::to_string(c.n)},
      {"dynamo-r", std::to_string(c.r)},
      {"dynamo-w", std::to_string(c.w)},
      {"dynamo-sync", c.sync},
      {"dynamo-node-id", c.node_id},
  };
}

void CmdConfig(CommandCtx& ctx) {
  std::string sub = Lower(ctx.args[1]);
  if (sub == "get" && ctx.args.size() >= 3) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& [k, v] : ConfigParams(ctx.server)) {
      for (size_t i = 2; i < ctx.args.size(); i++) {
        if (StringMatch(Lower(ctx.args[i]), k, true)) {
          out.emplace_back(k, v);
          break;
        }
      }
    }
    return ctx.reply.Send([&](RespWriter& w) {
      w.Map(out.size());
      for (auto& [k, v] : out) {
        w.Bulk(k);
        w.Bulk(v);
      }
    });
  }
  if (sub == "set" && ctx.args.size() >= 4) {
    // The configuration is the TOML file; a running node does not change it.
    return ReplyErr(ctx, "ERR CONFIG SET is not supported: edit the TOML file and restart the node");
  }
  if (sub == "resetstat" && ctx.args.size() == 2) {
    auto& st = ctx.server->stats();
    uint64_t start = st.start_ms;
    st = ServerStats{};
    st.start_ms = start;
    ctx.server->metrics().ResetStats();
    return ctx.reply.Send([](RespWriter& w) { w.Ok(); });
  }
  if (sub == "rewrite") return ReplyErr(ctx, "ERR CONFIG REWRITE is not supported: the TOML file is the source");
  ReplyErr(ctx, "ERR unknown subcommand or wrong number of arguments for '" + ctx.args[1] + "'. Try CONFIG HELP.");
}

uint64_t KeyCount(Server* s);

long RssBytes() {
  long rss = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    long pages = 0;
    if (std::fscanf(f, "%*s %ld", &pages) == 1) rss = pages * sysconf(_SC_PAGESIZE);
    std::fclose(f);
  }
  return rss;
}

std::string Fixed2(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

// INFO's sections, as Redis 7 picks them: no argument or "default" gives the default
// sections, "all" and "everything" every section, and several names their union; the
// sections always come in this fixed order, whatever order they were asked in.
// commandstats and latencystats are not default sections (Redis 7); errorstats is.
std::string InfoText(Server* s, const std::vector<std::string>& asked) {
  std::vector<std::string> sections;
  bool all = false, dflt = asked.empty();
  for (const auto& a : asked) {
    std::string l = Lower(a);
    if (l == "all" || l == "everything") all = true;
    else if (l == "default") dflt = true;
    else sections.push_back(std::move(l));
  }
  auto want = [&](const char* name) {
    std::string_view n = name;
    if (all || (dflt && n != "commandstats" && n != "latencystats")) return true;
    return std::find(sections.begin(), sections.end(), name) != sections.end();
  };
  Metrics& metrics = s->metrics();
  const Config& c = s->config();
  std::ostringstream os;
  auto& st = s->stats();
  uint64_t now = s->WallMs();
  std::string host;
  int port = 0;
  SplitHostPort(c.redis_addr, &host, &port).ok();
  if (want("server")) {
    os << "# Server\r\nredis_version:7.0.0\r\ndynakv_version:0.1.0\r\nredis_mode:"
       << (c.cluster_addr.empty() ? "standalone" : "cluster") << "\r\nos:Linux\r\narch_bits:64\r\n"
       << "multiplexing_api:libuv\r\nprocess_id:" << getpid() << "\r\ntcp_port:" << port
       << "\r\nuptime_in_seconds:" << (now - st.start_ms) / 1000 << "\r\nuptime_in_days:"
       << (now - st.start_ms) / 86400000 << "\r\nconfig_file:" << c.config_file << "\r\n\r\n";
  }
  if (want("clients")) {
    os << "# Clients\r\nconnected_clients:" << s->client_count() << "\r\nmaxclients:" << c.maxclients
       << "\r\nblocked_clients:0\r\n\r\n";
  }
  if (want("memory")) {
    long rss = RssBytes();
    os << "# Memory\r\nused_memory:" << rss << "\r\nused_memory_human:" << rss / (1024 * 1024)
       << "M\r\nused_memory_rss:" << rss << "\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n\r\n";
  }
  if (want("persistence")) {
    auto es = s->engine()->Stats();
    os << "# Persistence\r\nloading:0\r\naof_enabled:0\r\nrdb_changes_since_last_save:0\r\n"
       << "storage_engine:" << c.engine << "\r\nstorage_sync:" << c.sync << "\r\nstorage_commits:" << es.commits
       << "\r\nstorage_syncs:" << es.syncs << "\r\nstorage_map_size:" << es.map_size
       << "\r\nstorage_used_bytes:" << es.used_bytes << "\r\nstorage_checkpoints:" << es.checkpoints
       << "\r\nstorage_wal_bytes:" << es.wal_bytes << "\r\nstorage_commit_failures:" << st.commit_failures
       << "\r\n\r\n";
  }
  if (want("stats")) {
    os << "# Stats\r\ntotal_connections_received:" << st.total_connections
       << "\r\ntotal_commands_processed:" << st.total_commands
       << "\r\ninstantaneous_ops_per_sec:" << uint64_t(metrics.ops_per_sec())
       << "\r\ntotal_net_input_bytes:" << st.net_input_bytes
       << "\r\ntotal_net_output_bytes:" << st.net_output_bytes
       << "\r\ninstantaneous_input_kbps:" << Fixed2(metrics.input_kbps())
       << "\r\ninstantaneous_output_kbps:" << Fixed2(metrics.output_kbps()) << "\r\nrejected_connections:"
       << st.rejected_connections << "\r\nexpired_keys:" << st.expired_keys << "\r\nevicted_keys:0\r\nkeyspace_hits:"
       << st.keyspace_hits << "\r\nkeyspace_misses:" << st.keyspace_misses
       << "\r\npubsub_channels:" << s->pubsub().Active(PubSub::Kind::kChannel)
       << "\r\npubsub_patterns:" << s->pubsub().NumPat()
       << "\r\npubsubshard_channels:" << s->pubsub().Active(PubSub::Kind::kShard)
       << "\r\nclient_output_buffer_limit_disconnections:" << st.output_limit_disconnects
       << "\r\ntotal_error_replies:" << metrics.total_errors()
       << "\r\neventloop_cycles:" << st.eventloop_cycles
       << "\r\neventloop_duration_sum:" << st.eventloop_duration_sum_us
       << "\r\neventloop_duration_max:" << st.eventloop_duration_max_us << "\r\n\r\n";
  }
  if (want("replication")) {
    os << "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n";
  }
  if (want("cpu")) {
    rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    os << "# CPU\r\nused_cpu_sys:" << ru.ru_stime.tv_sec << "." << ru.ru_stime.tv_usec / 1000
       << "\r\nused_cpu_user:" << ru.ru_utime.tv_sec << "." << ru.ru_utime.tv_usec / 1000 << "\r\n\r\n";
  }
  for (const char* sec : {"commandstats", "errorstats", "latencystats"}) {
    if (!want(sec)) continue;
    std::string text;
    AppendMetricsInfo(s, sec, &text);
    os << text;
  }
  if (want("cluster")) {
    os << "# Cluster\r\ncluster_enabled:" << (c.redis_cluster_api ? 1 : 0) << "\r\n\r\n";
  }
  if (want("keyspace")) {
    os << "# Keyspace\r\n";
    uint64_t keys = KeyCount(s);
    if (keys > 0) os << "db0:keys=" << keys << ",expires=0,avg_ttl=0\r\n";
    os << "\r\n";
  }
  if (want("dynamo")) {  // server/ops_view.cc, RenderDynamoInfo
    std::ostringstream actor;
    actor << std::hex << s->node()->actor();
    os << RenderDynamoInfo(GatherOpsView(s, /*with_commands=*/false), actor.str(), c.cluster_addr);
  }
  std::string out = os.str();
  if (out.size() >= 2) out.resize(out.size() - 2);  // no trailing blank line
  return out;
}

// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: the same graceful stop as SIGTERM (what was
// acknowledged is durable already; replies in flight are sent), started from the next tick
// rather than from inside a command. The client gets no reply: its connection closes, as with
// Redis. SAVE/NOSAVE/NOW/FORCE change nothing here (there is no snapshot to take).
void CmdShutdown(CommandCtx& ctx) {
  bool save = false, nosave = false;
  for (size_t i = 1; i < ctx.args.size(); i++) {
    std::string o = Lower(ctx.args[i]);
    if (o == "save") save = true;
    else if (o == "nosave") nosave = true;
    else if (o == "abort") return ReplyErr(ctx, "ERR No shutdown in progress.");
    else if (o != "now" && o != "force") return ReplyErr(ctx, "ERR syntax error");
  }
  if (save && nosave) return ReplyErr(ctx, "ERR syntax error");
  Server* s = ctx.server;
  s->Log(cluster::Logger::Level::kInfo, "shutdown requested by a client (SHUTDOWN)");
  ctx.reply.Complete([](std::string*, int) {});
  s->AddPoller([s] {
    s->Shutdown();
    return true;
  });
}

void CmdInfo(CommandCtx& ctx) {
  std::string text = InfoText(ctx.server, {ctx.args.begin() + 1, ctx.args.end()});
  ctx.reply.Send([&](RespWriter& w) { w.Verbatim(text); });
}

// Exact on a single node (this replica's live keys, counted when there are at most
// kExactMax records); in a cluster, or past that size, an estimate: this replica's records
// scaled by (members / N), since each key lives on N of them.
// This replica's live keys: exact on a single node (O(1), kept by the node as it writes); in
// a cluster an estimate, scaled by (members / N) since each key lives on N of them.
uint64_t KeyCount(Server* s) {
  cluster::Node* node = s->node();
  uint64_t live = node->LocalLiveKeyCount();
  size_t members = node->ScanMembers().size();
  if (members <= 1) return live;
  uint64_t copies = std::min<uint64_t>(uint64_t(s->config().n), members);
  return live * members / std::max<uint64_t>(copies, 1);
}

void CmdDbsize(CommandCtx& ctx) {
  uint64_t n = KeyCount(ctx.server);
  ctx.reply.Send([&](RespWriter& w) { w.Int(int64_t(n)); });
}

void CmdTime(CommandCtx& ctx) {
  timeval tv;
  gettimeofday(&tv, nullptr);
  uint64_t us = uint64_t(tv.tv_sec) * 1000000 + uint64_t(tv.tv_usec);
  us = uint64_t(int64_t(us) + ctx.server->config().clock_offset_ms * 1000);  // tests only: skewed clock
  ctx.reply.Send([&](RespWriter& w) {
    w.Array(2);
    w.Bulk(std::to_string(us / 1000000));
    w.Bulk(std::to_string(us % 1000000));
  });
}

void CmdFlush(CommandCtx& ctx) {
  if (ctx.args.size() > 2) return ReplyErr(ctx, "ERR syntax error");
  if (ctx.args.size() == 2) {
    std::string mode = Lower(ctx.args[1]);
    if (mode != "sync" && mode != "async") return ReplyErr(ctx, "ERR syntax error");
  }
  Status s = ctx.node()->FlushLocal();
  if (!s.ok()) return ReplyErr(ctx, ErrorText(s));
  ctx.reply.Send([](RespWriter& w) { w.Ok(); });
}

}  // namespace

void RegisterGeneric(std::vector<CommandSpec>* t) {
  t->insert(t->end(), {
                          {"ping", -1, kCmdFast | kCmdPubSubOk | kCmdNoData, CmdPing, 0, 0, 0},
                          {"echo", 2, kCmdFast | kCmdNoData, CmdEcho, 0, 0, 0},
                          {"quit", -1, kCmdNoAuth | kCmdFast | kCmdPubSubOk | kCmdNoData, CmdQuit, 0, 0, 0},
                          {"auth", -2, kCmdNoAuth | kCmdFast | kCmdNoData, CmdAuth, 0, 0, 0},
                          {"hello", -1, kCmdNoAuth | kCmdFast | kCmdNoData, CmdHello, 0, 0, 0},
                          {"select", 2, kCmdFast | kCmdNoData, CmdSelect, 0, 0, 0},
                          {"client", -2, 0, CmdClient, 0, 0, 0},
                          {"command", -1, kCmdNoData, CmdCommand, 0, 0, 0},
                          {"config", -2, kCmdAdmin, CmdConfig, 0, 0, 0},
                          {"info", -1, 0, CmdInfo, 0, 0, 0},
                          {"shutdown", -1, kCmdAdmin, CmdShutdown, 0, 0, 0},
                          {"dbsize", 1, kCmdReadonly | kCmdFast, CmdDbsize, 0, 0, 0},
                          {"time", 1, kCmdFast | kCmdNoData, CmdTime, 0, 0, 0},
                          {"flushdb", -1, kCmdWrite, CmdFlush, 0, 0, 0},
                          {"flushall", -1, kCmdWrite, CmdFlush, 0, 0, 0},
                      });
}

}  // namespace dynakv::server
