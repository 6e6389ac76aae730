#include "agent/events/dns.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::events {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Builds DNS messages for the tests.
class Msg {
 public:
  Msg(uint16_t qd, uint16_t an, uint16_t flags = 0x8180) {
    b_ = {0xab, 0xcd, static_cast<uint8_t>(flags >> 8), static_cast<uint8_t>(flags),
          0, static_cast<uint8_t>(qd), 0, static_cast<uint8_t>(an), 0, 0, 0, 0};
  }
  // Appends a name in wire form; returns its offset.
  size_t Name(const std::vector<std::string>& labels) {
    size_t off = b_.size();
    for (const auto& l : labels) {
      b_.push_back(static_cast<uint8_t>(l.size()));
      b_.insert(b_.end(), l.begin(), l.end());
    }
    b_.push_back(0);
    return off;
  }
  void Ptr(size_t off) {
    b_.push_back(static_cast<uint8_t>(0xc0 | (off >> 8)));
    b_.push_back(static_cast<uint8_t>(off));
  }
  void U16(uint16_t v) {
    b_.push_back(static_cast<uint8_t>(v >> 8));
    b_.push_back(static_cast<uint8_t>(v));
  }
  void U32(uint32_t v) {
    U16(static_cast<uint16_t>(v >> 16));
    U16(static_cast<uint16_t>(v));
  }
  void Raw(std::initializer_list<uint8_t> v) { b_.insert(b_.end(), v); }
  void RecordHeader(uint16_t type, uint32_t ttl, uint16_t rdlength) {
    U16(type);
    U16(1);
    U32(ttl);
    U16(rdlength);
  }
  std::vector<uint8_t>& bytes() { return b_; }

 private:
  std::vector<uint8_t> b_;
};

// acme.my.salesforce.com CNAME na1.salesforce.com; na1.salesforce.com A 10.1.2.3, AAAA 2001:db8::7
std::vector<uint8_t> ChainAnswer() {
  Msg m(1, 3);
  size_t q = m.Name({"ACME", "my", "salesforce", "com"});
  m.U16(1);
  m.U16(1);
  m.Ptr(q);
  m.RecordHeader(kDnsTypeCname, 300, 6);
  const size_t target = m.bytes().size();
  m.Raw({3, 'n', 'a', '1'});
  m.Ptr(q + 8);  // "salesforce.com" inside the question
  m.Ptr(target);
  m.RecordHeader(kDnsTypeA, 60, 4);
  m.Raw({10, 1, 2, 3});
  m.Ptr(target);
  m.RecordHeader(kDnsTypeAaaa, 60, 16);
  m.Raw({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7});
  return m.bytes();
}

TEST(DnsParseTest, CnameChainWithCompression) {
  auto m = ParseDnsMessage(ChainAnswer());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->response);
  EXPECT_FALSE(m->truncated);
  EXPECT_EQ(m->id, 0xabcd);
  EXPECT_THAT(m->questions, ElementsAre("acme.my.salesforce.com"));
  ASSERT_EQ(m->answers.size(), 3u);
  EXPECT_EQ(m->answers[0].type, kDnsTypeCname);
  EXPECT_EQ(m->answers[0].name, "acme.my.salesforce.com");
  EXPECT_EQ(m->answers[0].cname, "na1.salesforce.com");
  EXPECT_EQ(m->answers[0].ttl, 300u);
  EXPECT_EQ(m->answers[1].name, "na1.salesforce.com");
  std::array<uint8_t, 16> v4{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  EXPECT_EQ(m->answers[1].addr, v4);
  EXPECT_EQ(m->answers[2].addr[15], 7);
}

TEST(DnsParseTest, TruncatedAtEveryOffsetNeverCrashesOrInventsData) {
  const std::vector<uint8_t> full = ChainAnswer();
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + n);
    auto m = ParseDnsMessage(cut);
    if (!m.ok()) continue;  // header or question cut: rejected
    EXPECT_TRUE(m->truncated) << n;
    EXPECT_LT(m->answers.size(), 3u) << n;
    for (const auto& a : m->answers) {
      // Whatever was returned was complete: the same as in the full parse.
      auto whole = ParseDnsMessage(full);
      EXPECT_NE(std::find(whole->answers.begin(), whole->answers.end(), a), whole->answers.end());
    }
  }
}

TEST(DnsParseTest, PointerLoopsAndForwardPointersAreRejected) {
  Msg self(1, 0);
  self.Ptr(12);  // points at itself
  self.U16(1);
  self.U16(1);
  auto m = ParseDnsMessage(self.bytes());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("offset 12: compression pointer does not point backwards"));

  Msg fwd(1, 0);
  fwd.Ptr(40);
  fwd.U16(1);
  fwd.U16(1);
  EXPECT_FALSE(ParseDnsMessage(fwd.bytes()).ok());
}

TEST(DnsParseTest, TooManyPointerHops) {
  // Answer 1 (an unknown type, skipped) carries in its RDATA a chain of 20 pointers, each to
  // the previous one, the first to the question's name; answer 2's owner is the last pointer.
  Msg m(1, 2);
  const size_t q = m.Name({"a"});
  m.U16(1);
  m.U16(1);
  m.Ptr(q);
  m.RecordHeader(99, 1, 40);
  const size_t chain = m.bytes().size();
  m.Ptr(q);
  for (int i = 1; i < 20; ++i) m.Ptr(chain + 2 * (i - 1));
  m.Ptr(chain + 38);
  m.RecordHeader(kDnsTypeA, 1, 4);
  m.Raw({1, 2, 3, 4});
  auto r = ParseDnsMessage(m.bytes());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("too many compression pointers"));
}

TEST(DnsParseTest, OversizeLabelsAndNames) {
  Msg m(1, 0);
  m.Raw({64});
  m.bytes().insert(m.bytes().end(), 64, 'a');
  m.Raw({0, 0, 1, 0, 1});
  auto r = ParseDnsMessage(m.bytes());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("reserved label type"));  // 64 = 0x40

  Msg big(1, 0);
  std::vector<std::string> labels(5, std::string(63, 'x'));
  big.Name(labels);  // 5 * 64 + 1 > 255
  big.U16(1);
  big.U16(1);
  r = ParseDnsMessage(big.bytes());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("name longer than 255 bytes"));
}

TEST(DnsParseTest, BadRdlengthIsRejected) {
  Msg m(0, 1);
  m.Name({"x"});
  m.RecordHeader(kDnsTypeA, 1, 5);
  m.Raw({1, 2, 3, 4, 5});
  auto r = ParseDnsMessage(m.bytes());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("A record with RDLENGTH other than 4"));
}

TEST(DnsParseTest, OddBytesInLabelsAreEscaped) {
  Msg m(1, 0);
  m.Raw({3, 'a', '.', 0x07, 3, 'c', 'o', 'm', 0, 0, 1, 0, 1});
  auto r = ParseDnsMessage(m.bytes());
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->questions, ElementsAre("a\\046\\007.com"));
}

TEST(DnsParseTest, QueriesAndShortInput) {
  Msg q(1, 0, 0x0100);
  q.Name({"example", "test"});
  q.U16(1);
  q.U16(1);
  auto r = ParseDnsMessage(q.bytes());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->response);
  EXPECT_FALSE(ParseDnsMessage(std::vector<uint8_t>{1, 2, 3}).ok());
}

TEST(DnsParseTest, AnswerCountIsCapped) {
  Msg m(0, 200);
  for (int i = 0; i < 200; ++i) {
    m.Name({"x"});
    m.RecordHeader(kDnsTypeA, 1, 4);
    m.Raw({1, 2, 3, static_cast<uint8_t>(i)});
  }
  auto r = ParseDnsMessage(m.bytes());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->answers.size(), kDnsMaxAnswers);
}

}  // namespace
}  // namespace sluice::events
