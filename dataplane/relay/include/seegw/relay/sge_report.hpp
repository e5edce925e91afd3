// `show sge`: the DNS records Secure Government Email needs of each of our domains — SPF,
// DMARC with p=reject, each DKIM key's record, MTA-STS and TLS-RPT — looked up through the
// validating resolver and compared with what they must say, with the line to publish for each
// that is missing or wrong.
#pragma once

#include <string>
#include <vector>

#include "seegw/dns/resolver.hpp"

namespace seegw::relay {

struct ExpectedDkimRecord {
  std::string selector;
  std::string text;  // "v=DKIM1; k=...; p=..."
  bool signing = false;
};

// "ok ..." then one row per record (ok, MISSING, WRONG, WEAK, UNKNOWN) and what to publish.
std::string sge_report(const std::vector<std::string>& domains,
                       const std::vector<ExpectedDkimRecord>& dkim, dns::Resolver& resolver);

}  // namespace seegw::relay
