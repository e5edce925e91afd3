#include "seegw/tls/tls_channel.hpp"

#include <fmt/format.h>
#include <openssl/err.h>

namespace seegw::tls {

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Result<std::shared_ptr<TlsContext>> TlsContext::server(const std::string& cert_file,
                                                       const std::string& key_file) {
  auto ctx = std::make_shared<TlsContext>();
  ctx->server_ = true;
  ctx->ctx_.reset(SSL_CTX_new(TLS_server_method()));
  if (!ctx->ctx_) return fail(Errc::tls, openssl_errors());
  SSL_CTX_set_min_proto_version(ctx->get(), TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx->get(), cert_file.c_str()) != 1)
    return fail(Errc::tls, fmt::format("TLS certificate {}: {}", cert_file, openssl_errors()));
  if (SSL_CTX_use_PrivateKey_file(ctx->get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return fail(Errc::tls, fmt::format("TLS key {}: {}", key_file, openssl_errors()));
  if (SSL_CTX_check_private_key(ctx->get()) != 1)
    return fail(Errc::tls, fmt::format("TLS key does not match certificate: {}", openssl_errors()));
  return ctx;
}

Result<std::shared_ptr<TlsContext>> TlsContext::client(const std::string& ca_file,
                                                       const std::string& store_file) {
  auto ctx = std::make_shared<TlsContext>();
  ctx->ctx_.reset(SSL_CTX_new(TLS_client_method()));
  if (!ctx->ctx_) return fail(Errc::tls, openssl_errors());
  SSL_CTX_set_min_proto_version(ctx->get(), TLS1_2_VERSION);
  if (SSL_CTX_dane_enable(ctx->get()) <= 0) return fail(Errc::tls, openssl_errors());
  if (!ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx->get(), ca_file.c_str(), nullptr) != 1)
      return fail(Errc::tls, fmt::format("TLS CA file {}: {}", ca_file, openssl_errors()));
    SSL_CTX_set_verify(ctx->get(), SSL_VERIFY_PEER, nullptr);
  } else if (!store_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx->get(), store_file.c_str(), nullptr) != 1)
      return fail(Errc::tls, fmt::format("TLS CA file {}: {}", store_file, openssl_errors()));
  } else {
    SSL_CTX_set_default_verify_paths(ctx->get());
  }
  return ctx;
}

std::optional<DaneRecord> dane_record(std::string_view rdata) {
  if (rdata.size() < 4) return std::nullopt;
  return DaneRecord{static_cast<std::uint8_t>(rdata[0]), static_cast<std::uint8_t>(rdata[1]),
                    static_cast<std::uint8_t>(rdata[2]), std::string(rdata.substr(3))};
}

TlsChannel::TlsChannel(std::shared_ptr<TlsContext> context, const std::string& peer_name,
                       const std::vector<DaneRecord>& dane, PeerCheck check)
    : context_(std::move(context)), ssl_(SSL_new(context_->get())) {
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl_.get(), in_, out_);
  if (context_->is_server()) {
    SSL_set_accept_state(ssl_.get());
  } else {
    if (!peer_name.empty()) {
      SSL_set_tlsext_host_name(ssl_.get(), peer_name.c_str());
      SSL_set1_host(ssl_.get(), peer_name.c_str());
    }
    if (check == PeerCheck::pkix) SSL_set_verify(ssl_.get(), SSL_VERIFY_PEER, nullptr);
    if (check == PeerCheck::report)
      SSL_set_verify(ssl_.get(), SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    enable_dane(peer_name, dane);
    SSL_set_connect_state(ssl_.get());
    SSL_do_handshake(ssl_.get());  // queues the ClientHello
  }
}

// RFC 7672 §3.1: only DANE-TA(2) and DANE-EE(3) records count; with none usable the session is
// encrypted but not authenticated (§2.2: "mandatory unauthenticated TLS").
void TlsChannel::enable_dane(const std::string& peer_name, const std::vector<DaneRecord>& dane) {
  std::size_t usable = 0;
  for (const auto& r : dane) usable += r.usage == 2 || r.usage == 3;
  if (usable == 0 || SSL_dane_enable(ssl_.get(), peer_name.c_str()) <= 0) return;
  // §3.1.1: a DANE-EE(3) match needs no name check (the record binds the key to the host).
  SSL_dane_set_flags(ssl_.get(), DANE_FLAG_NO_DANE_EE_NAMECHECKS);
  for (const auto& r : dane)
    if (r.usage == 2 || r.usage == 3)
      SSL_dane_tlsa_add(ssl_.get(), r.usage, r.selector, r.matching,
                        reinterpret_cast<const unsigned char*>(r.data.data()), r.data.size());
  SSL_set_verify(ssl_.get(), SSL_VERIFY_PEER, nullptr);
}

bool TlsChannel::dane_authenticated() const {
  return established_ && SSL_get0_dane_authority(ssl_.get(), nullptr, nullptr) >= 0;
}

bool TlsChannel::pkix_verified() const {
  return established_ && SSL_get0_peer_certificate(ssl_.get()) &&
         SSL_get_verify_result(ssl_.get()) == X509_V_OK;
}

std::string TlsChannel::pkix_problem() const {
  if (!SSL_get0_peer_certificate(ssl_.get())) return "no certificate";
  return X509_verify_cert_error_string(SSL_get_verify_result(ssl_.get()));
}

Result<void> TlsChannel::advance(std::string& plaintext) {
  if (!established_) {
    int rc = SSL_do_handshake(ssl_.get());
    if (rc != 1) {
      int err = SSL_get_error(ssl_.get(), rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return {};
      return fail(Errc::tls, fmt::format("TLS handshake failed: {}", openssl_errors()));
    }
    established_ = true;
  }
  char buf[16384];
  while (true) {
    int n = SSL_read(ssl_.get(), buf, sizeof buf);
    if (n > 0) {
      plaintext.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
    if (err == SSL_ERROR_ZERO_RETURN) {
      closed_ = true;
      break;
    }
    return fail(Errc::tls, fmt::format("TLS read failed: {}", openssl_errors()));
  }
  if (!pending_write_.empty()) {
    auto pending = std::exchange(pending_write_, {});
    return write(pending);
  }
  return {};
}

Result<void> TlsChannel::feed(std::string_view ciphertext, std::string& plaintext) {
  if (!ciphertext.empty() &&
      BIO_write(in_, ciphertext.data(), static_cast<int>(ciphertext.size())) <= 0)
    return fail(Errc::tls, "TLS input buffer failed");
  return advance(plaintext);
}

Result<void> TlsChannel::write(std::string_view plaintext) {
  if (!established_) {
    pending_write_.append(plaintext);
    return {};
  }
  while (!plaintext.empty()) {
    int n = SSL_write(ssl_.get(), plaintext.data(), static_cast<int>(plaintext.size()));
    if (n <= 0) return fail(Errc::tls, fmt::format("TLS write failed: {}", openssl_errors()));
    plaintext.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

std::string TlsChannel::take_output() {
  std::string out;
  char buf[16384];
  int n;
  while ((n = BIO_read(out_, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

std::string TlsChannel::protocol() const { return SSL_get_version(ssl_.get()); }

std::string TlsChannel::cipher() const { return SSL_get_cipher_name(ssl_.get()); }

}  // namespace seegw::tls
