#include "agent/detect/classify/redis.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
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

absl::StatusOr<RedisCommand> Parse(absl::string_view s) { return ParseRedisCommand(Bytes(s)); }

// No field of the result holds an argument: only the name is text, and it is the command's.
void ExpectNoArgumentKept(const RedisCommand& c, absl::string_view secret) {
  EXPECT_FALSE(absl::StrContains(c.name, secret));
  EXPECT_LE(c.name.size(), kMaxRedisCommandBytes);
}

TEST(RedisTest, RespSet) {
  auto c = Parse(Resp({"set", "session:42", "{\"user\":\"ann\"}"}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "SET");
  EXPECT_TRUE(c->known);
  EXPECT_EQ(c->arg_count, 2u);
  EXPECT_FALSE(c->inline_form);
  EXPECT_EQ(c->request_count, 1u);
  EXPECT_FALSE(c->truncated);
}

TEST(RedisTest, AuthPasswordIsNeverKept) {
  const std::string secret = "hunter2-Sup3rS3cret";
  for (const std::string& bytes : {Resp({"AUTH", secret}), Resp({"AUTH", "default", secret}),
                                   Resp({"HELLO", "3", "AUTH", "default", secret}),
                                   "AUTH " + secret + "\r\n", "auth default " + secret + "\r\n"}) {
    auto c = Parse(bytes);
    ASSERT_TRUE(c.ok()) << absl::CEscape(bytes);
    ExpectNoArgumentKept(*c, secret);
    EXPECT_TRUE(c->name == "AUTH" || c->name == "HELLO") << c->name;
  }
}

TEST(RedisTest, PipelineIsCounted) {
  const std::string pipeline = Resp({"MULTI"}) + Resp({"INCR", "counter"}) +
                               Resp({"EXPIRE", "counter", "60"}) + Resp({"EXEC"});
  auto c = Parse(pipeline);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "MULTI");
  EXPECT_EQ(c->request_count, 4u);
  std::string many;
  for (int i = 0; i < 100; ++i) many += Resp({"PING"});
  c = Parse(many);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->request_count, kMaxRedisPipelined);
}

TEST(RedisTest, ModuleCommandsAreNamedButNotKnown) {
  auto c = Parse(Resp({"JSON.SET", "doc", "$", "{}"}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "JSON.SET");
  EXPECT_FALSE(c->known);
  EXPECT_EQ(c->arg_count, 3u);
  c = Parse(Resp({"ft.search", "idx", "*"}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "FT.SEARCH");
}

TEST(RedisTest, EveryPrefixOfARequest) {
  const std::string req = Resp({"HSET", "contact:7", "email", "ann@example.com"});
  for (size_t i = 0; i <= req.size(); ++i) {
    SCOPED_TRACE(i);
    auto c = Parse(absl::string_view(req).substr(0, i));
    if (i < 8) {  // "*4\r\n$4\r\n": the shape needs both headers
      EXPECT_FALSE(c.ok());
      continue;
    }
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->arg_count, 3u);
    EXPECT_EQ(c->truncated, i < req.size());
    // The name is whole or absent.
    EXPECT_TRUE(c->name.empty() || c->name == "HSET") << c->name;
    if (i >= 14) {
      EXPECT_EQ(c->name, "HSET");
    }
  }
}

TEST(RedisTest, InlineCommands) {
  struct Case {
    const char* line;
    const char* name;
    uint32_t args;
  };
  for (const Case& k : std::vector<Case>{{"PING\r\n", "PING", 0},
                                         {"ping\n", "PING", 0},
                                         {"GET user:1\r\n", "GET", 1},
                                         {"set greeting \"hello world\"\r\n", "SET", 2},
                                         {"SET k 'it\\'s'\r\n", "SET", 2},
                                         {"INFO\r\nPING\r\n", "INFO", 0},
                                         {"CONFIG GET maxmemory\r\n", "CONFIG", 2}}) {
    SCOPED_TRACE(k.line);
    auto c = Parse(k.line);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->name, k.name);
    EXPECT_EQ(c->arg_count, k.args);
    EXPECT_TRUE(c->inline_form);
    EXPECT_TRUE(c->known);
  }
}

TEST(RedisTest, TextThatLooksLikeInlineCommandsIsNot) {
  for (const char* s : {
           "GET / HTTP/1.1\r\nHost: x\r\n\r\n",  // HTTP, name and arity of a Redis GET
           "GET /index.html HTTP/1.0\n",
           "Get me the report\n",  // mixed case
           "get me the report\n",  // wrong arity
           "Set up the pipeline\n",
           "PING",      // no end of line
           "PONG\r\n",  // a reply, not a command
           "HELLOWORLD\r\n",
           " PING\r\n",  // not at the start
           "SET \"unbalanced value\r\n",
           "SET k \"v\"x\r\n",  // closing quote not followed by a blank
           "GET k\x01\r\n",
           "MONITOR please\r\n",
           "\r\n",
           "+OK\r\n",
           "-ERR unknown command\r\n",
           ":1\r\n",
           "$5\r\nhello\r\n",
       }) {
    EXPECT_FALSE(Parse(s).ok()) << absl::CEscape(s);
  }
}

TEST(RedisTest, MalformedRespIsRejected) {
  for (const std::string& s : {
           std::string("*0\r\n"), std::string("*1\r\n"), std::string("*1\r\n$"),
           std::string("*-1\r\n$4\r\nPING\r\n"), std::string("*x\r\n$4\r\nPING\r\n"),
           std::string("*1\n$4\nPING\n"), std::string("*1\r\n$0\r\n\r\n"),
           std::string("*1\r\n$40\r\n") + std::string(40, 'A') + "\r\n",  // name too long
           std::string("*1\r\n$4\r\n1234\r\n"),                           // not a name
           std::string("*1\r\n$4\r\nPI G\r\n"),
           std::string("*1\r\n$4\r\nPINGXX"),          // no CRLF after
           std::string("*2000000\r\n$4\r\nPING\r\n"),  // over the cap
           std::string("*12345678901\r\n$4\r\nPING\r\n"),
           std::string("*1\r\n:4\r\nPING\r\n"),  // not a bulk string
       }) {
    EXPECT_FALSE(Parse(s).ok()) << absl::CEscape(s);
  }
}

TEST(RedisTest, OtherProtocolsAreNotRedis) {
  for (const std::string& s : {
           std::string("POST /v1/kv HTTP/1.1\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\n\r\n"),
           OpenSslHelloWithAlpn(),
           KafkaRequestBytes(0, 9, 1, "producer-1"),
           AmqpMethodFrame(1, 60, 40, std::string(8, '\0')),
           std::string("AMQP\x00\x00\x09\x01", 8),
           std::string("{\"set\": 1}\n"),
           std::string("* list item\n"),
       }) {
    EXPECT_FALSE(Parse(s).ok()) << absl::CEscape(s.substr(0, 40));
  }
}

TEST(RedisTest, RandomInputsAreHandledSafely) {
  const std::vector<std::string> pieces = {"*",   "$",    "\r\n", "1",  "3", "9999999999",
                                           "SET", "get",  " ",    "\"", "'", "\\",
                                           "\n",  "PING", "x",    "-1"};
  std::mt19937 rng(5);
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % 24);
    for (int i = 0; i < n; ++i) s += pieces[rng() % pieces.size()];
    auto c = Parse(s);
    if (!c.ok()) continue;
    EXPECT_LE(c->name.size(), kMaxRedisCommandBytes);
    EXPECT_LE(c->request_count, kMaxRedisPipelined);
    for (char ch : c->name) EXPECT_FALSE(ch >= 'a' && ch <= 'z');
  }
}

TEST(RedisTest, KnownCommands) {
  for (const char* name : {"GET", "SET", "AUTH", "HELLO", "PING", "DEL", "HSET", "XADD", "PUBLISH",
                           "EVAL", "CONFIG", "CLIENT", "FLUSHALL", "EVAL_RO"}) {
    EXPECT_TRUE(IsKnownRedisCommand(name)) << name;
  }
  EXPECT_FALSE(IsKnownRedisCommand("get"));
  EXPECT_FALSE(IsKnownRedisCommand("JSON.SET"));
  EXPECT_FALSE(IsKnownRedisCommand(""));
}

}  // namespace
}  // namespace sluice::detect::classify
