// Raw PKCS#11 (the p11-kit header) for key management: generation with explicit attributes,
// certificate import and destruction. Every return value is checked; the module is closed on
// every path (finalized by its last user in the process: ModuleUsers).
#include <dlfcn.h>
#include <fmt/format.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>

#include "module_users.hpp"
#include "seegw/common/file.hpp"
#include "seegw/pkcs11/hsm.hpp"

namespace seegw::pkcs11 {
namespace {

std::unexpected<Error> ck_fail(std::string_view what, CK_RV rv) {
  return fail(
      rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_DEVICE_REMOVED || rv == CKR_SESSION_HANDLE_INVALID
          ? Errc::unavailable
          : Errc::tls,
      fmt::format("PKCS#11 {} failed: 0x{:x}", what, rv));
}

std::string trimmed_label(const unsigned char* label, std::size_t n) {
  std::string s(reinterpret_cast<const char*>(label), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

CK_DATE ck_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  const std::string text =
      fmt::format("{:04}{:02}{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  CK_DATE d;
  std::memcpy(d.year, text.data(), 4);
  std::memcpy(d.month, text.data() + 4, 2);
  std::memcpy(d.day, text.data() + 6, 2);
  return d;
}

}  // namespace

Result<std::string> read_pin_file(const std::string& path) {
  return read_secret_file(path, "PIN file");
}

Result<KeyType> parse_key_type(std::string_view t) {
  if (t == "rsa:2048") return KeyType::rsa2048;
  if (t == "rsa:3072") return KeyType::rsa3072;
  if (t == "rsa:4096") return KeyType::rsa4096;
  if (t == "ec:P-256" || t == "ec:prime256v1") return KeyType::ec_p256;
  if (t == "ec:P-384" || t == "ec:secp384r1") return KeyType::ec_p384;
  if (t == "ed25519") return KeyType::ed25519;
  return fail(Errc::config,
              fmt::format("unknown key type '{}' (rsa:2048|rsa:3072|rsa:4096|ec:P-256|ec:P-384|"
                          "ed25519)",
                          t));
}

struct TokenSession::Impl {
  void* module = nullptr;
  CK_FUNCTION_LIST_PTR f = nullptr;
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  bool initialized = false;
  std::string module_path;
  bool counted = false;  // in ModuleUsers, from C_Initialize on
  // Private keys found by label for sign(): a search costs SoftHSM2 a pass over every object
  // (decrypting private attributes), more than the signature. Cleared by anything that destroys.
  std::map<std::string, CK_OBJECT_HANDLE, std::less<>> signing_keys;

  ~Impl() {
    // The login and the library state are the process's (the key that signs mail uses them
    // too): only the module's last user logs out and finalizes.
    const bool last = counted && ModuleUsers::leave(module_path);
    if (f && session != CK_INVALID_HANDLE) {
      if (last) f->C_Logout(session);
      f->C_CloseSession(session);
    }
    if (f && (last || (!counted && initialized))) f->C_Finalize(nullptr);
    if (module) dlclose(module);
  }

  Result<std::vector<CK_OBJECT_HANDLE>> find(CK_OBJECT_CLASS* cls, std::string_view label) {
    std::vector<CK_ATTRIBUTE> tmpl;
    if (cls) tmpl.push_back({CKA_CLASS, cls, sizeof *cls});
    if (!label.empty()) tmpl.push_back({CKA_LABEL, const_cast<char*>(label.data()), label.size()});
    CK_RV rv = f->C_FindObjectsInit(session, tmpl.data(), tmpl.size());
    if (rv != CKR_OK) return ck_fail("C_FindObjectsInit", rv);
    std::vector<CK_OBJECT_HANDLE> out;
    CK_OBJECT_HANDLE h[64];
    CK_ULONG n = 0;
    while ((rv = f->C_FindObjects(session, h, 64, &n)) == CKR_OK && n > 0)
      out.insert(out.end(), h, h + n);
    f->C_FindObjectsFinal(session);
    if (rv != CKR_OK) return ck_fail("C_FindObjects", rv);
    return out;
  }

  bool bool_attr(CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, bool fallback) {
    CK_BBOOL v = CK_FALSE;
    CK_ATTRIBUTE a{t, &v, sizeof v};
    return f->C_GetAttributeValue(session, o, &a, 1) == CKR_OK ? v == CK_TRUE : fallback;
  }
};

Result<std::unique_ptr<TokenSession>> TokenSession::open(const HsmConfig& config) {
  auto pin = read_pin_file(config.pin_file);
  if (!pin) return std::unexpected(pin.error());
  std::unique_ptr<TokenSession> t(new TokenSession());
  t->impl_ = std::make_unique<Impl>();
  auto& i = *t->impl_;
  // RTLD_NODELETE: the module stays mapped after its last user (one PKCS#11 library state per
  // process anyway), so what it leaks itself is attributed to it by the leak checker.
  i.module = dlopen(config.module_path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!i.module)
    return fail(Errc::config,
                fmt::format("cannot load PKCS#11 module {}: {}", config.module_path, dlerror()));
  auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(i.module, "C_GetFunctionList"));
  if (!get || get(&i.f) != CKR_OK)
    return fail(Errc::config, "not a PKCS#11 module: " + config.module_path);
  CK_RV rv = i.f->C_Initialize(nullptr);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) return ck_fail("C_Initialize", rv);
  i.initialized = rv == CKR_OK;
  ModuleUsers::enter(config.module_path);
  i.module_path = config.module_path;
  i.counted = true;
  CK_ULONG count = 0;
  if ((rv = i.f->C_GetSlotList(CK_TRUE, nullptr, &count)) != CKR_OK)
    return ck_fail("C_GetSlotList", rv);
  std::vector<CK_SLOT_ID> slots(count);
  if ((rv = i.f->C_GetSlotList(CK_TRUE, slots.data(), &count)) != CKR_OK)
    return ck_fail("C_GetSlotList", rv);
  for (CK_ULONG s = 0; s < count; ++s) {
    CK_TOKEN_INFO info{};
    if (i.f->C_GetTokenInfo(slots[s], &info) != CKR_OK) continue;
    if (trimmed_label(info.label, sizeof info.label) != config.token_label) continue;
    if ((rv = i.f->C_OpenSession(slots[s], CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                 &i.session)) != CKR_OK)
      return ck_fail("C_OpenSession", rv);
    rv = i.f->C_Login(i.session, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(pin->data()),
                      pin->size());
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
      return ck_fail("C_Login (PIN not shown)", rv);
    return t;
  }
  return fail(Errc::unavailable, fmt::format("no token labelled '{}'", config.token_label));
}

TokenSession::~TokenSession() = default;

Result<void> TokenSession::generate_key_pair(std::string_view label, KeyType type) {
  auto& i = *impl_;
  auto existing = i.find(nullptr, label);
  if (!existing) return std::unexpected(existing.error());
  if (!existing->empty())
    return fail(Errc::config, fmt::format("the token already holds objects labelled '{}'", label));
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG bits = type == KeyType::rsa4096 ? 4096 : type == KeyType::rsa3072 ? 3072 : 2048;
  CK_BYTE exponent[] = {0x01, 0x00, 0x01};
  std::string id = fmt::format("{:016x}", std::hash<std::string_view>{}(label));
  // DER OIDs of the named curves (RFC 5480).
  static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  static const CK_BYTE p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
  static const CK_BYTE ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};  // RFC 8410 id-Ed25519
  const bool edwards = type == KeyType::ed25519;
  const bool ec = type == KeyType::ec_p256 || type == KeyType::ec_p384 || edwards;
  CK_MECHANISM mech{edwards ? CKM_EC_EDWARDS_KEY_PAIR_GEN
                    : ec    ? CKM_EC_KEY_PAIR_GEN
                            : CKM_RSA_PKCS_KEY_PAIR_GEN,
                    nullptr, 0};
  // §2.3: a key pair is renewed after four years; its start date is how the gateway knows.
  const CK_DATE today = ck_date(std::time(nullptr));
  std::vector<CK_ATTRIBUTE> pub = {
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
      {CKA_ID, id.data(), id.size()},
      {CKA_VERIFY, &yes, sizeof yes},
      {CKA_START_DATE, const_cast<CK_DATE*>(&today), sizeof today},
      {CKA_ENCRYPT, &yes, sizeof yes},
  };
  if (ec) {
    pub.pop_back();
    const CK_BYTE* params = edwards ? ed25519 : type == KeyType::ec_p256 ? p256 : p384;
    const std::size_t size = edwards                    ? sizeof ed25519
                             : type == KeyType::ec_p256 ? sizeof p256
                                                        : sizeof p384;
    pub.push_back({CKA_EC_PARAMS, const_cast<CK_BYTE*>(params), size});
  } else {
    pub.push_back({CKA_MODULUS_BITS, &bits, sizeof bits});
    pub.push_back({CKA_PUBLIC_EXPONENT, exponent, sizeof exponent});
  }
  std::vector<CK_ATTRIBUTE> priv = {
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_EXTRACTABLE, &no, sizeof no},
      {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
      {CKA_ID, id.data(), id.size()},
      {CKA_SIGN, &yes, sizeof yes},
      {CKA_START_DATE, const_cast<CK_DATE*>(&today), sizeof today},
  };
  if (!ec) priv.push_back({CKA_DECRYPT, &yes, sizeof yes});
  if (ec && !edwards) priv.push_back({CKA_DERIVE, &yes, sizeof yes});
  CK_OBJECT_HANDLE hpub, hpriv;
  CK_RV rv = i.f->C_GenerateKeyPair(i.session, &mech, pub.data(), pub.size(), priv.data(),
                                    priv.size(), &hpub, &hpriv);
  if (rv != CKR_OK) return ck_fail("C_GenerateKeyPair", rv);
  return {};
}

Result<std::optional<std::time_t>> TokenSession::key_created(std::string_view label) {
  auto& i = *impl_;
  // The public half's date: it is the pair's, and SoftHSM2 cannot read it back from a private
  // (encrypted) object.
  CK_OBJECT_CLASS pub_class = CKO_PUBLIC_KEY;
  auto keys = i.find(&pub_class, label);
  if (!keys) return std::unexpected(keys.error());
  if (keys->empty()) return std::optional<std::time_t>();
  CK_DATE d{};
  CK_ATTRIBUTE a{CKA_START_DATE, &d, sizeof d};
  if (CK_RV rv = i.f->C_GetAttributeValue(i.session, keys->front(), &a, 1);
      rv != CKR_OK || a.ulValueLen != sizeof d)
    return std::optional<std::time_t>();  // none recorded (a key made elsewhere)
  std::tm tm{};
  const std::string text(reinterpret_cast<const char*>(&d), sizeof d);
  if (std::sscanf(text.c_str(), "%4d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3 ||
      tm.tm_year < 1970)
    return std::optional<std::time_t>();
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::optional<std::time_t>(timegm(&tm));
}

Result<void> TokenSession::import_certificate(std::string_view label, X509* cert) {
  auto& i = *impl_;
  CK_OBJECT_CLASS priv_class = CKO_PRIVATE_KEY;
  auto keys = i.find(&priv_class, label);
  if (!keys) return std::unexpected(keys.error());
  if (keys->empty())
    return fail(Errc::config,
                fmt::format("no private key labelled '{}' for this certificate", label));
  // The certificate must belong to the key: same CKA_ID, and we check the public key matches.
  char id[64];
  CK_ATTRIBUTE ida{CKA_ID, id, sizeof id};
  if (CK_RV rv = i.f->C_GetAttributeValue(i.session, keys->front(), &ida, 1); rv != CKR_OK)
    return ck_fail("C_GetAttributeValue(CKA_ID)", rv);
  int der_len = i2d_X509(cert, nullptr);
  std::vector<unsigned char> der(static_cast<std::size_t>(der_len));
  unsigned char* p = der.data();
  i2d_X509(cert, &p);
  // PKCS#11 §4.6.3: CKA_SUBJECT, CKA_ISSUER and CKA_SERIAL_NUMBER (DER, as in the certificate)
  // let any PKCS#11 consumer pair the certificate with its key and find it by issuer and serial.
  auto der_of_name = [](X509_NAME* name) {
    std::vector<unsigned char> out(
        static_cast<std::size_t>(std::max(0, i2d_X509_NAME(name, nullptr))));
    unsigned char* q = out.data();
    i2d_X509_NAME(name, &q);
    return out;
  };
  const std::vector<unsigned char> subj = der_of_name(X509_get_subject_name(cert));
  const std::vector<unsigned char> issuer = der_of_name(X509_get_issuer_name(cert));
  std::vector<unsigned char> serial(static_cast<std::size_t>(
      std::max(0, i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), nullptr))));
  p = serial.data();
  i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &p);
  if (subj.empty() || issuer.empty() || serial.empty())
    return fail(Errc::parse,
                "the certificate's subject, issuer or serial number cannot be encoded");
  CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
  CK_CERTIFICATE_TYPE ctype = CKC_X_509;
  CK_BBOOL yes = CK_TRUE;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof cls},
      {CKA_CERTIFICATE_TYPE, &ctype, sizeof ctype},
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
      {CKA_ID, id, ida.ulValueLen},
      {CKA_SUBJECT, const_cast<unsigned char*>(subj.data()), subj.size()},
      {CKA_ISSUER, const_cast<unsigned char*>(issuer.data()), issuer.size()},
      {CKA_SERIAL_NUMBER, serial.data(), serial.size()},
      {CKA_VALUE, der.data(), der.size()},
  };
  auto earlier = i.find(&cls, label);  // a renewal replaces the certificate the key had
  if (!earlier) return std::unexpected(earlier.error());
  CK_OBJECT_HANDLE h;
  if (CK_RV rv = i.f->C_CreateObject(i.session, tmpl, sizeof tmpl / sizeof *tmpl, &h); rv != CKR_OK)
    return ck_fail("C_CreateObject(certificate)", rv);
  for (auto o : *earlier)
    if (CK_RV rv = i.f->C_DestroyObject(i.session, o); rv != CKR_OK)
      return ck_fail("C_DestroyObject(the replaced certificate)", rv);
  return {};
}

Result<std::size_t> TokenSession::destroy_objects(std::string_view label) {
  auto& i = *impl_;
  i.signing_keys.clear();
  auto objects = i.find(nullptr, label);
  if (!objects) return std::unexpected(objects.error());
  for (auto o : *objects)
    if (CK_RV rv = i.f->C_DestroyObject(i.session, o); rv != CKR_OK)
      return ck_fail("C_DestroyObject", rv);
  return objects->size();
}

Result<std::string> TokenSession::sign_sha256_rsa(std::string_view label, std::string_view data) {
  return sign(label, SignMechanism::sha256_rsa_pkcs, data);
}

Result<std::string> TokenSession::sign(std::string_view label, SignMechanism mechanism,
                                       std::string_view data) {
  auto& i = *impl_;
  auto cached = i.signing_keys.find(label);
  const bool remembered = cached != i.signing_keys.end();
  if (!remembered) {
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    auto keys = i.find(&cls, label);
    if (!keys) return std::unexpected(keys.error());
    if (keys->empty())
      return fail(Errc::config, fmt::format("no private key labelled '{}'", label));
    cached = i.signing_keys.emplace(std::string(label), keys->front()).first;
  }
  CK_MECHANISM mech{mechanism == SignMechanism::eddsa ? CKM_EDDSA : CKM_SHA256_RSA_PKCS, nullptr,
                    0};
  CK_RV rv = i.f->C_SignInit(i.session, &mech, cached->second);
  std::string sig(1024, '\0');
  CK_ULONG len = sig.size();
  if (rv == CKR_OK)
    rv = i.f->C_Sign(i.session, reinterpret_cast<CK_BYTE_PTR>(const_cast<char*>(data.data())),
                     data.size(), reinterpret_cast<CK_BYTE_PTR>(sig.data()), &len);
  if (rv != CKR_OK) {
    // A key destroyed behind our back (another session, the HSM's own tools) leaves a stale
    // handle: search again, once.
    i.signing_keys.erase(cached);
    if (remembered && (rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID))
      return sign(label, mechanism, data);
    return ck_fail("C_Sign", rv);
  }
  sig.resize(len);
  return sig;
}

namespace {

// An RSA public key from its modulus and exponent (OpenSSL 3's parameter builder).
Result<PublicKey> rsa_public_key(const std::string& modulus, const std::string& exponent) {
  auto* n = BN_bin2bn(reinterpret_cast<const unsigned char*>(modulus.data()),
                      static_cast<int>(modulus.size()), nullptr);
  auto* e = BN_bin2bn(reinterpret_cast<const unsigned char*>(exponent.data()),
                      static_cast<int>(exponent.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  EVP_PKEY* key = nullptr;
  if (n && e && bld && ctx && OSSL_PARAM_BLD_push_BN(bld, "n", n) &&
      OSSL_PARAM_BLD_push_BN(bld, "e", e) && (params = OSSL_PARAM_BLD_to_param(bld)) &&
      EVP_PKEY_fromdata_init(ctx) > 0)
    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  EVP_PKEY_CTX_free(ctx);
  BN_free(n);
  BN_free(e);
  if (!key) return fail(Errc::tls, "the token's RSA public key cannot be read");
  return PublicKey(key);
}

// CKA_EC_POINT of an Ed25519 key: the 32 bytes, DER-wrapped in an OCTET STRING (or bare).
Result<PublicKey> ed25519_public_key(const std::string& point) {
  std::string_view raw = point;
  if (raw.size() == 34 && raw[0] == 0x04 && raw[1] == 32) raw.remove_prefix(2);
  EVP_PKEY* key = raw.size() == 32 ? EVP_PKEY_new_raw_public_key(
                                         EVP_PKEY_ED25519, nullptr,
                                         reinterpret_cast<const unsigned char*>(raw.data()), 32)
                                   : nullptr;
  if (!key) return fail(Errc::tls, "the token's Ed25519 public key cannot be read");
  return PublicKey(key);
}

}  // namespace

Result<PublicKey> TokenSession::public_key(std::string_view label) {
  auto& i = *impl_;
  CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
  auto keys = i.find(&cls, label);
  if (!keys) return std::unexpected(keys.error());
  if (keys->empty()) return fail(Errc::config, fmt::format("no public key labelled '{}'", label));
  auto attribute = [&](CK_ATTRIBUTE_TYPE type) -> Result<std::string> {
    CK_ATTRIBUTE a{type, nullptr, 0};
    if (CK_RV rv = i.f->C_GetAttributeValue(i.session, keys->front(), &a, 1); rv != CKR_OK)
      return ck_fail("C_GetAttributeValue(public key)", rv);
    std::string value(a.ulValueLen, '\0');
    a.pValue = value.data();
    if (CK_RV rv = i.f->C_GetAttributeValue(i.session, keys->front(), &a, 1); rv != CKR_OK)
      return ck_fail("C_GetAttributeValue(public key)", rv);
    return value;
  };
  CK_KEY_TYPE kt = 0;
  CK_ATTRIBUTE a{CKA_KEY_TYPE, &kt, sizeof kt};
  if (CK_RV rv = i.f->C_GetAttributeValue(i.session, keys->front(), &a, 1); rv != CKR_OK)
    return ck_fail("C_GetAttributeValue(CKA_KEY_TYPE)", rv);
  if (kt == CKK_EC_EDWARDS) {
    auto point = attribute(CKA_EC_POINT);
    if (!point) return std::unexpected(point.error());
    return ed25519_public_key(*point);
  }
  if (kt != CKK_RSA)
    return fail(Errc::config, fmt::format("the key '{}' is neither RSA nor Ed25519", label));
  auto modulus = attribute(CKA_MODULUS);
  auto exponent = attribute(CKA_PUBLIC_EXPONENT);
  if (!modulus) return std::unexpected(modulus.error());
  if (!exponent) return std::unexpected(exponent.error());
  return rsa_public_key(*modulus, *exponent);
}

Result<std::vector<KeyInfo>> TokenSession::private_keys() {
  auto& i = *impl_;
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  auto keys = i.find(&cls, "");
  if (!keys) return std::unexpected(keys.error());
  std::vector<KeyInfo> out;
  for (auto k : *keys) {
    KeyInfo info;
    char label[256];
    CK_KEY_TYPE kt = 0;
    CK_ATTRIBUTE a[] = {{CKA_LABEL, label, sizeof label}, {CKA_KEY_TYPE, &kt, sizeof kt}};
    if (i.f->C_GetAttributeValue(i.session, k, a, 2) == CKR_OK) {
      info.label.assign(label, a[0].ulValueLen);
      info.type = kt == CKK_RSA          ? "RSA"
                  : kt == CKK_EC         ? "EC"
                  : kt == CKK_EC_EDWARDS ? "Ed25519"
                                         : "other";
    }
    info.sensitive = i.bool_attr(k, CKA_SENSITIVE, false);
    info.extractable = i.bool_attr(k, CKA_EXTRACTABLE, true);
    info.always_sensitive = i.bool_attr(k, CKA_ALWAYS_SENSITIVE, false);
    info.never_extractable = i.bool_attr(k, CKA_NEVER_EXTRACTABLE, false);
    // The private value itself must not come out: ask for it and expect a refusal.
    unsigned char buf[1024];
    CK_ATTRIBUTE secret{kt == CKK_RSA ? CKA_PRIVATE_EXPONENT : CKA_VALUE, buf, sizeof buf};
    info.value_readable = i.f->C_GetAttributeValue(i.session, k, &secret, 1) == CKR_OK &&
                          secret.ulValueLen != CK_UNAVAILABLE_INFORMATION;
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace seegw::pkcs11
