#include "agent/output/syslog_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::output {
namespace {

using ::testing::HasSubstr;

SyslogOptions Plain() {
  SyslogOptions o;
  o.host = "127.0.0.1";
  o.port = 6514;
  o.tls = false;
  return o;
}

std::string Format(absl::string_view line, const SyslogOptions& o = Plain()) {
  return FormatRfc5424(line, o, "host1", 4242);
}

std::string WithSeverity(const std::string& severity_id) {
  return Format(absl::StrCat(R"({"time":0,"severity_id":)", severity_id, "}"));
}

TEST(FormatRfc5424Test, WholeMessage) {
  const std::string line =
      R"({"time":1700000000123,"severity_id":4,"finding_info":{"uid":"f-1","title":"t",)"
      R"("analytic":{"name":"dns_tunnel"}},"disposition":"Would block"})";
  EXPECT_EQ(Format(line),
            "<107>1 2023-11-14T22:13:20.123Z host1 sluiced 4242 dns_tunnel "
            "[sluice@32473 uid=\"f-1\" disposition=\"Would block\"] " +
                line);
}

TEST(FormatRfc5424Test, PriorityFollowsSeverity) {
  // Facility 13 (log audit): PRI 104 + syslog severity.
  EXPECT_THAT(WithSeverity("6"), ::testing::StartsWith("<106>1 "));  // Fatal: crit
  EXPECT_THAT(WithSeverity("5"), ::testing::StartsWith("<106>1 "));  // Critical: crit
  EXPECT_THAT(WithSeverity("4"), ::testing::StartsWith("<107>1 "));  // High: err
  EXPECT_THAT(WithSeverity("3"), ::testing::StartsWith("<108>1 "));  // Medium: warning
  EXPECT_THAT(WithSeverity("2"), ::testing::StartsWith("<109>1 "));  // Low: notice
  EXPECT_THAT(WithSeverity("1"), ::testing::StartsWith("<110>1 "));  // Informational: info
  EXPECT_THAT(WithSeverity("0"), ::testing::StartsWith("<108>1 "));  // Unknown
  EXPECT_THAT(WithSeverity("99"), ::testing::StartsWith("<108>1 "));  // Other
  EXPECT_THAT(WithSeverity("-5"), ::testing::StartsWith("<108>1 "));
  EXPECT_THAT(WithSeverity("18446744073709551615"), ::testing::StartsWith("<108>1 "));
  EXPECT_THAT(WithSeverity("\"5\""), ::testing::StartsWith("<108>1 "));
  EXPECT_THAT(WithSeverity("5.0"), ::testing::StartsWith("<108>1 "));
  EXPECT_THAT(Format(R"({"time":0})"), ::testing::StartsWith("<108>1 "));
}

TEST(FormatRfc5424Test, PriorityUsesFacility) {
  SyslogOptions o = Plain();
  o.facility = 4;  // auth
  EXPECT_EQ(Format(R"({"severity_id":5})", o),
            R"(<34>1 - host1 sluiced 4242 - - {"severity_id":5})");
  o.facility = 23;  // local7
  EXPECT_THAT(Format(R"({"severity_id":1})", o), ::testing::StartsWith("<190>1 "));
  o.facility = 0;
  EXPECT_THAT(Format(R"({"severity_id":6})", o), ::testing::StartsWith("<2>1 "));
}

TEST(FormatRfc5424Test, TimestampIsUtcWithMilliseconds) {
  EXPECT_EQ(Format(R"({"time":0})"), R"(<108>1 1970-01-01T00:00:00.000Z host1 sluiced 4242 - - {"time":0})");
  EXPECT_THAT(Format(R"({"time":1700000000007})"),
              HasSubstr(" 2023-11-14T22:13:20.007Z host1 "));
  EXPECT_THAT(Format(R"({"time":253402300799999})"),
              HasSubstr(" 9999-12-31T23:59:59.999Z host1 "));
  // What RFC 3339 cannot say, or is not epoch milliseconds, is the NILVALUE.
  for (const char* bad : {"253402300800000", "-1", "1.7e12", "\"1700000000000\"", "null",
                          "18446744073709551615"}) {
    EXPECT_THAT(Format(absl::StrCat(R"({"time":)", bad, "}")),
                ::testing::StartsWith("<108>1 - host1 "))
        << bad;
  }
}

TEST(FormatRfc5424Test, StructuredDataIsEscaped) {
  EXPECT_THAT(Format(R"({"finding_info":{"uid":"a\"b\\c]d[e="}})"),
              HasSubstr(R"( [sluice@32473 uid="a\"b\\c\]d[e="] {)"));
  EXPECT_THAT(Format(R"({"disposition":"Blocked"})"),
              HasSubstr(R"( - [sluice@32473 disposition="Blocked"] {)"));
  // UTF-8 values go as they are (RFC 5424 PARAM-VALUE is UTF-8).
  EXPECT_THAT(Format(R"({"finding_info":{"uid":"\u00e9t\u00e9"}})"),
              HasSubstr(" [sluice@32473 uid=\"\xc3\xa9t\xc3\xa9\"] {"));
  // Not strings: left out.
  EXPECT_THAT(Format(R"({"finding_info":{"uid":7},"disposition":null})"),
              HasSubstr(" 4242 - - {"));
}

TEST(FormatRfc5424Test, MessageIdIsTheDetectorFitToRfc5424) {
  EXPECT_THAT(Format(R"({"finding_info":{"analytic":{"name":"bulk upload\u00e9"}}})"),
              HasSubstr(" 4242 bulk_upload__ - {"));
  EXPECT_THAT(Format(R"({"finding_info":{"analytic":{"name":"abcdefghijklmnopqrstuvwxyz0123456789"}}})"),
              HasSubstr(" 4242 abcdefghijklmnopqrstuvwxyz012345 - {"));
  EXPECT_THAT(Format(R"({"finding_info":{"analytic":{"name":""}}})"), HasSubstr(" 4242 - - {"));
  EXPECT_THAT(Format(R"({"finding_info":{"analytic":"x"}})"), HasSubstr(" 4242 - - {"));
}

TEST(FormatRfc5424Test, LinesThatAreNotJsonObjectsStillGoOut) {
  EXPECT_EQ(Format("not json {"), "<108>1 - host1 sluiced 4242 - - not json {");
  EXPECT_EQ(Format(R"([{"severity_id":6}])"), R"(<108>1 - host1 sluiced 4242 - - [{"severity_id":6}])");
  EXPECT_EQ(Format(R"({"time":1,)"), R"(<108>1 - host1 sluiced 4242 - - {"time":1,)");
  EXPECT_EQ(Format("\xff\xfe"), "<108>1 - host1 sluiced 4242 - - \xff\xfe");
  EXPECT_EQ(Format(""), "<108>1 - host1 sluiced 4242 - -");
}

TEST(FormatRfc5424Test, HeaderFieldsAreFitToRfc5424) {
  SyslogOptions o = Plain();
  EXPECT_EQ(FormatRfc5424("{}", o, "", 1), "<108>1 - - sluiced 1 - - {}");
  EXPECT_EQ(FormatRfc5424("{}", o, "my host", 1), "<108>1 - my_host sluiced 1 - - {}");
  EXPECT_EQ(FormatRfc5424("{}", o, std::string(300, 'h'), 1),
            absl::StrCat("<108>1 - ", std::string(255, 'h'), " sluiced 1 - - {}"));
  o.app_name = "agent";
  EXPECT_EQ(FormatRfc5424("{}", o, "h", 4294967295u), "<108>1 - h agent 4294967295 - - {}");
}

TEST(FormatRfc5424Test, NoByteOrderMark) {
  const std::string line = "{\"message\":\"\xe6\xbc\xa2\"}";
  const std::string out = Format(line);
  EXPECT_EQ(out.find("\xef\xbb\xbf"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - line.size() - 1), " " + line);
}

std::string MakeError(const SyslogOptions& o) {
  auto t = MakeSyslogTransport(o);
  EXPECT_FALSE(t.ok());
  if (t.ok()) return "";
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << t.status();
  return std::string(t.status().message());
}

TEST(MakeSyslogTransportTest, RejectsBadOptions) {
  SyslogOptions o = Plain();
  o.host = "";
  EXPECT_EQ(MakeError(o), "syslog: host is empty");
  o = Plain();
  o.port = 0;
  EXPECT_EQ(MakeError(o), "syslog: port must be 1 to 65535");
  o = Plain();
  o.facility = 24;
  EXPECT_EQ(MakeError(o), "syslog: facility 24 is not in 0..23");
  o.facility = -1;
  EXPECT_EQ(MakeError(o), "syslog: facility -1 is not in 0..23");
  o = Plain();
  o.app_name = "";
  EXPECT_EQ(MakeError(o),
            "syslog: app_name \"\" must be 1 to 48 printable US-ASCII characters without spaces");
  o.app_name = "my agent";
  EXPECT_THAT(MakeError(o), HasSubstr("app_name \"my agent\" must be"));
  o.app_name = std::string(49, 'a');
  EXPECT_THAT(MakeError(o), HasSubstr("must be 1 to 48"));
  o = Plain();
  o.hostname = "bad host";
  EXPECT_EQ(MakeError(o), "syslog: hostname \"bad host\" must be 1 to 255 printable US-ASCII "
                          "characters without spaces");
  o = Plain();
  o.connect_timeout = absl::ZeroDuration();
  EXPECT_EQ(MakeError(o), "syslog: connect_timeout must be positive");
  o = Plain();
  o.io_timeout = absl::Seconds(-1);
  EXPECT_EQ(MakeError(o), "syslog: io_timeout must be positive");
  o = Plain();
  o.tls = true;
  EXPECT_EQ(MakeError(o),
            "syslog: TLS needs ca_file, the CA bundle that verifies the server's certificate");
  o.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  o.cert_file = "/tmp/c.pem";
  EXPECT_EQ(MakeError(o),
            "syslog: cert_file and key_file go together (a client certificate needs its key)");
  o = Plain();
  o.ca_file = "/tmp/ca.pem";
  EXPECT_EQ(MakeError(o), "syslog: ca_file, cert_file, key_file and server_name apply to TLS "
                          "only, and tls is off");
  o = Plain();
  o.server_name = "siem";
  EXPECT_THAT(MakeError(o), HasSubstr("apply to TLS only"));
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/syslog_transport_test.XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string Write(const std::string& name, const std::string& content) {
    const std::string p = path_ + "/" + name;
    FILE* f = fopen(p.c_str(), "w");
    fwrite(content.data(), 1, content.size(), f);
    fclose(f);
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(MakeSyslogTransportTest, FileErrorsNameTheFile) {
  TempDir dir;
  SyslogOptions o = Plain();
  o.tls = true;
  o.ca_file = dir.path() + "/missing.pem";
  EXPECT_EQ(MakeError(o), "syslog: ca_file " + o.ca_file + ": No such file or directory");
  o.ca_file = dir.Write("garbage.pem", "not a certificate\n");
  EXPECT_THAT(MakeError(o), HasSubstr("syslog: ca_file " + o.ca_file + ": "));
  o.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  if (access(o.ca_file.c_str(), R_OK) != 0) GTEST_SKIP() << "no system CA bundle";
  o.cert_file = dir.path() + "/client.pem";
  o.key_file = dir.path() + "/client.key";
  EXPECT_EQ(MakeError(o), "syslog: cert_file " + o.cert_file + ": No such file or directory");
  dir.Write("client.pem", "junk\n");
  EXPECT_EQ(MakeError(o), "syslog: key_file " + o.key_file + ": No such file or directory");
  dir.Write("client.key", "junk\n");
  EXPECT_THAT(MakeError(o), HasSubstr("syslog: cert_file " + o.cert_file + ": "));
}

TEST(SyslogTransportTest, Describe) {
  SyslogOptions o = Plain();
  o.port = 514;
  EXPECT_EQ((*MakeSyslogTransport(o))->Describe(), "syslog+tcp://127.0.0.1:514");
  o.host = "::1";
  EXPECT_EQ((*MakeSyslogTransport(o))->Describe(), "syslog+tcp://[::1]:514");
  o.host = "siem.example";
  o.tls = true;
  o.port = 6514;
  o.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  if (access(o.ca_file.c_str(), R_OK) != 0) GTEST_SKIP() << "no system CA bundle";
  EXPECT_EQ((*MakeSyslogTransport(o))->Describe(), "syslog+tls://siem.example:6514");
}

// A TCP listener on 127.0.0.1 standing in for a syslog receiver. Send returns once the kernel
// has acknowledged the bytes, which it does for a queued connection too, so the test accepts and
// reads after Send without a thread.
class Receiver {
 public:
  Receiver() : listen_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(listen_.get(), 8), 0);
    socklen_t len = sizeof(a);
    getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  uint16_t port() const { return port_; }

  UniqueFd Accept() {
    pollfd p = {listen_.get(), POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return UniqueFd();
    return UniqueFd(accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }
  bool HasPendingConnection() {
    pollfd p = {listen_.get(), POLLIN, 0};
    return poll(&p, 1, 0) == 1;
  }

 private:
  UniqueFd listen_;
  uint16_t port_ = 0;
};

// Reads octet-counted frames until `count` have arrived (or 5 s pass).
std::vector<std::string> ReadFrames(int fd, size_t count) {
  std::vector<std::string> frames;
  std::string buf;
  while (frames.size() < count) {
    const size_t sp = buf.find(' ');
    size_t len = 0;
    if (sp != std::string::npos && absl::SimpleAtoi(buf.substr(0, sp), &len) &&
        buf.size() >= sp + 1 + len) {
      frames.push_back(buf.substr(sp + 1, len));
      buf.erase(0, sp + 1 + len);
      continue;
    }
    pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) break;
    char chunk[65536];
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  EXPECT_EQ(buf, "") << "bytes after the last whole frame";
  return frames;
}

SyslogOptions PlainTo(const Receiver& r) {
  SyslogOptions o = Plain();
  o.port = r.port();
  o.hostname = "testhost";
  return o;
}

TEST(SyslogTransportTest, SendsOctetCountedFrames) {
  Receiver receiver;
  const SyslogOptions o = PlainTo(receiver);
  auto transport = MakeSyslogTransport(o);
  ASSERT_TRUE(transport.ok()) << transport.status();
  const std::vector<std::string> lines = {
      R"({"time":1,"severity_id":2,"finding_info":{"uid":"u1"}})",
      "not json", std::string(100000, 'x'), "{\"m\":\"line\\nbreak \xc3\xa9\"}"};
  ASSERT_TRUE((*transport)->Send(lines).ok());
  UniqueFd conn = receiver.Accept();
  ASSERT_TRUE(conn.valid());
  const std::vector<std::string> frames = ReadFrames(conn.get(), lines.size());
  ASSERT_EQ(frames.size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(frames[i], FormatRfc5424(lines[i], o, "testhost", getpid()));
  }
  EXPECT_EQ(frames[0], absl::StrCat("<109>1 1970-01-01T00:00:00.001Z testhost sluiced ", getpid(),
                                    R"( - [sluice@32473 uid="u1"] {"time":1,"severity_id":2,)"
                                    R"("finding_info":{"uid":"u1"}})"));
  // An empty batch is nothing to do.
  EXPECT_TRUE((*transport)->Send({}).ok());
}

TEST(SyslogTransportTest, ReconnectsWhenThePeerClosedBetweenBatches) {
  Receiver receiver;
  auto transport = MakeSyslogTransport(PlainTo(receiver));
  ASSERT_TRUE(transport.ok()) << transport.status();
  const std::vector<std::string> first = {"{\"n\":1}"};
  const std::vector<std::string> second = {"{\"n\":2}", "{\"n\":3}"};

  ASSERT_TRUE((*transport)->Send(first).ok());
  UniqueFd conn1 = receiver.Accept();
  ASSERT_EQ(ReadFrames(conn1.get(), 1).size(), 1u);
  ASSERT_TRUE((*transport)->Send(first).ok());  // same connection while the peer lives
  ASSERT_EQ(ReadFrames(conn1.get(), 1).size(), 1u);
  EXPECT_FALSE(receiver.HasPendingConnection());
  conn1.reset();  // the receiver restarts

  // Writing into the closed connection would "succeed" and lose the batch: it must go out on a
  // new connection instead.
  ASSERT_TRUE((*transport)->Send(second).ok());
  UniqueFd conn2 = receiver.Accept();
  ASSERT_TRUE(conn2.valid());
  const std::vector<std::string> frames = ReadFrames(conn2.get(), 2);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_THAT(frames[0], ::testing::EndsWith(" {\"n\":2}"));
  EXPECT_THAT(frames[1], ::testing::EndsWith(" {\"n\":3}"));
}

TEST(SyslogTransportTest, RefusedConnectionIsUnavailable) {
  uint16_t port;
  {
    Receiver gone;  // bound then closed: nothing listens there now
    port = gone.port();
  }
  SyslogOptions o = Plain();
  o.port = port;
  auto transport = MakeSyslogTransport(o);
  ASSERT_TRUE(transport.ok());
  const std::vector<std::string> lines = {"{}"};
  const absl::Status s = (*transport)->Send(lines);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), absl::StrCat("syslog+tcp://127.0.0.1:", port,
                                      ": cannot connect: 127.0.0.1:", port,
                                      ": Connection refused"));
}

TEST(SyslogTransportTest, ReceiverThatDoesNotReadTimesOut) {
  Receiver receiver;
  SyslogOptions o = PlainTo(receiver);
  o.io_timeout = absl::Milliseconds(300);
  auto transport = MakeSyslogTransport(o);
  ASSERT_TRUE(transport.ok());
  // Far more than the socket buffers of both ends hold.
  const std::vector<std::string> lines(200, std::string(200000, 'x'));
  const absl::Status s = (*transport)->Send(lines);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("write timed out after 300ms ("));
}

TEST(SyslogTransportTest, TlsHandshakeFailureIsUnavailable) {
  if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) != 0) GTEST_SKIP() << "no CA bundle";
  Receiver receiver;
  SyslogOptions o = PlainTo(receiver);
  o.tls = true;
  o.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  o.connect_timeout = absl::Milliseconds(300);
  auto transport = MakeSyslogTransport(o);
  ASSERT_TRUE(transport.ok()) << transport.status();
  const std::vector<std::string> lines = {"{}"};
  // The listener never answers the ClientHello.
  absl::Status s = (*transport)->Send(lines);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), absl::StrCat("syslog+tls://127.0.0.1:", receiver.port(),
                                      ": TLS handshake timed out"));
  receiver.Accept().reset();  // that attempt's connection

  // It answers by closing.
  std::thread closer([&receiver] { receiver.Accept().reset(); });
  s = (*transport)->Send(lines);
  closer.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr(": TLS handshake: "));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("timed out")));
}

}  // namespace
}  // namespace sluice::output
