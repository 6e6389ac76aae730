#include "agent/detect/classify/tls_hello.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "agent/detect/classify/limits.h"
#include "agent/detect/classify/test_payloads.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::detect::classify {
namespace {

using ::sluice::detect::classify::testing::AlpnBody;
using ::sluice::detect::classify::testing::Bytes;
using ::sluice::detect::classify::testing::ClientHelloRecord;
using ::sluice::detect::classify::testing::GnuTlsHelloWithAlpn;
using ::sluice::detect::classify::testing::HandshakeRecords;
using ::sluice::detect::classify::testing::HelloMessage;
using ::sluice::detect::classify::testing::OpenSslHelloWithAlpn;
using ::sluice::detect::classify::testing::SniBody;
using ::sluice::detect::classify::testing::SupportedVersionsBody;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

absl::StatusOr<ClientHello> Parse(absl::string_view s) { return ParseClientHello(Bytes(s)); }

// Whatever the input: bounded, printable output.
void ExpectBounded(const ClientHello& h) {
  EXPECT_LE(h.sni.size(), kMaxHostBytes);
  if (!h.sni.empty()) {
    EXPECT_TRUE(IsValidDnsName(h.sni)) << h.sni;
  }
  for (char c : h.sni) EXPECT_FALSE(c >= 'A' && c <= 'Z') << h.sni;
  EXPECT_LE(h.alpn.size(), kMaxAlpnProtocols);
  for (const std::string& a : h.alpn) {
    EXPECT_LE(a.size(), kMaxAlpnProtocolBytes);
    for (char c : a) EXPECT_TRUE(c > 0x20 && c < 0x7f) << absl::CEscape(a);
  }
  EXPECT_LE(h.supported_versions.size(), kMaxSupportedVersions);
}

TEST(TlsHelloTest, OpenSslHello) {
  auto h = Parse(OpenSslHelloWithAlpn());
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->record_version, 0x0301);
  EXPECT_EQ(h->legacy_version, 0x0303);
  EXPECT_EQ(h->sni, "crm.example.com");
  EXPECT_FALSE(h->sni_invalid);
  EXPECT_THAT(h->alpn, ElementsAre("h2", "http/1.1"));
  EXPECT_FALSE(h->alpn_truncated);
  EXPECT_THAT(h->supported_versions, ElementsAre(0x0304, 0x0303, 0x0302, 0x0301));
  EXPECT_EQ(h->MaxVersion(), 0x0304);
  EXPECT_EQ(h->extension_count, 11u);
  EXPECT_FALSE(h->truncated);
}

TEST(TlsHelloTest, GnuTlsHelloWithSniNextToLast) {
  auto h = Parse(GnuTlsHelloWithAlpn());
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->sni, "vectors.example.net");
  EXPECT_THAT(h->alpn, ElementsAre("h2", "http/1.1"));
  EXPECT_EQ(h->MaxVersion(), 0x0304);
  EXPECT_FALSE(h->truncated);
}

TEST(TlsHelloTest, EveryPrefixIsEitherRejectedTooShortOrConsistent) {
  for (const std::string* hello : {&OpenSslHelloWithAlpn(), &GnuTlsHelloWithAlpn()}) {
    auto full = Parse(*hello);
    ASSERT_TRUE(full.ok());
    for (size_t i = 0; i < hello->size(); ++i) {
      SCOPED_TRACE(i);
      auto h = Parse(absl::string_view(*hello).substr(0, i));
      if (i < 6) {
        EXPECT_FALSE(h.ok());
        continue;
      }
      ASSERT_TRUE(h.ok()) << h.status();
      ExpectBounded(*h);
      EXPECT_TRUE(h->truncated);
      // A cut prefix yields fields of the full hello or nothing, never other values.
      EXPECT_TRUE(h->sni.empty() || h->sni == full->sni) << h->sni;
      EXPECT_LE(h->alpn.size(), full->alpn.size());
      for (size_t k = 0; k < h->alpn.size(); ++k) EXPECT_EQ(h->alpn[k], full->alpn[k]);
      EXPECT_LE(h->extension_count, full->extension_count);
    }
  }
}

TEST(TlsHelloTest, MinimalHelloWithoutExtensions) {
  auto h = Parse(ClientHelloRecord({}));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->legacy_version, 0x0303);
  EXPECT_TRUE(h->sni.empty());
  EXPECT_EQ(h->extension_count, 0u);
  EXPECT_EQ(h->MaxVersion(), 0x0303);
  EXPECT_FALSE(h->truncated);
}

TEST(TlsHelloTest, SniIsLowercasedAndTrailingDotDropped) {
  auto h = Parse(ClientHelloRecord({{0, SniBody("API.Example.COM.")}}));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->sni, "api.example.com");
  h = Parse(ClientHelloRecord({{0, SniBody("_dmarc.x-1.example")}}));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->sni, "_dmarc.x-1.example");
}

TEST(TlsHelloTest, InvalidDnsNamesAreFlaggedNotKept) {
  for (const std::string& name :
       {std::string("evil.example\r\nX-Injected: 1"), std::string("a..b"), std::string("."),
        std::string("a b.example"), std::string("caf\xc3\xa9.example"),
        std::string(64, 'a') + ".example", std::string("a.") + std::string(252, 'b'),
        std::string("x\0y.example", 11)}) {
    SCOPED_TRACE(absl::CEscape(name));
    auto h = Parse(ClientHelloRecord({{0, SniBody(name)}}));
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_TRUE(h->sni.empty());
    EXPECT_TRUE(h->sni_invalid);
  }
  // The longest valid name: 253 characters.
  const std::string longest = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                              std::string(63, 'c') + "." + std::string(61, 'd');
  ASSERT_EQ(longest.size(), 253u);
  auto h = Parse(ClientHelloRecord({{0, SniBody(longest)}}));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->sni, longest);
}

TEST(TlsHelloTest, OnlyTheFirstHostNameCounts) {
  const std::string two = SniBody("first.example").substr(2) + SniBody("second.example").substr(2);
  auto h = Parse(ClientHelloRecord({{0, testing::U16(two.size()) + two}}));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->sni, "first.example");
  // A name of another type (none is defined but host_name) is skipped.
  const std::string other = SniBody("other", 7).substr(2) + SniBody("real.example").substr(2);
  h = Parse(ClientHelloRecord({{0, testing::U16(other.size()) + other}}));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->sni, "real.example");
}

TEST(TlsHelloTest, AlpnBoundsAndEscaping) {
  std::vector<std::string> many;
  for (int i = 0; i < 20; ++i) many.push_back("p" + std::to_string(i));
  auto h = Parse(ClientHelloRecord({{16, AlpnBody(many)}}));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->alpn.size(), kMaxAlpnProtocols);
  EXPECT_TRUE(h->alpn_truncated);

  h = Parse(ClientHelloRecord({{16, AlpnBody({std::string(200, 'x'), "a b\xff%"})}}));
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->alpn.size(), 2u);
  EXPECT_LE(h->alpn[0].size(), kMaxAlpnProtocolBytes);
  EXPECT_EQ(h->alpn[1], "a%20b%FF%25");
  EXPECT_TRUE(h->alpn_truncated);
  ExpectBounded(*h);
}

TEST(TlsHelloTest, GreaseVersionsAreLeftOut) {
  auto h = Parse(
      ClientHelloRecord({{43, SupportedVersionsBody({0x3a3a, 0x0304, 0x0303})}, {0x1a1a, ""}}));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_THAT(h->supported_versions, ElementsAre(0x0304, 0x0303));
  EXPECT_EQ(h->extension_count, 2u);
}

TEST(TlsHelloTest, HelloSplitOverRecordsIsReassembled) {
  const std::string message = HelloMessage(
      {{0x0015, std::string(600, '\0')}, {0, SniBody("split.example")}, {16, AlpnBody({"h2"})}});
  for (size_t fragment : {1u, 3u, 100u, 512u}) {
    SCOPED_TRACE(fragment);
    const std::string records = HandshakeRecords(message, fragment);
    auto h = Parse(records);
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_EQ(h->sni, "split.example");
    EXPECT_THAT(h->alpn, ElementsAre("h2"));
    EXPECT_FALSE(h->truncated);
    // Cut in the last record: what came before is there.
    h = Parse(absl::string_view(records).substr(0, records.size() - 2));
    ASSERT_TRUE(h.ok());
    EXPECT_TRUE(h->truncated);
    EXPECT_EQ(h->sni, "split.example");
  }
  // A non-handshake record in the middle of a hello.
  std::string interrupted =
      HandshakeRecords(message.substr(0, 100)) + std::string("\x17\x03\x03\x00\x05hello", 10);
  EXPECT_FALSE(Parse(interrupted).ok());
}

TEST(TlsHelloTest, BytesAfterTheHelloAreIgnored) {
  const std::string hello = ClientHelloRecord({{0, SniBody("a.example")}});
  auto h = Parse(hello + std::string("\x17\x03\x03\x00\x10", 5) + std::string(16, 'x'));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->sni, "a.example");
  EXPECT_FALSE(h->truncated);
}

TEST(TlsHelloTest, NotAClientHello) {
  for (const std::string& s : {
           std::string(""),
           std::string("\x16\x03\x01\x00\x40", 5),      // no message type yet
           std::string("\x16\x03\x01\x00\x40\x02", 6),  // ServerHello
           std::string("\x17\x03\x03\x00\x40\x01", 6),  // application data
           std::string("\x16\x02\x00\x00\x40\x01", 6),  // SSL 2 version
           std::string("\x16\x03\x05\x00\x40\x01", 6),  // unknown minor version
           std::string("\x16\x03\x01\x00\x00\x01", 6),  // empty record
           std::string("\x16\x03\x01\xff\xff\x01", 6),  // record over 2^14 + 2048
           std::string("GET / HTTP/1.1\r\n\r\n"),
       }) {
    EXPECT_FALSE(Parse(s).ok()) << absl::CEscape(s);
  }
}

TEST(TlsHelloTest, ContradictoryLengthsAreMalformed) {
  const std::string good = ClientHelloRecord({{0, SniBody("b.example")}, {16, AlpnBody({"h2"})}});
  ASSERT_TRUE(Parse(good).ok());
  // Hello length too small to hold a hello.
  std::string bad = good;
  bad[6] = bad[7] = 0;
  bad[8] = 10;
  EXPECT_FALSE(Parse(bad).ok());
  // Session id longer than 32.
  bad = good;
  bad[5 + 4 + 2 + 32] = 33;
  EXPECT_FALSE(Parse(bad).ok());
  // legacy_version that is not 3.x.
  bad = good;
  bad[9] = 0x02;
  EXPECT_FALSE(Parse(bad).ok());
  // Repeated server_name.
  EXPECT_FALSE(
      Parse(ClientHelloRecord({{0, SniBody("a.example")}, {0, SniBody("b.example")}})).ok());
  // Inner lengths that do not fit their extension.
  std::string sni = SniBody("c.example");
  sni[1] = 0x7f;
  EXPECT_FALSE(Parse(ClientHelloRecord({{0, sni}})).ok());
  EXPECT_FALSE(Parse(ClientHelloRecord({{16, std::string("\x00\x03\x00\x01\x61", 5)}})).ok());
  EXPECT_FALSE(Parse(ClientHelloRecord({{43, std::string("\x03\x03\x04\x03", 4)}})).ok());
  // Every byte flipped: never a crash, never unbounded output.
  for (size_t i = 5; i < good.size(); ++i) {
    for (int v : {0x00, 0x01, 0x7f, 0xff}) {
      std::string flipped = good;
      flipped[i] = static_cast<char>(v);
      auto h = Parse(flipped);
      if (h.ok()) ExpectBounded(*h);
    }
  }
}

TEST(TlsHelloTest, RandomTailsAfterAValidHeaderNeverOverrun) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 5000; ++iter) {
    std::string s("\x16\x03\x01", 3);
    const size_t n = rng() % 600;
    s += testing::U16(rng() % 700);
    s += '\x01';
    for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(rng()));
    auto h = Parse(s);
    if (h.ok()) ExpectBounded(*h);
  }
}

TEST(TlsHelloTest, PrefixBeyondTheScanLimitIsNotRead) {
  // A hello announcing more than kMaxClassifyBytes is cut at the limit, not read past it.
  const std::string message = HelloMessage({{0x0015, std::string(40000, '\0')}});
  const std::string records = HandshakeRecords(message);
  auto h = Parse(records);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_TRUE(h->truncated);
  EXPECT_THAT(h->sni, IsEmpty());
}

TEST(TlsHelloTest, DnsNameValidation) {
  EXPECT_TRUE(IsValidDnsName("a"));
  EXPECT_TRUE(IsValidDnsName("xn--caf-dma.example"));
  EXPECT_TRUE(IsValidDnsName("10.0.0.1"));
  EXPECT_FALSE(IsValidDnsName(""));
  EXPECT_FALSE(IsValidDnsName("a."));
  EXPECT_FALSE(IsValidDnsName(".a"));
  EXPECT_FALSE(IsValidDnsName("a/b"));
  EXPECT_FALSE(IsValidDnsName("a:443"));
  EXPECT_FALSE(IsValidDnsName("[::1]"));
}

}  // namespace
}  // namespace sluice::detect::classify
