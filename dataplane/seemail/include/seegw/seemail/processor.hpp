// The SEEMail stage of the per-message pipeline, between scan and route: gathers the facts
// (direction, classification, the signature and its certificate), asks the pure policy, and
// carries out its plan — signs and encrypts per receiving domain with the HSM key, decrypts and
// verifies inbound mail and strips the domain layer, inserts warnings, answers seemail-ping and
// certificate requests, learns certificates and capabilities, and writes the notices (rate-
// limited). Thread-safe: many messages are processed at once on the TBB pool.
#pragma once

#include <openssl/evp.h>

#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "seegw/cms/smime.hpp"
#include "seegw/policy/notice_limiter.hpp"
#include "seegw/scan/matcher.hpp"
#include "seegw/seemail/trust_state.hpp"
#include "seegw/spool/spool_record.hpp"

namespace seegw::seemail {

// The gateway's own key (in the HSM) and certificate, valid while `owner` is held.
struct SigningKeys {
  std::shared_ptr<const void> owner;
  EVP_PKEY* key = nullptr;
  X509* certificate = nullptr;
  std::vector<X509*> chain;
  std::vector<cms::Decryptor> earlier;  // earlier key pairs that still decrypt (§2.3)
};
// Errc::unavailable: the HSM is down right now (try later). Errc::config: there is none.
using KeySource = std::function<Result<SigningKeys>()>;
// Is the HSM working right now (one test signature)? Asked only when a decryption failed, to
// tell "not for our key" (deliver with a warning) from "the token just went away" (retry later).
using HsmProbe = std::function<bool()>;

struct Settings {
  std::string hostname;
  std::string domain;  // ours: postmaster@, seemail-ping@, domain-certificate-request@
  std::string software = "seegw";
  std::string version;
  LearntStore learnt;
  std::vector<cms::Cipher> approved = {cms::Cipher::aes256_cbc, cms::Cipher::aes256_gcm,
                                       cms::Cipher::aes192_cbc, cms::Cipher::aes128_cbc,
                                       cms::Cipher::aes128_gcm, cms::Cipher::des3_cbc};
  std::vector<cms::Digest> approved_digests = {cms::Digest::sha256, cms::Digest::sha384,
                                               cms::Digest::sha512, cms::Digest::sha1};
  policy::NoticeLimiter::Limits notice_limits;
};

enum class Disposition {
  deliver,   // content below goes to the recipient's route
  hold,      // into the hold queue with `reason` (OUT-5, OUT-8)
  blocked,   // not delivered by a data-loss rule (OUT-2, OUT-3); the sender was warned
  answered,  // consumed by the gateway: a ping or certificate request (answered or ignored)
  defer,     // a temporary failure (HSM down): the queue retries, nothing leaves meanwhile
};

struct RecipientOutcome {
  Disposition disposition = Disposition::deliver;
  std::shared_ptr<const std::string> content;
  std::string reason;
  // A hold that lasts only until the recipient's domain has a usable certificate (OUT-5, §2.8).
  bool awaits_certificate = false;
};

// A message the gateway itself sends (notice, answer): spooled as if an internal client had
// submitted it with the null reverse-path, so it never causes a bounce loop.
struct GeneratedMessage {
  std::vector<std::string> recipients;
  std::string content;
  std::string what;                 // for the log
  std::string envelope_sender;      // "" (the null reverse-path) for notices and answers
  bool secured_by_gateway = false;  // signed (and encrypted) here: sent as it is
};

struct Outcome {
  std::vector<RecipientOutcome> recipients;  // parallel to the record's recipients
  std::vector<GeneratedMessage> generated;
  std::vector<std::string> explanation;  // one line per decision, for the log and `explain`
  std::string classification;            // the level the policy judged
  // §2.8 "auto-discover": domains whose certificate some recipient waits for, to be looked up now.
  std::vector<std::string> certificates_wanted;
  bool certificate_learnt = false;  // a new certificate is in use from the next reload (IN-4)
};

class Processor {
 public:
  Processor(Settings settings, const scan::Matcher& matcher, KeySource keys, HsmProbe probe);

  Outcome process(const spool::SpoolRecord& record, const scan::ScanReport& scan,
                  const TrustState& trust, std::time_t now);
  // OPS-2: summaries of the notices held back in windows that have ended.
  std::vector<GeneratedMessage> due_summaries(std::time_t now);
  // DIR-2 fallback (004 1.1.13): the signed request for `domain`'s certificate, from and to
  // domain-certificate-request@, whose Subject is the wanted address. Errc::unavailable while the
  // HSM cannot sign, Errc::config without one.
  Result<GeneratedMessage> certificate_request(const std::string& domain, std::time_t now);

 private:
  Outcome outbound(const spool::SpoolRecord& record, const scan::ScanReport& scan,
                   const TrustState& trust, std::time_t now);
  Outcome inbound(const spool::SpoolRecord& record, const scan::ScanReport& scan,
                  const TrustState& trust, std::time_t now);
  void clear_sign(const spool::SpoolRecord& record, const std::vector<std::size_t>& clear_signed,
                  Outcome& out);
  void secure_per_domain(const spool::SpoolRecord& record,
                         const std::map<std::string, std::vector<std::size_t>>& secure,
                         scan::Classification level, const TrustState& trust, Outcome& out);
  // Rate-limited through the limiter; none to postmasters and daemons, none when `about` is one.
  void notify(Outcome& out, const policy::Notice& notice, const std::string& to,
              const struct MessageFacts& facts, std::time_t now);
  std::vector<std::string> capabilities_of(const TrustState& trust, const std::string& domain);
  void learn(const TrustState& trust, const cms::Unprotected& u, const std::string& domain,
             Outcome& out, const struct MessageFacts& facts, std::time_t now);
  GeneratedMessage ping_answer(const spool::SpoolRecord& record, const std::string& to,
                               const TrustState& trust, std::time_t now);
  GeneratedMessage certificate_answer(const std::string& to, const std::string& wanted,
                                      std::time_t now);
  void answer_request(const policy::InboundRecipient& decision, const spool::SpoolRecord& record,
                      std::string_view message, const std::optional<cms::Unprotected>& request,
                      const policy::InboundFacts& facts, const TrustState& trust,
                      RecipientOutcome& outcome, Outcome& out, std::time_t now);
  void secure_answer(GeneratedMessage& answer, const std::optional<cms::Unprotected>& request,
                     const policy::InboundFacts& facts, const TrustState& trust,
                     std::vector<std::string>& explanation);

  Settings settings_;
  const scan::Matcher& matcher_;
  KeySource keys_;
  HsmProbe probe_;
  std::mutex mutex_;  // guards the two below
  policy::NoticeLimiter limiter_;
  std::map<std::string, std::vector<std::string>> learnt_capabilities_;
};

// Does this message carry S/MIME at its top level (enveloped, signed, or multipart/signed)?
bool is_smime(std::string_view message);

}  // namespace seegw::seemail
