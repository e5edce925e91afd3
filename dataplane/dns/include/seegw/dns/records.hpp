// The record text Secure Government Email reads from DNS, parsed without the resolver (so the
// fuzzer reaches it): TXT RDATA and tag lists.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace seegw::dns {

// The strings of one TXT RDATA, joined; "" for malformed RDATA (a length past its end).
std::string txt_rdata_text(std::string_view rdata);

// A tag list (RFC 6376 §3.2, the syntax DMARC, MTA-STS and TLS-RPT records share too):
// "v=DMARC1; p=reject" → {{"v","DMARC1"},{"p","reject"}}, names lower-cased, values trimmed with
// their inner white space removed (folded base64). A later duplicate tag is ignored.
std::map<std::string, std::string> tag_list(std::string_view text);

// An MX RDATA (RFC 1035 §3.3.9): preference and exchange, the name in dotted form without the
// final dot ("" for the root: a null MX, RFC 7505). nullopt when malformed (compression pointers
// included: the resolver hands names uncompressed).
struct MxRecord {
  int preference = 0;
  std::string exchange;
};
std::optional<MxRecord> mx_rdata(std::string_view rdata);
// A domain name alone (a PTR RDATA), lower-cased, dotted, without the final dot.
std::optional<std::string> name_rdata(std::string_view rdata);
// An A or AAAA RDATA as text; "" when it is neither 4 nor 16 bytes.
std::string address_rdata(std::string_view rdata);

}  // namespace seegw::dns
