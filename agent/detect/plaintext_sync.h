// plaintext_sync (DESIGN §5): a sync protocol (Kafka, AMQP 0-9-1, Redis, HTTP) spoken without
// TLS to a peer of a sync workload — CRM records crossing the network readable by anyone on the
// path. A peer counts as a sync peer when an allow entry says `tls: required` for it, or when
// the workload's role is crm-sync. MITRE ATT&CK T1048.003 (exfiltration over an unencrypted
// non-C2 protocol) and T1040 (network sniffing: what the exposure enables).
#ifndef SLUICE_AGENT_DETECT_PLAINTEXT_SYNC_H_
#define SLUICE_AGENT_DETECT_PLAINTEXT_SYNC_H_

#include <optional>
#include <string>

#include "agent/detect/finding.h"

namespace sluice::detect {

struct PlaintextObservation {
  Subject subject;
  Peer peer;
  std::string protocol;   // classifier name: "kafka", "amqp", "redis", "http1-request", ...
  std::string operation;  // e.g. "Produce", "basic.publish", "SET", "POST /v1/records"
  bool tls_required = false;  // a matching allow entry says `tls: required`
  bool outbound = true;
};

class PlaintextSyncDetector {
 public:
  static const DetectorSpec& Spec();
  // Whether `protocol` (classifier name) is one a sync job moves records with.
  static bool IsSyncProtocol(const std::string& protocol);
  std::optional<Alert> Evaluate(const RuleSet& rules, const PlaintextObservation& obs) const;
};

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_PLAINTEXT_SYNC_H_
