// The send-after-read family (DESIGN §5): cache_dump, log_export and exfil_chain judge the same
// moment — a workload that has read sensitive files sends bytes to a peer — with different
// file classes, peers and thresholds. Each detector is its own file; this is their shared input.
#ifndef SLUICE_AGENT_DETECT_FILE_EGRESS_H_
#define SLUICE_AGENT_DETECT_FILE_EGRESS_H_

#include <cstdint>
#include <vector>

#include "agent/detect/finding.h"
#include "agent/detect/rules.h"

namespace sluice::detect {

struct SendAfterRead {
  Subject subject;  // the sending process and its workload
  Peer peer;
  uint64_t bytes_out = 0;  // sent on this flow so far (kernel total)
  uint64_t bytes_in = 0;
  bool outbound = true;    // the workload opened the flow (an accepted flow answers a client)
  bool allowed = false;    // the peer is on the workload's egress allowlist
  const SinkDestination* sink = nullptr;  // the peer is a configured sink
  // Sensitive files the workload's processes read, newest last; each detector applies its own
  // window to last_read_ms.
  std::vector<SensitiveRead> reads;
};

// Below this many bytes a flow has not carried a file anywhere (a TLS handshake alone is ~2 KiB
// from the client; a dump is far more).
inline constexpr uint64_t kMinExfilSend = 4096;

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_FILE_EGRESS_H_
