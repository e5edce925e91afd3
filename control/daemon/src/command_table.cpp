// The console's commands and their handlers, one table; Controller::start refuses to run when
// it and console::commands() disagree.
#include <algorithm>

#include "seegw/console/commands.hpp"
#include "seegw/daemon/controller.hpp"

namespace seegw::daemon {

const std::map<std::string, Controller::Handler>& Controller::handlers() {
  static const std::map<std::string, Handler> table = {
      {"show status", &Controller::cmd_show_status},
      {"show stats", &Controller::cmd_show_stats},
      {"show queue", &Controller::cmd_show_queue},
      {"show held", &Controller::cmd_show_queue},
      {"show certificates", &Controller::cmd_show_certificates},
      {"show agencies", &Controller::cmd_show_agencies},
      {"show trusted", &Controller::cmd_show_trusted},
      {"show crl", &Controller::cmd_show_crl},
      {"show sge", &Controller::cmd_show_sge},
      {"tls report", &Controller::cmd_tls_report},
      {"show log", &Controller::cmd_show_log},
      {"monitor log", &Controller::cmd_monitor_log},
      {"queue explain", &Controller::cmd_queue_explain},
      {"queue release", &Controller::cmd_queue_change},
      {"queue delete", &Controller::cmd_queue_change},
      {"queue requeue", &Controller::cmd_queue_change},
      {"trusted add", &Controller::cmd_trusted_add},
      {"trusted remove", &Controller::cmd_trusted_remove},
      {"certificate discover", &Controller::cmd_certificate_discover},
      {"certificate approve", &Controller::cmd_certificate_approve},
      {"certificate import", &Controller::cmd_certificate_import},
      {"certificate publish", &Controller::cmd_certificate_publish},
      {"certificate export", &Controller::cmd_certificate_export},
      {"key list", &Controller::cmd_key_list},
      {"key generate", &Controller::cmd_key_generate},
      {"key csr", &Controller::cmd_key_csr},
      {"key install", &Controller::cmd_key_install},
      {"key rollover", &Controller::cmd_key_rollover},
      {"key switch", &Controller::cmd_key_switch},
      {"key retire", &Controller::cmd_key_retire},
      {"dkim list", &Controller::cmd_dkim},
      {"dkim generate", &Controller::cmd_dkim},
      {"dkim sign", &Controller::cmd_dkim},
      {"dkim retire", &Controller::cmd_dkim},
      {"ping", &Controller::cmd_ping},
      {"config show", &Controller::cmd_config_show},
      {"config check", &Controller::cmd_config_check},
      {"config reload", &Controller::cmd_config_reload},
      {"directory sync", &Controller::cmd_directory_sync},
      {"crl refresh", &Controller::cmd_directory_sync},
      {"audit show", &Controller::cmd_audit_show},
      {"audit verify", &Controller::cmd_audit_verify},
      {"show system", &Controller::cmd_show_system},
      {"system update", &Controller::cmd_system_update},
      {"system reboot", &Controller::cmd_system_reboot},
  };
  return table;
}

std::string Controller::command_table_mismatch() {
  std::string out;
  const auto& table = handlers();
  for (const auto& spec : console::commands())
    if (!table.count(spec.name())) out += "'" + spec.name() + "' has no handler; ";
  for (const auto& [name, handler] : table) {
    const auto& specs = console::commands();
    if (std::none_of(specs.begin(), specs.end(),
                     [&](const console::CommandSpec& s) { return s.name() == name; }))
      out += "'" + name + "' is not a console command; ";
  }
  return out;
}

}  // namespace seegw::daemon
