#include "seegw/relay/dkim_signing.hpp"

#include <ctime>
#include <map>

#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/mime/header_fields.hpp"
#include "seegw/seemail/message_edit.hpp"
#include "seegw/smtp/address.hpp"

namespace seegw::relay {

std::vector<std::string> dkim_domains(const config::Config& config) {
  std::vector<std::string> out{ascii_lower(config.domain)};
  for (const auto& d : config.local_domains)
    if (d.find('*') == std::string::npos &&
        std::find(out.begin(), out.end(), ascii_lower(d)) == out.end())
      out.push_back(ascii_lower(d));
  return out;
}

DkimSigning::DkimSigning(const config::Config& config, keys::DkimKeys& keys)
    : config_(config), keys_(keys), domains_(dkim_domains(config)) {}

std::string DkimSigning::signing_domain(const std::string& from_domain) const {
  std::string best;
  for (const auto& d : domains_)
    if ((from_domain == d || from_domain.ends_with("." + d)) && d.size() > best.size()) best = d;
  return best;
}

Result<std::string> DkimSigning::signature_fields(
    std::string_view message, const std::string& domain,
    const std::vector<keys::DkimSelector>& selectors) {
  std::string fields;
  for (const auto& selector : selectors) {
    const auto u =
        dkim::prepare(message, {domain, selector.selector, selector.algorithm, std::time(nullptr)});
    auto signature = keys_.sign(selector, dkim::to_be_signed(u));
    if (!signature) return std::unexpected(signature.error());
    fields += dkim::signature_field(u, *signature);
  }
  return fields;
}

void DkimSigning::sign_outbound(const spool::SpoolRecord& record,
                                std::vector<std::shared_ptr<const std::string>>& content,
                                std::vector<std::string>& deferred) {
  const auto selectors = keys_.signing();  // once per message: the choice under one lock
  if (selectors.empty()) return;
  // One signed copy per distinct content (recipients often share one).
  std::map<const std::string*, Result<std::shared_ptr<const std::string>>> signed_copies;
  for (std::size_t i = 0; i < content.size() && i < record.recipients.size(); ++i) {
    if (!content[i] || config_.is_local_domain(smtp::domain_of(record.recipients[i].address)))
      continue;
    auto [it, fresh] = signed_copies.try_emplace(content[i].get(), content[i]);
    if (fresh) {
      const std::string& message = *content[i];
      const std::string from =
          smtp::domain_of(seemail::first_address(mime::header_value(message, "From")));
      const std::string domain = signing_domain(from);
      if (!domain.empty()) {
        if (auto fields = signature_fields(message, domain, selectors))
          it->second = std::make_shared<const std::string>(*fields + message);
        else
          it->second = std::unexpected(fields.error());
      }
    }
    if (it->second) {
      content[i] = *it->second;
    } else {
      deferred[i] = it->second.error().message;
      content[i].reset();
    }
  }
  for (const auto& [_, r] : signed_copies)
    if (!r) log::error("dkim: {} waits: {}", record.id, r.error().message);
}

}  // namespace seegw::relay
