// Key commands, all through the data plane (it alone holds the HSM PIN): list, generate, CSR,
// install, retire, and the guided change-over (rollover, then switch and publish).
#include <fmt/format.h>
#include <openssl/x509.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "console_text.hpp"
#include "reply.hpp"
#include "seegw/common/admin_protocol.hpp"
#include "seegw/common/file.hpp"
#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/daemon/controller.hpp"
#include "seegw/directory/directory.hpp"
#include "seegw/mime/codec.hpp"
#include "seegw/x509/certificate.hpp"
#include "seegw/x509/validation.hpp"

namespace seegw::daemon {
namespace fs = std::filesystem;

void Controller::cmd_key_list(const Call&, Reply& reply) {
  auto dp = dataplane("key list");
  if (!dp) return reply.error(dp.error().message);
  auto keys = admin::decode_keys(*dp);
  if (!keys) return reply.error(keys.error().message);
  Json data = Json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& k : *keys) {
    data.push_back(
        {{"label", k.label}, {"type", k.type}, {"use", k.use}, {"protection", k.protection}});
    rows.push_back({k.label, k.type, k.use, k.protection});
  }
  return reply.answer(true, render_table({"LABEL", "TYPE", "USE", "PROTECTION"}, rows, {24, 9, 7}),
                      data);
}

void Controller::cmd_key_generate(const Call& call, Reply& reply) {
  const auto& args = call.args;
  return forward("key generate " + args[0] + (args.size() > 1 ? " " + args[1] : ""), reply);
}

void Controller::cmd_key_csr(const Call& call, Reply& reply) {
  const auto& args = call.args;
  return forward("key csr " + args[0] + " " + args[1] + (args.size() > 2 ? " " + args[2] : ""),
                 reply);
}

void Controller::cmd_key_install(const Call& call, Reply& reply) {
  const auto& args = call.args;
  return forward("key install " + args[0] + " " + mime::encode_base64_line(args[1]), reply);
}

void Controller::cmd_key_retire(const Call& call, Reply& reply) {
  const auto& args = call.args;
  return forward("key retire " + args[0], reply);
}

// DKIM keys live in the same HSM, so their commands go to the data plane as they are.
void Controller::cmd_dkim(const Call& call, Reply& reply) {
  std::string line = call.name;
  for (const auto& a : call.args) line += " " + a;
  return forward(line, reply);
}

// The check needs the HSM's DKIM keys and the gateway's resolver: the data plane does it.
void Controller::cmd_show_sge(const Call&, Reply& reply) { return forward("sge", reply); }
void Controller::cmd_tls_report(const Call&, Reply& reply) { return forward("tls-report", reply); }

void Controller::cmd_key_rollover(const Call& call, Reply& reply) {
  const auto& args = call.args;
  const std::string& label = args[0];
  auto made = dataplane("key generate " + label + " " + (args.size() > 2 ? args[2] : "rsa:2048"));
  if (!made) return reply.error(made.error().message);
  auto csr = dataplane("key csr " + label + " " + args[1]);
  if (!csr) return reply.error("the key pair is made, its CSR is not: " + csr.error().message);
  reply.answer(true, fmt::format("Step 1 of 2: key pair {} generated inside the token; the key in "
                                 "use still signs.\n"
                                 "Send this request to the agency's CA:\n\n{}\n"
                                 "Step 2, with the issued certificate: key switch {} FILE\n",
                                 label, csr->substr(csr->find('\n') + 1), label));
}

void Controller::cmd_key_switch(const Call& call, Reply& reply) {
  const auto& args = call.args;
  const std::string& label = args[0];
  auto installed = dataplane("key install " + label + " " + mime::encode_base64_line(args[1]));
  if (!installed) return reply.error(installed.error().message);
  auto switched = dataplane("key switch " + label);
  if (!switched)
    return reply.error("the certificate is installed; the key in use is unchanged: " +
                       switched.error().message);
  std::string text = switched->substr(3, switched->find('\n') - 3) + "\n";
  // §2.15: the directory keeps our current certificate, so peers find the new one at once.
  if (config_.directory.publish_dn.empty()) {
    text += "not published: no [directory] publish_dn is configured\n";
  } else if (auto published = publish_own_certificate(); published) {
    text += *published + "\n";
  } else {
    log::warning("control: the new certificate was not published: {}", published.error().message);
    text += "NOT published (" + published.error().message + "): certificate publish\n";
  }
  reply.answer(true, text);
}

}  // namespace seegw::daemon
