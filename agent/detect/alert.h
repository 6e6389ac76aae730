// A finding produced by a detector: what the output stage renders (OCSF) and delivers.
// Holds classifications, counts and identities only: never payload bytes (DESIGN §4).
#ifndef SLUICE_AGENT_DETECT_ALERT_H_
#define SLUICE_AGENT_DETECT_ALERT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::detect {

enum class Disposition {
  kAllowed,     // detected, no blocking applies
  kBlocked,     // the kernel denied it (connect got EPERM)
  kWouldBlock,  // enforce would have denied it; monitor mode or an unarmed rule
};

// OCSF severity_id values (1..6).
enum class Severity : int {
  kInformational = 1,
  kLow = 2,
  kMedium = 3,
  kHigh = 4,
  kCritical = 5,
  kFatal = 6,
};

struct ProcessInfo {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  uint32_t uid = 0;
  std::string exe;       // absolute path of the executable, "" if unknown
  std::string comm;      // kernel task name
  std::string cmdline;   // argv joined by spaces, bounded; "" if unknown
};

struct WorkloadInfo {
  std::string name;         // rule workload name
  std::string role;         // rule workload role, may be empty
  std::string cgroup_path;  // path relative to the cgroup v2 root, "" if unknown
  uint64_t cgroup_id = 0;
};

struct Endpoint {
  std::string ip;            // textual, IPv4 dotted for v4 and v4-mapped, RFC 5952 for v6
  uint16_t port = 0;
  std::string protocol;      // "tcp", "udp" or "" when unknown
  std::vector<std::string> names;  // DNS names this address was resolved from (issue 4)
};

struct Alert {
  std::string uid;           // unique id of this finding (stable across re-delivery)
  std::string detector;      // detector id, e.g. "unexpected_egress"
  std::string title;         // one line for humans
  std::string description;   // a few sentences: what happened and why it matters
  Severity severity = Severity::kMedium;
  Disposition disposition = Disposition::kAllowed;
  std::string rule_mode;     // "monitor" or "enforce" as the rule says
  int64_t time_ms = 0;       // event time, epoch milliseconds
  WorkloadInfo workload;
  ProcessInfo process;
  Endpoint destination;
  std::vector<std::string> attack_techniques;  // MITRE ATT&CK ids, e.g. "T1041"
  int32_t connect_result = 0;  // errno-style result of the connect (0, -EPERM, ...)
};

const char* DispositionName(Disposition d);  // "Allowed", "Blocked", "Would block"

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_ALERT_H_
