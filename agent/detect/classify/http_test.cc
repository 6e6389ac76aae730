#include "agent/detect/classify/http.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace sluice::detect::classify {
namespace {

PayloadClass Classify(absl::string_view s) {
  return ClassifyPayload(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

const std::vector<std::string> kMethods = {"GET",    "POST",    "PUT",     "PATCH", "DELETE",
                                           "HEAD",   "OPTIONS", "CONNECT", "TRACE"};

// Invariants every result keeps, whatever the input.
void ExpectBounded(const PayloadClass& c) {
  EXPECT_LE(c.path.size(), kMaxPathBytes);
  EXPECT_LE(c.host.size(), kMaxHostBytes);
  for (char ch : c.path) EXPECT_TRUE(ch > 0x20 && ch < 0x7f) << c.path;
  for (char ch : c.host) EXPECT_TRUE(ch > 0x20 && ch < 0x7f) << c.host;
  if (!c.method.empty()) {
    EXPECT_NE(std::find(kMethods.begin(), kMethods.end(), c.method), kMethods.end());
  }
  if (c.protocol == PayloadClass::kUnknown) {
    EXPECT_TRUE(c.method.empty() && c.path.empty() && c.host.empty() && c.version.empty());
    EXPECT_EQ(c.request_line(), "");
  }
}

// --- HTTP/1.x requests ---------------------------------------------------------------------

TEST(ClassifyHttpRequestTest, GetWithCrLf) {
  const PayloadClass c = Classify(
      "GET /services/data/v59.0/sobjects/Account?fields=Name,Phone HTTP/1.1\r\n"
      "Host: ACME.my.Salesforce.com\r\n"
      "Authorization: Bearer 00Dxx0000001gPF!AQ4AQ\r\n"
      "Accept: */*\r\n"
      "\r\n");
  EXPECT_EQ(c.protocol, PayloadClass::kHttp1Request);
  EXPECT_EQ(c.method, "GET");
  EXPECT_EQ(c.path, "/services/data/v59.0/sobjects/Account");
  EXPECT_TRUE(c.has_query);
  EXPECT_EQ(c.query_length, std::string("fields=Name,Phone").size());
  EXPECT_EQ(c.version, "HTTP/1.1");
  EXPECT_EQ(c.host, "acme.my.salesforce.com");
  EXPECT_FALSE(c.has_content_length);
  EXPECT_FALSE(c.truncated);
  EXPECT_FALSE(c.path_truncated);
  EXPECT_EQ(c.header_count, 3u);
  EXPECT_EQ(c.request_line(), "GET /services/data/v59.0/sobjects/Account HTTP/1.1");
  EXPECT_STREQ(ProtocolName(c.protocol), "http1-request");
}

TEST(ClassifyHttpRequestTest, PostWithBareLfAndCaseInsensitiveHeaders) {
  const PayloadClass c = Classify(
      "POST /v1/embeddings HTTP/1.0\n"
      "hOsT:   vectors.internal:6333  \n"
      "CONTENT-length: 5120\n"
      "\n"
      "{\"input\": \"...\"}");
  EXPECT_EQ(c.protocol, PayloadClass::kHttp1Request);
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.path, "/v1/embeddings");
  EXPECT_FALSE(c.has_query);
  EXPECT_EQ(c.version, "HTTP/1.0");
  EXPECT_EQ(c.host, "vectors.internal:6333");
  EXPECT_TRUE(c.has_content_length);
  EXPECT_EQ(c.content_length, 5120u);
  EXPECT_FALSE(c.truncated);
}

TEST(ClassifyHttpRequestTest, EveryMethod) {
  for (const auto& m : kMethods) {
    const std::string target = m == "CONNECT" ? "db.example.com:5432" : "/x";
    const PayloadClass c = Classify(absl::StrCat(m, " ", target, " HTTP/1.1\r\n\r\n"));
    EXPECT_EQ(c.protocol, PayloadClass::kHttp1Request) << m;
    EXPECT_EQ(c.method, m);
    EXPECT_EQ(c.request_line(), absl::StrCat(m, " ", target, " HTTP/1.1"));
  }
}

TEST(ClassifyHttpRequestTest, UnknownOrMalformedMethodsAreNotHttp) {
  for (const char* s : {"FOO / HTTP/1.1\r\n\r\n", "get / HTTP/1.1\r\n\r\n",
                        "G\x01T / HTTP/1.1\r\n\r\n", "GET\t/ HTTP/1.1\r\n\r\n",
                        "GETT / HTTP/1.1\r\n\r\n", " GET / HTTP/1.1\r\n\r\n",
                        "PRI * HTTP/1.1\r\n\r\n"}) {
    const PayloadClass c = Classify(s);
    EXPECT_EQ(c.protocol, PayloadClass::kUnknown) << absl::CEscape(s);
    EXPECT_TRUE(c.method.empty());
    ExpectBounded(c);
  }
}

TEST(ClassifyHttpRequestTest, CompleteRequestLineNeedsAVersion) {
  for (const char* s : {"GET /\r\n\r\n", "GET / FTP/1.1\r\n\r\n", "GET / HTTP/1\r\n",
                        "GET / HTTP/x.1\r\n", "GET  HTTP/1.1\r\n", "POST something to say\n"}) {
    EXPECT_EQ(Classify(s).protocol, PayloadClass::kUnknown) << absl::CEscape(s);
  }
}

TEST(ClassifyHttpRequestTest, NonPrintablePathBytesArePercentEscaped) {
  const PayloadClass c = Classify(std::string("GET /a\x01" "b\xff" "c%41 d HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(c.protocol, PayloadClass::kHttp1Request);
  EXPECT_EQ(c.path, "/a%01b%FFc%41%20d");  // an existing escape is kept as it is
  ExpectBounded(c);
}

TEST(ClassifyHttpRequestTest, QueryAndFragmentAreNeverKept) {
  const PayloadClass c =
      Classify("GET /search?q=0015g00000XyZabAAB&email=jane%40acme.com#top HTTP/1.1\r\n\r\n");
  EXPECT_EQ(c.path, "/search");
  EXPECT_TRUE(c.has_query);
  EXPECT_EQ(c.query_length, std::string("q=0015g00000XyZabAAB&email=jane%40acme.com#top").size());
  EXPECT_FALSE(absl::StrContains(c.request_line(), "0015g"));
  const PayloadClass f = Classify("GET /page#section HTTP/1.1\r\n\r\n");
  EXPECT_EQ(f.path, "/page");
  EXPECT_FALSE(f.has_query);
  EXPECT_EQ(f.query_length, 0u);
}

TEST(ClassifyHttpRequestTest, AbsoluteFormDropsUserinfoAndOverridesHost) {
  const PayloadClass c = Classify(
      "GET http://svc:s3cr3t@Upload.Example.NET:8080/put/obj?sig=abc HTTP/1.1\r\n"
      "Host: decoy.example.com\r\n\r\n");
  EXPECT_EQ(c.protocol, PayloadClass::kHttp1Request);
  EXPECT_EQ(c.host, "upload.example.net:8080");
  EXPECT_EQ(c.path, "http://Upload.Example.NET:8080/put/obj");
  EXPECT_TRUE(c.has_query);
  EXPECT_FALSE(absl::StrContains(c.path, "s3cr3t"));
  EXPECT_FALSE(absl::StrContains(c.host, "s3cr3t"));
}

TEST(ClassifyHttpRequestTest, ConnectAuthorityIsTheHost) {
  const PayloadClass c =
      Classify("CONNECT Bucket.S3.amazonaws.com:443 HTTP/1.1\r\nHost: other\r\n\r\n");
  EXPECT_EQ(c.method, "CONNECT");
  EXPECT_EQ(c.host, "bucket.s3.amazonaws.com:443");
  EXPECT_EQ(c.path, "Bucket.S3.amazonaws.com:443");
  EXPECT_FALSE(c.has_query);
}

TEST(ClassifyHttpRequestTest, OptionsAsterisk) {
  const PayloadClass c = Classify("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(c.path, "*");
  EXPECT_EQ(c.host, "a");
}

TEST(ClassifyHttpRequestTest, HostHeaderUserinfoIsDroppedAndFirstHostWins) {
  const PayloadClass c =
      Classify("GET / HTTP/1.1\r\nHost: admin:pw@Crm.Example\r\nHost: second\r\n\r\n");
  EXPECT_EQ(c.host, "crm.example");
}

TEST(ClassifyHttpRequestTest, LeadingEmptyLinesAreSkipped) {
  const PayloadClass c = Classify("\r\n\nGET /x HTTP/1.1\r\n\r\n");
  EXPECT_EQ(c.protocol, PayloadClass::kHttp1Request);
  EXPECT_EQ(c.path, "/x");
}

TEST(ClassifyHttpRequestTest, MalformedHeaderLinesAreSkipped) {
  const PayloadClass c = Classify(
      "GET / HTTP/1.1\r\n"
      "Host : spoofed\r\n"          // whitespace before the colon: not a header
      "no colon here\r\n"
      ": empty name\r\n"
      "X-Long:\r\n"
      " folded continuation\r\n"    // obs-fold
      "Host: real.example\r\n"
      "\r\n");
  EXPECT_EQ(c.host, "real.example");
  EXPECT_EQ(c.header_count, 2u);
  EXPECT_FALSE(c.truncated);
}

TEST(ClassifyHttpRequestTest, BodyAfterHeadersIsNotParsed) {
  const PayloadClass c = Classify("POST /u HTTP/1.1\r\nContent-Length: 30\r\n\r\nHost: evil\r\n");
  EXPECT_TRUE(c.host.empty());
  EXPECT_EQ(c.header_count, 1u);
}

TEST(ClassifyHttpRequestTest, ContentLengthForms) {
  PayloadClass c = Classify("POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n");
  EXPECT_TRUE(c.has_content_length);
  EXPECT_EQ(c.content_length, UINT32_MAX);
  c = Classify("POST / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n");
  EXPECT_FALSE(c.has_content_length);
  c = Classify("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n");
  EXPECT_FALSE(c.has_content_length);
  c = Classify("POST / HTTP/1.1\r\nContent-Length: 10\r\ncontent-length: 10\r\n\r\n");
  EXPECT_EQ(c.content_length, 10u);
  EXPECT_FALSE(c.conflicting_content_length);
  c = Classify("POST / HTTP/1.1\r\nContent-Length: 10\r\ncontent-length: 4000\r\n\r\n");
  EXPECT_EQ(c.content_length, 10u);
  EXPECT_TRUE(c.conflicting_content_length);
  c = Classify("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n");
  EXPECT_TRUE(c.chunked);
  EXPECT_FALSE(c.has_content_length);
}

// --- bounds --------------------------------------------------------------------------------

TEST(ClassifyHttpBoundsTest, LongPathIsCutAndFlagged) {
  const PayloadClass c = Classify(absl::StrCat("GET /", std::string(5000, 'a'), "?q=1 HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(c.protocol, PayloadClass::kHttp1Request);
  EXPECT_EQ(c.path.size(), kMaxPathBytes);
  EXPECT_TRUE(c.path_truncated);
  EXPECT_TRUE(c.has_query);
  EXPECT_EQ(c.version, "HTTP/1.1");
}

TEST(ClassifyHttpBoundsTest, EscapesNeverExceedTheBoundOrSplit) {
  const PayloadClass c =
      Classify(absl::StrCat("GET /", std::string(2000, '\x01'), " HTTP/1.1\r\n\r\n"));
  EXPECT_LE(c.path.size(), kMaxPathBytes);
  EXPECT_EQ((c.path.size() - 1) % 3, 0u);  // "/" then whole "%01" escapes only
  EXPECT_TRUE(c.path_truncated);
}

TEST(ClassifyHttpBoundsTest, LongHostIsCutAndFlagged) {
  const PayloadClass c =
      Classify(absl::StrCat("GET / HTTP/1.1\r\nHost: ", std::string(300, 'H'), "\r\n\r\n"));
  EXPECT_EQ(c.host, std::string(kMaxHostBytes, 'h'));
  EXPECT_TRUE(c.host_truncated);
}

TEST(ClassifyHttpBoundsTest, HugeHeaderLineDoesNotStopParsing) {
  const PayloadClass c = Classify(absl::StrCat("GET / HTTP/1.1\r\nCookie: ", std::string(8000, 'c'),
                                               "\r\nHost: after.example\r\n\r\n"));
  EXPECT_TRUE(c.header_value_truncated);
  EXPECT_EQ(c.host, "after.example");
  EXPECT_FALSE(c.truncated);
}

TEST(ClassifyHttpBoundsTest, HeaderLineLongerThanThePrefix) {
  const PayloadClass c =
      Classify(absl::StrCat("GET / HTTP/1.1\r\nCookie: ", std::string(3000, 'c')));
  EXPECT_EQ(c.protocol, PayloadClass::kHttp1Request);
  EXPECT_TRUE(c.truncated);
}

TEST(ClassifyHttpBoundsTest, BytesPastTheScanLimitAreIgnored) {
  const std::string big = absl::StrCat("GET / HTTP/1.1\r\nX: ", std::string(kMaxClassifyBytes, 'x'),
                                       "\r\nHost: late.example\r\n\r\n");
  const PayloadClass c = Classify(big);
  EXPECT_EQ(c.protocol, PayloadClass::kHttp1Request);
  EXPECT_TRUE(c.host.empty());
  EXPECT_TRUE(c.truncated);
}

// --- truncation at every offset ------------------------------------------------------------

TEST(ClassifyHttpTruncationTest, EveryPrefixOfARequest) {
  const std::string req =
      "POST /api/v2/export?format=csv HTTP/1.1\r\n"
      "Host: Sync.Example.com\r\n"
      "Content-Length: 1234\r\n"
      "Transfer-Encoding: chunked\r\n"
      "\r\n"
      "body bytes";
  const PayloadClass full = Classify(req);
  ASSERT_EQ(full.protocol, PayloadClass::kHttp1Request);
  ASSERT_FALSE(full.truncated);
  const size_t headers_end = req.find("\r\n\r\n") + 4;
  for (size_t i = 0; i <= req.size(); ++i) {
    SCOPED_TRACE(i);
    const PayloadClass c = Classify(absl::string_view(req).substr(0, i));
    ExpectBounded(c);
    if (i < 5) {  // "POST" and less: not yet a request
      EXPECT_EQ(c.protocol, PayloadClass::kUnknown);
      continue;
    }
    EXPECT_EQ(c.protocol, PayloadClass::kHttp1Request);
    EXPECT_EQ(c.method, "POST");
    EXPECT_EQ(c.truncated, i < headers_end);
    EXPECT_TRUE(absl::StartsWith(full.path, c.path)) << c.path;
    EXPECT_TRUE(c.version.empty() || c.version == full.version);
    EXPECT_TRUE(c.host.empty() || c.host == full.host) << c.host;
    if (c.has_content_length) {
      EXPECT_EQ(c.content_length, 1234u);
    }
    if (i >= headers_end) {
      EXPECT_EQ(c.host, full.host);
      EXPECT_EQ(c.content_length, full.content_length);
      EXPECT_TRUE(c.chunked);
      EXPECT_EQ(c.request_line(), full.request_line());
    }
  }
}

TEST(ClassifyHttpTruncationTest, EveryPrefixOfProxyRequestsNeverNamesACutHost) {
  for (const std::string req :
       {"CONNECT files.example.org:443 HTTP/1.1\r\nHost: files.example.org:443\r\n\r\n",
        "GET http://u:p@files.example.org:8080/a/b?c HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://files.example.org:8080 HTTP/1.1\r\n\r\n",
        "CONNECT u:p@files.example.org:443 HTTP/1.1\r\n\r\n"}) {
    const PayloadClass full = Classify(req);
    ASSERT_EQ(full.protocol, PayloadClass::kHttp1Request) << req;
    for (size_t i = 0; i <= req.size(); ++i) {
      SCOPED_TRACE(absl::StrCat(req, " @", i));
      const PayloadClass c = Classify(absl::string_view(req).substr(0, i));
      ExpectBounded(c);
      EXPECT_TRUE(c.host.empty() || c.host == full.host) << c.host;
      EXPECT_FALSE(absl::StrContains(c.path, "u:p"));
    }
  }
}

TEST(ClassifyHttpTruncationTest, PathCutByThePrefixIsFlagged) {
  PayloadClass c = Classify("GET /api/acc");
  EXPECT_EQ(c.protocol, PayloadClass::kHttp1Request);
  EXPECT_EQ(c.path, "/api/acc");
  EXPECT_TRUE(c.path_truncated);
  EXPECT_TRUE(c.truncated);
  EXPECT_EQ(c.request_line(), "GET /api/acc");
  c = Classify("GET /api/accounts ");
  EXPECT_EQ(c.path, "/api/accounts");
  EXPECT_FALSE(c.path_truncated);
  c = Classify("GET /api/accounts HT");
  EXPECT_EQ(c.path, "/api/accounts");
  EXPECT_FALSE(c.path_truncated);
  EXPECT_TRUE(c.version.empty());
  c = Classify("GET /api/accounts HTTP/1.1");
  EXPECT_EQ(c.version, "HTTP/1.1");
  EXPECT_TRUE(c.truncated);
}

TEST(ClassifyHttpTruncationTest, EveryPrefixOfAResponse) {
  const std::string resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
  for (size_t i = 0; i <= resp.size(); ++i) {
    SCOPED_TRACE(i);
    const PayloadClass c = Classify(absl::string_view(resp).substr(0, i));
    ExpectBounded(c);
    EXPECT_EQ(c.protocol, i < 5 ? PayloadClass::kUnknown : PayloadClass::kHttp1Response);
    if (i >= 12) {
      EXPECT_EQ(c.status_code, 404);
    }
  }
}

// --- responses -----------------------------------------------------------------------------

TEST(ClassifyHttpResponseTest, StatusLineAndHeaders) {
  const PayloadClass c =
      Classify("HTTP/1.1 200 OK\r\nContent-Length: 512\r\nHost: ignored\r\n\r\n{}");
  EXPECT_EQ(c.protocol, PayloadClass::kHttp1Response);
  EXPECT_EQ(c.version, "HTTP/1.1");
  EXPECT_EQ(c.status_code, 200);
  EXPECT_EQ(c.content_length, 512u);
  EXPECT_TRUE(c.host.empty());
  EXPECT_TRUE(c.method.empty());
  EXPECT_EQ(c.request_line(), "");
  EXPECT_FALSE(c.truncated);
  EXPECT_STREQ(ProtocolName(c.protocol), "http1-response");
}

TEST(ClassifyHttpResponseTest, NoReasonPhraseAndBareLf) {
  const PayloadClass c = Classify("HTTP/1.0 204\n\n");
  EXPECT_EQ(c.protocol, PayloadClass::kHttp1Response);
  EXPECT_EQ(c.status_code, 204);
  EXPECT_FALSE(c.truncated);
}

TEST(ClassifyHttpResponseTest, MalformedStatusLines) {
  for (const char* s : {"HTTP/1.1 abc OK\r\n", "HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000\r\n",
                        "HTTP/11 200 OK\r\n", "HTTP/1.1\r\n", "HTTP/1.1200 OK\r\n",
                        "http/1.1 200 OK\r\n"}) {
    EXPECT_EQ(Classify(s).protocol, PayloadClass::kUnknown) << absl::CEscape(s);
  }
}

// --- HTTP/2 --------------------------------------------------------------------------------

TEST(ClassifyHttp2Test, ClientPreface) {
  const std::string preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00", 29);
  PayloadClass c = Classify(preface);
  EXPECT_EQ(c.protocol, PayloadClass::kHttp2Preface);
  EXPECT_EQ(c.version, "HTTP/2");
  EXPECT_FALSE(c.truncated);
  EXPECT_STREQ(ProtocolName(c.protocol), "http2-preface");
  c = Classify("PRI * HTTP/2.0\r\n");
  EXPECT_EQ(c.protocol, PayloadClass::kHttp2Preface);
  EXPECT_TRUE(c.truncated);
  EXPECT_EQ(Classify("PRI * HTTP").protocol, PayloadClass::kUnknown);
  EXPECT_EQ(Classify("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n").protocol, PayloadClass::kUnknown);
  for (size_t i = 0; i <= preface.size(); ++i) ExpectBounded(Classify(preface.substr(0, i)));
}

// --- TLS -----------------------------------------------------------------------------------

// A ClientHello sent by `openssl s_client -servername api.example.com` (OpenSSL 3.0).
const std::string& OpenSslClientHello() {
  static const std::string* hello = new std::string(absl::HexStringToBytes(
    "160301013c01000138030373b99e0195a2e49ebd10798bbc6ceeb71f34ac42cd3c329413eb5b"
    "c7e02d8d2b20f00b2025b93c27e9746fe037d810a263a7edcf5a2436d2c61b30ead73735a7b5"
    "003e130213031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067"
    "c00ac0140039c009c0130033009d009c003d003c0035002f00ff010000b10000001400120000"
    "0f6170692e6578616d706c652e636f6d000b000403000102000a00160014001d0017001e0019"
    "001801000101010201030104002300000016000000170000000d002a00280403050306030807"
    "08080809080a080b080408050806040105010601030303010302040205020602002b00090803"
    "04030303020301002d00020101003300260024001d00208e3955737c9cd9b33b07f789818983"
    "a0745fe630b3afb1d3064580b5efaf2728"));
  return *hello;
}

// A minimal ClientHello with `extensions` (type, body) in the given order.
std::string ClientHello(const std::vector<std::pair<uint16_t, std::string>>& extensions) {
  auto u16 = [](size_t v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v)}; };
  std::string exts;
  for (const auto& [type, body] : extensions) exts += u16(type) + u16(body.size()) + body;
  std::string body = std::string("\x03\x03", 2) + std::string(32, 'r') + std::string("\x00", 1) +
                     u16(2) + std::string("\x13\x01", 2) + std::string("\x01\x00", 2) +
                     u16(exts.size()) + exts;
  std::string hs = std::string("\x01", 1) + std::string(1, '\0') + u16(body.size()) + body;
  return std::string("\x16\x03\x01", 3) + u16(hs.size()) + hs;
}

std::string SniExtension(const std::string& name) {
  auto u16 = [](size_t v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v)}; };
  const std::string entry = std::string("\x00", 1) + u16(name.size()) + name;
  return u16(entry.size()) + entry;
}

TEST(ClassifyTlsTest, RealClientHelloYieldsSni) {
  const std::string& hello = OpenSslClientHello();
  ASSERT_EQ(hello.size(), 321u);
  const PayloadClass c = Classify(hello);
  EXPECT_EQ(c.protocol, PayloadClass::kTlsRecord);
  EXPECT_EQ(c.tls_content_type, 0x16);
  EXPECT_EQ(c.tls_version, 0x0301);
  EXPECT_TRUE(c.tls_client_hello);
  EXPECT_EQ(c.host, "api.example.com");
  EXPECT_FALSE(c.truncated);
  EXPECT_STREQ(ProtocolName(c.protocol), "tls-record");
}

TEST(ClassifyTlsTest, EveryPrefixOfAClientHello) {
  const std::string& hello = OpenSslClientHello();
  for (size_t i = 0; i <= hello.size(); ++i) {
    SCOPED_TRACE(i);
    const PayloadClass c = Classify(absl::string_view(hello).substr(0, i));
    ExpectBounded(c);
    if (i < 3) {
      EXPECT_EQ(c.protocol, PayloadClass::kUnknown);
      continue;
    }
    EXPECT_EQ(c.protocol, PayloadClass::kTlsRecord);
    // Either the SNI is complete, or it is absent and the result says the prefix was cut.
    EXPECT_TRUE(c.host == "api.example.com" || (c.host.empty() && c.truncated)) << c.host;
  }
}

TEST(ClassifyTlsTest, SniLastAmongShuffledExtensions) {
  const std::string hello = ClientHello({{0x002b, std::string("\x02\x03\x04", 3)},
                                         {0x000a, std::string("\x00\x02\x00\x1d", 4)},
                                         {0x0000, SniExtension("Models.Example.AI")}});
  PayloadClass c = Classify(hello);
  EXPECT_EQ(c.host, "models.example.ai");
  EXPECT_FALSE(c.truncated);
  // No SNI at all: complete, nothing to report.
  c = Classify(ClientHello({{0x002b, std::string("\x02\x03\x04", 3)}}));
  EXPECT_TRUE(c.tls_client_hello);
  EXPECT_TRUE(c.host.empty());
  EXPECT_FALSE(c.truncated);
  // Cut before the SNI extension: unknown, flagged.
  c = Classify(absl::string_view(hello).substr(0, hello.size() - 10));
  EXPECT_TRUE(c.host.empty());
  EXPECT_TRUE(c.truncated);
}

TEST(ClassifyTlsTest, MalformedSniLengthsNeverOverrun) {
  std::string sni = SniExtension("a.example");
  sni[1] = '\x7f';  // list length past the extension
  PayloadClass c = Classify(ClientHello({{0x0000, sni}}));
  EXPECT_EQ(c.protocol, PayloadClass::kTlsRecord);
  EXPECT_TRUE(c.host.empty());
  std::string hello = ClientHello({{0x0000, SniExtension("b.example")}});
  for (size_t i = 5; i < hello.size(); ++i) {
    std::string bad = hello;
    bad[i] = static_cast<char>(0xff);
    ExpectBounded(Classify(bad));
  }
}

TEST(ClassifyTlsTest, RecordHeaders) {
  PayloadClass c = Classify(std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, '\xaa'));
  EXPECT_EQ(c.protocol, PayloadClass::kTlsRecord);
  EXPECT_EQ(c.tls_content_type, 0x17);
  EXPECT_EQ(c.tls_version, 0x0303);
  EXPECT_FALSE(c.tls_client_hello);
  EXPECT_FALSE(c.truncated);
  c = Classify(std::string("\x15\x03\x03\x00\x02\x02\x28", 7));  // alert
  EXPECT_EQ(c.tls_content_type, 0x15);
  c = Classify(std::string("\x14\x03\x03\x00\x01\x01", 6));  // change_cipher_spec
  EXPECT_EQ(c.tls_content_type, 0x14);
  c = Classify(std::string("\x16\x03\x01", 3));
  EXPECT_EQ(c.protocol, PayloadClass::kTlsRecord);
  EXPECT_TRUE(c.truncated);
  c = Classify(std::string("\x16\x03\x00\x00\x10", 5));  // SSL 3.0 record version
  EXPECT_EQ(c.tls_version, 0x0300);
}

TEST(ClassifyTlsTest, NotTls) {
  for (const std::string& s :
       {std::string("\x16\x03", 2), std::string("\x13\x03\x03\x00\x10", 5),
        std::string("\x18\x03\x03\x00\x10", 5), std::string("\x16\x02\x00\x00\x10", 5),
        std::string("\x16\x03\x05\x00\x10", 5), std::string("\x17\x03\x03\xff\xff", 5),
        std::string("\x16\x03\x03\x00\x00", 5)}) {
    EXPECT_EQ(Classify(s).protocol, PayloadClass::kUnknown) << absl::CEscape(s);
  }
}

// --- garbage -------------------------------------------------------------------------------

TEST(ClassifyGarbageTest, EmptyAndRandomBytes) {
  EXPECT_EQ(ClassifyPayload({}).protocol, PayloadClass::kUnknown);
  EXPECT_EQ(Classify("\r\n\r\n").protocol, PayloadClass::kUnknown);
  EXPECT_EQ(Classify(std::string(4096, '\0')).protocol, PayloadClass::kUnknown);
  EXPECT_STREQ(ProtocolName(PayloadClass::kUnknown), "unknown");
  // Random inputs built from fragments that look like HTTP, TLS and the preface, plus noise.
  const std::vector<std::string> pieces = {
      "GET ",  "POST ", "HTTP/1.1", "HTTP/", " ",     "\r\n",  "\n",    ":",     "Host",
      "host: ", "Content-Length: ", "9999999999999", "?", "#",  "/",     "@",     "\x16\x03\x01",
      "\x17\x03\x03", "PRI * HTTP/2.0\r\n", std::string("\x00", 1), "\xff", "\x01", "CONNECT ",
      "http://", "a"};
  std::mt19937 rng(20240601);
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % 40);
    for (int k = 0; k < n; ++k) {
      if (rng() % 4 == 0) {
        s.append(rng() % 64, static_cast<char>(rng()));
      } else {
        s += pieces[rng() % pieces.size()];
      }
    }
    ExpectBounded(Classify(s));
  }
}

}  // namespace
}  // namespace sluice::detect::classify
