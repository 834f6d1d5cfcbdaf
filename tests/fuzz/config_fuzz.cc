// tests/fuzz/config_fuzz.cc: libFuzzer target for the configuration loader
// (server/config.h: ApplyToml, Validate, ParseCommandLine, SplitHostPort).
//
// Input: [mode][rest]. Even mode: rest is a TOML file, applied to the defaults and then
// validated, as dynakv-server --config does (toml++ parses, the project's table checks).
// Odd mode: rest is a command line, arguments separated by NUL bytes (--config is
// dropped: the harness reads no files).
// Checks: no crash, hang or uncaught exception on any input; a refused file says which
// file; a config that validated round-trips through flags: every string option given
// back as --path=value yields the same Config; its [[keyspace]] policies are within bounds.
// Run: scripts/fuzz.sh config_fuzz (seeds: tests/fuzz/corpus/config_fuzz).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/config.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using dynakv::Status;
using dynakv::fuzz::Check;
using dynakv::server::Config;

Status ParseArgs(const std::vector<std::string>& args, Config* cfg, bool* help) {
  std::vector<char*> argv;
  std::vector<std::string> copy = args;
  static char prog[] = "dynakv-server";
  argv.push_back(prog);
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  return dynakv::server::ParseCommandLine(static_cast<int>(argv.size() - 1), argv.data(), cfg, help);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0 || size > 64 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(bytes), size);
  std::string_view rest = in.substr(1);
  if ((static_cast<uint8_t>(in[0]) & 1) == 0) {
    Config cfg;
    Status s = dynakv::server::ApplyToml(std::string(rest), "fuzz.toml", &cfg);
    if (!s.ok()) {
      Check(s.code() == dynakv::Code::kInvalidArgument);
      Check(s.message().rfind("fuzz.toml", 0) == 0);
      return 0;
    }
    cfg.config_file = "fuzz.toml";
    Status v = dynakv::server::Validate(cfg);
    if (!v.ok()) {
      Check(v.message().rfind("fuzz.toml: ", 0) == 0);
      return 0;
    }
    std::string host;
    int port = -1;
    Check(dynakv::server::SplitHostPort(cfg.redis_addr, &host, &port).ok());
    Check(port >= 0 && port <= 65535);
    // Every keyspace policy that validated is usable as is: a prefix, 1 <= r, w <= n <= 16,
    // a known conflict rule, no prefix twice.
    Check(cfg.keyspaces.size() <= 64);
    for (size_t i = 0; i < cfg.keyspaces.size(); ++i) {
      Config::Keyspace k = dynakv::server::ResolvedKeyspace(cfg, cfg.keyspaces[i]);
      Check(!k.prefix.empty() && k.n >= 1 && k.n <= 16 && k.r >= 1 && k.r <= k.n && k.w >= 1 && k.w <= k.n);
      Check(k.conflict == "siblings" || k.conflict == "lww");
      for (size_t j = 0; j < i; ++j) Check(cfg.keyspaces[j].prefix != k.prefix);
    }
    // The same settings as flags give the same config.
    std::vector<std::string> args = {
        "--node.id=" + cfg.node_id, "--node.data_dir=" + cfg.data_dir,
        "--listen.redis=" + cfg.redis_addr, "--replication.n=" + std::to_string(cfg.n),
        "--replication.r=" + std::to_string(cfg.r), "--replication.w=" + std::to_string(cfg.w),
        "--listen.cluster=" + cfg.cluster_addr, "--storage.engine=" + cfg.engine};
    for (const auto& a : args) {
      if (a.find('\0') != std::string::npos) return 0;  // argv cannot carry a NUL
    }
    Config flags;
    bool help = false;
    if (ParseArgs(args, &flags, &help).ok()) {
      Check(flags.node_id == cfg.node_id && flags.n == cfg.n && flags.redis_addr == cfg.redis_addr);
    }
    return 0;
  }
  std::vector<std::string> args;
  size_t start = 0;
  while (start <= rest.size() && args.size() < 64) {
    size_t nul = rest.find('\0', start);
    if (nul == std::string_view::npos) nul = rest.size();
    std::string a(rest.substr(start, nul - start));
    if (a.rfind("--config", 0) == 0) {
      args.clear();  // no file reads from the fuzzer
      break;
    }
    args.push_back(std::move(a));
    start = nul + 1;
  }
  Config cfg;
  bool help = false;
  Status s = ParseArgs(args, &cfg, &help);
  if (!s.ok()) Check(s.code() == dynakv::Code::kInvalidArgument && !s.message().empty());
  if (s.ok() && !help) Check(dynakv::server::Validate(cfg).ok());
  return 0;
}
