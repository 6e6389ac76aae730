// Every detector of DESIGN §5 on hand-built inputs: each fires on its leak and stays quiet on the
// near misses a production host produces all day (an allowed CRM sync of 10k records, an
// inference server answering its clients, log shipping to the configured sink).
#include <string>
#include <vector>

#include "agent/detect/archive_staging.h"
#include "agent/detect/cache_dump.h"
#include "agent/detect/dns_tunnel.h"
#include "agent/detect/exfil_chain.h"
#include "agent/detect/log_export.h"
#include "agent/detect/pii_egress.h"
#include "agent/detect/plaintext_sync.h"
#include "agent/detect/token_misuse.h"
#include "agent/detect/tool_egress.h"
#include "agent/detect/unexpected_egress.h"
#include "agent/detect/volume_anomaly.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::detect {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kNow = 1'800'000'000'000;  // epoch ms

EgressAllow AllowCidr(const char* cidr, std::vector<PortRange> ports = {}) {
  EgressAllow a;
  a.cidr = ParseCidr(cidr).value();
  a.ports = std::move(ports);
  return a;
}

EgressAllow AllowHost(const char* glob, std::vector<PortRange> ports = {}) {
  EgressAllow a;
  a.host_glob = glob;
  a.ports = std::move(ports);
  return a;
}

RuleSet Rules() {
  RuleSet r;
  Workload sync;
  sync.id = 0;
  sync.name = "crm-sync";
  sync.role = "crm-sync";
  sync.selector.cgroup_glob = "/system.slice/crm-sync.service";
  sync.allow = {AllowHost("*.my.salesforce.com", {{443, 443}}),
                AllowCidr("10.30.0.5/32", {{6333, 6333}})};
  Workload llm;
  llm.id = 1;
  llm.name = "llm";
  llm.role = "llm-inference";
  llm.selector.cgroup_glob = "/system.slice/llm.service";
  llm.allow = {AllowCidr("10.30.0.5/32")};
  r.workloads = {sync, llm};
  r.crm.host_globs = {"*.my.salesforce.com", "login.salesforce.com"};
  SinkDestination logs;
  logs.name = "logs";
  logs.kind = SinkDestination::Kind::kLog;
  logs.to.cidr = ParseCidr("10.40.0.9/32").value();
  r.sinks = {logs};
  return r;
}

Subject SubjectOf(const RuleSet& r, int w, const char* exe = "/usr/bin/python3", uint32_t pid = 42) {
  Subject s;
  s.rule = &r.workloads[w];
  s.process.pid = pid;
  s.process.exe = exe;
  s.time_ms = kNow;
  return s;
}

Peer PeerOf(const char* ip, uint16_t port, std::vector<std::string> names = {}) {
  Peer p;
  p.ip = ParseIp(ip).value();
  p.port = port;
  p.protocol = "tcp";
  p.names = std::move(names);
  return p;
}

SensitiveRead ReadOf(const char* cls, uint64_t bytes, int64_t ago_ms = 1000) {
  SensitiveRead r;
  r.path = std::string("/data/") + cls;
  r.file_class = cls;
  r.bytes_read = bytes;
  r.pid = 42;
  r.last_read_ms = kNow - ago_ms;
  return r;
}

SendAfterRead Send(const RuleSet& r, int w, const char* ip, uint64_t out,
                   std::vector<SensitiveRead> reads) {
  SendAfterRead s;
  s.subject = SubjectOf(r, w);
  s.peer = PeerOf(ip, 443);
  s.bytes_out = out;
  s.reads = std::move(reads);
  return s;
}

// --- cache_dump -------------------------------------------------------------------------------

TEST(CacheDumpTest, CacheReadThenSentToUnknownHost) {
  const RuleSet r = Rules();
  auto a = CacheDumpDetector().Evaluate(
      r, Send(r, 1, "203.0.113.9", 2 << 20, {ReadOf("inference-cache", 4 << 20)}));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->detector, "cache_dump");
  EXPECT_EQ(a->severity, Severity::kCritical);
  EXPECT_EQ(a->disposition, Disposition::kWouldBlock);
  EXPECT_THAT(a->attack_techniques, ElementsAre("T1005", "T1041"));
  ASSERT_EQ(a->files.size(), 1u);
  EXPECT_EQ(a->files[0].file_class, "inference-cache");
  EXPECT_EQ(a->files[0].bytes_read, 4u << 20);
  EXPECT_EQ(a->bytes_out, 2u << 20);
  EXPECT_THAT(a->description, HasSubstr("4.0 MiB"));
}

TEST(CacheDumpTest, NearMisses) {
  const RuleSet r = Rules();
  const CacheDumpDetector d;
  // The inference server answering a client on an accepted flow.
  SendAfterRead answer = Send(r, 1, "203.0.113.9", 2 << 20, {ReadOf("inference-cache", 4 << 20)});
  answer.outbound = false;
  EXPECT_FALSE(d.Evaluate(r, answer));
  // To an allowed peer (the vector DB).
  SendAfterRead allowed = Send(r, 1, "10.30.0.5", 2 << 20, {ReadOf("vector-index", 4 << 20)});
  allowed.allowed = true;
  EXPECT_FALSE(d.Evaluate(r, allowed));
  // Loopback, tiny sends, small reads, old reads, other classes.
  EXPECT_FALSE(d.Evaluate(r, Send(r, 1, "127.0.0.1", 2 << 20, {ReadOf("inference-cache", 4 << 20)})));
  EXPECT_FALSE(d.Evaluate(r, Send(r, 1, "203.0.113.9", 100, {ReadOf("inference-cache", 4 << 20)})));
  EXPECT_FALSE(d.Evaluate(r, Send(r, 1, "203.0.113.9", 2 << 20, {ReadOf("inference-cache", 10)})));
  EXPECT_FALSE(d.Evaluate(
      r, Send(r, 1, "203.0.113.9", 2 << 20, {ReadOf("inference-cache", 4 << 20, 3'600'000)})));
  EXPECT_FALSE(d.Evaluate(r, Send(r, 1, "203.0.113.9", 2 << 20, {ReadOf("inference-log", 4 << 20)})));
}

TEST(CacheDumpTest, DisabledAndExceptedAndOverridden) {
  RuleSet r = Rules();
  const SendAfterRead s = Send(r, 1, "203.0.113.9", 2 << 20, {ReadOf("inference-cache", 4 << 20)});
  DetectorConfig off;
  off.enabled = false;
  r.detectors = {{"cache_dump", off}};
  EXPECT_FALSE(CacheDumpDetector().Evaluate(r, s));

  DetectorConfig exc;
  DetectorException e;
  e.workload = "llm";
  e.to.cidr = ParseCidr("203.0.113.0/24").value();
  e.reason = "backup target";
  exc.exceptions = {e};
  r.detectors = {{"cache_dump", exc}};
  EXPECT_FALSE(CacheDumpDetector().Evaluate(r, s));
  EXPECT_TRUE(CacheDumpDetector().Evaluate(
      r, Send(r, 1, "198.51.100.1", 2 << 20, {ReadOf("inference-cache", 4 << 20)})));

  DetectorConfig sev;
  sev.severity = 2;
  r.detectors = {{"cache_dump", sev}};
  auto a = CacheDumpDetector().Evaluate(r, s);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->severity, Severity::kLow);
}

// --- log_export -------------------------------------------------------------------------------

TEST(LogExportTest, LogsShippedAnywhereButTheLogSink) {
  const RuleSet r = Rules();
  const LogExportDetector d;
  auto a = d.Evaluate(r, Send(r, 1, "203.0.113.9", 1 << 20, {ReadOf("inference-log", 1 << 20)}));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->detector, "log_export");
  // Even to an allowed peer: the vector DB is no place for logs.
  SendAfterRead to_allowed = Send(r, 1, "10.30.0.5", 1 << 20, {ReadOf("inference-log", 1 << 20)});
  to_allowed.allowed = true;
  ASSERT_TRUE(d.Evaluate(r, to_allowed));
  EXPECT_THAT(d.Evaluate(r, to_allowed)->description, HasSubstr("not for logs"));
}

TEST(LogExportTest, ShippingToTheConfiguredLogSinkIsFine) {
  const RuleSet r = Rules();
  SendAfterRead s = Send(r, 1, "10.40.0.9", 1 << 20, {ReadOf("inference-log", 1 << 20)});
  s.sink = &r.sinks[0];
  EXPECT_FALSE(LogExportDetector().Evaluate(r, s));
  // A SIEM sink is not a log sink.
  SinkDestination siem = r.sinks[0];
  siem.kind = SinkDestination::Kind::kSiem;
  s.sink = &siem;
  EXPECT_TRUE(LogExportDetector().Evaluate(r, s));
}

// --- exfil_chain ------------------------------------------------------------------------------

TEST(ExfilChainTest, SendComparableToWhatWasRead) {
  const RuleSet r = Rules();
  const ExfilChainDetector d;
  auto a = d.Evaluate(r, Send(r, 0, "203.0.113.9", 3 << 20, {ReadOf("training-data", 4 << 20)}));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->detector, "exfil_chain");
  EXPECT_THAT(a->description, HasSubstr("0.75x"));
  // Half a MiB out after 4 MiB read: below the 0.5 ratio.
  EXPECT_FALSE(d.Evaluate(r, Send(r, 0, "203.0.113.9", 512 << 10, {ReadOf("training-data", 4 << 20)})));
  // Below min_bytes read.
  EXPECT_FALSE(d.Evaluate(r, Send(r, 0, "203.0.113.9", 3 << 20, {ReadOf("training-data", 100 << 10)})));
}

TEST(ExfilChainTest, ParamsComeFromTheRules) {
  RuleSet r = Rules();
  DetectorConfig c;
  c.params = {{"ratio", 0.1}};
  r.detectors = {{"exfil_chain", c}};
  EXPECT_TRUE(ExfilChainDetector().Evaluate(
      r, Send(r, 0, "203.0.113.9", 512 << 10, {ReadOf("training-data", 4 << 20)})));
}

// --- archive_staging --------------------------------------------------------------------------

TEST(ArchiveStagingTest, ArchiverReadingSensitiveFiles) {
  const RuleSet r = Rules();
  ArchiveObservation o{SubjectOf(r, 1, "/usr/bin/tar"), {ReadOf("vector-index", 8 << 20)}};
  auto a = ArchiveStagingDetector().Evaluate(r, o);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->detector, "archive_staging");
  EXPECT_THAT(a->attack_techniques, ElementsAre("T1560", "T1074"));
  EXPECT_TRUE(a->destination.ip.empty());
}

TEST(ArchiveStagingTest, NearMisses) {
  const RuleSet r = Rules();
  // Not an archiver; an archiver that read little.
  EXPECT_FALSE(ArchiveStagingDetector().Evaluate(
      r, {SubjectOf(r, 1, "/usr/bin/python3"), {ReadOf("vector-index", 8 << 20)}}));
  EXPECT_FALSE(ArchiveStagingDetector().Evaluate(
      r, {SubjectOf(r, 1, "/usr/bin/gzip"), {ReadOf("vector-index", 10)}}));
  EXPECT_TRUE(ArchiveStagingDetector::IsArchiver("/bin/zstd"));
  EXPECT_FALSE(ArchiveStagingDetector::IsArchiver("/usr/bin/tarball-viewer"));
}

// --- plaintext_sync ---------------------------------------------------------------------------

TEST(PlaintextSyncTest, KafkaWithoutTlsFromTheSyncWorkload) {
  const RuleSet r = Rules();
  PlaintextObservation o{SubjectOf(r, 0), PeerOf("10.30.0.7", 9092), "kafka", "Produce"};
  auto a = PlaintextSyncDetector().Evaluate(r, o);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->app_protocol, "kafka");
  EXPECT_EQ(a->severity, Severity::kMedium);
  o.tls_required = true;
  EXPECT_EQ(PlaintextSyncDetector().Evaluate(r, o)->severity, Severity::kHigh);
}

TEST(PlaintextSyncTest, NearMisses) {
  const RuleSet r = Rules();
  const PlaintextSyncDetector d;
  // The inference workload is not a sync workload and the peer does not require TLS.
  EXPECT_FALSE(d.Evaluate(r, {SubjectOf(r, 1), PeerOf("10.30.0.7", 9092), "kafka", "Produce"}));
  // TLS records and unknown bytes are not plaintext sync protocols; loopback is not the network.
  EXPECT_FALSE(d.Evaluate(r, {SubjectOf(r, 0), PeerOf("10.30.0.7", 443), "tls-record", ""}));
  EXPECT_FALSE(d.Evaluate(r, {SubjectOf(r, 0), PeerOf("10.30.0.7", 9), "unknown", ""}));
  EXPECT_FALSE(d.Evaluate(r, {SubjectOf(r, 0), PeerOf("127.0.0.1", 6379), "redis", "SET"}));
}

// --- pii_egress -------------------------------------------------------------------------------

PayloadWrite Write(const RuleSet& r, int w, const char* ip, std::vector<DataMatch> data) {
  PayloadWrite p;
  p.subject = SubjectOf(r, w);
  p.peer = PeerOf(ip, 443);
  p.app_protocol = "http1-request";
  p.request_line = "POST /upload HTTP/1.1";
  p.data = std::move(data);
  return p;
}

TEST(PiiEgressTest, RecordIdsToANonCrmHost) {
  const RuleSet r = Rules();
  PayloadWrite w = Write(r, 0, "203.0.113.9",
                         {{"crm_record_id", 12, {"aa", "bb"}}, {"email", 3, {"cc"}}});
  w.peer.names = {"paste.evil.test"};
  auto a = PiiEgressDetector().Evaluate(r, w);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->severity, Severity::kCritical);  // a batch of records
  EXPECT_TRUE(a->encrypted);
  EXPECT_EQ(a->data.size(), 2u);
  EXPECT_EQ(a->title, "CRM data sent from workload crm-sync to paste.evil.test (203.0.113.9:443)");
  EXPECT_THAT(a->description, HasSubstr("12 CRM record id(s), 3 e-mail address(es)"));
  EXPECT_THAT(a->description, HasSubstr("POST /upload HTTP/1.1"));
}

TEST(PiiEgressTest, AllowedCrmSyncOfTenThousandRecordsIsQuiet) {
  const RuleSet r = Rules();
  PayloadWrite to_crm = Write(r, 0, "198.51.100.4", {{"crm_record_id", 10000, {}}});
  to_crm.crm_peer = true;
  EXPECT_FALSE(PiiEgressDetector().Evaluate(r, to_crm));
  PayloadWrite to_vectors = Write(r, 0, "10.30.0.5", {{"crm_record_id", 10000, {}}});
  to_vectors.allowed = true;
  EXPECT_FALSE(PiiEgressDetector().Evaluate(r, to_vectors));
  // No sensitive values: nothing to report.
  EXPECT_FALSE(PiiEgressDetector().Evaluate(r, Write(r, 0, "203.0.113.9", {})));
  // Tokens are token_misuse's business.
  EXPECT_FALSE(PiiEgressDetector().Evaluate(r, Write(r, 0, "203.0.113.9", {{"bearer_token", 1, {}}})));
}

// --- token_misuse -----------------------------------------------------------------------------

TEST(TokenMisuseTest, TokenToANonCrmHost) {
  const RuleSet r = Rules();
  auto a = TokenMisuseDetector().Evaluate(
      r, Write(r, 0, "203.0.113.9", {{"bearer_token", 1, {"0123456789abcdef"}}}), std::nullopt);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->severity, Severity::kCritical);
  EXPECT_THAT(a->description, HasSubstr("is not a CRM endpoint"));
  ASSERT_EQ(a->data.size(), 1u);
  EXPECT_THAT(a->data[0].fingerprints, ElementsAre("0123456789abcdef"));
}

TEST(TokenMisuseTest, TokenReusedByAnotherWorkloadEvenToTheCrm) {
  const RuleSet r = Rules();
  PayloadWrite w = Write(r, 1, "198.51.100.4", {{"bearer_token", 1, {"fp"}}});
  w.crm_peer = true;
  EXPECT_FALSE(TokenMisuseDetector().Evaluate(r, w, std::nullopt));  // the sync job's own use
  auto a = TokenMisuseDetector().Evaluate(r, w, TokenOwner{"crm-sync", "/usr/bin/python3", 10});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->title, "CRM credential reused by workload llm");
  EXPECT_THAT(a->description, HasSubstr("first used by /usr/bin/python3 (pid 10) of workload crm-sync"));
}

// --- volume_anomaly ---------------------------------------------------------------------------

TEST(VolumeAnomalyTest, OverBudget) {
  const RuleSet r = Rules();
  VolumeObservation o{SubjectOf(r, 0), PeerOf("10.30.0.5", 6333), 100 << 20, 3600,
                      "10.30.0.5/32", (100 << 20) + 1};
  auto a = VolumeAnomalyDetector().Evaluate(r, o);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->severity, Severity::kMedium);
  o.sent_in_window = 250 << 20;
  EXPECT_EQ(VolumeAnomalyDetector().Evaluate(r, o)->severity, Severity::kHigh);
  o.sent_in_window = 100 << 20;  // exactly the budget is within it
  EXPECT_FALSE(VolumeAnomalyDetector().Evaluate(r, o));
  o.budget_bytes = 0;  // no budget
  o.sent_in_window = 1ull << 40;
  EXPECT_FALSE(VolumeAnomalyDetector().Evaluate(r, o));
}

// --- dns_tunnel -------------------------------------------------------------------------------

TEST(DnsTunnelTest, RegisteredDomainAndEntropy) {
  EXPECT_EQ(DnsTunnelDetector::RegisteredDomain("a.b.paste.evil.test"), "evil.test");
  EXPECT_EQ(DnsTunnelDetector::RegisteredDomain("x.example.co.uk."), "example.co.uk");
  EXPECT_EQ(DnsTunnelDetector::RegisteredDomain("localhost"), "localhost");
  EXPECT_DOUBLE_EQ(DnsTunnelDetector::Entropy("aaaa"), 0.0);
  EXPECT_DOUBLE_EQ(DnsTunnelDetector::Entropy("abcd"), 2.0);
}

TEST(DnsTunnelTest, LongHighEntropyLabelOrBurst) {
  const RuleSet r = Rules();
  DnsQueryObservation o;
  o.subject = SubjectOf(r, 1);
  o.name = "mzxw6ytboi2dsnzzgq3tmnbvgq4tsmjrgezdgnbvgy3tqojq.evil.test";
  o.domain = "evil.test";
  o.longest_label = 48;
  o.label_entropy = DnsTunnelDetector::Entropy("mzxw6ytboi2dsnzzgq3tmnbvgq4tsmjrgezdgnbvgy3tqojq");
  auto a = DnsTunnelDetector().Evaluate(r, o);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->dns_domain, "evil.test");
  // The query name (the data) is not in the alert.
  EXPECT_THAT(a->description, ::testing::Not(HasSubstr("mzxw6")));
  // An ordinary name is quiet; a burst of names is not.
  o.longest_label = 6;
  o.label_entropy = 2.5;
  o.names_last_minute = 10;
  EXPECT_FALSE(DnsTunnelDetector().Evaluate(r, o));
  o.names_last_minute = 500;
  EXPECT_TRUE(DnsTunnelDetector().Evaluate(r, o));
}

// --- tool_egress ------------------------------------------------------------------------------

TEST(ToolEgressTest, CurlUnderTheInferenceWorkload) {
  const RuleSet r = Rules();
  ToolConnect c{SubjectOf(r, 1, "/usr/bin/curl"), PeerOf("203.0.113.9", 443), false,
                "/usr/bin/python3"};
  auto a = ToolEgressDetector().Evaluate(r, c);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->severity, Severity::kHigh);
  EXPECT_THAT(a->description, HasSubstr("started by /usr/bin/python3"));
  c.allowed = true;
  EXPECT_EQ(ToolEgressDetector().Evaluate(r, c)->severity, Severity::kMedium);
}

TEST(ToolEgressTest, DebiansNetcatByTheNameItRunsAs) {
  const RuleSet r = Rules();
  for (const char* exe : {"/usr/bin/nc.openbsd", "/usr/bin/nc.traditional", "/usr/bin/nc"}) {
    auto a = ToolEgressDetector().Evaluate(
        r, {SubjectOf(r, 1, exe), PeerOf("203.0.113.9", 9000), false, ""});
    ASSERT_TRUE(a) << exe;
  }
  EXPECT_TRUE(ToolEgressDetector::ToolName("/usr/bin/ncx").empty());
}

TEST(ToolEgressTest, NearMisses) {
  RuleSet r = Rules();
  const ToolEgressDetector d;
  EXPECT_FALSE(d.Evaluate(r, {SubjectOf(r, 1, "/usr/bin/python3"), PeerOf("203.0.113.9", 443), false, ""}));
  EXPECT_FALSE(d.Evaluate(r, {SubjectOf(r, 1, "/usr/bin/curl"), PeerOf("127.0.0.1", 8080), false, ""}));
  r.workloads[1].role = "admin-export";  // operators use tools
  EXPECT_FALSE(d.Evaluate(r, {SubjectOf(r, 1, "/usr/bin/curl"), PeerOf("203.0.113.9", 443), false, ""}));
}

// --- unexpected_egress with names -------------------------------------------------------------

TEST(UnexpectedEgressNamesTest, HostEntriesMatchResolvedNames) {
  const RuleSet r = Rules();
  ConnectObservation obs;
  obs.time_ms = kNow;
  obs.daddr = ParseIp("198.51.100.4").value();
  obs.dport = 443;
  obs.names = {"acme.my.salesforce.com"};
  EXPECT_FALSE(UnexpectedEgressDetector().Evaluate(r, r.workloads[0], obs));
  obs.names = {"paste.evil.test"};
  auto a = UnexpectedEgressDetector().Evaluate(r, r.workloads[0], obs);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->title, "Unexpected egress from workload crm-sync to paste.evil.test (198.51.100.4:443)");
  EXPECT_THAT(a->destination.names, ElementsAre("paste.evil.test"));
  Workload learning = r.workloads[0];
  learning.mode = Mode::kLearn;
  EXPECT_FALSE(UnexpectedEgressDetector().Evaluate(r, learning, obs));
}

}  // namespace
}  // namespace sluice::detect
