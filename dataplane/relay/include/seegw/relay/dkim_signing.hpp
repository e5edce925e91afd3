// The DKIM step of the per-message pipeline, after the SEEMail stage (a secured message is
// signed as it leaves): what goes to another domain with a From: in one of ours is signed by
// every selector that signs now (RSA and Ed25519 side by side), d= the domain of ours the From:
// domain is or lies under (DMARC's relaxed alignment). Mail inside the agency is not signed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "seegw/config/config.hpp"
#include "seegw/keys/dkim_keys.hpp"
#include "seegw/spool/spool_record.hpp"

namespace seegw::relay {

// Our domains that sign: the mail domain and the local domains that are not patterns.
std::vector<std::string> dkim_domains(const config::Config& config);

class DkimSigning {
 public:
  DkimSigning(const config::Config& config, keys::DkimKeys& keys);

  // `content[i]` (what recipient i gets; null: nothing this attempt) replaced by its signed
  // copy where it leaves the agency. Recipients whose content could not be signed (the HSM is
  // down) get their reason in `deferred[i]` and their content taken away: they wait.
  void sign_outbound(const spool::SpoolRecord& record,
                     std::vector<std::shared_ptr<const std::string>>& content,
                     std::vector<std::string>& deferred);

 private:
  // d= for this From: domain, or "" when it is not ours.
  std::string signing_domain(const std::string& from_domain) const;
  Result<std::string> signature_fields(std::string_view message, const std::string& domain,
                                       const std::vector<keys::DkimSelector>& selectors);

  const config::Config& config_;
  keys::DkimKeys& keys_;
  const std::vector<std::string> domains_;
};

}  // namespace seegw::relay
