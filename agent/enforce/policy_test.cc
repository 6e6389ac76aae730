#include "agent/enforce/policy.h"

#include <arpa/inet.h>

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/detect/allowlist.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::enforce {
namespace {

using detect::EgressAllow;
using detect::IpAddr;
using detect::Mode;
using detect::PortRange;
using detect::RuleSet;
using detect::Workload;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

EgressAllow Allow(const std::string& cidr, std::vector<PortRange> ports = {}) {
  EgressAllow a;
  a.cidr = detect::ParseCidr(cidr).value();
  a.ports = std::move(ports);
  a.loc = {"r.yaml", 7, 11};
  return a;
}

// Appends a workload with the next id and a cgroup selector.
Workload& Add(RuleSet& rules, std::vector<EgressAllow> allow, Mode mode = Mode::kMonitor) {
  Workload w;
  w.id = static_cast<uint32_t>(rules.workloads.size());
  w.name = absl::StrCat("w", w.id);
  w.mode = mode;
  w.selector.cgroup_glob = "/" + w.name;
  w.allow = std::move(allow);
  rules.workloads.push_back(std::move(w));
  return rules.workloads.back();
}

std::vector<PortRange> Ranges(const AllowEntry& e) {
  std::vector<PortRange> out;
  for (uint32_t i = 0; i < e.value.nranges; ++i) {
    out.push_back({e.value.ranges[i].lo, e.value.ranges[i].hi});
  }
  return out;
}

// The entry of (workload, cidr); fails the test when there is none.
const AllowEntry& Entry(const CompiledPolicy& p, uint32_t id, const std::string& cidr_text) {
  const detect::Cidr cidr = detect::ParseCidr(cidr_text).value();
  for (const AllowEntry& e : p.allow) {
    if (e.key.workload_id == htonl(id) && e.key.prefixlen == 32u + cidr.prefix_len &&
        std::memcmp(e.key.addr, cidr.base.bytes.data(), 16) == 0) {
      return e;
    }
  }
  ADD_FAILURE() << "no entry for workload " << id << " " << cidr_text;
  static const AllowEntry kNone{};
  return kNone;
}

// What the kernel does: the longest prefix of the workload that contains dst, then its ports.
bool KernelAllows(const CompiledPolicy& p, uint32_t id, const IpAddr& dst, uint16_t port) {
  const AllowEntry* best = nullptr;
  for (const AllowEntry& e : p.allow) {
    if (e.key.workload_id != htonl(id)) continue;
    detect::Cidr c;
    std::memcpy(c.base.bytes.data(), e.key.addr, 16);
    c.prefix_len = static_cast<int>(e.key.prefixlen) - 32;
    if (!c.Contains(dst)) continue;
    if (best == nullptr || e.key.prefixlen > best->key.prefixlen) best = &e;
  }
  if (best == nullptr) return false;
  for (const PortRange& r : Ranges(*best)) {
    if (r.lo <= port && port <= r.hi) return true;
  }
  return false;
}

TEST(CompilePolicyTest, EmptyRuleSet) {
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(RuleSet{}, GlobalMode::kEnforce);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->selector.active_mask, 0u);
  EXPECT_THAT(p->workloads, IsEmpty());
  EXPECT_THAT(p->allow, IsEmpty());
}

TEST(CompilePolicyTest, V4KeyLayout) {
  RuleSet rules;
  Add(rules, {});
  Add(rules, {Allow("10.20.0.0/16", {{443, 443}})});
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->allow.size(), 1u);
  const AllowEntry& e = p->allow[0];
  EXPECT_EQ(e.key.prefixlen, 32u + 96u + 16u);
  const uint8_t id_bytes[4] = {0, 0, 0, 1};  // big-endian workload id 1
  EXPECT_EQ(std::memcmp(&e.key.workload_id, id_bytes, 4), 0);
  const uint8_t addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 20, 0, 0};
  EXPECT_EQ(std::memcmp(e.key.addr, addr, 16), 0);
  EXPECT_THAT(Ranges(e), ElementsAre(PortRange{443, 443}));
}

TEST(CompilePolicyTest, QuarantineAllowlistHasItsOwnNamespace) {
  RuleSet rules;
  Add(rules, {});
  Workload& w = Add(rules, {Allow("10.0.0.0/8", {{443, 443}})});
  w.quarantine_allow = {Allow("10.1.0.0/16", {{8443, 8443}})};
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor, kBankSize);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->allow.size(), 2u);
  const uint32_t id = kBankSize + 1;
  EXPECT_TRUE(KernelAllows(*p, id, detect::ParseIp("10.1.2.3").value(), 443));
  EXPECT_FALSE(KernelAllows(*p, id, detect::ParseIp("10.1.2.3").value(), 8443));
  const uint32_t quarantine_id = id | SLUICE_ALLOW_QUARANTINE;
  EXPECT_TRUE(KernelAllows(*p, quarantine_id, detect::ParseIp("10.1.2.3").value(), 8443));
  EXPECT_FALSE(KernelAllows(*p, quarantine_id, detect::ParseIp("10.1.2.3").value(), 443));
  EXPECT_FALSE(KernelAllows(*p, quarantine_id, detect::ParseIp("10.2.0.1").value(), 8443));
  EXPECT_THAT(Ranges(Entry(*p, quarantine_id, "10.1.0.0/16")), ElementsAre(PortRange{8443, 8443}));
}

TEST(CompilePolicyTest, HostOnlySinkIsRefusedWhenAWorkloadCanBlock) {
  RuleSet rules;
  Add(rules, {}, Mode::kEnforce);
  detect::SinkDestination sink;
  sink.name = "siem";
  sink.to.host_glob = "siem.corp.example";
  sink.loc = {"rules.yaml", 12, 5};
  rules.sinks.push_back(sink);
  const absl::StatusOr<CompiledPolicy> armed = CompilePolicy(rules, GlobalMode::kEnforce);
  ASSERT_FALSE(armed.ok());
  EXPECT_EQ(armed.status().message(),
            "rules.yaml:12:5: sink \"siem\" is named by host \"siem.corp.example\" only: under "
            "--mode enforce the kernel keeps sinks reachable by address, and workload \"w0\" "
            "(mode enforce) could be denied it; give the sink a cidr");
  // Nothing can block: under the monitor ceiling, or with no enforce-mode workload.
  EXPECT_TRUE(CompilePolicy(rules, GlobalMode::kMonitor).ok());
  rules.workloads[0].mode = Mode::kMonitor;
  EXPECT_TRUE(CompilePolicy(rules, GlobalMode::kEnforce).ok());
  // A sink with an address is exempt in the kernel: fine.
  rules.workloads[0].mode = Mode::kEnforce;
  rules.sinks[0].to.host_glob.reset();
  rules.sinks[0].to.cidr = detect::ParseCidr("10.9.0.0/24").value();
  EXPECT_TRUE(CompilePolicy(rules, GlobalMode::kEnforce).ok());
}

TEST(CompilePolicyTest, V6KeyLayout) {
  RuleSet rules;
  Add(rules, {Allow("2001:db8::/32", {{8000, 8100}})});
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->allow.size(), 1u);
  EXPECT_EQ(p->allow[0].key.prefixlen, 32u + 32u);
  EXPECT_EQ(p->allow[0].key.workload_id, 0u);
  const uint8_t addr[16] = {0x20, 0x01, 0x0d, 0xb8};
  EXPECT_EQ(std::memcmp(p->allow[0].key.addr, addr, 16), 0);
  EXPECT_THAT(Ranges(p->allow[0]), ElementsAre(PortRange{8000, 8100}));
}

TEST(CompilePolicyTest, NestedPrefixesInheritRanges) {
  RuleSet rules;
  Add(rules, {Allow("10.1.0.0/16", {{80, 80}}), Allow("10.0.0.0/8", {{443, 443}})});
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->allow.size(), 2u);
  EXPECT_THAT(Ranges(Entry(*p, 0, "10.0.0.0/8")), ElementsAre(PortRange{443, 443}));
  EXPECT_THAT(Ranges(Entry(*p, 0, "10.1.0.0/16")),
              ElementsAre(PortRange{80, 80}, PortRange{443, 443}));
  // Sorted by prefix length: the /8 first.
  EXPECT_EQ(p->allow[0].key.prefixlen, 32u + 104u);
}

TEST(CompilePolicyTest, AnyPortIsInherited) {
  RuleSet rules;
  Add(rules, {Allow("10.0.0.0/8"), Allow("10.1.0.0/16", {{80, 80}}), Allow("10.1.2.3")});
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(Ranges(Entry(*p, 0, "10.0.0.0/8")), ElementsAre(PortRange{0, 65535}));
  EXPECT_THAT(Ranges(Entry(*p, 0, "10.1.0.0/16")), ElementsAre(PortRange{0, 65535}));
  EXPECT_THAT(Ranges(Entry(*p, 0, "10.1.2.3/32")), ElementsAre(PortRange{0, 65535}));
}

TEST(CompilePolicyTest, V6PrefixesContainV4) {
  // ::/0 and ::ffff:0:0/96 cover v4-mapped addresses, as EgressAllowed says.
  RuleSet rules;
  Add(rules, {Allow("::/0", {{53, 53}}), Allow("::ffff:0:0/96", {{123, 123}}),
              Allow("192.0.2.0/24", {{443, 443}})});
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(Ranges(Entry(*p, 0, "192.0.2.0/24")),
              ElementsAre(PortRange{53, 53}, PortRange{123, 123}, PortRange{443, 443}));
  EXPECT_THAT(Ranges(Entry(*p, 0, "::/0")), ElementsAre(PortRange{53, 53}));
}

TEST(CompilePolicyTest, WorkloadsDoNotInheritFromEachOther) {
  RuleSet rules;
  Add(rules, {Allow("10.0.0.0/8", {{443, 443}})});
  Add(rules, {Allow("10.1.0.0/16", {{80, 80}})});
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(Ranges(Entry(*p, 1, "10.1.0.0/16")), ElementsAre(PortRange{80, 80}));
}

TEST(CompilePolicyTest, MergesOverlappingAndAdjacentRanges) {
  RuleSet rules;
  Add(rules, {Allow("10.0.0.0/8", {{100, 200}, {80, 80}, {81, 90}, {150, 300}, {302, 302}}),
              Allow("10.0.0.0/8", {{301, 301}, {1000, 1000}})});
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(p.ok()) << p.status();
  // The two identical prefixes are one entry.
  ASSERT_EQ(p->allow.size(), 1u);
  EXPECT_THAT(Ranges(p->allow[0]),
              ElementsAre(PortRange{80, 90}, PortRange{100, 302}, PortRange{1000, 1000}));
}

TEST(CompilePolicyTest, MergeAtTheTopOfThePortSpace) {
  RuleSet rules;
  Add(rules, {Allow("10.0.0.0/8", {{65535, 65535}, {65000, 65534}, {1, 1}})});
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(Ranges(p->allow[0]), ElementsAre(PortRange{1, 1}, PortRange{65000, 65535}));
}

TEST(CompilePolicyTest, SixteenRangesFit) {
  std::vector<PortRange> ports;
  for (uint16_t i = 0; i < 16; ++i)
    ports.push_back({static_cast<uint16_t>(1000 + 2 * i), static_cast<uint16_t>(1000 + 2 * i)});
  RuleSet rules;
  Add(rules, {Allow("10.0.0.0/8", ports)});
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->allow[0].value.nranges, 16u);
}

TEST(CompilePolicyTest, TooManyRanges) {
  std::vector<PortRange> ports;
  for (uint16_t i = 0; i < 17; ++i)
    ports.push_back({static_cast<uint16_t>(1000 + 2 * i), static_cast<uint16_t>(1000 + 2 * i)});
  RuleSet rules;
  Add(rules, {Allow("10.0.0.0/8", ports)});
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p.status().message(),
            "workload \"w0\": allow entry 10.0.0.0/8 at r.yaml:7:11 needs 17 port ranges once "
            "merged with the prefixes that contain it; the kernel holds at most 16");
}

TEST(CompilePolicyTest, TooManyRangesThroughInheritance) {
  std::vector<PortRange> wide;
  std::vector<PortRange> narrow;
  for (uint16_t i = 0; i < 9; ++i)
    wide.push_back({static_cast<uint16_t>(100 + 2 * i), static_cast<uint16_t>(100 + 2 * i)});
  for (uint16_t i = 0; i < 8; ++i)
    narrow.push_back({static_cast<uint16_t>(200 + 2 * i), static_cast<uint16_t>(200 + 2 * i)});
  RuleSet rules;
  Add(rules, {Allow("10.0.0.0/8", wide), Allow("2001:db8::/32"), Allow("10.9.0.0/16", narrow)});
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("allow entry 10.9.0.0/16 at r.yaml:7:11 needs 17"));
}

TEST(CompilePolicyTest, EnforceFlagNeedsRuleAndCeiling) {
  RuleSet rules;
  Add(rules, {}, Mode::kMonitor);
  Add(rules, {}, Mode::kEnforce);
  const absl::StatusOr<CompiledPolicy> armed = CompilePolicy(rules, GlobalMode::kEnforce);
  ASSERT_TRUE(armed.ok()) << armed.status();
  ASSERT_EQ(armed->workloads.size(), 2u);
  EXPECT_EQ(armed->workloads[0].flags, 0u);
  EXPECT_EQ(armed->workloads[1].flags, static_cast<uint32_t>(SLUICE_WL_F_ENFORCE));
  const absl::StatusOr<CompiledPolicy> ceiling = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(ceiling.ok()) << ceiling.status();
  EXPECT_EQ(ceiling->workloads[0].flags, 0u);
  EXPECT_EQ(ceiling->workloads[1].flags, 0u);
}

TEST(CompilePolicyTest, SelectorMasks) {
  RuleSet rules;
  Add(rules, {});  // cgroup only
  Workload& exe_only = Add(rules, {});
  exe_only.selector.cgroup_glob.reset();
  exe_only.selector.exe_glob = "/usr/bin/curl";
  Workload& both = Add(rules, {});
  both.selector.exe_glob = "/usr/bin/python3*";
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->selector.active_mask, 0b111u);
  EXPECT_EQ(p->selector.has_cgroup, 0b101u);
  EXPECT_EQ(p->selector.has_exe, 0b110u);
}

TEST(CompilePolicyTest, UnitAndContainerAreCgroupSideSelectors) {
  RuleSet rules;
  Workload& unit = Add(rules, {});
  unit.selector.cgroup_glob.reset();
  unit.selector.unit = "crm-sync.service";
  Workload& container = Add(rules, {});
  container.selector.cgroup_glob.reset();
  container.selector.container_id = "0123456789ab";
  container.selector.exe_glob = "/usr/bin/python3*";
  Workload& exe_only = Add(rules, {});
  exe_only.selector.cgroup_glob.reset();
  exe_only.selector.exe_glob = "/usr/bin/curl";
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->selector.active_mask, 0b111u);
  EXPECT_EQ(p->selector.has_cgroup, 0b011u);
  EXPECT_EQ(p->selector.has_exe, 0b110u);
}

EgressAllow HostAllow(const std::string& glob, std::vector<PortRange> ports = {}) {
  EgressAllow a;
  a.host_glob = glob;
  a.ports = std::move(ports);
  a.loc = {"r.yaml", 9, 11};
  return a;
}

TEST(CompilePolicyTest, HostEntriesAreNotInTheTrie) {
  RuleSet rules;
  Add(rules, {HostAllow("*.my.salesforce.com", {{443, 443}}), Allow("10.0.0.0/8", {{80, 80}})});
  Add(rules, {HostAllow("api.example.com")}, Mode::kLearn);
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kEnforce);
  ASSERT_TRUE(p.ok()) << p.status();
  // Only the CIDR entry; in particular no ::/0 entry from a host entry's zero-value cidr, and
  // the /8 does not inherit the host entry's port 443.
  ASSERT_EQ(p->allow.size(), 1u);
  EXPECT_THAT(Ranges(Entry(*p, 0, "10.0.0.0/8")), ElementsAre(PortRange{80, 80}));
  for (const sluice_workload_cfg& w : p->workloads) EXPECT_EQ(w.flags, 0u);
}

// Host entries never reach the static trie, in enforce mode too: DNS answers earn their
// addresses (enforce::NameGrants).
TEST(CompilePolicyTest, EnforcedHostEntriesStayOutOfTheStaticTrie) {
  RuleSet rules;
  Add(rules, {HostAllow("api.example.com")}, Mode::kEnforce);
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kEnforce);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->allow.empty());
  EXPECT_EQ(p->workloads[0].flags, SLUICE_WL_F_ENFORCE);
}

TEST(CompilePolicyTest, ThirtyTwoWorkloadsFillABank) {
  RuleSet rules;
  for (int i = 0; i < 32; ++i) Add(rules, {});
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kMonitor);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->selector.active_mask, 0xffffffffu);
  const absl::StatusOr<CompiledPolicy> high = CompilePolicy(rules, GlobalMode::kMonitor, 32);
  ASSERT_TRUE(high.ok()) << high.status();
  EXPECT_EQ(high->selector.active_mask, 0xffffffff00000000u);
  Add(rules, {});
  EXPECT_EQ(CompilePolicy(rules, GlobalMode::kMonitor).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The reload bank: every kernel-facing id is shifted, nothing else changes.
TEST(CompilePolicyTest, SecondBankShiftsKernelIds) {
  RuleSet rules;
  Add(rules, {Allow("10.0.0.0/8", {{443, 443}})}, Mode::kEnforce);
  Workload& exe = Add(rules, {Allow("192.0.2.0/24")});
  exe.selector.cgroup_glob.reset();
  exe.selector.exe_glob = "/usr/bin/curl";
  const absl::StatusOr<CompiledPolicy> low = CompilePolicy(rules, GlobalMode::kEnforce, 0);
  const absl::StatusOr<CompiledPolicy> high = CompilePolicy(rules, GlobalMode::kEnforce, 32);
  ASSERT_TRUE(low.ok()) << low.status();
  ASSERT_TRUE(high.ok()) << high.status();
  EXPECT_EQ(high->id_base, 32u);
  EXPECT_EQ(high->selector.active_mask, low->selector.active_mask << 32);
  EXPECT_EQ(high->selector.has_cgroup, uint64_t{1} << 32);
  EXPECT_EQ(high->selector.has_exe, uint64_t{1} << 33);
  ASSERT_EQ(high->workloads.size(), 2u);
  EXPECT_EQ(high->workloads[0].flags, SLUICE_WL_F_ENFORCE);
  ASSERT_EQ(high->allow.size(), 2u);
  EXPECT_EQ(ntohl(high->allow[0].key.workload_id), 32u);
  EXPECT_EQ(ntohl(high->allow[1].key.workload_id), 33u);
  EXPECT_EQ(std::memcmp(&high->allow[0].value, &low->allow[0].value, sizeof(low->allow[0].value)),
            0);
  EXPECT_EQ(BankMask(0), 0xffffffffu);
  EXPECT_EQ(BankMask(32), 0xffffffff00000000u);
  EXPECT_EQ(CompilePolicy(rules, GlobalMode::kEnforce, 5).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CompilePolicyTest, RejectsBrokenInvariants) {
  RuleSet bad_id;
  Add(bad_id, {}).id = 3;
  EXPECT_EQ(CompilePolicy(bad_id, GlobalMode::kMonitor).status().message(),
            "workload \"w0\" has id 3 at index 0");
  RuleSet no_selector;
  Add(no_selector, {}).selector.cgroup_glob.reset();
  EXPECT_EQ(CompilePolicy(no_selector, GlobalMode::kMonitor).status().message(),
            "workload \"w0\" has no selector");
}

TEST(CompilePolicyTest, CompilesTheDefaultPack) {
  const detect::LoadResult r = detect::LoadRules("rules/default.yaml");
  ASSERT_TRUE(r.ok());
  const absl::StatusOr<CompiledPolicy> p = CompilePolicy(r.rules, GlobalMode::kEnforce);
  ASSERT_TRUE(p.ok()) << p.status();
  // The default pack is monitor-only: nothing is armed even under --mode enforce.
  for (const sluice_workload_cfg& w : p->workloads) EXPECT_EQ(w.flags, 0u);
}

// The kernel's single longest-prefix lookup must decide exactly as the agent's allowlist does.
TEST(CompilePolicyTest, LongestPrefixMatchAgreesWithEgressAllowed) {
  const std::vector<std::string> cidrs = {
      "0.0.0.0/0",     "10.0.0.0/8",      "10.1.0.0/16",     "10.1.2.0/24", "10.1.2.3/32",
      "10.1.2.128/25", "10.255.0.0/16",   "192.0.2.0/24",    "::/0",        "::ffff:0:0/96",
      "2001:db8::/32", "2001:db8:1::/48", "2001:db8::1/128", "::1/128",     "8000::/1"};
  const std::vector<PortRange> port_pool = {{1, 1},     {22, 22},     {53, 53},       {80, 80},
                                            {443, 443}, {8000, 8100}, {65535, 65535}, {1, 1024}};
  std::vector<IpAddr> dsts;
  for (const char* text : {"0.0.0.0",
                           "10.0.0.0",
                           "10.1.0.0",
                           "10.1.2.2",
                           "10.1.2.3",
                           "10.1.2.4",
                           "10.1.2.127",
                           "10.1.2.128",
                           "10.1.2.255",
                           "10.1.3.0",
                           "10.255.255.255",
                           "11.0.0.0",
                           "9.255.255.255",
                           "192.0.2.1",
                           "255.255.255.255",
                           "::",
                           "::1",
                           "::2",
                           "2001:db8::",
                           "2001:db8::1",
                           "2001:db8:1::",
                           "2001:db8:1:ffff::",
                           "2001:db9::",
                           "7fff:ffff::",
                           "8000::",
                           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}) {
    dsts.push_back(detect::ParseIp(text).value());
  }
  const std::vector<uint16_t> ports = {0,    1,    2,    22,   53,   79,   80,   81,    443,
                                       1024, 1025, 7999, 8000, 8050, 8100, 8101, 65534, 65535};
  std::mt19937 rng(1234);
  int compared = 0;
  for (int round = 0; round < 400; ++round) {
    RuleSet rules;
    const int nworkloads = 1 + static_cast<int>(rng() % 3);
    for (int w = 0; w < nworkloads; ++w) {
      std::vector<EgressAllow> allow;
      const int nentries = static_cast<int>(rng() % 6);
      for (int i = 0; i < nentries; ++i) {
        std::vector<PortRange> entry_ports;
        const int nports = static_cast<int>(rng() % 3);  // 0 = any port
        for (int k = 0; k < nports; ++k) entry_ports.push_back(port_pool[rng() % port_pool.size()]);
        // Some host entries: the kernel leaves them out, and so does EgressAllowed without names.
        if (rng() % 5 == 0) {
          allow.push_back(HostAllow("*.example.com", entry_ports));
        } else {
          allow.push_back(Allow(cidrs[rng() % cidrs.size()], entry_ports));
        }
      }
      Add(rules, std::move(allow));
    }
    const absl::StatusOr<CompiledPolicy> p = CompilePolicy(rules, GlobalMode::kEnforce);
    ASSERT_TRUE(p.ok()) << p.status();
    for (const Workload& w : rules.workloads) {
      for (const IpAddr& dst : dsts) {
        for (uint16_t port : ports) {
          ASSERT_EQ(KernelAllows(*p, w.id, dst, port), detect::EgressAllowed(w, dst, port))
              << "round " << round << " workload " << w.id << " dst " << dst.ToString() << " port "
              << port;
          ++compared;
        }
      }
    }
  }
  EXPECT_GT(compared, 100000);
}

}  // namespace
}  // namespace sluice::enforce
