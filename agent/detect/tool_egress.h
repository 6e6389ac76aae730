// tool_egress (DESIGN §5): a transfer tool (curl, wget, scp, rsync, rclone, aws, nc, ...) started
// under an inference, sync or vector-db workload opened a connection off the host. Services do
// not shell out to curl; an attacker in the container does. MITRE ATT&CK T1105 (ingress tool
// transfer, the same tools both ways) and T1048.
#ifndef SLUICE_AGENT_DETECT_TOOL_EGRESS_H_
#define SLUICE_AGENT_DETECT_TOOL_EGRESS_H_

#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "agent/detect/finding.h"

namespace sluice::detect {

struct ToolConnect {
  Subject subject;      // the tool process
  Peer peer;
  bool allowed = false;       // the destination is on the workload's allowlist
  std::string parent_exe;     // who started the tool
};

class ToolEgressDetector {
 public:
  static const DetectorSpec& Spec();
  // The basename of a data transfer tool ("" when `exe_path` is not one).
  static absl::string_view ToolName(absl::string_view exe_path);
  std::optional<Alert> Evaluate(const RuleSet& rules, const ToolConnect& obs) const;
};

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_TOOL_EGRESS_H_
