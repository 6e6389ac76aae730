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

// Appends a workload with the given cgroup-side selectors (and an exe glob when set).
Workload& AddSide(RuleSet& rules, std::optional<std::string> cgroup,
                  std::optional<std::string> unit, std::optional<std::string> container,
                  std::optional<std::string> exe = {}) {
  Add(rules, std::move(cgroup), std::move(exe));
  Workload& w = rules.workloads.back();
  w.selector.unit = std::move(unit);
  w.selector.container_id = std::move(container);
  return w;
}

// What CompilePolicy puts in the selector_cfg map for these rules.
sluice_selector_cfg Cfg(const RuleSet& rules) {
  sluice_selector_cfg cfg{};
  for (const Workload& w : rules.workloads) {
    cfg.active_mask |= uint64_t{1} << w.id;
    if (w.selector.has_cgroup_side()) cfg.has_cgroup |= uint64_t{1} << w.id;
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

const std::string kId = "3f1c9a0b2d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeef";

TEST(UnitMatchesTest, AComponentEqualToTheUnit) {
  EXPECT_TRUE(UnitMatches("crm-sync.service", "/system.slice/crm-sync.service"));
  EXPECT_TRUE(UnitMatches("crm-sync.service", "/system.slice/crm-sync.service/worker/3"));
  EXPECT_TRUE(UnitMatches("crm-sync.service", "/system.slice/crm-sync.service/"));
  EXPECT_TRUE(UnitMatches("system.slice", "/system.slice/crm-sync.service"));
  EXPECT_TRUE(UnitMatches("user@1000.service",
                          "/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope"));
  EXPECT_FALSE(UnitMatches("crm-sync.service", "/system.slice/crm-sync.service2"));
  EXPECT_FALSE(UnitMatches("crm-sync.service", "/system.slice/old-crm-sync.service"));
  EXPECT_FALSE(UnitMatches("crm-sync.service", "/system.slice"));
  EXPECT_FALSE(UnitMatches("crm-sync.service", "/"));
  EXPECT_FALSE(UnitMatches("crm-sync.service", ""));
  EXPECT_FALSE(UnitMatches("", "/system.slice/crm-sync.service"));
  // No glob: a unit selector names exactly one unit.
  EXPECT_FALSE(UnitMatches("crm-*.service", "/system.slice/crm-sync.service"));
}

TEST(ContainerMatchesTest, RuntimeNamingSchemes) {
  const std::string short_id = kId.substr(0, 12);
  const std::string kube_pod = "/kubepods.slice/kubepods-besteffort.slice/kubepods-pod1.slice";
  for (const std::string& path : {
           "/system.slice/docker-" + kId + ".scope",
           kube_pod + "/cri-containerd-" + kId + ".scope",
           "/kubepods.slice/kubepods-burstable.slice/crio-" + kId + ".scope",
           "/machine.slice/libpod-" + kId + ".scope/container",
           "/docker/" + kId,
           "/kubepods/burstable/pod1234/" + kId,
           "/system.slice/docker-" + kId + ".scope/init.scope",
       }) {
    EXPECT_TRUE(ContainerMatches(kId, path)) << path;
    EXPECT_TRUE(ContainerMatches(short_id, path)) << path;
  }
  // Not the container: another id, the runtime's monitor, a name that only contains the id,
  // a prefix longer than any id, a component that is not hex.
  const std::string other = "4" + kId.substr(1);
  EXPECT_FALSE(ContainerMatches(short_id, "/system.slice/docker-" + other + ".scope"));
  EXPECT_FALSE(ContainerMatches(short_id, "/system.slice/crio-conmon-" + kId + ".scope"));
  EXPECT_FALSE(ContainerMatches(short_id, "/system.slice/docker-" + kId + ".service"));
  EXPECT_FALSE(ContainerMatches(short_id, "/system.slice/docker-" + kId));
  EXPECT_FALSE(ContainerMatches(short_id, "/system.slice/mydocker-" + kId + ".scope"));
  EXPECT_FALSE(ContainerMatches(short_id, "/docker/" + kId + "0"));  // 65 digits: not an id
  EXPECT_FALSE(ContainerMatches(short_id, "/docker/" + short_id + "-x"));
  EXPECT_FALSE(ContainerMatches(short_id, "/docker/x" + short_id));
  EXPECT_FALSE(ContainerMatches(kId, "/docker/" + short_id));  // the path has less than the rule
  EXPECT_FALSE(ContainerMatches(short_id, "/"));
  EXPECT_FALSE(ContainerMatches("", "/docker/" + kId));
}

TEST(ContainerIdOfTest, FullIdsOnlyDeepestWins) {
  EXPECT_EQ(ContainerIdOf("/system.slice/docker-" + kId + ".scope"), kId);
  EXPECT_EQ(ContainerIdOf("/kubepods/burstable/pod1234/" + kId), kId);
  EXPECT_EQ(ContainerIdOf("/machine.slice/libpod-" + kId + ".scope/container"), kId);
  const std::string other = "4" + kId.substr(1);
  // A container inside a container (docker-in-docker): the inner one.
  EXPECT_EQ(ContainerIdOf("/docker/" + kId + "/docker/" + other), other);
  EXPECT_EQ(ContainerIdOf("/docker/" + kId.substr(0, 12)), std::nullopt);  // not a full id
  EXPECT_EQ(ContainerIdOf("/system.slice/crm-sync.service"), std::nullopt);
  EXPECT_EQ(ContainerIdOf(""), std::nullopt);
}

TEST(MaskTest, ContainerLabelSelectors) {
  RuleSet rules;
  AddSide(rules, std::nullopt, std::nullopt, std::nullopt)
      .selector.container_labels = {{"app", "crm-sync"}};                       // w0
  Workload& both = AddSide(rules, "/kubepods*", std::nullopt, kId.substr(0, 12));  // w1
  both.selector.container_labels = {{"app", "crm-sync"}, {"tier", "sync"}};
  AddSide(rules, std::nullopt, std::nullopt, std::nullopt)
      .selector.container_labels = {{"app", "llm"}};                             // w2
  const ContainerLabels labels = {{"app", "crm-sync"}, {"tier", "sync"}, {"x", "y"}};
  const std::string other = "4" + kId.substr(1);
  int asked = 0;
  const ContainerLabelsFn lookup = [&](const std::string& id) -> const ContainerLabels* {
    ++asked;
    return id == kId || id == other ? &labels : nullptr;
  };
  const std::string pod = "/kubepods/burstable/pod1/";
  EXPECT_EQ(CgroupMask(rules, pod + kId, lookup), 0b011u);
  EXPECT_EQ(CgroupMask(rules, pod + other, lookup), 0b001u);  // w1's id prefix differs
  EXPECT_EQ(CgroupMask(rules, "/system.slice/docker-" + kId + ".scope", lookup), 0b001u);
  // No lookup, unknown labels, or no container in the path: a labels selector does not match.
  EXPECT_EQ(CgroupMask(rules, pod + kId), 0u);
  EXPECT_EQ(CgroupMask(rules, pod + "5" + kId.substr(1), lookup), 0u);
  asked = 0;
  EXPECT_EQ(CgroupMask(rules, "/system.slice/crm.service", lookup), 0u);
  EXPECT_EQ(asked, 0);
  EXPECT_TRUE(NeedsContainerLabels(rules));
  RuleSet plain;
  AddSide(plain, std::nullopt, std::nullopt, kId.substr(0, 12));
  EXPECT_FALSE(NeedsContainerLabels(plain));
}

TEST(MaskTest, UnitAndContainerSelectors) {
  RuleSet rules;
  AddSide(rules, std::nullopt, "crm-sync.service", std::nullopt);       // w0
  AddSide(rules, std::nullopt, std::nullopt, kId.substr(0, 12));        // w1
  AddSide(rules, "/system.slice/*", "crm-sync.service", std::nullopt);  // w2: glob AND unit
  AddSide(rules, "/kubepods*", std::nullopt, kId.substr(0, 16));        // w3: glob AND id
  AddSide(rules, std::nullopt, "crm-sync.service", kId.substr(0, 12));  // w4: unit AND id
  Add(rules, std::nullopt, "/usr/bin/curl");                            // w5: exe only
  const std::string unit = "/system.slice/crm-sync.service/worker";
  const std::string docker = "/system.slice/docker-" + kId + ".scope";
  const std::string kube = "/kubepods.slice/pod1/cri-containerd-" + kId + ".scope";
  EXPECT_EQ(CgroupMask(rules, unit), 0b000101u);
  EXPECT_EQ(CgroupMask(rules, "/user.slice/crm-sync.service"), 0b000001u);  // not /system.slice
  EXPECT_EQ(CgroupMask(rules, docker), 0b000010u);
  EXPECT_EQ(CgroupMask(rules, kube), 0b001010u);
  // A container started inside the unit's cgroup: the unit and the id both match.
  EXPECT_EQ(CgroupMask(rules, "/system.slice/crm-sync.service/" + kId), 0b010111u);
  EXPECT_EQ(CgroupMask(rules, "/system.slice/other.service"), 0u);
  EXPECT_EQ(ExeMask(rules, "/usr/bin/curl"), 0b100000u);
}

TEST(ResolveWorkloadTest, UnitAndContainerCountAsTheCgroupSide) {
  RuleSet rules;
  AddSide(rules, std::nullopt, "crm-sync.service", std::nullopt, "/usr/bin/curl");  // w0
  AddSide(rules, std::nullopt, "crm-sync.service", std::nullopt);                   // w1
  AddSide(rules, std::nullopt, std::nullopt, kId.substr(0, 12));                    // w2
  const std::string unit = "/system.slice/crm-sync.service";
  EXPECT_EQ(Resolve(rules, unit, "/usr/bin/curl"), 0u);
  EXPECT_EQ(Resolve(rules, unit, "/usr/bin/python3"), 1u);
  EXPECT_EQ(Resolve(rules, "/system.slice/docker-" + kId + ".scope", "/bin/sh"), 2u);
  // Not in the unit: w0's exe alone is not enough, the unit is part of its selector.
  EXPECT_EQ(Resolve(rules, "/user.slice", "/usr/bin/curl"), std::nullopt);
}

}  // namespace
}  // namespace sluice::state
