// The send-after-read family (DESIGN §5): cache_dump, log_export and exfil_chain judge the same
// moment — a workload that has read sensitive files sends bytes to a peer — with different
// file classes, peers and thresholds. Each detector is its own file; this is their shared input.
#ifndef SLUICE_AGENT_DETECT_FILE_EGRESS_H_
#define SLUICE_AGENT_DETECT_FILE_EGRESS_H_

#include <cstdint>
#include <functional>
#include <string>
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
  // window to last_read_ms. Used when the functions below are not set (tests, small inputs).
  std::vector<SensitiveRead> reads;
  // The engine's ledger, queried only as far as a detector needs: the bytes of some classes read
  // since a time (cheap), and the files behind them (only for a finding).
  std::function<uint64_t(const std::vector<std::string>& classes, int64_t since_ms)> read_bytes;
  // At most kMaxFilesPerFinding, the newest.
  std::function<std::vector<SensitiveRead>(const std::vector<std::string>& classes,
                                           int64_t since_ms)>
      read_files;

  // Bytes of `classes` (all when empty) read at or after since_ms.
  uint64_t ReadBytes(const std::vector<std::string>& classes, int64_t since_ms) const {
    if (read_bytes) return read_bytes(classes, since_ms);
    return SumReads(reads, classes, since_ms, nullptr);
  }
  // The files of `classes` read at or after since_ms, for an alert.
  std::vector<FileAccess> Files(const std::vector<std::string>& classes, int64_t since_ms) const {
    std::vector<FileAccess> files;
    SumReads(read_files ? read_files(classes, since_ms) : reads, classes, since_ms, &files);
    return files;
  }
};

// The sensitive bytes a send-after-read detector weighs: those of `classes` (every class when
// empty) read within the detector's `window_s` parameter. `bytes` is 0 when they stay below its
// `min_bytes` parameter.
struct WindowedRead {
  int64_t since_ms = 0;
  uint64_t bytes = 0;
};
WindowedRead ReadInWindow(const RuleSet& rules, const DetectorSpec& spec, const SendAfterRead& send,
                          const std::vector<std::string>& classes);

// A finding about `send` (NewFinding), with the files of `classes` read since `since_ms` and the
// flow's byte totals; title and description are the detector's.
Alert SendFinding(const RuleSet& rules, const DetectorSpec& spec, const SendAfterRead& send,
                  const std::vector<std::string>& classes, int64_t since_ms);

// Files an alert lists at most (the newest reads): the aggregator keeps 64 distinct paths, and
// a SIEM has no use for thousands.
inline constexpr size_t kMaxFilesPerFinding = 256;

// Below this many bytes a flow has not carried a file anywhere (a TLS handshake alone is ~2 KiB
// from the client; a dump is far more).
inline constexpr uint64_t kMinExfilSend = 4096;

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_FILE_EGRESS_H_
