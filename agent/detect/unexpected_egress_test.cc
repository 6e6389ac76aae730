#include "agent/detect/unexpected_egress.h"

#include <linux/types.h>

#include <cerrno>
#include <regex>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sluice/abi.h"

namespace sluice::detect {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Workload CrmSync(Mode mode) {
  Workload w;
  w.name = "crm-sync";
  w.role = "crm-sync";
  w.mode = mode;
  w.selector.cgroup_glob = "/system.slice/crm-sync.service";
  EgressAllow a;
  a.cidr = ParseCidr("10.20.0.0/16").value();
  a.ports = {{443, 443}};
  w.allow.push_back(a);
  EgressAllow v6;
  v6.cidr = ParseCidr("2001:db8:20::/48").value();
  w.allow.push_back(v6);
  return w;
}

ConnectObservation Connect(const std::string& ip, uint16_t port, uint8_t verdict) {
  ConnectObservation obs;
  obs.time_ms = 1700000000123;
  obs.daddr = ParseIp(ip).value();
  obs.dport = port;
  obs.protocol = "tcp";
  obs.verdict = verdict;
  obs.process.pid = 4242;
  obs.process.ppid = 1;
  obs.process.exe = "/usr/bin/curl";
  obs.process.comm = "curl";
  obs.workload.name = "crm-sync";
  obs.workload.role = "crm-sync";
  obs.workload.cgroup_path = "/system.slice/crm-sync.service";
  obs.workload.cgroup_id = 77;
  return obs;
}

TEST(UnexpectedEgressTest, AllowedDestinationIsQuiet) {
  const UnexpectedEgressDetector d;
  EXPECT_FALSE(
      d.Evaluate(CrmSync(Mode::kEnforce), Connect("10.20.1.1", 443, SLUICE_VERDICT_ALLOW)));
  EXPECT_FALSE(
      d.Evaluate(CrmSync(Mode::kEnforce), Connect("::ffff:10.20.1.1", 443, SLUICE_VERDICT_ALLOW)));
  EXPECT_FALSE(
      d.Evaluate(CrmSync(Mode::kEnforce), Connect("2001:db8:20::9", 22, SLUICE_VERDICT_ALLOW)));
}

TEST(UnexpectedEgressTest, LoopbackIsNotEgress) {
  const UnexpectedEgressDetector d;
  EXPECT_FALSE(
      d.Evaluate(CrmSync(Mode::kEnforce), Connect("127.0.0.1", 8080, SLUICE_VERDICT_EXEMPT)));
  EXPECT_FALSE(d.Evaluate(CrmSync(Mode::kEnforce), Connect("::1", 8080, SLUICE_VERDICT_EXEMPT)));
}

// The resolvers and sinks the kernel never denies are not egress findings either.
TEST(UnexpectedEgressTest, ExemptDestinationIsNotEgress) {
  const UnexpectedEgressDetector d;
  EXPECT_FALSE(
      d.Evaluate(CrmSync(Mode::kEnforce), Connect("192.0.2.53", 53, SLUICE_VERDICT_EXEMPT)));
  // The same peer with any other verdict is judged as usual.
  EXPECT_TRUE(
      d.Evaluate(CrmSync(Mode::kEnforce), Connect("192.0.2.53", 53, SLUICE_VERDICT_DENY)));
}

TEST(UnexpectedEgressTest, BlockedByTheKernel) {
  ConnectObservation obs = Connect("203.0.113.9", 443, SLUICE_VERDICT_DENY);
  obs.has_result = true;
  obs.ret = -EPERM;
  const std::optional<Alert> a = UnexpectedEgressDetector().Evaluate(CrmSync(Mode::kEnforce), obs);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->detector, "unexpected_egress");
  EXPECT_EQ(a->detector, UnexpectedEgressDetector::kId);
  EXPECT_EQ(a->severity, Severity::kHigh);
  EXPECT_EQ(a->disposition, Disposition::kBlocked);
  EXPECT_STREQ(DispositionName(a->disposition), "Blocked");
  EXPECT_EQ(a->rule_mode, "enforce");
  EXPECT_EQ(a->title, "Unexpected egress from workload crm-sync to 203.0.113.9:443");
  EXPECT_THAT(a->description, HasSubstr("/usr/bin/curl (pid 4242)"));
  EXPECT_THAT(a->description, HasSubstr("not on the workload's egress allowlist"));
  EXPECT_THAT(a->description, HasSubstr("denied"));
  EXPECT_EQ(a->time_ms, 1700000000123);
  EXPECT_EQ(a->connect_result, -EPERM);
  EXPECT_THAT(a->attack_techniques, ElementsAre("T1041", "T1048"));
  EXPECT_EQ(a->destination.ip, "203.0.113.9");
  EXPECT_EQ(a->destination.port, 443);
  EXPECT_EQ(a->destination.protocol, "tcp");
  EXPECT_EQ(a->process.pid, 4242u);
  EXPECT_EQ(a->process.exe, "/usr/bin/curl");
  EXPECT_EQ(a->workload.cgroup_path, "/system.slice/crm-sync.service");
  EXPECT_EQ(a->workload.cgroup_id, 77u);
  EXPECT_TRUE(std::regex_match(
      a->uid, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << a->uid;
}

TEST(UnexpectedEgressTest, WrongPortOnAnAllowedHostAlerts) {
  const std::optional<Alert> a = UnexpectedEgressDetector().Evaluate(
      CrmSync(Mode::kMonitor), Connect("10.20.1.1", 80, SLUICE_VERDICT_WOULD_DENY));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->title, "Unexpected egress from workload crm-sync to 10.20.1.1:80");
}

TEST(UnexpectedEgressTest, MonitorRuleWouldBlock) {
  ConnectObservation obs = Connect("198.51.100.7", 8443, SLUICE_VERDICT_WOULD_DENY);
  obs.has_result = true;
  obs.ret = -EINPROGRESS;
  const std::optional<Alert> a = UnexpectedEgressDetector().Evaluate(CrmSync(Mode::kMonitor), obs);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->disposition, Disposition::kWouldBlock);
  EXPECT_STREQ(DispositionName(a->disposition), "Would block");
  EXPECT_EQ(a->rule_mode, "monitor");
  EXPECT_EQ(a->connect_result, -EINPROGRESS);
  EXPECT_THAT(a->description, HasSubstr("enforce mode would deny it"));
}

TEST(UnexpectedEgressTest, EnforceRuleUnderGlobalMonitorCeilingWouldBlock) {
  // --mode monitor leaves the workload unarmed: the hook reports WOULD_DENY and nothing is
  // blocked although the rule itself says enforce.
  const std::optional<Alert> a = UnexpectedEgressDetector().Evaluate(
      CrmSync(Mode::kEnforce), Connect("198.51.100.7", 443, SLUICE_VERDICT_WOULD_DENY));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->disposition, Disposition::kWouldBlock);
  EXPECT_EQ(a->rule_mode, "enforce");
  // No result seen: connect_result stays 0 whatever ret holds.
  EXPECT_EQ(a->connect_result, 0);
}

TEST(UnexpectedEgressTest, HookNotRunIsNotABlock) {
  const std::optional<Alert> a = UnexpectedEgressDetector().Evaluate(
      CrmSync(Mode::kEnforce), Connect("198.51.100.7", 443, SLUICE_VERDICT_NONE));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->disposition, Disposition::kWouldBlock);
}

TEST(UnexpectedEgressTest, V6Destination) {
  ConnectObservation obs = Connect("2001:db8:99::1", 443, SLUICE_VERDICT_DENY);
  obs.protocol = "";
  const std::optional<Alert> a = UnexpectedEgressDetector().Evaluate(CrmSync(Mode::kEnforce), obs);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->destination.ip, "2001:db8:99::1");
  EXPECT_EQ(a->destination.protocol, "");
  EXPECT_EQ(a->title, "Unexpected egress from workload crm-sync to [2001:db8:99::1]:443");
}

TEST(UnexpectedEgressTest, BlankWorkloadInfoComesFromTheRule) {
  ConnectObservation obs = Connect("198.51.100.7", 443, SLUICE_VERDICT_NONE);
  obs.workload = WorkloadInfo{};
  obs.process.exe = "";
  const std::optional<Alert> a = UnexpectedEgressDetector().Evaluate(CrmSync(Mode::kMonitor), obs);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->workload.name, "crm-sync");
  EXPECT_EQ(a->workload.role, "crm-sync");
  EXPECT_THAT(a->description, HasSubstr("curl (pid 4242)"));
}

TEST(UnexpectedEgressTest, UidsAreUnique) {
  const UnexpectedEgressDetector d;
  const ConnectObservation obs = Connect("198.51.100.7", 443, SLUICE_VERDICT_NONE);
  EXPECT_NE(d.Evaluate(CrmSync(Mode::kMonitor), obs)->uid,
            d.Evaluate(CrmSync(Mode::kMonitor), obs)->uid);
}

TEST(DispositionNameTest, OcsfCaptions) {
  EXPECT_STREQ(DispositionName(Disposition::kAllowed), "Allowed");
  EXPECT_STREQ(DispositionName(Disposition::kBlocked), "Blocked");
  EXPECT_STREQ(DispositionName(Disposition::kWouldBlock), "Would block");
}

}  // namespace
}  // namespace sluice::detect
