// What every detector shares: who did it (Subject), to whom (Peer), the detector's identity
// (DetectorSpec), and the one way a finding is built from them, so that rule overrides
// (severity, enabled, exceptions; docs/rules.md "Detectors") apply the same way everywhere.
#ifndef SLUICE_AGENT_DETECT_FINDING_H_
#define SLUICE_AGENT_DETECT_FINDING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/detect/alert.h"
#include "agent/detect/ip.h"
#include "agent/detect/rules.h"

namespace sluice::detect {

struct DetectorSpec {
  const char* id;          // one of kDetectorIds
  const char* title;       // noun phrase for alert titles, e.g. "Inference cache dump"
  Severity severity;       // default; `detectors: {ID: {severity: ...}}` overrides it
  std::vector<const char*> attack;  // MITRE ATT&CK technique ids
  // In enforce mode this detector's conviction severs the live flow (DESIGN §6). Until a flow
  // can be severed, its findings say "Would block" so the SOC sees what enforce will do.
  bool severs = false;
};

// The workload and process an activity belongs to.
struct Subject {
  const Workload* rule = nullptr;  // never null when handed to a detector
  WorkloadInfo workload;           // name/role filled from the rule when blank
  ProcessInfo process;
  int64_t time_ms = 0;             // epoch ms of the activity
};

// The remote end of a flow.
struct Peer {
  IpAddr ip;
  uint16_t port = 0;
  std::string protocol;            // "tcp", "udp", ""
  std::vector<std::string> names;  // DNS names the address was resolved from
  std::string sni;                 // TLS server name sent on the flow, if seen

  // Names to match host globs against: the DNS names and the SNI.
  std::vector<std::string> AllNames() const;
  // "paste.evil.test (203.0.113.9:443)" or "203.0.113.9:443".
  std::string Label() const;
};

// Bytes a workload read from one sensitive file (kernel totals), as the send-after-read
// detectors see them.
struct SensitiveRead {
  std::string path;
  std::string file_class;
  uint64_t bytes_read = 0;
  uint64_t bytes_mapped = 0;  // mmap lengths
  uint64_t bytes() const { return bytes_read + bytes_mapped; }
  uint32_t pid = 0;          // the last process that read it
  std::string exe;           // of that process
  int64_t last_read_ms = 0;  // epoch ms of the last read seen
};

// Sum of `reads` whose class is in `classes` (all when empty) and whose last read is at or
// after `since_ms`; the matching reads are appended to `used` when it is not null.
uint64_t SumReads(const std::vector<SensitiveRead>& reads, const std::vector<std::string>& classes,
                  int64_t since_ms, std::vector<FileAccess>* used);

// The last component of a path ("curl" for "/usr/bin/curl"); the path itself when it has none.
absl::string_view Basename(absl::string_view path);

// "203.0.113.9:443", "[2001:db8::1]:443".
std::string HostPort(const IpAddr& ip, uint16_t port);
// "/usr/bin/curl (pid 42)".
std::string ProcessLabel(const ProcessInfo& p);
// "12.0 MiB", "512 B".
std::string HumanBytes(uint64_t bytes);

// Whether `spec` runs for `subject`: the rules may disable it.
bool DetectorEnabled(const RuleSet& rules, const DetectorSpec& spec);

// Whether the rules fix this detector's severity (detectors may then not raise it themselves).
bool SeverityOverridden(const RuleSet& rules, const DetectorSpec& spec);

// The exception of the rules that covers this finding (same detector, same workload or any,
// matching destination or any), or nullptr.
const DetectorException* ExceptionFor(const RuleSet& rules, const DetectorSpec& spec,
                                      const Subject& subject, const Peer* peer);

// A new finding with uid, detector id, severity (override applied), disposition, rule mode,
// time, workload, process, destination and ATT&CK ids filled. `peer` may be null.
Alert NewFinding(const RuleSet& rules, const DetectorSpec& spec, const Subject& subject,
                 const Peer* peer);

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_FINDING_H_
