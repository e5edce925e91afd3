// seegw-control's configuration file (TOML): the directory, certificate discovery, CRLs, what the
// snapshot holds besides the directory's data, and the daemon's socket, state, schedule and
// roles. Every key and its default is in docs/operations.md.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/directory/directory.hpp"

namespace seegw::daemon {

// Unix groups whose members hold each console role (root is always admin).
struct RoleGroups {
  std::vector<gid_t> admin, operators, auditors;
};

// The appliance's firmware (firmware-image/): RAUC A/B updates and reboots, asked for on the
// console. Empty updates_dir: not an appliance, the `system` commands say so.
struct SystemConfig {
  std::filesystem::path updates_dir;     // where seegw-cli puts a bundle for `system update`
  std::filesystem::path reboot_request;  // a file whose creation reboots (seegw-reboot.path)
  std::filesystem::path rauc = "/usr/bin/rauc";
  std::filesystem::path release_file = "/etc/seegw-release";
};

struct ControlConfig {
  std::filesystem::path file;  // where this was read from
  directory::DirectoryConfig directory;
  std::vector<directory::DiscoverySpec> discovery;  // one per trusted CA's directory
  std::vector<std::string> trusted_roots;           // the S.E.E. Manager list (absolute)
  std::vector<std::string> crls;                    // CRL files configured by hand (absolute)
  std::string snapshot_extra;       // TOML copied into the snapshot (rulesets, flags)
  std::filesystem::path crl_cache;  // "": <state>/crls
  std::chrono::seconds crl_timeout{10};

  // The daemon.
  std::filesystem::path socket = "/run/seegw/control.sock";
  std::filesystem::path state_dir = "/var/lib/seegw/control";
  std::filesystem::path snapshot;          // "": <state>/snapshot/policy.toml
  std::filesystem::path audit_log;         // "": <state>/audit.log
  std::filesystem::path dataplane_socket;  // "": the data plane is not told (it polls the file)
  std::chrono::seconds refresh{3600};      // directory and CRLs, when all is well
  std::chrono::seconds retry_min{30};      // after a failure, doubling up to retry_max
  std::chrono::seconds retry_max{1800};
  bool auto_approve = true;  // a valid certificate found by discovery is used at once
  RoleGroups roles;
  SystemConfig system;

  std::filesystem::path snapshot_file() const;
  std::filesystem::path crl_cache_dir() const;
  std::filesystem::path audit_file() const;
};

// Relative paths are taken from the file's directory. Group names that do not exist are an error
// (a typo must not silently leave a role empty).
Result<ControlConfig> load_control_config(const std::filesystem::path& file);

// What `config show` prints: the settings in use, never a secret.
std::string describe(const ControlConfig& c);

}  // namespace seegw::daemon
