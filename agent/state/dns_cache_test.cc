#include "agent/state/dns_cache.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::state {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::array<uint8_t, 16> V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d};
}

events::DnsAnswer A(const std::string& name, std::array<uint8_t, 16> ip, uint32_t ttl = 300) {
  events::DnsAnswer a;
  a.name = name;
  a.type = events::kDnsTypeA;
  a.ttl = ttl;
  a.addr = ip;
  return a;
}

events::DnsAnswer Cname(const std::string& name, const std::string& target) {
  events::DnsAnswer a;
  a.name = name;
  a.type = events::kDnsTypeCname;
  a.ttl = 300;
  a.cname = target;
  return a;
}

events::DnsMessage Response(std::vector<events::DnsAnswer> answers) {
  events::DnsMessage m;
  m.response = true;
  m.answers = std::move(answers);
  return m;
}

TEST(DnsCacheTest, FollowsCnameChains) {
  DnsCache cache;
  cache.Observe(Response({Cname("login.salesforce.com", "acme.my.salesforce.com"),
                          Cname("acme.my.salesforce.com", "na1.salesforce.com"),
                          A("na1.salesforce.com", V4(10, 1, 2, 3))}),
                0);
  EXPECT_THAT(cache.NamesFor(V4(10, 1, 2, 3), 1000),
              ElementsAre("login.salesforce.com", "acme.my.salesforce.com", "na1.salesforce.com"));
  EXPECT_THAT(cache.NamesFor(V4(10, 1, 2, 4), 1000), IsEmpty());
}

TEST(DnsCacheTest, CnameCyclesEnd) {
  DnsCache cache;
  cache.Observe(Response({Cname("a.test", "b.test"), Cname("b.test", "a.test"),
                          A("a.test", V4(10, 0, 0, 1))}),
                0);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 0), ElementsAre("b.test", "a.test"));
}

TEST(DnsCacheTest, TtlIsClampedAndNamesExpire) {
  DnsCache cache(DnsCache::Options{.max_addresses = 16, .max_names_per_address = 8,
                                   .min_ttl_s = 60, .max_ttl_s = 600});
  cache.Observe(Response({A("zero.test", V4(10, 0, 0, 1), 0),
                          A("huge.test", V4(10, 0, 0, 2), 4000000000u)}),
                0);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 59'000), ElementsAre("zero.test"));
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 60'000), IsEmpty());
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 2), 599'000), ElementsAre("huge.test"));
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 2), 600'000), IsEmpty());
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.stats().expired, 2u);
}

TEST(DnsCacheTest, LeastRecentlyUsedAddressIsEvicted) {
  DnsCache cache(DnsCache::Options{.max_addresses = 2});
  cache.Observe(Response({A("one.test", V4(10, 0, 0, 1))}), 0);
  cache.Observe(Response({A("two.test", V4(10, 0, 0, 2))}), 0);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 0), ElementsAre("one.test"));  // now most recent
  cache.Observe(Response({A("three.test", V4(10, 0, 0, 3))}), 0);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 2), 0), IsEmpty());
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 0), ElementsAre("one.test"));
  EXPECT_EQ(cache.stats().evictions, 1u);
}

TEST(DnsCacheTest, NamesPerAddressAreCappedMostRecentFirst) {
  DnsCache cache(DnsCache::Options{.max_names_per_address = 2});
  for (const char* n : {"a.test", "b.test", "c.test"}) {
    cache.Observe(Response({A(n, V4(10, 0, 0, 1))}), 0);
  }
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 0), ElementsAre("c.test", "b.test"));
}

TEST(DnsCacheTest, QueriesAndErrorsAreIgnored) {
  DnsCache cache;
  events::DnsMessage q = Response({A("x.test", V4(10, 0, 0, 1))});
  q.response = false;
  cache.Observe(q, 0);
  events::DnsMessage nx = Response({A("y.test", V4(10, 0, 0, 2))});
  nx.rcode = 3;
  cache.Observe(nx, 0);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(DnsCacheTest, Ipv6) {
  DnsCache cache;
  events::DnsAnswer a = A("v6.test", {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  a.type = events::kDnsTypeAaaa;
  cache.Observe(Response({a}), 0);
  EXPECT_THAT(cache.NamesFor(a.addr, 0), ElementsAre("v6.test"));
}

}  // namespace
}  // namespace sluice::state
