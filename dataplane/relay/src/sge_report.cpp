#include "seegw/relay/sge_report.hpp"

#include <fmt/format.h>

#include <functional>

#include "seegw/common/text.hpp"
#include "seegw/dkim/signature.hpp"

namespace seegw::relay {
namespace {

struct Verdict {
  std::string state;   // ok, MISSING, WRONG, WEAK, UNKNOWN
  std::string detail;  // what was found, or why not
};

// One record SGE needs: where it lives, the version tag that marks it among other TXT records,
// how what is found is judged, and what to publish when it is missing or wrong.
struct RecordCheck {
  std::string name;     // for the report: "SPF", "DMARC", ...
  std::string owner;    // the DNS name
  std::string version;  // "v=spf1", "v=DMARC1", ...
  std::function<Verdict(const std::string& record)> judge;
  std::string publish;  // the zone-file line (its TXT text in quotes)
};

bool starts_with_tag(const std::string& record, const std::string& version) {
  return ascii_lower(record.substr(0, version.size())) == ascii_lower(version) &&
         (record.size() == version.size() || record[version.size()] == ';' ||
          record[version.size()] == ' ');
}

Verdict judge_spf(const std::string& r) {
  if (r.find("+all") != std::string::npos || r.find("?all") != std::string::npos ||
      r.ends_with(" all"))
    return {"WEAK", r + " (any host may send as us: end with -all)"};
  return {"ok", r};
}

Verdict judge_dmarc(const std::string& r) {
  const auto tags = dns::tag_list(r);
  const auto p = tags.find("p");
  if (p == tags.end()) return {"WRONG", r + " (no p= tag)"};
  if (ascii_lower(p->second) != "reject") return {"WEAK", r + " (SGE requires p=reject)"};
  if (!tags.contains("rua")) return {"WEAK", r + " (no rua=: nobody gets the aggregate reports)"};
  return {"ok", r};
}

Verdict judge_tag(const std::string& r, const std::string& tag, const std::string& why) {
  return dns::tag_list(r).contains(tag) ? Verdict{"ok", r} : Verdict{"WRONG", r + " (" + why + ")"};
}

std::vector<RecordCheck> checks_for(const std::string& d,
                                    const std::vector<ExpectedDkimRecord>& dkim) {
  std::vector<RecordCheck> checks = {
      {"SPF", d, "v=spf1", judge_spf, fmt::format("{}. IN TXT \"v=spf1 mx -all\"", d)},
      {"DMARC", "_dmarc." + d, "v=DMARC1", judge_dmarc,
       fmt::format("_dmarc.{}. IN TXT \"v=DMARC1; p=reject; rua=mailto:dmarc-reports@{}\"", d, d)},
      {"MTA-STS", "_mta-sts." + d, "v=STSv1",
       [](const std::string& r) { return judge_tag(r, "id", "no id="); },
       fmt::format("_mta-sts.{}. IN TXT \"v=STSv1; id=20270101T000000\"", d)},
      {"TLS-RPT", "_smtp._tls." + d, "v=TLSRPTv1",
       [](const std::string& r) { return judge_tag(r, "rua", "no rua="); },
       fmt::format("_smtp._tls.{}. IN TXT \"v=TLSRPTv1; rua=mailto:tls-reports@{}\"", d, d)},
  };
  for (const auto& k : dkim) {
    const std::string want = dns::tag_list(k.text)["p"];
    checks.push_back({"DKIM " + k.selector + (k.signing ? " (signing)" : ""),
                      k.selector + "._domainkey." + d, "v=DKIM1",
                      [want](const std::string& r) {
                        return dns::tag_list(r)["p"] == want
                                   ? Verdict{"ok", "the HSM key's public half"}
                                   : Verdict{"WRONG", "p= is not the HSM key's public half"};
                      },
                      dkim::zone_line(k.selector, d, k.text)});
  }
  return checks;
}

Verdict look_up(const RecordCheck& c, dns::Resolver& resolver, bool& secure) {
  auto txt = resolver.txt(c.owner, &secure);
  if (!txt) return {"UNKNOWN", txt.error().message};
  std::vector<std::string> found;
  for (const auto& r : *txt)
    if (starts_with_tag(r, c.version)) found.push_back(r);
  if (found.empty()) return {"MISSING", "no " + c.version + " record"};
  if (found.size() > 1)
    return {"WRONG", fmt::format("{} {} records (one only)", found.size(), c.version)};
  return c.judge(found.front());
}

}  // namespace

std::string sge_report(const std::vector<std::string>& domains,
                       const std::vector<ExpectedDkimRecord>& dkim, dns::Resolver& resolver) {
  std::string rows, publish;
  std::size_t problems = 0;
  for (const auto& d : domains) {
    for (const auto& c : checks_for(d, dkim)) {
      bool secure = false;
      const Verdict v = look_up(c, resolver, secure);
      const bool dnssec = v.state != "MISSING" && v.state != "UNKNOWN";
      rows += fmt::format("{:<8} {:<26} {:<40} {}{}\n", v.state, c.name, c.owner, v.detail,
                          dnssec ? (secure ? " [DNSSEC]" : " [not DNSSEC-validated]") : "");
      if (v.state == "ok") continue;
      ++problems;
      publish += c.publish + "\n";
    }
  }
  return fmt::format("ok {} record(s) to fix for Secure Government Email\n{}{}", problems, rows,
                     publish.empty() ? "" : "\nPublish (or correct) in DNS:\n" + publish);
}

}  // namespace seegw::relay
