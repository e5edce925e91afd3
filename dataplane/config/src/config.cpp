#include "seegw/config/config.hpp"

#include <pwd.h>
#include "seegw/config/toml_file.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <sched.h>

#include <toml++/toml.h>
#include <charconv>
#include <cstring>

#include "seegw/common/file.hpp"
#include "seegw/common/text.hpp"
#include "seegw/smtp/address.hpp"

namespace seegw::config {
namespace {

bool domain_matches(std::string_view pattern, std::string_view domain) {
  if (pattern.starts_with("*.")) {
    std::string_view suffix = pattern.substr(1);
    return domain.size() > suffix.size() && domain.ends_with(suffix);
  }
  return pattern == domain;
}

}  // namespace

Result<TlsLevel> parse_tls_level(std::string_view text) {
  using P = smtp::TlsPolicy;
  static const std::vector<std::pair<std::string_view, TlsLevel>> levels = {
      {"none", {P::none}},
      {"may", {P::opportunistic}},
      {"opportunistic", {P::opportunistic}},
      {"mta-sts", {P::opportunistic}},  // may, with MTA-STS (and DANE) where the domain asks
      {"encrypt", {P::required}},
      {"required", {P::required}},
      {"verify", {P::required, true}},
      {"dane", {P::required, false, true}},
  };
  for (const auto& [name, level] : levels)
    if (text == name) return level;
  return fail(
      Errc::config,
      fmt::format("tls must be none, may, encrypt, verify, dane or mta-sts, not '{}'", text));
}

std::string HostPort::text() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

Result<HostPort> parse_host_port(std::string_view text, std::uint16_t default_port) {
  HostPort hp;
  hp.port = default_port;
  std::string_view host = text, port;
  if (text.starts_with("[")) {
    auto close = text.find(']');
    if (close == std::string_view::npos)
      return fail(Errc::config, fmt::format("bad address '{}'", text));
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return fail(Errc::config, fmt::format("bad address '{}'", text));
      port = text.substr(close + 2);
    }
  } else if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) return fail(Errc::config, fmt::format("no host in '{}'", text));
  hp.host = std::string(host);
  if (!port.empty()) {
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || p != port.data() + port.size() || value == 0 || value > 65535)
      return fail(Errc::config, fmt::format("bad port in '{}'", text));
    hp.port = static_cast<std::uint16_t>(value);
  }
  return hp;
}

bool Config::is_local_domain(std::string_view d) const {
  for (const auto& p : local_domains)
    if (domain_matches(p, d)) return true;
  return false;
}

bool Config::is_internal(std::string_view address) const {
  for (const auto& n : internal_networks)
    if (n.contains(address)) return true;
  return false;
}

Route Config::route_for(std::string_view d) const {
  for (const auto& r : routes)
    for (const auto& p : r.domains)
      if (domain_matches(p, d)) return r;
  if (is_local_domain(d)) return Route{{}, internal_host, relay_tls, relay_tls_level.verify};
  if (direct_delivery)
    return Route{
        {}, {std::string(d), mx_port}, relay_tls, relay_tls_level.verify, true, {}, std::string(d)};
  return Route{{}, outbound_host, relay_tls, relay_tls_level.verify};
}

namespace {

// Reads typed values out of the parsed file; the first wrong type is kept as the problem, so
// every section reads on and one clear error comes out at the end.
class Reader {
 public:
  void str(toml::node_view<const toml::node> n, std::string& out) {
    if (!n) return;
    if (auto v = n.value<std::string>())
      out = *v;
    else
      problem = fmt::format("{} must be a string", n.node()->source().begin.line);
  }
  void secs(toml::node_view<const toml::node> n, std::chrono::seconds& out) {
    if (!n) return;
    if (auto v = n.value<int64_t>(); v && *v >= 0)
      out = std::chrono::seconds(*v);
    else
      problem = "durations are whole seconds >= 0";
  }
  void count(toml::node_view<const toml::node> n, std::size_t& out) {
    if (!n) return;
    if (auto v = n.value<int64_t>(); v && *v > 0)
      out = static_cast<std::size_t>(*v);
    else
      problem = "limits are whole numbers > 0";
  }
  std::vector<std::string> strings(toml::node_view<const toml::node> n) {
    std::vector<std::string> out;
    if (auto* arr = n.as_array())
      for (auto& e : *arr)
        if (auto v = e.value<std::string>()) out.push_back(*v);
    return out;
  }
  std::string problem;
};

// [gateway]: who we are and which networks are ours.
Result<void> read_gateway(const toml::table& t, Reader& r, Config& c) {
  r.str(t["gateway"]["hostname"], c.hostname);
  r.str(t["gateway"]["domain"], c.domain);
  c.domain = ascii_lower(c.domain);
  for (auto& d : r.strings(t["gateway"]["local_domains"]))
    c.local_domains.push_back(ascii_lower(d));
  if (c.local_domains.empty()) c.local_domains.push_back(c.domain);
  auto nets = r.strings(t["gateway"]["internal_networks"]);
  if (!t["gateway"]["internal_networks"]) nets = {"127.0.0.0/8", "::1/128"};
  for (auto& n : nets) {
    auto net = Network::parse(n);
    if (!net) return std::unexpected(net.error());
    c.internal_networks.push_back(*net);
  }
  return {};
}

// [smtp]: listeners, session limits and TLS.
Result<void> read_smtp(const toml::table& t, Reader& r, Config& c) {
  if (t["smtp"]["listen"]) {
    c.listen.clear();
    for (auto& l : r.strings(t["smtp"]["listen"])) {
      auto hp = parse_host_port(l, 25);
      if (!hp) return std::unexpected(hp.error());
      c.listen.push_back(*hp);
    }
  }
  for (auto& l : r.strings(t["smtp"]["submission"])) {
    auto hp = parse_host_port(l, 587);
    if (!hp) return std::unexpected(hp.error());
    c.submission.push_back(*hp);
  }
  if (auto v = t["smtp"]["io_threads"].value<int64_t>()) c.io_threads = static_cast<unsigned>(*v);
  r.count(t["smtp"]["max_message_bytes"], c.limits.max_message_bytes);
  r.count(t["smtp"]["max_recipients"], c.limits.max_recipients);
  r.count(t["smtp"]["max_command_line"], c.limits.max_command_line);
  r.count(t["smtp"]["max_data_line"], c.limits.max_data_line);
  r.count(t["smtp"]["max_errors"], c.limits.max_errors);
  r.count(t["smtp"]["max_commands_without_mail"], c.limits.max_commands_without_mail);
  r.count(t["smtp"]["max_connections"], c.max_connections);
  r.count(t["smtp"]["max_connections_per_client"], c.max_connections_per_client);
  if (t["smtp"]["reserved_internal_connections"]) {
    std::size_t reserved = 0;
    r.count(t["smtp"]["reserved_internal_connections"], reserved);
    c.reserved_internal_connections = reserved;
    if (reserved >= c.max_connections)
      return fail(Errc::config,
                  "smtp.reserved_internal_connections must be less than smtp.max_connections "
                  "(clients from outside would have no slot)");
  }
  r.count(t["smtp"]["min_data_rate"], c.limits.min_data_rate);
  r.secs(t["smtp"]["command_timeout"], c.limits.command_timeout);
  r.secs(t["smtp"]["data_timeout"], c.limits.data_timeout);
  r.str(t["smtp"]["tls_cert"], c.tls_cert_file);
  r.str(t["smtp"]["tls_key"], c.tls_key_file);
  if (c.tls_cert_file.empty() != c.tls_key_file.empty())
    return fail(Errc::config, "smtp.tls_cert and smtp.tls_key go together");
  return {};
}

// [spool]
Result<void> read_spool(const toml::table& t, Reader& r, Config& c) {
  std::string spool_path = c.spool_path, sync = "group";
  r.str(t["spool"]["path"], spool_path);
  c.spool_path = spool_path;
  r.str(t["spool"]["sync"], sync);
  if (sync == "group")
    c.sync_mode = spool::SyncMode::group;
  else if (sync == "per_file")
    c.sync_mode = spool::SyncMode::per_file;
  else
    return fail(Errc::config, "spool.sync must be group or per_file");
  r.secs(t["spool"]["keep_done"], c.keep_done);
  r.count(t["spool"]["reserve_bytes"], c.spool_reserve_bytes);
  r.count(t["spool"]["reserve_inodes"], c.spool_reserve_inodes);
  return {};
}

// [relay]: the next hops and delivery attempts.
Result<void> read_relay(const toml::table& t, Reader& r, Config& c) {
  for (auto [key, target] : {std::pair{"internal_host", &c.internal_host},
                             std::pair{"outbound_host", &c.outbound_host}}) {
    std::string text;
    r.str(t["relay"][key], text);
    if (text.empty()) continue;
    if (text == "mx" && target == &c.outbound_host) {
      c.direct_delivery = true;  // RFC 5321 §5: each domain's mail exchangers
      continue;
    }
    auto hp = parse_host_port(text, 25);
    if (!hp) return std::unexpected(hp.error());
    *target = *hp;
  }
  std::string tls = "opportunistic";
  r.str(t["relay"]["tls"], tls);
  auto level = parse_tls_level(tls);
  if (!level) return std::unexpected(level.error());
  c.relay_tls = level->session;
  c.relay_tls_level = *level;
  if (level->dane_only && !c.direct_delivery)
    return fail(Errc::config, "relay.tls = \"dane\" needs relay.outbound_host = \"mx\"");
  r.str(t["relay"]["tls_ca_file"], c.relay_tls_ca_file);
  for (auto [key, port] :
       {std::pair{"mx_port", &c.mx_port}, std::pair{"mta_sts_port", &c.mta_sts_port}}) {
    if (auto v = t["relay"][key].value<int64_t>(); v && *v > 0 && *v < 65536)
      *port = static_cast<std::uint16_t>(*v);
    else if (t["relay"][key])
      return fail(Errc::config, fmt::format("relay.{} must be a port number", key));
  }
  r.str(t["relay"]["mta_sts_ca_file"], c.mta_sts_ca_file);
  r.secs(t["relay"]["connect_timeout"], c.connect_timeout);
  r.secs(t["relay"]["timeout"], c.relay_timeout);
  r.secs(t["relay"]["retry_base"], c.retry_base);
  r.secs(t["relay"]["retry_max"], c.retry_max);
  r.secs(t["relay"]["delay_warning"], c.delay_warning);
  r.secs(t["relay"]["max_queue_lifetime"], c.max_queue_lifetime);
  r.secs(t["relay"]["queue_scan_interval"], c.queue_scan_interval);
  r.count(t["relay"]["max_connections_per_destination"], c.max_connections_per_destination);
  r.count(t["relay"]["max_messages_per_connection"], c.max_messages_per_connection);
  return {};
}

// A user named in [admin] users: a name that does not exist is an error, never an empty list.
Result<uid_t> user_id(const std::string& name) {
  passwd pw{}, *found = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
    return fail(Errc::config, fmt::format("[admin] users: there is no user '{}'", name));
  return found->pw_uid;
}

// [policy], [admin], [control] and [smime].
Result<void> read_policy(const toml::table& t, Reader& r, Config& c) {
  std::string path_text = c.policy_snapshot.string();
  r.str(t["policy"]["snapshot"], path_text);
  c.policy_snapshot = path_text;
  r.secs(t["policy"]["reload_interval"], c.policy_reload_interval);
  r.secs(t["policy"]["max_age"], c.policy_max_age);
  r.count(t["policy"]["notice_limit"], c.notice_limit);
  r.secs(t["policy"]["notice_window"], c.notice_window);
  path_text.clear();
  r.str(t["admin"]["socket"], path_text);
  c.admin_socket =
      path_text.empty() ? c.spool_path / "admin.sock" : std::filesystem::path(path_text);
  for (const auto& name : r.strings(t["admin"]["users"])) {
    auto uid = user_id(name);
    if (!uid) return std::unexpected(uid.error());
    c.admin_users.push_back(*uid);
  }
  if (c.notice_window.count() == 0) c.notice_window = std::chrono::seconds(1);
  path_text.clear();
  r.str(t["control"]["socket"], path_text);
  c.control_socket = path_text;
  r.secs(t["control"]["certificate_request_interval"], c.certificate_request_interval);
  c.approved_ciphers = r.strings(t["smime"]["ciphers"]);
  c.approved_digests = r.strings(t["smime"]["digests"]);
  return {};
}

// [hsm]
Result<void> read_hsm(const toml::table& t, Reader& r, Config& c) {
  r.str(t["hsm"]["module"], c.hsm.module);
  r.str(t["hsm"]["token"], c.hsm.token);
  r.str(t["hsm"]["pin_file"], c.hsm.pin_file);
  r.str(t["hsm"]["key_label"], c.hsm.key_label);
  std::string chain_file;
  r.str(t["hsm"]["chain_file"], chain_file);
  c.hsm.chain_file = chain_file;
  r.secs(t["hsm"]["check_interval"], c.hsm.check_interval);
  if (c.hsm.configured() && c.hsm.pin_file.empty())
    return fail(Errc::config, "hsm.token needs hsm.pin_file (a file only its owner can read)");
  if (c.hsm.check_interval.count() == 0) c.hsm.check_interval = std::chrono::seconds(1);
  return {};
}

// [dns]: the resolver Secure Government Email uses (libunbound, validating DNSSEC itself).
Result<void> read_dns(const toml::table& t, Reader& r, Config& c) {
  c.dns.forwarders = r.strings(t["dns"]["forwarders"]);
  for (const auto& f : c.dns.forwarders)
    if (f.empty() || f.find_first_of(" \t:") != std::string::npos)
      return fail(
          Errc::config,
          fmt::format("dns.forwarders: '{}' is not an address[@port] (e.g. 127.0.0.1@53)", f));
  if (t["dns"]["trust_anchors"]) c.dns.trust_anchors = r.strings(t["dns"]["trust_anchors"]);
  r.secs(t["dns"]["query_timeout"], c.dns.query_timeout);
  if (c.dns.query_timeout.count() <= 0)
    return fail(Errc::config, "dns.query_timeout: at least 1 second");
  return {};
}

// [inbound_auth]
Result<void> read_inbound_auth(const toml::table& t, Reader& r, Config& c) {
  auto& a = c.inbound_auth;
  a.enabled = t["inbound_auth"]["enabled"].value_or(false);
  r.str(t["inbound_auth"]["authserv_id"], a.authserv_id);
  if (a.authserv_id.empty()) a.authserv_id = c.hostname;
  r.str(t["inbound_auth"]["public_suffix_list"], a.public_suffix_list);
  r.secs(t["inbound_auth"]["time_limit"], a.time_limit);
  if (auto n = t["inbound_auth"]["threads"].value<int64_t>()) {
    if (*n < 1 || *n > 256) return fail(Errc::config, "inbound_auth.threads: between 1 and 256");
    a.threads = static_cast<std::size_t>(*n);
  }
  if (a.time_limit.count() <= 0)
    return fail(Errc::config, "inbound_auth.time_limit: at least 1 second");
  if (a.authserv_id.find_first_of(" \t;()\"") != std::string::npos)
    return fail(Errc::config, "inbound_auth.authserv_id: one token (a host name)");
  return {};
}

// [dpdk]: the poll-mode data plane (checked only when the section is there).
Result<void> read_dpdk(const toml::table& t, Reader& r, Config& c) {
  if (auto d = t["dpdk"]) {
    c.dpdk.enabled = d["enabled"].value_or(false);
    c.dpdk.eal_args = r.strings(d["eal_args"]);
    if (auto v = d["port"].value<int64_t>(); v && *v >= 0 && *v < 1024)
      c.dpdk.port = static_cast<std::uint16_t>(*v);
    r.str(d["address"], c.dpdk.address);
    r.str(d["gateway"], c.dpdk.gateway);
    r.str(d["mac"], c.dpdk.mac);
    c.dpdk.checksum_offload = d["checksum_offload"].value_or(true);
    c.dpdk.hop_only = d["hop_only"].value_or(false);
    if (auto* ports = d["listen"].as_array()) {
      for (const auto& port : *ports) {
        auto v = port.value<int64_t>();
        if (!v || *v < 1 || *v > 65535) return fail(Errc::config, "dpdk.listen holds port numbers");
        c.dpdk.listen.push_back(static_cast<std::uint16_t>(*v));
      }
      if (!c.dpdk.hop_only)
        return fail(Errc::config,
                    "dpdk.listen is for dpdk.hop_only (otherwise the stack takes smtp.listen)");
    }
    if (auto v = d["mbufs"].value<int64_t>(); v && *v >= 1024)
      c.dpdk.mbufs = static_cast<std::uint32_t>(*v);
    if (auto v = d["mtu"].value<int64_t>()) {
      if (*v < 576 || *v > 9000) return fail(Errc::config, "dpdk.mtu is between 576 and 9000");
      c.dpdk.mtu = static_cast<std::uint16_t>(*v);
    }
    if (auto v = d["queues"].value<int64_t>()) {
      if (*v < 1 || *v > 16) return fail(Errc::config, "dpdk.queues is between 1 and 16");
      c.dpdk.queues = static_cast<std::uint16_t>(*v);
    }
    if (auto* cpus = d["lane_cpus"].as_array()) {
      for (const auto& cpu : *cpus) {
        auto v = cpu.value<int64_t>();
        if (!v || *v < 0 || *v >= CPU_SETSIZE)
          return fail(Errc::config, "dpdk.lane_cpus holds CPU numbers");
        c.dpdk.lane_cpus.push_back(static_cast<int>(*v));
      }
      if (c.dpdk.lane_cpus.size() != c.dpdk.queues)
        return fail(Errc::config,
                    fmt::format("dpdk.lane_cpus names {} CPUs for {} lanes (dpdk.queues): one each",
                                c.dpdk.lane_cpus.size(), c.dpdk.queues));
    }
    if (auto v = d["idle_sleep_us"].value<int64_t>(); v && *v >= 0)
      c.dpdk.idle_sleep = std::chrono::microseconds(*v);
    auto f = d["faults"];
    c.dpdk.faults.drop = f["drop"].value_or(0.0);
    c.dpdk.faults.duplicate = f["duplicate"].value_or(0.0);
    c.dpdk.faults.reorder = f["reorder"].value_or(0.0);
    c.dpdk.faults.delay = std::chrono::microseconds(f["delay_us"].value_or(int64_t{0}));
    c.dpdk.faults.seed = static_cast<std::uint64_t>(f["seed"].value_or(int64_t{1}));
    for (double rate : {c.dpdk.faults.drop, c.dpdk.faults.duplicate, c.dpdk.faults.reorder})
      if (rate < 0 || rate > 0.5)
        return fail(Errc::config, "dpdk.faults rates are between 0 and 0.5");
    if (c.dpdk.enabled && c.dpdk.address.find('/') == std::string::npos)
      return fail(Errc::config,
                  "dpdk.address needs the stack's address with its prefix, "
                  "e.g. \"198.18.0.2/24\"");
    if (auto subnet = Network::parse(c.dpdk.address)) {
      c.dpdk.subnet = *subnet;
    } else if (c.dpdk.enabled) {
      return fail(Errc::config,
                  "dpdk.address is not an IPv4 address with its prefix: " + c.dpdk.address);
    }
  }
  return {};
}

// [[route]]: explicit next hops per domain (they inherit relay.tls).
Result<void> read_routes(const toml::table& t, Reader& r, Config& c) {
  if (auto* routes = t["route"].as_array()) {
    for (auto& node : *routes) {
      auto* rt = node.as_table();
      if (!rt) return fail(Errc::config, "[[route]] entries must be tables");
      Route route;
      for (auto& d : r.strings(toml::node_view<const toml::node>(rt->get("domains"))))
        route.domains.push_back(ascii_lower(d));
      auto hop = rt->get("next_hop") ? rt->get("next_hop")->value<std::string>() : std::nullopt;
      if (route.domains.empty() || !hop)
        return fail(Errc::config, "[[route]] needs domains and next_hop");
      auto hp = parse_host_port(*hop, 25);
      if (!hp) return std::unexpected(hp.error());
      route.next_hop = *hp;
      route.tls = c.relay_tls;
      route.verify = c.relay_tls_level.verify;
      if (auto* tv = rt->get("tls")) {
        auto p = parse_tls_level(tv->value<std::string>().value_or(""));
        if (!p) return std::unexpected(p.error());
        if (p->dane_only)
          return fail(Errc::config,
                      "[[route]] tls = \"dane\": a static next hop has no TLSA "
                      "lookup (direct delivery's exchangers do)");
        route.tls = p->session;
        route.verify = p->verify;
      }
      c.routes.push_back(std::move(route));
    }
  }
  return {};
}

}  // namespace

Result<Config> parse(std::string_view text) {
  auto parsed = parse_toml(text, "config");
  if (!parsed) return std::unexpected(parsed.error());
  const toml::table& t = *parsed;
  Config c;
  Reader r;
  // In this order: routes inherit [relay] tls, [admin] socket defaults to the spool's.
  for (auto section : {read_gateway, read_smtp, read_spool, read_relay, read_policy, read_hsm,
                       read_dns, read_inbound_auth, read_dpdk, read_routes})
    if (auto read = section(t, r, c); !read) return std::unexpected(read.error());
  if (!r.problem.empty()) return fail(Errc::config, r.problem);
  return c;
}

Result<Config> load(const std::filesystem::path& file) {
  auto text = read_file(file.string());
  if (!text) return fail(Errc::config, fmt::format("config: {}", text.error().message));
  return parse(*text);
}

bool PollModeSettings::carries(std::string_view host) const {
  return !hop_only || (subnet && subnet->contains(host));
}

}  // namespace seegw::config
