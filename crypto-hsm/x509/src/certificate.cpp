#include "seegw/x509/certificate.hpp"

#include "seegw/common/file.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

namespace seegw::x509 {
namespace {}  // namespace

Bio memory_bio(std::string_view bytes) {
  return Bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

Result<std::vector<Certificate>> load_certificates(std::string_view bytes) {
  std::vector<Certificate> out;
  if (bytes.find("-----BEGIN") != std::string_view::npos) {
    auto bio = memory_bio(bytes);
    while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(c);
    ERR_clear_error();  // the end of the PEM data reads as an error
  } else {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    if (X509* c = d2i_X509(nullptr, &p, static_cast<long>(bytes.size()))) out.emplace_back(c);
  }
  if (out.empty()) return fail(Errc::parse, "no certificate found");
  return out;
}

Result<Certificate> load_certificate_file(const std::string& path) {
  auto bytes = read_file(path);
  if (!bytes) return std::unexpected(bytes.error());
  auto certs = load_certificates(*bytes);
  if (!certs)
    return std::unexpected(Error{certs.error().code, path + ": " + certs.error().message});
  return std::move(certs->front());
}

Result<Crl> load_crl(std::string_view bytes) {
  X509_CRL* crl = nullptr;
  if (bytes.find("-----BEGIN") != std::string_view::npos) {
    auto bio = memory_bio(bytes);
    crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr);
  } else {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(bytes.size()));
  }
  if (!crl) return fail(Errc::parse, "not a CRL");
  return Crl(crl);
}

Result<Crl> load_crl_file(const std::string& path) {
  auto bytes = read_file(path);
  if (!bytes) return std::unexpected(bytes.error());
  return load_crl(*bytes);
}

Certificate share(X509* cert) {
  X509_up_ref(cert);
  return Certificate(cert);
}

std::string subject_text(const X509* cert) {
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  return buf;
}

std::string to_pem(const X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), const_cast<X509*>(cert));
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string to_der(const X509* cert) {
  unsigned char* der = nullptr;
  const int n = i2d_X509(cert, &der);
  if (n <= 0) return "";
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  return out;
}

}  // namespace seegw::x509
