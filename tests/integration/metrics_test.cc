// tests/integration/metrics_test.cc: command statistics against real dynakv-server processes:
// INFO commandstats / errorstats / latencystats and the new Stats fields, CONFIG RESETSTAT,
// SLOWLOG (entries, truncation, LEN, RESET), LATENCY (LATEST, HISTORY, RESET, HISTOGRAM) and,
// on a 3-node cluster, a command counted on its coordinator after the replicas answered.
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

// One INFO line's value ("" when absent).
std::string InfoField(Conn& c, const std::string& section, const std::string& field) {
  Reply r = c.Cmd({"INFO", section});
  if (!r || r->type != REDIS_REPLY_STRING) return "";
  std::string text(r->str, r->len);
  std::string key = "\r\n" + field + ":";
  size_t p = ("\r\n" + text).find(key);
  if (p == std::string::npos) return "";
  p += key.size() - 2;
  size_t e = text.find("\r\n", p);
  return text.substr(p, e - p);
}

// "calls=3,usec=9,..." -> {calls: "3", usec: "9", ...}
std::map<std::string, std::string> Fields(const std::string& v) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < v.size()) {
    size_t comma = v.find(',', i);
    if (comma == std::string::npos) comma = v.size();
    std::string kv = v.substr(i, comma - i);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) out[kv.substr(0, eq)] = kv.substr(eq + 1);
    i = comma + 1;
  }
  return out;
}

ServerConfig WithLimits(int slower_than, int latency_ms) {
  ServerConfig cfg;
  cfg.SetInt("limits", "slowlog_log_slower_than", slower_than);
  cfg.SetInt("limits", "slowlog_max_len", 5);
  cfg.SetInt("limits", "latency_monitor_threshold", latency_ms);
  cfg.Set("debug", "enable_debug_command", "true");
  return cfg;
}

TEST(Metrics, CommandstatsCountCallsFailuresAndRejections) {
  ServerProcess s(WithLimits(10000, 0));
  ASSERT_TRUE(s.Start()) << s.last_error();
  auto c = s.Connect();
  for (int i = 0; i < 7; i++) ASSERT_TRUE(IsStatus(c->Cmd({"SET", "k" + std::to_string(i), "v"}), "OK"));
  for (int i = 0; i < 3; i++) ASSERT_TRUE(IsBulk(c->Cmd({"GET", "k1"}), "v"));
  ASSERT_TRUE(IsErrorPrefix(c->Cmd({"INCR", "k1"}), "ERR value is not an integer"));
  ASSERT_TRUE(IsError(c->Cmd({"GET"}), "ERR wrong number of arguments for 'get' command"));
  ASSERT_TRUE(IsErrorPrefix(c->Cmd({"NOSUCHCMD"}), "ERR unknown command"));

  auto set = Fields(InfoField(*c, "commandstats", "cmdstat_set"));
  EXPECT_EQ(set["calls"], "7");
  EXPECT_EQ(set["failed_calls"], "0");
  EXPECT_EQ(set["rejected_calls"], "0");
  EXPECT_FALSE(set["usec_per_call"].empty());
  auto get = Fields(InfoField(*c, "commandstats", "cmdstat_get"));
  EXPECT_EQ(get["calls"], "3");
  EXPECT_EQ(get["rejected_calls"], "1");
  auto incr = Fields(InfoField(*c, "commandstats", "cmdstat_incr"));
  EXPECT_EQ(incr["calls"], "1");
  EXPECT_EQ(incr["failed_calls"], "1");
  EXPECT_EQ(InfoField(*c, "errorstats", "errorstat_ERR"), "count=3");
  EXPECT_EQ(InfoField(*c, "stats", "total_error_replies"), "3");
  EXPECT_EQ(InfoField(*c, "stats", "evicted_keys"), "0");
  // A burst shows in the rates sampled every 100 ms over the last 1.6 s.
  for (int i = 0; i < 3000; i++) c->Append({"PING"});
  for (int i = 0; i < 3000; i++) ASSERT_TRUE(IsStatus(c->Read(), "PONG"));
  EXPECT_TRUE(WaitUntil([&] { return std::stoll("0" + InfoField(*c, "stats", "instantaneous_ops_per_sec")) > 0; },
                        std::chrono::seconds(2)));
  EXPECT_GT(std::stod(InfoField(*c, "stats", "instantaneous_input_kbps")), 0.0);
  EXPECT_FALSE(InfoField(*c, "stats", "instantaneous_input_kbps").empty());
  EXPECT_FALSE(InfoField(*c, "stats", "instantaneous_output_kbps").empty());

  // A WRONGTYPE error counts under its own code (SORT of a string key).
  ASSERT_TRUE(IsStatus(c->Cmd({"SET", "str", "x"}), "OK"));
  ASSERT_TRUE(IsErrorPrefix(c->Cmd({"SORT", "str"}), "WRONGTYPE"));
  EXPECT_EQ(InfoField(*c, "errorstats", "errorstat_WRONGTYPE"), "count=1");
  EXPECT_EQ(Fields(InfoField(*c, "commandstats", "cmdstat_sort"))["failed_calls"], "1");

  // Default INFO: no commandstats/latencystats (as Redis 7), errorstats yes; ALL has them.
  Reply d = c->Cmd({"INFO"});
  ASSERT_TRUE(d && d->type == REDIS_REPLY_STRING);
  std::string dt(d->str, d->len);
  EXPECT_EQ(dt.find("# Commandstats"), std::string::npos);
  EXPECT_EQ(dt.find("# Latencystats"), std::string::npos);
  EXPECT_NE(dt.find("# Errorstats"), std::string::npos);
  Reply all = c->Cmd({"INFO", "all"});
  std::string at(all->str, all->len);
  EXPECT_NE(at.find("# Commandstats\r\ncmdstat_"), std::string::npos);
  EXPECT_NE(at.find("# Latencystats\r\nlatency_percentiles_usec_"), std::string::npos);
  EXPECT_LT(at.find("# Commandstats"), at.find("# Errorstats"));
  EXPECT_LT(at.find("# Errorstats"), at.find("# Latencystats"));

  // CONFIG RESETSTAT zeroes the command and error counters.
  ASSERT_TRUE(IsStatus(c->Cmd({"CONFIG", "RESETSTAT"}), "OK"));
  EXPECT_EQ(InfoField(*c, "commandstats", "cmdstat_set"), "");
  EXPECT_EQ(InfoField(*c, "errorstats", "errorstat_ERR"), "");
  EXPECT_EQ(InfoField(*c, "stats", "total_error_replies"), "0");
  // Three INFOs since the reset; the one asking is counted once it has replied.
  EXPECT_EQ(Fields(InfoField(*c, "commandstats", "cmdstat_info"))["calls"], "3");
}

TEST(Metrics, LatencyPercentilesOrderedAndHistogram) {
  ServerProcess s(WithLimits(10000, 0));
  ASSERT_TRUE(s.Start()) << s.last_error();
  auto c = s.Connect();
  for (int i = 0; i < 200; i++) c->Append({"SET", "k" + std::to_string(i), "v"});
  for (int i = 0; i < 200; i++) ASSERT_TRUE(IsStatus(c->Read(), "OK"));
  auto p = Fields(InfoField(*c, "latencystats", "latency_percentiles_usec_set"));
  ASSERT_EQ(p.size(), 3u) << InfoField(*c, "latencystats", "latency_percentiles_usec_set");
  double p50 = std::stod(p["p50"]), p99 = std::stod(p["p99"]), p999 = std::stod(p["p99.9"]);
  EXPECT_LE(p50, p99);
  EXPECT_LE(p99, p999);
  EXPECT_EQ(p["p50"].size() - p["p50"].find('.'), 4u);  // %.3f, as Redis

  // LATENCY HISTOGRAM set nosuch: a map of one command {calls, histogram_usec {usec: cum}}.
  Reply h = c->Cmd({"LATENCY", "HISTOGRAM", "set", "nosuch"});
  ASSERT_TRUE(IsArray(h, 2)) << Describe(h);
  EXPECT_EQ(std::string(h->element[0]->str), "set");
  redisReply* m = h->element[1];
  ASSERT_EQ(m->elements, 4u);
  EXPECT_EQ(std::string(m->element[0]->str), "calls");
  EXPECT_EQ(m->element[1]->integer, 200);
  EXPECT_EQ(std::string(m->element[2]->str), "histogram_usec");
  redisReply* b = m->element[3];
  ASSERT_GE(b->elements, 2u);
  long long prev = 0;
  for (size_t i = 0; i + 1 < b->elements; i += 2) {
    long long key = b->element[i]->integer, cum = b->element[i + 1]->integer;
    // Redis 7's keys: 1024 ns << i, named by the highest equivalent usec.
    std::set<long long> keys;
    for (int k = 0; k < 40; k++) keys.insert((((1024LL << k) + (1024LL << k) / 128 - 1) / 1000));
    EXPECT_TRUE(keys.count(key)) << key;
    EXPECT_GT(cum, prev);
    prev = cum;
  }
  EXPECT_EQ(prev, 200);
  // RESP3: maps.
  RawConn r(s.port());
  ASSERT_TRUE(r.SendCmd({"HELLO", "3"}));
  r.Read();
  ASSERT_TRUE(r.SendCmd({"LATENCY", "HISTOGRAM", "set"}));
  RValue v = r.Read();
  ASSERT_EQ(v.type, '%') << v.Describe();
  ASSERT_EQ(v.elems.size(), 2u);
  EXPECT_EQ(v.elems[1].type, '%');
  ASSERT_NE(v.elems[1].Get("calls"), nullptr);
  EXPECT_EQ(v.elems[1].Get("calls")->num, 200);
}

TEST(Metrics, SlowlogEntriesTruncationLenReset) {
  ServerProcess s(WithLimits(0, 0));
  ASSERT_TRUE(s.Start()) << s.last_error();
  auto c = s.Connect();
  ASSERT_TRUE(IsStatus(c->Cmd({"CLIENT", "SETNAME", "slowpoke"}), "OK"));
  ASSERT_TRUE(IsStatus(c->Cmd({"SLOWLOG", "RESET"}), "OK"));
  ASSERT_TRUE(IsStatus(c->Cmd({"SET", "key", std::string(200, 'v')}), "OK"));
  Reply g = c->Cmd({"SLOWLOG", "GET", "1"});
  ASSERT_TRUE(IsArray(g, 1)) << Describe(g);
  redisReply* e = g->element[0];
  ASSERT_EQ(e->elements, 6u);
  EXPECT_EQ(e->element[0]->type, REDIS_REPLY_INTEGER);
  EXPECT_GT(e->element[1]->integer, 1700000000);  // unix time
  EXPECT_GE(e->element[2]->integer, 0);
  ASSERT_EQ(e->element[3]->elements, 3u);
  EXPECT_EQ(std::string(e->element[3]->element[0]->str), "SET");
  EXPECT_EQ(std::string(e->element[3]->element[1]->str), "key");
  EXPECT_EQ(std::string(e->element[3]->element[2]->str), std::string(128, 'v') + "... (72 more bytes)");
  EXPECT_EQ(std::string(e->element[4]->str).rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(std::string(e->element[5]->str), "slowpoke");

  std::vector<std::string> many = {"MSET"};
  for (int i = 0; i < 20; i++) {
    many.push_back("k" + std::to_string(i));
    many.push_back("v");
  }
  ASSERT_TRUE(IsStatus(c->Cmd(many), "OK"));
  g = c->Cmd({"SLOWLOG", "GET", "1"});
  ASSERT_TRUE(IsArray(g, 1));
  redisReply* args = g->element[0]->element[3];
  ASSERT_EQ(args->elements, 32u);
  EXPECT_EQ(std::string(args->element[31]->str), "... (10 more arguments)");

  // Passwords read "(redacted)", as Redis 7.
  c->Cmd({"AUTH", "secret"});
  g = c->Cmd({"SLOWLOG", "GET", "1"});
  ASSERT_TRUE(IsArray(g, 1));
  args = g->element[0]->element[3];
  ASSERT_EQ(args->elements, 2u);
  EXPECT_EQ(std::string(args->element[0]->str), "AUTH");
  EXPECT_EQ(std::string(args->element[1]->str), "(redacted)");
  c->Cmd({"HELLO", "2", "AUTH", "default", "pw", "SETNAME", "slowpoke"});
  g = c->Cmd({"SLOWLOG", "GET", "1"});
  ASSERT_TRUE(IsArray(g, 1));
  args = g->element[0]->element[3];
  ASSERT_EQ(args->elements, 7u) << Describe(g);
  EXPECT_EQ(std::string(args->element[3]->str), "(redacted)");
  EXPECT_EQ(std::string(args->element[4]->str), "(redacted)");
  EXPECT_EQ(std::string(args->element[6]->str), "slowpoke");
  // The ring keeps slowlog_max_len (5) entries; ids grow.
  for (int i = 0; i < 6; i++) c->Cmd({"PING"});
  EXPECT_TRUE(IsInt(c->Cmd({"SLOWLOG", "LEN"}), 5));
  g = c->Cmd({"SLOWLOG", "GET", "-1"});
  ASSERT_TRUE(IsArray(g, 5));
  EXPECT_GT(g->element[0]->element[0]->integer, g->element[4]->element[0]->integer);
  EXPECT_TRUE(IsArray(c->Cmd({"SLOWLOG", "GET", "0"}), 0));
  EXPECT_TRUE(IsError(c->Cmd({"SLOWLOG", "GET", "-2"}), "ERR count should be greater than or equal to -1"));
  EXPECT_TRUE(IsError(c->Cmd({"SLOWLOG", "GET", "x"}), "ERR count should be greater than or equal to -1"));
  EXPECT_TRUE(IsError(c->Cmd({"SLOWLOG", "LEN", "x"}), "ERR wrong number of arguments for 'slowlog|len' command"));
  EXPECT_TRUE(IsError(c->Cmd({"SLOWLOG", "FOO"}), "ERR unknown subcommand 'FOO'. Try SLOWLOG HELP."));
  EXPECT_TRUE(IsError(c->Cmd({"SLOWLOG"}), "ERR wrong number of arguments for 'slowlog' command"));
  ASSERT_TRUE(IsStatus(c->Cmd({"SLOWLOG", "RESET"}), "OK"));
  // The RESET itself was logged after it ran (as Redis): one entry.
  EXPECT_TRUE(IsInt(c->Cmd({"SLOWLOG", "LEN"}), 1));
  Reply help = c->Cmd({"SLOWLOG", "HELP"});
  ASSERT_TRUE(help && help->type == REDIS_REPLY_ARRAY && help->elements == 12) << Describe(help);

  // CONFIG GET shows the Redis names.
  Reply cg = c->Cmd({"CONFIG", "GET", "slowlog-*"});
  ASSERT_TRUE(IsArray(cg, 4)) << Describe(cg);
}

TEST(Metrics, SlowlogOffAndThreshold) {
  ServerProcess s(WithLimits(-1, 0));
  ASSERT_TRUE(s.Start()) << s.last_error();
  auto c = s.Connect();
  for (int i = 0; i < 5; i++) c->Cmd({"PING"});
  EXPECT_TRUE(IsInt(c->Cmd({"SLOWLOG", "LEN"}), 0));

  ServerProcess t(WithLimits(100000, 0));  // 100 ms
  ASSERT_TRUE(t.Start()) << t.last_error();
  auto d = t.Connect();
  d->Cmd({"PING"});
  EXPECT_TRUE(IsInt(d->Cmd({"SLOWLOG", "LEN"}), 0));
  ASSERT_TRUE(IsStatus(d->Cmd({"DEBUG", "SLEEP", "0.2"}), "OK"));
  Reply g = d->Cmd({"SLOWLOG", "GET"});
  ASSERT_TRUE(IsArray(g, 1)) << Describe(g);
  EXPECT_GE(g->element[0]->element[2]->integer, 190000);
  EXPECT_EQ(std::string(g->element[0]->element[3]->element[0]->str), "DEBUG");
}

TEST(Metrics, LatencyMonitor) {
  ServerProcess s(WithLimits(10000, 100));  // 100 ms
  ASSERT_TRUE(s.Start()) << s.last_error();
  auto c = s.Connect();
  EXPECT_TRUE(IsArray(c->Cmd({"LATENCY", "LATEST"}), 0));
  c->Cmd({"PING"});
  EXPECT_TRUE(IsArray(c->Cmd({"LATENCY", "LATEST"}), 0));
  ASSERT_TRUE(IsStatus(c->Cmd({"DEBUG", "SLEEP", "0.2"}), "OK"));
  Reply l = c->Cmd({"LATENCY", "LATEST"});
  ASSERT_TRUE(IsArray(l, 1)) << Describe(l);
  redisReply* e = l->element[0];
  ASSERT_EQ(e->elements, 4u);
  EXPECT_EQ(std::string(e->element[0]->str), "command");
  EXPECT_GT(e->element[1]->integer, 1700000000);
  EXPECT_GE(e->element[2]->integer, 190);
  EXPECT_GE(e->element[3]->integer, e->element[2]->integer);
  Reply h = c->Cmd({"LATENCY", "HISTORY", "command"});
  ASSERT_TRUE(IsArray(h, 1)) << Describe(h);
  EXPECT_EQ(h->element[0]->elements, 2u);
  EXPECT_TRUE(IsArray(c->Cmd({"LATENCY", "HISTORY", "nosuch"}), 0));
  Reply doc = c->Cmd({"LATENCY", "DOCTOR"});
  ASSERT_TRUE(doc && doc->type == REDIS_REPLY_STRING);
  EXPECT_NE(std::string(doc->str).find("command"), std::string::npos);
  EXPECT_TRUE(IsInt(c->Cmd({"LATENCY", "RESET", "nosuch"}), 0));
  EXPECT_TRUE(IsInt(c->Cmd({"LATENCY", "RESET"}), 1));
  EXPECT_TRUE(IsArray(c->Cmd({"LATENCY", "LATEST"}), 0));
  EXPECT_TRUE(IsError(c->Cmd({"LATENCY", "HISTORY"}), "ERR wrong number of arguments for 'latency|history' command"));
  EXPECT_TRUE(IsError(c->Cmd({"LATENCY", "FOO"}), "ERR unknown subcommand 'FOO'. Try LATENCY HELP."));
}

// INFO stats counts event-loop turns and the work each did (the wait for I/O left out): a
// DEBUG SLEEP holds one turn for its whole length, idle turns add almost nothing, and CONFIG
// RESETSTAT starts the counts over.
TEST(Metrics, EventLoopTurnsAndTheLongestOne) {
  ServerProcess s(WithLimits(10000, 0));
  ASSERT_TRUE(s.Start()) << s.last_error();
  auto c = s.Connect();
  auto num = [&](const char* field) { return std::stoull("0" + InfoField(*c, "stats", field)); };
  ASSERT_TRUE(IsStatus(c->Cmd({"CONFIG", "RESETSTAT"}), "OK"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // idle: the ticks' turns
  uint64_t idle_cycles = num("eventloop_cycles");
  EXPECT_GT(idle_cycles, 3u);
  EXPECT_LT(num("eventloop_duration_max"), 100000u) << "an idle turn took 100 ms";
  EXPECT_LT(num("eventloop_duration_sum"), 100000u) << "idle turns counted the wait for I/O";
  ASSERT_TRUE(IsStatus(c->Cmd({"DEBUG", "SLEEP", "0.25"}), "OK"));
  uint64_t max = num("eventloop_duration_max");
  EXPECT_GE(max, 240000u);
  EXPECT_LT(max, 5000000u);
  EXPECT_GE(num("eventloop_duration_sum"), max);
  EXPECT_GT(num("eventloop_cycles"), idle_cycles);
  ASSERT_TRUE(IsStatus(c->Cmd({"CONFIG", "RESETSTAT"}), "OK"));
  EXPECT_LT(num("eventloop_duration_max"), 240000u);
}

TEST(Metrics, ClusterCountsOnTheCoordinatorAfterReplicas) {
  ClusterOptions o;
  o.extra.SetInt("limits", "slowlog_log_slower_than", 0);
  Cluster cl(o);
  ASSERT_TRUE(cl.Start()) << cl.last_error();
  auto c = cl.node(0).Connect();
  for (int i = 0; i < 20; i++) ASSERT_TRUE(IsStatus(c->Cmd({"SET", "ck" + std::to_string(i), "v"}), "OK"));
  for (int i = 0; i < 20; i++) ASSERT_TRUE(IsBulk(c->Cmd({"GET", "ck" + std::to_string(i)}), "v"));
  EXPECT_EQ(Fields(InfoField(*c, "commandstats", "cmdstat_set"))["calls"], "20");
  EXPECT_EQ(Fields(InfoField(*c, "commandstats", "cmdstat_get"))["calls"], "20");
  // The last GET's slowlog entry kept its arguments although it completed later.
  Reply g = c->Cmd({"SLOWLOG", "GET", "-1"});
  ASSERT_TRUE(g && g->type == REDIS_REPLY_ARRAY && g->elements >= 3) << Describe(g);
  bool found = false;
  for (size_t i = 0; i < g->elements; i++) {
    redisReply* a = g->element[i]->element[3];
    if (a->elements == 2 && std::string(a->element[0]->str) == "GET" && std::string(a->element[1]->str) == "ck19") found = true;
  }
  EXPECT_TRUE(found) << Describe(g);
}

}  // namespace
}  // namespace dynakv::itest
