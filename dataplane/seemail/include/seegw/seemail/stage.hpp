// The SEEMail stage of the per-message pipeline, between scan and route: gathers the facts
// (direction, classification, the signature and its certificate), asks the pure policy, and
// carries out its plan — signs and encrypts per receiving domain with the HSM key, decrypts and
// verifies inbound mail and strips the domain layer, inserts warnings, answers seemail-ping and
// certificate requests, learns certificates and capabilities, and writes the notices (rate-
// limited). Thread-safe: many messages are processed at once on the TBB pool.
#pragma once

#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "seegw/cms/smime.hpp"
#include "seegw/keys/key_service.hpp"
#include "seegw/policy/notice_limiter.hpp"
#include "seegw/scan/matcher.hpp"
#include "seegw/seemail/internal_messages.hpp"
#include "seegw/seemail/trust_state.hpp"
#include "seegw/spool/spool_record.hpp"

namespace seegw::seemail {

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

// What becomes of one recipient: one value, whatever decided it (the policy, the store, the HSM).
enum class Disposition {
  deliver,               // content below goes to the recipient's route
  hold,                  // into the hold queue with `reason` until the administrator acts (OUT-8)
  hold_for_certificate,  // held until the recipient's domain has a usable certificate (OUT-5, §2.8)
  blocked,               // not delivered by a data-loss rule (OUT-2, OUT-3); the sender was warned
  answered,              // consumed by the gateway: a ping or certificate request (answered or not)
  defer,  // a temporary failure (HSM down): the queue retries, nothing leaves meanwhile
};
inline bool is_hold(Disposition d) {
  return d == Disposition::hold || d == Disposition::hold_for_certificate;
}
std::string_view disposition_name(Disposition d);

struct RecipientPlan {
  Disposition disposition = Disposition::deliver;
  std::shared_ptr<const std::string> content;  // deliver only
  std::string reason;
};

struct Plan {
  std::vector<RecipientPlan> recipients;  // parallel to the record's recipients
  std::vector<GeneratedMessage> generated;
  std::vector<std::string> explanation;  // one line per decision, for the log and `explain`
  scan::ScanReport scan;                 // what the scan found in the message as it arrived
  std::string classification;            // the level the policy judged
  // §2.8 "auto-discover": domains whose certificate some recipient waits for, to be looked up now.
  std::vector<std::string> certificates_wanted;
  bool certificate_learnt = false;  // a new certificate is in use from the next reload (IN-4)
};

class Stage {
 public:
  Stage(Settings settings, const scan::Matcher& matcher, keys::KeyRing& keys);

  // The whole stage for one message: the scan (TRG-1..4; again after decryption, IN-6), the
  // policy's decision, and its plan carried out — one disposition per recipient.
  Plan run(const spool::SpoolRecord& record, const TrustState& trust, std::time_t now);
  // OPS-2: summaries of the notices held back in windows that have ended.
  std::vector<GeneratedMessage> due_summaries(std::time_t now);
  // DIR-2 fallback (004 1.1.13): the signed request for `domain`'s certificate, from and to
  // domain-certificate-request@, whose Subject is the wanted address. Errc::unavailable while the
  // HSM cannot sign, Errc::config without one.
  Result<GeneratedMessage> certificate_request(const std::string& domain, std::time_t now);

 private:
  Plan outbound(const spool::SpoolRecord& record, const scan::ScanReport& scan,
                const TrustState& trust, std::time_t now);
  Plan inbound(const spool::SpoolRecord& record, const scan::ScanReport& scan,
               const TrustState& trust, std::time_t now);
  void clear_sign(const spool::SpoolRecord& record, const std::vector<std::size_t>& clear_signed,
                  Plan& out);
  void secure_per_domain(const spool::SpoolRecord& record,
                         const std::map<std::string, std::vector<std::size_t>>& secure,
                         scan::Classification level, const TrustState& trust, Plan& out);
  // Rate-limited through the limiter; none to postmasters and daemons, none when `about` is one.
  void notify(Plan& out, const policy::Notice& notice, const std::string& to,
              const struct MessageFacts& facts, std::time_t now);
  std::vector<std::string> capabilities_of(const TrustState& trust, const std::string& domain);
  void learn(const TrustState& trust, const cms::Unprotected& u, const std::string& domain,
             Plan& out, const struct MessageFacts& facts, std::time_t now);
  GeneratedMessage ping_answer(const spool::SpoolRecord& record, const std::string& to,
                               const TrustState& trust, std::time_t now);
  void answer_request(const policy::InboundRecipient& decision, const spool::SpoolRecord& record,
                      std::string_view message, const std::optional<cms::Unprotected>& request,
                      const policy::InboundFacts& facts, const TrustState& trust,
                      RecipientPlan& outcome, Plan& out, std::time_t now);
  void secure_answer(GeneratedMessage& answer, const std::optional<cms::Unprotected>& request,
                     const policy::InboundFacts& facts, const TrustState& trust,
                     std::vector<std::string>& explanation);

  Sender sender() const { return {settings_.hostname, settings_.domain}; }

  Settings settings_;
  const scan::Matcher& matcher_;
  keys::KeyRing& keys_;
  std::mutex mutex_;  // guards the two below
  policy::NoticeLimiter limiter_;
  std::map<std::string, std::vector<std::string>> learnt_capabilities_;
};

// Does this message carry S/MIME at its top level (enveloped, signed, or multipart/signed)?
bool is_smime(std::string_view message);

}  // namespace seegw::seemail
