// tests/sim/main.cc: dynakv-sim, the command line of the deterministic cluster simulator.
//
//   dynakv-sim [--scenario] FILE [FILE ...] [--seed S | --seeds N [--first-seed S]]
//              [--minutes M] [--sabotage MODE] [--expect-violation ID]
//              [--check-determinism] [--verbose] [--quiet]
//
// --seed S             one run per scenario with seed S (replay a failure).
// --seeds N            seeds first-seed .. first-seed+N-1 (first-seed defaults to 1) per
//                      scenario: what CI runs.
// --minutes M          soak: keep running fresh seeds over the scenarios, round robin, until
//                      M minutes have passed (or N seeds per scenario, if --seeds is given).
//                      Without --first-seed the first seed comes from the clock, printed.
// --sabotage MODE      break the system on purpose (drop-replica-writes, phantom, resurrect).
// --expect-violation ID  invert the verdict: every run must fail with invariant ID (so a
//                      checker that stopped seeing anything fails CI).
// --check-determinism  run every seed twice and require identical traces.
// --oracle-handoff     checker self-test for [membership] scenarios: after healing, move
//                      every key's data to its final owners behind the nodes' backs (a
//                      perfect ownership handoff); the scenarios must then pass.
// --expect-determinism-only  the same, and judge nothing else (for scenarios with known bugs).
//
// Every failure prints the seed and the exact command that replays it. Exit status: 0 all
// runs passed, 1 a run failed, 2 bad usage or scenario file.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tests/sim/scenario.h"
#include "tests/sim/simulator.h"

using dynakv::sim::RunOptions;
using dynakv::sim::RunResult;
using dynakv::sim::Sabotage;
using dynakv::sim::Scenario;

namespace {

int Usage(const char* msg) {
  std::fprintf(stderr,
               "dynakv-sim: %s\n"
               "usage: dynakv-sim --scenario FILE [--scenario FILE ...]\n"
               "                  [--seed S | --seeds N [--first-seed S]] [--minutes M]\n"
               "                  [--sabotage drop-replica-writes|phantom|resurrect]\n"
               "                  [--expect-violation ID] [--check-determinism]\n"
               "                  [--expect-determinism-only] [--oracle-handoff]\n"
               "                  [--trace-key KEY] [-v] [-q]\n",
               msg);
  return 2;
}

bool ParseU64(const char* s, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno || !end || *end || end == s) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> paths;
  uint64_t seed = 0, seeds = 0, first_seed = 1, minutes = 0;
  bool have_seed = false, have_first = false, verbose = false, quiet = false, determinism = false;
  bool determinism_only = false;  // judge only replayability (the scenario may hit known bugs)
  bool oracle_handoff = false;
  Sabotage sabotage = Sabotage::kNone;
  std::string expect, trace_key;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--scenario") {
      if (!(v = value())) return Usage("--scenario needs a file");
      paths.push_back(v);
    } else if (a == "--seed") {
      if (!(v = value()) || !ParseU64(v, &seed)) return Usage("--seed needs a number");
      have_seed = true;
    } else if (a == "--seeds") {
      if (!(v = value()) || !ParseU64(v, &seeds) || seeds == 0) return Usage("--seeds needs N > 0");
    } else if (a == "--first-seed") {
      if (!(v = value()) || !ParseU64(v, &first_seed)) return Usage("--first-seed needs a number");
      have_first = true;
    } else if (a == "--minutes") {
      if (!(v = value()) || !ParseU64(v, &minutes) || minutes == 0) return Usage("--minutes needs M > 0");
    } else if (a == "--sabotage") {
      if (!(v = value()) || !dynakv::sim::ParseSabotage(v, &sabotage)) {
        return Usage("--sabotage needs drop-replica-writes, phantom or resurrect");
      }
    } else if (a == "--expect-violation") {
      if (!(v = value())) return Usage("--expect-violation needs an invariant id");
      expect = v;
    } else if (a == "--trace-key") {
      if (!(v = value())) return Usage("--trace-key needs a key");
      trace_key = v;
    } else if (a == "--oracle-handoff") {
      oracle_handoff = true;
    } else if (a == "--check-determinism") {
      determinism = true;
    } else if (a == "--expect-determinism-only") {
      determinism = determinism_only = true;
    } else if (a == "-v" || a == "--verbose") {
      verbose = true;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (!a.empty() && a[0] != '-') {
      paths.push_back(a);  // a bare path is a scenario too (so a shell glob works)
    } else {
      return Usage(("unknown argument " + a).c_str());
    }
  }
  if (paths.empty()) return Usage("no --scenario given");
  if (have_seed && (seeds || have_first || minutes)) {
    return Usage("--seed replays one run; it does not mix with --seeds/--first-seed/--minutes");
  }
  std::vector<Scenario> scenarios;
  for (const auto& p : paths) {
    Scenario s;
    dynakv::Status st = dynakv::sim::LoadScenario(p, &s);
    if (!st.ok()) {
      std::fprintf(stderr, "dynakv-sim: %s\n", st.message().c_str());
      return 2;
    }
    scenarios.push_back(std::move(s));
  }
  if (minutes && !have_first) {
    first_seed = static_cast<uint64_t>(
        std::chrono::system_clock::now().time_since_epoch() / std::chrono::milliseconds(1));
    std::printf("soak: first seed %llu\n", static_cast<unsigned long long>(first_seed));
  }
  if (have_seed) {
    first_seed = seed;
    seeds = 1;
  } else if (!seeds && !minutes) {
    seeds = 1;
  }

  auto start = std::chrono::steady_clock::now();
  auto elapsed_s = [&]() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  int runs = 0, failures = 0;
  for (uint64_t i = 0; seeds == 0 || i < seeds; ++i) {
    if (minutes && elapsed_s() >= 60.0 * static_cast<double>(minutes)) break;
    uint64_t s = first_seed + i;
    for (const Scenario& sc : scenarios) {
      RunOptions opt;
      opt.seed = s;
      opt.sabotage = sabotage;
      opt.verbose = verbose;
      opt.trace_key = trace_key;
      opt.oracle_handoff = oracle_handoff;
      auto t0 = std::chrono::steady_clock::now();
      RunResult r = dynakv::sim::RunSimulation(sc, opt);
      double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++runs;
      std::string replay = std::string(argv[0]) + " --scenario " + sc.path + " --seed " +
                           std::to_string(s);
      if (sabotage != Sabotage::kNone) replay += std::string(" --sabotage ") + dynakv::sim::SabotageName(sabotage);
      if (oracle_handoff) replay += " --oracle-handoff";
      if (determinism) {
        RunResult again = dynakv::sim::RunSimulation(sc, opt);
        if (again.trace_hash != r.trace_hash || again.summary != r.summary ||
            again.violations.size() != r.violations.size()) {
          r.violations.push_back({"determinism", "two runs of the same seed differ (trace " +
                                                     std::to_string(r.trace_hash) + " vs " +
                                                     std::to_string(again.trace_hash) + ")"});
        }
      }
      if (determinism_only) {
        std::erase_if(r.violations, [](const auto& v) { return v.invariant != "determinism"; });
      }
      bool failed = !r.ok();
      if (!expect.empty()) {
        bool seen = false;
        for (const auto& v : r.violations) seen |= v.invariant == expect;
        if (seen) {
          if (!quiet) {
            std::printf("ok   %s seed=%llu: the sabotage tripped \"%s\" as it must (%.2fs)\n",
                        sc.name.c_str(), static_cast<unsigned long long>(s), expect.c_str(), took);
            for (const auto& v : r.violations) {
              if (v.invariant == expect) {
                std::printf("     INVARIANT VIOLATED: %s: %s\n", v.invariant.c_str(), v.detail.c_str());
                break;
              }
            }
          }
          continue;
        }
        ++failures;
        std::printf("FAIL %s seed=%llu: expected INVARIANT VIOLATED: %s, but the checker saw "
                    "nothing of the kind (a checker lost its teeth)\n  %s\n  replay: %s\n",
                    sc.name.c_str(), static_cast<unsigned long long>(s), expect.c_str(),
                    r.summary.c_str(), replay.c_str());
        for (size_t k = 0; k < r.violations.size() && k < 5; ++k) {
          std::printf("  (other) INVARIANT VIOLATED: %s: %s\n", r.violations[k].invariant.c_str(),
                      r.violations[k].detail.c_str());
        }
        continue;
      }
      if (!failed) {
        if (!quiet) {
          std::printf("ok   %-14s seed=%-6llu %.2fs trace=%016llx %s\n", sc.name.c_str(),
                      static_cast<unsigned long long>(s), took,
                      static_cast<unsigned long long>(r.trace_hash), r.summary.c_str());
        }
        continue;
      }
      ++failures;
      std::printf("\nFAIL %s seed=%llu (%.2fs)\n", sc.name.c_str(),
                  static_cast<unsigned long long>(s), took);
      for (const auto& v : r.violations) {
        std::printf("INVARIANT VIOLATED: %s: %s\n", v.invariant.c_str(), v.detail.c_str());
      }
      std::printf("  %s\n  timeline (last %zu notable events):\n", r.summary.c_str(),
                  std::min<size_t>(r.timeline.size(), 80));
      for (size_t k = r.timeline.size() > 80 ? r.timeline.size() - 80 : 0; k < r.timeline.size(); ++k) {
        std::printf("    %s\n", r.timeline[k].c_str());
      }
      std::printf("  scenario: %s  seed: %llu\n  replay:   %s\n\n", sc.path.c_str(),
                  static_cast<unsigned long long>(s), replay.c_str());
      std::fflush(stdout);
    }
  }
  std::printf("%d run(s), %d failed, %.1fs\n", runs, failures, elapsed_s());
  return failures ? 1 : 0;
}
