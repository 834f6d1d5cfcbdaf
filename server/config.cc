// server/config.cc: the option table, TOML reader (toml++), flag parser and --help.
#include "server/config.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <toml++/toml.h>

#include "cluster/keyspace.h"
#include "server/tls.h"

namespace dynakv::server {
namespace {

enum class Type { kString, kInt, kStringList, kBool };

struct Option {
  const char* path;   // TOML "section.key"; the long flag is --section.key
  const char* alias;  // short flag without dashes, or nullptr
  Type type;
  const char* help;
  std::function<void*(Config*)> field;  // address of the field
};

template <typename T>
std::function<void*(Config*)> F(T Config::*m) {
  return [m](Config* c) -> void* { return &(c->*m); };
}

const std::vector<Option>& Options() {
  static const std::vector<Option> kOptions = {
      {"node.id", "id", Type::kString, "stable node identity (actor prefix in logs)", F(&Config::node_id)},
      {"node.weight", "weight", Type::kInt, "capacity: this node's share of the 16384 partitions, relative to the others' (1..10000)", F(&Config::weight)},
      {"node.zone", "zone", Type::kString, "failure domain (rack, AZ); a partition's replicas go to distinct zones where possible", F(&Config::zone)},
      {"node.data_dir", "dir", Type::kString, "data directory (LMDB files, incarnation)", F(&Config::data_dir)},
      {"listen.redis", "bind", Type::kString, "RESP listen address host:port", F(&Config::redis_addr)},
      {"listen.memcache", nullptr, Type::kString, "memcached listen address; \"\" disables", F(&Config::memcache_addr)},
      {"listen.advertise_redis", nullptr, Type::kString, "RESP address host:port shown to clients and peers (DYNAMO MEMBERS, CLUSTER SLOTS, MOVED); \"\" = listen.redis, which must then not be a wildcard (0.0.0.0, ::) when cluster.redis_cluster_api is on", F(&Config::advertise_redis)},
      {"listen.http", nullptr, Type::kString, "HTTP address host:port for /metrics (Prometheus), /health and the cluster page; \"\" = off", F(&Config::http_addr)},
      {"listen.cluster", nullptr, Type::kString, "inter-node listen address; \"\" = standalone", F(&Config::cluster_addr)},
      {"cluster.seeds", "seeds", Type::kStringList, "cluster addresses to join through (comma-separated on the command line)", F(&Config::seeds)},
      {"cluster.gossip_interval_ms", nullptr, Type::kInt, "gossip period", F(&Config::gossip_interval_ms)},
      {"cluster.request_timeout_ms", nullptr, Type::kInt, "coordinator timeout before -UNAVAILABLE", F(&Config::request_timeout_ms)},
      {"cluster.read_retry_ms", nullptr, Type::kInt, "ask the other N-R replicas after this many ms (0: every read asks all N)", F(&Config::read_retry_ms)},
      {"cluster.suspect_after_ms", nullptr, Type::kInt, "silence before a peer is suspect", F(&Config::suspect_after_ms)},
      {"cluster.down_after_ms", nullptr, Type::kInt, "silence before a peer is down (temporary)", F(&Config::down_after_ms)},
      {"cluster.anti_entropy_interval_ms", nullptr, Type::kInt, "Merkle anti-entropy round with one peer this often; 0 = off (DYNAMO SYNC only)", F(&Config::anti_entropy_interval_ms)},
      {"cluster.auto_commit", nullptr, Type::kBool, "membership changes (DYNAMO JOIN/LEAVE/REMOVE/REPLACE) take effect at once; false: they wait for DYNAMO COMMIT (review with DYNAMO PLAN)", F(&Config::auto_commit)},
      {"cluster.handoff_concurrency", nullptr, Type::kInt, "partition transfer streams a node runs at once when the ring changes (1..64)", F(&Config::handoff_concurrency)},
      {"cluster.handoff_rate_mb", nullptr, Type::kInt, "handoff send budget per node, MB/s (1..100000)", F(&Config::handoff_rate_mb)},
      {"cluster.redis_cluster_api", nullptr, Type::kBool, "act as a Redis Cluster node for cluster-aware clients: CLUSTER SLOTS/SHARDS/NODES/INFO, READONLY, MOVED after ring changes (README, \"Cluster-aware clients\")", F(&Config::redis_cluster_api)},
      {"cluster.redis_cluster_moved", nullptr, Type::kString, "with redis_cluster_api, who may get one MOVED after a ring change: fetched (connections that fetched a slot map) | all (every RESP connection: for clients that fetch maps on connections of their own, like redis-py and ioredis)", F(&Config::redis_cluster_moved)},
      {"replication.n", "n", Type::kInt, "replicas per key", F(&Config::n)},
      {"replication.r", "r", Type::kInt, "default read quorum", F(&Config::r)},
      {"replication.w", "w", Type::kInt, "default write quorum", F(&Config::w)},
      {"storage.engine", "engine", Type::kString, "lmdb | memory", F(&Config::engine)},
      {"storage.sync", "sync", Type::kString, "always | batch (group commit) | none (unsafe)", F(&Config::sync)},
      {"storage.log_io", nullptr, Type::kString, "direct (O_DIRECT|O_DSYNC log writes; buffered where refused) | buffered (write + fdatasync)", F(&Config::log_io)},
      {"storage.map_size_mb", nullptr, Type::kInt, "initial LMDB map size; grows on demand", F(&Config::map_size_mb)},
      {"storage.map_size_max_mb", nullptr, Type::kInt, "LMDB map never grows past this (then writes fail: disk full)", F(&Config::map_size_max_mb)},
      {"storage.record_cache_mb", nullptr, Type::kInt, "LRU cache of decoded records in front of the engine; 0 = off", F(&Config::record_cache_mb)},
      {"storage.tombstone_grace_s", nullptr, Type::kInt, "keep tombstones at least this long", F(&Config::tombstone_grace_s)},
      {"security.requirepass", "requirepass", Type::kString, "password for AUTH; \"\" = none", F(&Config::requirepass)},
      {"security.cluster_secret", nullptr, Type::kString, "shared secret: peer HMAC and signed context tokens", F(&Config::cluster_secret)},
      {"security.protected_mode", nullptr, Type::kBool, "with no requirepass, refuse clients that do not connect from loopback (127.0.0.0/8, ::1)", F(&Config::protected_mode)},
      {"tls.port", nullptr, Type::kInt, "RESP over TLS on this port (host of listen.redis), beside the plain port; 0 = off", F(&Config::tls_port)},
      {"tls.memcache_port", nullptr, Type::kInt, "memcached over TLS on this port (host of listen.memcache, else of listen.redis); 0 = off", F(&Config::tls_memcache_port)},
      {"tls.cert_file", nullptr, Type::kString, "this node's certificate (PEM, may hold the chain)", F(&Config::tls_cert_file)},
      {"tls.key_file", nullptr, Type::kString, "the certificate's private key (PEM, unencrypted)", F(&Config::tls_key_file)},
      {"tls.ca_cert_file", nullptr, Type::kString, "CA certificates (PEM) that client and peer certificates must chain to", F(&Config::tls_ca_cert_file)},
      {"tls.auth_clients", nullptr, Type::kBool, "true: TLS clients must present a certificate from tls.ca_cert_file; false: optional (checked when sent)", F(&Config::tls_auth_clients)},
      {"tls.cluster", nullptr, Type::kBool, "inter-node traffic over TLS (listen.cluster accepts TLS only); each side checks the other's certificate against tls.ca_cert_file", F(&Config::tls_cluster)},
      {"limits.maxclients", "maxclients", Type::kInt, "maximum client connections", F(&Config::maxclients)},
      {"limits.timeout", "timeout", Type::kInt, "close clients idle this many seconds; 0 = never", F(&Config::timeout_s)},
      {"limits.proto_max_bulk_len", nullptr, Type::kInt, "largest bulk string accepted (bytes)", F(&Config::proto_max_bulk_len)},
      {"limits.max_args", nullptr, Type::kInt, "most arguments in one command", F(&Config::max_args)},
      {"limits.client_output_buffer_limit", nullptr, Type::kInt, "disconnect a reader this far behind (bytes; 0 = no limit)", F(&Config::client_output_buffer_limit)},
      {"limits.client_output_buffer_limit_pubsub", nullptr, Type::kInt, "the same for a subscribed (pub/sub) client (bytes; 0 = no limit)", F(&Config::client_output_buffer_limit_pubsub)},
      {"limits.max_siblings", nullptr, Type::kInt, "most siblings per key; writes beyond fail", F(&Config::max_siblings)},
      {"limits.max_hints", nullptr, Type::kInt, "most hinted records this node holds for unreachable replicas; past it, it refuses to stand in (the write needs W copies elsewhere)", F(&Config::max_hints)},
      {"limits.warn_siblings", nullptr, Type::kInt, "log a warning at this many siblings", F(&Config::warn_siblings)},
      {"limits.memcache_max_item_size", nullptr, Type::kInt, "largest memcached item (bytes)", F(&Config::memcache_max_item_size)},
      {"limits.shutdown_timeout", nullptr, Type::kInt, "after SIGTERM/SIGINT, exit anyway after this many seconds if the shutdown has not finished (a stuck loop); 0 = wait forever", F(&Config::shutdown_timeout_s)},
      {"limits.slowlog_log_slower_than", "slowlog-log-slower-than", Type::kInt, "SLOWLOG records commands that take at least this many microseconds; -1 = off, 0 = every command", F(&Config::slowlog_log_slower_than)},
      {"limits.slowlog_max_len", "slowlog-max-len", Type::kInt, "most SLOWLOG entries kept", F(&Config::slowlog_max_len)},
      {"limits.latency_monitor_threshold", "latency-monitor-threshold", Type::kInt, "LATENCY records commands that take at least this many milliseconds; 0 = off", F(&Config::latency_monitor_threshold)},
      {"debug.enable_debug_command", nullptr, Type::kBool, "allow the DEBUG command (DEBUG SLEEP blocks the node: tests only)", F(&Config::enable_debug_command)},
      {"debug.clock_offset_ms", nullptr, Type::kInt, "tests only, needs debug.enable_debug_command: add this to the node's wall clock (clock-skew tests)", F(&Config::clock_offset_ms)},
      {"log.level", "loglevel", Type::kString, "debug | info | warn | error", F(&Config::log_level)},
      {"log.file", "logfile", Type::kString, "log file (appended to; reopened on SIGHUP, for logrotate); \"\" = stderr", F(&Config::log_file)},
  };
  return kOptions;
}

const Option* FindOption(std::string_view name) {
  for (const auto& o : Options()) {
    if (name == o.path || (o.alias && name == o.alias)) return &o;
  }
  return nullptr;
}

std::string DefaultText(const Option& o) {
  Config def;
  void* p = o.field(&def);
  switch (o.type) {
    case Type::kString: return "\"" + *static_cast<std::string*>(p) + "\"";
    case Type::kInt: return std::to_string(*static_cast<int64_t*>(p));
    case Type::kBool: return *static_cast<bool*>(p) ? "true" : "false";
    case Type::kStringList: {
      std::string s = "[";
      for (auto& x : *static_cast<std::vector<std::string>*>(p)) s += "\"" + x + "\",";
      if (s.size() > 1) s.pop_back();
      return s + "]";
    }
  }
  return "";
}

Status SetFromText(const Option& o, const std::string& text, Config* cfg, const std::string& where) {
  void* p = o.field(cfg);
  switch (o.type) {
    case Type::kString: *static_cast<std::string*>(p) = text; return Status::OK();
    case Type::kInt: {
      try {
        size_t used = 0;
        long long v = std::stoll(text, &used, 10);
        if (used != text.size()) throw std::invalid_argument("trailing");
        *static_cast<int64_t*>(p) = v;
      } catch (...) {
        return Status::Invalid(where + ": " + o.path + ": expected an integer, got '" + text + "'");
      }
      return Status::OK();
    }
    case Type::kBool:
      if (text == "true" || text == "yes" || text == "1") {
        *static_cast<bool*>(p) = true;
      } else if (text == "false" || text == "no" || text == "0") {
        *static_cast<bool*>(p) = false;
      } else {
        return Status::Invalid(where + ": " + o.path + ": expected true or false, got '" + text + "'");
      }
      return Status::OK();
    case Type::kStringList: {
      auto* v = static_cast<std::vector<std::string>*>(p);
      v->clear();
      std::stringstream ss(text);
      std::string item;
      while (std::getline(ss, item, ',')) {
        if (!item.empty()) v->push_back(item);
      }
      return Status::OK();
    }
  }
  return Status::OK();
}

// A TOML syntax error quotes bits of the line it is on ("saw 'x'", "unknown escape '\\q'"):
// when that line belongs to a secret's key = value (the statement starts on a line naming
// requirepass or cluster_secret; a multi-line string goes on below it), those bits could be
// the secret, so the description is replaced.
bool ErrorInSecretStatement(const std::string& text, size_t error_line) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  size_t i = std::min(error_line, lines.size());
  auto starts_statement = [](const std::string& l) {
    size_t p = l.find_first_not_of(" \t");
    if (p == std::string::npos) return false;
    if (l[p] == '[') return true;
    size_t eq = l.find('=', p);
    if (eq == std::string::npos) return false;
    for (size_t k = p; k < eq; k++) {
      char ch = l[k];
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.' ||
            ch == '"' || ch == '\'' || ch == ' ' || ch == '\t')) {
        return false;
      }
    }
    return true;
  };
  for (; i >= 1; i--) {
    const std::string& l = lines[i - 1];
    if (l.find("requirepass") != std::string::npos || l.find("cluster_secret") != std::string::npos) return true;
    if (starts_statement(l)) return false;
  }
  return false;
}

}  // namespace

bool IsSecretOption(const std::string& path) {
  return path == "security.requirepass" || path == "security.cluster_secret";
}

Status SplitHostPort(const std::string& addr, std::string* host, int* port) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= addr.size()) {
    return Status::Invalid("'" + addr + "' is not host:port");
  }
  std::string h = addr.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int p = 0;
  for (size_t i = colon + 1; i < addr.size(); i++) {
    if (addr[i] < '0' || addr[i] > '9') return Status::Invalid("'" + addr + "' has a bad port");
    p = p * 10 + (addr[i] - '0');
    if (p > 65535) return Status::Invalid("'" + addr + "' has a port above 65535");
  }
  *host = h;
  *port = p;
  return Status::OK();
}

std::string AdvertisedRedisAddr(const Config& cfg) {
  return cfg.advertise_redis.empty() ? cfg.redis_addr : cfg.advertise_redis;
}

namespace {

bool IsKeyStart(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-' || c == '"' || c == '\'' || c == ']';
}

// What toml++ 3.3 (Debian 12's) must not see; each was found by tests/fuzz/config_fuzz.cc
// and is a known upstream bug (tomlplusplus issues 190, 294, 295):
//   - a table header whose name starts with anything but a key character ("[&",
//     "[[[1]]]", "[\n"): an internal assertion (abort), undefined behaviour without asserts;
//   - a non-ASCII character where it classifies whitespace (outside strings, in keys,
//     after a backslash in a multi-line string): its Unicode table reaches
//     __builtin_unreachable (undefined behaviour) for most code points.
// TOML allows neither case (bare keys, numbers and the rest are ASCII) except a quoted
// non-ASCII key and a non-ASCII character after a line-ending backslash, which no dynakv
// option needs. Control characters (TOML allows none but tab and line ends) are refused
// too. A lexical pass: strings, comments, and arrays or inline tables that span lines are
// tracked, so only real headers and keys are checked. "" when the text may be parsed.
std::string CheckTomlText(const std::string& text, const std::string& name) {
  size_t line = 1, col = 1;
  auto at = [&](const std::string& what) {
    return name + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + what;
  };
  enum class In { kCode, kComment, kBasic, kLiteral, kMlBasic, kMlLiteral } in = In::kCode;
  std::string open;        // the [ and { open inside a value, innermost last
  bool line_start = true;  // only spaces and tabs so far on this line (outside strings)
  bool key_next = true;    // a key comes next (line start, after '{' or ',' in a table)
  bool header = false;     // on a table header line
  bool key_string = false; // the string being read is a key or a table name
  bool skipping = false;   // after a line-ending backslash in a multi-line string
  char last = '\n';        // the last character outside strings on this line but blanks
  auto is_space = [](unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  for (size_t i = 0; i < text.size(); ++i, ++col) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      char code[8];
      std::snprintf(code, sizeof(code), "%04X", c);
      return at(std::string("control character U+") + code + " is not allowed in TOML");
    }
    bool newline = c == '\n';
    switch (in) {
      case In::kComment:
        if (newline) in = In::kCode;
        break;
      case In::kBasic:
      case In::kLiteral:
        if (c >= 0x80 && key_string) return at("non-ASCII characters in keys are not supported");
        if (newline || c == (in == In::kBasic ? '"' : '\'')) {
          in = In::kCode;
        } else if (in == In::kBasic && c == '\\' && i + 1 < text.size() &&
                   (text[i + 1] == '"' || text[i + 1] == '\\')) {
          ++i, ++col;
        }
        break;
      case In::kMlBasic:
      case In::kMlLiteral: {
        if (c >= 0x80 && key_string) return at("non-ASCII characters in keys are not supported");
        if (skipping && !is_space(c)) {
          skipping = false;
          if (c >= 0x80) return at("non-ASCII character after a line-ending backslash is not supported");
        }
        const char* end = in == In::kMlBasic ? "\"\"\"" : "'''";
        if (in == In::kMlBasic && c == '\\' && i + 1 < text.size()) {
          unsigned char n = static_cast<unsigned char>(text[i + 1]);
          if (n >= 0x80) {
            ++col;
            return at("non-ASCII character after a backslash is not supported");
          }
          if (n == '"' || n == '\\') ++i, ++col;
          else if (is_space(n)) skipping = true;
        } else if (text.compare(i, 3, end) == 0) {
          in = In::kCode;
          i += 2, col += 2;
        }
        break;
      }
      case In::kCode:
        if (c >= 0x80) return at("non-ASCII character outside a string is not valid TOML");
        if (c == '#') {
          in = In::kComment;
        } else if ((c == '"' || c == '\'') &&
                   std::strchr(key_next || header ? "\n[{,." : open.empty() ? "=[," : "=[,\n", last)) {
          // A string starts only where the parser starts a token; elsewhere a quote is part
          // of a bare value the parser scans to its end (and the scan classifies whitespace).
          bool ml = text.compare(i, 3, std::string(3, static_cast<char>(c))) == 0;
          in = c == '"' ? (ml ? In::kMlBasic : In::kBasic) : (ml ? In::kMlLiteral : In::kLiteral);
          key_string = key_next || header;
          if (ml) i += 2, col += 2;
        } else if (c == '[' && line_start && open.empty()) {
          // A table header: '[' or '[[', spaces, then a key (or the parser's own "]" error).
          header = true;
          size_t j = i + 1;
          if (j < text.size() && text[j] == '[') ++j;
          while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j;
          if (j < text.size() && !IsKeyStart(static_cast<unsigned char>(text[j]))) {
            col += j - i;
            return at("expected a table name after '['");
          }
          col += j - i - 1;
          i = j - 1;
        } else if (c == '=' && !header) {
          key_next = false;
        } else if (c == '[' || c == '{') {
          open.push_back(static_cast<char>(c));
          key_next = c == '{';
        } else if ((c == ']' || c == '}') && !open.empty()) {
          open.pop_back();
        } else if (c == ',' && !open.empty()) {
          key_next = open.back() == '{';
        }
        break;
    }
    if (in == In::kCode && c != ' ' && c != '\t' && c != '\r') last = static_cast<char>(c);
    if (newline) {
      ++line;
      col = 0;
      last = '\n';
      line_start = in == In::kCode;
      header = false;
      if (in == In::kCode && open.empty()) key_next = true;
    } else if (c != ' ' && c != '\t' && c != '\r') {
      line_start = false;
    }
  }
  return "";
}

}  // namespace

// [[keyspace]]: an array of tables, each with prefix (required), n, r, w and conflict.
static Status ApplyKeyspaces(const toml::node& node, const std::string& name, Config* cfg) {
  const toml::array* arr = node.as_array();
  if (!arr || !arr->is_array_of_tables()) {
    return Status::Invalid(name + ": 'keyspace' must be [[keyspace]] tables (prefix, n, r, w, conflict)");
  }
  cfg->keyspaces.clear();
  size_t i = 0;
  for (auto&& el : *arr) {
    ++i;
    const toml::table* t = el.as_table();
    const std::string where = name + ": [[keyspace]] #" + std::to_string(i) + ": ";
    Config::Keyspace k;
    bool has_prefix = false;
    for (auto&& [key, value] : *t) {
      std::string_view kn = key.str();
      if (kn == "prefix" || kn == "conflict") {
        if (!value.is_string()) return Status::Invalid(where + std::string(kn) + ": expected a string");
        (kn == "prefix" ? k.prefix : k.conflict) = value.as_string()->get();
        has_prefix = has_prefix || kn == "prefix";
      } else if (kn == "n" || kn == "r" || kn == "w") {
        if (!value.is_integer()) return Status::Invalid(where + std::string(kn) + ": expected an integer");
        int64_t v = value.as_integer()->get();
        (kn == "n" ? k.n : kn == "r" ? k.r : k.w) = v;
        if (v < 1 || v > 16) return Status::Invalid(where + std::string(kn) + ": must be in 1..16");
      } else {
        return Status::Invalid(where + "unknown key '" + std::string(kn) +
                               "' (a keyspace has prefix, n, r, w and conflict)");
      }
    }
    if (!has_prefix) return Status::Invalid(where + "prefix: missing (the key prefix it covers)");
    cfg->keyspaces.push_back(std::move(k));
  }
  return Status::OK();
}

Status ApplyToml(const std::string& text, const std::string& name, Config* cfg) {
  if (std::string bad = CheckTomlText(text, name); !bad.empty()) return Status::Invalid(bad);
  toml::table tbl;
  try {
    tbl = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": ";
    if (ErrorInSecretStatement(text, e.source().begin.line)) {
      os << "bad value for a secret (security.requirepass or security.cluster_secret; not shown)";
    } else {
      os << e.description();
    }
    return Status::Invalid(os.str());
  }
  // Unknown sections and keys are errors: a typo must not silently fall back to a default.
  for (auto&& [section, node] : tbl) {
    if (section.str() == "keyspace") {
      if (Status s = ApplyKeyspaces(node, name, cfg); !s.ok()) return s;
      continue;
    }
    const toml::table* sec = node.as_table();
    if (!sec) return Status::Invalid(name + ": '" + std::string(section.str()) + "' must be a [section]");
    for (auto&& [key, value] : *sec) {
      std::string path = std::string(section.str()) + "." + std::string(key.str());
      // Accept "limits.timeout" (Redis's name) for the idle timeout.
      const Option* o = nullptr;
      for (const auto& opt : Options()) {
        if (path == opt.path) o = &opt;
      }
      if (!o && path == "cluster.tokens") {
        return Status::Invalid(name + ": 'cluster.tokens' is gone: the ring has 16384 fixed "
                               "partitions; give a bigger machine a bigger node.weight instead");
      }
      if (!o) return Status::Invalid(name + ": unknown key '" + path + "'");
      void* p = o->field(cfg);
      switch (o->type) {
        case Type::kString:
          if (!value.is_string()) return Status::Invalid(name + ": " + path + ": expected a string");
          *static_cast<std::string*>(p) = value.as_string()->get();
          break;
        case Type::kInt:
          if (!value.is_integer()) return Status::Invalid(name + ": " + path + ": expected an integer");
          *static_cast<int64_t*>(p) = value.as_integer()->get();
          break;
        case Type::kBool:
          if (!value.is_boolean()) return Status::Invalid(name + ": " + path + ": expected true or false");
          *static_cast<bool*>(p) = value.as_boolean()->get();
          break;
        case Type::kStringList: {
          const toml::array* arr = value.as_array();
          if (!arr) return Status::Invalid(name + ": " + path + ": expected an array of strings");
          auto* v = static_cast<std::vector<std::string>*>(p);
          v->clear();
          for (auto&& el : *arr) {
            if (!el.is_string()) return Status::Invalid(name + ": " + path + ": expected an array of strings");
            v->push_back(el.as_string()->get());
          }
          break;
        }
      }
    }
  }
  return Status::OK();
}

Config::Keyspace ResolvedKeyspace(const Config& cfg, const Config::Keyspace& k) {
  Config::Keyspace out = k;
  if (out.n == 0) out.n = cfg.n;
  if (out.r == 0) out.r = std::min(cfg.r, out.n);
  if (out.w == 0) out.w = std::min(cfg.w, out.n);
  return out;
}

Status Validate(const Config& c) {
  const std::string where = c.config_file.empty() ? "command line" : c.config_file;
  auto bad = [&](const std::string& key, const std::string& what) {
    return Status::Invalid(where + ": " + key + ": " + what);
  };
  if (c.node_id.empty() || c.node_id.size() > 64) return bad("node.id", "must be 1..64 characters");
  for (char ch : c.node_id) {
    if (ch <= ' ' || ch > '~') return bad("node.id", "must be printable ASCII without spaces");
  }
  if (c.data_dir.empty()) return bad("node.data_dir", "must not be empty");
  std::string h;
  int p;
  if (Status s = SplitHostPort(c.redis_addr, &h, &p); !s.ok()) return bad("listen.redis", s.message());
  if (!c.advertise_redis.empty()) {
    if (Status s = SplitHostPort(c.advertise_redis, &h, &p); !s.ok()) return bad("listen.advertise_redis", s.message());
    if (h.empty() || h == "0.0.0.0" || h == "::" || p == 0) {
      return bad("listen.advertise_redis", "must name a host and port clients can reach, not a wildcard");
    }
  } else if (c.redis_cluster_api) {
    SplitHostPort(c.redis_addr, &h, &p).ok();
    if (h.empty() || h == "0.0.0.0" || h == "::" || p == 0) {
      return bad("listen.advertise_redis", "must be set when listen.redis ('" + c.redis_addr +
                                               "') is a wildcard or port 0 and cluster.redis_cluster_api is on: "
                                               "clients are sent to this address");
    }
  }
  if (c.redis_cluster_moved != "fetched" && c.redis_cluster_moved != "all") {
    return bad("cluster.redis_cluster_moved", "must be fetched or all");
  }
  if (!c.memcache_addr.empty()) {
    if (Status s = SplitHostPort(c.memcache_addr, &h, &p); !s.ok()) return bad("listen.memcache", s.message());
  }
  if (!c.cluster_addr.empty()) {
    if (Status s = SplitHostPort(c.cluster_addr, &h, &p); !s.ok()) return bad("listen.cluster", s.message());
  }
  if (!c.http_addr.empty()) {
    if (Status s = SplitHostPort(c.http_addr, &h, &p); !s.ok()) return bad("listen.http", s.message());
  }
  for (const auto& seed : c.seeds) {
    if (Status s = SplitHostPort(seed, &h, &p); !s.ok()) return bad("cluster.seeds", s.message());
  }
  if (c.slowlog_log_slower_than < -1) return bad("limits.slowlog_log_slower_than", "must be >= -1");
  if (c.slowlog_max_len < 0) return bad("limits.slowlog_max_len", "must be >= 0");
  if (c.latency_monitor_threshold < 0) return bad("limits.latency_monitor_threshold", "must be >= 0");
  if (c.weight < 1 || c.weight > 10000) return bad("node.weight", "must be in 1..10000");
  if (c.zone.size() > 255) return bad("node.zone", "must be at most 255 bytes");
  if (c.n < 1 || c.n > 16) return bad("replication.n", "must be in 1..16");
  if (c.r < 1 || c.r > c.n) return bad("replication.r", "must be in 1..n (n = " + std::to_string(c.n) + ")");
  if (c.w < 1 || c.w > c.n) return bad("replication.w", "must be in 1..n (n = " + std::to_string(c.n) + ")");
  if (c.cluster_addr.empty() && c.n > 1) return bad("replication.n", "n > 1 needs listen.cluster");
  if (c.keyspaces.size() > cluster::kMaxKeyspaces) {
    return bad("keyspace", "at most " + std::to_string(cluster::kMaxKeyspaces) + " [[keyspace]] entries");
  }
  for (size_t i = 0; i < c.keyspaces.size(); ++i) {
    const Config::Keyspace k = ResolvedKeyspace(c, c.keyspaces[i]);
    const std::string key = "keyspace \"" + k.prefix + "\"";
    if (k.prefix.empty()) {
      return bad("keyspace #" + std::to_string(i + 1), "prefix must not be empty (set the default in [replication])");
    }
    if (k.prefix.size() > cluster::kMaxKeyspacePrefix) {
      return bad("keyspace #" + std::to_string(i + 1), "prefix longer than " + std::to_string(cluster::kMaxKeyspacePrefix) + " bytes");
    }
    for (size_t j = 0; j < i; ++j) {
      if (c.keyspaces[j].prefix == k.prefix) return bad(key, "the prefix appears twice");
    }
    if (k.n < 1 || k.n > 16) return bad(key + ".n", "must be in 1..16");
    if (k.r < 1 || k.r > k.n) return bad(key + ".r", "must be in 1..n (n = " + std::to_string(k.n) + ")");
    if (k.w < 1 || k.w > k.n) return bad(key + ".w", "must be in 1..n (n = " + std::to_string(k.n) + ")");
    if (c.cluster_addr.empty() && k.n > 1) return bad(key + ".n", "n > 1 needs listen.cluster");
    if (k.conflict != "siblings" && k.conflict != "lww") return bad(key + ".conflict", "must be siblings or lww");
  }
  if (c.engine != "lmdb" && c.engine != "memory") return bad("storage.engine", "must be \"lmdb\" or \"memory\"");
  if (c.sync != "always" && c.sync != "batch" && c.sync != "none") return bad("storage.sync", "must be always, batch or none");
  if (c.log_io != "direct" && c.log_io != "buffered") return bad("storage.log_io", "must be direct or buffered");
  if (c.map_size_mb < 1) return bad("storage.map_size_mb", "must be >= 1");
  if (c.map_size_max_mb < c.map_size_mb) return bad("storage.map_size_max_mb", "must be >= storage.map_size_mb");
  if (c.record_cache_mb < 0) return bad("storage.record_cache_mb", "must be >= 0");
  if (c.gossip_interval_ms < 10) return bad("cluster.gossip_interval_ms", "must be >= 10");
  if (c.request_timeout_ms < 10) return bad("cluster.request_timeout_ms", "must be >= 10");
  if (c.read_retry_ms < 0 || c.read_retry_ms > c.request_timeout_ms) {
    return bad("cluster.read_retry_ms", "must be between 0 and cluster.request_timeout_ms");
  }
  if (c.suspect_after_ms <= c.gossip_interval_ms) return bad("cluster.suspect_after_ms", "must exceed the gossip interval");
  if (c.down_after_ms < c.suspect_after_ms) return bad("cluster.down_after_ms", "must be >= suspect_after_ms");
  if (c.handoff_concurrency < 1 || c.handoff_concurrency > 64) {
    return bad("cluster.handoff_concurrency", "must be in 1..64");
  }
  if (c.handoff_rate_mb < 1 || c.handoff_rate_mb > 100000) {
    return bad("cluster.handoff_rate_mb", "must be in 1..100000");
  }
  if (c.anti_entropy_interval_ms != 0 && c.anti_entropy_interval_ms < 100) {
    return bad("cluster.anti_entropy_interval_ms", "must be 0 (off) or >= 100");
  }
  if (c.maxclients < 1) return bad("limits.maxclients", "must be >= 1");
  if (c.timeout_s < 0) return bad("limits.timeout", "must be >= 0");
  if (c.proto_max_bulk_len < 1024) return bad("limits.proto_max_bulk_len", "must be >= 1024");
  if (c.max_args < 16) return bad("limits.max_args", "must be >= 16");
  if (c.client_output_buffer_limit < 0) return bad("limits.client_output_buffer_limit", "must be >= 0");
  if (c.client_output_buffer_limit_pubsub < 0) return bad("limits.client_output_buffer_limit_pubsub", "must be >= 0");
  if (c.max_siblings < 1) return bad("limits.max_siblings", "must be >= 1");
  if (c.max_hints < 0) return bad("limits.max_hints", "must be >= 0");
  if (c.clock_offset_ms != 0 && !c.enable_debug_command) {
    return bad("debug.clock_offset_ms", "is for tests only: it needs debug.enable_debug_command = true");
  }
  constexpr int64_t kMaxOffset = 10ll * 365 * 24 * 3600 * 1000;  // ten years
  if (c.clock_offset_ms < -kMaxOffset || c.clock_offset_ms > kMaxOffset) {
    return bad("debug.clock_offset_ms", "must be within ten years (+-315360000000)");
  }
  if (c.warn_siblings < 1) return bad("limits.warn_siblings", "must be >= 1");
  if (c.shutdown_timeout_s < 0 || c.shutdown_timeout_s > 86400) return bad("limits.shutdown_timeout", "must be in 0..86400");
  if (c.memcache_max_item_size < 1024) return bad("limits.memcache_max_item_size", "must be >= 1024");
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error")
    return bad("log.level", "must be debug, info, warn or error");
  if (Status s = CheckTlsConfig(c); !s.ok()) return Status::Invalid(where + ": " + s.message());
  return Status::OK();
}

Status ParseCommandLine(int argc, char** argv, Config* cfg, bool* help_requested) {
  *help_requested = false;
  // Pass 1: --help and --config (the file is applied first; flags override it).
  std::vector<std::pair<std::string, std::string>> flags;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      *help_requested = true;
      return Status::OK();
    }
    if (a.rfind("--", 0) != 0) {
      // After a secret's flag name ("--x --requirepass pw" gives --x that name as its value)
      // this argument is the secret: say where it is, not what it is.
      std::string prev = i > 1 ? std::string(argv[i - 1]) : "";
      const Option* po = prev.rfind("--", 0) == 0 ? FindOption(prev.substr(2)) : nullptr;
      if (po && IsSecretOption(po->path)) {
        return Status::Invalid("unexpected argument after " + prev + " (see --help)");
      }
      return Status::Invalid("unexpected argument '" + a + "' (see --help)");
    }
    std::string name = a.substr(2), value;
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= argc) return Status::Invalid("flag --" + name + " needs a value");
      value = argv[++i];
    }
    flags.emplace_back(name, value);
  }
  for (auto& [name, value] : flags) {
    if (name != "config") continue;
    std::ifstream in(value, std::ios::binary);
    if (!in) return Status::Invalid(value + ": cannot open config file");
    std::stringstream ss;
    ss << in.rdbuf();
    cfg->config_file = value;
    if (Status s = ApplyToml(ss.str(), value, cfg); !s.ok()) return s;
  }
  for (auto& [name, value] : flags) {
    if (name == "config") continue;
    if (name == "port") {  // Redis-style: --port N keeps the host of listen.redis
      std::string h = "127.0.0.1";
      int p;
      if (SplitHostPort(cfg->redis_addr, &h, &p).ok()) {}
      cfg->redis_addr = h + ":" + value;
      continue;
    }
    const Option* o = FindOption(name);
    if (!o) return Status::Invalid("unknown flag --" + name + " (see --help)");
    if (Status s = SetFromText(*o, value, cfg, "flag --" + name); !s.ok()) return s;
  }
  return Validate(*cfg);
}

std::string HelpText() {
  std::ostringstream os;
  os << "usage: dynakv-server [--config FILE] [--OPTION VALUE ...]\n\n"
        "With no config, starts a single node on 127.0.0.1:6379 (N=R=W=1, LMDB in ./data).\n"
        "Every option below can be set in the TOML file as [section] key = value, or on the\n"
        "command line as --section.key VALUE (flags override the file).\n\n";
  os << "  --config FILE              TOML configuration file\n";
  os << "  --port N                   shorthand: port of listen.redis\n";
  for (const auto& o : Options()) {
    std::string flag = std::string("--") + o.path;
    if (o.alias) flag += std::string(", --") + o.alias;
    os << "  " << flag;
    for (size_t i = flag.size(); i < 44; i++) os << ' ';
    os << " " << o.help << " (default " << DefaultText(o) << ")\n";
  }
  os << "\nKeyspace policies, in the TOML file only: [[keyspace]] tables with prefix (required),\n"
        "n, r, w (default: the replication.* values, r and w at most n) and conflict\n"
        "(\"siblings\" or \"lww\"); the longest prefix of a key wins (README, \"Keyspace policies\").\n";
  return os.str();
}

}  // namespace dynakv::server
