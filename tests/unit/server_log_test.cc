// tests/unit/server_log_test.cc: the node's log (server/log.h): the per-kind rate limit and
// its "suppressed" count, levels, the file destination and reopening it after a rename (what
// logrotate does before sending SIGHUP).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "server/log.h"

namespace dynakv::server {
namespace {

using Level = cluster::Logger::Level;

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

size_t Lines(const std::string& s) { return size_t(std::count(s.begin(), s.end(), '\n')); }

struct TmpDir {
  std::string path;
  TmpDir() {
    char tmpl[] = "/tmp/dkv-log-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TmpDir() { std::filesystem::remove_all(path); }
};

// What the limiter wrote: "text|dropped" per line.
struct Sink {
  std::vector<std::string> lines;
  LogRateLimiter::Emit emit() {
    return [this](Level, std::string_view m, uint64_t dropped) {
      lines.push_back(std::string(m) + "|" + std::to_string(dropped));
    };
  }
};

TEST(LogRateLimiter, OneLinePerKindPerIntervalTheLastHeldLineFollows) {
  LogRateLimiter rl(1000);
  Sink out;
  rl.Log(Level::kInfo, "handoff progress: 0", 5000, out.emit());
  for (int i = 1; i <= 7; i++) rl.Log(Level::kInfo, "handoff progress: " + std::to_string(i), 5100 + i, out.emit());
  rl.Log(Level::kInfo, "membership: n2 up", 5200, out.emit());  // its own budget
  rl.Tick(5999, out.emit());
  EXPECT_EQ(out.lines, (std::vector<std::string>{"handoff progress: 0|0", "membership: n2 up|0"}));
  rl.Tick(6000, out.emit());  // the last held line, with the 6 dropped before it
  EXPECT_EQ(out.lines.back(), "handoff progress: 7|6");
  rl.Tick(9000, out.emit());
  EXPECT_EQ(out.lines.size(), 3u) << "nothing held";
  rl.Log(Level::kInfo, "handoff progress: 8", 9100, out.emit());
  EXPECT_EQ(out.lines.back(), "handoff progress: 8|0") << "interval over: written at once";
  // A held line superseded by a line admitted later counts as dropped.
  rl.Log(Level::kWarn, "handoff progress: 9", 9200, out.emit());
  rl.Log(Level::kWarn, "handoff progress: 10", 10100, out.emit());
  EXPECT_EQ(out.lines.back(), "handoff progress: 10|1");
}

// A failure seen within a second of the one before is written late, not lost.
TEST(LogRateLimiter, SuspectThenDownWithinASecondBothShow) {
  LogRateLimiter rl(1000);
  Sink out;
  rl.Log(Level::kWarn, "failure detector: n3 is now suspect", 100, out.emit());
  rl.Log(Level::kWarn, "failure detector: n3 is now down", 700, out.emit());
  for (uint64_t t = 800; t <= 1200; t += 100) rl.Tick(t, out.emit());
  EXPECT_EQ(out.lines, (std::vector<std::string>{"failure detector: n3 is now suspect|0",
                                                 "failure detector: n3 is now down|0"}));
}

TEST(LogRateLimiter, KindIsTheTextBeforeTheFirstColonSpace) {
  EXPECT_EQ(LogRateLimiter::KindOf("failure detector: n3 is now suspect"), "failure detector");
  EXPECT_EQ(LogRateLimiter::KindOf("anti-entropy repair: 3 key(s) updated from n2: x"), "anti-entropy repair");
  EXPECT_EQ(LogRateLimiter::KindOf("no colon here"), "no colon here");
  EXPECT_EQ(LogRateLimiter::KindOf("addr 127.0.0.1:7000 down"), "addr 127.0.0.1:7000 down");
}

TEST(ServerLogger, FileLevelsRateLimitAndReopen) {
  TmpDir d;
  std::string file = d.path + "/dynakv.log";
  uint64_t now = 1000;
  auto r = ServerLogger::Open("n7", Level::kInfo, file, [&] { return now; });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ServerLogger& log = *r.value();
  log.Log(Level::kDebug, "debug line: hidden");
  log.Log(Level::kInfo, "membership: n2 is now up (was joining)");
  for (int i = 0; i < 5; i++) log.Log(Level::kInfo, "handoff progress: " + std::to_string(i));
  now += 1500;
  log.Log(Level::kWarn, "handoff progress: last");
  log.Tick();
  std::string text = ReadAll(file);
  EXPECT_EQ(Lines(text), 3u) << text;
  EXPECT_EQ(text.find("hidden"), std::string::npos);
  EXPECT_NE(text.find("[n7] info: membership: n2 is now up (was joining)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("info: handoff progress: 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("warning: handoff progress: last (4 similar suppressed)\n"), std::string::npos) << text;

  // logrotate: the file is renamed, then the node reopens by name.
  ASSERT_EQ(std::rename(file.c_str(), (file + ".1").c_str()), 0);
  log.Log(Level::kInfo, "still old: goes to the renamed file");
  ASSERT_TRUE(log.Reopen().ok());
  log.Log(Level::kError, "after reopen: in the new file");
  std::string old_text = ReadAll(file + ".1"), new_text = ReadAll(file);
  EXPECT_NE(old_text.find("still old"), std::string::npos);
  EXPECT_EQ(old_text.find("after reopen"), std::string::npos);
  EXPECT_NE(new_text.find("error: after reopen: in the new file"), std::string::npos) << new_text;
  EXPECT_NE(new_text.find("log reopened: " + file), std::string::npos) << new_text;
}

TEST(ServerLogger, UnopenableFileIsAnErrorNamingIt) {
  TmpDir d;
  std::string blocker = d.path + "/file";  // spdlog creates missing directories: use a file
  std::ofstream(blocker) << "x";
  auto r = ServerLogger::Open("n1", Level::kInfo, blocker + "/x.log");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cannot open log file " + blocker + "/x.log"), std::string::npos)
      << r.status().ToString();
}

TEST(ServerLogger, ParseLevel) {
  EXPECT_EQ(ServerLogger::ParseLevel("debug"), Level::kDebug);
  EXPECT_EQ(ServerLogger::ParseLevel("info"), Level::kInfo);
  EXPECT_EQ(ServerLogger::ParseLevel("warn"), Level::kWarn);
  EXPECT_EQ(ServerLogger::ParseLevel("error"), Level::kError);
}

}  // namespace
}  // namespace dynakv::server
