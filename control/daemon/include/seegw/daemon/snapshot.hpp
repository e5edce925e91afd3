// Building the policy snapshot (DIR-1, DIR-2, DIR-4). Two halves: `fetch_directory` asks the
// directory (network; may fail, and then nothing on disk changes) and stores what it said under
// the state directory; `compose_snapshot` builds the snapshot from what is stored — the last good
// directory data, the administrator's TRUSTED list, imported and approved certificates, CRLs —
// so an administrator's change takes effect even while the directory is down.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "seegw/daemon/control_config.hpp"
#include "seegw/x509/validation.hpp"

namespace seegw::daemon {

// Where the daemon keeps its state, all under [control] state_dir.
struct ControlStore {
  std::filesystem::path root;
  std::filesystem::path agencies() const { return root / "directory" / "agencies.tsv"; }
  std::filesystem::path discovered() const { return root / "directory" / "certificates"; }
  std::filesystem::path imported() const { return root / "imported"; }  // the admin's choice
  std::filesystem::path pending() const { return root / "pending"; }    // awaiting approval
  std::filesystem::path trusted() const { return root / "trusted"; }    // <match>.pem or .none
};

// "done of total: what" for a progress bar.
using Progress = std::function<void(std::size_t done, std::size_t total, const std::string& what)>;

struct Verdict {
  x509::Certificate certificate;
  x509::Validation validation;
};

// DIR-2 for one domain: every certificate each trusted CA's directory holds, validated; valid
// ones first.
Result<std::vector<Verdict>> discover(directory::Directory& dir, const ControlConfig& c,
                                      const std::string& domain);

struct FetchReport {
  std::size_t agencies = 0;
  std::size_t certificates = 0;
  std::size_t pending = 0;  // found, valid, new, waiting for approval
  std::vector<std::string> notes;
};
Result<FetchReport> fetch_directory(const ControlConfig& c, const ControlStore& store,
                                    const Progress& progress);

struct ComposeReport {
  std::uint64_t version = 0;
  std::size_t agencies = 0;  // the SEEMAIL list
  std::size_t vendors = 0;   // the VENDOR list (DIR-1: not SEEMail agencies)
  std::size_t certificates = 0;
  std::size_t trusted = 0;
  std::vector<std::string> crl_problems;
};
// Writes the snapshot atomically (its certs/ beside it). `version` must exceed the last one.
Result<ComposeReport> compose_snapshot(const ControlConfig& c, const ControlStore& store,
                                       std::uint64_t version, const Progress& progress);

// DIR-4 for one certificate: its CRLs refreshed into the cache, checked against its issuer
// among the trusted roots.
struct CrlState {
  std::string uri, status;
  std::filesystem::path file;
  bool usable = false;
};
std::vector<CrlState> refresh_crls(const ControlConfig& c, X509* certificate);

// OCSP for one certificate: its responders asked in turn until one gives a signed answer.
struct OcspState {
  std::string url, status;
  bool usable = false;  // a signed, current "good" or "revoked"
  bool revoked = false;
};
std::vector<OcspState> check_ocsp(const ControlConfig& c, X509* certificate);

// The agencies the last good directory answer held (domain, list, community, name per row).
struct StoredAgency {
  std::string domain, list, community, name;
};
std::vector<StoredAgency> stored_agencies(const ControlStore& store);

}  // namespace seegw::daemon
