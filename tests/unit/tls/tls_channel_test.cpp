// TLS over memory buffers (tls::TlsChannel) with real OpenSSL and the test PKI: a client and a
// server channel complete a handshake by passing bytes to each other, carry data both ways, and
// a client that verifies its peer refuses one whose certificate does not name it (fail closed:
// no plaintext is ever sent to an unverified peer), and DANE (RFC 7672) authenticates a peer by
// its TLSA record or refuses it.
#include "seegw/tls/tls_channel.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>

namespace seegw::tls {
namespace {

const std::string kPki = SEEGW_TEST_PKI_DIR;

// Passes ciphertext back and forth until neither side has more to say; false on an error.
bool exchange(TlsChannel& client, TlsChannel& server, std::string& at_client,
              std::string& at_server, std::string* error = nullptr) {
  for (int round = 0; round < 20; ++round) {
    const std::string to_server = client.take_output();
    const std::string to_client = server.take_output();
    if (to_server.empty() && to_client.empty()) return true;
    if (auto r = server.feed(to_server, at_server); !r) {
      if (error) *error = r.error().message;
      return false;
    }
    if (auto r = client.feed(to_client, at_client); !r) {
      if (error) *error = r.error().message;
      return false;
    }
  }
  return true;
}

std::shared_ptr<TlsContext> server_context() {
  auto ctx = TlsContext::server(kPki + "/certs/agency-a-dca.pem", kPki + "/certs/agency-a-dca.key");
  EXPECT_TRUE(ctx) << ctx.error().message;
  return ctx ? *ctx : nullptr;
}

TEST(TlsChannel, AHandshakeOverMemoryCarriesDataBothWays) {
  auto server_ctx = server_context();
  ASSERT_TRUE(server_ctx);
  auto client_ctx = TlsContext::client("");  // opportunistic (RFC 7435): encrypted, not verified
  ASSERT_TRUE(client_ctx) << client_ctx.error().message;
  TlsChannel client(*client_ctx), server(server_ctx);
  std::string at_client, at_server;
  ASSERT_TRUE(client.write("EHLO a.example\r\n"));
  ASSERT_TRUE(exchange(client, server, at_client, at_server));
  EXPECT_TRUE(client.established());
  EXPECT_TRUE(server.established());
  EXPECT_EQ(at_server, "EHLO a.example\r\n");
  EXPECT_EQ(client.protocol().rfind("TLSv1.", 0), 0u) << client.protocol();
  ASSERT_TRUE(server.write("250 ok\r\n"));
  ASSERT_TRUE(exchange(client, server, at_client, at_server));
  EXPECT_EQ(at_client, "250 ok\r\n");
}

TEST(TlsChannel, AVerifyingClientRefusesAPeerItsCertificateDoesNotName) {
  auto server_ctx = server_context();
  ASSERT_TRUE(server_ctx);
  auto client_ctx = TlsContext::client(kPki + "/agency-a/ca.pem");
  ASSERT_TRUE(client_ctx) << client_ctx.error().message;
  TlsChannel client(*client_ctx, "mx.elsewhere.example"), server(server_ctx);
  std::string at_client, at_server, error;
  ASSERT_TRUE(client.write("MAIL FROM:<a@b>\r\n"));
  EXPECT_FALSE(exchange(client, server, at_client, at_server, &error));
  EXPECT_FALSE(client.established());
  EXPECT_TRUE(at_server.empty()) << "nothing reached an unverified peer";
  EXPECT_FALSE(error.empty());
}

// The DANE-EE(3) SPKI(1) SHA-256(1) association data of a PEM certificate file.
std::string spki_sha256(const std::string& cert_file) {
  FILE* f = std::fopen(cert_file.c_str(), "r");
  X509* cert = f ? PEM_read_X509(f, nullptr, nullptr, nullptr) : nullptr;
  if (f) std::fclose(f);
  unsigned char* der = nullptr;
  const int n = cert ? i2d_PUBKEY(X509_get0_pubkey(cert), &der) : 0;
  unsigned char md[32];
  unsigned int md_len = 0;
  EVP_Digest(der, static_cast<std::size_t>(n), md, &md_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  X509_free(cert);
  return std::string(reinterpret_cast<char*>(md), md_len);
}

TEST(TlsChannel, DaneAuthenticatesByTheTlsaRecordAndRefusesAMismatch) {
  auto server_ctx = server_context();
  ASSERT_TRUE(server_ctx);
  auto client_ctx = TlsContext::client("");  // no CA: DANE-EE needs none
  ASSERT_TRUE(client_ctx);
  const std::string matching = spki_sha256(kPki + "/certs/agency-a-dca.pem");
  ASSERT_EQ(matching.size(), 32u);
  {
    TlsChannel client(*client_ctx, "mx.agency-a.govt.nz", {{3, 1, 1, matching}});
    TlsChannel server(server_ctx);
    std::string at_client, at_server, error;
    ASSERT_TRUE(client.write("EHLO a.example\r\n"));
    ASSERT_TRUE(exchange(client, server, at_client, at_server, &error)) << error;
    EXPECT_TRUE(client.dane_authenticated());
    EXPECT_EQ(at_server, "EHLO a.example\r\n");
  }
  {
    TlsChannel client(*client_ctx, "mx.agency-a.govt.nz", {{3, 1, 1, std::string(32, '\0')}});
    TlsChannel server(server_ctx);
    std::string at_client, at_server, error;
    ASSERT_TRUE(client.write("MAIL FROM:<a@b>\r\n"));
    EXPECT_FALSE(exchange(client, server, at_client, at_server, &error));
    EXPECT_FALSE(client.established());
    EXPECT_TRUE(at_server.empty()) << "nothing reached a peer its TLSA records do not match";
  }
  {
    // PKIX usages (0, 1) are not for SMTP (RFC 7672 §3.1.3): encrypted, not authenticated.
    TlsChannel client(*client_ctx, "mx.agency-a.govt.nz", {{1, 1, 1, std::string(32, '\0')}});
    TlsChannel server(server_ctx);
    std::string at_client, at_server;
    ASSERT_TRUE(exchange(client, server, at_client, at_server));
    EXPECT_TRUE(client.established());
    EXPECT_FALSE(client.dane_authenticated());
  }
  EXPECT_FALSE(dane_record(std::string("\x03\x01\x01", 3))) << "no association data";
  EXPECT_EQ(dane_record(std::string("\x03\x01\x01\xab", 4))->data, "\xab");
}

TEST(TlsContext, MissingCertificateFilesAreAClearError) {
  auto ctx = TlsContext::server("/nonexistent/cert.pem", "/nonexistent/key.pem");
  ASSERT_FALSE(ctx);
  EXPECT_NE(ctx.error().message.find("/nonexistent/cert.pem"), std::string::npos)
      << ctx.error().message;
}

}  // namespace
}  // namespace seegw::tls
