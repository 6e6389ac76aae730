#include "agent/engine/engine.h"

#include <cstring>
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
  std::vector<std::pair<uint64_t, uint64_t>> cgroups, exes, tasks;
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

constexpr char kRules[] = R"(version: 1
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

}  // namespace
}  // namespace sluice::engine
