#include "agent/detect/unexpected_egress.h"

#include <linux/types.h>

#include "absl/strings/str_cat.h"
#include "agent/detect/allowlist.h"
#include "sluice/abi.h"

namespace sluice::detect {

const DetectorSpec& UnexpectedEgressDetector::Spec() {
  static const DetectorSpec spec{kId, "Unexpected egress", Severity::kHigh, {"T1041", "T1048"},
                                 /*severs=*/false};
  return spec;
}

std::optional<Alert> UnexpectedEgressDetector::Evaluate(const Workload& rule,
                                                        const ConnectObservation& obs) const {
  static const RuleSet kDefaults;
  return Evaluate(kDefaults, rule, obs);
}

std::optional<Alert> UnexpectedEgressDetector::Evaluate(const RuleSet& rules, const Workload& rule,
                                                        const ConnectObservation& obs) const {
  const DetectorSpec& spec = Spec();
  // Loopback never leaves the host; the kernel exempts it too (SLUICE_VERDICT_EXEMPT).
  if (IsLoopback(obs.daddr)) return std::nullopt;
  // Nor are the destinations enforcement never denies (the host's resolvers, the sinks): the
  // kernel said so (SLUICE_VERDICT_EXEMPT); what goes to them is for dns_tunnel and the others.
  if (obs.verdict == SLUICE_VERDICT_EXEMPT) return std::nullopt;
  // A learning workload has no allowlist yet: what it reaches is what the proposal is made of.
  if (rule.mode == Mode::kLearn) return std::nullopt;
  if (!DetectorEnabled(rules, spec)) return std::nullopt;
  std::vector<std::string> names = obs.names;
  if (!obs.sni.empty()) names.push_back(obs.sni);
  if (EgressAllowed(rule, obs.daddr, obs.dport, names)) return std::nullopt;

  Subject subject{&rule, obs.workload, obs.process, obs.time_ms};
  Peer peer;
  peer.ip = obs.daddr;
  peer.port = obs.dport;
  peer.protocol = obs.protocol;
  peer.names = obs.names;
  peer.sni = obs.sni;
  if (ExceptionFor(rules, spec, subject, &peer) != nullptr) return std::nullopt;

  Alert alert = NewFinding(rules, spec, subject, &peer);
  // Only the kernel's verdict says a byte was stopped. Anything else (a monitor-mode rule, the
  // global --mode monitor ceiling, a hook that did not run) means the connect went ahead.
  alert.disposition =
      obs.verdict == SLUICE_VERDICT_DENY ? Disposition::kBlocked : Disposition::kWouldBlock;
  alert.connect_result = obs.has_result ? obs.ret : 0;

  const std::string dest = peer.Label();
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
