// unexpected_egress (DESIGN §5): a watched workload connected to a destination that its rule does
// not allow. MITRE ATT&CK T1041 (exfiltration over C2 channel) and T1048 (over an alternative
// protocol): an unknown peer is where both end up.
#ifndef SLUICE_AGENT_DETECT_UNEXPECTED_EGRESS_H_
#define SLUICE_AGENT_DETECT_UNEXPECTED_EGRESS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/detect/alert.h"
#include "agent/detect/finding.h"
#include "agent/detect/ip.h"
#include "agent/detect/rules.h"

namespace sluice::detect {

// One connect attempt as the engine hands it to detectors.
struct ConnectObservation {
  int64_t time_ms = 0;  // epoch milliseconds
  IpAddr daddr;
  uint16_t dport = 0;
  std::string protocol;  // "tcp", "udp" or "" when unknown
  uint8_t verdict = 0;   // enum sluice_verdict (SLUICE_VERDICT_*) from the enforcement hook
  bool has_result = false;
  int32_t ret = 0;  // syscall return value, when has_result
  ProcessInfo process;
  WorkloadInfo workload;
  std::vector<std::string> names;  // DNS names of daddr (host allow entries match these)
  std::string sni;  // server_name the flow's TLS ClientHello carried, when the engine waited
                    // for it (host allow entries match it too)
};

class UnexpectedEgressDetector {
 public:
  static constexpr char kId[] = "unexpected_egress";
  static const DetectorSpec& Spec();

  // An alert when obs.daddr:obs.dport is not allowed for the workload of `rule` (by CIDR, or by
  // a host entry matching one of obs.names or obs.sni); nullopt for allowed and loopback destinations
  // (loopback is not egress), for learn-mode workloads, and when `rules` disable the detector or
  // hold an exception for it. Blank workload name and role in obs are filled from the rule.
  std::optional<Alert> Evaluate(const RuleSet& rules, const Workload& rule,
                                const ConnectObservation& obs) const;
  // The same with no rule-set-wide settings (defaults, no exceptions).
  std::optional<Alert> Evaluate(const Workload& rule, const ConnectObservation& obs) const;
};

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_UNEXPECTED_EGRESS_H_
