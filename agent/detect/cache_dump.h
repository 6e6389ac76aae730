// cache_dump (DESIGN §5): a workload read inference-cache or vector-index files and then sent
// data to a destination its rule does not allow — the prompt cache or the embeddings of CRM
// records leaving the host. MITRE ATT&CK T1005 (data from local system) + T1041.
#ifndef SLUICE_AGENT_DETECT_CACHE_DUMP_H_
#define SLUICE_AGENT_DETECT_CACHE_DUMP_H_

#include <optional>

#include "agent/detect/file_egress.h"

namespace sluice::detect {

class CacheDumpDetector {
 public:
  static const DetectorSpec& Spec();
  std::optional<Alert> Evaluate(const RuleSet& rules, const SendAfterRead& send) const;
};

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_CACHE_DUMP_H_
