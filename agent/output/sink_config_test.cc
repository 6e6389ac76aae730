#include "agent/output/sink_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::output {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(SinkConfigTest, ParsesEveryKind) {
  const ConfigResult r = ParseAgentConfig(R"(sinks:
  - name: siem
    type: syslog
    host: 127.0.0.1
    port: 10514
    tls: false
  - name: splunk
    type: splunk_hec
    url: https://127.0.0.1:8088/services/collector/event
    token: abc
    index: security
  - name: hook
    type: webhook
    url: https://127.0.0.1:9000/in
    headers: {Authorization: "Bearer t"}
  - name: archive
    type: file
    path: /var/log/sluice/alerts.jsonl
    max_bytes: 100MiB
    max_age: 1d
    keep: 3
spool:
  max_bytes: 64MiB
)", "c.yaml");
  ASSERT_TRUE(r.ok()) << r.errors.front();
  ASSERT_EQ(r.config.sinks.size(), 4u);
  const auto& syslog = std::get<SyslogOptions>(r.config.sinks[0].options);
  EXPECT_EQ(syslog.host, "127.0.0.1");
  EXPECT_EQ(syslog.port, 10514);
  EXPECT_FALSE(syslog.tls);
  const auto& hec = std::get<HttpOptions>(r.config.sinks[1].options);
  EXPECT_EQ(hec.kind, HttpOptions::Kind::kSplunkHec);
  EXPECT_EQ(hec.token, "abc");
  EXPECT_EQ(hec.index, "security");
  const auto& hook = std::get<HttpOptions>(r.config.sinks[2].options);
  EXPECT_EQ(hook.kind, HttpOptions::Kind::kWebhook);
  ASSERT_EQ(hook.headers.size(), 1u);
  EXPECT_EQ(hook.headers[0].second, "Bearer t");
  const auto& file = std::get<FileSinkConfig>(r.config.sinks[3].options);
  EXPECT_EQ(file.rotate.max_bytes, 100u << 20);
  EXPECT_EQ(file.rotate.max_age, absl::Hours(24));
  EXPECT_EQ(file.rotate.keep, 3);
  EXPECT_EQ(r.config.spool_max_bytes, 64u << 20);
  EXPECT_TRUE(r.config.has_network_sinks());
  EXPECT_EQ(r.config.sinks[0].where, "c.yaml:2:5");
}

TEST(SinkConfigTest, EveryErrorHasItsLocationAndNothingIsKept) {
  const ConfigResult r = ParseAgentConfig(R"(sinks:
  - name: Bad Name
    type: syslog
    host: 10.0.0.1
  - name: dup
    type: carrier-pigeon
  - name: dup
    type: file
    path: relative.jsonl
    keep: 0
  - name: hec
    type: splunk_hec
    url: https://x/
    colour: blue
spool: {max_bytes: lots}
)", "c.yaml");
  EXPECT_THAT(r.errors,
              ElementsAre(
                  "c.yaml:2:11: invalid sink name \"Bad Name\": use lower-case letters, digits, "
                  "'_', '.' and '-'",
                  "c.yaml:2:5: a TLS syslog sink needs \"ca\": the CA that signed the server's "
                  "certificate",
                  "c.yaml:6:11: invalid sink type \"carrier-pigeon\": expected syslog, "
                  "splunk_hec, webhook or file",
                  "c.yaml:7:11: duplicate sink name \"dup\"",
                  "c.yaml:9:11: path must be absolute", "c.yaml:10:11: keep must be 1..1000",
                  HasSubstr("c.yaml:14:5: unknown key \"colour\" in splunk_hec sink"),
                  "c.yaml:11:5: a splunk_hec sink needs token or token_file",
                  "c.yaml:15:20: invalid max_bytes \"lots\": expected a size such as 100MiB"));
  EXPECT_THAT(r.config.sinks, IsEmpty());
}

TEST(SinkConfigTest, UnreadableFilesAreNamed) {
  const ConfigResult r = ParseAgentConfig(R"(sinks:
  - name: siem
    type: syslog
    host: 10.0.0.1
    ca: /nonexistent/ca.pem
)", "c.yaml");
  EXPECT_THAT(r.errors, ElementsAre("c.yaml:5:9: cannot read ca file /nonexistent/ca.pem"));
}

TEST(SinkConfigTest, BrokenYamlAndEmptyFile) {
  EXPECT_THAT(ParseAgentConfig("sinks: [\n", "c.yaml").errors,
              ElementsAre(HasSubstr("c.yaml:2:1: ")));
  EXPECT_THAT(ParseAgentConfig("", "c.yaml").errors,
              ElementsAre("c.yaml: the configuration is empty"));
  EXPECT_THAT(LoadAgentConfig("/nonexistent.yaml").errors,
              ElementsAre("/nonexistent.yaml: cannot read the configuration file"));
}

}  // namespace
}  // namespace sluice::output
