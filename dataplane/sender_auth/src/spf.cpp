#include "seegw/sender_auth/spf.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "seegw/common/text.hpp"

namespace seegw::sender_auth {

std::string_view spf_result_name(SpfResult r) {
  static constexpr std::array<std::string_view, 7> kNames = {
      "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"};
  return kNames[static_cast<std::size_t>(r)];
}

namespace {

// RFC 7208 §4.6.4 and the expansion bound that keeps a hostile record's macros small.
constexpr int kMaxDnsTerms = 10;
constexpr int kMaxVoidLookups = 2;
constexpr std::size_t kMaxNames = 10;
constexpr std::size_t kMaxExpansion = 8192;
constexpr std::size_t kMaxDomain = 253;

struct Address {
  bool v6 = false;
  std::array<unsigned char, 16> bytes{};  // IPv4 in the first 4
  std::size_t size() const { return v6 ? 16 : 4; }
};

std::optional<Address> parse_address(const std::string& text, std::optional<bool> family = {}) {
  Address a;
  if ((!family || !*family) && inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) return a;
  if ((family && !*family) || inet_pton(AF_INET6, text.c_str(), a.bytes.data()) != 1)
    return std::nullopt;
  a.v6 = true;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!family && std::memcmp(a.bytes.data(), kMapped, 12) == 0) {  // §5: an IPv4 client
    std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
    a.v6 = false;
  }
  return a;
}

bool in_network(const Address& client, const unsigned char* network, int bits) {
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    const unsigned mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
    if ((client.bytes[i] & mask) != (network[i] & mask)) return false;
  }
  return true;
}

// §4.3: a multi-label name, labels of 1..63 bytes, 253 at most; else the result is "none".
bool valid_domain(std::string_view d) {
  if (d.ends_with('.')) d.remove_suffix(1);
  if (d.empty() || d.size() > kMaxDomain || d.find('.') == std::string_view::npos) return false;
  for (const auto& label : split(d, '.'))
    if (label.empty() || label.size() > 63) return false;
  return true;
}

struct Term {
  char qualifier = '+';
  std::string name;  // lower case
  std::string spec;  // the domain-spec or address after ':' or '='
  int cidr4 = 32, cidr6 = 128;
  bool modifier = false;
  std::string text;
};

// "/24", "//64" or "/24//64" at the end of a domain-spec (§5.6); false when out of range.
bool take_cidr(std::string& spec, int& cidr4, int& cidr6) {
  auto take = [&](std::string_view sep, int max, int& out) {
    const auto slash = spec.rfind(sep);
    if (slash == std::string::npos) return true;
    const std::string digits = spec.substr(slash + sep.size());
    if (digits.empty() || digits.size() > 3 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return true;  // not a CIDR: part of the domain-spec (a macro delimiter)
    out = std::stoi(digits);
    spec.resize(slash);
    return out <= max;
  };
  return take("//", 128, cidr6) && take("/", 32, cidr4);
}

constexpr std::array<std::string_view, 8> kMechanisms = {"all", "include", "a",   "mx",
                                                         "ptr", "ip4",     "ip6", "exists"};

std::optional<Term> parse_term(std::string_view text) {
  Term t;
  t.text = std::string(text);
  std::size_t i = 0;
  if (std::string_view("+-~?").find(text[0]) != std::string_view::npos) t.qualifier = text[i++];
  std::size_t n = i;
  while (n < text.size() && (std::isalnum(static_cast<unsigned char>(text[n])) || text[n] == '-' ||
                             text[n] == '_' || text[n] == '.'))
    ++n;
  if (n == i || !std::isalpha(static_cast<unsigned char>(text[i]))) return std::nullopt;
  t.name = ascii_lower(text.substr(i, n - i));
  std::string_view rest = text.substr(n);
  if (rest.starts_with('=')) {
    if (i != 0) return std::nullopt;  // a modifier takes no qualifier
    t.modifier = true;
    t.spec = std::string(rest.substr(1));
    return t;
  }
  if (std::find(kMechanisms.begin(), kMechanisms.end(), t.name) == kMechanisms.end())
    return std::nullopt;
  if (!rest.empty() && rest[0] != ':' && rest[0] != '/') return std::nullopt;
  if (rest.starts_with(':')) {
    t.spec = std::string(rest.substr(1));
    if (t.spec.empty()) return std::nullopt;
  } else {
    t.spec = std::string(rest);  // "a/24": only a CIDR
  }
  if (t.name == "a" || t.name == "mx") {
    if (!take_cidr(t.spec, t.cidr4, t.cidr6)) return std::nullopt;
  } else if (t.name == "ip4" || t.name == "ip6") {
    const bool v6 = t.name == "ip6";
    if (const auto slash = t.spec.rfind('/'); slash != std::string::npos) {
      const std::string digits = t.spec.substr(slash + 1);
      if (digits.empty() || digits.size() > 3 ||
          !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
      (v6 ? t.cidr6 : t.cidr4) = std::stoi(digits);
      if ((v6 ? t.cidr6 : t.cidr4) > (v6 ? 128 : 32)) return std::nullopt;
      t.spec.resize(slash);
    }
    if (!parse_address(t.spec, v6)) return std::nullopt;
  }
  if (!t.spec.empty() && t.spec[0] == '/') return std::nullopt;  // a CIDR we could not read
  const bool needs_spec =
      t.name == "include" || t.name == "exists" || t.name == "ip4" || t.name == "ip6";
  if (needs_spec && t.spec.empty()) return std::nullopt;
  if (t.name == "all" && !t.spec.empty()) return std::nullopt;
  return t;
}

// The values the macros stand for (§7.3).
struct MacroValues {
  std::string sender, local, sender_domain, helo, ip, ip_version;
};

std::string url_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~')
      out.push_back(c);
    else
      out += fmt::format("%{:02X}", u);
  }
  return out;
}

// One %{...} macro's value: letter, digits, 'r', delimiters (§7.1).
std::optional<std::string> macro_value(std::string_view body, const MacroValues& v,
                                       const std::string& domain) {
  if (body.empty()) return std::nullopt;
  const char letter = static_cast<char>(std::tolower(static_cast<unsigned char>(body[0])));
  std::string value;
  switch (letter) {
    case 's':
      value = v.sender;
      break;
    case 'l':
      value = v.local;
      break;
    case 'o':
      value = v.sender_domain;
      break;
    case 'd':
      value = domain;
      break;
    case 'i':
      value = v.ip;
      break;
    case 'p':
      value = "unknown";
      break;  // §5.5: validated names are not worth the lookups
    case 'v':
      value = v.ip_version;
      break;
    case 'h':
      value = v.helo;
      break;
    default:
      return std::nullopt;  // c, r, t belong to exp= only, which is not evaluated
  }
  std::size_t pos = 1, keep = 0;
  while (pos < body.size() && std::isdigit(static_cast<unsigned char>(body[pos])))
    keep = std::min<std::size_t>(keep * 10 + (body[pos++] - '0'), 128);
  if (pos > 1 && keep == 0) return std::nullopt;
  bool reverse = false;
  if (pos < body.size() && (body[pos] == 'r' || body[pos] == 'R')) reverse = (++pos, true);
  std::string delimiters(body.substr(pos));
  if (delimiters.find_first_not_of(".-+,/_=") != std::string::npos) return std::nullopt;
  if (delimiters.empty()) delimiters = ".";
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= value.size(); ++i)
    if (i == value.size() || delimiters.find(value[i]) != std::string::npos) {
      parts.push_back(value.substr(start, i - start));
      start = i + 1;
    }
  if (reverse) std::reverse(parts.begin(), parts.end());
  if (keep && keep < parts.size()) parts.erase(parts.begin(), parts.end() - keep);
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "." : "") + parts[i];
  return std::isupper(static_cast<unsigned char>(body[0])) ? url_escape(out) : out;
}

// A macro-string expanded (§7); nullopt on a syntax error or an expansion past 8 KiB.
std::optional<std::string> expand(std::string_view spec, const MacroValues& v,
                                  const std::string& domain) {
  std::string out;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    const char c = spec[i];
    if (c != '%') {
      if (c < 0x21 || c > 0x7e) return std::nullopt;
      out.push_back(c);
      continue;
    }
    if (i + 1 >= spec.size()) return std::nullopt;
    const char n = spec[++i];
    if (n == '%') {
      out.push_back('%');
    } else if (n == '_') {
      out.push_back(' ');
    } else if (n == '-') {
      out += "%20";
    } else if (n == '{') {
      const auto close = spec.find('}', i + 1);
      if (close == std::string_view::npos) return std::nullopt;
      auto value = macro_value(spec.substr(i + 1, close - i - 1), v, domain);
      if (!value) return std::nullopt;
      out += *value;
      i = close;
    } else {
      return std::nullopt;
    }
    if (out.size() > kMaxExpansion) return std::nullopt;
  }
  return out;
}

// §7.3: a name over 253 bytes loses labels from the left until it fits.
std::string query_name(std::string name) {
  if (name.ends_with('.')) name.pop_back();
  while (name.size() > kMaxDomain) {
    const auto dot = name.find('.');
    if (dot == std::string::npos) return {};
    name.erase(0, dot + 1);
  }
  return name;
}

std::string reverse_name(const Address& a) {
  std::string out;
  if (!a.v6)
    return fmt::format("{}.{}.{}.{}.in-addr.arpa", a.bytes[3], a.bytes[2], a.bytes[1], a.bytes[0]);
  for (int i = 15; i >= 0; --i) out += fmt::format("{:x}.{:x}.", a.bytes[i] & 15, a.bytes[i] >> 4);
  return out + "ip6.arpa";
}

// %{i}: dotted quads, or an IPv6 address as 32 dotted nibbles (§7.3); an IPv4-mapped client is
// its IPv4 address.
std::string address_macro(const Address& a) {
  if (!a.v6) return fmt::format("{}.{}.{}.{}", a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]);
  std::string out;
  for (std::size_t i = 0; i < 16; ++i)
    out += fmt::format("{}{:x}.{:x}", i ? "." : "", a.bytes[i] >> 4, a.bytes[i] & 15);
  return out;
}

class Evaluation {
 public:
  Evaluation(SpfDns& dns, const Address& client, MacroValues values)
      : dns_(dns), client_(client), values_(std::move(values)) {}
  SpfResult check_host(const std::string& domain);
  std::string reason;

 private:
  enum class Match { no, yes, stop };  // stop: the evaluation ends with stop_
  struct Record {
    std::vector<Term> mechanisms;
    std::optional<Term> redirect;
  };
  std::optional<Record> parse_record(std::string_view text, const std::string& domain);
  Match mechanism(const Term& t, const std::string& domain);
  Match stop(SpfResult r, std::string why) {
    stop_ = r;
    reason = std::move(why);
    return Match::stop;
  }
  bool count_dns_term() { return ++dns_terms_ <= kMaxDnsTerms; }
  // A found answer's values; records a void lookup; nullopt (stopped) on errors and limits.
  std::optional<std::vector<std::string>> values(const SpfAnswer& a, std::string_view what);
  std::optional<std::string> target(const Term& t, const std::string& domain);
  Match addresses_match(const std::string& name, const Term& t);

  SpfDns& dns_;
  Address client_;
  MacroValues values_;
  int dns_terms_ = 0, voids_ = 0;
  SpfResult stop_ = SpfResult::permerror;
};

std::optional<std::vector<std::string>> Evaluation::values(const SpfAnswer& a,
                                                           std::string_view what) {
  if (a.status == SpfAnswer::Status::error) {
    stop(SpfResult::temperror, fmt::format("DNS error looking up {}", what));
    return std::nullopt;
  }
  if (a.status != SpfAnswer::Status::found && ++voids_ > kMaxVoidLookups) {
    stop(SpfResult::permerror, "more than 2 lookups found nothing (RFC 7208 §4.6.4)");
    return std::nullopt;
  }
  return a.values;
}

std::optional<std::string> Evaluation::target(const Term& t, const std::string& domain) {
  if (t.spec.empty()) return domain;
  auto expanded = expand(t.spec, values_, domain);
  std::string name = expanded ? query_name(*expanded) : std::string();
  if (name.empty() || name.size() > kMaxDomain) {
    stop(SpfResult::permerror, fmt::format("'{}' does not expand to a domain", t.text));
    return std::nullopt;
  }
  return name;
}

Evaluation::Match Evaluation::addresses_match(const std::string& name, const Term& t) {
  auto found = values(dns_.addresses(name, client_.v6), name);
  if (!found) return Match::stop;
  const int bits = client_.v6 ? t.cidr6 : t.cidr4;
  for (const auto& raw : *found)
    if (raw.size() == client_.size() &&
        in_network(client_, reinterpret_cast<const unsigned char*>(raw.data()), bits))
      return Match::yes;
  return Match::no;
}

Evaluation::Match Evaluation::mechanism(const Term& t, const std::string& domain) {
  if (t.name == "all") return Match::yes;
  if (t.name == "ip4" || t.name == "ip6") {
    auto network = parse_address(t.spec, t.name == "ip6");
    if (network->v6 != client_.v6) return Match::no;
    return in_network(client_, network->bytes.data(), client_.v6 ? t.cidr6 : t.cidr4) ? Match::yes
                                                                                      : Match::no;
  }
  if (!dns_.in_time()) return stop(SpfResult::temperror, "the SPF evaluation took too long");
  if (!count_dns_term())
    return stop(SpfResult::permerror, "more than 10 DNS-querying terms (RFC 7208 §4.6.4)");
  auto name = target(t, domain);
  if (!name) return Match::stop;
  if (t.name == "a") return addresses_match(*name, t);
  if (t.name == "mx") {
    auto exchangers = values(dns_.mx(*name), *name);
    if (!exchangers) return Match::stop;
    if (exchangers->size() > kMaxNames)
      return stop(SpfResult::permerror, fmt::format("{} has more than 10 MX records", *name));
    for (const auto& mx : *exchangers)
      if (auto m = addresses_match(mx, t); m != Match::no) return m;
    return Match::no;
  }
  if (t.name == "exists") {
    auto found = values(dns_.addresses(*name, false), *name);
    return !found ? Match::stop : found->empty() ? Match::no : Match::yes;
  }
  if (t.name == "ptr") {  // §5.5: DNS errors here are no match
    auto names = dns_.ptr(reverse_name(client_));
    if (names.status != SpfAnswer::Status::found) return Match::no;
    for (std::size_t i = 0; i < names.values.size() && i < kMaxNames; ++i) {
      const std::string host = ascii_lower(query_name(names.values[i]));
      if (host != *name && !host.ends_with("." + *name)) continue;
      auto forward = dns_.addresses(host, client_.v6);
      for (const auto& raw : forward.values)
        if (raw.size() == client_.size() &&
            std::memcmp(raw.data(), client_.bytes.data(), raw.size()) == 0)
          return Match::yes;
    }
    return Match::no;
  }
  // include (§5.2)
  const std::string saved_reason = reason;
  switch (check_host(*name)) {
    case SpfResult::pass:
      return Match::yes;
    case SpfResult::temperror:
      return stop(SpfResult::temperror, reason);
    case SpfResult::permerror:
      return stop(SpfResult::permerror, reason);
    case SpfResult::none:
      return stop(SpfResult::permerror, fmt::format("include:{} has no SPF record", *name));
    default:
      reason = saved_reason;
      return Match::no;
  }
}

std::optional<Evaluation::Record> Evaluation::parse_record(std::string_view text,
                                                           const std::string& domain) {
  Record record;
  bool have_exp = false;
  for (const auto& word : split(text.substr(6), ' ')) {
    if (word.empty()) continue;
    auto term = parse_term(word);
    if (!term || (!term->spec.empty() && term->name != "ip4" && term->name != "ip6" &&
                  !expand(term->spec, values_, domain))) {
      reason = fmt::format("SPF record of {}: bad term '{}'", domain, word.substr(0, 64));
      return std::nullopt;
    }
    if (!term->modifier) {
      record.mechanisms.push_back(std::move(*term));
    } else if (term->name == "redirect") {
      if (record.redirect) {
        reason = fmt::format("SPF record of {}: two redirect= modifiers", domain);
        return std::nullopt;
      }
      record.redirect = std::move(*term);
    } else if (term->name == "exp") {
      if (have_exp) {
        reason = fmt::format("SPF record of {}: two exp= modifiers", domain);
        return std::nullopt;
      }
      have_exp = true;
    }
  }
  return record;
}

SpfResult Evaluation::check_host(const std::string& domain) {
  if (!valid_domain(domain)) {
    reason = fmt::format("'{}' is not a domain SPF can check", domain.substr(0, 64));
    return SpfResult::none;
  }
  if (!dns_.in_time()) {
    reason = "the SPF evaluation took too long";
    return SpfResult::temperror;
  }
  const SpfAnswer answer = dns_.txt(domain);
  if (answer.status == SpfAnswer::Status::error) {
    reason = fmt::format("DNS error looking up the SPF record of {}", domain);
    return SpfResult::temperror;
  }
  std::vector<std::string_view> records;
  for (const auto& txt : answer.values)
    if (iequals(std::string_view(txt).substr(0, 6), "v=spf1") && (txt.size() == 6 || txt[6] == ' '))
      records.push_back(txt);
  if (records.empty()) {
    reason = fmt::format("{} publishes no SPF record", domain);
    return SpfResult::none;
  }
  if (records.size() > 1) {
    reason = fmt::format("{} publishes more than one SPF record", domain);
    return SpfResult::permerror;
  }
  auto record = parse_record(records.front(), domain);
  if (!record) return SpfResult::permerror;
  for (const auto& t : record->mechanisms) {
    const Match m = mechanism(t, domain);
    if (m == Match::stop) return stop_;
    if (m == Match::no) continue;
    reason = fmt::format("{} matched '{}'", domain, t.text.substr(0, 128));
    switch (t.qualifier) {
      case '-':
        return SpfResult::fail;
      case '~':
        return SpfResult::softfail;
      case '?':
        return SpfResult::neutral;
      default:
        return SpfResult::pass;
    }
  }
  if (!record->redirect) {
    reason = fmt::format("no mechanism of {} matched", domain);
    return SpfResult::neutral;
  }
  if (!count_dns_term()) {
    reason = "more than 10 DNS-querying terms (RFC 7208 §4.6.4)";
    return SpfResult::permerror;
  }
  auto name = target(*record->redirect, domain);
  if (!name) return stop_;
  const SpfResult r = check_host(*name);
  if (r != SpfResult::none) return r;
  reason = fmt::format("redirect={} has no SPF record", *name);
  return SpfResult::permerror;
}

}  // namespace

SpfOutcome check_sender(const SpfQuery& query, SpfDns& dns) {
  SpfOutcome out;
  const auto client = parse_address(query.client_address);
  MacroValues v;
  v.helo = query.helo;
  const auto at = query.sender.rfind('@');
  v.local = query.sender.empty() || at == 0 ? "postmaster" : query.sender.substr(0, at);
  out.domain = ascii_lower(query.sender.empty()      ? query.helo
                           : at == std::string::npos ? std::string()
                                                     : query.sender.substr(at + 1));
  if (!client || out.domain.empty()) {
    out.reason = client ? "no domain to check" : "no client address";
    return out;
  }
  v.sender_domain = out.domain;
  v.sender = v.local + "@" + out.domain;
  v.ip = address_macro(*client);
  v.ip_version = client->v6 ? "ip6" : "in-addr";
  Evaluation e(dns, *client, std::move(v));
  out.result = e.check_host(out.domain);
  out.reason = std::move(e.reason);
  return out;
}

}  // namespace seegw::sender_auth
