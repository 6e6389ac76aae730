#include "agent/detect/volume_anomaly.h"

#include "absl/strings/str_cat.h"

namespace sluice::detect {

const DetectorSpec& VolumeAnomalyDetector::Spec() {
  static const DetectorSpec spec{"volume_anomaly", "Egress volume over budget", Severity::kMedium,
                                 {"T1030", "T1048"}, /*severs=*/true};
  return spec;
}

std::optional<Alert> VolumeAnomalyDetector::Evaluate(const RuleSet& rules,
                                                     const VolumeObservation& obs) const {
  const DetectorSpec& spec = Spec();
  if (!DetectorEnabled(rules, spec)) return std::nullopt;
  if (obs.budget_bytes == 0 || obs.sent_in_window <= obs.budget_bytes) return std::nullopt;
  if (ExceptionFor(rules, spec, obs.subject, &obs.peer) != nullptr) return std::nullopt;
  Alert a = NewFinding(rules, spec, obs.subject, &obs.peer);
  a.bytes_out = obs.sent_in_window;
  // Twice the budget is no rounding error.
  if (obs.sent_in_window >= 2 * obs.budget_bytes && !SeverityOverridden(rules, spec)) {
    a.severity = Severity::kHigh;
  }
  a.title = absl::StrCat("Egress budget exceeded by workload ", a.workload.name, " (",
                         obs.budget_label, ")");
  a.description = absl::StrCat(
      "Workload ", a.workload.name, " sent ", HumanBytes(obs.sent_in_window), " to ",
      obs.budget_label, " within ", obs.window_s, " s; its budget is ",
      HumanBytes(obs.budget_bytes), ". The flow that crossed it: ",
      ProcessLabel(obs.subject.process), " to ", obs.peer.Label(), ".");
  return a;
}

}  // namespace sluice::detect
