// ClassifyPayload across protocols: each sample is recognised as its own protocol and no other,
// with the operation and the protocol's fields filled in.
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "agent/detect/classify/http.h"
#include "agent/detect/classify/test_payloads.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::detect::classify {
namespace {

using ::sluice::detect::classify::testing::Amqp091Header;
using ::sluice::detect::classify::testing::AmqpFrameBytes;
using ::sluice::detect::classify::testing::AmqpMethodFrame;
using ::sluice::detect::classify::testing::Bytes;
using ::sluice::detect::classify::testing::GnuTlsHelloWithAlpn;
using ::sluice::detect::classify::testing::KafkaRequestBytes;
using ::sluice::detect::classify::testing::OpenSslHelloWithAlpn;
using ::sluice::detect::classify::testing::Resp;
using ::testing::ElementsAre;

PayloadClass Classify(absl::string_view s) { return ClassifyPayload(Bytes(s)); }

TEST(DispatchTest, ProtocolNames) {
  EXPECT_STREQ(ProtocolName(PayloadClass::kKafka), "kafka");
  EXPECT_STREQ(ProtocolName(PayloadClass::kAmqp), "amqp");
  EXPECT_STREQ(ProtocolName(PayloadClass::kRedis), "redis");
  EXPECT_STREQ(ProtocolName(PayloadClass::kTlsRecord), "tls-record");
  EXPECT_STREQ(ProtocolName(PayloadClass::kHttp1Request), "http1-request");
}

TEST(DispatchTest, ClientHelloGivesHostAndAlpn) {
  PayloadClass c = Classify(OpenSslHelloWithAlpn());
  EXPECT_EQ(c.protocol, PayloadClass::kTlsRecord);
  EXPECT_TRUE(c.tls_client_hello);
  EXPECT_EQ(c.host, "crm.example.com");
  ASSERT_TRUE(c.client_hello.has_value());
  EXPECT_THAT(c.client_hello->alpn, ElementsAre("h2", "http/1.1"));
  EXPECT_EQ(c.client_hello->MaxVersion(), 0x0304);
  EXPECT_FALSE(c.truncated);
  EXPECT_EQ(c.operation, "");

  c = Classify(GnuTlsHelloWithAlpn());
  EXPECT_EQ(c.host, "vectors.example.net");
  // Cut before the SNI (GnuTLS sends it next to last): no host, flagged.
  c = Classify(absl::string_view(GnuTlsHelloWithAlpn()).substr(0, 300));
  EXPECT_EQ(c.protocol, PayloadClass::kTlsRecord);
  EXPECT_TRUE(c.host.empty());
  EXPECT_TRUE(c.truncated);
  ASSERT_TRUE(c.client_hello.has_value());
  EXPECT_THAT(c.client_hello->alpn, ElementsAre("h2", "http/1.1"));
}

TEST(DispatchTest, Kafka) {
  const PayloadClass c = Classify(KafkaRequestBytes(0, 9, 7, "producer-1", std::string(100, '\0')));
  EXPECT_EQ(c.protocol, PayloadClass::kKafka);
  EXPECT_EQ(c.operation, "Produce");
  ASSERT_TRUE(c.kafka.has_value());
  EXPECT_EQ(c.kafka->client_id, "producer-1");
  EXPECT_EQ(c.kafka->api_version, 9);
  EXPECT_FALSE(c.amqp.has_value() || c.redis.has_value());
  EXPECT_EQ(c.request_line(), "");
  EXPECT_TRUE(c.host.empty() && c.method.empty() && c.path.empty());
}

TEST(DispatchTest, Amqp) {
  PayloadClass c = Classify(Amqp091Header());
  EXPECT_EQ(c.protocol, PayloadClass::kAmqp);
  EXPECT_EQ(c.operation, "protocol-header");
  ASSERT_TRUE(c.amqp.has_value());
  EXPECT_EQ(c.amqp->version, "0-9-1");

  c = Classify(AmqpMethodFrame(1, 60, 40, std::string(10, '\0')) +
               AmqpFrameBytes(3, 1, "{\"card\":\"4111111111111111\"}"));
  EXPECT_EQ(c.protocol, PayloadClass::kAmqp);
  EXPECT_EQ(c.operation, "basic.publish");
}

TEST(DispatchTest, Redis) {
  PayloadClass c = Classify(Resp({"AUTH", "default", "s3cret-password"}));
  EXPECT_EQ(c.protocol, PayloadClass::kRedis);
  EXPECT_EQ(c.operation, "AUTH");
  ASSERT_TRUE(c.redis.has_value());
  EXPECT_EQ(c.redis->arg_count, 2u);
  c = Classify("PING\r\n");
  EXPECT_EQ(c.protocol, PayloadClass::kRedis);
  EXPECT_EQ(c.operation, "PING");
  // An inline GET is not an HTTP request (no version), and an HTTP GET is not Redis.
  c = Classify("GET user:42\r\n");
  EXPECT_EQ(c.protocol, PayloadClass::kRedis);
  c = Classify("GET /user/42 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(c.protocol, PayloadClass::kHttp1Request);
  EXPECT_EQ(c.operation, "");
}

TEST(DispatchTest, EverySampleIsItsOwnProtocolOnly) {
  struct Sample {
    std::string bytes;
    PayloadClass::Protocol protocol;
  };
  const std::vector<Sample> samples = {
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", PayloadClass::kHttp1Request},
      {"HTTP/1.1 204 No Content\r\n\r\n", PayloadClass::kHttp1Response},
      {std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), PayloadClass::kHttp2Preface},
      {OpenSslHelloWithAlpn(), PayloadClass::kTlsRecord},
      {std::string("\x17\x03\x03\x00\x04"
                   "abcd",
                   9),
       PayloadClass::kTlsRecord},
      {KafkaRequestBytes(3, 12, 1, "rdkafka", std::string(6, '\0')), PayloadClass::kKafka},
      {KafkaRequestBytes(18, 3, 0, nullptr), PayloadClass::kKafka},
      {Amqp091Header(), PayloadClass::kAmqp},
      {AmqpMethodFrame(0, 10, 11, std::string(30, 'x')), PayloadClass::kAmqp},
      {AmqpFrameBytes(8, 0, ""), PayloadClass::kAmqp},
      {Resp({"XADD", "events", "*", "k", "v"}), PayloadClass::kRedis},
      {"FLUSHALL\r\n", PayloadClass::kRedis},
      {"hello world\n", PayloadClass::kUnknown},
      // An HTTP/2 server's SETTINGS frame: zeros where a Kafka header has its ids.
      {absl::HexStringToBytes("000012040000000000000300000064000400010000000500004000"),
       PayloadClass::kUnknown},
      {std::string(32, '\0'), PayloadClass::kUnknown},
  };
  for (const Sample& s : samples) {
    SCOPED_TRACE(absl::CEscape(s.bytes.substr(0, 32)));
    const PayloadClass c = Classify(s.bytes);
    EXPECT_EQ(c.protocol, s.protocol) << ProtocolName(c.protocol);
    EXPECT_EQ(c.kafka.has_value(), s.protocol == PayloadClass::kKafka);
    EXPECT_EQ(c.amqp.has_value(), s.protocol == PayloadClass::kAmqp);
    EXPECT_EQ(c.redis.has_value(), s.protocol == PayloadClass::kRedis);
    // The standalone recognisers agree with the dispatcher.
    EXPECT_EQ(ParseKafkaRequest(Bytes(s.bytes)).ok(), s.protocol == PayloadClass::kKafka);
    EXPECT_EQ(ParseAmqp(Bytes(s.bytes)).ok(), s.protocol == PayloadClass::kAmqp);
    EXPECT_EQ(ParseRedisCommand(Bytes(s.bytes)).ok(), s.protocol == PayloadClass::kRedis);
  }
}

}  // namespace
}  // namespace sluice::detect::classify
