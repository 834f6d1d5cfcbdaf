// Unit tests for the reliability/security options: security.protected_mode (the loopback test
// and the refusal texts, server/protected_mode.h), limits.shutdown_timeout,
// debug.enable_debug_command, and that secrets never appear in config errors or --help.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "server/config.h"
#include "server/protected_mode.h"

namespace dynakv::server {
namespace {

constexpr const char* kPass = "Pw-7f3a9c1e-secret";
constexpr const char* kClusterSecret = "Cs-0b8d2e44-secret";

TEST(ProtectTest, Defaults) {
  Config c;
  EXPECT_TRUE(c.protected_mode);
  EXPECT_EQ(c.shutdown_timeout_s, 10);
  EXPECT_FALSE(c.enable_debug_command);
  EXPECT_TRUE(Validate(c).ok());
}

TEST(ProtectTest, TomlAndFlags) {
  Config c;
  ASSERT_TRUE(ApplyToml("[security]\nprotected_mode = false\n[limits]\nshutdown_timeout = 0\n"
                        "[debug]\nenable_debug_command = true\n",
                        "t.toml", &c)
                  .ok());
  EXPECT_FALSE(c.protected_mode);
  EXPECT_EQ(c.shutdown_timeout_s, 0);
  EXPECT_TRUE(c.enable_debug_command);
  EXPECT_TRUE(Validate(c).ok());

  Status s = ApplyToml("[security]\nprotected_mode = \"no\"\n", "t.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("security.protected_mode: expected true or false"), std::string::npos);

  Config f;
  bool help = false;
  std::vector<std::string> args = {"dynakv-server", "--security.protected_mode", "no",
                                   "--limits.shutdown_timeout", "3",
                                   "--debug.enable_debug_command=yes"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ASSERT_TRUE(ParseCommandLine(int(argv.size()), argv.data(), &f, &help).ok());
  EXPECT_FALSE(f.protected_mode);
  EXPECT_EQ(f.shutdown_timeout_s, 3);
  EXPECT_TRUE(f.enable_debug_command);
}

TEST(ProtectTest, ShutdownTimeoutRange) {
  Config c;
  c.shutdown_timeout_s = -1;
  Status s = Validate(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("limits.shutdown_timeout: must be in 0..86400"), std::string::npos);
  c.shutdown_timeout_s = 86401;
  EXPECT_FALSE(Validate(c).ok());
  c.shutdown_timeout_s = 86400;
  EXPECT_TRUE(Validate(c).ok());
}

TEST(ProtectTest, HelpListsNewKeysAndNoSecret) {
  std::string h = HelpText();
  EXPECT_NE(h.find("--security.protected_mode"), std::string::npos);
  EXPECT_NE(h.find("--limits.shutdown_timeout"), std::string::npos);
  EXPECT_NE(h.find("--debug.enable_debug_command"), std::string::npos);
  EXPECT_TRUE(IsSecretOption("security.requirepass"));
  EXPECT_TRUE(IsSecretOption("security.cluster_secret"));
  EXPECT_FALSE(IsSecretOption("security.protected_mode"));
}

sockaddr_storage V4(const char* ip) {
  sockaddr_storage ss = {};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  in->sin_family = AF_INET;
  EXPECT_EQ(inet_pton(AF_INET, ip, &in->sin_addr), 1);
  return ss;
}

sockaddr_storage V6(const char* ip) {
  sockaddr_storage ss = {};
  auto* in = reinterpret_cast<sockaddr_in6*>(&ss);
  in->sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, ip, &in->sin6_addr), 1);
  return ss;
}

const sockaddr* SA(const sockaddr_storage& ss) { return reinterpret_cast<const sockaddr*>(&ss); }

TEST(ProtectTest, Loopback) {
  EXPECT_TRUE(IsLoopbackAddress(SA(V4("127.0.0.1"))));
  EXPECT_TRUE(IsLoopbackAddress(SA(V4("127.255.3.9"))));
  EXPECT_TRUE(IsLoopbackAddress(SA(V6("::1"))));
  EXPECT_TRUE(IsLoopbackAddress(SA(V6("::ffff:127.0.0.1"))));
  EXPECT_FALSE(IsLoopbackAddress(SA(V4("10.250.0.1"))));
  EXPECT_FALSE(IsLoopbackAddress(SA(V4("128.0.0.1"))));
  EXPECT_FALSE(IsLoopbackAddress(SA(V4("0.0.0.0"))));
  EXPECT_FALSE(IsLoopbackAddress(SA(V6("::2"))));
  EXPECT_FALSE(IsLoopbackAddress(SA(V6("::ffff:10.0.0.1"))));
  EXPECT_FALSE(IsLoopbackAddress(SA(V6("fe80::1"))));
}

TEST(ProtectTest, RefusesOnlyRemoteClientsWithoutPassword) {
  Config c;
  auto remote = V4("192.0.2.7"), local = V4("127.0.0.1");
  EXPECT_TRUE(ProtectedModeRefuses(c, SA(remote)));
  EXPECT_FALSE(ProtectedModeRefuses(c, SA(local)));
  c.requirepass = "x";
  EXPECT_FALSE(ProtectedModeRefuses(c, SA(remote)));
  c.requirepass.clear();
  c.protected_mode = false;
  EXPECT_FALSE(ProtectedModeRefuses(c, SA(remote)));
}

TEST(ProtectTest, RefusalTexts) {
  std::string_view r = ProtectedModeRespError();
  EXPECT_EQ(r.substr(0, 66), "-DENIED Redis is running in protected mode because protected mode ");
  EXPECT_EQ(r.size(), 1067u);  // the exact length redis-server 7.0 sends
  EXPECT_NE(r.find("4) Setup a an authentication password for the default user."), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 2), "\r\n");
  EXPECT_EQ(r.find('\n'), r.size() - 1);
  std::string_view m = ProtectedModeMemcacheError();
  EXPECT_EQ(m.substr(0, 13), "SERVER_ERROR ");
  EXPECT_NE(m.find("protected mode"), std::string::npos);
  EXPECT_EQ(m.find('\n'), m.size() - 1);
}

// A bad config file next to the secrets: the error names the file and key but never the value.
void ExpectNoSecret(const std::string& toml) {
  SCOPED_TRACE(toml);
  Config c;
  Status s = ApplyToml(toml, "bad.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("bad.toml"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find(kPass), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find(kClusterSecret), std::string::npos) << s.message();
  // Nor a fragment quoted by the TOML parser ("saw 'P'", "unknown escape '\q'").
  EXPECT_EQ(s.message().find("'P'"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("\\q"), std::string::npos) << s.message();
}

TEST(ProtectTest, ConfigErrorsNeverEchoSecrets) {
  const std::string p = kPass, cs = kClusterSecret;
  ExpectNoSecret("[security]\nrequirepass = " + p + "\n");                 // unquoted
  ExpectNoSecret("[security]\nrequirepass = \"" + p + "\n");               // unterminated
  ExpectNoSecret("[security]\nrequirepass = \"Pw\\q" + p + "\"\n");       // bad escape
  ExpectNoSecret("[security]\nrequirepass = '" + p + "' x\n");             // trailing junk
  ExpectNoSecret("[security]\nrequirepass = 1" + p + "\n");                // number-ish
  ExpectNoSecret("[security]\nrequirepass = [\"" + p + "\"]\n");           // wrong type
  ExpectNoSecret("[security]\ncluster_secret = " + cs + "\n");
  ExpectNoSecret("[security]\ncluster_secret = \"\"\"" + cs + "\n\\q\"\"\"\n");  // multi-line
  ExpectNoSecret("security = { requirepass = " + p + " }\n");
  ExpectNoSecret("[security]\nrequirepass = \"" + p + "\"\ncluster_secret = \"" + cs +
                 "\"\n[limits]\nmaxclients = \"many\"\n");
  ExpectNoSecret("[security]\nrequirepass = \"" + p + "\"\n[limits]\nmaxclients = many\n");
  // An error elsewhere keeps its description.
  Config c;
  Status s = ApplyToml("[limits]\nmaxclients = 1 x\n", "bad.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("saw 'x'"), std::string::npos) << s.message();
}

TEST(ProtectTest, CommandLineErrorsNeverEchoSecrets) {
  char tmpl[] = "/tmp/dkv_protect_cfg_XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(tmpl);
    out << "[security]\nrequirepass = \"" << kPass << "\"\ncluster_secret = \"" << kClusterSecret
        << "\"\n[limits]\nmaxclients = \"" << kPass << "\"\n";
  }
  std::vector<std::vector<std::string>> cases = {
      {"dynakv-server", "--config", tmpl},
      {"dynakv-server", "--bogus", "--requirepass", kPass},
      {"dynakv-server", "--bogus", "--security.cluster_secret", kClusterSecret},
      {"dynakv-server", "--requirepass", kPass, "--replication.r", "5"},
  };
  for (auto& args : cases) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    Config c;
    bool help = false;
    Status s = ParseCommandLine(int(argv.size()), argv.data(), &c, &help);
    ASSERT_FALSE(s.ok()) << args[1];
    EXPECT_EQ(s.message().find(kPass), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find(kClusterSecret), std::string::npos) << s.message();
  }
  std::remove(tmpl);
}

}  // namespace
}  // namespace dynakv::server
