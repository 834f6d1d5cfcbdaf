// tests/sim/scenario.cc: TOML -> Scenario (see scenario.h).
#include "tests/sim/scenario.h"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace dynakv::sim {

namespace {

// Reads one section with a fixed set of keys; remembers the first error.
class Section {
 public:
  Section(const std::string& file, const toml::table& root, const std::string& name,
          Status* err)
      : file_(file), name_(name), err_(err) {
    if (const toml::node* n = root.get(name)) {
      table_ = n->as_table();
      if (!table_) Fail(name, "must be a table");
    }
  }

  void Int(const char* key, int* out, int lo, int hi) {
    int64_t v = *out;
    if (Int64(key, &v, lo, hi)) *out = static_cast<int>(v);
  }
  void U64(const char* key, uint64_t* out, uint64_t lo = 0, uint64_t hi = 1ull << 40) {
    int64_t v = static_cast<int64_t>(*out);
    if (Int64(key, &v, static_cast<int64_t>(lo), static_cast<int64_t>(hi))) {
      *out = static_cast<uint64_t>(v);
    }
  }
  void Rate(const char* key, double* out) {
    const toml::node* n = Take(key);
    if (!n) return;
    std::optional<double> v = n->value<double>();  // accepts integers too
    if (!v || *v < 0 || *v > 1) return Fail(key, "must be a number in [0, 1]");
    *out = *v;
  }
  void Bool(const char* key, bool* out) {
    const toml::node* n = Take(key);
    if (!n) return;
    if (!n->is_boolean()) return Fail(key, "must be true or false");
    *out = n->as_boolean()->get();
  }
  void Str(const char* key, std::string* out) {
    const toml::node* n = Take(key);
    if (!n) return;
    if (!n->is_string()) return Fail(key, "must be a string");
    *out = n->as_string()->get();
  }
  // [min, max] or a single integer (min = max).
  void Span(const char* key, Range* out) {
    const toml::node* n = Take(key);
    if (!n) return;
    if (auto i = n->value<int64_t>()) {
      if (*i < 0) return Fail(key, "must not be negative");
      out->min = out->max = static_cast<uint64_t>(*i);
      return;
    }
    const toml::array* a = n->as_array();
    if (!a || a->size() != 2) return Fail(key, "must be an integer or [min, max]");
    auto lo = (*a)[0].value<int64_t>(), hi = (*a)[1].value<int64_t>();
    if (!lo || !hi || *lo < 0 || *hi < *lo) return Fail(key, "must be [min, max], 0 <= min <= max");
    out->min = static_cast<uint64_t>(*lo);
    out->max = static_cast<uint64_t>(*hi);
  }

  // Every key of the section must have been read.
  void Done() {
    if (!table_) return;
    for (const auto& [k, v] : *table_) {
      if (!seen_.count(std::string(k.str()))) Fail(std::string(k.str()), "unknown key");
    }
  }

 private:
  const toml::node* Take(const char* key) {
    seen_.insert(key);
    return table_ ? table_->get(key) : nullptr;
  }
  bool Int64(const char* key, int64_t* out, int64_t lo, int64_t hi) {
    const toml::node* n = Take(key);
    if (!n) return false;
    if (!n->is_integer()) {
      Fail(key, "must be an integer");
      return false;
    }
    int64_t v = n->as_integer()->get();
    if (v < lo || v > hi) {
      Fail(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
      return false;
    }
    *out = v;
    return true;
  }
  void Fail(const std::string& key, const std::string& what) {
    if (err_->ok()) *err_ = Status::Invalid(file_ + ": [" + name_ + "] " + key + " " + what);
  }

  std::string file_, name_;
  Status* err_;
  const toml::table* table_ = nullptr;
  std::set<std::string> seen_;
};

}  // namespace

Status LoadScenario(const std::string& path, Scenario* out) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << path << ": " << e.description() << " (line " << e.source().begin.line << ")";
    return Status::Invalid(msg.str());
  }
  Scenario s;
  s.path = path;
  s.name = std::filesystem::path(path).stem().string();
  Status err;
  static const std::set<std::string> kSections = {"scenario", "cluster",  "timing",
                                                  "network",  "partitions", "crashes",
                                                  "workload", "availability", "anti_entropy",
                                                  "membership", "reaper"};
  for (const auto& [k, v] : root) {
    if (k.str() == "keyspace") {
      const toml::array* arr = v.as_array();
      if (!arr || !arr->is_array_of_tables()) return Status::Invalid(path + ": keyspace must be [[keyspace]] tables");
      for (auto&& el : *arr) {
        const toml::table* t = el.as_table();
        cluster::KeyspacePolicy p;
        p.n = p.r = p.w = 0;
        for (auto&& [kk, vv] : *t) {
          std::string_view name = kk.str();
          if (name == "prefix" && vv.is_string()) {
            p.prefix = vv.as_string()->get();
          } else if ((name == "n" || name == "r" || name == "w") && vv.is_integer()) {
            int64_t x = vv.as_integer()->get();
            if (x < 1 || x > 16) return Status::Invalid(path + ": [[keyspace]] " + std::string(name) + " must be in 1..16");
            (name == "n" ? p.n : name == "r" ? p.r : p.w) = int(x);
          } else {
            return Status::Invalid(path + ": [[keyspace]] " + std::string(name) + ": unknown key or wrong type");
          }
        }
        if (p.prefix.empty()) return Status::Invalid(path + ": [[keyspace]] needs a prefix");
        s.keyspaces.push_back(std::move(p));
      }
      continue;
    }
    if (!kSections.count(std::string(k.str()))) {
      return Status::Invalid(path + ": unknown section [" + std::string(k.str()) + "]");
    }
  }
  {
    Section t(path, root, "scenario", &err);
    t.Str("name", &s.name);
    std::string description;  // free text for humans
    t.Str("description", &description);
    t.Done();
  }
  {
    Section t(path, root, "cluster", &err);
    t.Int("nodes", &s.nodes, 1, 16);
    t.Int("n", &s.n, 1, 16);
    t.Int("r", &s.r, 1, 16);
    t.Int("w", &s.w, 1, 16);
    t.Int("tokens", &s.tokens, 1, 1024);
    t.Str("secret", &s.secret);
    t.Done();
  }
  {
    Section t(path, root, "timing", &err);
    t.U64("tick_ms", &s.tick_ms, 1, 1000);
    t.U64("duration_ms", &s.duration_ms);
    t.U64("request_timeout_ms", &s.request_timeout_ms, 1);
    t.U64("read_retry_ms", &s.read_retry_ms, 0);
    t.U64("gossip_interval_ms", &s.gossip_interval_ms, 1);
    t.U64("suspect_after_ms", &s.suspect_after_ms, 1);
    t.U64("down_after_ms", &s.down_after_ms, 1);
    t.U64("clock_skew_ms", &s.clock_skew_ms, 0, 3600 * 1000);
    t.U64("outlier_skew_ms", &s.outlier_skew_ms, 0, 7ull * 24 * 3600 * 1000);
    t.U64("settle_max_ms", &s.settle_max_ms, 1000);
    t.Done();
  }
  {
    Section t(path, root, "network", &err);
    t.Rate("drop_rate", &s.drop_rate);
    t.Rate("dup_rate", &s.dup_rate);
    t.Rate("reorder_rate", &s.reorder_rate);
    t.Span("delay_ms", &s.delay_ms);
    t.U64("reorder_delay_ms", &s.reorder_delay_ms);
    t.Done();
  }
  {
    Section t(path, root, "partitions", &err);
    t.Bool("enabled", &s.partitions);
    t.Span("gap_ms", &s.partition_gap_ms);
    t.Span("length_ms", &s.partition_length_ms);
    t.Rate("asymmetric", &s.asymmetric);
    t.Done();
  }
  {
    Section t(path, root, "crashes", &err);
    t.Int("count", &s.crashes, 0, 10000);
    t.Int("wipes", &s.wipes, 0, 10000);
    t.Span("downtime_ms", &s.downtime_ms);
    t.Rate("mid_write", &s.mid_write);
    t.Rate("clean", &s.clean);
    t.Int("max_down", &s.max_down, 0, 16);
    t.Done();
  }
  {
    Section t(path, root, "workload", &err);
    t.Int("clients", &s.clients, 1, 1000);
    t.Int("keys", &s.keys, 1, 10000);
    t.Span("think_ms", &s.think_ms);
    t.Int("cart", &s.cart, 0, 1000);
    t.Int("set", &s.set, 0, 1000);
    t.Int("delete", &s.del, 0, 1000);
    t.Int("erase", &s.erase, 0, 1000);
    t.Int("counter", &s.counter, 0, 1000);
    t.Int("score", &s.score, 0, 1000);
    t.Int("cset", &s.cset, 0, 1000);
    t.Int("czadd", &s.czadd, 0, 1000);
    t.Int("chash", &s.chash, 0, 1000);
    t.Int("czset", &s.czset, 0, 1000);
    t.Int("chset", &s.chset, 0, 1000);
    t.Int("chfloat", &s.chfloat, 0, 1000);
    t.Int("clist", &s.clist, 0, 1000);
    t.Done();
  }
  {
    Section t(path, root, "availability", &err);
    t.Bool("enabled", &s.availability);
    t.Int("down", &s.availability_down, 0, 15);
    t.Int("writes", &s.availability_writes, 1, 10000);
    t.Done();
  }
  {
    Section t(path, root, "anti_entropy", &err);
    t.U64("interval_ms", &s.ae_interval_ms, 0, 3600 * 1000);
    t.Bool("final_read_sweep", &s.final_read_sweep);
    t.Done();
  }
  {
    Section t(path, root, "reaper", &err);
    t.U64("grace_ms", &s.reap_grace_ms, 0, 3600 * 1000);
    t.U64("interval_ms", &s.reap_interval_ms, 1, 60 * 1000);
    t.Done();
  }
  if (root.get("membership")) {
    s.membership = true;
    Section t(path, root, "membership", &err);
    t.Int("initial_nodes", &s.initial_nodes, 1, 16);
    t.Int("joins", &s.joins, 0, 16);
    t.Int("leaves", &s.leaves, 0, 16);
    t.Int("removes", &s.removes, 0, 16);
    t.Int("replaces", &s.replaces, 0, 16);
    t.Done();
  }
  if (!err.ok()) return err;
  auto bad = [&](const std::string& what) { return Status::Invalid(path + ": " + what); };
  if (s.n > s.nodes) return bad("[cluster] n must not exceed nodes");
  if (s.membership) {
    if (s.InitialNodes() > s.nodes) return bad("[membership] initial_nodes must not exceed nodes");
    if (s.n > s.InitialNodes()) return bad("[membership] n must not exceed initial_nodes");
    if (s.joins + s.replaces > s.nodes - s.InitialNodes()) {
      return bad("[membership] joins + replaces need that many spare hosts (nodes - "
                 "initial_nodes)");
    }
    if (s.FinalMembers() < s.n) {
      return bad("[membership] initial_nodes + joins - leaves - removes must be at least n");
    }
  }
  if (s.r > s.n || s.w > s.n) return bad("[cluster] r and w must not exceed n");
  for (auto& k : s.keyspaces) {
    if (k.n == 0) k.n = s.n;
    if (k.r == 0) k.r = std::min(s.r, k.n);
    if (k.w == 0) k.w = std::min(s.w, k.n);
    if (k.r > k.n || k.w > k.n) return bad("[[keyspace]] " + k.prefix + ": r and w must not exceed n");
    if (k.n > s.nodes || (s.membership && k.n > s.InitialNodes())) {
      return bad("[[keyspace]] " + k.prefix + ": n must not exceed the nodes (initial_nodes)");
    }
  }
  if (s.cart + s.set + s.del + s.erase + s.counter + s.score + s.cset + s.czadd + s.chash + s.czset + s.chset + s.chfloat + s.clist == 0) return bad("[workload] every weight is 0");
  if (s.suspect_after_ms > s.down_after_ms) {
    return bad("[timing] suspect_after_ms must not exceed down_after_ms");
  }
  if (!s.final_read_sweep && s.ae_interval_ms == 0) {
    return bad("[anti_entropy] final_read_sweep = false needs interval_ms > 0 (nothing else "
               "makes replicas of unread keys converge)");
  }
  if (s.availability && s.availability_down > (s.membership ? s.FinalMembers() : s.nodes) - s.w) {
    return bad("[availability] down must leave at least w live nodes");
  }
  *out = std::move(s);
  return Status::OK();
}

}  // namespace dynakv::sim
