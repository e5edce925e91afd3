// The SMTP client engine against our own server engine (both sans-IO, wired back to back) and
// against scripted replies for the cases a real server may produce.
#include "seegw/smtp/client_session.hpp"

#include <gtest/gtest.h>

#include <random>

#include "seegw/smtp/server_session.hpp"

namespace seegw::smtp {
namespace {

ServerOptions server_options(bool pipelining_peer = true) {
  ServerOptions o;
  o.hostname = "sink.example";
  o.is_local_domain = [](std::string_view) { return true; };
  (void)pipelining_peer;
  return o;
}

// Shuttles bytes between a client and a server session until neither has anything to say.
void pump(ClientSession& client, ServerSession& server, std::vector<MessageReady>& stored) {
  for (int round = 0; round < 100; ++round) {
    std::string c2s = client.take_output();
    if (!c2s.empty()) server.feed(c2s);
    if (server.event() == Event::message_ready) {
      stored.push_back(server.take_message());
      server.message_stored("ID" + std::to_string(stored.size()));
    }
    std::string s2c = server.take_output();
    if (!s2c.empty()) client.feed(s2c);
    if (c2s.empty() && s2c.empty()) return;
  }
}

OutboundMessage message(std::string content, std::vector<std::string> rcpts) {
  OutboundMessage m;
  m.mail_from = "a@agency-a.govt.nz";
  m.rcpt_to = std::move(rcpts);
  m.content = std::make_shared<const std::string>(std::move(content));
  return m;
}

TEST(SmtpClient, DeliversTwoMessagesOverOneConnectionByteIdentical) {
  ServerSession server(server_options(), "127.0.0.1", 1, true);
  ClientSession client(ClientOptions{"gw.agency-a.govt.nz", TlsPolicy::none, false});
  std::vector<MessageReady> stored;
  server.greet();
  pump(client, server, stored);
  ASSERT_EQ(client.event(), ClientSession::Event::ready);

  const std::string body = "Subject: t\r\n\r\n.starts with a dot\r\n..two dots\r\nend\r\n";
  client.send(message(body, {"x@example.org", "y@example.org"}));
  pump(client, server, stored);
  ASSERT_EQ(client.event(), ClientSession::Event::message_done);
  auto result = client.take_result();
  ASSERT_EQ(result.recipients.size(), 2u);
  for (auto& r : result.recipients) EXPECT_EQ(r.code, 250) << r.reply;
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].content, body);
  EXPECT_EQ(stored[0].envelope.rcpt_to.size(), 2u);

  ASSERT_EQ(client.event(), ClientSession::Event::ready);
  client.send(message("Subject: 2\r\n\r\nno final newline", {"z@example.org"}));
  pump(client, server, stored);
  ASSERT_EQ(client.take_result().recipients[0].code, 250);
  EXPECT_EQ(stored[1].content, "Subject: 2\r\n\r\nno final newline\r\n");
  client.quit();
  pump(client, server, stored);
  EXPECT_EQ(client.event(), ClientSession::Event::closed);
}

TEST(SmtpClient, PerRecipientResultsWithPipelining) {
  ClientSession client(ClientOptions{"gw", TlsPolicy::none, false});
  client.feed("220 hi\r\n");
  client.take_output();
  client.feed("250-hi\r\n250-PIPELINING\r\n250 SIZE 100000\r\n");
  ASSERT_EQ(client.event(), ClientSession::Event::ready);
  client.send(message("x\r\n", {"ok@e.org", "nouser@e.org", "later@e.org"}));
  std::string cmds = client.take_output();
  EXPECT_EQ(
      cmds,
      "MAIL FROM:<a@agency-a.govt.nz> SIZE=3\r\nRCPT TO:<ok@e.org>\r\nRCPT TO:<nouser@e.org>\r\n"
      "RCPT TO:<later@e.org>\r\nDATA\r\n");
  client.feed("250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n451 4.3.0 try later\r\n354 go\r\n");
  EXPECT_EQ(client.take_output(), "x\r\n.\r\n");
  client.feed("250 2.0.0 queued\r\n");
  ASSERT_EQ(client.event(), ClientSession::Event::message_done);
  auto r = client.take_result();
  EXPECT_EQ(r.recipients[0].code, 250);
  EXPECT_EQ(r.recipients[1].code, 550);
  EXPECT_EQ(r.recipients[1].reply, "5.1.1 no such user");
  EXPECT_EQ(r.recipients[2].code, 451);
}

TEST(SmtpClient, WithoutPipeliningSendsOneCommandAtATime) {
  ClientSession client(ClientOptions{"gw", TlsPolicy::none, false});
  client.feed("220 hi\r\n");
  client.take_output();
  client.feed("250 hi\r\n");
  client.send(message("x\r\n", {"a@e.org", "b@e.org"}));
  EXPECT_EQ(client.take_output(), "MAIL FROM:<a@agency-a.govt.nz>\r\n");
  client.feed("250 ok\r\n");
  EXPECT_EQ(client.take_output(), "RCPT TO:<a@e.org>\r\n");
  client.feed("550 no\r\n");
  EXPECT_EQ(client.take_output(), "RCPT TO:<b@e.org>\r\n");
  client.feed("550 no\r\n");
  EXPECT_EQ(client.take_output(), "RSET\r\n");
  client.feed("250 ok\r\n");
  auto r = client.take_result();
  EXPECT_EQ(r.recipients[0].code, 550);
  EXPECT_EQ(r.recipients[1].code, 550);
}

TEST(SmtpClient, MailRefusedFailsEveryRecipient) {
  ClientSession client(ClientOptions{"gw", TlsPolicy::none, false});
  client.feed("220 hi\r\n250-hi\r\n250 PIPELINING\r\n");
  client.take_output();
  client.send(message("x\r\n", {"a@e.org"}));
  client.take_output();
  client.feed("452 4.3.1 full\r\n503 need mail\r\n503 need mail\r\n");
  EXPECT_EQ(client.take_output(), "RSET\r\n");
  client.feed("250 ok\r\n");
  EXPECT_EQ(client.take_result().recipients[0].code, 452);
}

TEST(SmtpClient, TlsRequiredButNotOfferedFails) {
  ClientSession client(ClientOptions{"gw", TlsPolicy::required, true});
  client.feed("220 hi\r\n250-hi\r\n250 PIPELINING\r\n");
  EXPECT_EQ(client.event(), ClientSession::Event::closed);
  EXPECT_NE(client.failure().find("TLS is required"), std::string::npos);
}

TEST(SmtpClient, OpportunisticTlsStartsWhenOffered) {
  ClientSession client(ClientOptions{"gw", TlsPolicy::opportunistic, true});
  client.feed("220 hi\r\n250-hi\r\n250 STARTTLS\r\n");
  EXPECT_EQ(client.take_output(), "EHLO gw\r\nSTARTTLS\r\n");
  client.feed("220 go ahead\r\n250 injected-after-220\r\n");
  ASSERT_EQ(client.event(), ClientSession::Event::start_tls);
  client.tls_started();
  EXPECT_EQ(client.take_output(), "EHLO gw\r\n");
  EXPECT_TRUE(client.tls_active());
}

TEST(SmtpClient, MalformedReplyFailsTheMessageTemporarily) {
  ClientSession client(ClientOptions{"gw", TlsPolicy::none, false});
  client.feed("220 hi\r\n250 hi\r\n");
  client.send(message("x\r\n", {"a@e.org"}));
  client.feed("garbage\r\n");
  ASSERT_EQ(client.event(), ClientSession::Event::message_done);
  EXPECT_EQ(client.take_result().recipients[0].code, 451);
  EXPECT_EQ(client.event(), ClientSession::Event::closed);
}

TEST(SmtpClient, ConnectionLossMidDataIsTemporary) {
  ClientSession client(ClientOptions{"gw", TlsPolicy::none, false});
  client.feed("220 hi\r\n250-hi\r\n250 PIPELINING\r\n");
  client.send(message("x\r\n", {"a@e.org"}));
  client.feed("250 ok\r\n250 ok\r\n354 go\r\n");
  client.fail("peer closed the connection");
  auto r = client.take_result();
  EXPECT_EQ(r.recipients[0].code, 451);
  EXPECT_NE(r.recipients[0].reply.find("peer closed"), std::string::npos);
}

TEST(DotStuffing, NormalisesBareLineEndsAndStuffsDots) {
  std::string out;
  append_dot_stuffed(out, ".a\nb\r.c\r\n.");
  EXPECT_EQ(out, "..a\r\nb\r\n..c\r\n..\r\n.\r\n");
}

// The byte-at-a-time definition: every CR, LF or CRLF ends a line; a line starting with '.'
// gets another; the body ends with CRLF "." CRLF.
std::string dot_stuffed_by_bytes(std::string_view content) {
  std::string out;
  bool line_start = true;
  for (std::size_t i = 0; i < content.size(); ++i) {
    const char c = content[i];
    if (c == '\r' || c == '\n') {
      out += "\r\n";
      if (c == '\r' && i + 1 < content.size() && content[i + 1] == '\n') ++i;
      line_start = true;
      continue;
    }
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = false;
  }
  if (!line_start) out += "\r\n";
  return out + ".\r\n";
}

TEST(DotStuffing, AgreesWithTheBytewiseDefinitionOnRandomBodies) {
  std::mt19937 random(20261130);
  const char alphabet[] = {'a', '.', '\r', '\n', ' '};
  for (int round = 0; round < 2000; ++round) {
    std::string body(random() % 64, ' ');
    for (auto& c : body) c = alphabet[random() % sizeof alphabet];
    std::string out;
    append_dot_stuffed(out, body);
    ASSERT_EQ(out, dot_stuffed_by_bytes(body))
        << "body of " << body.size() << " bytes, round " << round;
  }
}

TEST(DotStuffing, ABodyOfBareCarriageReturnsIsOneLinePerCr) {
  const std::string body(200000, '\r');  // stays linear: the LF search is not repeated per line
  std::string out;
  append_dot_stuffed(out, body);
  EXPECT_EQ(out.size(), 2 * body.size() + 3);
}

}  // namespace
}  // namespace seegw::smtp
