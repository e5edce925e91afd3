#include "seegw/scan/matcher.hpp"

#include <fmt/format.h>
#include <hs/hs.h>

#include <algorithm>

namespace seegw::scan {
namespace {

// TRG-1. Brackets: any of [ ] { } on either side, matching or not. Inside the brackets, any
// white space (also a non-breaking space, U+00A0). Between IN and CONFIDENCE: any run of white
// space (a folded header line is white space after unfolding), hyphens or en dashes. Case is
// ignored. This over-matches on purpose (e.g. "]RESTRICTED["): a false hit holds a message back,
// a miss leaks it.
constexpr const char* kSpace = R"((?:\s|\xC2\xA0))";
constexpr const char* kBracket = R"([\[\]{}])";

std::vector<std::string> build_patterns() {
  auto wrap = [](const std::string& word) {
    return fmt::format("{0}{1}*{2}{1}*{0}", kBracket, kSpace, word);
  };
  return {
      wrap("SEEMAIL"),
      wrap(fmt::format(R"(IN(?:\s|\xC2\xA0|-|\xE2\x80\x90|\xE2\x80\x91|\xE2\x80\x93)+CONFIDENCE)")),
      wrap("SENSITIVE"), wrap("RESTRICTED")};
}

// One scratch per thread, grown for every database it meets; freed at thread exit.
struct ThreadScratch {
  hs_scratch_t* scratch = nullptr;
  ~ThreadScratch() {
    if (scratch) hs_free_scratch(scratch);
  }
};
thread_local ThreadScratch t_scratch;

struct Collector {
  std::vector<Match>* out;
  std::size_t first;
};

int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int,
             void* context) {
  auto* c = static_cast<Collector*>(context);
  c->out->push_back(Match{static_cast<Trigger>(id), static_cast<std::size_t>(from),
                          static_cast<std::size_t>(to)});
  return 0;
}

}  // namespace

const std::vector<std::string>& Matcher::patterns() {
  static const std::vector<std::string> p = build_patterns();
  return p;
}

Result<std::shared_ptr<const Matcher>> Matcher::create() {
  const auto& pats = patterns();
  std::vector<const char*> exprs;
  std::vector<unsigned> flags, ids;
  for (unsigned i = 0; i < pats.size(); ++i) {
    exprs.push_back(pats[i].c_str());
    flags.push_back(HS_FLAG_CASELESS | HS_FLAG_SOM_LEFTMOST);
    ids.push_back(i);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()),
                       HS_MODE_BLOCK, nullptr, &db, &err) != HS_SUCCESS) {
    std::string message = err && err->message ? err->message : "unknown";
    hs_free_compile_error(err);
    return fail(Errc::config, "trigger patterns do not compile: " + message);
  }
  std::shared_ptr<Matcher> m(new Matcher());
  m->db_ = db;
  return m;
}

Matcher::~Matcher() {
  if (db_) hs_free_database(static_cast<hs_database_t*>(db_));
}

Result<void> Matcher::scan(std::string_view text, std::vector<Match>& out) const {
  auto* db = static_cast<hs_database_t*>(db_);
  if (hs_alloc_scratch(db, &t_scratch.scratch) != HS_SUCCESS)
    return fail(Errc::unavailable, "cannot allocate Hyperscan scratch space");
  const std::size_t first = out.size();
  Collector c{&out, first};
  // Hyperscan takes at most 4 GiB per call; split with an overlap longer than any match.
  constexpr std::size_t kChunk = std::size_t{1} << 31;
  constexpr std::size_t kOverlap = 4096;
  std::size_t base = 0;
  while (true) {
    std::size_t len = std::min(kChunk, text.size() - base);
    std::size_t before = out.size();
    if (hs_scan(db, text.data() + base, static_cast<unsigned>(len), 0, t_scratch.scratch, on_match,
                &c) != HS_SUCCESS)
      return fail(Errc::unavailable, "Hyperscan scan failed");
    for (std::size_t i = before; i < out.size(); ++i) {
      out[i].start += base;
      out[i].end += base;
    }
    if (base + len >= text.size()) break;
    base += len - kOverlap;
  }
  // A trigger followed by several closing brackets reports one end per bracket: keep the first.
  std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
            [](const Match& a, const Match& b) {
              return a.start != b.start       ? a.start < b.start
                     : a.trigger != b.trigger ? a.trigger < b.trigger
                                              : a.end < b.end;
            });
  out.erase(std::unique(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                        [](const Match& a, const Match& b) {
                          return a.start == b.start && a.trigger == b.trigger;
                        }),
            out.end());
  return {};
}

}  // namespace seegw::scan
