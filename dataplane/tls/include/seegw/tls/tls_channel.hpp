// TLS over memory buffers (OpenSSL memory BIOs): ciphertext in and out as bytes, so the same
// code serves STARTTLS on kernel sockets and on the DPDK TCP stack.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "seegw/common/error.hpp"

namespace seegw::tls {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

class TlsContext {
 public:
  // Server side of STARTTLS: certificate chain and key in PEM files.
  static Result<std::shared_ptr<TlsContext>> server(const std::string& cert_file,
                                                    const std::string& key_file);
  // Client side: with a CA file the peer is verified; without, the session is encrypted only
  // (opportunistic TLS, RFC 7435). `store_file` ("" : the system's CA certificates) is what
  // channels that ask for a PKIX check of their own (MTA-STS) verify against.
  static Result<std::shared_ptr<TlsContext>> client(const std::string& ca_file,
                                                    const std::string& store_file = {});
  SSL_CTX* get() const { return ctx_.get(); }
  bool is_server() const { return server_; }

 private:
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
  bool server_ = false;
};

// One TLSA record (RFC 6698) a client channel authenticates its peer with (RFC 7672: DANE-TA(2)
// and DANE-EE(3); PKIX usages are not used for SMTP).
struct DaneRecord {
  std::uint8_t usage = 3, selector = 1, matching = 1;
  std::string data;
};
// A TLSA RDATA: 3 bytes and the association data; nullopt when too short.
std::optional<DaneRecord> dane_record(std::string_view rdata);

// What a client channel checks of its peer's certificate beyond its context's setting.
enum class PeerCheck {
  context,  // as the context says
  pkix,     // chain to the context's store and the peer name, or the handshake fails
  report,   // the same checked, the handshake goes on; pkix_verified() tells (MTA-STS testing)
};

class TlsChannel {
 public:
  // A client channel with `dane` records (their usable ones) must authenticate its peer by them:
  // a handshake no record matches fails. `peer_name` is then the reference identifier DANE-TA
  // checks (the MX host name).
  explicit TlsChannel(std::shared_ptr<TlsContext> context, const std::string& peer_name = {},
                      const std::vector<DaneRecord>& dane = {},
                      PeerCheck check = PeerCheck::context);

  // Ciphertext from the network. Decrypted bytes are appended to `plaintext`.
  Result<void> feed(std::string_view ciphertext, std::string& plaintext);
  Result<void> write(std::string_view plaintext);
  // Ciphertext to send to the network.
  std::string take_output();
  bool established() const { return established_; }
  bool closed() const { return closed_; }
  std::string protocol() const;
  std::string cipher() const;
  // The peer was authenticated by one of its TLSA records.
  bool dane_authenticated() const;
  // The peer's certificate chains to the store and names the peer; else why not.
  bool pkix_verified() const;
  std::string pkix_problem() const;
  long verify_result() const { return SSL_get_verify_result(ssl_.get()); }  // X509_V_*

 private:
  Result<void> advance(std::string& plaintext);
  void enable_dane(const std::string& peer_name, const std::vector<DaneRecord>& dane);

  std::shared_ptr<TlsContext> context_;
  std::unique_ptr<SSL, SslFree> ssl_;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
  std::string pending_write_;
  bool established_ = false;
  bool closed_ = false;
};

// The last OpenSSL error queue entries as text, and clears the queue.
std::string openssl_errors();

}  // namespace seegw::tls
