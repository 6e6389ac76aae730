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

  // What the process runs: its executable, or its task name when that is unknown.
  const std::string& Image() const { return !exe.empty() ? exe : comm; }
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

// A sensitive file the finding involves: what the process read from it (kernel totals).
struct FileAccess {
  std::string path;        // as opened; "" if only the inode is known
  std::string file_class;  // rule file class, e.g. "inference-cache"
  uint64_t bytes_read = 0;
  uint64_t bytes_mapped = 0;

  friend bool operator==(const FileAccess&, const FileAccess&) = default;
};

// Sensitive values seen in a payload prefix: a kind, how many, and keyed fingerprints
// (HMAC-SHA256, truncated, hex) so that the same value can be recognised across alerts without
// being stored. Never the values themselves.
struct DataMatch {
  std::string kind;  // "crm_record_id", "email", "phone", "bearer_token", "api_key", ...
  uint64_t count = 0;
  std::vector<std::string> fingerprints;  // at most a few per kind

  friend bool operator==(const DataMatch&, const DataMatch&) = default;
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

  // What the finding is about, where the detector knows it.
  std::vector<FileAccess> files;
  uint64_t bytes_out = 0;     // bytes sent on the flow(s) concerned
  uint64_t bytes_in = 0;
  std::string app_protocol;   // "http", "kafka", "amqp", "redis", "tls", "" when unknown
  std::string sni;            // TLS server name, when the client sent one
  bool encrypted = false;     // the payload went through a TLS library
  std::vector<DataMatch> data;
  std::string dns_domain;     // dns_tunnel: the registered domain queried

  // Aggregation (DESIGN §5): alerts with the same (workload, detector, destination) inside the
  // rules' aggregate window are one alert with a count. `count` = 1 for a first occurrence.
  uint64_t count = 1;
  int64_t first_seen_ms = 0;  // epoch ms; = time_ms for a first occurrence
  int64_t last_seen_ms = 0;
};

const char* DispositionName(Disposition d);  // "Allowed", "Blocked", "Would block"

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_ALERT_H_
