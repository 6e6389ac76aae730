#include "agent/events/dns.h"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::events {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Builds DNS messages for the tests.
class Msg {
 public:
  explicit Msg(uint16_t qd, uint16_t an, uint16_t flags = 0x8180) {
    U16(0xabcd);
    U16(flags);
    U16(qd);
    U16(an);
    U16(0);
    U16(0);
  }
  // Appends a name in wire form; returns its offset.
  size_t Name(const std::vector<std::string>& labels) {
    const size_t off = b_.size();
    for (const auto& l : labels) {
      b_.push_back(static_cast<uint8_t>(l.size()));
      b_.insert(b_.end(), l.begin(), l.end());
    }
    b_.push_back(0);
    return off;
  }
  void Question(const std::vector<std::string>& labels) {
    Name(labels);
    U16(kDnsTypeA);
    U16(1);
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
  void RecordHeader(uint16_t type, uint32_t ttl, uint16_t rdlength, uint16_t klass = 1) {
    U16(type);
    U16(klass);
    U32(ttl);
    U16(rdlength);
  }
  size_t size() const { return b_.size(); }
  std::vector<uint8_t>& bytes() { return b_; }

 private:
  std::vector<uint8_t> b_;
};

constexpr std::array<uint8_t, 16> kV4{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
constexpr std::array<uint8_t, 16> kV6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};

// Question ACME.my.salesforce.com; acme.my.salesforce.com CNAME na1.salesforce.com;
// na1.salesforce.com A 10.1.2.3 and AAAA 2001:db8::7. Every later name is compressed.
// `end_of_questions` receives the offset where the answer section starts.
std::vector<uint8_t> ChainAnswer(size_t* end_of_questions = nullptr) {
  Msg m(1, 3);
  const size_t q = m.Name({"ACME", "my", "salesforce", "com"});
  m.U16(1);
  m.U16(1);
  if (end_of_questions != nullptr) *end_of_questions = m.size();
  m.Ptr(q);
  m.RecordHeader(kDnsTypeCname, 300, 6);
  const size_t target = m.size();
  m.Raw({3, 'n', 'a', '1'});
  m.Ptr(q + 8);  // "salesforce.com" inside the question
  m.Ptr(target);
  m.RecordHeader(kDnsTypeA, 60, 4);
  m.Raw({10, 1, 2, 3});
  m.Ptr(target);
  m.RecordHeader(kDnsTypeAaaa, 60, 16);
  m.bytes().insert(m.bytes().end(), kV6.begin(), kV6.end());
  return m.bytes();
}

std::string ErrorOf(const absl::StatusOr<DnsMessage>& r) {
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  return std::string(r.status().message());
}

// Every name the parser returns is in presentation form: printable ASCII, no upper case.
void ExpectPresentationForm(const std::string& name) {
  for (char c : name) {
    ASSERT_GT(c, 0x20) << name;
    ASSERT_LT(c, 0x7f) << name;
    ASSERT_FALSE(c >= 'A' && c <= 'Z') << name;
  }
}

TEST(DnsParseTest, CnameChainWithCompression) {
  auto m = ParseDnsMessage(ChainAnswer());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->response);
  EXPECT_FALSE(m->truncated);
  EXPECT_EQ(m->id, 0xabcd);
  EXPECT_EQ(m->opcode, 0);
  EXPECT_EQ(m->rcode, 0);
  EXPECT_THAT(m->questions, ElementsAre("acme.my.salesforce.com"));
  ASSERT_EQ(m->answers.size(), 3u);
  EXPECT_EQ(m->answers[0].type, kDnsTypeCname);
  EXPECT_EQ(m->answers[0].name, "acme.my.salesforce.com");
  EXPECT_EQ(m->answers[0].cname, "na1.salesforce.com");
  EXPECT_EQ(m->answers[0].ttl, 300u);
  EXPECT_EQ(m->answers[1].type, kDnsTypeA);
  EXPECT_EQ(m->answers[1].name, "na1.salesforce.com");
  EXPECT_EQ(m->answers[1].ttl, 60u);
  EXPECT_EQ(m->answers[1].addr, kV4);
  EXPECT_THAT(m->answers[1].cname, IsEmpty());
  EXPECT_EQ(m->answers[2].type, kDnsTypeAaaa);
  EXPECT_EQ(m->answers[2].name, "na1.salesforce.com");
  EXPECT_EQ(m->answers[2].addr, kV6);
}

TEST(DnsParseTest, HeaderFields) {
  Msg m(0, 0, 0x8000 | (2 << 11) | 0x0200 | 3);  // response, opcode 2, TC, NXDOMAIN
  auto r = ParseDnsMessage(m.bytes());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->response);
  EXPECT_EQ(r->opcode, 2);
  EXPECT_EQ(r->rcode, 3);
  EXPECT_FALSE(r->truncated);  // TC is the server's business; `truncated` means cut by the copy
  EXPECT_THAT(r->questions, IsEmpty());
  EXPECT_THAT(r->answers, IsEmpty());
}

TEST(DnsParseTest, QueriesParseAsNonResponses) {
  Msg q(1, 0, 0x0100);
  q.Question({"example", "test"});
  auto r = ParseDnsMessage(q.bytes());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->response);
  EXPECT_THAT(r->questions, ElementsAre("example.test"));
}

TEST(DnsParseTest, ShortHeaderIsRejected) {
  EXPECT_THAT(ErrorOf(ParseDnsMessage({})), HasSubstr("dns: offset 0: message shorter"));
  EXPECT_THAT(ErrorOf(ParseDnsMessage(std::vector<uint8_t>{1, 2, 3})),
              HasSubstr("dns: offset 3: message shorter than the 12-byte header"));
}

TEST(DnsParseTest, TruncatedAtEveryOffsetKeepsOnlyCompleteRecords) {
  size_t end_of_questions = 0;
  const std::vector<uint8_t> full = ChainAnswer(&end_of_questions);
  auto whole = ParseDnsMessage(full);
  ASSERT_TRUE(whole.ok());
  size_t previous_answers = 0;
  for (size_t n = 0; n < full.size(); ++n) {
    const std::vector<uint8_t> cut(full.begin(), full.begin() + n);
    auto m = ParseDnsMessage(cut);
    if (n < end_of_questions) {
      // Header or question cut: unusable.
      EXPECT_FALSE(m.ok()) << n;
      EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << n;
      continue;
    }
    ASSERT_TRUE(m.ok()) << n << ": " << m.status();
    EXPECT_TRUE(m->truncated) << n;
    EXPECT_EQ(m->questions, whole->questions) << n;
    // Exactly the records that fit, each identical to its parse in the whole message.
    ASSERT_LT(m->answers.size(), whole->answers.size()) << n;
    EXPECT_TRUE(std::equal(m->answers.begin(), m->answers.end(), whole->answers.begin())) << n;
    EXPECT_GE(m->answers.size(), previous_answers) << n;
    previous_answers = m->answers.size();
  }
  EXPECT_EQ(previous_answers, 2u);  // cut inside the last record
}

TEST(DnsParseTest, ErrorsCarryTheOffset) {
  Msg self(1, 0);
  self.Ptr(12);  // points at itself
  self.U16(1);
  self.U16(1);
  EXPECT_EQ(ErrorOf(ParseDnsMessage(self.bytes())), "dns: offset 12: compression pointer loop");
}

TEST(DnsParseTest, PointerIntoTheNameBeingReadIsALoop) {
  // "a" then a pointer back to the start of the same name: backwards, but a loop.
  Msg m(1, 0);
  m.Raw({1, 'a'});
  m.Ptr(12);
  m.U16(1);
  m.U16(1);
  EXPECT_EQ(ErrorOf(ParseDnsMessage(m.bytes())), "dns: offset 14: compression pointer loop");
}

TEST(DnsParseTest, LoopThroughAnEarlierPointerIsRejected) {
  // The second answer's owner (offset 32) points back at offset 30, the RDATA of a skipped
  // record, which points forward to the owner again. The forward pointer is rejected.
  Msg m(1, 2);
  m.Question({"q"});  // 12..18
  m.Name({});         // 19: root owner of a record of unknown type
  m.RecordHeader(99, 1, 2);
  ASSERT_EQ(m.size(), 30u);
  m.Ptr(32);
  m.Ptr(30);
  m.RecordHeader(kDnsTypeA, 1, 4);
  m.Raw({1, 2, 3, 4});
  EXPECT_EQ(ErrorOf(ParseDnsMessage(m.bytes())), "dns: offset 30: forward compression pointer");
}

TEST(DnsParseTest, ForwardPointerIsRejected) {
  Msg fwd(1, 0);
  fwd.Ptr(40);
  fwd.U16(1);
  fwd.U16(1);
  fwd.bytes().resize(60, 0);
  EXPECT_EQ(ErrorOf(ParseDnsMessage(fwd.bytes())), "dns: offset 12: forward compression pointer");
}

// Question "a"; answer 1 (type 99, skipped) carries in its RDATA `n` pointers, the first to the
// question's name and each later one to the one before; answer 2's owner points at the last, so
// reading it follows n + 1 pointers.
std::vector<uint8_t> PointerChain(int n) {
  Msg m(1, 2);
  const size_t q = m.Name({"a"});
  m.U16(1);
  m.U16(1);
  m.Ptr(q);
  m.RecordHeader(99, 1, static_cast<uint16_t>(2 * n));
  const size_t chain = m.size();
  m.Ptr(q);
  for (int i = 1; i < n; ++i) m.Ptr(chain + 2 * (i - 1));
  m.Ptr(chain + 2 * (n - 1));
  m.RecordHeader(kDnsTypeA, 1, 4);
  m.Raw({1, 2, 3, 4});
  return m.bytes();
}

TEST(DnsParseTest, PointerHopsAreLimited) {
  auto ok = ParseDnsMessage(PointerChain(kDnsMaxPointerHops - 1));
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->answers.size(), 1u);
  EXPECT_EQ(ok->answers[0].name, "a");
  EXPECT_THAT(ErrorOf(ParseDnsMessage(PointerChain(kDnsMaxPointerHops))),
              HasSubstr("too many compression pointers"));
}

TEST(DnsParseTest, LabelOf63IsFine64IsRejected) {
  Msg ok(1, 0);
  ok.Question({std::string(63, 'a'), "test"});
  auto r = ParseDnsMessage(ok.bytes());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->questions[0].size(), 63u + 5);

  Msg m(1, 0);
  m.Raw({64});
  m.bytes().insert(m.bytes().end(), 64, 'a');
  m.Raw({0, 0, 1, 0, 1});
  EXPECT_EQ(ErrorOf(ParseDnsMessage(m.bytes())),
            "dns: offset 12: label longer than 63 bytes (length byte 64)");

  Msg reserved(1, 0);
  reserved.Raw({0x80, 0, 0, 1, 0, 1});
  EXPECT_THAT(ErrorOf(ParseDnsMessage(reserved.bytes())), HasSubstr("label longer than 63"));
}

TEST(DnsParseTest, NameOf255IsFine256IsRejected) {
  // Wire form: 3 * (1 + 63) + (1 + 62) + 1 = 256 > 255; with 61 it is exactly 255.
  Msg ok(1, 0);
  ok.Question(
      {std::string(63, 'x'), std::string(63, 'x'), std::string(63, 'x'), std::string(61, 'x')});
  EXPECT_TRUE(ParseDnsMessage(ok.bytes()).ok());

  Msg big(1, 0);
  big.Question(
      {std::string(63, 'x'), std::string(63, 'x'), std::string(63, 'x'), std::string(62, 'x')});
  EXPECT_EQ(ErrorOf(ParseDnsMessage(big.bytes())), "dns: offset 204: name longer than 255 bytes");
}

TEST(DnsParseTest, NameLengthCountsLabelsReachedThroughPointers) {
  // The question is 200 bytes long; an answer prepends 63 + 1 bytes and points at it.
  Msg m(1, 1);
  const size_t q = m.Name(
      {std::string(63, 'q'), std::string(63, 'q'), std::string(63, 'q'), std::string(6, 'q')});
  m.U16(1);
  m.U16(1);
  m.Raw({63});
  m.bytes().insert(m.bytes().end(), 63, 'p');
  m.Ptr(q);
  m.RecordHeader(kDnsTypeA, 1, 4);
  m.Raw({1, 2, 3, 4});
  EXPECT_THAT(ErrorOf(ParseDnsMessage(m.bytes())), HasSubstr("name longer than 255 bytes"));
}

TEST(DnsParseTest, OddBytesInLabelsAreEscaped) {
  Msg m(1, 0);
  m.Raw({7, 'A', '.', 0x07, ' ', '\\', 0xff, 'z', 3, 'C', 'o', 'M', 0, 0, 1, 0, 1});
  auto r = ParseDnsMessage(m.bytes());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->questions, ElementsAre("a\\046\\007\\032\\092\\255z.com"));
  ExpectPresentationForm(r->questions[0]);
}

TEST(DnsParseTest, BadRdlengthIsRejected) {
  Msg a(0, 1);
  a.Name({"x"});
  a.RecordHeader(kDnsTypeA, 1, 5);
  a.Raw({1, 2, 3, 4, 5});
  EXPECT_EQ(ErrorOf(ParseDnsMessage(a.bytes())),
            "dns: offset 25: A record with RDLENGTH 5 (record at 12)");

  Msg aaaa(0, 1);
  aaaa.Name({"x"});
  aaaa.RecordHeader(kDnsTypeAaaa, 1, 4);
  aaaa.Raw({1, 2, 3, 4});
  EXPECT_THAT(ErrorOf(ParseDnsMessage(aaaa.bytes())), HasSubstr("AAAA record with RDLENGTH 4"));

  Msg padded(0, 1);
  padded.Name({"x"});
  padded.RecordHeader(kDnsTypeCname, 1, 4);
  padded.Raw({1, 'y', 0, 0});
  EXPECT_THAT(ErrorOf(ParseDnsMessage(padded.bytes())),
              HasSubstr("CNAME RDATA longer than its target name"));

  Msg overrun(0, 1);
  overrun.Name({"x"});
  overrun.RecordHeader(kDnsTypeCname, 1, 2);
  overrun.Raw({3, 'y', 'y', 'y', 0});  // the target continues after RDATA
  EXPECT_EQ(ErrorOf(ParseDnsMessage(overrun.bytes())),
            "dns: offset 25: CNAME target runs past its RDATA");
}

TEST(DnsParseTest, RdlengthPastTheEndIsATruncation) {
  Msg m(0, 2);
  m.Name({"x"});
  m.RecordHeader(kDnsTypeA, 1, 4);
  m.Raw({1, 2, 3, 4});
  m.Name({"y"});
  m.RecordHeader(kDnsTypeA, 1, 400);  // claims more than the message holds
  m.Raw({1, 2, 3, 4});
  auto r = ParseDnsMessage(m.bytes());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->truncated);
  ASSERT_EQ(r->answers.size(), 1u);
  EXPECT_EQ(r->answers[0].name, "x");
}

TEST(DnsParseTest, OtherTypesAndClassesAreSkipped) {
  Msg m(0, 4);
  m.Name({"txt"});
  m.RecordHeader(16, 1, 3);  // TXT
  m.Raw({2, 'h', 'i'});
  m.Name({"chaos"});
  m.RecordHeader(kDnsTypeA, 1, 4, /*klass=*/3);  // CH
  m.Raw({1, 2, 3, 4});
  m.Name({"odd"});
  m.RecordHeader(99, 1, 0);  // unknown type, empty RDATA
  m.Name({"x"});
  m.RecordHeader(kDnsTypeA, 1, 4);
  m.Raw({10, 1, 2, 3});
  auto r = ParseDnsMessage(m.bytes());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->truncated);
  ASSERT_EQ(r->answers.size(), 1u);
  EXPECT_EQ(r->answers[0].name, "x");
  EXPECT_EQ(r->answers[0].addr, kV4);
}

TEST(DnsParseTest, QuestionCountIsCapped) {
  Msg ok(kDnsMaxQuestions, 0);
  for (size_t i = 0; i < kDnsMaxQuestions; ++i) ok.Question({"q"});
  auto r = ParseDnsMessage(ok.bytes());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->questions.size(), kDnsMaxQuestions);

  Msg many(kDnsMaxQuestions + 1, 0);
  for (size_t i = 0; i <= kDnsMaxQuestions; ++i) many.Question({"q"});
  EXPECT_EQ(ErrorOf(ParseDnsMessage(many.bytes())),
            "dns: offset 4: QDCOUNT 17 above the limit of 16");
}

TEST(DnsParseTest, CutQuestionIsRejected) {
  Msg m(2, 0);
  m.Question({"one"});
  m.Raw({3, 't', 'w'});
  EXPECT_EQ(ErrorOf(ParseDnsMessage(m.bytes())),
            "dns: offset 21: label runs past the end of the message");
  Msg no_type(1, 0);
  no_type.Name({"one"});
  no_type.Raw({0, 1});
  EXPECT_EQ(ErrorOf(ParseDnsMessage(no_type.bytes())), "dns: offset 17: question cut short");
}

TEST(DnsParseTest, AnswerCountIsCapped) {
  Msg m(0, 200);
  for (int i = 0; i < 200; ++i) {
    m.Name({"x"});
    m.RecordHeader(kDnsTypeA, 1, 4);
    m.Raw({1, 2, 3, static_cast<uint8_t>(i)});
  }
  auto r = ParseDnsMessage(m.bytes());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->answers.size(), kDnsMaxAnswers);
  EXPECT_FALSE(r->truncated);
  EXPECT_EQ(r->answers.back().addr[15], kDnsMaxAnswers - 1);
}

TEST(DnsParseTest, AnswerCapCountsSkippedRecords) {
  // 64 skipped records then an A record: the A record is past the cap and not read.
  Msg m(0, 65);
  for (int i = 0; i < 64; ++i) {
    m.Name({});
    m.RecordHeader(16, 1, 0);
  }
  m.Name({"x"});
  m.RecordHeader(kDnsTypeA, 1, 4);
  m.Raw({1, 2, 3, 4});
  auto r = ParseDnsMessage(m.bytes());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->answers, IsEmpty());
}

TEST(DnsParseTest, RootOwnerName) {
  Msg m(0, 1);
  m.Name({});
  m.RecordHeader(kDnsTypeA, 1, 4);
  m.Raw({10, 1, 2, 3});
  auto r = ParseDnsMessage(m.bytes());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->answers.size(), 1u);
  EXPECT_EQ(r->answers[0].name, "");
}

// Every single-byte change of a valid message, and every length: never a crash (ASan builds
// check the reads), and whatever parses is well formed.
TEST(DnsParseTest, SingleByteMutationsAreHandled) {
  const std::vector<uint8_t> full = ChainAnswer();
  size_t parsed = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    for (int v = 0; v < 256; ++v) {
      std::vector<uint8_t> b = full;
      b[i] = static_cast<uint8_t>(v);
      auto r = ParseDnsMessage(b);
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
        EXPECT_THAT(std::string(r.status().message()), HasSubstr("dns: offset "));
        continue;
      }
      ++parsed;
      EXPECT_LE(r->questions.size(), kDnsMaxQuestions);
      EXPECT_LE(r->answers.size(), kDnsMaxAnswers);
      for (const auto& q : r->questions) ExpectPresentationForm(q);
      for (const auto& a : r->answers) {
        ExpectPresentationForm(a.name);
        ExpectPresentationForm(a.cname);
        if (a.type == kDnsTypeA) {
          EXPECT_EQ(a.addr[10], 0xff);
          EXPECT_EQ(a.addr[11], 0xff);
        }
      }
    }
  }
  EXPECT_GT(parsed, full.size() * 128);  // most single-byte changes still parse
}

}  // namespace
}  // namespace sluice::events
