// log_export (DESIGN §5): a workload read inference or audit logs and then shipped data off the
// host to anything but a configured log sink — customer records in prompts and completions
// leaving with the logs. Allowed peers are not an excuse: a vector DB is no place for logs.
// MITRE ATT&CK T1005 + T1048.
#ifndef SLUICE_AGENT_DETECT_LOG_EXPORT_H_
#define SLUICE_AGENT_DETECT_LOG_EXPORT_H_

#include <optional>

#include "agent/detect/file_egress.h"

namespace sluice::detect {

class LogExportDetector {
 public:
  static const DetectorSpec& Spec();
  std::optional<Alert> Evaluate(const RuleSet& rules, const SendAfterRead& send) const;
};

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_LOG_EXPORT_H_
