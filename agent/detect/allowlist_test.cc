#include "agent/detect/allowlist.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace sluice::detect {
namespace {

IpAddr Ip(const std::string& text) { return ParseIp(text).value(); }

EgressAllow Allow(const std::string& cidr, std::vector<PortRange> ports = {}) {
  EgressAllow a;
  a.cidr = ParseCidr(cidr).value();
  a.ports = std::move(ports);
  return a;
}

// A host entry as the parser builds it: the glob set, `cidr` left at its zero value.
EgressAllow HostAllow(const std::string& glob, std::vector<PortRange> ports = {},
                      bool tls_required = false) {
  EgressAllow a;
  a.host_glob = glob;
  a.ports = std::move(ports);
  a.tls_required = tls_required;
  return a;
}

Destination Host(const std::string& glob) {
  Destination d;
  d.host_glob = glob;
  return d;
}

Destination Net(const std::string& cidr) {
  Destination d;
  d.cidr = ParseCidr(cidr).value();
  return d;
}

using Names = std::vector<std::string>;

Workload With(std::vector<EgressAllow> allow) {
  Workload w;
  w.name = "w";
  w.selector.cgroup_glob = "/w";
  w.allow = std::move(allow);
  return w;
}

TEST(PortAllowedTest, EmptyMeansAnyPort) {
  EXPECT_TRUE(PortAllowed({}, 0));
  EXPECT_TRUE(PortAllowed({}, 1));
  EXPECT_TRUE(PortAllowed({}, 65535));
}

TEST(PortAllowedTest, RangeEdges) {
  const std::vector<PortRange> ports = {{443, 443}, {8000, 8100}};
  EXPECT_TRUE(PortAllowed(ports, 443));
  EXPECT_FALSE(PortAllowed(ports, 442));
  EXPECT_FALSE(PortAllowed(ports, 444));
  EXPECT_TRUE(PortAllowed(ports, 8000));
  EXPECT_TRUE(PortAllowed(ports, 8100));
  EXPECT_TRUE(PortAllowed(ports, 8050));
  EXPECT_FALSE(PortAllowed(ports, 7999));
  EXPECT_FALSE(PortAllowed(ports, 8101));
  EXPECT_FALSE(PortAllowed(ports, 0));
  EXPECT_TRUE(PortAllowed({{1, 65535}}, 65535));
  EXPECT_FALSE(PortAllowed({{1, 65535}}, 0));
}

TEST(EgressAllowedTest, NothingAllowedByDefault) {
  EXPECT_FALSE(EgressAllowed(With({}), Ip("192.0.2.1"), 443));
  EXPECT_FALSE(EgressAllowed(With({}), Ip("2001:db8::1"), 443));
}

TEST(EgressAllowedTest, V4CidrEdges) {
  const Workload w = With({Allow("10.20.0.0/16", {{443, 443}})});
  EXPECT_TRUE(EgressAllowed(w, Ip("10.20.0.0"), 443));       // first address
  EXPECT_TRUE(EgressAllowed(w, Ip("10.20.255.255"), 443));   // last address
  EXPECT_FALSE(EgressAllowed(w, Ip("10.19.255.255"), 443));  // one below
  EXPECT_FALSE(EgressAllowed(w, Ip("10.21.0.0"), 443));      // one above
  EXPECT_FALSE(EgressAllowed(w, Ip("10.20.1.1"), 80));       // right host, wrong port
}

TEST(EgressAllowedTest, V4MappedV6DestinationMatchesV4Cidr) {
  const Workload w = With({Allow("10.20.0.0/16")});
  EXPECT_TRUE(EgressAllowed(w, Ip("::ffff:10.20.3.4"), 443));
  EXPECT_FALSE(EgressAllowed(w, Ip("::ffff:10.21.3.4"), 443));
  EXPECT_FALSE(EgressAllowed(w, Ip("::a14:304"), 443));  // v4-compatible is not v4-mapped
}

TEST(EgressAllowedTest, V6CidrEdges) {
  const Workload w = With({Allow("2001:db8:1::/48", {{8000, 8100}})});
  EXPECT_TRUE(EgressAllowed(w, Ip("2001:db8:1::"), 8000));
  EXPECT_TRUE(EgressAllowed(w, Ip("2001:db8:1:ffff:ffff:ffff:ffff:ffff"), 8100));
  EXPECT_FALSE(EgressAllowed(w, Ip("2001:db8:0:ffff:ffff:ffff:ffff:ffff"), 8000));
  EXPECT_FALSE(EgressAllowed(w, Ip("2001:db8:2::"), 8000));
  EXPECT_FALSE(EgressAllowed(w, Ip("2001:db8:1::5"), 7999));
  EXPECT_FALSE(EgressAllowed(w, Ip("2001:db8:1::5"), 8101));
}

TEST(EgressAllowedTest, ZeroLengthPrefixes) {
  const Workload v4_any = With({Allow("0.0.0.0/0")});
  EXPECT_TRUE(EgressAllowed(v4_any, Ip("0.0.0.0"), 1));
  EXPECT_TRUE(EgressAllowed(v4_any, Ip("255.255.255.255"), 65535));
  EXPECT_FALSE(EgressAllowed(v4_any, Ip("2001:db8::1"), 443));  // v4 /0 is not all of v6
  const Workload all = With({Allow("::/0", {{53, 53}})});
  EXPECT_TRUE(EgressAllowed(all, Ip("2001:db8::1"), 53));
  EXPECT_TRUE(EgressAllowed(all, Ip("192.0.2.1"), 53));
  EXPECT_FALSE(EgressAllowed(all, Ip("192.0.2.1"), 54));
}

TEST(EgressAllowedTest, HostPrefixes) {
  const Workload w = With({Allow("192.0.2.7/32"), Allow("2001:db8::7/128")});
  EXPECT_TRUE(EgressAllowed(w, Ip("192.0.2.7"), 1));
  EXPECT_FALSE(EgressAllowed(w, Ip("192.0.2.6"), 1));
  EXPECT_FALSE(EgressAllowed(w, Ip("192.0.2.8"), 1));
  EXPECT_TRUE(EgressAllowed(w, Ip("2001:db8::7"), 1));
  EXPECT_FALSE(EgressAllowed(w, Ip("2001:db8::6"), 1));
  EXPECT_FALSE(EgressAllowed(w, Ip("2001:db8::8"), 1));
}

TEST(EgressAllowedTest, AnyEntryMayAllow) {
  // Overlapping entries add up: a narrower entry never takes away what a wider one allows.
  const Workload w = With({Allow("10.0.0.0/8", {{443, 443}}), Allow("10.1.0.0/16", {{80, 80}})});
  EXPECT_TRUE(EgressAllowed(w, Ip("10.1.2.3"), 80));
  EXPECT_TRUE(EgressAllowed(w, Ip("10.1.2.3"), 443));
  EXPECT_FALSE(EgressAllowed(w, Ip("10.2.2.3"), 80));
  EXPECT_TRUE(EgressAllowed(w, Ip("10.2.2.3"), 443));
}

TEST(HostGlobMatchesTest, FnmatchOnLowerCaseNames) {
  EXPECT_TRUE(HostGlobMatches("api.example.com", "api.example.com"));
  EXPECT_TRUE(HostGlobMatches("api.example.com", "API.Example.COM"));   // names have no case
  EXPECT_TRUE(HostGlobMatches("api.example.com", "api.example.com."));  // root dot ignored
  EXPECT_FALSE(HostGlobMatches("api.example.com", "api.example.com.."));
  EXPECT_FALSE(HostGlobMatches("api.example.com", "api.example.co"));
  EXPECT_TRUE(HostGlobMatches("*.my.salesforce.com", "acme.my.salesforce.com"));
  EXPECT_TRUE(HostGlobMatches("*.my.salesforce.com", "a.b.my.salesforce.com"));  // "*" crosses dots
  EXPECT_FALSE(HostGlobMatches("*.my.salesforce.com", "my.salesforce.com"));
  EXPECT_FALSE(HostGlobMatches("*.my.salesforce.com", "evil-my.salesforce.com"));
  EXPECT_FALSE(HostGlobMatches("*.my.salesforce.com", "acme.my.salesforce.com.evil.test"));
  EXPECT_TRUE(HostGlobMatches("s3.*.amazonaws.com", "s3.eu-west-1.amazonaws.com"));
  EXPECT_TRUE(HostGlobMatches("db?.internal", "db1.internal"));
  EXPECT_FALSE(HostGlobMatches("db?.internal", "db12.internal"));
  EXPECT_FALSE(HostGlobMatches("api.example.com", ""));
  EXPECT_FALSE(HostGlobMatches("api.example.com", "."));
  EXPECT_FALSE(HostGlobMatches("", "api.example.com"));
  EXPECT_FALSE(HostGlobMatches("*", std::string("a\0b", 3)));
}

TEST(DestinationMatchesTest, AnyHostAndCidr) {
  const IpAddr ip = Ip("192.0.2.7");
  const Names names = {"cdn.example.net", "Files.Example.COM."};
  EXPECT_TRUE(DestinationMatches(Destination{}, ip, {}));
  EXPECT_TRUE(DestinationMatches(Destination{}, ip, names));
  EXPECT_TRUE(DestinationMatches(Host("files.example.com"), ip, names));
  EXPECT_TRUE(DestinationMatches(Host("*.example.net"), ip, names));
  EXPECT_FALSE(DestinationMatches(Host("*.example.org"), ip, names));
  EXPECT_FALSE(DestinationMatches(Host("files.example.com"), ip, {}));  // no names, no match
  EXPECT_TRUE(DestinationMatches(Net("192.0.2.0/24"), ip, {}));
  EXPECT_TRUE(DestinationMatches(Net("::ffff:0:0/96"), ip, {}));
  EXPECT_FALSE(DestinationMatches(Net("198.51.100.0/24"), ip, names));
}

TEST(EgressAllowedTest, HostEntriesMatchByNameAndPort) {
  const Workload w =
      With({HostAllow("*.my.salesforce.com", {{443, 443}}), Allow("10.0.0.0/8", {{9092, 9094}})});
  const IpAddr crm = Ip("203.0.113.5");
  const Names names = {"acme.my.salesforce.com"};
  EXPECT_TRUE(EgressAllowed(w, crm, 443, names));
  EXPECT_FALSE(EgressAllowed(w, crm, 80, names));  // ports apply to host entries too
  EXPECT_FALSE(EgressAllowed(w, crm, 443, Names{"evil.test"}));
  // Without names a host entry allows nothing: its zero-value cidr is never consulted.
  EXPECT_FALSE(EgressAllowed(w, crm, 443));
  EXPECT_FALSE(EgressAllowed(w, crm, 443, {}));
  EXPECT_FALSE(EgressAllowed(With({HostAllow("a.example.com")}), Ip("::"), 1));
  // CIDR entries ignore names.
  EXPECT_TRUE(EgressAllowed(w, Ip("10.1.2.3"), 9093, Names{"unrelated.test"}));
  EXPECT_TRUE(EgressAllowed(w, Ip("10.1.2.3"), 9093));
  EXPECT_FALSE(EgressAllowed(w, Ip("11.1.2.3"), 9093, names));
}

TEST(TlsRequiredTest, SomeMatchingEntryRequiresTls) {
  EgressAllow kafka = Allow("198.51.100.20/32", {{9092, 9094}});
  kafka.tls_required = true;
  const Workload w = With({kafka, Allow("198.51.100.0/24"),
                           HostAllow("*.my.salesforce.com", {{443, 443}}, /*tls_required=*/true),
                           HostAllow("plain.example.com")});
  const Names crm = {"acme.my.salesforce.com"};
  EXPECT_TRUE(TlsRequired(w, Ip("198.51.100.20"), 9092, {}));
  // Also allowed by the wider entry without tls: one entry that requires TLS is enough.
  EXPECT_TRUE(TlsRequired(w, Ip("198.51.100.20"), 9094, {}));
  EXPECT_FALSE(TlsRequired(w, Ip("198.51.100.20"), 80, {}));  // port outside the kafka entry
  EXPECT_FALSE(TlsRequired(w, Ip("198.51.100.21"), 9092, {}));
  EXPECT_TRUE(TlsRequired(w, Ip("203.0.113.9"), 443, crm));
  EXPECT_FALSE(TlsRequired(w, Ip("203.0.113.9"), 8443, crm));
  EXPECT_FALSE(TlsRequired(w, Ip("203.0.113.9"), 443, {}));
  EXPECT_FALSE(TlsRequired(w, Ip("203.0.113.9"), 80, Names{"plain.example.com"}));
  EXPECT_FALSE(TlsRequired(With({}), Ip("198.51.100.20"), 9092, {}));
}

TEST(IsCrmPeerTest, HostsAndCidrs) {
  RuleSet rules;
  EXPECT_FALSE(IsCrmPeer(rules, Ip("192.0.2.1"), Names{"login.salesforce.com"}));
  rules.crm.host_globs = {"*.my.salesforce.com", "login.salesforce.com"};
  rules.crm.cidrs = {ParseCidr("192.0.2.0/24").value()};
  EXPECT_TRUE(IsCrmPeer(rules, Ip("203.0.113.1"), Names{"login.salesforce.com"}));
  EXPECT_TRUE(IsCrmPeer(rules, Ip("203.0.113.1"), Names{"x.example", "acme.my.salesforce.com"}));
  EXPECT_TRUE(IsCrmPeer(rules, Ip("192.0.2.200"), {}));
  EXPECT_TRUE(IsCrmPeer(rules, Ip("::ffff:192.0.2.200"), {}));
  EXPECT_FALSE(IsCrmPeer(rules, Ip("203.0.113.1"), Names{"salesforce.com.evil.test"}));
  EXPECT_FALSE(IsCrmPeer(rules, Ip("203.0.113.1"), {}));
}

TEST(SinkForTest, FirstMatchingSinkAndPorts) {
  RuleSet rules;
  SinkDestination siem;
  siem.name = "siem";
  siem.to = Host("siem.example.net");
  siem.ports = {{6514, 6514}};
  SinkDestination logs;
  logs.name = "logs";
  logs.kind = SinkDestination::Kind::kLog;
  logs.to = Net("198.51.100.0/24");
  SinkDestination broken;  // no destination: never a sink (only a hand-built RuleSet has one)
  broken.name = "broken";
  rules.sinks = {broken, siem, logs};
  const Names siem_names = {"siem.example.net"};
  const SinkDestination* s = SinkFor(rules, Ip("198.51.100.7"), 6514, siem_names);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->name, "siem");  // rule order: siem comes before logs
  s = SinkFor(rules, Ip("198.51.100.7"), 514, siem_names);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->name, "logs");  // siem's port does not match, logs takes any port
  EXPECT_EQ(SinkFor(rules, Ip("203.0.113.7"), 514, siem_names), nullptr);
  EXPECT_EQ(SinkFor(rules, Ip("203.0.113.7"), 6514, {}), nullptr);
  EXPECT_EQ(SinkFor(RuleSet{}, Ip("198.51.100.7"), 514, {}), nullptr);
}

TEST(FindExceptionTest, DetectorWorkloadAndDestination) {
  RuleSet rules;
  DetectorConfig cache;
  DetectorException backup;
  backup.workload = "admin-export";
  backup.to = Host("*.backup.example.net");
  backup.reason = "nightly backup";
  DetectorException lab;
  lab.to = Net("10.99.0.0/16");
  lab.reason = "lab network, any workload";
  DetectorException everywhere;
  everywhere.workload = "vector-db";
  everywhere.reason = "replication, any destination";
  cache.exceptions = {backup, lab, everywhere};
  rules.detectors.emplace_back("cache_dump", cache);
  const IpAddr ip = Ip("203.0.113.4");
  const Names backup_names = {"b1.backup.example.net"};

  const DetectorException* e = FindException(rules, "cache_dump", "admin-export", ip, backup_names);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->reason, "nightly backup");
  EXPECT_EQ(FindException(rules, "cache_dump", "crm-sync", ip, backup_names), nullptr);
  EXPECT_EQ(FindException(rules, "cache_dump", "admin-export", ip, {}), nullptr);
  e = FindException(rules, "cache_dump", "crm-sync", Ip("10.99.1.1"), {});
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->reason, "lab network, any workload");
  e = FindException(rules, "cache_dump", "vector-db", ip, {});
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->reason, "replication, any destination");
  // Without a destination (IpAddr{}, no names) only exceptions without `to` apply.
  EXPECT_EQ(FindException(rules, "cache_dump", "admin-export", IpAddr{}, {}), nullptr);
  EXPECT_NE(FindException(rules, "cache_dump", "vector-db", IpAddr{}, {}), nullptr);
  // Other detectors, and rules without detectors, have no exceptions.
  EXPECT_EQ(FindException(rules, "log_export", "vector-db", ip, {}), nullptr);
  EXPECT_EQ(FindException(RuleSet{}, "cache_dump", "vector-db", ip, {}), nullptr);
}

TEST(AllowlistTest, AgreesWithTheParsedRules) {
  const LoadResult r = LoadRules("rules/testdata/full.yaml");
  ASSERT_TRUE(r.ok());
  const Workload& worker = r.rules.workloads[2];
  const Names crm = {"acme.my.salesforce.com"};
  EXPECT_TRUE(EgressAllowed(worker, Ip("203.0.113.9"), 443, crm));
  EXPECT_TRUE(TlsRequired(worker, Ip("203.0.113.9"), 443, crm));
  EXPECT_TRUE(IsCrmPeer(r.rules, Ip("203.0.113.9"), crm));
  EXPECT_TRUE(IsCrmPeer(r.rules, Ip("192.0.2.1"), {}));
  ASSERT_NE(SinkFor(r.rules, Ip("198.51.100.30"), 514, {}), nullptr);
  EXPECT_EQ(SinkFor(r.rules, Ip("198.51.100.30"), 514, {})->kind, SinkDestination::Kind::kLog);
  EXPECT_NE(FindException(r.rules, "cache_dump", "learner", Ip("203.0.113.9"),
                          Names{"snap.backup.example.net"}),
            nullptr);
}

}  // namespace
}  // namespace sluice::detect
