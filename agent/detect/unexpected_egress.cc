#include "agent/detect/unexpected_egress.h"

#include <linux/types.h>

#include "absl/strings/str_cat.h"
#include "agent/detect/alert_uid.h"
#include "agent/detect/allowlist.h"
#include "sluice/abi.h"

namespace sluice::detect {
namespace {

// "203.0.113.9:443", "[2001:db8::1]:443": the brackets keep a v6 port readable.
std::string HostPort(const IpAddr& ip, uint16_t port) {
  if (ip.IsV4Mapped()) return absl::StrCat(ip.ToString(), ":", port);
  return absl::StrCat("[", ip.ToString(), "]:", port);
}

std::string ProcessLabel(const ProcessInfo& p) {
  const std::string& name = !p.exe.empty() ? p.exe : !p.comm.empty() ? p.comm : "unknown process";
  return absl::StrCat(name, " (pid ", p.pid, ")");
}

}  // namespace

std::optional<Alert> UnexpectedEgressDetector::Evaluate(const Workload& rule,
                                                        const ConnectObservation& obs) const {
  // Loopback never leaves the host; the kernel exempts it too (SLUICE_VERDICT_EXEMPT).
  if (IsLoopback(obs.daddr)) return std::nullopt;
  if (EgressAllowed(rule, obs.daddr, obs.dport)) return std::nullopt;

  Alert alert;
  alert.uid = NewAlertUid();
  alert.detector = kId;
  alert.severity = Severity::kHigh;
  // Only the kernel's verdict says a byte was stopped. Anything else (a monitor-mode rule, the
  // global --mode monitor ceiling, a hook that did not run) means the connect went ahead.
  alert.disposition =
      obs.verdict == SLUICE_VERDICT_DENY ? Disposition::kBlocked : Disposition::kWouldBlock;
  alert.rule_mode = ModeName(rule.mode);
  alert.time_ms = obs.time_ms;
  alert.workload = obs.workload;
  if (alert.workload.name.empty()) alert.workload.name = rule.name;
  if (alert.workload.role.empty()) alert.workload.role = rule.role;
  alert.process = obs.process;
  alert.destination.ip = obs.daddr.ToString();
  alert.destination.port = obs.dport;
  alert.destination.protocol = obs.protocol;
  alert.attack_techniques = {"T1041", "T1048"};
  alert.connect_result = obs.has_result ? obs.ret : 0;

  const std::string dest = HostPort(obs.daddr, obs.dport);
  alert.title = absl::StrCat("Unexpected egress from workload ", alert.workload.name, " to ", dest);
  alert.description = absl::StrCat(
      ProcessLabel(obs.process), " in workload ", alert.workload.name, " connected to ", dest,
      obs.protocol.empty() ? "" : absl::StrCat("/", obs.protocol),
      ", which is not on the workload's egress allowlist. ",
      alert.disposition == Disposition::kBlocked
          ? "The kernel denied the connection before any byte was sent."
          : "The connection was not blocked; enforce mode would deny it.");
  return alert;
}

}  // namespace sluice::detect
