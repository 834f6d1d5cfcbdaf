// server/tls.cc: OpenSSL contexts and memory-BIO sessions (see server/tls.h).
#include "server/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "server/config.h"

namespace dynakv::server {
namespace {

// The reasons OpenSSL queued (and clears the queue, which is per thread and shared by every
// connection of the loop).
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    // "error:0A000086:SSL routines::certificate verify failed" -> the text after the last ':'
    const char* reason = std::strrchr(buf, ':');
    if (!out.empty()) out += "; ";
    out += reason && reason[1] ? reason + 1 : buf;
  }
  return out.empty() ? "unknown error" : out;
}

// Never prompt on the terminal for a passphrase: an encrypted key fails to load instead.
int NoPassphrase(char*, int, int, void*) { return -1; }

Status Readable(const char* key, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return Status::Invalid(std::string(key) + ": cannot read '" + path + "': " + std::strerror(errno));
  }
  std::fclose(f);
  return Status::OK();
}

Status CheckPort(const char* key, int64_t port) {
  if (port < 0 || port > 65535) return Status::Invalid(std::string(key) + ": must be in 0..65535 (0 = off)");
  return Status::OK();
}

}  // namespace

bool TlsEnabled(const Config& cfg) {
  return cfg.tls_port != 0 || cfg.tls_memcache_port != 0 || cfg.tls_cluster;
}

Status TlsContext::Create(const Config& cfg, Role role, std::unique_ptr<TlsContext>* out) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (ctx == nullptr) return Status::IOError("tls: cannot create an OpenSSL context: " + OpenSslErrors());
  std::unique_ptr<TlsContext> holder(new TlsContext(ctx));
  // As Redis's default tls-protocols: TLSv1.2 and TLSv1.3.
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Writes go to a memory BIO whole; the write buffer may move between calls (std::string).
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);  // no resumption: a TLS 1.3 server sends no tickets
  SSL_CTX_set_default_passwd_cb(ctx, NoPassphrase);

  if (cfg.tls_cert_file.empty()) {
    return Status::Invalid("tls.cert_file: must be set when TLS is on (tls.port, tls.memcache_port or tls.cluster)");
  }
  if (cfg.tls_key_file.empty()) {
    return Status::Invalid("tls.key_file: must be set when TLS is on (tls.port, tls.memcache_port or tls.cluster)");
  }
  if (Status s = Readable("tls.cert_file", cfg.tls_cert_file); !s.ok()) return s;
  if (SSL_CTX_use_certificate_chain_file(ctx, cfg.tls_cert_file.c_str()) != 1) {
    return Status::Invalid("tls.cert_file: '" + cfg.tls_cert_file + "' holds no usable PEM certificate (" +
                           OpenSslErrors() + ")");
  }
  if (Status s = Readable("tls.key_file", cfg.tls_key_file); !s.ok()) return s;
  EVP_PKEY* key = nullptr;
  if (BIO* f = BIO_new_file(cfg.tls_key_file.c_str(), "r")) {
    key = PEM_read_bio_PrivateKey(f, nullptr, NoPassphrase, nullptr);
    BIO_free(f);
  }
  if (key == nullptr) {
    return Status::Invalid("tls.key_file: '" + cfg.tls_key_file +
                           "' holds no usable PEM private key (an encrypted key is not supported) (" +
                           OpenSslErrors() + ")");
  }
  X509* cert = SSL_CTX_get0_certificate(ctx);
  bool matches = cert != nullptr && X509_check_private_key(cert, key) == 1;
  int used = matches ? SSL_CTX_use_PrivateKey(ctx, key) : 0;
  EVP_PKEY_free(key);
  if (!matches) {
    ERR_clear_error();
    return Status::Invalid("tls.key_file: the private key in '" + cfg.tls_key_file +
                           "' does not match the certificate in tls.cert_file ('" + cfg.tls_cert_file + "')");
  }
  if (used != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return Status::Invalid("tls.key_file: cannot use the private key in '" + cfg.tls_key_file + "' (" +
                           OpenSslErrors() + ")");
  }
  bool need_ca = role == Role::kCluster || cfg.tls_auth_clients;
  if (need_ca && cfg.tls_ca_cert_file.empty()) {
    return Status::Invalid(role == Role::kCluster
                               ? "tls.ca_cert_file: must be set with tls.cluster = true (peers' certificates are checked against it)"
                               : "tls.ca_cert_file: must be set with tls.auth_clients = true (client certificates are checked against it)");
  }
  if (!cfg.tls_ca_cert_file.empty()) {
    if (Status s = Readable("tls.ca_cert_file", cfg.tls_ca_cert_file); !s.ok()) return s;
    if (SSL_CTX_load_verify_locations(ctx, cfg.tls_ca_cert_file.c_str(), nullptr) != 1) {
      return Status::Invalid("tls.ca_cert_file: '" + cfg.tls_ca_cert_file + "' holds no usable PEM CA certificate (" +
                             OpenSslErrors() + ")");
    }
    if (role == Role::kClients) {
      // Tell clients which CA their certificate must come from.
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(cfg.tls_ca_cert_file.c_str())) {
        SSL_CTX_set_client_CA_list(ctx, names);
      }
    }
  }
  int mode = SSL_VERIFY_NONE;
  if (role == Role::kCluster || cfg.tls_auth_clients) {
    mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;  // mutual: a peer without one is refused
  } else if (!cfg.tls_ca_cert_file.empty()) {
    mode = SSL_VERIFY_PEER;  // optional (Redis's tls-auth-clients optional): checked when sent
  }
  SSL_CTX_set_verify(ctx, mode, nullptr);
  ERR_clear_error();
  *out = std::move(holder);
  return Status::OK();
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Status CheckTlsConfig(const Config& cfg) {
  if (Status s = CheckPort("tls.port", cfg.tls_port); !s.ok()) return s;
  if (Status s = CheckPort("tls.memcache_port", cfg.tls_memcache_port); !s.ok()) return s;
  if (!TlsEnabled(cfg)) return Status::OK();
  if (cfg.tls_cluster && cfg.cluster_addr.empty()) {
    return Status::Invalid("tls.cluster: needs listen.cluster (a standalone node has no inter-node traffic)");
  }
  std::unique_ptr<TlsContext> ctx;
  if (cfg.tls_port != 0 || cfg.tls_memcache_port != 0) {
    if (Status s = TlsContext::Create(cfg, TlsContext::Role::kClients, &ctx); !s.ok()) return s;
  }
  if (cfg.tls_cluster) {
    if (Status s = TlsContext::Create(cfg, TlsContext::Role::kCluster, &ctx); !s.ok()) return s;
  }
  return Status::OK();
}

TlsConn::TlsConn(const TlsContext& ctx, bool server_side) {
  ssl_ = SSL_new(ctx.ctx());
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || rbio_ == nullptr || wbio_ == nullptr) {
    // Out of memory: every call fails and the connection is closed.
    if (rbio_) BIO_free(rbio_);
    if (wbio_) BIO_free(wbio_);
    if (ssl_) SSL_free(ssl_);
    ssl_ = nullptr;
    rbio_ = wbio_ = nullptr;
    error_ = "cannot allocate a TLS session";
    return;
  }
  // An empty read BIO means "wait for more", not end of file.
  BIO_set_mem_eof_return(rbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);
  if (server_side) SSL_set_accept_state(ssl_);
  else SSL_set_connect_state(ssl_);
}

TlsConn::~TlsConn() {
  if (ssl_) SSL_free(ssl_);  // frees both BIOs
}

void TlsConn::Drain(std::string* wire) {
  size_t n = BIO_ctrl_pending(wbio_);
  if (n == 0) return;
  size_t old = wire->size();
  wire->resize(old + n);
  int got = BIO_read(wbio_, wire->data() + old, int(n));
  wire->resize(old + size_t(got > 0 ? got : 0));
}

bool TlsConn::Fail(const char* what, int ret) {
  int e = SSL_get_error(ssl_, ret);
  std::string why;
  if (e == SSL_ERROR_SSL) {
    why = OpenSslErrors();
    long v = SSL_get_verify_result(ssl_);
    if (v != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(v) + ")";
  } else if (e == SSL_ERROR_SYSCALL) {
    why = "unexpected end of stream";
    ERR_clear_error();
  } else {
    why = "SSL error " + std::to_string(e);
    ERR_clear_error();
  }
  error_ = std::string(what) + ": " + why;
  return false;
}

bool TlsConn::Start(std::string* wire) {
  if (ssl_ == nullptr) return false;
  return Handshake(wire);
}

bool TlsConn::Handshake(std::string* wire) {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  Drain(wire);
  if (r != 1) {
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
    return Fail("handshake failed", r);
  }
  established_ = true;
  if (!pending_.empty()) {
    std::string p;
    p.swap(pending_);
    return Write(p, wire);
  }
  return true;
}

bool TlsConn::Feed(const char* data, size_t len, std::string* plain, std::string* wire) {
  if (ssl_ == nullptr) return false;
  if (!error_.empty()) return false;
  while (len > 0) {
    int chunk = int(std::min<size_t>(len, 1u << 30));
    int n = BIO_write(rbio_, data, chunk);
    if (n <= 0) {
      error_ = "cannot buffer TLS input";
      return false;
    }
    data += n;
    len -= size_t(n);
  }
  if (!established_) {
    if (!Handshake(wire)) return false;
    if (!established_) return true;
  }
  ERR_clear_error();
  thread_local char buf[16 * 1024];  // one record's plaintext at most
  for (;;) {
    int r = SSL_read(ssl_, buf, int(sizeof(buf)));
    if (r > 0) {
      plain->append(buf, size_t(r));
      continue;
    }
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
    if (e == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      break;
    }
    Drain(wire);
    return Fail("bad TLS record", r);
  }
  Drain(wire);
  return true;
}

bool TlsConn::Write(std::string_view plain, std::string* wire) {
  if (ssl_ == nullptr || !error_.empty()) return false;
  if (!established_) {
    pending_.append(plain);
    return true;
  }
  ERR_clear_error();
  while (!plain.empty()) {
    int chunk = int(std::min<size_t>(plain.size(), 1u << 30));
    int r = SSL_write(ssl_, plain.data(), chunk);
    if (r <= 0) {
      Drain(wire);
      return Fail("TLS write failed", r);
    }
    plain.remove_prefix(size_t(r));
  }
  Drain(wire);
  return true;
}

}  // namespace dynakv::server
