// tests/unit/server_conf_examples_test.cc: every example config under conf/ (single node,
// local 3-node, multi-machine with zones, the package's dynakv.toml) parses and validates,
// and the multi-machine example puts each machine in its own zone with N=3.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "server/config.h"

namespace dynakv::server {
namespace {

// The source tree's conf/: from this file's path when it is absolute, else found by walking
// up from the working directory (ctest runs in build/tests; ccache may make __FILE__ relative).
std::filesystem::path ConfDir() {
  std::filesystem::path f(__FILE__);
  if (f.is_absolute()) return f.parent_path().parent_path().parent_path() / "conf";
  for (auto d = std::filesystem::current_path(); !d.empty(); d = d.parent_path()) {
    if (std::filesystem::exists(d / "conf" / "dynakv.toml")) return d / "conf";
    if (d == d.parent_path()) break;
  }
  ADD_FAILURE() << "conf/ not found above " << std::filesystem::current_path();
  return "conf";
}

Config Load(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  Config c;
  Status s = ApplyToml(ss.str(), p.string(), &c);
  EXPECT_TRUE(s.ok()) << p << ": " << s.ToString();
  if (!c.tls_cert_file.empty()) {
    // conf/tls.toml names certificates the operator makes (README, "TLS"); Validate reads
    // them, so check the rest of it here and the TLS settings' shape. tests/unit/
    // server_tls_test.cc and integration_tls validate real certificates.
    EXPECT_FALSE(c.tls_key_file.empty()) << p;
    EXPECT_TRUE(c.tls_port > 0 || c.tls_memcache_port > 0 || c.tls_cluster) << p;
    c.tls_cert_file.clear();
    c.tls_key_file.clear();
    c.tls_ca_cert_file.clear();
    c.tls_port = c.tls_memcache_port = 0;
    c.tls_cluster = false;
  }
  s = Validate(c);
  EXPECT_TRUE(s.ok()) << p << ": " << s.ToString();
  return c;
}

TEST(ConfExamples, EveryTomlParsesAndValidates) {
  size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(ConfDir())) {
    if (e.path().extension() != ".toml") continue;
    SCOPED_TRACE(e.path().string());
    Load(e.path());
    n++;
  }
  EXPECT_GE(n, 8u) << "single, dynakv, cluster/n1..n3, multi-host/db1..db3";
}

TEST(ConfExamples, MultiHostHasOneZonePerMachineAndSharedSettings) {
  std::set<std::string> zones, ids, secrets;
  for (int i = 1; i <= 3; i++) {
    Config c = Load(ConfDir() / "multi-host" / ("db" + std::to_string(i) + ".toml"));
    zones.insert(c.zone);
    ids.insert(c.node_id);
    secrets.insert(c.cluster_secret);
    EXPECT_EQ(c.n, 3);
    EXPECT_EQ(c.r, 2);
    EXPECT_EQ(c.w, 2);
    EXPECT_EQ(c.seeds.size(), 2u);
    EXPECT_FALSE(c.requirepass.empty());
  }
  EXPECT_EQ(zones.size(), 3u);
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(secrets.size(), 1u);
}

TEST(ConfExamples, PackagedConfigUsesTheServiceDirectories) {
  Config c = Load(ConfDir() / "dynakv.toml");
  EXPECT_EQ(c.data_dir, "/var/lib/dynakv");
  EXPECT_EQ(c.log_file, "/var/log/dynakv/dynakv.log");
  EXPECT_EQ(c.redis_addr, "127.0.0.1:6379");
}

}  // namespace
}  // namespace dynakv::server
