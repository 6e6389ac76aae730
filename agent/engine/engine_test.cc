#include "agent/engine/engine.h"

#include <arpa/inet.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

class RecordingWatch : public enforce::WatchTarget {
 public:
  absl::Status WatchCgroup(uint64_t id, uint64_t mask) override {
    cgroups.emplace_back(id, mask);
    return absl::OkStatus();
  }
  absl::Status WatchExe(uint32_t dev, uint64_t ino, uint64_t mask) override {
    exes.emplace_back(ino, mask);
    return absl::OkStatus();
  }
  absl::Status WatchTask(uint32_t tgid, uint64_t mask) override {
    tasks.emplace_back(tgid, mask);
    return absl::OkStatus();
  }
  absl::Status WriteAllow(const enforce::AllowWrite& w) override {
    allows.push_back(w);
    return absl::OkStatus();
  }
  std::vector<std::pair<uint64_t, uint64_t>> cgroups, exes, tasks;
  std::vector<enforce::AllowWrite> allows;
};

class CollectingSink : public output::AlertSink {
 public:
  absl::Status Write(const detect::Alert& a) override {
    alerts.push_back(a);
    return absl::OkStatus();
  }
  absl::Status Flush() override { return absl::OkStatus(); }
  std::vector<detect::Alert> alerts;
};

class CollectingEvents : public EventPublisher {
 public:
  void Publish(const std::string& type, const nlohmann::json& event) override {
    events.push_back(event);
  }
  std::vector<nlohmann::json> OfType(const std::string& type) const {
    std::vector<nlohmann::json> out;
    for (const auto& e : events) {
      if (e.value("type", "") == type) out.push_back(e);
    }
    return out;
  }
  std::vector<nlohmann::json> events;
};

class RecordingHooks : public ProcessHooks {
 public:
  void OnWatchedExec(uint32_t pid, uint32_t workload_id, const std::string& exe) override {
    execs.emplace_back(pid, workload_id);
  }
  void OnFork(uint32_t parent, uint32_t child, bool watched) override {
    forks.emplace_back(parent, child);
  }
  void OnExit(uint32_t pid) override { exits.push_back(pid); }
  std::vector<std::pair<uint32_t, uint32_t>> execs, forks;
  std::vector<uint32_t> exits;
};

constexpr char kRules[] = R"(version: 1
files:
  - class: inference-cache
    paths: [/var/cache/llm/]
workloads:
  - name: sync
    role: crm-sync
    mode: enforce
    selector:
      cgroup: "/crm"
    egress:
      allow:
        - cidr: 10.1.0.0/16
          ports: [443]
  - name: tool
    selector:
      exe: "/opt/tools/*"
)";

// A pid that cannot exist (above PID_MAX_LIMIT), so no /proc lookup finds a real process.
constexpr uint32_t kPid = 5000000;

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : cgroups_("/nonexistent-cgroup-root") {
    auto loaded = detect::ParseRules(kRules, "engine_test.yaml");
    EXPECT_TRUE(loaded.ok());
    engine_ = std::make_unique<Engine>(loaded.rules, &processes_, &cgroups_, &watch_, &sink_);
  }

  static events::ConnectEvent Connect(uint32_t workload, std::array<uint8_t, 4> v4, uint16_t port,
                                      uint8_t verdict) {
    events::ConnectEvent e{};
    e.hdr.type = SLUICE_EV_CONNECT;
    e.hdr.pid = kPid;
    e.hdr.tid = kPid;
    e.hdr.cgroup_id = 77;
    e.workload_id = workload;
    e.family = SLUICE_AF_INET;
    e.dport = port;
    e.verdict = verdict;
    e.protocol = 6;
    e.flags = SLUICE_CONNECT_F_HAS_RESULT;
    e.ret = verdict == SLUICE_VERDICT_DENY ? -1 : 0;
    e.daddr[10] = 0xff;
    e.daddr[11] = 0xff;
    std::memcpy(&e.daddr[12], v4.data(), 4);
    return e;
  }

  state::ProcessTable processes_;
  state::CgroupIndex cgroups_;
  RecordingWatch watch_;
  CollectingSink sink_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, DeniedConnectBecomesAnAlertWithIdentity) {
  engine_->OnEvent(events::CgroupMkdirEvent{{SLUICE_EV_CGROUP_MKDIR, 1, 1, 1, 77}, "/crm"});
  engine_->OnEvent(Connect(0, {203, 0, 113, 9}, 443, SLUICE_VERDICT_DENY));
  ASSERT_EQ(sink_.alerts.size(), 1u);
  const auto& a = sink_.alerts[0];
  EXPECT_EQ(a.detector, "unexpected_egress");
  EXPECT_EQ(a.disposition, detect::Disposition::kBlocked);
  EXPECT_EQ(a.workload.name, "sync");
  EXPECT_EQ(a.workload.role, "crm-sync");
  EXPECT_EQ(a.workload.cgroup_path, "/crm");
  EXPECT_EQ(a.workload.cgroup_id, 77u);
  EXPECT_EQ(a.process.pid, kPid);
  EXPECT_EQ(a.destination.ip, "203.0.113.9");
  EXPECT_EQ(a.destination.port, 443);
  EXPECT_EQ(a.destination.protocol, "tcp");
  EXPECT_EQ(a.connect_result, -1);
  EXPECT_GT(a.time_ms, 1600000000000LL);  // boot time converted to epoch ms
  EXPECT_EQ(engine_->stats().alerts, 1u);
}

class RecordingContainment : public enforce::Containment {
 public:
  explicit RecordingContainment(CollectingSink* sink) : sink_(sink) {}
  void OnConviction(const detect::Workload& w, const detect::Alert& finding) override {
    // The finding that asked for it is delivered first.
    delivered_before.push_back(sink_->alerts.size());
    convictions.emplace_back(w.name, finding.detector);
  }
  std::vector<std::pair<std::string, std::string>> convictions;
  std::vector<size_t> delivered_before;

 private:
  CollectingSink* sink_;
};

TEST(EngineContainmentTest, FindingsOfListedDetectorsAskForQuarantine) {
  auto loaded = detect::ParseRules(R"(version: 1
alerts: {aggregate_window: 0}
workloads:
  - name: sync
    mode: enforce
    selector: {cgroup: "/crm"}
    quarantine: {on: [unexpected_egress]}
  - name: tool
    selector: {cgroup: "/tool"}
)", "t.yaml");
  ASSERT_TRUE(loaded.ok());
  state::ProcessTable processes;
  state::CgroupIndex cgroups("/nonexistent-cgroup-root");
  RecordingWatch watch;
  CollectingSink sink;
  Engine engine(loaded.rules, &processes, &cgroups, &watch, &sink);
  RecordingContainment contain(&sink);
  engine.SetContainment(&contain);
  auto connect = [](uint32_t workload) {
    events::ConnectEvent e{};
    e.hdr.type = SLUICE_EV_CONNECT;
    e.hdr.pid = kPid;
    e.workload_id = workload;
    e.family = SLUICE_AF_INET;
    e.dport = 443;
    e.verdict = SLUICE_VERDICT_DENY;
    e.daddr[10] = e.daddr[11] = 0xff;
    e.daddr[12] = 203;
    e.daddr[15] = 9;
    return e;
  };
  engine.OnEvent(connect(1));  // "tool" lists nothing
  EXPECT_THAT(contain.convictions, IsEmpty());
  engine.OnEvent(connect(0));
  ASSERT_EQ(contain.convictions.size(), 1u);
  EXPECT_EQ(contain.convictions[0], (std::pair<std::string, std::string>{"sync",
                                                                         "unexpected_egress"}));
  EXPECT_EQ(contain.delivered_before[0], 2u);
  // Not the engine's own alerts about enforcement (what the containment reports).
  detect::Alert change;
  change.detector = "enforcement";
  change.workload.name = "sync";
  engine.Report(change);
  EXPECT_EQ(contain.convictions.size(), 1u);
  EXPECT_EQ(sink.alerts.size(), 3u);
}

TEST_F(EngineTest, WouldDenyIsReportedAsWouldBlock) {
  engine_->OnEvent(Connect(0, {203, 0, 113, 9}, 443, SLUICE_VERDICT_WOULD_DENY));
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].disposition, detect::Disposition::kWouldBlock);
}

TEST_F(EngineTest, AllowedDestinationIsSilent) {
  engine_->OnEvent(Connect(0, {10, 1, 2, 3}, 443, SLUICE_VERDICT_ALLOW));
  EXPECT_THAT(sink_.alerts, IsEmpty());
}

TEST_F(EngineTest, UnknownWorkloadIdIsCountedNotAlerted) {
  engine_->OnEvent(Connect(9, {203, 0, 113, 9}, 443, SLUICE_VERDICT_WOULD_DENY));
  EXPECT_THAT(sink_.alerts, IsEmpty());
  EXPECT_EQ(engine_->stats().unknown_workload, 1u);
}

// SIGHUP: open aggregates are delivered under the old rules, the watch set is re-seeded with the
// new ids, kernel ids are read in the new bank, and activity attributed under the old rules is
// resolved afresh instead of trusted.
TEST_F(EngineTest, ReplaceRulesSwitchesAtomicallyAndRenumbers) {
  engine_->OnEvent(events::CgroupMkdirEvent{{SLUICE_EV_CGROUP_MKDIR, 1, 1, 1, 77}, "/crm"});
  engine_->OnEvent(events::CgroupMkdirEvent{{SLUICE_EV_CGROUP_MKDIR, 1, 1, 1, 78}, "/ops"});
  auto connect = [](uint32_t workload, uint64_t ts, uint64_t cgroup) {
    events::ConnectEvent e = Connect(workload, {203, 0, 113, 9}, 443, SLUICE_VERDICT_WOULD_DENY);
    e.hdr.ts_ns = ts;
    e.hdr.cgroup_id = cgroup;
    return e;
  };
  engine_->OnEvent(connect(0, 1000, 77));
  engine_->OnEvent(connect(0, 2000, 77));  // absorbed into the open aggregate
  ASSERT_EQ(sink_.alerts.size(), 1u);

  auto next = detect::ParseRules(R"(version: 1
workloads:
  - name: ops
    selector: {cgroup: "/ops"}
  - name: sync
    selector: {cgroup: "/crm"}
)",
                                 "next.yaml");
  ASSERT_TRUE(next.ok());
  watch_.cgroups.clear();
  constexpr uint64_t kSwitched = 5000;
  ASSERT_TRUE(engine_->SeedWatchSet(next.rules).ok());
  engine_->ReplaceRules(next.rules, 32, kSwitched);
  // The summary of the aggregate, delivered by the reload.
  ASSERT_EQ(sink_.alerts.size(), 2u);
  EXPECT_EQ(sink_.alerts[1].count, 1u);  // the absorbed one
  EXPECT_EQ(sink_.alerts[1].workload.name, "sync");
  EXPECT_EQ(engine_->kernel_id_base(), 32u);
  EXPECT_EQ(engine_->rules().workloads.size(), 2u);
  // Re-seeded with the new rule ids (the watch target shifts them into the bank).
  EXPECT_THAT(watch_.cgroups, ::testing::UnorderedElementsAre(Pair(77u, 0b10u), Pair(78u, 0b01u)));

  // New bank, after the switch: trusted. Kernel id 32 is rule 0, "ops".
  engine_->OnEvent(connect(32, kSwitched + 1, 78));
  ASSERT_EQ(sink_.alerts.size(), 3u);
  EXPECT_EQ(sink_.alerts[2].workload.name, "ops");
  // An old-bank id still in the ring: 0 named "sync" then and would name "ops" in the new bank;
  // it is resolved from its cgroup instead.
  engine_->OnEvent(connect(0, kSwitched - 1, 77));
  ASSERT_EQ(sink_.alerts.size(), 4u);
  EXPECT_EQ(sink_.alerts[3].workload.name, "sync");
  EXPECT_EQ(engine_->stats().unknown_workload, 0u);

  // And back to bank 0 on the next reload: an id of bank 0 attributed before this switch (two
  // rule sets ago) is not trusted either.
  engine_->ReplaceRules(next.rules, 0, 9000);
  sink_.alerts.clear();
  engine_->OnEvent(connect(0, 8000, 77));  // "ops" by id, but cgroup 77 is sync's
  engine_->FlushAlerts();
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].workload.name, "sync");
}

// A first segment the sensor captured from a TLS client (tests/fuzz/corpus, made by
// make_corpus.py from an `openssl s_client -servername CRM.Example.com` hello): the server name
// reaches the flow; the bytes go no further.
TEST_F(EngineTest, FirstSegmentOfATlsFlowNamesTheServer) {
  std::ifstream in("tests/fuzz/corpus/decode/ok-payload-hello", std::ios::binary);
  ASSERT_TRUE(in.good());
  std::vector<uint8_t> record((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
  CollectingEvents events;
  engine_->SetEventPublisher(&events);
  events::Flow f{};
  f.pid = 4242;
  f.cgroup_id = 77;
  f.protocol = 6;
  f.dport = 443;
  engine_->OnEvent(events::FlowEvent{{SLUICE_EV_FLOW, 1, 4242, 4242, 77}, 21,
                                     SLUICE_FLOW_CONNECTED, f});
  engine_->OnRecord(record);
  EXPECT_EQ(engine_->stats().decode_errors, 0u);
  auto payload = events.OfType("payload");
  ASSERT_EQ(payload.size(), 1u);
  EXPECT_EQ(payload[0]["protocol"], "tls-record");
  EXPECT_EQ(payload[0]["sni"], "crm.example.com");
  EXPECT_FALSE(payload[0].contains("data"));
}

class CollectingRecorder : public InputRecorder {
 public:
  void Record(const Input& input) override { inputs.push_back(input); }
  std::vector<Input> inputs;
};

// Workloads selected by container labels: live, the engine reads the runtime's metadata when a
// cgroup names a container, handles and records the labels before the cgroup; a replay of that
// recording (no runtime at hand) selects the same cgroup.
TEST(EngineContainerTest, LabelsSelectLiveAndInReplay) {
  char dir_template[] = "/tmp/sluice-engine-containers-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string root = dir_template;
  const std::string id(64, 'c');
  std::filesystem::create_directories(root + "/docker/" + id);
  {
    std::ofstream f(root + "/docker/" + id + "/config.v2.json");
    f << R"({"ID": ")" << id << R"(", "Config": {"Labels": {"app": "crm-sync", "x": "y"}}})";
  }
  auto loaded = detect::ParseRules(R"(version: 1
workloads:
  - name: by-label
    selector:
      container: {labels: {app: crm-sync}}
  - name: other
    selector:
      container: {labels: {app: llm}}
)",
                                   "labels.yaml");
  ASSERT_TRUE(loaded.ok());
  const std::string path = "/system.slice/docker-" + id + ".scope";

  state::ProcessTable processes;
  processes.DisableProcLookup();
  state::CgroupIndex cgroups("/nonexistent-cgroup-root");
  RecordingWatch watch;
  CollectingSink sink;
  EngineOptions live_options;
  live_options.container_roots.emplace();
  live_options.container_roots->docker = {root + "/docker"};
  live_options.container_roots->containerd = {root + "/containerd"};
  live_options.container_roots->oci_userdata = {root + "/oci"};
  Engine live(loaded.rules, &processes, &cgroups, &watch, &sink, live_options);
  CollectingRecorder recorder;
  live.SetRecorder(&recorder);
  live.OnEvent(events::CgroupMkdirEvent{{SLUICE_EV_CGROUP_MKDIR, 1, 1, 1, 501}, path});
  EXPECT_THAT(watch.cgroups, ElementsAre(Pair(501u, 0b01u)));
  // The labels come before the cgroup that needed them.
  ASSERT_GE(recorder.inputs.size(), 3u);
  const auto* info = std::get_if<ContainerInfo>(&recorder.inputs[recorder.inputs.size() - 2]);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->id, id);
  EXPECT_TRUE(info->found);
  EXPECT_EQ(info->labels.at("app"), "crm-sync");
  EXPECT_TRUE(std::holds_alternative<events::CgroupMkdirEvent>(recorder.inputs.back()));
  // Known now: not read again for the next cgroup of the same container.
  const size_t before = recorder.inputs.size();
  live.OnEvent(events::CgroupMkdirEvent{{SLUICE_EV_CGROUP_MKDIR, 2, 1, 1, 502}, path + "/init"});
  EXPECT_EQ(recorder.inputs.size(), before + 1);
  EXPECT_THAT(watch.cgroups, ElementsAre(Pair(501u, 0b01u), Pair(502u, 0b01u)));
  std::filesystem::remove_all(root);

  // Replay: no runtime, the engine resolves the connect's workload from the recorded labels.
  state::ProcessTable replay_processes;
  replay_processes.DisableProcLookup();
  state::CgroupIndex replay_cgroups("/nonexistent-cgroup-root");
  CollectingSink replay_sink;
  EngineOptions replay_options;
  replay_options.trust_kernel_workload = false;
  Engine replay(loaded.rules, &replay_processes, &replay_cgroups, nullptr, &replay_sink,
                replay_options);
  for (const Input& in : recorder.inputs) replay.OnInput(in);
  events::ConnectEvent c{};
  c.hdr = {SLUICE_EV_CONNECT, 3, 4000000, 4000000, 501};
  c.workload_id = SLUICE_NO_WORKLOAD;
  c.family = SLUICE_AF_INET;
  c.dport = 443;
  c.protocol = 6;
  c.verdict = SLUICE_VERDICT_WOULD_DENY;
  c.daddr[10] = c.daddr[11] = 0xff;
  c.daddr[12] = 203;
  c.daddr[15] = 9;
  replay.OnInput(c);
  replay.FlushAlerts();
  ASSERT_EQ(replay_sink.alerts.size(), 1u);
  EXPECT_EQ(replay_sink.alerts[0].workload.name, "by-label");
}

// Host entries in the kernel: a DNS answer for a matching name earns the address in the live
// bank; a reload stages the grants of the next set for its bank from the DNS cache; the grant
// ends when its time is up.
TEST(EngineGrantsTest, DnsAnswersEarnKernelEntriesAndFollowReloads) {
  auto loaded = detect::ParseRules(R"(version: 1
workloads:
  - name: sync
    mode: enforce
    selector: {cgroup: /crm}
    egress: {allow: [{host: "*.my.salesforce.com", ports: [443]}]}
)",
                                   "grants.yaml");
  ASSERT_TRUE(loaded.ok());
  state::ProcessTable processes;
  processes.DisableProcLookup();
  state::CgroupIndex cgroups("/nonexistent-cgroup-root");
  RecordingWatch watch;
  CollectingSink sink;
  Engine engine(loaded.rules, &processes, &cgroups, &watch, &sink);
  auto answer = [&](const std::string& name, uint8_t last, uint64_t ts_ns) {
    DnsObservation o;
    o.hdr = {SLUICE_EV_DNS, ts_ns, 0, 0, 77};
    o.message.response = true;
    o.message.questions = {name};
    events::DnsAnswer a;
    a.name = name;
    a.type = events::kDnsTypeA;
    a.ttl = 30;
    a.addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, last};
    o.message.answers = {a};
    engine.OnInput(o);
  };
  constexpr uint64_t kSec = 1000000000ull;
  answer("paste.evil.test", 66, 1 * kSec);
  EXPECT_TRUE(watch.allows.empty());
  answer("acme.my.salesforce.com", 9, 1 * kSec);
  ASSERT_EQ(watch.allows.size(), 1u);
  EXPECT_EQ(ntohl(watch.allows[0].key.workload_id), 0u);
  EXPECT_EQ(watch.allows[0].key.addr[15], 9);
  ASSERT_TRUE(watch.allows[0].value.has_value());
  EXPECT_EQ(watch.allows[0].value->ranges[0].lo, 443);

  // Reload into bank 32: the cached name is granted there before the switch.
  watch.allows.clear();
  engine.StageGrants(loaded.rules, 32);
  ASSERT_EQ(watch.allows.size(), 1u);
  EXPECT_EQ(ntohl(watch.allows[0].key.workload_id), 32u);
  engine.ReplaceRules(loaded.rules, 32, 2 * kSec);

  // The grant outlives the 30 s TTL up to the 5 min floor, then it is removed.
  watch.allows.clear();
  answer("unrelated.example", 1, 200 * kSec);
  EXPECT_TRUE(watch.allows.empty());
  answer("unrelated.example", 1, 400 * kSec);
  ASSERT_EQ(watch.allows.size(), 1u);
  EXPECT_EQ(ntohl(watch.allows[0].key.workload_id), 32u);
  EXPECT_FALSE(watch.allows[0].value.has_value());
}

TEST_F(EngineTest, NewCgroupUnderASelectorIsWatched) {
  engine_->OnEvent(events::CgroupMkdirEvent{{SLUICE_EV_CGROUP_MKDIR, 1, 1, 1, 100}, "/crm/w1"});
  engine_->OnEvent(events::CgroupMkdirEvent{{SLUICE_EV_CGROUP_MKDIR, 1, 1, 1, 101}, "/other"});
  EXPECT_THAT(watch_.cgroups, ElementsAre(Pair(100u, 0b01u)));
  EXPECT_EQ(cgroups_.PathOf(101).value_or(""), "/other");
}

TEST_F(EngineTest, ExecOfANewMatchingBinaryTeachesTheKernel) {
  events::ExecEvent e{};
  e.hdr = {SLUICE_EV_EXEC, 1, kPid, kPid, 1};
  e.exe_ino = 1234;
  e.exe_dev = 8;
  e.workload_id = SLUICE_NO_WORKLOAD;
  e.comm = "exfil";
  e.filename = "/opt/tools/exfil";
  engine_->OnEvent(e);
  EXPECT_THAT(watch_.exes, ElementsAre(Pair(1234u, 0b10u)));
  EXPECT_THAT(watch_.tasks, ElementsAre(Pair(kPid, 0b10u)));
}

TEST_F(EngineTest, ExecOfAnUnselectedBinaryNeedsNothing) {
  events::ExecEvent e{};
  e.hdr = {SLUICE_EV_EXEC, 1, kPid, kPid, 1};
  e.workload_id = SLUICE_NO_WORKLOAD;
  e.filename = "/usr/bin/true";
  engine_->OnEvent(e);
  EXPECT_THAT(watch_.exes, IsEmpty());
  EXPECT_THAT(watch_.tasks, IsEmpty());
}

TEST_F(EngineTest, MalformedRecordsAreCountedAndDropped) {
  std::vector<uint8_t> junk = {1, 2, 3};
  engine_->OnRecord(junk);
  EXPECT_EQ(engine_->stats().decode_errors, 1u);
  EXPECT_THAT(sink_.alerts, IsEmpty());
}

// A DNS answer for acme.my.salesforce.com (CNAME na1.salesforce.com, A 10.1.2.3), built by hand.
std::vector<uint8_t> DnsAnswer() {
  std::vector<uint8_t> m = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0};
  const uint8_t qname[] = {4, 'a', 'c', 'm', 'e', 2, 'm', 'y', 10, 's', 'a', 'l', 'e', 's',
                           'f', 'o', 'r', 'c', 'e', 3, 'c', 'o', 'm', 0};
  m.insert(m.end(), std::begin(qname), std::end(qname));  // offset 12
  m.insert(m.end(), {0, 1, 0, 1});
  const uint8_t target[] = {3, 'n', 'a', '1', 10, 's', 'a', 'l', 'e', 's', 'f',
                            'o', 'r', 'c', 'e', 3, 'c', 'o', 'm', 0};
  // CNAME acme... -> na1.salesforce.com, ttl 60.
  m.insert(m.end(), {0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, sizeof(target)});
  const uint8_t target_off = static_cast<uint8_t>(m.size());
  m.insert(m.end(), std::begin(target), std::end(target));
  // A na1.salesforce.com -> 10.1.2.3, ttl 60.
  m.insert(m.end(), {0xc0, target_off, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3});
  return m;
}

events::Flow FlowTo(std::array<uint8_t, 4> v4, uint16_t port) {
  events::Flow f;
  f.pid = kPid;
  f.protocol = 6;
  f.dport = port;
  f.daddr[10] = f.daddr[11] = 0xff;
  std::memcpy(&f.daddr[12], v4.data(), 4);
  return f;
}

// A file_open record of kPid for file (8, `ino`) of class 1 (inference-cache).
events::FileOpenEvent OpenOf(uint64_t ino, int32_t fd, uint32_t matched_by, std::string path) {
  events::FileOpenEvent open{};
  open.hdr = {SLUICE_EV_FILE_OPEN, 1, kPid, kPid, 77};
  open.dev = 8;
  open.ino = ino;
  open.fd = fd;
  open.class_id = 1;
  open.matched_by = matched_by;
  open.path = std::move(path);
  return open;
}

TEST_F(EngineTest, ClosedFlowIsReportedOnceWhetherOrNotItsRecordArrived) {
  CollectingEvents events;
  engine_->SetEventPublisher(&events);
  events::Flow f = FlowTo({10, 1, 2, 3}, 443);
  f.bytes_out = 1000;
  f.flags = SLUICE_FLOW_F_CLOSED;
  engine_->OnEvent(events::FlowEvent{{SLUICE_EV_FLOW, 1, kPid, 0, 77}, 5, SLUICE_FLOW_CLOSED, f});
  engine_->OnFlowReaped(5, f);  // the reaper finds the same flow: not reported twice
  // Flow 6's close record was lost: the reaper's totals are reported, marked recovered.
  f.bytes_out = 2000;
  engine_->OnFlowReaped(6, f);
  auto flows = events.OfType("flow");
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_EQ(flows[0]["cookie"], 5);
  EXPECT_EQ(flows[0]["bytes_out"], 1000);
  EXPECT_EQ(flows[1]["cookie"], 6);
  EXPECT_EQ(flows[1]["bytes_out"], 2000);
  EXPECT_EQ(flows[1]["recovered"], true);
  EXPECT_EQ(engine_->stats().flows_closed, 2u);
  EXPECT_EQ(engine_->stats().flows_recovered, 1u);
}

class ForgettingSeverer : public enforce::FlowSeverer {
 public:
  absl::Status Sever(uint64_t, uint32_t) override { return absl::OkStatus(); }
  void Forget(uint64_t cookie) override { forgotten.push_back(cookie); }
  std::vector<uint64_t> forgotten;
};

// A close record the kernel released its entry with is final: no reap follows it, so it is not
// remembered for one, the severer forgets the flow, and a live snapshot the reaper read before
// the close does not bring the flow back as open.
TEST_F(EngineTest, ReleasedCloseRecordIsFinal) {
  CollectingEvents events;
  engine_->SetEventPublisher(&events);
  ForgettingSeverer severer;
  engine_->SetSeverer(&severer);
  events::Flow f = FlowTo({10, 1, 2, 3}, 443);
  f.start_ns = 1;
  engine_->OnEvent(events::FlowEvent{{SLUICE_EV_FLOW, 1, kPid, 0, 77}, 5, SLUICE_FLOW_CONNECTED, f});
  engine_->BeginReap();
  events::Flow live = f;
  live.bytes_out = 100;  // what the reaper read before the close
  events::Flow closed = f;
  closed.bytes_out = 1000;
  closed.flags = SLUICE_FLOW_F_CLOSED | SLUICE_FLOW_F_RELEASED;
  engine_->OnEvent(events::FlowEvent{{SLUICE_EV_FLOW, 2, kPid, 0, 77}, 5, SLUICE_FLOW_CLOSED, closed});
  engine_->OnFlowProgress(5, live);
  EXPECT_TRUE(engine_->LiveFlows("", 10).empty());
  EXPECT_EQ(engine_->stats().flow_updates, 0u);
  EXPECT_EQ(engine_->stats().flows_closed, 1u);
  EXPECT_EQ(severer.forgotten, std::vector<uint64_t>{5});
  // The next pass starts clean; a flow still open is updated as before.
  engine_->BeginReap();
  engine_->OnEvent(events::FlowEvent{{SLUICE_EV_FLOW, 3, kPid, 0, 77}, 6, SLUICE_FLOW_CONNECTED, f});
  engine_->OnFlowProgress(6, live);
  EXPECT_EQ(engine_->stats().flow_updates, 1u);
  ASSERT_EQ(engine_->LiveFlows("", 10).size(), 1u);
  EXPECT_EQ(events.OfType("flow").size(), 3u);
}

TEST_F(EngineTest, FileTotalsCarryThePathAndClassOfTheOpen) {
  CollectingEvents events;
  engine_->SetEventPublisher(&events);
  engine_->OnEvent(OpenOf(99, 3, SLUICE_FILE_MATCH_PATH, "/var/cache/llm/kv.bin"));
  engine_->OnFileReaped({kPid, 8, 99}, 4096, 8192, 3, 1);
  auto totals = events.OfType("file_read");
  ASSERT_EQ(totals.size(), 1u);
  EXPECT_EQ(totals[0]["path"], "/var/cache/llm/kv.bin");
  EXPECT_EQ(totals[0]["class"], "inference-cache");
  EXPECT_EQ(totals[0]["bytes_read"], 4096);
  EXPECT_EQ(totals[0]["bytes_mapped"], 8192);
  ASSERT_EQ(events.OfType("file_open").size(), 1u);
  EXPECT_EQ(events.OfType("file_open")[0]["class"], "inference-cache");
}

// A file first met at an io_uring completion has only its name: the totals say so, and a later
// open by path gives them the full path.
TEST_F(EngineTest, FilesSeenThroughIoUringAreNamedAsSuch) {
  CollectingEvents events;
  engine_->SetEventPublisher(&events);
  engine_->OnEvent(OpenOf(99, -1, SLUICE_FILE_MATCH_IO_URING, "kv.bin"));
  ASSERT_EQ(events.OfType("file_open").size(), 1u);
  EXPECT_EQ(events.OfType("file_open")[0]["matched_by"], "io_uring");
  EXPECT_EQ(events.OfType("file_open")[0]["fd"], -1);
  engine_->OnFileReaped({kPid, 8, 99}, 3000, 0, 1, 1);
  ASSERT_EQ(events.OfType("file_read").size(), 1u);
  EXPECT_EQ(events.OfType("file_read")[0]["path"], "(io_uring) kv.bin");

  engine_->OnEvent(OpenOf(100, -1, SLUICE_FILE_MATCH_IO_URING, "kv.bin"));
  events::FileOpenEvent by_path = OpenOf(100, 5, SLUICE_FILE_MATCH_PATH, "/var/cache/llm/kv.bin");
  by_path.hdr.ts_ns = 2;
  engine_->OnEvent(by_path);
  engine_->OnFileReaped({kPid, 8, 100}, 4096, 0, 2, 1);
  auto totals = events.OfType("file_read");
  ASSERT_EQ(totals.size(), 2u);
  EXPECT_EQ(totals[1]["path"], "/var/cache/llm/kv.bin");
}

TEST_F(EngineTest, DnsAnswersNameTheFlowsThatFollow) {
  CollectingEvents events;
  engine_->SetEventPublisher(&events);
  events::DnsEvent dns{};
  dns.hdr = {SLUICE_EV_DNS, 1, 0, 0, 77};
  dns.payload = DnsAnswer();
  engine_->OnEvent(dns);
  ASSERT_EQ(events.OfType("dns").size(), 1u) << engine_->stats().dns_errors;
  engine_->OnEvent(events::FlowEvent{{SLUICE_EV_FLOW, 2, kPid, 0, 77}, 7, SLUICE_FLOW_CONNECTED,
                                     FlowTo({10, 1, 2, 3}, 443)});
  auto flows = events.OfType("flow");
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_THAT(flows[0]["names"].get<std::vector<std::string>>(),
              ::testing::UnorderedElementsAre("acme.my.salesforce.com", "na1.salesforce.com"));
}

TEST_F(EngineTest, MalformedDnsIsCountedNotFatal) {
  events::DnsEvent dns{};
  dns.hdr = {SLUICE_EV_DNS, 1, 0, 0, 77};
  dns.payload = {0xff, 0xff, 0x81};
  engine_->OnEvent(dns);
  EXPECT_EQ(engine_->stats().dns_errors, 1u);
}

TEST_F(EngineTest, TlsRecordsAreClassifiedAndTheBytesDropped) {
  CollectingEvents events;
  engine_->SetEventPublisher(&events);
  engine_->OnEvent(events::FlowEvent{{SLUICE_EV_FLOW, 2, kPid, 0, 77}, 9, SLUICE_FLOW_CONNECTED,
                                     FlowTo({10, 1, 2, 3}, 443)});
  events::TlsEvent tls{};
  tls.hdr = {SLUICE_EV_TLS, 3, kPid, kPid, 77};
  tls.cookie = 9;
  tls.direction = SLUICE_TLS_DIR_WRITE;
  tls.lib = SLUICE_TLS_LIB_OPENSSL;
  const std::string req =
      "POST /services/data/v59.0/sobjects/Contact?token=SECRET HTTP/1.1\r\nHost: x\r\n\r\n";
  tls.data.assign(req.begin(), req.end());
  tls.len = static_cast<uint32_t>(req.size());
  engine_->OnEvent(tls);
  auto out = events.OfType("tls");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["http"]["method"], "POST");
  EXPECT_EQ(out[0]["http"]["path"], "/services/data/v59.0/sobjects/Contact");
  EXPECT_EQ(out[0]["daddr"], "10.1.2.3");
  EXPECT_EQ(out[0]["dport"], 443);
  // The query string (possibly customer data or a token) never leaves the classifier.
  EXPECT_EQ(out[0].dump().find("SECRET"), std::string::npos);
}

TEST_F(EngineTest, ProcessHooksSeeWatchedExecsForksAndExits) {
  RecordingHooks hooks;
  engine_->SetProcessHooks(&hooks);
  events::ExecEvent e{};
  e.hdr = {SLUICE_EV_EXEC, 1, kPid, kPid, 77};
  e.workload_id = 0;
  e.filename = "/usr/bin/python3";
  engine_->OnEvent(e);
  e.hdr.pid = kPid + 1;
  e.workload_id = SLUICE_NO_WORKLOAD;  // not watched: no hook
  engine_->OnEvent(e);
  engine_->OnEvent(events::ForkEvent{{SLUICE_EV_FORK, 2, kPid, kPid, 77}, kPid + 2, 0});
  engine_->OnEvent(events::ExitEvent{{SLUICE_EV_EXIT, 3, kPid, kPid, 77}, 0});
  EXPECT_THAT(hooks.execs, ElementsAre(Pair(kPid, 0u)));
  EXPECT_THAT(hooks.forks, ElementsAre(Pair(kPid, kPid + 2)));
  EXPECT_THAT(hooks.exits, ElementsAre(kPid));
}

}  // namespace
}  // namespace sluice::engine
