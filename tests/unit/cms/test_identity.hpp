// A test peer's certificate and private key from the test PKI (tools/make-test-pki, made at test
// time): keys in files, since these tests are about CMS, not the HSM.
#pragma once

#include <openssl/pem.h>

#include <cstdio>
#include <memory>
#include <string>

#include "seegw/cms/smime.hpp"
#include "seegw/x509/certificate.hpp"

namespace seegw::cms::test_pki {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

struct Identity {
  x509::Certificate cert;
  std::unique_ptr<EVP_PKEY, KeyFree> key;
  Signer signer() const { return {key.get(), cert.get(), {}}; }
  bool usable() const { return cert && key; }
};

// `name` is a file stem under <pki>/certs/ (e.g. "agency-a-dca").
inline Identity identity(const std::string& name) {
  const std::string base = std::string(SEEGW_TEST_PKI_DIR) + "/certs/" + name;
  Identity id;
  if (auto c = x509::load_certificate_file(base + ".pem")) id.cert = std::move(*c);
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen((base + ".key").c_str(), "r"), std::fclose);
  if (f) id.key.reset(PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr));
  return id;
}

}  // namespace seegw::cms::test_pki
