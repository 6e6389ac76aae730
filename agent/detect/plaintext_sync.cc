#include "agent/detect/plaintext_sync.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace sluice::detect {

const DetectorSpec& PlaintextSyncDetector::Spec() {
  static const DetectorSpec spec{"plaintext_sync", "Plaintext sync channel", Severity::kMedium,
                                 {"T1048.003", "T1040"}, /*severs=*/false};
  return spec;
}

bool PlaintextSyncDetector::IsSyncProtocol(const std::string& protocol) {
  return protocol == "kafka" || protocol == "amqp" || protocol == "redis" ||
         protocol == "http1-request";
}

std::optional<Alert> PlaintextSyncDetector::Evaluate(const RuleSet& rules,
                                                     const PlaintextObservation& obs) const {
  const DetectorSpec& spec = Spec();
  if (!DetectorEnabled(rules, spec)) return std::nullopt;
  if (!obs.outbound || IsLoopback(obs.peer.ip) || !IsSyncProtocol(obs.protocol)) {
    return std::nullopt;
  }
  const bool sync_role = obs.subject.rule != nullptr && obs.subject.rule->role == "crm-sync";
  if (!obs.tls_required && !sync_role) return std::nullopt;
  if (ExceptionFor(rules, spec, obs.subject, &obs.peer) != nullptr) return std::nullopt;
  Alert a = NewFinding(rules, spec, obs.subject, &obs.peer);
  a.app_protocol = obs.protocol;
  a.encrypted = false;
  if (obs.tls_required && !SeverityOverridden(rules, spec)) a.severity = std::max(a.severity, Severity::kHigh);
  a.title = absl::StrCat("Plaintext ", obs.protocol, " from workload ", a.workload.name, " to ",
                         obs.peer.Label());
  a.description = absl::StrCat(
      ProcessLabel(obs.subject.process), " in workload ", a.workload.name, " spoke ",
      obs.protocol, obs.operation.empty() ? "" : absl::StrCat(" (", obs.operation, ")"),
      " without TLS to ", obs.peer.Label(),
      obs.tls_required ? ", for which the rules require TLS."
                       : ": a sync workload's records are readable on the network path.");
  return a;
}

}  // namespace sluice::detect
