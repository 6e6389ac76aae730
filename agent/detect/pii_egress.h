// pii_egress (DESIGN §5): CRM record ids, e-mail addresses or phone numbers in the plaintext of a
// TLS write to a peer that is neither the CRM nor on the workload's allowlist — customer data in
// an upload the network layer only sees as encrypted bytes. MITRE ATT&CK T1567 (exfiltration
// over web service) and T1041.
#ifndef SLUICE_AGENT_DETECT_PII_EGRESS_H_
#define SLUICE_AGENT_DETECT_PII_EGRESS_H_

#include <optional>

#include "agent/detect/payload_egress.h"

namespace sluice::detect {

class PiiEgressDetector {
 public:
  static const DetectorSpec& Spec();
  std::optional<Alert> Evaluate(const RuleSet& rules, const PayloadWrite& write) const;
};

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_PII_EGRESS_H_
