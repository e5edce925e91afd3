#include "seegw/scan/inspector.hpp"

#include <algorithm>

#include "seegw/common/log.hpp"

namespace seegw::scan {
namespace {

class ReportSink : public extract::ContentSink {
 public:
  ReportSink(const Matcher& matcher, ScanReport& report) : matcher_(matcher), report_(report) {}

  void text(const std::string& where, std::string_view utf8) override {
    matches_.clear();
    if (auto scanned = matcher_.scan(utf8, matches_); !scanned) {
      // Fail closed: text we could not scan counts as uninspectable.
      uninspectable(where, scanned.error().message);
      return;
    }
    for (const auto& m : matches_) {
      report_.hits.push_back(
          {m.trigger, where, m.start, std::string(utf8.substr(m.start, m.end - m.start))});
      report_.classification = std::max(report_.classification, level_of(m.trigger));
    }
  }
  void uninspectable(const std::string& where, std::string_view reason) override {
    report_.uninspectable.push_back({where, std::string(reason)});
  }
  void problem(const std::string& where, std::string_view what) override {
    report_.problems.push_back(where + ": " + std::string(what));
  }

 private:
  const Matcher& matcher_;
  ScanReport& report_;
  std::vector<Match> matches_;
};

}  // namespace

ScanReport inspect_message(std::string_view raw, const Matcher& matcher,
                           const extract::Limits& limits) {
  ScanReport report;
  ReportSink sink(matcher, report);
  extract::extract_message(raw, sink, limits);
  return report;
}

bool only_individual_smime(const ScanReport& report) {
  return !report.uninspectable.empty() &&
         std::all_of(report.uninspectable.begin(), report.uninspectable.end(),
                     [](const auto& u) { return u.reason == extract::kEncryptedSmimeReason; });
}

ScanReport inspect_file(std::string_view bytes, std::string_view name, const Matcher& matcher,
                        const extract::Limits& limits) {
  ScanReport report;
  ReportSink sink(matcher, report);
  extract::extract_file(bytes, name, sink, limits);
  return report;
}

}  // namespace seegw::scan
