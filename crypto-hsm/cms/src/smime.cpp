#include "seegw/cms/smime.hpp"

#include "seegw/common/text.hpp"
#include "seegw/mime/codec.hpp"
#include "seegw/mime/header_fields.hpp"

#include <fmt/format.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <unistd.h>
#include <algorithm>

#include <atomic>
#include <iterator>
#include <memory>

namespace seegw::cms {
namespace {

using x509::Bio;
using x509::CertificateStack;
using x509::memory_bio;

struct CmsFree {
  void operator()(CMS_ContentInfo* c) const { CMS_ContentInfo_free(c); }
};
using Cms = std::unique_ptr<CMS_ContentInfo, CmsFree>;

constexpr int kMaxLayers = 6;

std::string openssl_error(std::string_view what) {
  std::string out(what);
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += "; ";
    out += buf;
  }
  return out;
}

std::string bio_string(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

const EVP_CIPHER* evp_cipher(Cipher c) {
  switch (c) {
    case Cipher::aes256_gcm:
      return EVP_aes_256_gcm();
    case Cipher::aes256_cbc:
      return EVP_aes_256_cbc();
    case Cipher::aes192_cbc:
      return EVP_aes_192_cbc();
    case Cipher::aes128_gcm:
      return EVP_aes_128_gcm();
    case Cipher::aes128_cbc:
      return EVP_aes_128_cbc();
    case Cipher::des3_cbc:
      return EVP_des_ede3_cbc();
  }
  return EVP_aes_256_cbc();
}

int cipher_nid(Cipher c) { return EVP_CIPHER_get_nid(evp_cipher(c)); }

// Encoded straight into the string (sized by a first pass): a memory BIO grows by copying and
// clears what it frees, which cost more than the encoding on every secure message.
std::string der_of(CMS_ContentInfo* cms) {
  const int n = i2d_CMS_ContentInfo(cms, nullptr);
  if (n <= 0) return {};
  std::string out(static_cast<std::size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  i2d_CMS_ContentInfo(cms, &p);
  return out;
}

// An application/pkcs7-mime entity appended to `out`, its base64 written in place.
void append_p7m_entity(std::string& out, std::string_view smime_type, std::string_view der) {
  fmt::format_to(std::back_inserter(out),
                 "Content-Type: application/pkcs7-mime; smime-type={}; name=\"smime.p7m\"\r\n"
                 "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n",
                 smime_type);
  mime::append_base64(out, der);
}

// Room for a base64 body of `der` and `extra` bytes of headers.
std::size_t base64_size(std::size_t der, std::size_t extra) {
  return extra + (der + 2) / 3 * 4 * 78 / 76 + 4;
}

// Headers of an RFC 5322 message split into (content headers, other headers), and the body.
struct Split {
  std::string outer;  // every header except MIME-Version and Content-*
  std::string content_headers;
  std::string body;
};

Split split_message(std::string_view m) {
  Split s;
  const auto section = mime::header_fields(m);
  for (const auto& f : section.fields) {
    const std::string name = ascii_lower(f.name);
    const bool content = f.has_colon && (name.starts_with("content-") || name == "mime-version");
    (content ? s.content_headers : s.outer).append(m.substr(f.begin, f.end - f.begin));
  }
  s.body = std::string(m.substr(std::min(section.body, m.size())));
  return s;
}

// DER of an ESSSecurityLabel: SET { policy OID, classification INTEGER, privacy mark UTF8String }.
std::string label_der(const SecurityLabel& l) {
  auto tlv = [](unsigned char tag, const std::string& v) {
    std::string out(1, static_cast<char>(tag));
    if (v.size() < 128) {
      out.push_back(static_cast<char>(v.size()));
    } else {
      out.push_back(static_cast<char>(0x82));
      out.push_back(static_cast<char>(v.size() >> 8));
      out.push_back(static_cast<char>(v.size() & 0xff));
    }
    return out + v;
  };
  std::unique_ptr<ASN1_OBJECT, decltype(&ASN1_OBJECT_free)> oid(
      OBJ_txt2obj(l.policy_oid.c_str(), 1), ASN1_OBJECT_free);
  std::string body;
  if (oid) {
    int n = i2d_ASN1_OBJECT(oid.get(), nullptr);
    std::string d(static_cast<std::size_t>(n), '\0');
    auto* p = reinterpret_cast<unsigned char*>(d.data());
    i2d_ASN1_OBJECT(oid.get(), &p);
    body += d;
  }
  body += tlv(0x02, std::string(1, static_cast<char>(l.classification & 0x7f)));
  if (!l.privacy_mark.empty()) body += tlv(0x0C, l.privacy_mark);
  return tlv(0x31, body);
}

std::optional<SecurityLabel> parse_label(CMS_SignerInfo* si) {
  int idx = CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_securityLabel, -1);
  if (idx < 0) return std::nullopt;
  X509_ATTRIBUTE* attr = CMS_signed_get_attr(si, idx);
  ASN1_TYPE* t = X509_ATTRIBUTE_get0_type(attr, 0);
  if (!t || t->type != V_ASN1_SET) return std::nullopt;
  std::string der(reinterpret_cast<const char*>(t->value.set->data),
                  static_cast<std::size_t>(t->value.set->length));
  SecurityLabel l;
  // Walk the SET's members: OID, INTEGER, UTF8String (short lengths; anything else is ignored).
  std::size_t i = 2;
  while (i + 2 <= der.size()) {
    unsigned char tag = static_cast<unsigned char>(der[i]);
    std::size_t len = static_cast<unsigned char>(der[i + 1]);
    std::size_t start = i + 2;
    if (len & 0x80) break;
    if (start + len > der.size()) break;
    if (tag == 0x06) {
      const auto* p = reinterpret_cast<const unsigned char*>(der.data() + i);
      if (ASN1_OBJECT* o = d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(len + 2))) {
        char buf[128];
        OBJ_obj2txt(buf, sizeof buf, o, 1);
        l.policy_oid = buf;
        ASN1_OBJECT_free(o);
      }
    } else if (tag == 0x02 && len >= 1) {
      l.classification = static_cast<unsigned char>(der[start]);
    } else if (tag == 0x0C || tag == 0x13) {
      l.privacy_mark = der.substr(start, len);
    }
    i = start + len;
  }
  return l;
}

std::vector<std::string> capabilities_of(CMS_SignerInfo* si) {
  std::vector<std::string> out;
  STACK_OF(X509_ALGOR)* algs = nullptr;
  int idx = CMS_signed_get_attr_by_NID(si, NID_SMIMECapabilities, -1);
  if (idx < 0) return out;
  ASN1_TYPE* t = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, idx), 0);
  if (!t || t->type != V_ASN1_SEQUENCE) return out;
  const unsigned char* p = t->value.sequence->data;
  algs = d2i_X509_ALGORS(nullptr, &p, t->value.sequence->length);
  for (int i = 0; algs && i < sk_X509_ALGOR_num(algs); ++i) {
    const ASN1_OBJECT* obj = nullptr;
    X509_ALGOR_get0(&obj, nullptr, nullptr, sk_X509_ALGOR_value(algs, i));
    char buf[128];
    OBJ_obj2txt(buf, sizeof buf, obj, 1);
    out.emplace_back(buf);
  }
  sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
  return out;
}

// "Content-Type: message/rfc822" wrapper (RFC 5751 §3.1 header protection) → the message inside.
std::optional<std::string> unwrap_rfc822(std::string_view entity) {
  Split s = split_message(entity);
  const std::string ct = ascii_lower(s.content_headers);
  if (ct.find("content-type:") != std::string::npos &&
      ct.find("message/rfc822") != std::string::npos && s.outer.empty())
    return s.body;
  return std::nullopt;
}

}  // namespace

std::string_view cipher_name(Cipher c) {
  switch (c) {
    case Cipher::aes256_gcm:
      return "AES-256-GCM";
    case Cipher::aes256_cbc:
      return "AES-256-CBC";
    case Cipher::aes192_cbc:
      return "AES-192-CBC";
    case Cipher::aes128_gcm:
      return "AES-128-GCM";
    case Cipher::aes128_cbc:
      return "AES-128-CBC";
    case Cipher::des3_cbc:
      return "DES-EDE3-CBC";
  }
  return "?";
}

std::optional<Cipher> cipher_from_oid(std::string_view oid) {
  for (Cipher c : {Cipher::aes256_gcm, Cipher::aes256_cbc, Cipher::aes192_cbc, Cipher::aes128_gcm,
                   Cipher::aes128_cbc, Cipher::des3_cbc}) {
    char buf[64];
    OBJ_obj2txt(buf, sizeof buf, OBJ_nid2obj(cipher_nid(c)), 1);
    if (oid == buf) return c;
  }
  return std::nullopt;
}

std::optional<Cipher> cipher_from_name(std::string_view name) {
  static constexpr std::pair<std::string_view, Cipher> kNames[] = {
      {"aes256-gcm", Cipher::aes256_gcm}, {"aes256-cbc", Cipher::aes256_cbc},
      {"aes192-cbc", Cipher::aes192_cbc}, {"aes128-gcm", Cipher::aes128_gcm},
      {"aes128-cbc", Cipher::aes128_cbc}, {"des3", Cipher::des3_cbc}};
  for (const auto& [n, c] : kNames)
    if (iequals(n, name)) return c;
  return std::nullopt;
}

namespace {

struct DigestRow {
  Digest digest;
  std::string_view name;           // OpenSSL's
  std::string_view oid;            // the digest algorithm
  std::string_view rsa_signature;  // shaNWithRSAEncryption
};
constexpr DigestRow kDigests[] = {
    {Digest::sha256, "SHA256", "2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.11"},
    {Digest::sha384, "SHA384", "2.16.840.1.101.3.4.2.2", "1.2.840.113549.1.1.12"},
    {Digest::sha512, "SHA512", "2.16.840.1.101.3.4.2.3", "1.2.840.113549.1.1.13"},
    {Digest::sha1, "SHA1", "1.3.14.3.2.26", "1.2.840.113549.1.1.5"},
};
const DigestRow& row_of(Digest d) {
  for (const auto& r : kDigests)
    if (r.digest == d) return r;
  return kDigests[0];
}

}  // namespace

std::string_view digest_name(Digest d) { return row_of(d).name; }

std::optional<Digest> digest_from_name(std::string_view name) {
  std::string n;
  for (char c : name)
    if (c != '-') n.push_back(c);
  for (const auto& r : kDigests)
    if (iequals(r.name, n)) return r.digest;
  return std::nullopt;
}

Digest choose_digest(const std::vector<std::string>& peer, const std::vector<Digest>& approved) {
  auto named = [&](Digest d) {
    const auto& r = row_of(d);
    return std::any_of(peer.begin(), peer.end(), [&](const std::string& oid) {
      return oid == r.oid || oid == r.rsa_signature;
    });
  };
  for (Digest d : approved)
    if (named(d)) return d;
  for (Digest d : approved)
    if (d != Digest::sha1) return d;
  return approved.empty() ? Digest::sha256 : approved.front();
}

Cipher choose_cipher(const std::vector<std::string>& peer, const std::vector<Cipher>& approved) {
  for (Cipher c : approved)  // approved is in our preference order, best first
    for (const auto& oid : peer)
      if (cipher_from_oid(oid) == c) return c;
  return Cipher::des3_cbc;
}

// The outer header section: the original's fields that `keep` admits, unfolded lines and all,
// then the replacement Subject when there is one.
template <class Keep>
std::string visible_headers(std::string_view outer, const std::optional<std::string>& subject,
                            Keep keep) {
  std::string out = mime::kept_headers(outer, [&](std::string_view name) {
    return !(subject && iequals(name, "subject")) && keep(name);
  });
  if (subject) out += "Subject: " + *subject + "\r\n";
  return out;
}

bool transport_field(std::string_view name) {
  return std::any_of(std::begin(kOuterHeaderFields), std::end(kOuterHeaderFields),
                     [&](std::string_view f) { return iequals(f, name); });
}

// The domain signature (OUT-7): signer certificate and chain, SMIMECapabilities, the security
// label when asked; opaque (content inside) or detached.
Result<Cms> make_signed(std::string_view content, const Signer& signer,
                        const Protection& protection, bool detached) {
  if (!signer.key || !signer.certificate)
    return fail(Errc::config, "no signing key or certificate");
  const EVP_MD* md = EVP_get_digestbyname(protection.digest.c_str());
  if (!md) return fail(Errc::config, "unknown digest " + protection.digest);
  // OUT-7: the chain goes in with the signer certificate, so the peer can build the path.
  CertificateStack chain(sk_X509_new_null());
  for (X509* c : signer.chain) sk_X509_push(chain.get(), c);
  const unsigned flags = CMS_BINARY | CMS_PARTIAL | (detached ? CMS_DETACHED : 0);
  Cms signed_data(CMS_sign(nullptr, nullptr, chain.get(), nullptr, flags));
  if (!signed_data) return fail(Errc::tls, openssl_error("CMS_sign"));
  CMS_SignerInfo* si = CMS_add1_signer(signed_data.get(), signer.certificate, signer.key, md,
                                       flags | CMS_NOSMIMECAP);
  if (!si) return fail(Errc::unavailable, openssl_error("the HSM key could not sign"));
  STACK_OF(X509_ALGOR)* caps = sk_X509_ALGOR_new_null();
  for (Cipher c : protection.advertised) {
    int bits = -1;
    PKCS7_simple_smimecap(caps, cipher_nid(c), bits);
  }
  for (Digest d : protection.advertised_digests)
    PKCS7_simple_smimecap(caps, OBJ_txt2nid(std::string(row_of(d).oid).c_str()), -1);
  CMS_add_smimecap(si, caps);
  sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
  if (protection.label) {
    std::string der = label_der(*protection.label);
    if (!CMS_signed_add1_attr_by_NID(si, NID_id_smime_aa_securityLabel, V_ASN1_SET, der.data(),
                                     static_cast<int>(der.size())))
      return fail(Errc::tls, openssl_error("security label"));
  }
  Bio in = memory_bio(content);
  if (!CMS_final(signed_data.get(), in.get(), nullptr, flags))
    return fail(Errc::unavailable, openssl_error("signing failed (HSM?)"));
  return signed_data;
}

std::string micalg(std::string_view digest) {
  std::string d = ascii_lower(digest);
  if (d.starts_with("sha") && d.size() > 3 && d[3] != '-') d.insert(3, "-");
  return d;  // RFC 5751 §3.4.3.2: sha-1, sha-256, ...
}

Result<std::string> sign(std::string_view message, const Signer& signer,
                         const Protection& protection) {
  Split original = split_message(message);
  // The signed entity is the message's own content: its Content-* fields (or the RFC 2045
  // default) and its body, exactly as they will be on the wire.
  std::string entity;
  {
    std::string fields;
    std::size_t pos = 0;
    const std::string& c = original.content_headers;
    while (pos < c.size()) {
      std::size_t nl = c.find('\n', pos);
      std::size_t end = nl == std::string::npos ? c.size() : nl + 1;
      std::string_view line(c.data() + pos, end - pos);
      if (!ascii_lower(line.substr(0, 13)).starts_with("mime-version:")) fields.append(line);
      pos = end;
    }
    if (fields.empty()) fields = "Content-Type: text/plain; charset=us-ascii\r\n";
    entity = fields + "\r\n" + original.body;
  }
  auto signed_data = make_signed(entity, signer, protection, true);
  if (!signed_data) return std::unexpected(signed_data.error());
  static std::atomic<std::uint64_t> serial{0};
  const std::string boundary = fmt::format("=_seegw_signed_{}_{}", ::getpid(), serial.fetch_add(1));
  std::string out = visible_headers(original.outer, protection.outer_subject,
                                    [](std::string_view) { return true; });
  out += "MIME-Version: 1.0\r\n";
  out += fmt::format(
      "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
      "micalg={}; boundary=\"{}\"\r\n\r\n",
      micalg(protection.digest), boundary);
  out += "This is an S/MIME signed message.\r\n";
  out += fmt::format("--{}\r\n", boundary);
  out += entity;
  out += fmt::format("\r\n--{}\r\n", boundary);
  out +=
      "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n";
  const std::string der = der_of(signed_data->get());
  out.reserve(base64_size(der.size(), out.size() + boundary.size() + 8));
  mime::append_base64(out, der);
  out += fmt::format("\r\n--{}--\r\n", boundary);
  return out;
}

Result<std::string> protect(std::string_view message, const Signer& signer,
                            const std::vector<X509*>& recipients, const Protection& protection) {
  if (recipients.empty()) return fail(Errc::config, "no recipient certificate");
  Split original = split_message(message);

  // 1. The domain signature over the whole message, carried as message/rfc822 (opaque signed).
  constexpr std::string_view kRfc822 = "Content-Type: message/rfc822\r\n\r\n";
  std::string inner;
  inner.reserve(kRfc822.size() + message.size());
  inner.append(kRfc822).append(message);
  auto signed_data = make_signed(inner, signer, protection, false);
  if (!signed_data) return std::unexpected(signed_data.error());
  std::string signed_entity;
  {
    const std::string der = der_of(signed_data->get());
    signed_entity.reserve(base64_size(der.size(), 200));
    append_p7m_entity(signed_entity, "signed-data", der);
  }

  // 2. Enveloped to every recipient domain certificate.
  const bool gcm =
      protection.cipher == Cipher::aes256_gcm || protection.cipher == Cipher::aes128_gcm;
  CertificateStack none(sk_X509_new_null());
  Cms env(
      CMS_encrypt(none.get(), nullptr, evp_cipher(protection.cipher), CMS_BINARY | CMS_PARTIAL));
  if (!env) return fail(Errc::tls, openssl_error("CMS_encrypt"));
  for (X509* r : recipients) {
    CMS_RecipientInfo* ri =
        CMS_add1_recipient_cert(env.get(), r, protection.rsa_oaep ? CMS_KEY_PARAM : 0);
    if (!ri) return fail(Errc::tls, openssl_error("recipient certificate unusable"));
    if (protection.rsa_oaep) {
      EVP_PKEY_CTX* pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
      if (!pctx || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
          EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0)
        return fail(Errc::tls, openssl_error("RSAES-OAEP"));
    }
  }
  Bio plain = memory_bio(signed_entity);
  if (!CMS_final(env.get(), plain.get(), nullptr, CMS_BINARY))
    return fail(Errc::tls, openssl_error("encryption"));

  // 3. The outer message: the transport fields of the original (OUT-9), a neutral Subject, then
  // the enveloped entity.
  std::string out = visible_headers(
      original.outer, protection.outer_subject.value_or(std::string(kDefaultOuterSubject)),
      transport_field);
  const std::string der = der_of(env.get());
  out.reserve(base64_size(der.size(), out.size() + 250));
  out += "MIME-Version: 1.0\r\n";
  append_p7m_entity(out, gcm ? "authEnveloped-data" : "enveloped-data", der);
  return out;
}

namespace {

// Is one of the envelope's recipients our certificate? (A null certificate matches any.)
bool addressed_to(CMS_ContentInfo* cms, X509* certificate) {
  if (!certificate) return true;
  STACK_OF(CMS_RecipientInfo)* infos = CMS_get0_RecipientInfos(cms);
  for (int i = 0; infos && i < sk_CMS_RecipientInfo_num(infos); ++i) {
    CMS_RecipientInfo* ri = sk_CMS_RecipientInfo_value(infos, i);
    if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS &&
        CMS_RecipientInfo_ktri_cert_cmp(ri, certificate) == 0)
      return true;
    if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_AGREE) {
      STACK_OF(CMS_RecipientEncryptedKey)* keys = CMS_RecipientInfo_kari_get0_reks(ri);
      for (int k = 0; keys && k < sk_CMS_RecipientEncryptedKey_num(keys); ++k)
        if (CMS_RecipientEncryptedKey_cert_cmp(sk_CMS_RecipientEncryptedKey_value(keys, k),
                                               certificate) == 0)
          return true;
    }
  }
  return false;
}

// RFC 3183 §3.1.1, §4.1: a domain signature's signer has exactly that CN.
bool is_domain_authority(X509* cert) {
  X509_NAME* name = X509_get_subject_name(cert);
  const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return false;
  const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  const std::string_view text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                              static_cast<std::size_t>(ASN1_STRING_length(cn)));
  return iequals(text, "domain-signing-authority") ||
         iequals(text, "domain-confidentiality-authority");
}

// The certificate of the first signer, from the message's own certificates or `known`.
X509* signer_of(CMS_ContentInfo* cms, const std::vector<x509::Certificate>& carried,
                const std::vector<X509*>& known) {
  STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms);
  if (!infos || sk_CMS_SignerInfo_num(infos) == 0) return nullptr;
  CMS_SignerInfo* si = sk_CMS_SignerInfo_value(infos, 0);
  for (const auto& c : carried)
    if (CMS_SignerInfo_cert_cmp(si, c.get()) == 0) return c.get();
  for (X509* c : known)
    if (CMS_SignerInfo_cert_cmp(si, c) == 0) return c;
  return nullptr;
}

}  // namespace

Result<Unprotected> unprotect(std::string_view message, EVP_PKEY* key, X509* certificate,
                              const std::vector<X509*>& known) {
  return unprotect(message, std::vector<Decryptor>{{key, certificate}}, known);
}

Result<Unprotected> unprotect(std::string_view message, const std::vector<Decryptor>& keys,
                              const std::vector<X509*>& known) {
  Unprotected out;
  Split top = split_message(message);
  std::string entity(message);
  for (int layer = 0; layer < kMaxLayers; ++layer) {
    Bio in = memory_bio(entity);
    BIO* content = nullptr;
    Cms cms(SMIME_read_CMS(in.get(), &content));
    Bio detached(content);
    if (!cms) {
      ERR_clear_error();
      break;  // not (or no longer) S/MIME: this is the content
    }
    const int type = OBJ_obj2nid(CMS_get0_type(cms.get()));
    Bio result(BIO_new(BIO_s_mem()));
    if (type == NID_pkcs7_enveloped || type == NID_id_smime_ct_authEnvelopedData) {
      // An envelope for someone else (a user's own S/MIME) is not ours to open: it stays. One
      // for any of our key pairs, current or earlier, is opened with that pair.
      const auto ours = std::find_if(keys.begin(), keys.end(), [&](const Decryptor& d) {
        return addressed_to(cms.get(), d.certificate);
      });
      if (ours == keys.end()) break;
      if (!ours->key) return fail(Errc::config, "encrypted to our key and no decryption key");
      if (!CMS_decrypt(cms.get(), ours->key, ours->certificate, nullptr, result.get(), CMS_BINARY))
        return fail(Errc::corrupt,
                    openssl_error("encrypted to this gateway's key but it cannot be decrypted"));
      out.was_encrypted = true;
    } else if (type == NID_pkcs7_signed) {
      std::vector<x509::Certificate> carried;
      if (STACK_OF(X509)* certs = CMS_get1_certs(cms.get())) {
        for (int i = 0; i < sk_X509_num(certs); ++i)
          carried.push_back(x509::share(sk_X509_value(certs, i)));
        sk_X509_pop_free(certs, X509_free);
      }
      // An individual's signature is theirs, not the domain's: it stays byte for byte and is
      // not judged as the domain signer. (A signer we cannot find is judged: fail closed.)
      if (X509* s = signer_of(cms.get(), carried, known); s && !is_domain_authority(s)) break;
      for (auto& c : carried) out.certificates.push_back(std::move(c));
      CertificateStack extra(sk_X509_new_null());
      for (X509* c : known) sk_X509_push(extra.get(), c);
      x509::TrustStore store(X509_STORE_new());
      // The signature is checked here; the certificate's state (chain, dates, CRL, naming) is
      // judged separately by x509::validate so that IN-2's warnings can say exactly what is wrong.
      const unsigned flags = CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY;
      out.was_signed = true;
      // Detached content is handed to OpenSSL behind a buffering filter: given a memory BIO
      // directly, OpenSSL 3.0's CMS_verify copies it and leaks the copy when verification fails
      // with CMS_BINARY (found by fuzzing; a hostile peer could grow our memory one message at a
      // time).
      const std::string detached_bytes = detached ? bio_string(detached.get()) : std::string();
      Bio content_in;
      if (detached) content_in.reset(BIO_push(BIO_new(BIO_f_buffer()), detached.release()));
      out.signature_valid = CMS_verify(cms.get(), extra.get(), store.get(), content_in.get(),
                                       result.get(), flags) == 1;
      if (!out.signature_valid) {
        ERR_clear_error();
        // Still hand back the content: the caller decides (a HARD warning, never a silent drop).
        BIO_reset(result.get());
        if (content_in) {
          BIO_write(result.get(), detached_bytes.data(), static_cast<int>(detached_bytes.size()));
        } else if (ASN1_OCTET_STRING** c = CMS_get0_content(cms.get()); c && *c) {
          BIO_write(result.get(), (*c)->data, (*c)->length);
        }
      }
      // Despite its name, CMS_get0_signers allocates the stack (not the certificates in it).
      if (STACK_OF(X509)* signers = CMS_get0_signers(cms.get())) {
        if (sk_X509_num(signers) > 0) out.signer = x509::share(sk_X509_value(signers, 0));
        sk_X509_free(signers);
      }
      STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms.get());
      if (infos && sk_CMS_SignerInfo_num(infos) > 0) {
        CMS_SignerInfo* si = sk_CMS_SignerInfo_value(infos, 0);
        out.capabilities = capabilities_of(si);
        out.label = parse_label(si);
        if (!out.signer) {
          for (auto& c : out.certificates)
            if (CMS_SignerInfo_cert_cmp(si, c.get()) == 0) out.signer = x509::share(c.get());
          for (X509* c : known)
            if (!out.signer && CMS_SignerInfo_cert_cmp(si, c) == 0) out.signer = x509::share(c);
        }
      }
    } else {
      return fail(Errc::parse, fmt::format("unsupported CMS content type {}", OBJ_nid2sn(type)));
    }
    entity = bio_string(result.get());
  }
  if (!out.was_encrypted && !out.was_signed) {  // no layer of ours: delivered as it came
    out.message = std::string(message);
    return out;
  }
  // Strip the domain layer: the signed content is the original message wrapped as message/rfc822;
  // otherwise (an individual's S/MIME) the decrypted entity goes under the outer headers.
  if (auto inner = unwrap_rfc822(entity)) {
    out.message = std::move(*inner);
  } else if (!split_message(entity).outer.empty()) {
    out.message = entity;  // a whole message was signed (e.g. by a client or openssl cms)
  } else {
    std::string e = entity;
    out.message = top.outer +
                  (e.find("MIME-Version:") == std::string::npos ? "MIME-Version: 1.0\r\n" : "") + e;
  }
  return out;
}

}  // namespace seegw::cms
