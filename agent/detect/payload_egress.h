// Input of the detectors that judge what a TLS-library write carried (pii_egress,
// token_misuse): the classification of the plaintext prefix, never the bytes.
#ifndef SLUICE_AGENT_DETECT_PAYLOAD_EGRESS_H_
#define SLUICE_AGENT_DETECT_PAYLOAD_EGRESS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/detect/finding.h"

namespace sluice::detect {

struct PayloadWrite {
  Subject subject;
  Peer peer;
  std::string app_protocol;       // classifier name
  std::string request_line;       // "POST /upload HTTP/1.1" for HTTP requests (no query)
  std::vector<DataMatch> data;    // sensitive values found in the prefix
  bool allowed = false;           // the peer is on the workload's egress allowlist
  bool crm_peer = false;          // the peer is the CRM (rules `crm:`)
  uint64_t call_bytes = 0;        // length of the write call
};

// Count of `kind` in `data` (0 when absent).
uint64_t MatchCount(const std::vector<DataMatch>& data, absl::string_view kind);

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_PAYLOAD_EGRESS_H_
