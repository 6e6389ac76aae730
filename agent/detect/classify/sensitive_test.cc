#include "agent/detect/classify/sensitive.h"

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/detect/classify/limits.h"
#include "agent/detect/classify/test_payloads.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::detect::classify {
namespace {

using ::sluice::detect::classify::testing::Bytes;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;

constexpr absl::string_view kKey = "per-host-key-0123456789abcdef012";

SensitiveFindings Scan(absl::string_view s, absl::string_view key = kKey) {
  return ScanSensitive(Bytes(s), key);
}

uint64_t Count(absl::string_view s, const char* kind) { return Scan(s).Count(kind); }

// Every field of the findings, as text: a matched value must appear in none of them.
std::string Everything(const SensitiveFindings& f) {
  std::string out;
  for (const SensitiveKind& k : f.kinds) {
    absl::StrAppend(&out, k.kind, ";");
    for (const std::string& fp : k.fingerprints) absl::StrAppend(&out, fp, ";");
  }
  for (const auto& [type, n] : f.crm_objects) absl::StrAppend(&out, type, ";");
  return out;
}

void ExpectWellFormed(const SensitiveFindings& f) {
  for (const SensitiveKind& k : f.kinds) {
    EXPECT_GT(k.count, 0u);
    EXPECT_LE(k.count, kMaxSensitiveMatchesPerKind);
    EXPECT_LE(k.fingerprints.size(), kMaxFingerprintsPerKind);
    EXPECT_LE(k.fingerprints.size(), k.count);
    for (const std::string& fp : k.fingerprints) {
      EXPECT_EQ(fp.size(), kFingerprintHexChars);
      EXPECT_EQ(fp.find_first_not_of("0123456789abcdef"), std::string::npos) << fp;
    }
  }
}

TEST(SensitiveTest, ScannerCompiles) { EXPECT_TRUE(SensitiveScanner().ok()); }

// --- fingerprints --------------------------------------------------------------------------

TEST(FingerprintTest, IsTruncatedHmacSha256) {
  // RFC 4231 test case 2.
  EXPECT_EQ(Fingerprint("Jefe", "what do ya want for nothing?"), "5bdcc146bf60754e");
  EXPECT_EQ(Fingerprint("", "x").size(), kFingerprintHexChars);
  EXPECT_NE(Fingerprint("k1", "ann@example.com"), Fingerprint("k2", "ann@example.com"));
  EXPECT_EQ(Fingerprint("k1", "ann@example.com"), Fingerprint("k1", "ann@example.com"));
}

TEST(FingerprintTest, SameValueSameFingerprintAcrossScansOnlyUnderTheSameKey) {
  const auto a = Scan("to: ann@example.com", "key-a");
  const auto b = Scan("cc: ann@example.com", "key-a");
  const auto c = Scan("cc: ann@example.com", "key-b");
  ASSERT_NE(a.Find(kSensitiveEmail), nullptr);
  EXPECT_EQ(a.Find(kSensitiveEmail)->fingerprints, b.Find(kSensitiveEmail)->fingerprints);
  EXPECT_NE(a.Find(kSensitiveEmail)->fingerprints, c.Find(kSensitiveEmail)->fingerprints);
  EXPECT_EQ(a.Find(kSensitiveEmail)->fingerprints[0], Fingerprint("key-a", "ann@example.com"));
}

// --- CRM record ids ------------------------------------------------------------------------

TEST(SalesforceIdTest, Checksum) {
  EXPECT_EQ(SalesforceIdChecksum("001A0000006Vm9r"), "IAC");
  EXPECT_EQ(SalesforceIdChecksum("0035g00000ABcDe"), "AAL");
  EXPECT_EQ(SalesforceIdChecksum("001A0000006Vm9"), "");
  EXPECT_EQ(SalesforceIdChecksum("001A0000006Vm9!"), "");
  EXPECT_TRUE(SalesforceIdChecksumValid("001A0000006Vm9rIAC"));
  EXPECT_FALSE(SalesforceIdChecksumValid("001A0000006Vm9rIAD"));
  EXPECT_FALSE(SalesforceIdChecksumValid("001a0000006Vm9rIAC"));  // case changes the checksum
  EXPECT_FALSE(SalesforceIdChecksumValid("001A0000006Vm9rIA"));
  EXPECT_STREQ(SalesforceObjectType("003"), "Contact");
  EXPECT_STREQ(SalesforceObjectType("00Q"), "Lead");
  EXPECT_STREQ(SalesforceObjectType("01t"), "Product");
  EXPECT_EQ(SalesforceObjectType("00q"), nullptr);
  EXPECT_EQ(SalesforceObjectType("a0X"), nullptr);
}

TEST(SensitiveCrmTest, FifteenAndEighteenCharacterFormsAreOneRecord) {
  const auto f = Scan(
      "{\"Id\":\"0035g00000ABcDe\",\"AccountId\":\"001A0000006Vm9rIAC\","
      "\"ReportsToId\":\"0035g00000ABcDeAAL\"}");
  const SensitiveKind* crm = f.Find(kSensitiveCrmRecordId);
  ASSERT_NE(crm, nullptr);
  EXPECT_EQ(crm->count, 3u);
  EXPECT_THAT(crm->fingerprints, SizeIs(2));  // the contact twice, the account once
  EXPECT_EQ(crm->fingerprints[0], Fingerprint(kKey, "0035g00000ABcDeAAL"));
  EXPECT_THAT(f.crm_objects, ElementsAre(Pair("Account", 1), Pair("Contact", 2)));
}

TEST(SensitiveCrmTest, ObjectTypesByKeyPrefix) {
  const auto f = Scan(
      "lead=00Q8c00000XyZ12 opp=0065g00000Q1aBc case=5005g00000Ab12CAAR "
      "lead2=00Q8c00000XyZ13");
  EXPECT_EQ(f.Count(kSensitiveCrmRecordId), 4u);
  EXPECT_THAT(f.crm_objects, ElementsAre(Pair("Case", 1), Pair("Lead", 2), Pair("Opportunity", 1)));
}

TEST(SensitiveCrmTest, NearMissesAreNotRecords) {
  for (const char* s : {
           "001A0000006Vm9rIAD",                            // 18 characters, wrong checksum
           "001A0000006Vm9rI",                              // 16 characters
           "001A0000006Vm9rIA",                             // 17 characters
           "x001A0000006Vm9r",                              // inside a word
           "001A0000006Vm9r_",                              // '_' is a word character
           "0Xx5g00000ABcDe",                               // unknown key prefix
           "a0X5g00000ABcDe",                               // custom object: prefix not known
           "001ABCDEFGHIJKL",                               // no digit after the prefix
           "00D5g000004XyZa!AQ4AQFhGpl3kBz0Yv8PqsKw5RtUv",  // org id inside a session id
           "1700000000123456",                              // a timestamp
           "0010000000000000000000000",                     // a run of zeros
       }) {
    EXPECT_EQ(Count(s, kSensitiveCrmRecordId), 0u) << s;
  }
  EXPECT_EQ(Count("(001A0000006Vm9r)", kSensitiveCrmRecordId), 1u);
  EXPECT_EQ(Count("/sobjects/Account/001A0000006Vm9rIAC?x", kSensitiveCrmRecordId), 1u);
}

// --- emails --------------------------------------------------------------------------------

TEST(SensitiveEmailTest, CountsAndNormalizes) {
  const auto f =
      Scan("From: Ann.Lee+crm@Example.COM\r\nTo: ann.lee+crm@example.com, bob@mail.example.org");
  const SensitiveKind* e = f.Find(kSensitiveEmail);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->count, 3u);
  EXPECT_THAT(e->fingerprints, ElementsAre(Fingerprint(kKey, "ann.lee+crm@example.com"),
                                           Fingerprint(kKey, "bob@mail.example.org")));
}

TEST(SensitiveEmailTest, NearMisses) {
  for (const char* s : {"icon@2x.png", "user@localhost", "a@b.c", "@example.com", "ann@",
                        "ann@-bad.example", "ann@bad-.example", ".ann@example.com",
                        "ann@example.c0m", "git@github", "ann@@example.com"}) {
    EXPECT_EQ(Count(s, kSensitiveEmail), 0u) << s;
  }
  EXPECT_EQ(Count("mailto:ann@example.com>", kSensitiveEmail), 1u);
}

// --- phones --------------------------------------------------------------------------------

TEST(SensitivePhoneTest, FormatsOfOneNumberShareAFingerprint) {
  const auto f = Scan(
      "a=+14155550100 b=+1 (415) 555-0100 c=(415) 555-0100 d=415-555-0100 e=415.555.0100 "
      "f=1-415-555-0100 g=+1 415 555 0100");
  const SensitiveKind* p = f.Find(kSensitivePhone);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->count, 7u);
  EXPECT_THAT(p->fingerprints, ElementsAre(Fingerprint(kKey, "14155550100")));
}

TEST(SensitivePhoneTest, InternationalNumbers) {
  const auto f = Scan("uk +44 20 7946 0958; de +49-30-901820; fr +33.1.23.45.67.89");
  EXPECT_EQ(f.Count(kSensitivePhone), 3u);
  ASSERT_NE(f.Find(kSensitivePhone), nullptr);
  EXPECT_EQ(f.Find(kSensitivePhone)->fingerprints[0], Fingerprint(kKey, "442079460958"));
}

TEST(SensitivePhoneTest, DigitRunsAndDatesAreNotPhones) {
  for (const char* s : {
           "1700000000123",  // epoch milliseconds
           "ts=1700000000",
           "4155550100",  // ten digits without separators
           "2024-01-15T10:20:30Z",
           "+0123456789",        // E.164 never starts with 0
           "+1234567",           // 7 digits
           "+1234567890123456",  // 16 digits
           "415-555-01000",
           "12-415-555-0100",
           "9415-555-0100",
           "415-555-0100-7",
           "(115) 555-0100",  // area codes start 2-9
           "415-155-0100",    // exchanges too
           "x+14155550100",
           "abc/+14155550100",
           "v1.415.555.0100",
           "192.168.100.200",
           "id=123e4567-e89b-12d3-a456-426614174000",
       }) {
    EXPECT_EQ(Count(s, kSensitivePhone), 0u) << s;
  }
}

TEST(SensitivePhoneTest, TwoNumbersSideBySide) {
  EXPECT_EQ(Count("+14155550100 (415) 555-0101", kSensitivePhone), 2u);
  EXPECT_EQ(Count("+14155550100,+14155550101", kSensitivePhone), 2u);
}

// --- bearer tokens -------------------------------------------------------------------------

TEST(SensitiveTokenTest, AuthorizationHeaderAndTokenFields) {
  const std::string jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIwMDVBIn0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU";
  const auto f = Scan(absl::StrCat("GET /x HTTP/1.1\r\nAuthorization: Bearer ", jwt,
                                   "\r\n\r\n{\"refresh_token\":\"5Aep861TSESvWeHy3sKcV.Xq\"}"));
  const SensitiveKind* t = f.Find(kSensitiveBearerToken);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->count, 2u);
  EXPECT_EQ(t->fingerprints[0], Fingerprint(kKey, jwt));
  EXPECT_EQ(Count("authorization: bearer abc", kSensitiveBearerToken), 0u);  // too short
  EXPECT_EQ(Count("Authorization: Basic dXNlcjpwYXNzd29yZA==", kSensitiveBearerToken), 0u);
  EXPECT_EQ(Count("access_token=short", kSensitiveBearerToken), 0u);
  EXPECT_EQ(Count("{\"Authorization\": \"Bearer abcdefgh12345678\"}", kSensitiveBearerToken), 1u);
}

TEST(SensitiveTokenTest, SalesforceSessionIdIsOneToken) {
  const std::string sid = "00D5g000004XyZa!AQ4AQFhGpl3kBz0Yv8PqsKw5RtUv.Xy_z";
  // Alone, and as the bearer value: one token either way, and no record id.
  for (const std::string& s : {sid, "Authorization: Bearer " + sid, "sid=" + sid + "&x=1"}) {
    const auto f = Scan(s);
    EXPECT_EQ(f.Count(kSensitiveBearerToken), 1u) << s;
    EXPECT_EQ(f.Count(kSensitiveCrmRecordId), 0u) << s;
    ASSERT_NE(f.Find(kSensitiveBearerToken), nullptr);
    EXPECT_EQ(f.Find(kSensitiveBearerToken)->fingerprints[0], Fingerprint(kKey, sid));
  }
}

// --- API keys ------------------------------------------------------------------------------

TEST(SensitiveApiKeyTest, ProviderShapes) {
  for (const char* s : {
           "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
           "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx-yz012345",
           "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
           "ASIAY34FZKBOKMUTVV7A",
           "token ghp_0123456789abcdefghijABCDEFGHIJ012345",
           "AIzaSyA-0123456789abcdefghijABCDEFGHIJK",
           "xoxb-1234567890-abcdefghij",
           "sk_live_0123456789abcdefABCD",
       }) {
    EXPECT_EQ(Count(s, kSensitiveApiKey), 1u) << s;
  }
}

TEST(SensitiveApiKeyTest, GenericAssignments) {
  for (const char* s : {
           "api_key=0123456789abcdef0123",
           "?apikey=0123456789abcdef0123&x",
           "{\"apiKey\": \"0123456789abcdef0123\"}",
           "X-API-Key: 0123456789abcdef0123\r\n",
           "client_secret=Q2xpZW50U2VjcmV0VmFsdWU",
           "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
       }) {
    EXPECT_EQ(Count(s, kSensitiveApiKey), 1u) << s;
  }
  for (const char* s : {"api_key=null", "api_key=", "apikey: true", "api_key_name=ok"}) {
    EXPECT_EQ(Count(s, kSensitiveApiKey), 0u) << s;
  }
}

TEST(SensitiveApiKeyTest, NearMisses) {
  for (const char* s : {
           "AKIAIOSFODNN7EXAMPL",    // 15 characters after AKIA
           "AKIAIOSFODNN7EXAMPLEX",  // 17
           "xAKIAIOSFODNN7EXAMPLE",
           "task-management-system-design-v2",  // "sk-" inside a word
           "sk-short",
           "ghp_tooshort",
       }) {
    EXPECT_EQ(Count(s, kSensitiveApiKey), 0u) << s;
  }
}

TEST(SensitiveApiKeyTest, AKeySentAsBearerIsOneApiKey) {
  const auto f = Scan(
      "POST /v1/chat/completions HTTP/1.1\r\n"
      "Authorization: Bearer sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\r\n"
      "x-api-key: sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\r\n\r\n");
  EXPECT_EQ(f.Count(kSensitiveApiKey), 2u);
  EXPECT_EQ(f.Count(kSensitiveBearerToken), 0u);
  ASSERT_NE(f.Find(kSensitiveApiKey), nullptr);
  EXPECT_THAT(f.Find(kSensitiveApiKey)->fingerprints, SizeIs(1));
}

// --- whole findings ------------------------------------------------------------------------

TEST(SensitiveTest, KindsInFixedOrderAndValuesNeverReturned) {
  const std::vector<std::string> values = {"0035g00000ABcDe", "ann@example.com", "+14155550100",
                                           "eyJhbGciOiJIUzI1NiJ9.e30.sig12345",
                                           "AKIAIOSFODNN7EXAMPLE"};
  const std::string payload = absl::StrCat("AKIAIOSFODNN7EXAMPLE Authorization: Bearer ", values[3],
                                           "\r\n", values[2], " ", values[1], " ", values[0]);
  const auto f = Scan(payload);
  ExpectWellFormed(f);
  std::vector<std::string> kinds;
  for (const SensitiveKind& k : f.kinds) kinds.push_back(k.kind);
  EXPECT_THAT(kinds, ElementsAre("crm_record_id", "email", "phone", "bearer_token", "api_key"));
  const std::string all = Everything(f);
  for (const std::string& v : values) {
    EXPECT_FALSE(absl::StrContains(all, v)) << v;
    EXPECT_FALSE(absl::StrContains(all, v.substr(0, 8))) << v;
  }
}

TEST(SensitiveTest, NothingInOrdinaryTraffic) {
  for (const char* s : {
           "GET /v1/models HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\n\r\n",
           "{\"id\":1700000000123,\"ts\":\"2024-01-15T10:20:30Z\",\"v\":\"1.2.3\"}",
           "SELECT * FROM t WHERE id IN (1,2,3)",
       }) {
    EXPECT_TRUE(Scan(s).empty()) << s;
  }
  EXPECT_TRUE(ScanSensitive({}, kKey).empty());
}

TEST(SensitiveTest, CountsAreCappedAndFingerprintsBounded) {
  std::string many;
  for (int i = 0; i < 1100; ++i) absl::StrAppend(&many, "u", i, "@ex.io ");
  ASSERT_LE(many.size(), kMaxClassifyBytes);
  const auto f = Scan(many);
  ExpectWellFormed(f);
  ASSERT_NE(f.Find(kSensitiveEmail), nullptr);
  EXPECT_EQ(f.Find(kSensitiveEmail)->count, kMaxSensitiveMatchesPerKind);
  EXPECT_THAT(f.Find(kSensitiveEmail)->fingerprints, SizeIs(kMaxFingerprintsPerKind));
  EXPECT_TRUE(f.capped);
  EXPECT_FALSE(Scan("a@example.com").capped);
}

TEST(SensitiveTest, BytesPastTheScanLimitAreIgnored) {
  std::string s(kMaxClassifyBytes - 5, ' ');
  s += "ann@example.com";
  EXPECT_EQ(Count(s, kSensitiveEmail), 0u);
  s = std::string(kMaxClassifyBytes - 20, ' ') + "ann@example.com";
  EXPECT_EQ(Count(s, kSensitiveEmail), 1u);
}

TEST(SensitiveTest, BinaryAndRandomInputs) {
  const std::vector<std::string> pieces = {"@",
                                           ".",
                                           "com",
                                           "ann",
                                           "+1",
                                           "415",
                                           "-",
                                           "555",
                                           "0100",
                                           " ",
                                           "(",
                                           ")",
                                           "001",
                                           "00D",
                                           "A0000006Vm9r",
                                           "!",
                                           "AKIA",
                                           "sk-",
                                           "Bearer ",
                                           "Authorization: ",
                                           "api_key=",
                                           std::string("\0", 1),
                                           "\xff",
                                           "\xc3\xa9",
                                           "0123456789abcdef"};
  std::mt19937 rng(9);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      if (rng() % 5 == 0) {
        s.append(rng() % 16, static_cast<char>(rng()));
      } else {
        s += pieces[rng() % pieces.size()];
      }
    }
    ExpectWellFormed(Scan(s));
  }
}

TEST(SensitiveTest, ConcurrentScansShareOneScanner) {
  const std::string payload = "ann@example.com +14155550100 0035g00000ABcDe";
  const SensitiveFindings expected = Scan(payload);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (!(Scan(payload) == expected)) ++mismatches[t];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(mismatches, ElementsAre(0, 0, 0, 0));
  EXPECT_THAT(Scan("").kinds, IsEmpty());
}

}  // namespace
}  // namespace sluice::detect::classify
