#include "seegw/daemon/control_config.hpp"

#include <grp.h>

#include <fmt/format.h>

#include <toml++/toml.h>
#include <charconv>

#include "seegw/config/toml_file.hpp"

namespace seegw::daemon {
namespace fs = std::filesystem;

fs::path ControlConfig::snapshot_file() const {
  return snapshot.empty() ? state_dir / "snapshot" / "policy.toml" : snapshot;
}
fs::path ControlConfig::crl_cache_dir() const {
  return crl_cache.empty() ? state_dir / "crls" : crl_cache;
}
fs::path ControlConfig::audit_file() const {
  return audit_log.empty() ? state_dir / "audit.log" : audit_log;
}

namespace {

Result<gid_t> group_id(const std::string& name) {
  gid_t gid = 0;
  auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), gid);
  if (ec == std::errc() && p == name.data() + name.size()) return gid;
  group g{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  if (getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found) != 0 || !found)
    return fail(Errc::config, fmt::format("[roles]: there is no group '{}'", name));
  return found->gr_gid;
}

}  // namespace

Result<ControlConfig> load_control_config(const fs::path& file) {
  auto parsed = config::parse_toml_file(file);
  if (!parsed) return std::unexpected(parsed.error());
  toml::table& t = *parsed;
  const fs::path base = fs::absolute(file).parent_path();
  auto path = [&](const std::string& p) { return p.empty() ? fs::path() : base / p; };
  ControlConfig c;
  c.file = fs::absolute(file);
  auto& d = c.directory;
  d.uri = t["directory"]["uri"].value_or(std::string());
  d.start_tls = t["directory"]["start_tls"].value_or(true);
  d.ca_file = path(t["directory"]["ca_file"].value_or(std::string())).string();
  d.bind_dn = t["directory"]["bind_dn"].value_or(std::string());
  d.password_file = path(t["directory"]["password_file"].value_or(std::string())).string();
  d.timeout = std::chrono::seconds(t["directory"]["timeout"].value_or(int64_t{10}));
  d.seemail_base = t["directory"]["seemail_base"].value_or(d.seemail_base);
  d.vendor_base = t["directory"]["vendor_base"].value_or(d.vendor_base);
  d.publish_dn = t["directory"]["publish_dn"].value_or(std::string());
  if (auto* specs = t["discovery"].as_array()) {
    for (auto& node : *specs) {
      auto* e = node.as_table();
      if (!e) return fail(Errc::config, "[[discovery]] entries must be tables");
      directory::DiscoverySpec s;
      s.base = (*e)["base"].value_or(s.base);
      s.filter_template = (*e)["filter"].value_or(s.filter_template);
      s.attribute = (*e)["attribute"].value_or(s.attribute);
      if (s.filter_template.find("{domain}") == std::string::npos)
        return fail(Errc::config, "[[discovery]] filter must contain {domain}");
      c.discovery.push_back(std::move(s));
    }
  }
  if (c.discovery.empty()) c.discovery.emplace_back();
  auto paths = [&](const char* key) {
    std::vector<std::string> out;
    if (auto* arr = t["snapshot"][key].as_array())
      for (auto& v : *arr)
        if (auto s = v.value<std::string>()) out.push_back(path(*s).string());
    return out;
  };
  c.trusted_roots = paths("trusted_roots");
  c.crls = paths("crls");
  c.snapshot_extra = t["snapshot"]["extra"].value_or(std::string());
  c.crl_cache = path(t["crl"]["cache_dir"].value_or(std::string()));
  c.crl_timeout = std::chrono::seconds(t["crl"]["timeout"].value_or(int64_t{10}));

  auto k = t["control"];
  if (auto v = k["socket"].value<std::string>()) c.socket = path(*v);
  if (auto v = k["state_dir"].value<std::string>()) c.state_dir = path(*v);
  c.snapshot = path(k["snapshot"].value_or(std::string()));
  c.audit_log = path(k["audit_log"].value_or(std::string()));
  c.dataplane_socket = path(k["dataplane_socket"].value_or(std::string()));
  c.refresh = std::chrono::seconds(k["refresh_interval"].value_or(int64_t{3600}));
  c.retry_min = std::chrono::seconds(k["retry_min"].value_or(int64_t{30}));
  c.retry_max = std::chrono::seconds(k["retry_max"].value_or(int64_t{1800}));
  c.auto_approve = k["auto_approve_certificates"].value_or(true);
  if (c.refresh.count() < 1 || c.retry_min.count() < 1 || c.retry_max < c.retry_min)
    return fail(
        Errc::config,
        "[control]: refresh_interval and retry_min must be positive, retry_max ≥ retry_min");
  for (auto [key, out] :
       {std::pair{"admin", &c.roles.admin}, std::pair{"operator", &c.roles.operators},
        std::pair{"auditor", &c.roles.auditors}}) {
    if (auto* arr = t["roles"][key].as_array()) {
      for (auto& v : *arr) {
        std::string name = v.value<std::string>().value_or(
            v.value<int64_t>() ? std::to_string(*v.value<int64_t>()) : std::string());
        auto gid = group_id(name);
        if (!gid) return std::unexpected(gid.error());
        out->push_back(*gid);
      }
    }
  }
  auto sys = t["system"];
  c.system.updates_dir = path(sys["updates_dir"].value_or(std::string()));
  c.system.reboot_request = path(sys["reboot_request"].value_or(std::string()));
  if (auto v = sys["rauc"].value<std::string>()) c.system.rauc = path(*v);
  if (auto v = sys["release_file"].value<std::string>()) c.system.release_file = path(*v);
  if (!c.system.updates_dir.empty() && c.system.reboot_request.empty())
    return fail(Errc::config,
                "[system]: updates_dir needs reboot_request (the new slot must boot)");
  return c;
}

std::string describe(const ControlConfig& c) {
  auto list = [](const auto& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + fmt::format("{}", x);
    return s.empty() ? std::string("(none)") : s;
  };
  std::string out = fmt::format(
      "config file        {}\n"
      "directory          {} (StartTLS {}, CA {}, bind {}{})\n"
      "seemail base       {}\nvendor base        {}\n",
      c.file.string(), c.directory.uri.empty() ? "(none)" : c.directory.uri,
      c.directory.start_tls ? "on" : "off",
      c.directory.ca_file.empty() ? "system" : c.directory.ca_file,
      c.directory.bind_dn.empty() ? "anonymous" : c.directory.bind_dn,
      c.directory.password_file.empty() ? "" : ", password from " + c.directory.password_file,
      c.directory.seemail_base, c.directory.vendor_base);
  for (const auto& s : c.discovery)
    out += fmt::format("discovery          base {} filter {} attribute {}\n", s.base,
                       s.filter_template, s.attribute);
  out += fmt::format(
      "trusted roots      {}\nCRL cache          {} (timeout {} s)\n"
      "snapshot           {}\ndata plane socket  {}\ncontrol socket     {}\n"
      "state              {}\naudit log          {}\n"
      "refresh            every {} s; after a failure from {} s doubling to {} s\n"
      "auto-approve       {}\n"
      "roles (gids)       admin: {}; operator: {}; auditor: {}\n",
      list(c.trusted_roots), c.crl_cache_dir().string(), c.crl_timeout.count(),
      c.snapshot_file().string(),
      c.dataplane_socket.empty() ? "(not told)" : c.dataplane_socket.string(), c.socket.string(),
      c.state_dir.string(), c.audit_file().string(), c.refresh.count(), c.retry_min.count(),
      c.retry_max.count(), c.auto_approve ? "yes" : "no (discovered certificates wait)",
      list(c.roles.admin), list(c.roles.operators), list(c.roles.auditors));
  out += c.system.updates_dir.empty()
             ? "updates            (not an appliance: no [system] section)\n"
             : fmt::format("updates            {} (RAUC {}), reboot by {}\n",
                           c.system.updates_dir.string(), c.system.rauc.string(),
                           c.system.reboot_request.string());
  return out;
}

}  // namespace seegw::daemon
