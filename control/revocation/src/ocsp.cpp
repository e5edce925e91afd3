#include <fmt/format.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include <memory>

#include "http.hpp"
#include "seegw/revocation/crl.hpp"

namespace seegw::revocation {
namespace {

template <auto F>
struct Free {
  template <class T>
  void operator()(T* p) const {
    F(p);
  }
};
using Request = std::unique_ptr<OCSP_REQUEST, Free<OCSP_REQUEST_free>>;
using Response = std::unique_ptr<OCSP_RESPONSE, Free<OCSP_RESPONSE_free>>;
using Basic = std::unique_ptr<OCSP_BASICRESP, Free<OCSP_BASICRESP_free>>;
using CertId = std::unique_ptr<OCSP_CERTID, Free<OCSP_CERTID_free>>;
using Store = std::unique_ptr<X509_STORE, Free<X509_STORE_free>>;
struct StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }  // the certificates stay
};
using Stack = std::unique_ptr<STACK_OF(X509), StackFree>;

}  // namespace

std::vector<std::string> ocsp_responders(X509* certificate) {
  std::vector<std::string> out;
  STACK_OF(OPENSSL_STRING)* urls = X509_get1_ocsp(certificate);
  for (int i = 0; urls && i < sk_OPENSSL_STRING_num(urls); ++i)
    out.emplace_back(sk_OPENSSL_STRING_value(urls, i));
  X509_email_free(urls);  // the stack of strings X509_get1_ocsp returns is freed this way
  return out;
}

Result<OcspAnswer> query_ocsp(X509* certificate, X509* issuer, const std::string& url,
                              std::chrono::seconds timeout, std::time_t now) {
  CertId id(OCSP_cert_to_id(nullptr, certificate, issuer));
  if (!id) return fail(Errc::parse, "OCSP: no certificate ID (issuer?)");
  Request request(OCSP_REQUEST_new());
  if (!request || !OCSP_request_add0_id(request.get(), OCSP_CERTID_dup(id.get())) ||
      !OCSP_request_add1_nonce(request.get(), nullptr, -1))
    return fail(Errc::tls, "OCSP: the request could not be built");
  unsigned char* der = nullptr;
  const int der_len = i2d_OCSP_REQUEST(request.get(), &der);
  if (der_len <= 0) return fail(Errc::tls, "OCSP: the request could not be encoded");
  const std::string body(reinterpret_cast<char*>(der), static_cast<std::size_t>(der_len));
  OPENSSL_free(der);
  auto answer = detail::http_transfer(url, timeout, 1 << 20, &body, "application/ocsp-request");
  if (!answer) return fail(answer.error().code, "OCSP " + answer.error().message);

  const auto* p = reinterpret_cast<const unsigned char*>(answer->data());
  Response response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(answer->size())));
  if (!response) return fail(Errc::corrupt, "OCSP " + url + ": not an OCSP response");
  if (int st = OCSP_response_status(response.get()); st != OCSP_RESPONSE_STATUS_SUCCESSFUL)
    return fail(Errc::unavailable,
                fmt::format("OCSP {}: the responder says {}", url, OCSP_response_status_str(st)));
  Basic basic(OCSP_response_get1_basic(response.get()));
  if (!basic) return fail(Errc::corrupt, "OCSP " + url + ": no basic response");
  // A responder that echoes a nonce must echo ours (replay); one that sends none is allowed.
  if (OCSP_check_nonce(request.get(), basic.get()) == 0)
    return fail(Errc::corrupt, "OCSP " + url + ": the nonce does not match (a replayed answer?)");
  // Signed by the issuer itself, or by a responder certificate the issuer signed for OCSP.
  Store store(X509_STORE_new());
  Stack issuers(sk_X509_new_null());
  X509_STORE_add_cert(store.get(), issuer);
  sk_X509_push(issuers.get(), issuer);
  if (OCSP_basic_verify(basic.get(), issuers.get(), store.get(), OCSP_TRUSTOTHER) != 1)
    return fail(Errc::corrupt, "OCSP " + url + ": the answer is not signed by the issuer");
  int status = 0, reason = 0;
  ASN1_GENERALIZEDTIME *revoked_at = nullptr, *this_update = nullptr, *next_update = nullptr;
  if (OCSP_resp_find_status(basic.get(), id.get(), &status, &reason, &revoked_at, &this_update,
                            &next_update) != 1)
    return fail(Errc::corrupt, "OCSP " + url + ": the answer is about another certificate");
  (void)now;  // OCSP_check_validity compares with the clock itself
  if (OCSP_check_validity(this_update, next_update, 300, -1) != 1)
    return fail(Errc::corrupt, "OCSP " + url + ": the answer is not current");
  OcspAnswer a;
  if (status == V_OCSP_CERTSTATUS_GOOD) {
    a.status = OcspStatus::good;
    a.detail = "good";
  } else if (status == V_OCSP_CERTSTATUS_REVOKED) {
    a.status = OcspStatus::revoked;
    a.detail = fmt::format("revoked ({})", reason >= 0 ? OCSP_crl_reason_str(reason) : "no reason");
  } else {
    a.detail = "the responder does not know the certificate";
  }
  return a;
}

}  // namespace seegw::revocation
