#include "agent/enforce/name_grants.h"

#include <arpa/inet.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::enforce {
namespace {

detect::IpAddr Ip(const std::string& text) { return *detect::ParseIp(text); }

std::vector<std::pair<uint16_t, uint16_t>> Ranges(const AllowWrite& w) {
  std::vector<std::pair<uint16_t, uint16_t>> out;
  for (uint32_t i = 0; i < w.value->nranges; ++i) {
    out.emplace_back(w.value->ranges[i].lo, w.value->ranges[i].hi);
  }
  return out;
}

constexpr char kRules[] = R"(version: 1
workloads:
  - name: sync
    mode: enforce
    selector: {cgroup: /sync}
    egress:
      allow:
        - {host: "*.my.salesforce.com", ports: [443]}
        - {cidr: 198.51.100.0/24, ports: [8443]}
        - {cidr: 198.51.100.7/32, ports: [22]}
  - name: other
    selector: {cgroup: /other}
    egress:
      allow:
        - {host: "api.example.com"}
)";

TEST(NameGrantsTest, AnswersEarnAddressesForMatchingHostEntries) {
  auto loaded = detect::ParseRules(kRules, "g.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors[0].ToString();
  NameGrants g;
  EXPECT_TRUE(g.Reset(&loaded.rules, 32).empty());

  // A name no host entry matches earns nothing.
  EXPECT_TRUE(g.Observe(Ip("203.0.113.5"), {"paste.evil.test"}, 10'000).empty());
  // A CRM name: workload 0, kernel id 32 + 0, port 443 only.
  auto w = g.Observe(Ip("203.0.113.9"), {"acme.my.salesforce.com"}, 10'000);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(ntohl(w[0].key.workload_id), 32u);
  EXPECT_EQ(w[0].key.prefixlen, 160u);
  EXPECT_EQ(detect::IpAddr{std::to_array(w[0].key.addr)}, Ip("203.0.113.9"));
  EXPECT_THAT(Ranges(w[0]), ::testing::ElementsAre(std::make_pair(443, 443)));
  // The same answer again: nothing to write, the grant is only extended.
  EXPECT_TRUE(g.Observe(Ip("203.0.113.9"), {"acme.my.salesforce.com"}, 20'000).empty());
  EXPECT_TRUE(g.Expire(15'000).empty());

  // Inside a CIDR entry of the same workload: the /128 carries that entry's ports too (the
  // kernel sees only the longest prefix).
  w = g.Observe(Ip("198.51.100.9"), {"eu.my.salesforce.com"}, 10'000);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_THAT(Ranges(w[0]),
              ::testing::ElementsAre(std::make_pair(443, 443), std::make_pair(8443, 8443)));
  // An address with an exact /128 entry of its own: on expiry it is restored, not deleted.
  w = g.Observe(Ip("198.51.100.7"), {"na.my.salesforce.com"}, 10'000);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_THAT(Ranges(w[0]), ::testing::ElementsAre(std::make_pair(22, 22), std::make_pair(443, 443),
                                                   std::make_pair(8443, 8443)));
  // Any port for a host entry without ports; both workloads when both match.
  w = g.Observe(Ip("192.0.2.1"), {"api.example.com", "x.my.salesforce.com"}, 10'000);
  ASSERT_EQ(w.size(), 2u);

  auto ended = g.Expire(12'000);  // all but 203.0.113.9 (extended to 20 s)
  ASSERT_EQ(ended.size(), 4u);
  int restored = 0;
  for (const AllowWrite& e : ended) {
    if (e.value) {
      ++restored;
      EXPECT_EQ(detect::IpAddr{std::to_array(e.key.addr)}, Ip("198.51.100.7"));
      EXPECT_THAT(Ranges(e), ::testing::ElementsAre(std::make_pair(22, 22),
                                                    std::make_pair(8443, 8443)));
    }
  }
  EXPECT_EQ(restored, 1);
  EXPECT_EQ(g.size(), 1u);
  // Loopback never earns anything; Reset returns the deletes of what is left.
  EXPECT_TRUE(g.Observe(Ip("127.0.0.1"), {"api.example.com"}, 99'000).empty());
  auto reset = g.Reset(&loaded.rules, 0);
  ASSERT_EQ(reset.size(), 1u);
  EXPECT_FALSE(reset[0].value.has_value());
  EXPECT_EQ(g.size(), 0u);
}

}  // namespace
}  // namespace sluice::enforce
