#include "agent/enforce/exempt.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::enforce {
namespace {

using ::testing::ElementsAre;

TEST(ParseResolversTest, NameserverLines) {
  const auto r = ParseResolvers(
      "# generated\nsearch lab.test\nnameserver 10.0.0.53\nnameserver\tfe80::1%eth0\n"
      "nameserver 10.0.0.53\nnameserver not-an-ip\n  nameserver 127.0.0.53  \noptions edns0\n");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].ToString(), "10.0.0.53");
  EXPECT_EQ(r[1].ToString(), "fe80::1");
  EXPECT_EQ(r[2].ToString(), "127.0.0.53");
  EXPECT_TRUE(ParseResolvers("").empty());
}

TEST(ExemptionsForTest, ResolversAndCidrSinks) {
  auto loaded = detect::ParseRules(R"(version: 1
sinks:
  - {name: siem, kind: siem, cidr: 10.40.0.0/24, ports: [6514, 8088]}
  - {name: logs, kind: log, cidr: "2001:db8::9/128"}
  - {name: hec, kind: siem, host: "hec.example.com", ports: [443]}
)",
                                   "x.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors[0].ToString();
  std::vector<std::string> skipped;
  const auto e = ExemptionsFor(loaded.rules, ParseResolvers("nameserver 192.0.2.53\n"), &skipped);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].cidr.ToString(), "192.0.2.53/32");
  EXPECT_THAT(e[0].ports, ElementsAre(detect::PortRange{53, 53}));
  EXPECT_EQ(e[1].cidr.ToString(), "10.40.0.0/24");
  EXPECT_THAT(e[1].ports, ElementsAre(detect::PortRange{6514, 6514}, detect::PortRange{8088, 8088}));
  EXPECT_EQ(e[1].why, "sink siem");
  EXPECT_EQ(e[2].cidr.ToString(), "2001:db8::9/128");
  EXPECT_THAT(e[2].ports, ElementsAre(detect::PortRange{0, 65535}));
  EXPECT_THAT(skipped, ElementsAre("sink hec (hec.example.com)"));

  // A resolver inside a sink's prefix keeps the sink's ports too.
  const auto inside = ExemptionsFor(loaded.rules, ParseResolvers("nameserver 10.40.0.53\n"), nullptr);
  EXPECT_THAT(inside[0].ports, ElementsAre(detect::PortRange{53, 53}, detect::PortRange{6514, 6514},
                                           detect::PortRange{8088, 8088}));
}

}  // namespace
}  // namespace sluice::enforce
