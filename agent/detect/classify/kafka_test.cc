#include "agent/detect/classify/kafka.h"

#include <random>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "agent/detect/classify/test_payloads.h"
#include "gtest/gtest.h"

namespace sluice::detect::classify {
namespace {

using ::sluice::detect::classify::testing::AmqpMethodFrame;
using ::sluice::detect::classify::testing::Bytes;
using ::sluice::detect::classify::testing::KafkaRequestBytes;
using ::sluice::detect::classify::testing::OpenSslHelloWithAlpn;
using ::sluice::detect::classify::testing::Resp;

absl::StatusOr<KafkaRequest> Parse(absl::string_view s) { return ParseKafkaRequest(Bytes(s)); }

TEST(KafkaTest, ProduceRequest) {
  const std::string req = KafkaRequestBytes(0, 9, 42, "producer-1", std::string(120, '\0'));
  auto k = Parse(req);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->size, req.size() - 4);
  EXPECT_EQ(k->api_key, 0);
  EXPECT_EQ(k->api_version, 9);
  EXPECT_EQ(k->correlation_id, 42);
  EXPECT_EQ(k->client_id, "producer-1");
  EXPECT_FALSE(k->client_id_null);
  EXPECT_FALSE(k->truncated);
  EXPECT_EQ(k->ApiName(), "Produce");
}

// ApiVersions v3 as the Java client sends it first (header v2: a tagged-field count follows
// the client id).
TEST(KafkaTest, ApiVersionsFromJavaClient) {
  const std::string req = absl::HexStringToBytes(
      "00000031001200030000000100"
      "0d61646d696e636c69656e742d31"          // "adminclient-1"
      "00"                                    // tagged fields
      "126170616368652d6b61666b612d6a617661"  // compact "apache-kafka-java"
      "06332e372e30"                          // compact "3.7.0"
      "00");
  auto k = Parse(req);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->api_key, 18);
  EXPECT_EQ(k->ApiName(), "ApiVersions");
  EXPECT_EQ(k->api_version, 3);
  EXPECT_EQ(k->correlation_id, 1);
  EXPECT_EQ(k->client_id, "adminclient-1");
}

TEST(KafkaTest, NamesOfCommonApis) {
  EXPECT_STREQ(KafkaApiName(0), "Produce");
  EXPECT_STREQ(KafkaApiName(1), "Fetch");
  EXPECT_STREQ(KafkaApiName(2), "ListOffsets");
  EXPECT_STREQ(KafkaApiName(3), "Metadata");
  EXPECT_STREQ(KafkaApiName(8), "OffsetCommit");
  EXPECT_STREQ(KafkaApiName(10), "FindCoordinator");
  EXPECT_STREQ(KafkaApiName(11), "JoinGroup");
  EXPECT_STREQ(KafkaApiName(17), "SaslHandshake");
  EXPECT_STREQ(KafkaApiName(18), "ApiVersions");
  EXPECT_STREQ(KafkaApiName(19), "CreateTopics");
  EXPECT_STREQ(KafkaApiName(36), "SaslAuthenticate");
  EXPECT_STREQ(KafkaApiName(75), "DescribeTopicPartitions");
  EXPECT_EQ(KafkaApiName(76), nullptr);
  EXPECT_EQ(KafkaApiName(-1), nullptr);
  // A key in range but without a name here is still Kafka.
  auto k = Parse(KafkaRequestBytes(80, 0, 5, "c"));
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->ApiName(), "ApiKey80");
}

TEST(KafkaTest, NullClientIdButNotEmpty) {
  auto k = Parse(KafkaRequestBytes(3, 12, 7, nullptr, std::string(8, '\0')));
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_TRUE(k->client_id_null);
  EXPECT_TRUE(k->client_id.empty());
  // Empty: refused, it is what zero-filled buffers look like.
  EXPECT_FALSE(Parse(KafkaRequestBytes(3, 12, 7, "", std::string(8, '\0'))).ok());
}

TEST(KafkaTest, ClientIdCutByThePrefixIsNotKept) {
  const std::string req = KafkaRequestBytes(1, 13, 100, "consumer-orders-7", std::string(50, 'x'));
  auto k = Parse(absl::string_view(req).substr(0, 20));
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_TRUE(k->truncated);
  EXPECT_TRUE(k->client_id.empty());
  EXPECT_EQ(k->ApiName(), "Fetch");
  // Every prefix: too short to tell, or the same header.
  for (size_t i = 0; i <= req.size(); ++i) {
    auto p = Parse(absl::string_view(req).substr(0, i));
    if (i < kKafkaMinPrefixBytes) {
      EXPECT_FALSE(p.ok()) << i;
      continue;
    }
    ASSERT_TRUE(p.ok()) << i;
    EXPECT_EQ(p->api_key, 1);
    EXPECT_TRUE(p->client_id.empty() || p->client_id == "consumer-orders-7");
  }
}

TEST(KafkaTest, NearMissesAreRejected) {
  const std::string good = KafkaRequestBytes(0, 9, 1, "app", std::string(20, '\0'));
  ASSERT_TRUE(Parse(good).ok());
  auto patched = [&](size_t at, absl::string_view bytes) {
    std::string s = good;
    s.replace(at, bytes.size(), std::string(bytes));
    return s;
  };
  EXPECT_FALSE(Parse(patched(0, std::string("\x07\x00\x00\x00", 4))).ok());  // size > 100 MiB
  EXPECT_FALSE(Parse(patched(0, std::string("\x00\x00\x00\x09", 4))).ok());  // size < header
  EXPECT_FALSE(Parse(patched(4, std::string("\x00\x5b", 2))).ok());          // api_key 91
  EXPECT_FALSE(Parse(patched(4, std::string("\xff\xff", 2))).ok());          // api_key -1
  EXPECT_FALSE(Parse(patched(6, std::string("\x00\x15", 2))).ok());          // api_version 21
  EXPECT_FALSE(Parse(patched(8, std::string("\x80\x00\x00\x00", 4))).ok());  // correlation < 0
  EXPECT_FALSE(Parse(patched(12, std::string("\xff\xfe", 2))).ok());         // length -2
  EXPECT_FALSE(Parse(patched(12, std::string("\x01\x00", 2))).ok());         // length 256
  EXPECT_FALSE(Parse(patched(14, std::string("a\x01p", 3))).ok());           // control byte
  EXPECT_FALSE(Parse(patched(14, std::string("a\xc3p", 3))).ok());           // non-ASCII
  // A client id longer than the request.
  using testing::U16;
  using testing::U32;
  EXPECT_FALSE(Parse(U32(14) + U16(0) + U16(1) + U32(1) + U16(32) + std::string(32, 'a')).ok());
  EXPECT_TRUE(Parse(U32(42) + U16(0) + U16(1) + U32(1) + U16(32) + std::string(32, 'a')).ok());
  EXPECT_FALSE(Parse(good.substr(0, kKafkaMinPrefixBytes - 1)).ok());
}

TEST(KafkaTest, OtherProtocolsAreNotKafka) {
  for (const std::string& s : {
           std::string("GET /topics HTTP/1.1\r\nHost: kafka\r\n\r\n"),
           std::string("POST /v3/clusters HTTP/1.1\r\n\r\n"),
           OpenSslHelloWithAlpn(),
           std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, '\x00'),
           std::string("AMQP\x00\x00\x09\x01", 8),
           AmqpMethodFrame(0, 10, 11, std::string(40, 'x')),
           AmqpMethodFrame(1, 60, 40, std::string(12, '\0')),
           Resp({"SET", "key", "value"}),
           std::string("PING\r\n"),
           std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
           // HTTP/2 SETTINGS (a server's first write) and WINDOW_UPDATE + PING frames.
           absl::HexStringToBytes("000012040000000000000300000064000400010000000500004000"),
           absl::HexStringToBytes("0000040800000000000000ffff000000080600000000000000000000000000"
                                  "00"),
           std::string("{\"records\":[{\"value\":\"x\"}]}"),
           std::string(64, '\0'),
           std::string(64, '\xff'),
       }) {
    EXPECT_FALSE(Parse(s).ok()) << absl::CEscape(s.substr(0, 40));
  }
}

TEST(KafkaTest, RandomTextNeverMatches) {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    const size_t n = 14 + rng() % 64;
    for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(0x20 + rng() % 95));
    ASSERT_FALSE(Parse(s).ok()) << s;
  }
}

}  // namespace
}  // namespace sluice::detect::classify
