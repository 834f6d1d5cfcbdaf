// server/config.h: the node's configuration: defaults, the TOML file (the README, "Configuration") and
// command-line flags, parsed once into plain structs.
//
// Options are declared in one table (after Pelikan): each has a TOML path
// ("replication.n"), a flag (--replication.n, plus short aliases like --port), a default and
// a help line. The same table drives the TOML reader, the flag parser and --help, so they
// cannot drift apart. A bad file stops start-up with the file, the key and what is wrong.
// Thread-safety: parse once at start-up; the result is an immutable value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/status.h"

namespace dynakv::server {

struct Config {
  // [node]
  std::string node_id = "n1";
  std::string data_dir = "./data";
  int64_t weight = 100;  // share of the partitions, relative to the other nodes
  std::string zone;      // failure domain
  // [listen]
  std::string redis_addr = "127.0.0.1:6379";
  std::string memcache_addr;  // "" disables the memcached listener
  std::string cluster_addr;   // "" = standalone node (no inter-node listener)
  std::string http_addr;      // /metrics, /health, the cluster page; "" = off (server/http_listener.h)
  // The RESP address other nodes show clients (DYNAMO MEMBERS, CLUSTER SLOTS, MOVED);
  // "" = listen.redis. Must name a real host when listen.redis binds 0.0.0.0 or [::].
  std::string advertise_redis;
  // [cluster]
  std::vector<std::string> seeds;
  int64_t gossip_interval_ms = 200;
  int64_t request_timeout_ms = 1000;
  int64_t read_retry_ms = 50;
  int64_t suspect_after_ms = 2000;
  int64_t down_after_ms = 5000;
  int64_t anti_entropy_interval_ms = 10000;  // Merkle anti-entropy round period; 0 = off
  bool auto_commit = true;          // membership changes at once; false = staged (PLAN/COMMIT)
  int64_t handoff_concurrency = 2;  // partition transfer streams at once (Riak's transfer_limit)
  int64_t handoff_rate_mb = 32;     // handoff send budget, MB/s
  bool redis_cluster_api = false;   // answer CLUSTER SLOTS/NODES/... as a Redis Cluster node
  // Which connections may get MOVED after a ring change: "fetched" (those that fetched a
  // slot map) or "all" (every RESP connection, as if it fetched one when it connected).
  std::string redis_cluster_moved = "fetched";
  // [replication]
  int64_t n = 1, r = 1, w = 1;
  // [[keyspace]] (cluster/keyspace.h; README, "Keyspace policies"): TOML only. 0 = not
  // given: n takes replication.n, r and w take replication.r/w (at most the entry's n).
  struct Keyspace {
    std::string prefix;
    int64_t n = 0, r = 0, w = 0;
    std::string conflict = "siblings";  // siblings | lww
  };
  std::vector<Keyspace> keyspaces;
  // [storage]
  std::string engine = "lmdb";  // lmdb | memory
  std::string sync = "batch";   // always | batch | none
  std::string log_io = "direct";  // direct | buffered (sync = batch only)
  int64_t map_size_mb = 1024;
  int64_t map_size_max_mb = 1024 * 1024;
  int64_t tombstone_grace_s = 600;
  int64_t record_cache_mb = 64;
  // [security]
  std::string requirepass;
  std::string cluster_secret;
  // Protected mode (Redis's): with no requirepass, clients from non-loopback addresses are
  // refused with -DENIED (memcached port: SERVER_ERROR) and disconnected.
  bool protected_mode = true;
  // [tls] (server/tls.h; README, "Security → TLS")
  int64_t tls_port = 0;            // RESP over TLS on listen.redis's host; 0 = off
  int64_t tls_memcache_port = 0;   // memcached over TLS on listen.memcache's (else listen.redis's) host
  std::string tls_cert_file, tls_key_file, tls_ca_cert_file;  // PEM
  bool tls_auth_clients = true;    // require a client certificate (Redis's tls-auth-clients yes)
  bool tls_cluster = false;        // inter-node traffic over TLS, certificates checked both ways
  // [limits]
  int64_t maxclients = 10000;
  int64_t timeout_s = 0;  // idle client timeout; 0 = never (Redis default)
  int64_t proto_max_bulk_len = 512ll * 1024 * 1024;
  int64_t max_args = 1024 * 1024;
  int64_t client_output_buffer_limit = 1024ll * 1024 * 1024;  // bytes; 0 = unlimited
  int64_t client_output_buffer_limit_pubsub = 32ll * 1024 * 1024;  // subscribed clients (Redis's hard pubsub limit)
  int64_t max_siblings = 100;
  int64_t max_hints = 100000;  // hinted records a node holds for others (cluster/hints.h)
  int64_t warn_siblings = 25;
  int64_t memcache_max_item_size = 1024 * 1024;
  // SLOWLOG and LATENCY (server/metrics.h), as Redis 7's options of the same names.
  int64_t slowlog_log_slower_than = 10000;  // usec; -1 = off, 0 = every command
  int64_t slowlog_max_len = 128;
  int64_t latency_monitor_threshold = 0;  // ms; 0 = off
  int64_t shutdown_timeout_s = 10;  // SIGTERM/SIGINT: exit anyway after this long; 0 = wait forever
  // [debug]
  bool enable_debug_command = false;  // DEBUG (SLEEP), as Redis 7's enable-debug-command
  int64_t clock_offset_ms = 0;  // tests only (needs enable_debug_command): added to the wall clock
  // [log]
  std::string log_level = "info";  // debug | info | warn | error
  std::string log_file;            // "" = stderr; reopened on SIGHUP (server/log.h)

  std::string config_file;  // the file it came from, if any
};

// Parses argv. Fills *cfg and returns OK; returns Invalid with a message that names the file,
// key and problem for a bad file or flag. Sets *help_requested for --help (cfg untouched).
Status ParseCommandLine(int argc, char** argv, Config* cfg, bool* help_requested);

// Applies a TOML document (text) to cfg; `name` is used in error messages.
Status ApplyToml(const std::string& text, const std::string& name, Config* cfg);

// The option paths whose values are secrets (security.requirepass, security.cluster_secret):
// never echoed in errors, --help, logs, CONFIG GET or INFO.
bool IsSecretOption(const std::string& path);

// Cross-field checks: r,w <= n, addresses parse, sync/engine names, etc.
Status Validate(const Config& cfg);

// A [[keyspace]] entry with n, r and w resolved (the defaults filled in).
Config::Keyspace ResolvedKeyspace(const Config& cfg, const Config::Keyspace& k);

// The --help text: every option, its flag, default and meaning.
std::string HelpText();

// "host:port" -> parts. Invalid on a malformed address.
Status SplitHostPort(const std::string& addr, std::string* host, int* port);

// The RESP address this node advertises: listen.advertise_redis, or else listen.redis.
std::string AdvertisedRedisAddr(const Config& cfg);

}  // namespace dynakv::server
