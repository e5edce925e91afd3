// DKIM verification with libopendkim; its DNS hooks answer from the gateway's resolver, so a
// key is read through DNSSEC validation and the same forwarders as everything else.
// dkim.h is C99 (_Bool); in C++ that is bool, the same size and ABI.
#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool

#include <fmt/format.h>

#include <cstring>

#include "checks.hpp"
#include "seegw/common/text.hpp"
#include "seegw/mime/header_fields.hpp"

namespace seegw::sender_auth::detail {
namespace {

// One query at a time per thread: libopendkim starts a query and waits for it at once, so
// the reply lives here between the two calls, with nothing to free.
struct PendingReply {
  bool failed = false;
  std::size_t bytes = 0;
  int dnssec = DKIM_DNSSEC_UNKNOWN;
};
thread_local PendingReply t_reply;
thread_local Deadline t_deadline;

int query_start(void* service, int type, unsigned char* query, unsigned char* buf,
                std::size_t buflen, void** handle) {
  t_reply = {};
  *handle = &t_reply;
  if (std::chrono::steady_clock::now() >= t_deadline) {
    t_reply.failed = true;
    return DKIM_DNS_SUCCESS;
  }
  auto answer = static_cast<dns::Resolver*>(service)->query(reinterpret_cast<const char*>(query),
                                                            static_cast<dns::RrType>(type));
  if (!answer || !answer->bogus.empty() || answer->packet.empty() ||
      answer->packet.size() > buflen) {
    t_reply.failed = true;
    return DKIM_DNS_SUCCESS;
  }
  std::memcpy(buf, answer->packet.data(), answer->packet.size());
  t_reply.bytes = answer->packet.size();
  t_reply.dnssec = answer->secure ? DKIM_DNSSEC_SECURE : DKIM_DNSSEC_INSECURE;
  return DKIM_DNS_SUCCESS;
}

int query_wait(void*, void* handle, struct timeval*, std::size_t* bytes, int* error, int* dnssec) {
  const auto* reply = static_cast<PendingReply*>(handle);
  if (error) *error = reply->failed ? EIO : 0;
  if (reply->failed) return DKIM_DNS_ERROR;
  if (bytes) *bytes = reply->bytes;
  if (dnssec) *dnssec = reply->dnssec;
  return DKIM_DNS_SUCCESS;
}

int query_cancel(void*, void*) { return DKIM_DNS_SUCCESS; }
int service_init(void**) { return 0; }
void service_close(void*) {}  // the resolver is the gateway's

std::string text_of(const unsigned char* s) { return s ? reinterpret_cast<const char*>(s) : ""; }

DkimOutcome outcome(DKIM* dkim, DKIM_SIGINFO* sig) {
  DkimOutcome o;
  o.domain = ascii_lower(text_of(dkim_sig_getdomain(sig)));
  o.selector = text_of(dkim_sig_getselector(sig));
  unsigned char b[16] = {};
  std::size_t blen = sizeof b - 1;
  if (dkim_get_sigsubstring(dkim, sig, reinterpret_cast<char*>(b), &blen) == DKIM_STAT_OK)
    o.signature_start =
        std::string(reinterpret_cast<char*>(b),
                    strnlen(reinterpret_cast<char*>(b), std::min<std::size_t>(blen, 8)));
  const int error = dkim_sig_geterror(sig);
  const unsigned flags = dkim_sig_getflags(sig);
  const int body = dkim_sig_getbh(sig);
  if ((flags & DKIM_SIGFLAG_PASSED) && body == DKIM_SIGBH_MATCH) {
    o.result = AuthResult::pass;
    if (dkim_sig_getdnssec(sig) == DKIM_DNSSEC_SECURE) o.reason = "key DNSSEC-validated";
    return o;
  }
  if (error == DKIM_SIGERROR_KEYFAIL || error == DKIM_SIGERROR_MULTIREPLY) {
    o.result = AuthResult::temperror;
    o.reason = "the key could not be fetched";
  } else if (error == DKIM_SIGERROR_BADSIG ||
             (error == DKIM_SIGERROR_OK && (flags & DKIM_SIGFLAG_PROCESSED))) {
    o.result = AuthResult::fail;
    o.reason =
        body == DKIM_SIGBH_MISMATCH ? "body hash did not verify" : "signature did not verify";
  } else {
    o.result = AuthResult::permerror;
    const char* why = dkim_sig_geterrorstr(error);
    o.reason = why ? why : "unusable signature";
  }
  return o;
}

// The header fields one by one (without their final line end), then the body.
DKIM_STAT feed(DKIM* dkim, std::string_view message) {
  const auto section = mime::header_fields(message);
  for (const auto& f : section.fields) {
    if (!f.has_colon) continue;
    std::string field(message.substr(f.begin, f.end - f.begin));
    while (!field.empty() && (field.back() == '\n' || field.back() == '\r')) field.pop_back();
    (void)dkim_header(dkim, reinterpret_cast<unsigned char*>(field.data()), field.size());
  }
  const DKIM_STAT eoh = dkim_eoh(dkim);
  if (eoh == DKIM_STAT_NOSIG) return eoh;
  std::string body(message.substr(std::min(section.body, message.size())));
  (void)dkim_body(dkim, reinterpret_cast<unsigned char*>(body.data()), body.size());
  (void)dkim_eom(dkim, nullptr);
  return eoh;
}

}  // namespace

Result<std::unique_ptr<DkimVerifier>> DkimVerifier::create(dns::Resolver& resolver) {
  DKIM_LIB* lib = dkim_init(nullptr, nullptr);
  if (!lib) return fail(Errc::config, "libopendkim could not start");
  // A DKIM-Signature libopendkim cannot parse is listed too (permerror), not silently dropped.
  unsigned int flags = DKIM_LIBFLAGS_BADSIGHANDLES;
  if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) != DKIM_STAT_OK) {
    dkim_close(lib);
    return fail(Errc::config, "libopendkim: the library flags could not be set");
  }
  dkim_dns_set_init(lib, service_init);
  dkim_dns_set_close(lib, service_close);
  dkim_dns_set_query_service(lib, &resolver);
  dkim_dns_set_query_start(lib, query_start);
  dkim_dns_set_query_waitreply(lib, query_wait);
  dkim_dns_set_query_cancel(lib, query_cancel);
  return std::unique_ptr<DkimVerifier>(new DkimVerifier(lib));
}

DkimVerifier::~DkimVerifier() { dkim_close(lib_); }

std::vector<DkimOutcome> DkimVerifier::verify(std::string_view message, Deadline deadline) {
  t_deadline = deadline;
  DKIM_STAT status = DKIM_STAT_OK;
  std::unique_ptr<DKIM, decltype(&dkim_free)> dkim(
      dkim_verify(lib_, reinterpret_cast<const unsigned char*>("seegw"), nullptr, &status),
      dkim_free);
  if (!dkim) return {{AuthResult::temperror, "", "", "", "libopendkim could not start"}};
  if (feed(dkim.get(), message) == DKIM_STAT_NOSIG) return {};
  DKIM_SIGINFO** sigs = nullptr;
  int count = 0;
  std::vector<DkimOutcome> out;
  if (dkim_getsiglist(dkim.get(), &sigs, &count) == DKIM_STAT_OK)
    for (int i = 0; i < count && i < 16; ++i) out.push_back(outcome(dkim.get(), sigs[i]));
  if (out.empty())  // DKIM-Signature fields libopendkim could not read at all
    out.push_back({AuthResult::permerror, "", "", "", "malformed DKIM-Signature"});
  return out;
}

}  // namespace seegw::sender_auth::detail
