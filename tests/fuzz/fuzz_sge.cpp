// Secure Government Email's own parsers on any bytes: DKIM signing (the relaxed
// canonicalisations, the signed-field walk, the field assembly) keeps the RFC's invariants — a
// canonical body is empty or ends in one CRLF with no empty line before it, the signed data ends
// with the signature field's empty b= — and DNS record text (TXT and MX RDATA, tag lists) and
// MTA-STS policies are read without a crash; SPF evaluates any record within RFC 7208's lookup
// limits, and the Authentication-Results field stays one field whatever text it quotes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/dkim/signature.hpp"
#include "seegw/dns/records.hpp"
#include "seegw/sender_auth/spf.hpp"
#include "seegw/sender_auth/verdict.hpp"
#include "seegw/sts/policy.hpp"

namespace {

// Every name has the input's lines as TXT records, one address and two exchangers: includes and
// redirects lead back to the same records, so only the limits end the evaluation.
class EchoDns final : public seegw::sender_auth::SpfDns {
 public:
  explicit EchoDns(std::string_view input) {
    std::size_t start = 0;
    for (std::size_t i = 0; i <= input.size(); ++i)
      if (i == input.size() || input[i] == '\n') {
        records_.emplace_back(input.substr(start, i - start));
        start = i + 1;
      }
  }
  std::size_t queries = 0;
  seegw::sender_auth::SpfAnswer txt(const std::string&) override { return found(records_); }
  seegw::sender_auth::SpfAnswer addresses(const std::string&, bool v6) override {
    return found({std::string(v6 ? 16 : 4, '\x01')});
  }
  seegw::sender_auth::SpfAnswer mx(const std::string&) override {
    return found({"mx1.example", "mx2.example"});
  }
  seegw::sender_auth::SpfAnswer ptr(const std::string&) override { return found({"h.example"}); }

 private:
  seegw::sender_auth::SpfAnswer found(std::vector<std::string> values) {
    ++queries;
    return {seegw::sender_auth::SpfAnswer::Status::found, std::move(values)};
  }
  std::vector<std::string> records_;
};

void check_sender_authentication(std::string_view input) {
  using namespace seegw::sender_auth;
  EchoDns dns(input);
  const auto spf = check_sender({"192.0.2.1", "a.b@example.org", "helo.example"}, dns);
  // 10 terms and a redirect, each MX term 1 + 2 lookups, ptr 1 + 1, the records themselves.
  if (dns.queries > 64) std::abort();
  Verdict v;
  v.spf = {spf.result, std::string(input), std::string(input)};
  v.dkim.push_back(
      {AuthResult::fail, std::string(input), std::string(input), "", std::string(input)});
  v.dmarc = {AuthResult::none, std::string(input), "reject", std::string(input)};
  const std::string field = authentication_results("gw.example", v, input, input);
  for (std::size_t i = 0; i < field.size(); ++i) {
    const bool end = i + 2 == field.size();
    if (field[i] == '\n' && (i == 0 || field[i - 1] != '\r')) std::abort();
    if (field[i] == '\r' && (i + 1 >= field.size() || field[i + 1] != '\n' ||
                             (!end && (i + 2 >= field.size() || field[i + 2] != '\t'))))
      std::abort();
  }
  if (without_forged_results(std::string(input), "gw.example").size() > input.size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view message(reinterpret_cast<const char*>(data), size);
  const std::string body = seegw::dkim::relaxed_body(message);
  if (!body.empty() && (!body.ends_with("\r\n") || body.ends_with("\r\n\r\n") || body == "\r\n"))
    std::abort();
  const auto algorithm =
      size % 2 ? seegw::dkim::Algorithm::ed25519_sha256 : seegw::dkim::Algorithm::rsa_sha256;
  const auto u = seegw::dkim::prepare(message, {"agency-a.govt.nz", "s", algorithm, 1});
  if (!u.signed_data.ends_with("b=")) std::abort();
  const std::string field = seegw::dkim::signature_field(u, std::string(64, 's'));
  if (!field.ends_with("\r\n")) std::abort();
  const std::string text = seegw::dns::txt_rdata_text(message);
  if (text.size() >= size && size > 0) std::abort();  // each string costs a length byte
  for (const auto& [name, value] : seegw::dns::tag_list(message))
    if (name.empty() || name.find(';') != std::string::npos) std::abort();
  if (auto mx = seegw::dns::mx_rdata(message); mx && mx->exchange.size() > 253) std::abort();
  (void)seegw::dns::address_rdata(message);
  if (auto policy = seegw::sts::parse_policy(message)) {
    if (policy->max_age.count() > 31557600) std::abort();
    (void)seegw::sts::allows(*policy, "mx.example.org");
  }
  (void)seegw::sts::record_id(message);
  if (auto name = seegw::dns::name_rdata(message); name && name->size() > 253) std::abort();
  check_sender_authentication(message);
  return 0;
}
