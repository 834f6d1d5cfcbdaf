// server/tls.h: TLS for client (RESP, memcached) and inter-node connections, over OpenSSL.
//
// OpenSSL never touches a socket here: each connection's SSL object sits between two memory
// BIOs. The libuv read path hands the bytes it read to TlsConn::Feed, which returns the
// plaintext (parsed as before) and any bytes OpenSSL wants sent (handshake records, alerts);
// the write path passes its plaintext through TlsConn::Write and writes the ciphertext. So the
// protocols and the command layer above see plaintext only and do not know TLS exists
// (docs/ARCHITECTURE.md, "TLS"). Ciphertext must leave in the order it was produced: callers
// write every byte Feed or Write returns at once, through the connection's one write queue.
//
// Configuration is [tls] (README, "Security → TLS"). CheckTlsConfig runs at start-up (from
// Validate) and turns a missing, unreadable or mismatched certificate or key into a
// configuration error that names the option.
// Thread-safety: a TlsContext is read-only after Create; a TlsConn belongs to one loop thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "storage/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace dynakv::server {

struct Config;

// True when any [tls] listener or tls.cluster is on.
bool TlsEnabled(const Config& cfg);

// The [tls] checks of Validate: ports, required files, and that the certificate, key and CA
// files load and the key matches the certificate. Errors read "tls.key_file: ...".
Status CheckTlsConfig(const Config& cfg);

// Certificates and settings shared by the connections of one kind.
class TlsContext {
 public:
  enum class Role {
    kClients,  // RESP and memcached listeners: client certificates per tls.auth_clients
    kCluster,  // inter-node, both directions: each side presents its certificate and
               // verifies the other's against tls.ca_cert_file
  };
  static Status Create(const Config& cfg, Role role, std::unique_ptr<TlsContext>* out);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* ctx() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

// One TLS session over memory BIOs.
class TlsConn {
 public:
  // server_side: accepts (listeners); otherwise connects (outbound cluster links).
  TlsConn(const TlsContext& ctx, bool server_side);
  ~TlsConn();
  TlsConn(const TlsConn&) = delete;
  TlsConn& operator=(const TlsConn&) = delete;

  // Client side: begins the handshake; the ClientHello is appended to *wire.
  bool Start(std::string* wire);
  // Bytes read from the socket. Appends the plaintext they complete to *plain and what must
  // be sent back to *wire (write *wire even when this fails: it may carry an alert). False
  // on a failed handshake or a corrupt record: error() says why; close the connection.
  bool Feed(const char* data, size_t len, std::string* plain, std::string* wire);
  // Plaintext to send: its records are appended to *wire. Before the handshake completes
  // the plaintext is kept and goes out (through the *wire of a later Feed) once it does.
  bool Write(std::string_view plain, std::string* wire);

  bool established() const { return established_; }
  bool peer_closed() const { return peer_closed_; }  // close_notify received
  const std::string& error() const { return error_; }

 private:
  bool Handshake(std::string* wire);
  bool Fail(const char* what, int ret);
  void Drain(std::string* wire);

  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // ciphertext in (owned by ssl_)
  BIO* wbio_ = nullptr;  // ciphertext out (owned by ssl_)
  bool established_ = false;
  bool peer_closed_ = false;
  std::string pending_;  // plaintext written before the handshake completed
  std::string error_;
};

}  // namespace dynakv::server
