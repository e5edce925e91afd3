// The data plane's configuration: TOML from --config, every key with an embedded default so the
// gateway starts on a bare machine. Validation happens here, once, at start-up.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/common/network.hpp"
#include "seegw/smtp/client_session.hpp"
#include "seegw/smtp/server_session.hpp"
#include "seegw/spool/spool.hpp"

namespace seegw::config {

struct HostPort {
  std::string host;
  std::uint16_t port = 25;
  std::string text() const;
};
Result<HostPort> parse_host_port(std::string_view text, std::uint16_t default_port);

using Network = seegw::Network;

// One mail exchanger address of a domain, as direct delivery found it.
struct Exchanger {
  HostPort hop;      // its address and [relay] mx_port
  std::string name;  // the MX host name (TLS's reference identifier)
  // Its TLSA records (RDATA), when DNSSEC validated both them and the MX records (RFC 7672):
  // TLS is then mandatory and authenticated by them.
  std::vector<std::string> tlsa;
  // MTA-STS (RFC 8461) without TLSA records: enforce — TLS with a certificate that chains to
  // the store and names the host, or nothing; testing — delivered anyway, a failure logged.
  bool sts_enforce = false;
  bool sts_testing = false;
  // For TLS-RPT (RFC 8460): "tlsa" or "sts" when a policy applies, and its strings.
  std::string policy_type;
  std::vector<std::string> policy_strings;
};

// A TLS security level, as Postfix names them: none, may (opportunistic), encrypt (required),
// verify (required, the certificate chains to the CA store and names the next hop), dane (with
// direct delivery: only exchangers with validated TLSA records). With direct delivery DANE and
// MTA-STS apply at every level but none.
struct TlsLevel {
  smtp::TlsPolicy session = smtp::TlsPolicy::opportunistic;
  bool verify = false;
  bool dane_only = false;
};
Result<TlsLevel> parse_tls_level(std::string_view text);

struct Route {
  std::vector<std::string> domains;  // lower case; "*.example" matches subdomains
  HostPort next_hop;
  smtp::TlsPolicy tls = smtp::TlsPolicy::opportunistic;
  bool verify = false;  // tls = "verify": a PKIX check of the next hop's certificate
  // Direct delivery: `mx` until the domain's exchangers are looked up (next_hop.host is then
  // the recipient domain); afterwards `exchangers` in the order to try, next_hop the first's.
  bool mx = false;
  std::vector<Exchanger> exchangers;
  std::string mx_domain;  // direct delivery: the recipient domain (the TLS policy domain)
};

// The gateway's HSM (OPS-1, OPS-5). Without a token label the data plane runs without one (a
// plain relay); with one, it is not operational until the token is there and the key usable.
struct HsmSettings {
  std::string module = "/usr/lib/softhsm/libsofthsm2.so";
  std::string token;
  std::string pin_file;
  std::string key_label = "dca";
  // OUT-7: issuer certificates (PEM) sent with every signature besides the snapshot's roots:
  // the intermediates between our certificate and the S.E.E. root, if any.
  std::filesystem::path chain_file;
  std::chrono::seconds check_interval{5};
  bool configured() const { return !token.empty(); }
};

// The poll-mode data plane (DPDK): the SMTP listeners and next hops then live on the stack's own
// address on the DPDK port instead of the kernel's sockets.
struct PollModeSettings {
  bool enabled = false;
  std::vector<std::string> eal_args;  // e.g. --no-huge -m 512 --no-pci --vdev=net_tap0,iface=seegw0
  std::uint16_t port = 0;             // the DPDK port id
  std::string address;                // the stack's IPv4 address with prefix: "198.18.0.2/24"
  std::string gateway;                // the next hop beyond the subnet ("" = none)
  std::string mac;                    // "" = a locally administered one
  std::uint32_t mbufs = 8191;         // the packet pool (inside the EAL's memory)
  std::uint16_t mtu = 1500;           // up to 9000 (jumbo frames: fewer packets per message)
  // Queue pairs, each driven by its own poll loop (a lane: own thread, stack and flow table);
  // the port's RSS spreads connections over them (netstack/steering.hpp).
  std::uint16_t queues = 1;
  // The CPU each lane's thread is pinned to, one per lane; empty: the scheduler decides.
  std::vector<int> lane_cpus;
  // An appliance with one NIC on DPDK and the other on the kernel: the [smtp] listeners and the
  // next hops stay on kernel sockets, except next hops on the port's subnet (`address`), which
  // go over the port (the hop between two gateways, say); the stack listens on `listen` (ports
  // at its own address). Without it the stack takes every listener and next hop.
  bool hop_only = false;
  std::vector<std::uint16_t> listen;
  std::optional<seegw::Network> subnet;  // `address`'s, parsed once (per message: carries())
  // Does a next hop at `host` go over the port?
  bool carries(std::string_view host) const;
  bool checksum_offload = true;              // IPv4/TCP checksums by the port, when it offers that
  std::chrono::microseconds idle_sleep{50};  // after 64 empty polls; 0 = pure busy polling
  // Fault injection, for tests only: the kernel here has no netem, so loss is made on our side.
  struct Faults {
    double drop = 0, duplicate = 0, reorder = 0;
    std::chrono::microseconds delay{0};
    std::uint64_t seed = 1;
    bool any() const { return drop > 0 || duplicate > 0 || reorder > 0 || delay.count() > 0; }
  } faults;
};

// [dns]: Secure Government Email's lookups (DKIM, DMARC, MTA-STS and TLS-RPT records).
struct DnsSettings {
  std::vector<std::string> forwarders;  // "127.0.0.1@53"; empty: /etc/resolv.conf
  // DNSSEC trust anchors (DS/DNSKEY files); Debian's root key by default.
  std::vector<std::string> trust_anchors = {"/usr/share/dns/root.key"};
  std::chrono::seconds query_timeout{15};  // an unanswered question is given up after this
};

// [inbound_auth]: SPF, DKIM and DMARC on mail from outside the internal networks (Secure
// Government Email), the result in an Authentication-Results field named authserv_id.
struct InboundAuthSettings {
  bool enabled = false;
  std::string authserv_id;  // default: hostname
  std::string public_suffix_list = "/usr/share/publicsuffix/public_suffix_list.dat";
  std::chrono::seconds time_limit{20};  // all of one message's DNS; past it, temperror (451)
  std::size_t threads = 8;              // the checks wait on DNS: threads of their own
};

struct Config {
  std::string hostname = "localhost";
  std::string domain = "localhost";  // our mail domain: postmaster@domain sends notifications
  std::vector<std::string> local_domains;
  std::vector<Network> internal_networks;

  std::vector<HostPort> listen = {{"127.0.0.1", 2525}};
  std::vector<HostPort> submission;  // listeners whose clients are all internal (outbound mail)
  unsigned io_threads = 0;           // 0 = one per core
  smtp::ServerLimits limits;
  std::size_t max_connections = 2000;
  std::size_t max_connections_per_client = 100;
  // Of max_connections, slots only the internal networks' clients may take (issue 15 item 3);
  // unset: a tenth of max_connections.
  std::optional<std::size_t> reserved_internal_connections;
  std::string tls_cert_file;
  std::string tls_key_file;

  std::filesystem::path spool_path = "spool";
  spool::SyncMode sync_mode = spool::SyncMode::group;
  std::chrono::seconds keep_done{0};
  std::size_t spool_reserve_bytes = 64u << 20;  // new mail gets 452 under this much free space
  std::size_t spool_reserve_inodes = 1024;

  HostPort internal_host = {"127.0.0.1", 10025};  // our own mail server (local domains)
  HostPort outbound_host = {"127.0.0.1", 10026};  // the relay to the Internet (everything else)
  bool direct_delivery = false;  // outbound_host = "mx": each domain's MX records instead
  std::uint16_t mx_port = 25;    // the port mail exchangers listen on (tests move it)
  // MTA-STS: the CA certificates its HTTPS fetches and enforced exchangers are checked against
  // ("" : the system's), and the policy servers' port (tests move it).
  std::string mta_sts_ca_file;
  std::uint16_t mta_sts_port = 443;
  smtp::TlsPolicy relay_tls = smtp::TlsPolicy::opportunistic;
  TlsLevel relay_tls_level;  // relay.tls as given (verify, dane_only beside relay_tls)
  std::string relay_tls_ca_file;
  std::vector<Route> routes;
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds relay_timeout{300};
  std::chrono::seconds retry_base{60};
  std::chrono::seconds retry_max{3600};
  std::chrono::seconds delay_warning{4 * 3600};
  std::chrono::seconds max_queue_lifetime{5 * 24 * 3600};
  std::chrono::seconds queue_scan_interval{1};
  std::size_t max_connections_per_destination = 20;
  std::size_t max_messages_per_connection = 1000;

  HsmSettings hsm;
  // OUT-6, §2.4: the approved content ciphers and digests, in our order of preference ("" = the
  // built-in lists); names are checked when the gateway starts (an unknown one stops it).
  std::vector<std::string> approved_ciphers;  // [smime] ciphers, e.g. "aes256-cbc", "des3"
  std::vector<std::string> approved_digests;  // [smime] digests, e.g. "sha256", "sha1"

  // The SEEMail policy snapshot (written by seegw-control, or by hand). OPS-1: without a good
  // one — none configured, missing, unreadable, invalid, or older than policy_max_age — the
  // gateway is not operational (4xx, nothing sent) until one arrives.
  std::filesystem::path policy_snapshot = "policy.toml";
  std::chrono::seconds policy_reload_interval{60};     // re-read when changed; states age with time
  std::chrono::seconds policy_max_age{7 * 24 * 3600};  // 0 = no limit
  std::size_t notice_limit = 5;                        // OPS-2: per address and reason per window
  std::chrono::seconds notice_window{3600};
  std::filesystem::path admin_socket;  // "" = <spool>/admin.sock
  // Users besides the gateway's own and root who may use the admin socket: seegw-control when
  // it runs as a user of its own (the appliance image). Names are resolved when the file is read.
  std::vector<uid_t> admin_users;
  // §2.8 auto-discovery: held mail that waits for a domain certificate has seegw-control look it
  // up at once (its [control] socket: LDAP, then the signed e-mail request). Without one, or when
  // it does not answer, the data plane sends the e-mail request itself. One request per domain
  // per certificate_request_interval.
  std::filesystem::path control_socket;  // [control] socket; "" = none
  std::chrono::seconds certificate_request_interval{900};

  PollModeSettings dpdk;
  DnsSettings dns;
  InboundAuthSettings inbound_auth;

  bool is_local_domain(std::string_view domain) const;
  bool is_internal(std::string_view address) const;
  // The route for a recipient domain: explicit routes first, then local → internal_host,
  // everything else → outbound_host.
  Route route_for(std::string_view domain) const;
};

Result<Config> load(const std::filesystem::path& file);
Result<Config> parse(std::string_view toml_text);

}  // namespace seegw::config
