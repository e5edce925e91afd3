// Fuzz target: the inbound S/MIME unwrap path (cms::unprotect) on arbitrary bytes: garbage and
// truncated CMS must give an error, never a crash. The decryption key is made at start-up.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "seegw/cms/smime.hpp"

namespace {
struct Identity {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  X509* cert = X509_new();
  Identity() {
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("fuzz"), -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    X509_sign(cert, key, EVP_sha256());
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Identity id;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto r = seegw::cms::unprotect(bytes, id.key, id.cert);
  (void)r;
  return 0;
}
