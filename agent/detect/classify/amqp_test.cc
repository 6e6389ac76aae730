#include "agent/detect/classify/amqp.h"

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "agent/detect/classify/test_payloads.h"
#include "gtest/gtest.h"

namespace sluice::detect::classify {
namespace {

using ::sluice::detect::classify::testing::Amqp091Header;
using ::sluice::detect::classify::testing::AmqpFrameBytes;
using ::sluice::detect::classify::testing::AmqpMethodFrame;
using ::sluice::detect::classify::testing::Bytes;
using ::sluice::detect::classify::testing::KafkaRequestBytes;
using ::sluice::detect::classify::testing::OpenSslHelloWithAlpn;
using ::sluice::detect::classify::testing::Resp;
using ::sluice::detect::classify::testing::U16;
using ::sluice::detect::classify::testing::U32;
using ::sluice::detect::classify::testing::U8;

absl::StatusOr<AmqpInfo> Parse(absl::string_view s) { return ParseAmqp(Bytes(s)); }

// basic.publish + content header + body, as a client publishes one message on channel 1.
std::string Publish(absl::string_view body) {
  const std::string publish_args = U16(0) + U8(0) + U8(6) + "orders" + U8(0);
  std::string header = U16(60) + U16(0) + U32(0) + U32(body.size()) + U16(0x9000) + U8(16) +
                       "application/json" + U8(2);
  return AmqpMethodFrame(1, 60, 40, publish_args) + AmqpFrameBytes(2, 1, header) +
         AmqpFrameBytes(3, 1, body);
}

TEST(AmqpTest, ProtocolHeader) {
  auto a = Parse(Amqp091Header());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->protocol_header);
  EXPECT_EQ(a->version, "0-9-1");
  EXPECT_TRUE(a->frames.empty());
  EXPECT_FALSE(a->truncated);
  EXPECT_EQ(a->Operation(), "protocol-header");
}

TEST(AmqpTest, OtherProtocolVersions) {
  for (const auto& [bytes, version] : std::vector<std::pair<std::string, std::string>>{
           {std::string("AMQP\x01\x01\x00\x09", 8), "0-9"},
           {std::string("AMQP\x01\x01\x08\x00", 8), "0-8"},
           {std::string("AMQP\x01\x01\x00\x0a", 8), "0-10"},
           {std::string("AMQP\x00\x01\x00\x00", 8), "1.0"},
           {std::string("AMQP\x03\x01\x00\x00", 8), "1.0"}}) {
    auto a = Parse(bytes);
    ASSERT_TRUE(a.ok()) << absl::CEscape(bytes);
    EXPECT_EQ(a->version, version);
  }
  // AMQP 1.0 frames after the header are not 0-9-1 frames and are not walked.
  auto a =
      Parse(std::string("AMQP\x03\x01\x00\x00", 8) + std::string("\x00\x00\x00\x1e\x02\x01", 6));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->frames.empty());
}

TEST(AmqpTest, CutProtocolHeader) {
  for (size_t n = 4; n < 8; ++n) {
    auto a = Parse(Amqp091Header().substr(0, n));
    ASSERT_TRUE(a.ok()) << n;
    EXPECT_TRUE(a->truncated);
    EXPECT_TRUE(a->version.empty());
  }
  EXPECT_FALSE(Parse("AMQ").ok());
  EXPECT_FALSE(Parse(std::string("AMQP\x00\x00\x09\x02", 8)).ok());
  EXPECT_FALSE(Parse("AMQP/1.1 200 OK").ok());
  EXPECT_FALSE(Parse("AMQPX").ok());
}

TEST(AmqpTest, ConnectionStartOk) {
  // connection.start-ok: client properties, mechanism "PLAIN", response (the credentials),
  // locale. The credentials are never looked at.
  const std::string args =
      U32(0) + U8(5) + "PLAIN" + U32(14) + std::string("\0guest\0secret!", 14) + U8(5) + "en_US";
  auto a = Parse(AmqpMethodFrame(0, 10, 11, args));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->frames.size(), 1u);
  const AmqpFrame& f = a->frames[0];
  EXPECT_EQ(f.type, AmqpFrame::kMethod);
  EXPECT_EQ(f.channel, 0);
  EXPECT_EQ(f.size, 4 + args.size());
  EXPECT_TRUE(f.complete);
  EXPECT_EQ(f.class_id, 10);
  EXPECT_EQ(f.method_id, 11);
  EXPECT_STREQ(f.MethodName(), "connection.start-ok");
  EXPECT_EQ(a->Operation(), "connection.start-ok");
  EXPECT_FALSE(a->truncated);
}

TEST(AmqpTest, PublishWithHeaderAndBody) {
  const std::string bytes = Publish("{\"order\":1}");
  auto a = Parse(bytes);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->frames.size(), 3u);
  EXPECT_EQ(a->frames[0].type, AmqpFrame::kMethod);
  EXPECT_STREQ(a->frames[0].MethodName(), "basic.publish");
  EXPECT_EQ(a->frames[1].type, AmqpFrame::kHeader);
  EXPECT_EQ(a->frames[1].class_id, 60);
  EXPECT_EQ(a->frames[2].type, AmqpFrame::kBody);
  EXPECT_EQ(a->frames[2].channel, 1);
  EXPECT_EQ(a->Operation(), "basic.publish");
  EXPECT_FALSE(a->truncated);
  // Every prefix: too short to tell, or the same frames so far, flagged as cut unless it ends
  // between two frames.
  std::vector<size_t> boundaries;
  for (size_t pos = 0; pos < bytes.size();) {
    pos += 7 +
           ((static_cast<uint8_t>(bytes[pos + 5]) << 8) | static_cast<uint8_t>(bytes[pos + 6])) + 1;
    boundaries.push_back(pos);
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    SCOPED_TRACE(i);
    auto p = Parse(absl::string_view(bytes).substr(0, i));
    if (i < 11) {  // frame header + class and method ids
      EXPECT_FALSE(p.ok());
      continue;
    }
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->truncated, std::find(boundaries.begin(), boundaries.end(), i) == boundaries.end());
    EXPECT_EQ(p->Operation(), "basic.publish");
    EXPECT_LE(p->frames.size(), 3u);
  }
}

TEST(AmqpTest, HeartbeatAndContentFramesFirst) {
  auto a = Parse(AmqpFrameBytes(8, 0, ""));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->Operation(), "heartbeat");
  a = Parse(AmqpFrameBytes(3, 2, "chunk of a large message"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->Operation(), "content");
  // Without the frame end in sight a body frame is just bytes.
  EXPECT_FALSE(Parse(AmqpFrameBytes(3, 2, std::string(100, 'x')).substr(0, 50)).ok());
  EXPECT_FALSE(Parse(AmqpFrameBytes(8, 0, "").substr(0, 7)).ok());
}

TEST(AmqpTest, MethodNames) {
  EXPECT_STREQ(AmqpMethodName(10, 10), "connection.start");
  EXPECT_STREQ(AmqpMethodName(10, 11), "connection.start-ok");
  EXPECT_STREQ(AmqpMethodName(10, 31), "connection.tune-ok");
  EXPECT_STREQ(AmqpMethodName(10, 40), "connection.open");
  EXPECT_STREQ(AmqpMethodName(20, 10), "channel.open");
  EXPECT_STREQ(AmqpMethodName(40, 10), "exchange.declare");
  EXPECT_STREQ(AmqpMethodName(50, 10), "queue.declare");
  EXPECT_STREQ(AmqpMethodName(50, 20), "queue.bind");
  EXPECT_STREQ(AmqpMethodName(60, 20), "basic.consume");
  EXPECT_STREQ(AmqpMethodName(60, 40), "basic.publish");
  EXPECT_STREQ(AmqpMethodName(60, 80), "basic.ack");
  EXPECT_STREQ(AmqpMethodName(85, 10), "confirm.select");
  EXPECT_STREQ(AmqpMethodName(90, 20), "tx.commit");
  EXPECT_EQ(AmqpMethodName(60, 41), nullptr);
  EXPECT_EQ(AmqpMethodName(70, 10), nullptr);
}

TEST(AmqpTest, NearMissesAreRejected) {
  const std::string good = AmqpMethodFrame(1, 60, 40, std::string(12, '\0'));
  ASSERT_TRUE(Parse(good).ok());
  std::string bad = good;
  bad.back() = '\xCD';  // frame end
  EXPECT_FALSE(Parse(bad).ok());
  EXPECT_FALSE(Parse(AmqpMethodFrame(1, 60, 41)).ok());        // unknown method
  EXPECT_FALSE(Parse(AmqpMethodFrame(0, 60, 40)).ok());        // basic on channel 0
  EXPECT_FALSE(Parse(AmqpMethodFrame(1, 10, 11)).ok());        // connection off channel 0
  EXPECT_FALSE(Parse(AmqpFrameBytes(1, 0, "\x00\x0a")).ok());  // method frame under 4 bytes
  EXPECT_FALSE(Parse(AmqpFrameBytes(4, 0, "abcd")).ok());      // frame type 4
  EXPECT_FALSE(Parse(AmqpFrameBytes(8, 1, "")).ok());          // heartbeat off channel 0
  EXPECT_FALSE(Parse(AmqpFrameBytes(8, 0, "x")).ok());         // heartbeat with payload
  EXPECT_FALSE(Parse(AmqpFrameBytes(3, 0, "body")).ok());      // content on channel 0
  EXPECT_FALSE(Parse(AmqpFrameBytes(2, 1, U16(60) + U16(1) + std::string(10, '\0'))).ok());
  EXPECT_FALSE(Parse(AmqpFrameBytes(2, 1, U16(50) + U16(0) + std::string(10, '\0'))).ok());
  EXPECT_FALSE(Parse(AmqpFrameBytes(2, 1, U16(60) + U16(0))).ok());  // header too small
  // A frame size over 16 MiB.
  EXPECT_FALSE(Parse(U8(1) + U16(1) + U32(0x01000001) + U16(60) + U16(40)).ok());
}

TEST(AmqpTest, AGarbageFrameAfterAGoodOneEndsTheWalk) {
  auto a = Parse(AmqpMethodFrame(1, 60, 40, std::string(4, '\0')) + "GET / HTTP/1.1\r\n");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->frames.size(), 1u);
  EXPECT_FALSE(a->truncated);
}

TEST(AmqpTest, FramesAreCapped) {
  std::string many;
  for (int i = 0; i < 40; ++i) many += AmqpMethodFrame(1, 60, 80, std::string(9, '\0'));
  auto a = Parse(many);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->frames.size(), kMaxAmqpFrames);
  EXPECT_EQ(a->Operation(), "basic.ack");
}

TEST(AmqpTest, OtherProtocolsAreNotAmqp) {
  for (const std::string& s : {
           std::string("GET / HTTP/1.1\r\nHost: rabbit\r\n\r\n"),
           OpenSslHelloWithAlpn(),
           KafkaRequestBytes(0, 9, 1, "producer-1", std::string(40, '\0')),
           KafkaRequestBytes(18, 3, 1, "adminclient-1"),
           Resp({"PUBLISH", "channel", "message"}),
           std::string("PING\r\n"),
           std::string(64, '\0'),
           std::string(64, '\x01'),
           std::string("\x01\x00\x00\x00\x00\x00\x04\x00\x0a\x00\x0b\x00", 12),
       }) {
    EXPECT_FALSE(Parse(s).ok()) << absl::CEscape(s.substr(0, 40));
  }
}

TEST(AmqpTest, RandomBytesRarelyAndSafely) {
  std::mt19937 rng(3);
  int matched = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    const size_t n = rng() % 64;
    for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(rng()));
    auto a = Parse(s);
    if (a.ok()) {
      ++matched;
      EXPECT_LE(a->frames.size(), kMaxAmqpFrames);
    }
  }
  EXPECT_EQ(matched, 0);
}

}  // namespace
}  // namespace sluice::detect::classify
