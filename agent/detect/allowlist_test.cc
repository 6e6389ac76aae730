#include "agent/detect/allowlist.h"

#include <string>
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

}  // namespace
}  // namespace sluice::detect
