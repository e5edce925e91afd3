// The policy snapshot as the data plane holds it: the pure policy::PolicySnapshot plus the
// certificates, roots and CRLs behind it. Loaded from a TOML file (written by seegw-control, or by
// hand until it exists), validated whole, swapped atomically between messages; the last good one
// stays when a new file is bad.
#pragma once

#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/policy/policy.hpp"
#include "seegw/x509/certificate.hpp"
#include "seegw/x509/validation.hpp"

namespace seegw::seemail {

struct TrustState {
  policy::PolicySnapshot policy;
  std::map<std::string, x509::Certificate> certificates;         // domain → its DCA certificate
  std::map<std::string, std::vector<std::string>> capabilities;  // domain → SMIMECapabilities OIDs
  std::vector<x509::Certificate> roots;  // the S.E.E. Manager list of trusted roots
  std::vector<x509::Crl> crls;
  std::filesystem::path source;
  std::time_t loaded_at = 0;
  // When the snapshot was written: its `generated` key (seegw-control writes it), else the file's
  // modification time. OPS-1 measures the snapshot's age from it.
  std::time_t generated = 0;

  // IN-1 / OUT-5: the state of a certificate now, against this snapshot's roots and CRLs.
  // `key_created`: when our own key pair was made, for the 4-year key-age warning (§2.3).
  x509::Validation check(X509* certificate, const std::vector<X509*>& intermediates,
                         std::string_view sender_domain, std::time_t now,
                         std::optional<std::time_t> key_created = std::nullopt) const;
  X509* certificate_for(std::string_view domain) const;
};

// Where the data plane keeps what it learns from mail (IN-4): learnt/ is used, pending/ waits
// for the administrator (auto_approve_certificates = false).
struct LearntStore {
  std::filesystem::path root;  // <spool>/certificates
  std::filesystem::path learnt() const { return root / "learnt"; }
  std::filesystem::path pending() const { return root / "pending"; }
  std::filesystem::path capabilities() const { return root / "capabilities"; }
};

// Parses the snapshot file, loads every certificate it names (paths relative to the file), adds
// what was learnt from mail, and computes each peer certificate's state at `now`. A file without
// `version = N` (N ≥ 1) is not a snapshot: an empty or cut-off file is refused, never read as a
// policy that knows no agencies.
Result<std::shared_ptr<const TrustState>> load_trust_state(
    const std::filesystem::path& file, const std::string& our_domain,
    const std::vector<std::string>& local_domains, const LearntStore& learnt, std::time_t now);

// The placeholder a gateway holds before its first good snapshot: only its own domains, nothing
// trusted. The gateway is not operational meanwhile (OPS-1), so no mail is decided by it.
std::shared_ptr<const TrustState> empty_trust_state(const std::string& our_domain,
                                                    const std::vector<std::string>& local_domains);

policy::CertState to_cert_state(x509::CertificateState state);

}  // namespace seegw::seemail
