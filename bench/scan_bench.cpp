// bench/scan: throughput of the trigger scanner, beside its ceilings measured in the same run:
// raw Hyperscan over the same logical bytes with the same database, and memchr bandwidth.
#include <benchmark/benchmark.h>
#include <hs/hs.h>

#include <cstring>
#include <random>
#include <string>

#include "seegw/mime/codec.hpp"
#include "seegw/scan/inspector.hpp"

namespace {

// Words of ordinary office prose; the trigger words' own words now and then (1 in 1,000) and a
// bracketed trigger rarely (1 in 100,000), like real mail.
std::string logical_text(std::size_t bytes) {
  static const char* words[] = {"the",    "budget",    "minister", "report", "agency",  "shall",
                                "review", "quarterly", "policy",   "draft",  "meeting", "notes",
                                "of",     "and",       "to",       "in",     "for",     "[data]",
                                "{x}",    "mail",      "gateway",  "2026"};
  static const char* rare[] = {"confidence", "restricted", "sensitive", "seemail"};
  std::mt19937 rng(42);
  std::string out;
  out.reserve(bytes + 64);
  std::size_t line = 0;
  while (out.size() < bytes) {
    const char* w = words[rng() % (sizeof words / sizeof *words)];
    if (rng() % 1000 == 0) w = rare[rng() % 4];
    if (rng() % 100000 == 0) w = "[RESTRICTED]";
    out += w;
    line += std::strlen(w) + 1;
    if (line > 70) {
      out += "\r\n";
      line = 0;
    } else {
      out += ' ';
    }
  }
  return out;
}

constexpr std::size_t kTextBytes = 16u << 20;

const std::string& text() {
  static const std::string t = logical_text(kTextBytes);
  return t;
}

const std::string& message() {
  static const std::string m =
      "From: a@agency-a.govt.nz\r\nSubject: minutes\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
      "See the attached notes.\r\n--b\r\nContent-Type: text/plain; charset=utf-8; "
      "name=notes.txt\r\n"
      "Content-Disposition: attachment; filename=notes.txt\r\nContent-Transfer-Encoding: "
      "base64\r\n\r\n" +
      seegw::mime::encode_base64(text()) + "\r\n--b--\r\n";
  return m;
}

const seegw::scan::Matcher& matcher() {
  static auto m = seegw::scan::Matcher::create();
  return **m;
}

void BM_FullPathBase64TextAttachment(benchmark::State& state) {
  const auto& m = message();
  for (auto _ : state) {
    auto report = seegw::scan::inspect_message(m, matcher());
    benchmark::DoNotOptimize(report);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * m.size()));
}

void BM_Matcher(benchmark::State& state) {
  std::vector<seegw::scan::Match> out;
  for (auto _ : state) {
    out.clear();
    (void)matcher().scan(text(), out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text().size()));
}

int count_match(unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
  ++*static_cast<std::size_t*>(ctx);
  return 0;
}

void BM_RawHyperscan(benchmark::State& state) {
  auto* db = static_cast<const hs_database_t*>(matcher().database());
  hs_scratch_t* scratch = nullptr;
  hs_alloc_scratch(db, &scratch);
  for (auto _ : state) {
    std::size_t n = 0;
    hs_scan(db, text().data(), static_cast<unsigned>(text().size()), 0, scratch, count_match, &n);
    benchmark::DoNotOptimize(n);
  }
  hs_free_scratch(scratch);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text().size()));
}

void BM_Memchr(benchmark::State& state) {
  for (auto _ : state) {
    const void* p = std::memchr(text().data(), '\x01', text().size());
    benchmark::DoNotOptimize(p);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text().size()));
}

void BM_Base64Decode(benchmark::State& state) {
  static const std::string encoded = seegw::mime::encode_base64(text());
  for (auto _ : state) {
    auto d = seegw::mime::decode_base64(encoded);
    benchmark::DoNotOptimize(d.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * encoded.size()));
}

BENCHMARK(BM_FullPathBase64TextAttachment)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_Matcher)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_RawHyperscan)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_Memchr)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_Base64Decode)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
