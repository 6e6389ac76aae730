// volume_anomaly (DESIGN §5): a workload sent more to a destination than its byte budget allows
// within the budget's window (rules `budgets:`, or the volume_anomaly default budget) — the slow
// bulk copy that stays on an allowed peer. MITRE ATT&CK T1030 (data transfer size limits) and
// T1048.
#ifndef SLUICE_AGENT_DETECT_VOLUME_ANOMALY_H_
#define SLUICE_AGENT_DETECT_VOLUME_ANOMALY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "agent/detect/finding.h"

namespace sluice::detect {

struct VolumeObservation {
  Subject subject;
  Peer peer;                 // the flow that crossed the budget
  uint64_t budget_bytes = 0;
  uint32_t window_s = 0;
  std::string budget_label;  // what the budget covers: "*.my.salesforce.com", "any destination"
  uint64_t sent_in_window = 0;
};

class VolumeAnomalyDetector {
 public:
  static const DetectorSpec& Spec();
  std::optional<Alert> Evaluate(const RuleSet& rules, const VolumeObservation& obs) const;
};

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_VOLUME_ANOMALY_H_
