#include "agent/output/http_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::output {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

HttpOptions Hec(std::string url = "https://collector.example:8088/services/collector/event") {
  HttpOptions o;
  o.kind = HttpOptions::Kind::kSplunkHec;
  o.url = std::move(url);
  o.token = "0f5a2c9e-tok-123";
  o.host = "sensor-1";
  return o;
}

HttpOptions Webhook(std::string url = "https://hooks.example/sluice") {
  HttpOptions o;
  o.url = std::move(url);
  return o;
}

// ---- Bodies ----

TEST(HecBodyTest, ExactEvents) {
  HttpOptions o = Hec();
  o.index = "security";
  const std::vector<std::string> lines = {
      R"({"time":1700000000123,"finding_info":{"uid":"u1"},"class_uid":2004})",
      "not json at all",
      R"({"time":1700000000005,"message":"caf\u00e9 \"x\""})",
      "  {\"b\":1}\t",  // JSON with surrounding blanks: trimmed, no time
      R"({"a":1} {"b":2})",  // two values on one line: one string event, not two events
  };
  EXPECT_EQ(HecBody(lines, o, "sensor-1"),
            "{\"time\":1700000000.123,\"host\":\"sensor-1\",\"source\":\"sluiced\","
            "\"sourcetype\":\"sluice:ocsf\",\"index\":\"security\","
            "\"event\":{\"time\":1700000000123,\"finding_info\":{\"uid\":\"u1\"},"
            "\"class_uid\":2004}}\n"
            "{\"host\":\"sensor-1\",\"source\":\"sluiced\",\"sourcetype\":\"sluice:ocsf\","
            "\"index\":\"security\",\"event\":\"not json at all\"}\n"
            "{\"time\":1700000000.005,\"host\":\"sensor-1\",\"source\":\"sluiced\","
            "\"sourcetype\":\"sluice:ocsf\",\"index\":\"security\","
            "\"event\":{\"time\":1700000000005,\"message\":\"caf\\u00e9 \\\"x\\\"\"}}\n"
            "{\"host\":\"sensor-1\",\"source\":\"sluiced\",\"sourcetype\":\"sluice:ocsf\","
            "\"index\":\"security\",\"event\":{\"b\":1}}\n"
            "{\"host\":\"sensor-1\",\"source\":\"sluiced\",\"sourcetype\":\"sluice:ocsf\","
            "\"index\":\"security\",\"event\":\"{\\\"a\\\":1} {\\\"b\\\":2}\"}\n");
}

TEST(HecBodyTest, EmptyMetadataOmitted) {
  HttpOptions o = Hec();
  o.source = "";
  o.sourcetype = "";
  const std::vector<std::string> lines = {R"({"time":1000})"};
  EXPECT_EQ(HecBody(lines, o, ""), "{\"time\":1.000,\"event\":{\"time\":1000}}\n");
}

TEST(HecBodyTest, TimeForms) {
  const HttpOptions o = Hec();
  auto time_of = [&](const std::string& line) {
    const std::string body = HecBody({line}, o, "");
    if (!absl::StartsWith(body, "{\"time\":")) return std::string("none");
    return body.substr(8, body.find(',') - 8);
  };
  EXPECT_EQ(time_of(R"({"time":1700000000000})"), "1700000000.000");
  EXPECT_EQ(time_of(R"({"time":1700000000999})"), "1700000000.999");
  EXPECT_EQ(time_of(R"({"time":1.7000000000125e12})"), "1700000000.013");
  EXPECT_EQ(time_of(R"({"time":-5})"), "none");
  EXPECT_EQ(time_of(R"({"time":0})"), "none");
  EXPECT_EQ(time_of(R"({"time":"1700000000000"})"), "none");
  EXPECT_EQ(time_of(R"({"time":18446744073709551615})"), "none");
  EXPECT_EQ(time_of(R"([1700000000000])"), "none");
  EXPECT_EQ(time_of(R"({"other":{"time":5}})"), "none");
}

TEST(HecBodyTest, InvalidUtf8BecomesReplacementCharacter) {
  const std::vector<std::string> lines = {"bad \xff byte"};
  EXPECT_EQ(HecBody(lines, Hec(), "h"),
            "{\"host\":\"h\",\"source\":\"sluiced\",\"sourcetype\":\"sluice:ocsf\","
            "\"event\":\"bad \xEF\xBF\xBD byte\"}\n");
}

TEST(WebhookBodyTest, ExactArray) {
  const std::vector<std::string> lines = {R"({"finding_info":{"uid":"u1"},"time":5})",
                                          "plain \"text\"", " [1,2] ", "{\"a\":"};
  EXPECT_EQ(WebhookBody(lines),
            "[{\"finding_info\":{\"uid\":\"u1\"},\"time\":5},\"plain \\\"text\\\"\",[1,2],"
            "\"{\\\"a\\\":\"]");
  EXPECT_EQ(WebhookBody({}), "[]");
}

// ---- Options ----

void ExpectInvalid(const HttpOptions& o, const std::string& needle) {
  auto t = MakeHttpTransport(o);
  ASSERT_FALSE(t.ok()) << "accepted: " << o.url;
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr(needle));
}

TEST(HttpOptionsTest, Url) {
  ExpectInvalid(Webhook(""), "url is empty");
  ExpectInvalid(Webhook("not a url"), "not a valid https:// URL");
  ExpectInvalid(Webhook("ftp://hooks.example/x"), "scheme \"ftp\" is not supported");
  ExpectInvalid(Webhook("http://hooks.example/x"),
                "http://hooks.example refused: alerts carry customer-data fingerprints");
  ExpectInvalid(Webhook("http://192.0.2.1:8080/x"), "use https://");
  ExpectInvalid(Webhook("http://128.0.0.1/x"), "refused");
  ExpectInvalid(Webhook("http://[::2]/x"), "refused");
  for (const char* ok : {"https://hooks.example/x", "http://127.0.0.1:8080/x",
                         "http://127.9.9.9/x", "http://[::1]:8080/x", "http://localhost/x",
                         "http://[::ffff:127.0.0.1]/x", "HTTPS://Hooks.Example/x"}) {
    EXPECT_TRUE(MakeHttpTransport(Webhook(ok)).ok()) << ok;
  }
}

TEST(HttpOptionsTest, Credentials) {
  HttpOptions o = Hec();
  o.token = "";
  ExpectInvalid(o, "splunk_hec sink: token is missing");
  o.token = "abc\r\nX-Evil: 1";
  ExpectInvalid(o, "token contains characters that cannot be sent");
  o = Hec();
  o.headers = {{"Authorization", "Bearer x"}};
  ExpectInvalid(o, "Authorization header comes from the token");

  HttpOptions w = Webhook();
  w.token = "abc";
  ExpectInvalid(w, "token is for splunk_hec");
  w = Webhook();
  w.headers = {{"X-Bad Name", "v"}};
  ExpectInvalid(w, "header name \"X-Bad Name\" is not valid");
  w.headers = {{"Authorization", "Bearer s3cr3t\r\nX-Evil: 1"}};
  ExpectInvalid(w, "header \"Authorization\" has an empty value or control characters");
  EXPECT_THAT(MakeHttpTransport(w).status().message(), Not(HasSubstr("s3cr3t")));
  w.headers = {{"X-Empty", "  "}};
  ExpectInvalid(w, "header \"X-Empty\" has an empty value");
  w.headers = {{"content-type", "text/plain"}};
  ExpectInvalid(w, "header \"content-type\" is set by sluice");
  w.headers = {{"Authorization", "Bearer abc"}, {"X-Sluice", "1"}};
  EXPECT_TRUE(MakeHttpTransport(w).ok());
}

TEST(HttpOptionsTest, Files) {
  HttpOptions o = Webhook();
  o.ca_file = "/nonexistent/sluice-ca.pem";
  ExpectInvalid(o, "ca_file /nonexistent/sluice-ca.pem: cannot read: No such file or directory");
  o.ca_file = "/";
  ExpectInvalid(o, "ca_file /: not a regular file");
  o = Webhook();
  o.key_file = "/etc/hostname";
  ExpectInvalid(o, "key_file is given without cert_file");
  o.cert_file = "/nonexistent/client.pem";
  ExpectInvalid(o, "cert_file /nonexistent/client.pem: cannot read");
  o = Webhook();
  o.timeout = absl::ZeroDuration();
  ExpectInvalid(o, "timeout must be positive");
  o.timeout = absl::InfiniteDuration();
  ExpectInvalid(o, "timeout must be positive and finite");
}

TEST(HttpDescribeTest, HidesCredentialsAndQuery) {
  HttpOptions o = Hec(
      "https://admin:pa55word@collector.example:8088/services/collector/event?channel=c1#frag");
  auto t = MakeHttpTransport(o);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->Describe(), "splunk_hec+https://collector.example:8088/services/collector/event");

  auto hec_default = MakeHttpTransport(Hec("https://collector.example"));
  ASSERT_TRUE(hec_default.ok());
  EXPECT_EQ((*hec_default)->Describe(),
            "splunk_hec+https://collector.example:443/services/collector/event");

  HttpOptions w = Webhook("https://hooks.example/in/T123?sig=abcdef");
  w.headers = {{"Authorization", "Bearer s3cr3t"}};
  auto hook = MakeHttpTransport(w);
  ASSERT_TRUE(hook.ok());
  EXPECT_EQ((*hook)->Describe(), "webhook+https://hooks.example:443/in/T123");

  auto v6 = MakeHttpTransport(Webhook("http://[::1]:9000"));
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ((*v6)->Describe(), "webhook+http://[::1]:9000/");
}

// ---- Send, against a plain-HTTP collector on loopback ----

// Serves one connection at a time on 127.0.0.1, answering each request with the next canned
// reply ("Connection: close") and keeping the raw requests.
class FakeCollector {
 public:
  struct Reply {
    int status;
    std::string body;
    absl::Duration delay = absl::ZeroDuration();
  };

  explicit FakeCollector(std::vector<Reply> replies) : replies_(std::move(replies)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen: " << std::strerror(errno);
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }

  ~FakeCollector() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    close(fd_);
  }

  int port() const { return port_; }

  std::vector<std::string> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  void Run() {
    for (size_t next = 0; !stopping_;) {
      const int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) return;
      std::string request;
      char buf[4096];
      size_t want = std::string::npos;
      while (want == std::string::npos || request.size() < want) {
        const ssize_t n = read(conn, buf, sizeof(buf));
        if (n <= 0) break;
        request.append(buf, n);
        const size_t head_end = request.find("\r\n\r\n");
        if (want == std::string::npos && head_end != std::string::npos) {
          size_t body = 0;
          for (absl::string_view line : absl::StrSplit(request.substr(0, head_end), "\r\n")) {
            if (absl::StartsWithIgnoreCase(line, "content-length:")) {
              (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(15)), &body);
            }
          }
          want = head_end + 4 + body;
        }
      }
      const Reply reply = next < replies_.size() ? replies_[next++] : Reply{500, "no reply left"};
      {
        absl::MutexLock lock(&mu_);
        requests_.push_back(request);
      }
      absl::SleepFor(reply.delay);
      const std::string response =
          absl::StrCat("HTTP/1.1 ", reply.status, " Canned\r\nContent-Type: application/json\r\n",
                       "Content-Length: ", reply.body.size(), "\r\nConnection: close\r\n\r\n",
                       reply.body);
      (void)!write(conn, response.data(), response.size());
      close(conn);
    }
  }

  std::vector<Reply> replies_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable absl::Mutex mu_;
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

std::string Body(const std::string& request) {
  const size_t head_end = request.find("\r\n\r\n");
  return head_end == std::string::npos ? "" : request.substr(head_end + 4);
}

TEST(HttpSendTest, HecDelivers) {
  FakeCollector collector({{200, R"({"text":"Success","code":0})"}});
  HttpOptions o = Hec(absl::StrCat("http://127.0.0.1:", collector.port()));
  auto t = MakeHttpTransport(o);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE((*t)->Send({}).ok());  // nothing to send: no request
  const std::vector<std::string> lines = {R"({"time":1700000000123,"a":1})", R"({"b":2})"};
  ASSERT_TRUE((*t)->Send(lines).ok());
  const auto requests = collector.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_THAT(requests[0], StartsWith("POST /services/collector/event HTTP/1.1\r\n"));
  EXPECT_THAT(requests[0], HasSubstr("\r\nAuthorization: Splunk 0f5a2c9e-tok-123\r\n"));
  EXPECT_THAT(requests[0], HasSubstr("\r\nContent-Type: application/json\r\n"));
  EXPECT_THAT(requests[0], Not(HasSubstr("Expect:")));
  EXPECT_EQ(Body(requests[0]), HecBody(lines, o, "sensor-1"));
}

TEST(HttpSendTest, WebhookDeliversWithHeaders) {
  FakeCollector collector({{204, ""}, {200, "ok"}});
  HttpOptions o = Webhook(absl::StrCat("http://127.0.0.1:", collector.port(), "/hook?k=v"));
  o.headers = {{"Authorization", "Bearer s3cr3t"}, {"X-Sluice-Test", "yes"}};
  auto t = MakeHttpTransport(o);
  ASSERT_TRUE(t.ok()) << t.status();
  const std::vector<std::string> lines = {R"({"a":1})"};
  EXPECT_TRUE((*t)->Send(lines).ok());
  EXPECT_TRUE((*t)->Send(lines).ok());
  const auto requests = collector.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(requests[0], StartsWith("POST /hook?k=v HTTP/1.1\r\n"));
  EXPECT_THAT(requests[0], HasSubstr("\r\nAuthorization: Bearer s3cr3t\r\n"));
  EXPECT_THAT(requests[0], HasSubstr("\r\nX-Sluice-Test: yes\r\n"));
  EXPECT_EQ(Body(requests[0]), "[{\"a\":1}]");
}

TEST(HttpSendTest, StatusMapping) {
  struct Case {
    FakeCollector::Reply reply;
    absl::StatusCode code;
    std::string message;  // after "HTTP <status> from <describe>: "
  };
  const std::vector<Case> cases = {
      {{400, R"({"text":"Invalid data format","code":6})"},
       absl::StatusCode::kInvalidArgument, "Invalid data format (code 6)"},
      {{401, R"({"text":"Invalid token","code":4})"}, absl::StatusCode::kUnavailable,
       "Invalid token (code 4)"},
      {{403, R"({"text":"Token disabled","code":1})"}, absl::StatusCode::kUnavailable,
       "Token disabled (code 1)"},
      {{404, "<html>\n  Not   Found\n</html>"}, absl::StatusCode::kUnavailable,
       "<html> Not Found </html>"},
      {{413, ""}, absl::StatusCode::kInvalidArgument, "(empty reply)"},
      {{422, R"({"message":"bad"})"}, absl::StatusCode::kInvalidArgument, "bad"},
      {{408, "slow"}, absl::StatusCode::kUnavailable, "slow"},
      {{429, R"({"error":"rate limited"})"}, absl::StatusCode::kUnavailable, "rate limited"},
      {{500, R"({"text":"Internal","code":8})"}, absl::StatusCode::kUnavailable,
       "Internal (code 8)"},
      {{503, R"({"text":"Server is busy","code":9})"}, absl::StatusCode::kUnavailable,
       "Server is busy (code 9)"},
      {{200, R"({"text":"Queue at capacity","code":24})"}, absl::StatusCode::kUnavailable,
       "not a HEC success reply: Queue at capacity (code 24)"},
      {{200, "OK"}, absl::StatusCode::kUnavailable, "not a HEC success reply: OK"},
      {{302, ""}, absl::StatusCode::kUnavailable,
       "redirects are not followed; point the sink at the collector's own URL"},
      // A collector that echoes the credential back must not put it into the agent's logs.
      {{401, R"({"text":"token 0f5a2c9e-tok-123 unknown"})"},
       absl::StatusCode::kUnavailable, "token <redacted> unknown"},
      {{201, R"({"text":"Success","code":0,"ackId":7})"}, absl::StatusCode::kOk, ""},
  };
  std::vector<FakeCollector::Reply> replies;
  for (const Case& c : cases) replies.push_back(c.reply);
  FakeCollector collector(replies);
  auto t = MakeHttpTransport(Hec(absl::StrCat("http://127.0.0.1:", collector.port())));
  ASSERT_TRUE(t.ok()) << t.status();
  const std::vector<std::string> lines = {R"({"a":1})"};
  for (const Case& c : cases) {
    const absl::Status s = (*t)->Send(lines);
    EXPECT_EQ(s.code(), c.code) << c.reply.status << " " << s;
    if (c.code != absl::StatusCode::kOk) {
      EXPECT_EQ(s.message(), absl::StrCat("HTTP ", c.reply.status, " from splunk_hec+http://",
                                          "127.0.0.1:", collector.port(),
                                          "/services/collector/event: ", c.message));
    }
  }
  EXPECT_EQ(collector.requests().size(), cases.size());
}

TEST(HttpSendTest, ConnectionRefusedIsTransient) {
  int port = 0;
  {
    // A port that was just free; nothing listens on it.
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port = ntohs(addr.sin_port);
    close(fd);
  }
  auto t = MakeHttpTransport(Webhook(absl::StrCat("http://127.0.0.1:", port, "/hook")));
  ASSERT_TRUE(t.ok());
  const std::vector<std::string> lines = {R"({"a":1})"};
  const absl::Status s = (*t)->Send(lines);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), StartsWith(absl::StrCat("POST to webhook+http://127.0.0.1:", port,
                                                   "/hook failed: Couldn't connect to server")));
}

TEST(HttpSendTest, TimeoutIsTransient) {
  FakeCollector collector({{200, "late", absl::Seconds(1)}, {200, "ok"}});
  HttpOptions o = Webhook(absl::StrCat("http://127.0.0.1:", collector.port(), "/hook"));
  o.timeout = absl::Milliseconds(200);
  auto t = MakeHttpTransport(o);
  ASSERT_TRUE(t.ok());
  const std::vector<std::string> lines = {R"({"a":1})"};
  const absl::Status s = (*t)->Send(lines);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("Timeout was reached"));
  // The next Send connects again, once the collector is done with the first connection.
  absl::SleepFor(absl::Seconds(1));
  EXPECT_TRUE((*t)->Send(lines).ok());
}

}  // namespace
}  // namespace sluice::output
