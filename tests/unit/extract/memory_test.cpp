// Memory per message is bounded (issue 15 item 6): a zip whose one entry decompresses past what
// a message may hold at once is uninspectable with that reason, not held whole (a 1.4 MB bomb
// cost 540 MiB before); the process-wide budget shared by every inspection is honoured and given
// back. The archive is a real zip made with libarchive.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "seegw/extract/extractor.hpp"

namespace seegw::extract {
namespace {

// A zip with one entry of `size` hexadecimal digits (about 2:1 compressible: no ratio limit).
std::string zip_of_hex(std::size_t size) {
  std::string text(size, '0');
  std::mt19937 rng(7);
  for (auto& c : text) c = "0123456789abcdef"[rng() % 16];
  std::vector<char> buffer(size + (1u << 20));
  std::size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  archive_write_open_memory(a, buffer.data(), buffer.size(), &used);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "figures.txt");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, static_cast<la_int64_t>(text.size()));
  archive_write_header(a, e);
  archive_write_data(a, text.data(), text.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buffer.data(), used);
}

struct Collected : ContentSink {
  std::size_t text_bytes = 0;
  std::vector<std::string> reasons;
  void text(const std::string&, std::string_view utf8) override { text_bytes += utf8.size(); }
  void uninspectable(const std::string&, std::string_view reason) override {
    reasons.emplace_back(reason);
  }
  bool said(std::string_view what) const {
    for (const auto& r : reasons)
      if (r.find(what) != std::string::npos) return true;
    return false;
  }
};

TEST(InspectionMemory, AnEntryPastWhatAMessageMayHoldIsUninspectableNotHeldWhole) {
  const std::string zip = zip_of_hex(12u << 20);
  ASSERT_LT(zip.size(), 10u << 20);
  Limits limits;
  limits.max_held_bytes = 4u << 20;
  Collected sink;
  extract_file(zip, "figures.zip", sink, limits);
  EXPECT_TRUE(sink.said("more than 4194304 bytes held in memory at once"))
      << (sink.reasons.empty() ? "no reason" : sink.reasons.front());
  EXPECT_LT(sink.text_bytes, 4u << 20);
  EXPECT_EQ(bytes_held_now(), 0u) << "given back";
  Collected whole;
  extract_file(zip, "figures.zip", whole);  // the defaults hold it
  EXPECT_TRUE(whole.reasons.empty()) << whole.reasons.front();
  EXPECT_GE(whole.text_bytes, 12u << 20);
}

TEST(InspectionMemory, TheProcessBudgetIsHonouredAndGivenBack) {
  const std::string zip = zip_of_hex(2u << 20);
  Limits limits;
  limits.max_total_held_bytes = 1u << 20;  // less than the entry: it can never fit
  limits.time_budget = std::chrono::milliseconds(500);
  Collected sink;
  extract_file(zip, "figures.zip", sink, limits);
  EXPECT_TRUE(sink.said("inspection memory"))
      << (sink.reasons.empty() ? "no reason" : sink.reasons.front());
  EXPECT_EQ(bytes_held_now(), 0u);
}

}  // namespace
}  // namespace seegw::extract
