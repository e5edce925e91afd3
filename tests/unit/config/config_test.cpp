#include "seegw/config/config.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace seegw::config {
namespace {

TEST(Config, EmbeddedDefaultsAreUsable) {
  auto c = parse("");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->listen.at(0).text(), "127.0.0.1:2525");
  EXPECT_TRUE(c->is_internal("127.0.0.1"));
  EXPECT_FALSE(c->is_internal("192.0.2.1"));
}

TEST(Config, ParsesEverySection) {
  auto c = parse(R"(
[gateway]
hostname = "gw.agency-a.govt.nz"
domain = "Agency-A.govt.nz"
local_domains = ["agency-a.govt.nz", "*.agency-a.govt.nz"]
internal_networks = ["10.0.0.0/8", "2001:db8::/32"]
[smtp]
listen = ["0.0.0.0:25", "[::1]:2526"]
max_message_bytes = 1048576
max_recipients = 50
command_timeout = 60
[spool]
path = "/var/spool/seegw"
sync = "per_file"
[relay]
internal_host = "10.1.1.1:25"
outbound_host = "192.0.2.25"
tls = "required"
retry_base = 5
[policy]
snapshot = "/etc/seegw/policy.toml"
max_age = 86400
[control]
socket = "/run/seegw/control.sock"
certificate_request_interval = 600
[hsm]
token = "agency-a.govt.nz"
pin_file = "/etc/seegw/pin"
chain_file = "/etc/seegw/chain.pem"
[[route]]
domains = ["agency-c.govt.nz"]
next_hop = "192.0.2.30:2600"
tls = "none"
)");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->domain, "agency-a.govt.nz");
  EXPECT_EQ(c->policy_max_age, std::chrono::seconds(86400));
  EXPECT_EQ(c->admin_socket, "/var/spool/seegw/admin.sock");
  EXPECT_EQ(c->control_socket, "/run/seegw/control.sock");
  EXPECT_EQ(c->certificate_request_interval, std::chrono::seconds(600));
  EXPECT_EQ(c->hsm.chain_file, "/etc/seegw/chain.pem");
  EXPECT_TRUE(c->is_local_domain("mail.agency-a.govt.nz"));
  EXPECT_FALSE(c->is_local_domain("agency-a.govt.nz.evil.org"));
  EXPECT_TRUE(c->is_internal("10.200.3.4"));
  EXPECT_TRUE(c->is_internal("2001:db8::5"));
  EXPECT_FALSE(c->is_internal("11.0.0.1"));
  EXPECT_EQ(c->listen.at(1).host, "::1");
  EXPECT_EQ(c->listen.at(1).port, 2526);
  EXPECT_EQ(c->limits.max_message_bytes, 1048576u);
  EXPECT_EQ(c->limits.command_timeout, std::chrono::seconds(60));
  EXPECT_EQ(c->sync_mode, spool::SyncMode::per_file);
  EXPECT_EQ(c->route_for("agency-c.govt.nz").next_hop.text(), "192.0.2.30:2600");
  EXPECT_EQ(c->route_for("agency-c.govt.nz").tls, smtp::TlsPolicy::none);
  EXPECT_EQ(c->route_for("agency-a.govt.nz").next_hop.text(), "10.1.1.1:25");
  EXPECT_EQ(c->route_for("gmail.com").next_hop.text(), "192.0.2.25:25");
  EXPECT_EQ(c->route_for("gmail.com").tls, smtp::TlsPolicy::required);
}

TEST(Config, ErrorsAreClear) {
  auto bad_toml = parse("[smtp\nlisten=");
  ASSERT_FALSE(bad_toml);
  EXPECT_NE(bad_toml.error().message.find("line"), std::string::npos);
  EXPECT_FALSE(parse("[relay]\ntls = \"maybe\""));
  EXPECT_FALSE(parse("[smtp]\nlisten = [\"127.0.0.1:99999\"]"));
  EXPECT_FALSE(parse("[gateway]\ninternal_networks = [\"10.0.0.0/33\"]"));
  EXPECT_FALSE(parse("[spool]\nsync = \"never\""));
  EXPECT_FALSE(parse("[smtp]\ntls_cert = \"a.pem\""));
  EXPECT_FALSE(parse("[[route]]\ndomains = [\"x\"]"));
  EXPECT_FALSE(parse("[smtp]\nmax_recipients = -1"));
  auto no_outside_slot = parse("[smtp]\nmax_connections = 10\nreserved_internal_connections = 10");
  ASSERT_FALSE(no_outside_slot);
  EXPECT_NE(no_outside_slot.error().message.find("reserved_internal_connections"),
            std::string::npos);
}

TEST(Config, SlowClientLimitsAndTheSpoolReserve) {
  auto c = parse(
      "[smtp]\nmin_data_rate = 2000\nreserved_internal_connections = 50\n"
      "[spool]\nreserve_bytes = 1048576\nreserve_inodes = 10\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->limits.min_data_rate, 2000u);
  EXPECT_EQ(c->reserved_internal_connections, 50u);
  EXPECT_EQ(c->spool_reserve_bytes, 1048576u);
  EXPECT_EQ(c->spool_reserve_inodes, 10u);
  EXPECT_FALSE(parse("")->reserved_internal_connections) << "unset: a tenth of max_connections";
}

TEST(Config, PollModeSection) {
  auto c = parse(R"(
[dpdk]
enabled = true
eal_args = ["--no-huge", "-m", "512", "--vdev=net_tap0,iface=seegw0"]
address = "198.18.0.2/24"
gateway = "198.18.0.1"
mtu = 9000
checksum_offload = false
idle_sleep_us = 0
queues = 2
[dpdk.faults]
drop = 0.02
reorder = 0.01
seed = 7
)");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->dpdk.enabled);
  EXPECT_EQ(c->dpdk.eal_args.size(), 4u);
  EXPECT_EQ(c->dpdk.mtu, 9000);
  EXPECT_FALSE(c->dpdk.checksum_offload);
  EXPECT_EQ(c->dpdk.idle_sleep.count(), 0);
  EXPECT_EQ(c->dpdk.queues, 2);
  EXPECT_EQ(parse("").value().dpdk.queues, 1);
  EXPECT_FALSE(parse("[dpdk]\nqueues = 0\n"));
  EXPECT_FALSE(parse("[dpdk]\nqueues = 64\n"));
  auto pinned = parse("[dpdk]\nqueues = 2\nlane_cpus = [2, 3]\n");
  ASSERT_TRUE(pinned) << pinned.error().message;
  EXPECT_EQ(pinned->dpdk.lane_cpus, (std::vector<int>{2, 3}));
  EXPECT_FALSE(parse("[dpdk]\nqueues = 2\nlane_cpus = [2]\n"));  // one CPU per lane
  EXPECT_FALSE(parse("[dpdk]\nlane_cpus = [-1]\n"));
  EXPECT_TRUE(c->dpdk.faults.any());
  EXPECT_EQ(c->dpdk.faults.seed, 7u);
  EXPECT_FALSE(parse("[dpdk]\nenabled = true\naddress = \"198.18.0.2\"\n"));  // no prefix
  EXPECT_FALSE(parse("[dpdk]\nmtu = 20000\n"));
  EXPECT_FALSE(parse("[dpdk.faults]\ndrop = 0.9\n"));  // not a test of loss any more
  EXPECT_FALSE(parse("").value().dpdk.faults.any());
}

TEST(Config, DpdkHopOnlyCarriesTheNextHopsOnThePortsSubnet) {
  auto c = parse(
      "[dpdk]\nenabled = true\naddress = \"198.19.0.1/24\"\nhop_only = true\nlisten = [2525]\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->dpdk.listen, (std::vector<std::uint16_t>{2525}));
  EXPECT_TRUE(c->dpdk.carries("198.19.0.2"));   // the other gateway, over the port
  EXPECT_FALSE(c->dpdk.carries("127.0.0.1"));   // the sink, over the kernel's sockets
  EXPECT_FALSE(c->dpdk.carries("198.19.1.2"));  // off the subnet
  auto all = parse("[dpdk]\nenabled = true\naddress = \"198.19.0.1/24\"\n");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->dpdk.carries("127.0.0.1"));       // without hop_only the stack takes everything
  EXPECT_FALSE(parse("[dpdk]\nlisten = [2525]\n"));  // only with hop_only
  EXPECT_FALSE(parse("[dpdk]\nhop_only = true\nlisten = [0]\n"));
  EXPECT_FALSE(parse("[dpdk]\nenabled = true\naddress = \"mail.example/24\"\n"));
}

TEST(Config, DnsForwardersAndTrustAnchors) {
  auto c = parse("[dns]\nforwarders = [\"127.0.0.1@5353\", \"10.0.0.53\"]\ntrust_anchors = []\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->dns.forwarders, (std::vector<std::string>{"127.0.0.1@5353", "10.0.0.53"}));
  EXPECT_TRUE(c->dns.trust_anchors.empty()) << "an explicit empty list: nothing is secure";
  auto defaults = parse("");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->dns.trust_anchors, (std::vector<std::string>{"/usr/share/dns/root.key"}));
  auto bad = parse("[dns]\nforwarders = [\"127.0.0.1:53\"]\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("address[@port]"), std::string::npos) << bad.error().message;
}

TEST(Config, InboundAuthenticationSection) {
  auto defaults = parse("[gateway]\nhostname = \"gw.agency-b.govt.nz\"\n");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_FALSE(defaults->inbound_auth.enabled);
  EXPECT_EQ(defaults->inbound_auth.authserv_id, "gw.agency-b.govt.nz") << "the hostname";
  auto c = parse(
      "[inbound_auth]\nenabled = true\nauthserv_id = \"mx.agency-b.govt.nz\"\ntime_limit = 5\n"
      "threads = 4\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->inbound_auth.enabled);
  EXPECT_EQ(c->inbound_auth.authserv_id, "mx.agency-b.govt.nz");
  EXPECT_EQ(c->inbound_auth.time_limit, std::chrono::seconds(5));
  EXPECT_EQ(c->inbound_auth.threads, 4u);
  for (const char* bad :
       {"[inbound_auth]\nthreads = 0\n", "[inbound_auth]\nthreads = 1000\n",
        "[inbound_auth]\ntime_limit = 0\n", "[inbound_auth]\nauthserv_id = \"gw; dmarc=pass\"\n"}) {
    auto r = parse(bad);
    EXPECT_FALSE(r) << bad;
    if (!r)
      EXPECT_NE(r.error().message.find("inbound_auth."), std::string::npos) << r.error().message;
  }
}

TEST(Config, DirectDeliveryRoutesOtherDomainsToTheirExchangers) {
  auto c = parse(
      "[gateway]\ndomain = \"agency-a.govt.nz\"\n[relay]\noutbound_host = \"mx\"\nmx_port = 2525\n"
      "[[route]]\ndomains = [\"agency-c.govt.nz\"]\nnext_hop = \"10.0.0.3:25\"\n");
  ASSERT_TRUE(c) << c.error().message;
  auto direct = c->route_for("example.org");
  EXPECT_TRUE(direct.mx);
  EXPECT_EQ(direct.next_hop.host, "example.org");
  EXPECT_EQ(direct.next_hop.port, 2525);
  EXPECT_FALSE(c->route_for("agency-c.govt.nz").mx) << "static next hops stay as they are";
  EXPECT_FALSE(c->route_for("agency-a.govt.nz").mx) << "our own mail goes inside";
  EXPECT_FALSE(parse("[relay]\nmx_port = 0\n"));
}

TEST(Config, TlsLevelsAsPostfixNamesThem) {
  auto c = parse(
      "[relay]\ntls = \"verify\"\n[[route]]\ndomains = [\"a.example\"]\n"
      "next_hop = \"10.0.0.1:25\"\ntls = \"may\"\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->relay_tls, smtp::TlsPolicy::required);
  EXPECT_TRUE(c->route_for("example.org").verify) << "relay.tls applies to the relay";
  EXPECT_FALSE(c->route_for("a.example").verify) << "the route's own level";
  EXPECT_EQ(c->route_for("a.example").tls, smtp::TlsPolicy::opportunistic);
  for (const char* level :
       {"none", "may", "encrypt", "verify", "mta-sts", "opportunistic", "required"})
    EXPECT_TRUE(parse(fmt::format("[relay]\ntls = \"{}\"\n", level))) << level;
  EXPECT_FALSE(parse("[relay]\ntls = \"dane\"\n")) << "DANE needs direct delivery";
  EXPECT_TRUE(parse("[relay]\noutbound_host = \"mx\"\ntls = \"dane\"\n"));
  auto route_dane =
      parse("[[route]]\ndomains = [\"a.example\"]\nnext_hop = \"10.0.0.1\"\ntls = \"dane\"\n");
  ASSERT_FALSE(route_dane);
  EXPECT_NE(route_dane.error().message.find("no TLSA"), std::string::npos);
  EXPECT_FALSE(parse("[relay]\ntls = \"secure\"\n"));
}

TEST(Network, MatchesPrefixes) {
  auto n = Network::parse("192.168.16.0/20");
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->contains("192.168.31.255"));
  EXPECT_FALSE(n->contains("192.168.32.0"));
  EXPECT_FALSE(n->contains("not an address"));
  EXPECT_TRUE(Network::parse("10.0.0.0/8")->contains("::ffff:10.1.2.3"));
}

TEST(Config, AdminUsersAreResolvedAndAnUnknownOneIsAnError) {
  auto c = parse("[admin]\nusers = [\"root\", \"nobody\"]");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->admin_users.size(), 2u);
  EXPECT_EQ(c->admin_users[0], 0u);
  auto unknown = parse("[admin]\nusers = [\"no-such-user-seegw\"]");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("no-such-user-seegw"), std::string::npos);
}

}  // namespace
}  // namespace seegw::config
