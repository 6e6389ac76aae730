#include "agent/enforce/controls.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace sluice::enforce {
namespace {

detect::RuleSet TwoWorkloads() {
  detect::RuleSet rules;
  for (uint32_t i = 0; i < 2; ++i) {
    detect::Workload w;
    w.id = i;
    w.name = i == 0 ? "sync" : "inference";
    w.mode = i == 0 ? detect::Mode::kEnforce : detect::Mode::kMonitor;
    w.selector.cgroup_glob = "/w" + std::to_string(i);
    rules.workloads.push_back(w);
  }
  return rules;
}

TEST(ControlsTest, QuarantineSetsTheFlagWhateverTheMode) {
  const detect::RuleSet rules = TwoWorkloads();
  auto policy = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(policy.ok());
  Controls c;
  EXPECT_TRUE(c.Quarantine({"inference", "leak", "uid 0", 1}));
  EXPECT_FALSE(c.Quarantine({"inference", "again", "uid 0", 2}));  // already
  c.ApplyTo(rules, &*policy);
  EXPECT_EQ(policy->workloads[0].flags, 0u);  // monitor ceiling: sync is not armed
  EXPECT_EQ(policy->workloads[1].flags, uint32_t{SLUICE_WL_F_QUARANTINE});
  ASSERT_NE(c.Find("inference"), nullptr);
  EXPECT_EQ(c.Find("inference")->reason, "leak");

  EXPECT_TRUE(c.Unblock("inference"));
  EXPECT_FALSE(c.Unblock("inference"));
  EXPECT_FALSE(c.Unblock("nobody"));
  c.ApplyTo(rules, &*policy);
  EXPECT_EQ(policy->workloads[1].flags, 0u);
}

TEST(ControlsTest, DisarmClearsEnforcementAndQuarantinesUntilArmed) {
  const detect::RuleSet rules = TwoWorkloads();
  auto compiled = CompilePolicy(rules, GlobalMode::kEnforce);
  ASSERT_TRUE(compiled.ok());
  EXPECT_EQ(compiled->workloads[0].flags, uint32_t{SLUICE_WL_F_ENFORCE});
  Controls c;
  ASSERT_TRUE(c.Quarantine({"inference", "", "rule", 1}));
  std::vector<std::string> released;
  EXPECT_TRUE(c.Disarm(&released));
  EXPECT_EQ(released, std::vector<std::string>{"inference"});
  EXPECT_FALSE(c.Disarm());
  EXPECT_TRUE(c.disarmed());
  auto policy = *compiled;
  c.ApplyTo(rules, &policy);
  EXPECT_EQ(policy.workloads[0].flags, 0u);
  EXPECT_EQ(policy.workloads[1].flags, 0u);
  EXPECT_TRUE(c.Arm());
  EXPECT_FALSE(c.Arm());
  policy = *compiled;
  c.ApplyTo(rules, &policy);
  EXPECT_EQ(policy.workloads[0].flags, uint32_t{SLUICE_WL_F_ENFORCE});
  // Arming does not bring back the quarantines a disarm lifted.
  EXPECT_EQ(policy.workloads[1].flags, 0u);
}

TEST(ControlsTest, JsonRoundTripAndErrors) {
  Controls c;
  ASSERT_TRUE(c.Quarantine({"sync", "pii to paste site", "uid 0", 1764400000000}));
  auto back = Controls::FromJson(c.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->quarantined(), c.quarantined());
  EXPECT_FALSE(back->disarmed());

  EXPECT_FALSE(Controls::FromJson("").ok());
  EXPECT_FALSE(Controls::FromJson("[]").ok());
  EXPECT_FALSE(Controls::FromJson(R"({"version": 2})").ok());
  EXPECT_FALSE(Controls::FromJson(R"({"version": 1, "disarmed": "yes"})").ok());
  auto repeated = Controls::FromJson(
      R"({"version": 1, "quarantined": [{"workload": "a"}, {"workload": "a"}]})");
  ASSERT_FALSE(repeated.ok());
  EXPECT_NE(repeated.status().message().find("quarantined[1]"), std::string::npos);
  EXPECT_FALSE(Controls::FromJson(R"({"version": 1, "quarantined": [{"reason": "x"}]})").ok());
}

TEST(ControlsTest, SaveAndLoadThroughAFile) {
  char dir[] = "/tmp/sluice-controls-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/enforcement.json";
  auto empty = Controls::Load(path);  // absent: the default state
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->disarmed());
  EXPECT_TRUE(empty->quarantined().empty());

  Controls c;
  c.Disarm();
  ASSERT_TRUE(c.Save(path).ok());
  auto loaded = Controls::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->disarmed());

  std::ofstream(path) << "{not json";
  auto broken = Controls::Load(path);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find(path), std::string::npos);
  unlink(path.c_str());
  rmdir(dir);
}

TEST(ControlsTest, ChangeAlertsSayWhatHappened) {
  detect::Workload w;
  w.name = "inference";
  w.mode = detect::Mode::kEnforce;
  auto q = ChangeAlert(Change::kQuarantine, &w, "uid 0", "leak", 1000);
  EXPECT_EQ(q.detector, "enforcement");
  EXPECT_EQ(q.disposition, detect::Disposition::kBlocked);
  EXPECT_EQ(q.workload.name, "inference");
  EXPECT_NE(q.description.find("uid 0"), std::string::npos);
  EXPECT_NE(q.description.find("leak"), std::string::npos);
  EXPECT_FALSE(q.uid.empty());
  EXPECT_EQ(ChangeAlert(Change::kWouldQuarantine, &w, "rule", "", 1).disposition,
            detect::Disposition::kWouldBlock);
  EXPECT_EQ(ChangeAlert(Change::kUnblock, &w, "uid 0", "", 1).disposition,
            detect::Disposition::kAllowed);
  auto d = ChangeAlert(Change::kDisarm, nullptr, "uid 0", "", 1);
  EXPECT_EQ(d.title, "Enforcement disarmed");
  EXPECT_TRUE(d.workload.name.empty());
}

}  // namespace
}  // namespace sluice::enforce
