// Unit tests for server/config: TOML schema, flag overrides, validation messages, --help.
#include <gtest/gtest.h>

#include "server/config.h"

namespace dynakv::server {
namespace {

TEST(ConfigTest, DefaultsAreAStandaloneNode) {
  Config c;
  EXPECT_EQ(c.redis_addr, "127.0.0.1:6379");
  EXPECT_EQ(c.n, 1);
  EXPECT_EQ(c.r, 1);
  EXPECT_EQ(c.w, 1);
  EXPECT_EQ(c.engine, "lmdb");
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_TRUE(Validate(c).ok());
}

TEST(ConfigTest, ParsesTheDesignSchema) {
  const char* text = R"(
[node]
id = "n7"
data_dir = "/tmp/x"
weight = 250
zone = "rack-2"
[listen]
redis = "127.0.0.1:7000"
memcache = ""
cluster = "127.0.0.1:7100"
[cluster]
seeds = ["127.0.0.1:7101", "127.0.0.1:7102"]
[replication]
n = 3
r = 2
w = 2
[storage]
engine = "memory"
sync = "always"
[security]
requirepass = "pw"
cluster_secret = "s3cret"
)";
  Config c;
  ASSERT_TRUE(ApplyToml(text, "t.toml", &c).ok());
  EXPECT_EQ(c.node_id, "n7");
  EXPECT_EQ(c.cluster_addr, "127.0.0.1:7100");
  ASSERT_EQ(c.seeds.size(), 2u);
  EXPECT_EQ(c.seeds[1], "127.0.0.1:7102");
  EXPECT_EQ(c.weight, 250);
  EXPECT_EQ(c.zone, "rack-2");
  EXPECT_EQ(c.n, 3);
  EXPECT_EQ(c.sync, "always");
  EXPECT_EQ(c.requirepass, "pw");
  EXPECT_EQ(c.cluster_secret, "s3cret");
  EXPECT_TRUE(Validate(c).ok());
}

TEST(ConfigTest, ErrorsNameFileAndKey) {
  Config c;
  Status s = ApplyToml("[replication]\nn = \"three\"\n", "bad.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("bad.toml"), std::string::npos);
  EXPECT_NE(s.message().find("replication.n"), std::string::npos);

  s = ApplyToml("[replication]\nnn = 3\n", "bad.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("unknown key 'replication.nn'"), std::string::npos);

  s = ApplyToml("[replication\nn = 3\n", "broken.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("broken.toml:1"), std::string::npos);

  s = ApplyToml("top = 1\n", "bad.toml", &c);
  EXPECT_FALSE(s.ok());
}

// Found by tests/fuzz/config_fuzz.cc: a table header whose name starts with anything but a
// key character ("[&", "[\0", "[[[1]]]") tripped an assertion inside toml++ 3.3 (abort).
// Such headers and control characters are refused before parsing, with file, line, column.
TEST(ConfigTest, MalformedHeadersAndControlCharactersAreRefusedWithTheirPlace) {
  Config c;
  Status s = ApplyToml(std::string("[\0node]\nid = \"n9\"\n", 18), "nul.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "nul.toml:1:2: expected a table name after '['");
  s = ApplyToml("[node]\nid = \"n9\"\n[*n9\"\nweight = 4\n", "star.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "star.toml:3:2: expected a table name after '['");
  for (const char* text : {"[&", "[[[1]]]", "[[ {", "  [\n", "[\t@x]\n", "[\xc3\xa9]\n"}) {
    s = ApplyToml(text, "h.toml", &c);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_NE(s.message().find("expected a table name after '['"), std::string::npos) << text;
  }
  s = ApplyToml("[node]\nid = \"a\x01" "b\"\n", "ctl.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "ctl.toml:2:8: control character U+0001 is not allowed in TOML");
  s = ApplyToml("# comment \x7f\n", "del.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "del.toml:1:11: control character U+007F is not allowed in TOML");
  // toml++ 3.3 classifies these as whitespace through a table with holes (undefined
  // behaviour): non-ASCII outside strings, in keys, right after a backslash.
  s = ApplyToml("[node]\nweight = 1\xc2\xa7\n", "u.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "u.toml:2:11: non-ASCII character outside a string is not valid TOML");
  s = ApplyToml("[node]\n\"\xc3\xa9\" = 1\n", "k.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "k.toml:2:2: non-ASCII characters in keys are not supported");
  s = ApplyToml("[node]\nzone = { \"x\" = 1, '\xc3\xa9' = 2 }\n", "k2.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("non-ASCII characters in keys"), std::string::npos);
  s = ApplyToml("[node]\nzone = \"\"\"\\\n  \xc2\xa7\"\"\"\n", "b.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "b.toml:3:3: non-ASCII character after a line-ending backslash is not supported");
  EXPECT_EQ(c.node_id, "n1");  // nothing applied
  // Non-ASCII in string values and comments is fine.
  ASSERT_TRUE(ApplyToml("[node]  # \xc3\xa9\nzone = \"r\xc3\xa9gion\"\n", "v.toml", &c).ok());
  EXPECT_EQ(c.zone, "r\xc3\xa9gion");
  // Not headers: '[' inside strings, comments and values that span lines. Tabs, CRLF.
  const char* fine =
      "# [& in a comment\r\n"
      "[ node ]\r\n"
      "id\t= \"n9\"  # [*\r\n"
      "zone = \"\"\"\n[&\\\"\"\"\"\n"
      "[\"cluster\"]\n"
      "seeds = [\n"
      "  \"a:1\", '[b:2'\n"
      "]\n";
  s = ApplyToml(fine, "ok.toml", &c);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(c.node_id, "n9");
  EXPECT_EQ(c.zone, "[&\"");
  EXPECT_EQ(c.seeds, (std::vector<std::string>{"a:1", "[b:2"}));
}

TEST(ConfigTest, ValidateCatchesInconsistentQuorums) {
  Config c;
  c.cluster_addr = "127.0.0.1:7000";
  c.n = 3;
  c.r = 4;
  c.config_file = "q.toml";
  Status s = Validate(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("q.toml"), std::string::npos);
  EXPECT_NE(s.message().find("replication.r"), std::string::npos);
  c.r = 2;
  c.sync = "sometimes";
  EXPECT_NE(Validate(c).message().find("storage.sync"), std::string::npos);
  c.sync = "batch";
  c.redis_addr = "nohostport";
  EXPECT_NE(Validate(c).message().find("listen.redis"), std::string::npos);
  Config standalone;
  standalone.n = 3;
  EXPECT_FALSE(Validate(standalone).ok());  // n > 1 needs a cluster listener
}

TEST(ConfigTest, AntiEntropyInterval) {
  Config c;
  EXPECT_EQ(c.anti_entropy_interval_ms, 10000);
  ASSERT_TRUE(ApplyToml("[cluster]\nanti_entropy_interval_ms = 0\n", "ae.toml", &c).ok());
  EXPECT_EQ(c.anti_entropy_interval_ms, 0);
  EXPECT_TRUE(Validate(c).ok());  // 0 = off
  c.anti_entropy_interval_ms = 50;
  EXPECT_NE(Validate(c).message().find("cluster.anti_entropy_interval_ms"), std::string::npos);
  c.anti_entropy_interval_ms = -1;
  EXPECT_FALSE(Validate(c).ok());
  c.anti_entropy_interval_ms = 500;
  EXPECT_TRUE(Validate(c).ok());
}

TEST(ConfigTest, ClockOffsetIsForTestsOnly) {
  Config c;
  EXPECT_EQ(c.clock_offset_ms, 0);
  ASSERT_TRUE(ApplyToml("[debug]\nclock_offset_ms = 10800000\n", "skew.toml", &c).ok());
  EXPECT_EQ(c.clock_offset_ms, 10800000);
  Status s = Validate(c);  // without enable_debug_command: refused, naming the key
  EXPECT_NE(s.message().find("debug.clock_offset_ms"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("debug.enable_debug_command"), std::string::npos) << s.message();
  c.enable_debug_command = true;
  EXPECT_TRUE(Validate(c).ok());
  c.clock_offset_ms = -10800000;
  EXPECT_TRUE(Validate(c).ok());
  c.clock_offset_ms = 400ll * 24 * 3600 * 1000 * 10;  // > ten years
  EXPECT_NE(Validate(c).message().find("ten years"), std::string::npos);
}

TEST(ConfigTest, FlagsOverrideTheFile) {
  char a0[] = "dynakv-server", a1[] = "--port", a2[] = "7777", a3[] = "--replication.w=1",
       a4[] = "--dir", a5[] = "/tmp/d", a6[] = "--seeds", a7[] = "1.2.3.4:1,5.6.7.8:2";
  char* argv[] = {a0, a1, a2, a3, a4, a5, a6, a7};
  Config c;
  bool help = false;
  Status s = ParseCommandLine(8, argv, &c, &help);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(help);
  EXPECT_EQ(c.redis_addr, "127.0.0.1:7777");
  EXPECT_EQ(c.w, 1);
  EXPECT_EQ(c.data_dir, "/tmp/d");
  ASSERT_EQ(c.seeds.size(), 2u);
}

TEST(ConfigTest, BadFlagsAreRefused) {
  char a0[] = "dynakv-server", a1[] = "--nope", a2[] = "1";
  char* argv[] = {a0, a1, a2};
  Config c;
  bool help = false;
  Status s = ParseCommandLine(3, argv, &c, &help);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--nope"), std::string::npos);

  char b1[] = "--replication.n", b2[] = "x";
  char* argv2[] = {a0, b1, b2};
  s = ParseCommandLine(3, argv2, &c, &help);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("integer"), std::string::npos);

  char c1[] = "--config", c2[] = "/nonexistent/dynakv.toml";
  char* argv3[] = {a0, c1, c2};
  s = ParseCommandLine(3, argv3, &c, &help);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent/dynakv.toml"), std::string::npos);
}

TEST(ConfigTest, HelpListsEveryOptionWithDefault) {
  std::string h = HelpText();
  for (const char* key : {"node.id", "node.data_dir", "listen.redis", "listen.memcache", "listen.cluster",
                          "cluster.seeds", "node.weight", "node.zone", "replication.n", "replication.r", "replication.w",
                          "storage.engine", "storage.sync", "security.requirepass", "security.cluster_secret",
                          "limits.maxclients", "limits.timeout", "limits.proto_max_bulk_len"}) {
    EXPECT_NE(h.find(key), std::string::npos) << key;
  }
  EXPECT_NE(h.find("(default 100)"), std::string::npos);
  EXPECT_NE(h.find("[[keyspace]] tables with prefix"), std::string::npos);
  char a0[] = "dynakv-server", a1[] = "--help";
  char* argv[] = {a0, a1};
  Config c;
  bool help = false;
  EXPECT_TRUE(ParseCommandLine(2, argv, &c, &help).ok());
  EXPECT_TRUE(help);
}

TEST(ConfigTest, SplitHostPort) {
  std::string h;
  int p = 0;
  EXPECT_TRUE(SplitHostPort("127.0.0.1:6379", &h, &p).ok());
  EXPECT_EQ(h, "127.0.0.1");
  EXPECT_EQ(p, 6379);
  EXPECT_TRUE(SplitHostPort("[::1]:80", &h, &p).ok());
  EXPECT_EQ(h, "::1");
  EXPECT_FALSE(SplitHostPort("host", &h, &p).ok());
  EXPECT_FALSE(SplitHostPort("host:99999", &h, &p).ok());
  EXPECT_FALSE(SplitHostPort("host:12a", &h, &p).ok());
  EXPECT_FALSE(SplitHostPort(":12", &h, &p).ok());
}

}  // namespace
}  // namespace dynakv::server

namespace dynakv::server {
namespace {

// The token ring is gone: an old config that still sets cluster.tokens is told what to do
// instead; weights outside 1..10000 are refused, naming the key.
TEST(ConfigTest, TokensAreGoneAndWeightIsBounded) {
  Config c;
  Status s = ApplyToml("[cluster]\ntokens = 256\n", "old.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("old.toml"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("node.weight"), std::string::npos) << s.message();
  for (const char* bad : {"[node]\nweight = 0\n", "[node]\nweight = 10001\n"}) {
    Config b;
    ASSERT_TRUE(ApplyToml(bad, "b.toml", &b).ok());
    Status v = Validate(b);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_NE(v.message().find("node.weight"), std::string::npos) << v.message();
  }
  Config z;
  ASSERT_TRUE(ApplyToml("[node]\nzone = \"" + std::string(300, 'z') + "\"\n", "z.toml", &z).ok());
  EXPECT_FALSE(Validate(z).ok());
}

TEST(ConfigTest, ElasticClusterKeys) {
  Config c;
  EXPECT_TRUE(c.auto_commit);
  ASSERT_TRUE(ApplyToml("[cluster]\nauto_commit = false\nhandoff_concurrency = 4\n"
                        "handoff_rate_mb = 8\n", "e.toml", &c).ok());
  EXPECT_FALSE(c.auto_commit);
  EXPECT_EQ(c.handoff_concurrency, 4);
  EXPECT_EQ(c.handoff_rate_mb, 8);
  EXPECT_TRUE(Validate(c).ok());
  Config b;
  Status s = ApplyToml("[cluster]\nauto_commit = 3\n", "b.toml", &b);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cluster.auto_commit"), std::string::npos) << s.message();
  Config h;
  ASSERT_TRUE(ApplyToml("[cluster]\nhandoff_concurrency = 0\n", "h.toml", &h).ok());
  EXPECT_FALSE(Validate(h).ok());
}

TEST(ConfigTest, RedisClusterApiAndAdvertisedAddress) {
  Config c;
  EXPECT_FALSE(c.redis_cluster_api);
  EXPECT_EQ(c.advertise_redis, "");
  EXPECT_EQ(AdvertisedRedisAddr(c), c.redis_addr);
  ASSERT_TRUE(ApplyToml("[cluster]\nredis_cluster_api = true\n[listen]\n"
                        "advertise_redis = \"10.1.2.3:7000\"\n", "r.toml", &c).ok());
  EXPECT_TRUE(c.redis_cluster_api);
  EXPECT_EQ(AdvertisedRedisAddr(c), "10.1.2.3:7000");
  EXPECT_TRUE(Validate(c).ok());
  Config b;
  Status s = ApplyToml("[cluster]\nredis_cluster_api = \"yes\"\n", "b.toml", &b);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cluster.redis_cluster_api"), std::string::npos) << s.message();
  // A wildcard listen address cannot be handed to clients: the option then needs an
  // advertised address, and that must be a real one.
  Config w;
  w.redis_addr = "0.0.0.0:6379";
  EXPECT_TRUE(Validate(w).ok()) << "the option is off";
  w.redis_cluster_api = true;
  Status v = Validate(w);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.message().find("listen.advertise_redis"), std::string::npos) << v.message();
  w.advertise_redis = "192.0.2.7:6379";
  EXPECT_TRUE(Validate(w).ok());
  EXPECT_EQ(w.redis_cluster_moved, "fetched");
  w.redis_cluster_moved = "all";
  EXPECT_TRUE(Validate(w).ok());
  w.redis_cluster_moved = "some";
  Status m = Validate(w);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("cluster.redis_cluster_moved"), std::string::npos) << m.message();
  w.redis_cluster_moved = "fetched";
  for (const char* bad : {"0.0.0.0:6379", "[::]:6379", "nohostport", "h:0"}) {
    w.advertise_redis = bad;
    EXPECT_FALSE(Validate(w).ok()) << bad;
  }
}

TEST(ConfigTest, KeyspacePoliciesParseResolveAndValidate) {
  const char* text = R"(
[listen]
cluster = "127.0.0.1:7100"
[replication]
n = 3
r = 2
w = 2
[[keyspace]]
prefix = "cache:"
n = 1
conflict = "lww"
[[keyspace]]
prefix = "audit:"
n = 5
w = 4
)";
  Config c;
  ASSERT_TRUE(ApplyToml(text, "ks.toml", &c).ok());
  ASSERT_EQ(c.keyspaces.size(), 2u);
  EXPECT_TRUE(Validate(c).ok()) << Validate(c).ToString();
  Config::Keyspace cache = ResolvedKeyspace(c, c.keyspaces[0]);
  EXPECT_EQ(cache.prefix, "cache:");
  EXPECT_EQ(cache.n, 1);
  EXPECT_EQ(cache.r, 1);  // replication.r, capped at the keyspace's n
  EXPECT_EQ(cache.w, 1);
  EXPECT_EQ(cache.conflict, "lww");
  Config::Keyspace audit = ResolvedKeyspace(c, c.keyspaces[1]);
  EXPECT_EQ(audit.n, 5);
  EXPECT_EQ(audit.r, 2);
  EXPECT_EQ(audit.w, 4);
  EXPECT_EQ(audit.conflict, "siblings");
}

TEST(ConfigTest, BadKeyspacesAreRefusedWithTheirPlace) {
  auto parse = [](const std::string& body) {
    Config c;
    Status s = ApplyToml("[listen]\ncluster = \"127.0.0.1:7100\"\n[replication]\nn = 3\nr = 2\nw = 2\n" + body,
                         "ks.toml", &c);
    if (s.ok()) s = Validate(c);
    return s.ToString();
  };
  EXPECT_NE(parse("[keyspace]\nprefix = \"a\"\n").find("[[keyspace]]"), std::string::npos);
  EXPECT_NE(parse("[[keyspace]]\nn = 2\n").find("prefix: missing"), std::string::npos);
  EXPECT_NE(parse("[[keyspace]]\nprefix = \"a\"\nquorum = 2\n").find("unknown key 'quorum'"), std::string::npos);
  EXPECT_NE(parse("[[keyspace]]\nprefix = \"a\"\nn = \"two\"\n").find("n: expected an integer"), std::string::npos);
  EXPECT_NE(parse("[[keyspace]]\nprefix = \"a\"\nn = 0\n").find("must be in 1..16"), std::string::npos);
  EXPECT_NE(parse("[[keyspace]]\nprefix = \"a\"\nn = 99\n").find("must be in 1..16"), std::string::npos);
  EXPECT_NE(parse("[[keyspace]]\nprefix = \"a\"\nn = 2\nr = 3\n").find("keyspace \"a\".r"), std::string::npos);
  EXPECT_NE(parse("[[keyspace]]\nprefix = \"a\"\nconflict = \"crdt\"\n").find("must be siblings or lww"), std::string::npos);
  EXPECT_NE(parse("[[keyspace]]\nprefix = \"\"\n").find("must not be empty"), std::string::npos);
  EXPECT_NE(parse("[[keyspace]]\nprefix = \"a\"\n[[keyspace]]\nprefix = \"a\"\n").find("appears twice"), std::string::npos);
  EXPECT_NE(parse("[[keyspace]]\nprefix = \"" + std::string(300, 'x') + "\"\n").find("longer than"), std::string::npos);
  std::string many;
  for (int i = 0; i < 65; ++i) many += "[[keyspace]]\nprefix = \"p" + std::to_string(i) + "\"\n";
  EXPECT_NE(parse(many).find("at most 64"), std::string::npos);
  // A standalone node cannot keep more than one copy of anything.
  Config c;
  ASSERT_TRUE(ApplyToml("[[keyspace]]\nprefix = \"a\"\nn = 2\n", "ks.toml", &c).ok());
  EXPECT_NE(Validate(c).ToString().find("needs listen.cluster"), std::string::npos);
  // A parse error names the file and the entry.
  EXPECT_NE(parse("[[keyspace]]\nprefix = \"a\"\n[[keyspace]]\nprefix = 7\n").find("ks.toml: [[keyspace]] #2: prefix"),
            std::string::npos);
}

}  // namespace
}  // namespace dynakv::server
