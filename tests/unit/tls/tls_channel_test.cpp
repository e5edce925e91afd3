// TLS over memory buffers (tls::TlsChannel) with real OpenSSL and the test PKI: a client and a
// server channel complete a handshake by passing bytes to each other, carry data both ways, and
// a client that verifies its peer refuses one whose certificate does not name it (fail closed:
// no plaintext is ever sent to an unverified peer).
#include "seegw/tls/tls_channel.hpp"

#include <gtest/gtest.h>

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

TEST(TlsContext, MissingCertificateFilesAreAClearError) {
  auto ctx = TlsContext::server("/nonexistent/cert.pem", "/nonexistent/key.pem");
  ASSERT_FALSE(ctx);
  EXPECT_NE(ctx.error().message.find("/nonexistent/cert.pem"), std::string::npos)
      << ctx.error().message;
}

}  // namespace
}  // namespace seegw::tls
