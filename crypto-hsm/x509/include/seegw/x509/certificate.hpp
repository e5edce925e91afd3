// RAII for the OpenSSL objects of certificates, and loading them from PEM or DER.
#pragma once

#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/common/error.hpp"

namespace seegw::x509 {

struct BioFree {
  void operator()(BIO* b) const { BIO_free_all(b); }
};
// A stack that does not own its certificates (they belong to Certificate handles or to OpenSSL).
struct X509StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
};
struct X509StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using CertificateStack = std::unique_ptr<STACK_OF(X509), X509StackFree>;
using TrustStore = std::unique_ptr<X509_STORE, X509StoreFree>;

struct X509Free {
  void operator()(X509* c) const { X509_free(c); }
};
struct CrlFree {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
using Certificate = std::unique_ptr<X509, X509Free>;
using Crl = std::unique_ptr<X509_CRL, CrlFree>;

// A read-only BIO over bytes that outlive it.
Bio memory_bio(std::string_view bytes);

// Every certificate in PEM (one or many) or a single DER certificate.
Result<std::vector<Certificate>> load_certificates(std::string_view bytes);
Result<Certificate> load_certificate_file(const std::string& path);
Result<Crl> load_crl(std::string_view bytes);  // PEM or DER
Result<Crl> load_crl_file(const std::string& path);
Certificate share(X509* cert);  // another reference to the same certificate

std::string subject_text(const X509* cert);
std::string to_pem(const X509* cert);
std::string to_der(const X509* cert);  // "" when it cannot be encoded

}  // namespace seegw::x509
