// Unit tests for server/tls: the [tls] options' validation (missing, unreadable, garbage and
// mismatched files give a configuration error naming the option) and TlsConn sessions over
// memory BIOs (a mutual handshake and a round trip, a certificate from another CA refused,
// garbage refused). Certificates are made with the `openssl` CLI in a temp dir.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "server/config.h"
#include "server/tls.h"

namespace dynakv::server {
namespace {

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/dynakv-tls-unit-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // Two CAs; a node certificate from the first, one from the second ("other").
    std::string d = dir_;
    std::string cmd =
        "set -e; cd " + d + "; "
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf; "
        "for ca in ca other-ca; do openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "  -keyout $ca.key -out $ca.crt -subj /CN=$ca -days 2; done; "
        "mk() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $1.key -out $1.csr -subj /CN=$1; "
        "  openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key -CAcreateserial -out $1.crt -days 2 -extfile ext.cnf; }; "
        "mk node ca; mk other other-ca; "
        "printf 'not a certificate\\n' > garbage.pem; "
        "cp node.key unreadable.key; chmod 000 unreadable.key";
    cmd = "sh -c \"" + Escape(cmd) + "\" >" + d + "/gen.log 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl failed, see " << d << "/gen.log";
  }
  static void TearDownTestSuite() {
    std::string cmd = "rm -rf " + dir_;
    (void)std::system(cmd.c_str());
  }
  static std::string Escape(const std::string& s) {
    std::string out;
    for (char ch : s) {
      if (ch == '"' || ch == '\\' || ch == '$' || ch == '`') out += '\\';
      out += ch;
    }
    return out;
  }
  static std::string F(const std::string& name) { return dir_ + "/" + name; }

  // A node with RESP over TLS, client certificates required.
  static Config Good() {
    Config c;
    c.tls_port = 6380;
    c.tls_cert_file = F("node.crt");
    c.tls_key_file = F("node.key");
    c.tls_ca_cert_file = F("ca.crt");
    return c;
  }
  static std::string Error(const Config& c) {
    Status s = Validate(c);
    return s.ok() ? "" : s.message();
  }

  static std::string dir_;
};
std::string TlsTest::dir_;

TEST_F(TlsTest, OffNeedsNoFiles) {
  Config c;
  EXPECT_FALSE(TlsEnabled(c));
  EXPECT_TRUE(Validate(c).ok());
}

TEST_F(TlsTest, GoodConfigFromToml) {
  Config c;
  std::string text = "[tls]\nport = 6380\nmemcache_port = 11212\ncert_file = \"" + F("node.crt") +
                     "\"\nkey_file = \"" + F("node.key") + "\"\nca_cert_file = \"" + F("ca.crt") +
                     "\"\nauth_clients = false\n";
  ASSERT_TRUE(ApplyToml(text, "t.toml", &c).ok());
  EXPECT_EQ(c.tls_port, 6380);
  EXPECT_EQ(c.tls_memcache_port, 11212);
  EXPECT_FALSE(c.tls_auth_clients);
  EXPECT_FALSE(c.tls_cluster);
  EXPECT_TRUE(TlsEnabled(c));
  EXPECT_TRUE(Validate(c).ok()) << Error(c);
  EXPECT_TRUE(Validate(Good()).ok()) << Error(Good());
}

TEST_F(TlsTest, UnknownTlsKeyIsAnError) {
  Config c;
  Status s = ApplyToml("[tls]\nprot = 6380\n", "t.toml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("tls.prot"), std::string::npos) << s.message();
}

TEST_F(TlsTest, MissingCertOrKeySetting) {
  Config c = Good();
  c.tls_cert_file.clear();
  EXPECT_NE(Error(c).find("tls.cert_file: must be set when TLS is on"), std::string::npos) << Error(c);
  c = Good();
  c.tls_key_file.clear();
  EXPECT_NE(Error(c).find("tls.key_file: must be set"), std::string::npos) << Error(c);
}

TEST_F(TlsTest, MissingAndUnreadableFiles) {
  Config c = Good();
  c.tls_cert_file = F("nope.crt");
  EXPECT_NE(Error(c).find("tls.cert_file: cannot read '" + F("nope.crt") + "': No such file or directory"),
            std::string::npos)
      << Error(c);
  c = Good();
  c.tls_ca_cert_file = F("nope-ca.crt");
  EXPECT_NE(Error(c).find("tls.ca_cert_file: cannot read"), std::string::npos) << Error(c);
  if (geteuid() != 0) {  // root reads a mode-000 file
    c = Good();
    c.tls_key_file = F("unreadable.key");
    EXPECT_NE(Error(c).find("tls.key_file: cannot read '" + F("unreadable.key") + "': Permission denied"),
              std::string::npos)
        << Error(c);
  }
}

TEST_F(TlsTest, GarbageFiles) {
  Config c = Good();
  c.tls_cert_file = F("garbage.pem");
  EXPECT_NE(Error(c).find("tls.cert_file: '" + F("garbage.pem") + "' holds no usable PEM certificate"),
            std::string::npos)
      << Error(c);
  c = Good();
  c.tls_key_file = F("garbage.pem");
  EXPECT_NE(Error(c).find("tls.key_file: '" + F("garbage.pem") + "' holds no usable PEM private key"),
            std::string::npos)
      << Error(c);
  c = Good();
  c.tls_ca_cert_file = F("garbage.pem");
  EXPECT_NE(Error(c).find("tls.ca_cert_file:"), std::string::npos) << Error(c);
}

TEST_F(TlsTest, KeyNotMatchingCertificate) {
  Config c = Good();
  c.tls_key_file = F("other.key");
  EXPECT_NE(Error(c).find("tls.key_file: the private key in '" + F("other.key") +
                          "' does not match the certificate in tls.cert_file"),
            std::string::npos)
      << Error(c);
  c = Good();
  c.tls_port = 0;
  c.tls_memcache_port = 11212;  // the same check for a memcached-only TLS setup
  c.tls_key_file = F("ca.key");
  EXPECT_NE(Error(c).find("does not match"), std::string::npos) << Error(c);
}

TEST_F(TlsTest, CaRequiredForClientAuthAndCluster) {
  Config c = Good();
  c.tls_ca_cert_file.clear();
  EXPECT_NE(Error(c).find("tls.ca_cert_file: must be set with tls.auth_clients = true"), std::string::npos) << Error(c);
  c.tls_auth_clients = false;  // optional client certificates: no CA needed
  EXPECT_TRUE(Validate(c).ok()) << Error(c);
  c = Good();
  c.tls_port = 0;
  c.tls_cluster = true;
  c.cluster_addr = "127.0.0.1:7100";
  c.tls_ca_cert_file.clear();
  EXPECT_NE(Error(c).find("tls.ca_cert_file: must be set with tls.cluster = true"), std::string::npos) << Error(c);
}

TEST_F(TlsTest, ClusterNeedsClusterListenerAndPortsInRange) {
  Config c = Good();
  c.tls_cluster = true;
  EXPECT_NE(Error(c).find("tls.cluster: needs listen.cluster"), std::string::npos) << Error(c);
  c.cluster_addr = "127.0.0.1:7100";
  EXPECT_TRUE(Validate(c).ok()) << Error(c);
  c = Good();
  c.tls_port = 70000;
  EXPECT_NE(Error(c).find("tls.port: must be in 0..65535"), std::string::npos) << Error(c);
  c = Good();
  c.tls_memcache_port = -1;
  EXPECT_NE(Error(c).find("tls.memcache_port: must be in 0..65535"), std::string::npos) << Error(c);
}

TEST_F(TlsTest, ErrorsNameTheConfigFile) {
  Config c = Good();
  c.config_file = "node.toml";
  c.tls_key_file = F("other.key");
  EXPECT_EQ(Error(c).rfind("node.toml: tls.key_file:", 0), 0u) << Error(c);
}

// Runs both sides' handshakes over memory until neither has bytes to send (bounded).
bool Pump(TlsConn* a, TlsConn* b, std::string* a_plain, std::string* b_plain, std::string to_b) {
  std::string to_a;
  for (int i = 0; i < 20 && (!to_a.empty() || !to_b.empty()); ++i) {
    std::string out;
    if (!to_b.empty()) {
      bool ok = b->Feed(to_b.data(), to_b.size(), b_plain, &out);
      to_b.clear();
      to_a += out;
      if (!ok) return false;
    }
    out.clear();
    if (!to_a.empty()) {
      bool ok = a->Feed(to_a.data(), to_a.size(), a_plain, &out);
      to_a.clear();
      to_b += out;
      if (!ok) return false;
    }
  }
  return true;
}

TEST_F(TlsTest, MutualHandshakeAndRoundTrip) {
  Config c = Good();
  c.tls_cluster = true;
  c.cluster_addr = "127.0.0.1:7100";
  std::unique_ptr<TlsContext> ctx;
  ASSERT_TRUE(TlsContext::Create(c, TlsContext::Role::kCluster, &ctx).ok());
  TlsConn client(*ctx, false), server(*ctx, true);
  std::string hello, cp, sp;
  ASSERT_TRUE(client.Start(&hello));
  ASSERT_FALSE(hello.empty());
  std::string early;  // written before the handshake: kept, sent once it completes
  ASSERT_TRUE(client.Write("frame-before-handshake|", &early));
  EXPECT_TRUE(early.empty());
  ASSERT_TRUE(Pump(&client, &server, &cp, &sp, hello)) << client.error() << " / " << server.error();
  EXPECT_TRUE(client.established());
  EXPECT_TRUE(server.established());
  std::string wire;
  std::string big(100000, 'x');  // several records
  ASSERT_TRUE(client.Write(big, &wire));
  ASSERT_TRUE(Pump(&client, &server, &cp, &sp, wire));
  EXPECT_EQ(sp, "frame-before-handshake|" + big);
  wire.clear();
  ASSERT_TRUE(server.Write("+OK\r\n", &wire));
  std::string none;
  ASSERT_TRUE(client.Feed(wire.data(), wire.size(), &cp, &none));
  EXPECT_EQ(cp, "+OK\r\n");
}

TEST_F(TlsTest, CertificateFromAnotherCaIsRefused) {
  Config c = Good();
  std::unique_ptr<TlsContext> server_ctx, other_ctx;
  ASSERT_TRUE(TlsContext::Create(c, TlsContext::Role::kClients, &server_ctx).ok());
  Config o = Good();
  o.tls_cert_file = F("other.crt");
  o.tls_key_file = F("other.key");
  o.tls_ca_cert_file = F("other-ca.crt");
  ASSERT_TRUE(TlsContext::Create(o, TlsContext::Role::kCluster, &other_ctx).ok());
  TlsConn client(*other_ctx, false), server(*server_ctx, true);
  std::string hello, cp, sp;
  ASSERT_TRUE(client.Start(&hello));
  EXPECT_FALSE(Pump(&client, &server, &cp, &sp, hello));
  // The client refuses the server's certificate (not from other-ca), and says why.
  EXPECT_NE(client.error().find("certificate verify failed"), std::string::npos) << client.error();
  EXPECT_FALSE(server.established());
  EXPECT_TRUE(sp.empty());
}

TEST_F(TlsTest, PlainTextAndGarbageAreRefused) {
  std::unique_ptr<TlsContext> ctx;
  ASSERT_TRUE(TlsContext::Create(Good(), TlsContext::Role::kClients, &ctx).ok());
  for (std::string input : {std::string("PING\r\n"), std::string("*1\r\n$4\r\nPING\r\n"),
                            std::string("\x16\x03\x01\xff\xff garbage garbage"), std::string(5000, '\0')}) {
    TlsConn server(*ctx, true);
    std::string plain, wire;
    EXPECT_FALSE(server.Feed(input.data(), input.size(), &plain, &wire)) << input;
    EXPECT_FALSE(server.error().empty());
    EXPECT_TRUE(plain.empty());
    std::string more;  // stays failed
    EXPECT_FALSE(server.Feed("x", 1, &plain, &more));
  }
}

}  // namespace
}  // namespace dynakv::server
