#include "agent/state/workload_resolver.h"

#include <string>

#include "gtest/gtest.h"

namespace sluice::state {
namespace {

using detect::RuleSet;
using detect::Workload;

void Add(RuleSet& rules, std::optional<std::string> cgroup, std::optional<std::string> exe) {
  Workload w;
  w.id = static_cast<uint32_t>(rules.workloads.size());
  w.name = "w" + std::to_string(w.id);
  w.selector.cgroup_glob = std::move(cgroup);
  w.selector.exe_glob = std::move(exe);
  rules.workloads.push_back(std::move(w));
}

// What CompilePolicy puts in the selector_cfg map for these rules.
sluice_selector_cfg Cfg(const RuleSet& rules) {
  sluice_selector_cfg cfg{};
  for (const Workload& w : rules.workloads) {
    cfg.active_mask |= uint64_t{1} << w.id;
    if (w.selector.cgroup_glob) cfg.has_cgroup |= uint64_t{1} << w.id;
    if (w.selector.exe_glob) cfg.has_exe |= uint64_t{1} << w.id;
  }
  return cfg;
}

std::optional<uint32_t> Resolve(const RuleSet& rules, const std::string& cgroup,
                                const std::string& exe) {
  return ResolveWorkload(CgroupMask(rules, cgroup), ExeMask(rules, exe), Cfg(rules));
}

TEST(CgroupGlobMatchesTest, SubtreeMatching) {
  const std::string unit = "/system.slice/crm-sync.service";
  EXPECT_TRUE(CgroupGlobMatches(unit, unit));
  EXPECT_TRUE(CgroupGlobMatches(unit, unit + "/worker"));
  EXPECT_TRUE(CgroupGlobMatches(unit, unit + "/a/b/c"));
  EXPECT_TRUE(CgroupGlobMatches(unit, unit + "/"));
  EXPECT_FALSE(CgroupGlobMatches(unit, "/system.slice"));
  EXPECT_FALSE(CgroupGlobMatches(unit, "/system.slice/crm-sync.service2"));
  EXPECT_FALSE(CgroupGlobMatches(unit, "/user.slice" + unit));
  EXPECT_FALSE(CgroupGlobMatches(unit, ""));
}

TEST(CgroupGlobMatchesTest, GlobsAndAncestors) {
  EXPECT_TRUE(CgroupGlobMatches("/system.slice/*.service", "/system.slice/a.service"));
  EXPECT_TRUE(CgroupGlobMatches("/system.slice/*.service", "/system.slice/a.service/x"));
  // Flags 0: "*" crosses "/", so this also matches deeper paths ending in .service.
  EXPECT_TRUE(CgroupGlobMatches("/kubepods*", "/kubepods.slice/pod1/cri-abc"));
  EXPECT_TRUE(CgroupGlobMatches("/a/*/c", "/a/b/x/c"));
  EXPECT_FALSE(CgroupGlobMatches("/a/b?", "/a/b"));
  EXPECT_TRUE(CgroupGlobMatches("/a/b[0-9]", "/a/b7/sub"));
}

TEST(CgroupGlobMatchesTest, Root) {
  EXPECT_TRUE(CgroupGlobMatches("/", "/"));
  EXPECT_FALSE(CgroupGlobMatches("/", "/a"));  // the root is not an ancestor that counts
  EXPECT_FALSE(CgroupGlobMatches("/", "/a/b"));
  EXPECT_TRUE(CgroupGlobMatches("*", "/"));
  EXPECT_TRUE(CgroupGlobMatches("/*", "/a/b"));
  EXPECT_FALSE(CgroupGlobMatches("/a", "/"));
}

TEST(ExeGlobMatchesTest, Fnmatch) {
  EXPECT_TRUE(ExeGlobMatches("/usr/bin/python3*", "/usr/bin/python3.11"));
  EXPECT_TRUE(ExeGlobMatches("/usr/bin/python3*", "/usr/bin/python3"));
  EXPECT_FALSE(ExeGlobMatches("/usr/bin/python3*", "/usr/local/bin/python3"));
  EXPECT_TRUE(ExeGlobMatches("/opt/*", "/opt/tools/bin/rclone"));    // "*" crosses "/"
  EXPECT_FALSE(ExeGlobMatches("/usr/bin/curl", "/usr/bin/curl/x"));  // exe: no subtree
  EXPECT_FALSE(ExeGlobMatches("/usr/bin/curl", ""));
}

TEST(MaskTest, BitPerMatchingWorkload) {
  RuleSet rules;
  Add(rules, "/a", std::nullopt);
  Add(rules, std::nullopt, "/usr/bin/*");
  Add(rules, "/a/b", "/usr/bin/curl");
  Add(rules, "/*", std::nullopt);
  EXPECT_EQ(CgroupMask(rules, "/a/b/c"), 0b1101u);
  EXPECT_EQ(CgroupMask(rules, "/a"), 0b1001u);
  EXPECT_EQ(CgroupMask(rules, "/x"), 0b1000u);
  EXPECT_EQ(CgroupMask(rules, "/"), 0b1000u);  // "*" also matches the empty rest of "/"
  EXPECT_EQ(ExeMask(rules, "/usr/bin/curl"), 0b0110u);
  EXPECT_EQ(ExeMask(rules, "/usr/bin/wget"), 0b0010u);
  EXPECT_EQ(ExeMask(rules, "/bin/sh"), 0u);
  EXPECT_EQ(CgroupMask(RuleSet{}, "/a"), 0u);
}

TEST(MaskTest, SixtyFourthWorkloadUsesTheTopBit) {
  RuleSet rules;
  for (int i = 0; i < 64; ++i) Add(rules, i == 63 ? "/last" : "/other", std::nullopt);
  EXPECT_EQ(CgroupMask(rules, "/last"), uint64_t{1} << 63);
  EXPECT_EQ(Resolve(rules, "/last", ""), 63u);
}

TEST(ResolveWorkloadTest, BothSelectorsMustMatch) {
  RuleSet rules;
  Add(rules, "/system.slice/crm-sync.service", "/usr/bin/python3*");
  EXPECT_EQ(Resolve(rules, "/system.slice/crm-sync.service", "/usr/bin/python3.11"), 0u);
  EXPECT_EQ(Resolve(rules, "/system.slice/crm-sync.service", "/usr/bin/curl"), std::nullopt);
  EXPECT_EQ(Resolve(rules, "/system.slice/other.service", "/usr/bin/python3.11"), std::nullopt);
}

TEST(ResolveWorkloadTest, AMissingSelectorDoesNotConstrain) {
  RuleSet rules;
  Add(rules, "/sluice-demo", std::nullopt);
  Add(rules, std::nullopt, "/usr/bin/rclone");
  EXPECT_EQ(Resolve(rules, "/sluice-demo/job", "/anything"), 0u);
  EXPECT_EQ(Resolve(rules, "/user.slice", "/usr/bin/rclone"), 1u);
  EXPECT_EQ(Resolve(rules, "/user.slice", "/usr/bin/curl"), std::nullopt);
}

TEST(ResolveWorkloadTest, LowestIdWins) {
  RuleSet rules;
  Add(rules, "/system.slice/crm-sync.service", "/usr/bin/curl");  // narrow, first
  Add(rules, "/system.slice/crm-sync.service", std::nullopt);     // the whole unit
  Add(rules, std::nullopt, "/usr/bin/*");
  EXPECT_EQ(Resolve(rules, "/system.slice/crm-sync.service", "/usr/bin/curl"), 0u);
  EXPECT_EQ(Resolve(rules, "/system.slice/crm-sync.service", "/usr/bin/python3"), 1u);
  EXPECT_EQ(Resolve(rules, "/system.slice/crm-sync.service", "/opt/x"), 1u);
  EXPECT_EQ(Resolve(rules, "/user.slice", "/usr/bin/python3"), 2u);
}

TEST(ResolveWorkloadTest, MirrorsTheKernelOnRawMasks) {
  sluice_selector_cfg cfg{};
  EXPECT_EQ(ResolveWorkload(~uint64_t{0}, ~uint64_t{0}, cfg), std::nullopt);  // nothing active
  cfg.active_mask = 0b011;
  cfg.has_cgroup = 0b011;
  cfg.has_exe = 0b010;
  EXPECT_EQ(ResolveWorkload(0, 0, cfg), std::nullopt);
  EXPECT_EQ(ResolveWorkload(0b010, 0, cfg), std::nullopt);  // w1 needs its exe too
  EXPECT_EQ(ResolveWorkload(0b010, 0b010, cfg), 1u);
  EXPECT_EQ(ResolveWorkload(0b011, 0b010, cfg), 0u);
  EXPECT_EQ(ResolveWorkload(0b100, 0, cfg), std::nullopt);  // bit of an inactive workload
  EXPECT_EQ(ResolveWorkload(0, 0b001, cfg), std::nullopt);  // w0 has no exe selector
}

}  // namespace
}  // namespace sluice::state
