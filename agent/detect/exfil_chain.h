// exfil_chain (DESIGN §5): the generic file -> network chain. A workload read sensitive files of
// any class and then sent a comparable volume (bytes out >= ratio x bytes read) to a peer its
// rule does not allow. cache_dump and log_export are the specific cases; the engine reports a
// flow under exfil_chain only when neither of them did. MITRE ATT&CK T1005 + T1041.
#ifndef SLUICE_AGENT_DETECT_EXFIL_CHAIN_H_
#define SLUICE_AGENT_DETECT_EXFIL_CHAIN_H_

#include <optional>

#include "agent/detect/file_egress.h"

namespace sluice::detect {

class ExfilChainDetector {
 public:
  static const DetectorSpec& Spec();
  std::optional<Alert> Evaluate(const RuleSet& rules, const SendAfterRead& send) const;
};

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_EXFIL_CHAIN_H_
