// The queue from the console: explain, release, delete, requeue, and seemail-ping.
#include <fmt/format.h>
#include <openssl/x509.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "console_text.hpp"
#include "reply.hpp"
#include "seegw/common/file.hpp"
#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/daemon/controller.hpp"
#include "seegw/directory/directory.hpp"
#include "seegw/x509/certificate.hpp"
#include "seegw/x509/validation.hpp"

namespace seegw::daemon {
namespace fs = std::filesystem;

void Controller::cmd_queue_explain(const Call& call, Reply& reply) {
  const auto& args = call.args;
  auto r = dataplane("explain " + args[0]);
  if (!r) return reply.error(r.error().message);
  std::string text;
  for (const auto& l : split(r->substr(r->find('\n') + 1), '\n'))
    if (!l.empty()) text += wrap(l, 6);
  return reply.answer(true, text);
}

void Controller::cmd_queue_change(const Call& call, Reply& reply) {
  const auto& args = call.args;
  return forward(call.name.substr(6) + " " + args[0], reply);
}

void Controller::cmd_ping(const Call& call, Reply& reply) {
  const auto& args = call.args;
  return forward("ping " + ascii_lower(args[0]), reply);
}

}  // namespace seegw::daemon
