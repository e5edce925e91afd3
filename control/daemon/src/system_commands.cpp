// The appliance's own firmware, from the console: which version runs in which slot, a signed
// update installed by RAUC into the other slot, and the reboot into it. seegw-control never
// writes a slot itself: RAUC (root, over D-Bus) verifies the bundle's signature against the
// image's keyring and writes the slot; a reboot is asked for through a file that a root
// systemd path unit watches (firmware-image/). Who may ask is decided like every other
// command: the admin role, in the audit log.
//
// Bundles are RAUC's "plain" format: the signature covers every byte and is checked before
// anything is written, so a bundle altered anywhere is refused with the slots untouched. The
// file RAUC reads is seegw-control's own copy, which no console user can change between the
// check and the write.
#include <fmt/format.h>

#include <filesystem>

#include "console_text.hpp"
#include "reply.hpp"
#include "seegw/common/file.hpp"
#include "seegw/common/log.hpp"
#include "seegw/common/subprocess.hpp"
#include "seegw/common/text.hpp"
#include "seegw/daemon/controller.hpp"

namespace seegw::daemon {
namespace fs = std::filesystem;
namespace {

using namespace std::chrono_literals;

// RAUC's last words when it refuses: the lines that say why, not its progress.
std::string why_refused(const std::string& output) {
  std::string why;
  for (const auto& line : split(output, '\n'))
    if (line.find("rror") != std::string::npos || line.find("ailed") != std::string::npos ||
        line.find("efused") != std::string::npos)
      why += std::string(trim_view(line)) + "\n";
  if (why.empty()) why = output.substr(output.size() > 600 ? output.size() - 600 : 0);
  return why;
}

std::string release_of(const SystemConfig& s) {
  auto text = read_file(s.release_file.string());
  return text ? std::string(trim_view(*text)) : std::string("unknown");
}

// One row per slot from `rauc status --output-format=json`.
std::vector<std::vector<std::string>> slot_rows(const Json& status, Json& data) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& entry : status.value("slots", Json::array())) {
    for (const auto& [name, slot] : entry.items()) {
      const Json& ss = slot.value("slot_status", Json::object());
      const Json& bundle = ss.value("bundle", Json::object());
      const Json& installed = ss.value("installed", Json::object());
      std::vector<std::string> row = {
          slot.value("bootname", name), slot.value("state", std::string("?")),
          slot.value("boot_status", std::string("?")), bundle.value("version", std::string("-")),
          installed.value("timestamp", std::string("-"))};
      data.push_back({{"slot", row[0]},
                      {"device", slot.value("device", std::string())},
                      {"state", row[1]},
                      {"boot_status", row[2]},
                      {"version", row[3]},
                      {"installed", row[4]}});
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

Result<void> ask_for_reboot(const SystemConfig& s, const std::string& why) {
  return write_file_atomically(s.reboot_request, why + "\n");
}

}  // namespace

void Controller::cmd_show_system(const Call&, Reply& reply) {
  const auto& s = config_.system;
  const std::string version = release_of(s);
  if (s.updates_dir.empty())
    return reply.answer(true,
                        fmt::format("firmware {}; not an appliance image (no [system] "
                                    "section): no slots, no updates\n",
                                    version),
                        Json{{"version", version}});
  auto ran = run_program({s.rauc.string(), "status", "--detailed", "--output-format=json"}, 60s);
  if (!ran) return reply.error("RAUC: " + ran.error().message);
  // RAUC's JSON is one line; warnings (a slot being confirmed right now, say) come beside it.
  Json status;
  std::string warnings;
  for (const auto& line : split(ran->output, '\n')) {
    if (line.starts_with("{"))
      status = Json::parse(line, nullptr, false);
    else if (!trim_view(line).empty())
      warnings += "RAUC: " + std::string(trim_view(line)) + "\n";
  }
  if (status.is_discarded() || !status.is_object())
    return reply.error("RAUC status failed: " + why_refused(ran->output));
  Json slots = Json::array();
  auto rows = slot_rows(status, slots);
  const std::string booted = status.value("booted", std::string("?"));
  std::string text = fmt::format("firmware {}, booted from slot {}\n", version, booted);
  text += render_table({"SLOT", "STATE", "BOOT", "VERSION", "INSTALLED"}, rows, {5, 9, 6, 16});
  text += warnings;
  reply.answer(true, text, Json{{"version", version}, {"booted", booted}, {"slots", slots}});
}

void Controller::cmd_system_update(const Call& call, Reply& reply) {
  const auto& s = config_.system;
  if (s.updates_dir.empty())
    return reply.error("not an appliance image (no [system] section): nothing to update");
  // Only a name inside the update folder: never a path the caller chose.
  const std::string& name = call.args[0];
  if (name.find('/') != std::string::npos || name.starts_with("."))
    return reply.error(fmt::format("'{}' is not a file in the update folder", name));
  const fs::path offered = s.updates_dir / name;
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(offered, ec)))
    return reply.error(fmt::format("no update '{}' in {}", name, s.updates_dir.string()));
  call.progress(0, 2, "copying");
  const fs::path bundle = config_.state_dir / "update.raucb";
  fs::remove(bundle, ec);
  if (!fs::copy_file(offered, bundle, ec))
    return reply.error(fmt::format("cannot copy the update: {}", ec.message()));
  struct Remove {
    fs::path p;
    ~Remove() {
      std::error_code e;
      fs::remove(p, e);
    }
  } remove_copy{bundle};
  call.progress(1, 2, "verifying and installing");
  log::notice("control: system update: RAUC installs {} ({} bytes)", name,
              fs::file_size(bundle, ec));
  auto ran = run_program({s.rauc.string(), "install", bundle.string()}, 30min);
  if (!ran) return reply.error("the update was not installed: " + ran.error().message);
  if (ran->exit_status != 0) {
    log::warning("control: system update refused: {}", why_refused(ran->output));
    return reply.error("the update was refused; nothing was written to the other slot:\n" +
                       why_refused(ran->output));
  }
  if (auto r = ask_for_reboot(s, "system update " + name); !r)
    return reply.error("installed, but the reboot could not be asked for (" + r.error().message +
                       "): system reboot");
  log::notice("control: system update installed; rebooting into the new slot");
  reply.answer(true,
               "The update is verified and installed in the other slot. Rebooting into it now: "
               "it stays only if seegw's health check passes there; otherwise the appliance "
               "comes back on the version it runs now by itself.\n");
}

void Controller::cmd_system_reboot(const Call&, Reply& reply) {
  if (config_.system.reboot_request.empty())
    return reply.error("not an appliance image (no [system] section): reboot the host instead");
  if (auto r = ask_for_reboot(config_.system, "system reboot"); !r)
    return reply.error("the reboot could not be asked for: " + r.error().message);
  log::notice("control: system reboot asked for on the console");
  reply.answer(true,
               "Rebooting. Mail that got a 250 is in the spool and resumes after the boot.\n");
}

}  // namespace seegw::daemon
