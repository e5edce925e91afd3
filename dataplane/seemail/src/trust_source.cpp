#include "seegw/seemail/trust_source.hpp"

#include <fmt/format.h>

#include "seegw/common/log.hpp"

namespace seegw::seemail {

namespace {
// OUT-5: the domains whose certificate the policy would use now.
std::set<std::string> with_usable_certificate(const TrustState& trust) {
  std::set<std::string> usable;
  for (const auto& [domain, cert] : trust.policy.certificates)
    if (policy::certificate_usable(trust.policy, domain) && trust.certificate_for(domain))
      usable.insert(domain);
  return usable;
}
}  // namespace

TrustSource::TrustSource(TrustSettings settings)
    : settings_(std::move(settings)),
      current_(empty_trust_state(settings_.domain, settings_.local_domains)) {}

std::shared_ptr<const TrustState> TrustSource::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::set<std::string> TrustSource::usable_domains() const {
  std::lock_guard lock(mutex_);
  return usable_domains_;
}

Result<std::shared_ptr<const TrustState>> TrustSource::read() const {
  if (settings_.snapshot.empty())
    return fail(Errc::config, "no policy snapshot is configured ([policy] snapshot)");
  return load_trust_state(settings_.snapshot, settings_.domain, settings_.local_domains,
                          settings_.learnt, std::time(nullptr));
}

Result<std::vector<std::string>> TrustSource::reload() {
  if (settings_.snapshot.empty())
    return fail(Errc::config, "no policy snapshot is configured ([policy] snapshot)");
  std::lock_guard reloading(reload_mutex_);
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(settings_.snapshot, ec);
  auto loaded = read();
  std::lock_guard lock(mutex_);
  loaded_ = std::chrono::steady_clock::now();
  mtime_ = mtime;
  const std::string file = settings_.snapshot.string();
  if (!loaded) {
    if (good_)
      log::error("policy: {} not loaded, keeping the last good snapshot: {}", file,
                 loaded.error().message);
    else if (error_ != loaded.error().message)
      log::error("policy: {} not loaded: {}", file, loaded.error().message);
    if (!good_) error_ = loaded.error().message;
    return std::unexpected(loaded.error());
  }
  good_ = true;
  error_.clear();
  const auto& t = **loaded;
  std::string states;
  for (const auto& [domain, cert] : t.policy.certificates)
    states += fmt::format(" {}={}", domain, static_cast<int>(cert.state));
  log::info("policy: snapshot version {} loaded: {} agencies, {} trusted, {} certificates{}",
            t.policy.version, t.policy.seemail.size(), t.policy.trusted.size(),
            t.certificates.size(), states);
  auto usable = with_usable_certificate(t);
  std::vector<std::string> gained;
  for (const auto& d : usable)
    if (!usable_domains_.count(d)) gained.push_back(d);
  usable_domains_ = std::move(usable);
  current_ = std::move(*loaded);
  return gained;
}

bool TrustSource::reload_due() const {
  if (settings_.snapshot.empty()) return false;
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(settings_.snapshot, ec);
  std::lock_guard lock(mutex_);
  return (!ec && mtime != mtime_) ||
         std::chrono::steady_clock::now() - loaded_ >= settings_.reload_interval;
}

bool TrustSource::usable(std::string& why) const {
  if (settings_.snapshot.empty()) {
    why = "no policy snapshot is configured ([policy] snapshot)";
    return false;
  }
  std::lock_guard lock(mutex_);
  if (!good_) {
    why = "no valid policy snapshot: " + error_;
    return false;
  }
  const auto max_age = settings_.max_age.count();
  const std::time_t now = std::time(nullptr);
  if (max_age > 0 && now - current_->generated > max_age) {
    why = fmt::format(
        "the policy snapshot {} was written {} s ago, more than [policy] max_age ({} s): is "
        "seegw-control running?",
        settings_.snapshot.string(), now - current_->generated, max_age);
    return false;
  }
  return true;
}

}  // namespace seegw::seemail
