// Opaque-signed S/MIME (RFC 5751 §3.5.2, CMS SignedData with its content inside): the content is
// taken out with OpenSSL's CMS parser and walked as the MIME entity it is, attachments included.
// Nothing is verified here: the scanner reads what a reader's client would show; the SEEMail
// stage judges signatures. What cannot be parsed, or has no content inside, is uninspectable.
#include <openssl/cms.h>
#include <openssl/err.h>

#include <memory>

#include "context.hpp"
#include "seegw/mime/codec.hpp"

namespace seegw::extract {
namespace {

struct CmsFree {
  void operator()(CMS_ContentInfo* c) const { CMS_ContentInfo_free(c); }
};

// The DER of a base64 body that was not decoded yet (a .p7m attachment may come either way).
std::string der_of(std::string_view bytes) {
  if (!bytes.empty() && static_cast<unsigned char>(bytes.front()) == 0x30)
    return std::string(bytes);
  return mime::decode_base64(bytes);
}

}  // namespace

void extract_signed_data(Context& ctx, std::string_view bytes, const std::string& where) {
  const std::string der = der_of(bytes);
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<CMS_ContentInfo, CmsFree> cms(
      d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
  ERR_clear_error();
  if (!cms) {
    ctx.uninspectable(where, "S/MIME content that cannot be parsed");
    return;
  }
  const int type = OBJ_obj2nid(CMS_get0_type(cms.get()));
  if (type != NID_pkcs7_signed) {
    ctx.uninspectable(where,
                      type == NID_pkcs7_enveloped || type == NID_id_smime_ct_authEnvelopedData
                          ? kEncryptedSmimeReason
                          : "S/MIME content of a kind the scanner does not read");
    return;
  }
  ASN1_OCTET_STRING** content = CMS_get0_content(cms.get());
  if (!content || !*content) {
    // Certificates only (or a detached signature sent alone): nothing a person wrote.
    return;
  }
  const std::string_view inner(reinterpret_cast<const char*>(ASN1_STRING_get0_data(*content)),
                               static_cast<std::size_t>(ASN1_STRING_length(*content)));
  ctx.expanded += inner.size();
  ++ctx.depth;
  extract_mime_message(ctx, inner, where + " > signed content");
  --ctx.depth;
}

}  // namespace seegw::extract
