#include "agent/state/dns_cache.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::state {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

using Address = DnsCache::Address;

Address V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d};
}

events::DnsAnswer A(const std::string& name, Address ip, uint32_t ttl = 300) {
  events::DnsAnswer a;
  a.name = name;
  a.type = events::kDnsTypeA;
  a.ttl = ttl;
  a.addr = ip;
  return a;
}

events::DnsAnswer Aaaa(const std::string& name, Address ip, uint32_t ttl = 300) {
  events::DnsAnswer a = A(name, ip, ttl);
  a.type = events::kDnsTypeAaaa;
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

events::DnsMessage Response(std::vector<std::string> questions,
                            std::vector<events::DnsAnswer> answers) {
  events::DnsMessage m;
  m.response = true;
  m.questions = std::move(questions);
  m.answers = std::move(answers);
  return m;
}

// One question, one A answer for it.
events::DnsMessage Simple(const std::string& name, Address ip, uint32_t ttl = 300) {
  return Response({name}, {A(name, ip, ttl)});
}

TEST(DnsCacheTest, AddressGetsQuestionAndCanonicalName) {
  DnsCache cache;
  cache.Observe(
      Response({"acme.my.salesforce.com"}, {Cname("acme.my.salesforce.com", "na1.salesforce.com"),
                                            A("na1.salesforce.com", V4(10, 1, 2, 3))}),
      0);
  EXPECT_THAT(cache.NamesFor(V4(10, 1, 2, 3), 1000),
              ElementsAre("acme.my.salesforce.com", "na1.salesforce.com"));
  EXPECT_THAT(cache.NamesFor(V4(10, 1, 2, 4), 1000), IsEmpty());
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.stats().entries, 1u);
}

TEST(DnsCacheTest, FollowsLongChainsInAnyOrder) {
  DnsCache cache;
  cache.Observe(
      Response({"login.salesforce.com"}, {A("na1.salesforce.com", V4(10, 1, 2, 3)),
                                          Cname("acme.my.salesforce.com", "na1.salesforce.com"),
                                          Cname("login.salesforce.com", "acme.my.salesforce.com")}),
      0);
  EXPECT_THAT(cache.NamesFor(V4(10, 1, 2, 3), 0),
              ElementsAre("login.salesforce.com", "acme.my.salesforce.com", "na1.salesforce.com"));
}

TEST(DnsCacheTest, ChainsAreHopLimited) {
  // q -> c1 -> ... -> c9 -> A: nine CNAMEs, more than the 8 hops followed from the question.
  std::vector<events::DnsAnswer> answers;
  std::string prev = "q.test";
  for (int i = 1; i <= 9; ++i) {
    std::string next = "c" + std::to_string(i) + ".test";
    answers.push_back(Cname(prev, next));
    prev = next;
  }
  answers.push_back(A(prev, V4(10, 0, 0, 9)));
  DnsCache cache;
  cache.Observe(Response({"q.test"}, answers), 0);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 9), 0), IsEmpty());
  EXPECT_EQ(cache.stats().unrelated, 1u);

  // Eight CNAMEs are followed; the per-address cap (8) keeps the names nearest the question.
  answers.erase(answers.end() - 2);  // drop c8 -> c9
  answers.back() = A("c8.test", V4(10, 0, 0, 8));
  cache.Observe(Response({"q.test"}, answers), 0);
  std::vector<std::string> names = cache.NamesFor(V4(10, 0, 0, 8), 0);
  ASSERT_EQ(names.size(), 8u);
  EXPECT_EQ(names.front(), "q.test");
  EXPECT_EQ(names.back(), "c7.test");
  EXPECT_EQ(cache.stats().names_capped, 1u);  // c8.test, the owner, was added first
}

TEST(DnsCacheTest, SeveralAliasesOfOneTarget) {
  DnsCache cache;
  cache.Observe(
      Response({"a.test", "b.test"}, {Cname("a.test", "lb.test"), Cname("b.test", "lb.test"),
                                      A("lb.test", V4(10, 0, 0, 1))}),
      0);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 0),
              UnorderedElementsAre("a.test", "b.test", "lb.test"));
}

TEST(DnsCacheTest, CnameCyclesEnd) {
  DnsCache cache;
  cache.Observe(Response({"a.test"}, {Cname("a.test", "b.test"), Cname("b.test", "a.test"),
                                      A("a.test", V4(10, 0, 0, 1))}),
                0);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 0), ElementsAre("b.test", "a.test"));
}

TEST(DnsCacheTest, AnswersNoQuestionLeadsToAreIgnored) {
  // A forged or stray record appended to the answer for x.evil.test must not name the address
  // after another domain, neither as an address record nor as an alias of the real answer.
  DnsCache cache;
  cache.Observe(Response({"x.evil.test"}, {A("x.evil.test", V4(203, 0, 113, 66)),
                                           Cname("api.salesforce.com", "x.evil.test"),
                                           A("login.salesforce.com", V4(203, 0, 113, 67))}),
                0);
  EXPECT_THAT(cache.NamesFor(V4(203, 0, 113, 66), 0), ElementsAre("x.evil.test"));
  EXPECT_THAT(cache.NamesFor(V4(203, 0, 113, 67), 0), IsEmpty());
  EXPECT_EQ(cache.stats().unrelated, 1u);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(DnsCacheTest, UnrelatedAnswersCanBeLearnedWhenAskedTo) {
  DnsCache cache(DnsCache::Options{.only_question_chains = false});
  cache.Observe(Response({}, {Cname("www.test", "cdn.test"), A("cdn.test", V4(10, 0, 0, 1))}), 0);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 0), ElementsAre("www.test", "cdn.test"));
}

TEST(DnsCacheTest, TtlIsClampedAndNamesExpire) {
  DnsCache cache(DnsCache::Options{.min_ttl_s = 60, .max_ttl_s = 600});
  cache.Observe(Simple("zero.test", V4(10, 0, 0, 1), 0), 1000);
  cache.Observe(Simple("huge.test", V4(10, 0, 0, 2), 4000000000u), 1000);
  cache.Observe(Simple("mid.test", V4(10, 0, 0, 3), 120), 1000);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 60'999), ElementsAre("zero.test"));
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 61'000), IsEmpty());
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 2), 600'999), ElementsAre("huge.test"));
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 2), 601'000), IsEmpty());
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 3), 120'999), ElementsAre("mid.test"));
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 3), 121'000), IsEmpty());
  // NamesFor is const: the addresses stay until something drops them.
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.Purge(601'000), 3u);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.memory_bytes(), 0u);
  EXPECT_EQ(cache.stats().expired, 3u);
  EXPECT_EQ(cache.stats().evictions, 0u);
}

TEST(DnsCacheTest, MinimumAboveMaximumIsTheMinimum) {
  DnsCache cache(DnsCache::Options{.min_ttl_s = 120, .max_ttl_s = 60});
  cache.Observe(Simple("x.test", V4(10, 0, 0, 1), 1), 0);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 119'999), ElementsAre("x.test"));
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 120'000), IsEmpty());
}

TEST(DnsCacheTest, OnlyExpiredNamesOfAnAddressGo) {
  DnsCache cache;
  cache.Observe(Simple("old.test", V4(10, 0, 0, 1), 60), 0);
  cache.Observe(Simple("new.test", V4(10, 0, 0, 1), 600), 30'000);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 59'999), ElementsAre("new.test", "old.test"));
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 60'000), ElementsAre("new.test"));
  // A new answer for the address drops its expired names.
  const size_t with_two = cache.memory_bytes();
  cache.Observe(Simple("new.test", V4(10, 0, 0, 1), 600), 70'000);
  EXPECT_EQ(cache.stats().expired, 1u);
  EXPECT_LT(cache.memory_bytes(), with_two);
}

TEST(DnsCacheTest, ARepeatedAnswerRefreshesTheName) {
  DnsCache cache;
  cache.Observe(Simple("a.test", V4(10, 0, 0, 1), 60), 0);
  cache.Observe(Simple("b.test", V4(10, 0, 0, 1), 60), 0);
  const size_t two_names = cache.memory_bytes();
  cache.Observe(Simple("a.test", V4(10, 0, 0, 1), 60), 50'000);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 50'000), ElementsAre("a.test", "b.test"));
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 100'000), ElementsAre("a.test"));
  EXPECT_EQ(cache.memory_bytes(), two_names);  // refreshed, not added again
}

TEST(DnsCacheTest, LeastRecentlyAnsweredAddressIsEvicted) {
  DnsCache cache(DnsCache::Options{.max_addresses = 2});
  cache.Observe(Simple("one.test", V4(10, 0, 0, 1)), 0);
  cache.Observe(Simple("two.test", V4(10, 0, 0, 2)), 0);
  cache.Observe(Simple("one.test", V4(10, 0, 0, 1)), 1);  // answered again: most recent
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 2), 1), ElementsAre("two.test"));  // not a use
  cache.Observe(Simple("three.test", V4(10, 0, 0, 3)), 2);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 2), 2), IsEmpty());
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 2), ElementsAre("one.test"));
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 3), 2), ElementsAre("three.test"));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.stats().entries, 3u);
  EXPECT_EQ(cache.stats().evictions, 1u);
}

TEST(DnsCacheTest, ExpiredAddressesAreDroppedAsTheCacheIsUsed) {
  DnsCache cache(DnsCache::Options{.max_addresses = 100});
  for (uint8_t i = 0; i < 10; ++i) cache.Observe(Simple("x.test", V4(10, 0, 0, i), 60), 0);
  EXPECT_EQ(cache.size(), 10u);
  // Each later answer checks a few of the least recently answered addresses.
  for (uint8_t i = 0; i < 3; ++i) cache.Observe(Simple("y.test", V4(10, 0, 1, i), 60), 60'000);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.stats().expired, 10u);
  EXPECT_EQ(cache.stats().evictions, 0u);
}

TEST(DnsCacheTest, FullCacheDropsExpiredBeforeLive) {
  DnsCache cache(DnsCache::Options{.max_addresses = 1});
  cache.Observe(Simple("one.test", V4(10, 0, 0, 1), 60), 0);
  cache.Observe(Simple("two.test", V4(10, 0, 0, 2), 60), 61'000);
  EXPECT_EQ(cache.stats().evictions, 0u);
  EXPECT_EQ(cache.stats().expired, 1u);
  cache.Observe(Simple("three.test", V4(10, 0, 0, 3), 60), 62'000);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 3), 62'000), ElementsAre("three.test"));
}

TEST(DnsCacheTest, NamesPerAddressAreCappedMostRecentFirst) {
  DnsCache cache(DnsCache::Options{.max_names_per_address = 2});
  for (const char* n : {"a.test", "b.test", "c.test"}) {
    cache.Observe(Simple(n, V4(10, 0, 0, 1)), 0);
  }
  const size_t two_names = cache.memory_bytes();
  cache.Observe(Simple("d.test", V4(10, 0, 0, 1)), 0);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 0), ElementsAre("d.test", "c.test"));
  EXPECT_EQ(cache.stats().names_capped, 2u);
  EXPECT_EQ(cache.memory_bytes(), two_names);
}

TEST(DnsCacheTest, MemoryIsBudgeted) {
  const std::string long_name = std::string(200, 'x') + ".test";
  DnsCache probe;
  probe.Observe(Simple(long_name, V4(10, 0, 0, 0)), 0);
  const size_t per_address = probe.memory_bytes();
  EXPECT_GT(per_address, long_name.size());

  DnsCache cache(DnsCache::Options{.max_memory_bytes = 3 * per_address});
  for (uint8_t i = 0; i < 5; ++i) cache.Observe(Simple(long_name, V4(10, 0, 0, i)), 0);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.memory_bytes(), 3 * per_address);
  EXPECT_EQ(cache.stats().evictions, 2u);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 0), 0), IsEmpty());
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 4), 0), ElementsAre(long_name));
  EXPECT_EQ(cache.Purge(1'000'000'000), 3u);
  EXPECT_EQ(cache.memory_bytes(), 0u);
}

TEST(DnsCacheTest, QueriesErrorsAndOtherOpcodesAreIgnored) {
  DnsCache cache;
  events::DnsMessage q = Simple("x.test", V4(10, 0, 0, 1));
  q.response = false;
  cache.Observe(q, 0);
  events::DnsMessage nx = Simple("y.test", V4(10, 0, 0, 2));
  nx.rcode = 3;
  cache.Observe(nx, 0);
  events::DnsMessage update = Simple("z.test", V4(10, 0, 0, 3));
  update.opcode = 5;
  cache.Observe(update, 0);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(DnsCacheTest, V4AndV6AreDistinctAddresses) {
  DnsCache cache;
  const Address v6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  // ::a00:1 (IPv4-compatible form) is not 10.0.0.1.
  const Address compat{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1};
  cache.Observe(Response({"dual.test"}, {A("dual.test", V4(10, 0, 0, 1)), Aaaa("dual.test", v6)}),
                0);
  EXPECT_THAT(cache.NamesFor(V4(10, 0, 0, 1), 0), ElementsAre("dual.test"));
  EXPECT_THAT(cache.NamesFor(v6, 0), ElementsAre("dual.test"));
  EXPECT_THAT(cache.NamesFor(compat, 0), IsEmpty());
  EXPECT_EQ(cache.size(), 2u);
}

TEST(DnsCacheTest, ZeroLimitsDisableTheCache) {
  DnsCache cache(DnsCache::Options{.max_addresses = 0});
  cache.Observe(Simple("x.test", V4(10, 0, 0, 1)), 0);
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace sluice::state
