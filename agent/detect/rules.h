// The rule set: which workloads sluice watches, how it recognises them and where each one may
// send data. Loaded from YAML (schema in docs/rules.md); validated whole, so that a rule set is
// either loaded entirely or not at all (SIGHUP keeps the old set on any error, DESIGN §7).
#ifndef SLUICE_AGENT_DETECT_RULES_H_
#define SLUICE_AGENT_DETECT_RULES_H_

#include <linux/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/detect/ip.h"
#include "sluice/abi.h"

namespace sluice::detect {

// kLearn observes like kMonitor but raises no alert for its own destinations: what it sees feeds
// `sluicectl learn --write FILE` (a proposed rule to review).
enum class Mode { kMonitor, kEnforce, kLearn };

const char* ModeName(Mode mode);  // "monitor", "enforce", "learn"

// "1048576", "500MiB", "10MB": a byte count with an optional SI or IEC unit, no fractions; and
// "3600", "90s", "30m", "1h30m", "1d": a duration in seconds. As rule files write them; the
// agent's configuration file uses the same forms.
bool ParseByteSize(absl::string_view s, uint64_t* out);
bool ParseDuration(absl::string_view s, uint64_t* out);

// Where a rule element was written; 1-based line and column. line == 0 means the error is
// about the file or directory as a whole (it does not exist, it holds no rule files, ...).
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

struct PortRange {
  uint16_t lo = 0;  // inclusive
  uint16_t hi = 0;  // inclusive

  friend bool operator==(const PortRange&, const PortRange&) = default;
};

// A destination written in a rule: a host glob, a CIDR, or (neither set) any destination.
struct Destination {
  // fnmatch(3) glob without flags on a lower-case DNS name without the trailing dot
  // ("*.my.salesforce.com"; "*" also crosses dots). Matched against the names the destination
  // address was resolved from (DNS cache) and against the TLS SNI of the flow.
  std::optional<std::string> host_glob;
  std::optional<Cidr> cidr;

  bool any() const { return !host_glob && !cidr; }
};

struct EgressAllow {
  // Exactly one of cidr / host_glob is set. For a host entry `cidr` is the zero value and is not
  // used: the kernel allowlist holds CIDRs only (names reach the kernel with issue 6).
  Cidr cidr;
  std::optional<std::string> host_glob;  // see Destination::host_glob
  std::vector<PortRange> ports;  // empty = any port
  bool tls_required = false;     // `tls: required`: plaintext to this peer is plaintext_sync
  std::string comment;
  SourceLocation loc;  // the allow entry
};

// Selectors on the cgroup side (cgroup glob, systemd unit, container id) and on the executable
// side. All that are set must match (AND). The cgroup-side ones are decided on the cgroup path,
// so the kernel's per-cgroup masks cover them.
struct Selector {
  std::optional<std::string> cgroup_glob;  // on the cgroup v2 path relative to the v2 root
  std::optional<std::string> exe_glob;     // on the absolute executable path
  // A systemd unit name with its suffix ("crm-sync.service", "llm.scope"): matches a cgroup path
  // that has a component equal to it (the unit's cgroup and everything below it).
  std::optional<std::string> unit;
  // A container id (12..64 lower-case hex digits, a prefix of the full id): matches a cgroup path
  // with a component naming that container as the runtimes do ("docker-ID.scope",
  // "cri-containerd-ID.scope", "crio-ID.scope", "libpod-ID.scope", or a bare "ID").
  std::optional<std::string> container_id;
  // Container labels (`container: {labels: {KEY: VALUE}}`), every one required, exactly: the
  // labels the container runtime keeps for the container the cgroup path names (Docker labels,
  // OCI annotations of containerd, CRI-O and Podman, CRI labels through CRI-O, nerdctl labels;
  // state::ReadContainerLabels), sorted by key.
  std::vector<std::pair<std::string, std::string>> container_labels;

  bool has_cgroup_side() const {
    return cgroup_glob || unit || container_id || !container_labels.empty();
  }
};

// `budgets:` of a workload: at most `bytes` sent to destinations matching `to` within any
// `window_s` seconds (volume_anomaly).
struct ByteBudget {
  Destination to;  // any() = all egress of the workload
  uint64_t bytes = 0;
  uint32_t window_s = 3600;
  SourceLocation loc;
};

struct Workload {
  uint32_t id = 0;  // index in RuleSet::workloads: rule order, and the bit in the kernel masks
  std::string name;
  std::string role;  // "" when not set
  Mode mode = Mode::kMonitor;
  Selector selector;  // at least one selector is set
  std::vector<EgressAllow> allow;
  std::vector<ByteBudget> budgets;
  // `quarantine:` — containment (DESIGN §6). A finding of a detector in `on` quarantines the
  // workload (when it is armed: mode enforce under --mode enforce; otherwise the finding says it
  // would have). A quarantined workload, whether by a rule or by `sluicectl quarantine`, may reach
  // only the exempt destinations (resolvers, sinks, loopback) and `allow` (cidr entries: the
  // kernel decides quarantine by address).
  std::vector<std::string> quarantine_on;  // detector ids
  std::vector<EgressAllow> quarantine_allow;
  SourceLocation loc;  // the workload's map
};

// `crm:` — where the CRM lives. Tokens and CRM records may go there (token_misuse, pii_egress).
struct CrmEndpoints {
  std::vector<std::string> host_globs;  // e.g. "*.my.salesforce.com", "login.salesforce.com"
  std::vector<Cidr> cidrs;
  SourceLocation loc;
};

// `sinks:` — destinations the host ships logs and alerts to. log_export does not fire for them
// and enforcement never blocks them (DESIGN §6).
struct SinkDestination {
  std::string name;
  enum class Kind { kLog, kSiem } kind = Kind::kSiem;  // `kind: log | siem`
  Destination to;                // host glob or cidr (one of them is required)
  std::vector<PortRange> ports;  // empty = any
  SourceLocation loc;
};

// `detectors: {ID: {...}}` — per-detector settings. A detector absent from the map runs with
// its defaults.
struct DetectorException {
  std::string workload;  // workload name; "" = any workload
  Destination to;        // any() = every destination
  std::string reason;    // required: why this is not a finding (shown by rules check, logged)
  SourceLocation loc;
};

struct DetectorConfig {
  bool enabled = true;
  std::optional<int> severity;  // OCSF severity_id 1..6 overriding the detector's own
  std::vector<DetectorException> exceptions;
  // Numeric parameters, validated against the detector's known names (kDetectorParams in
  // rules.cc, documented in docs/rules.md); absent names take their defaults there.
  std::vector<std::pair<std::string, double>> params;
  SourceLocation loc;
};

// A numeric parameter a detector accepts under `detectors: {ID: {params: {NAME: VALUE}}}`.
struct DetectorParamSpec {
  const char* detector;
  const char* name;
  double default_value;
  double min;
  double max;
  const char* help;  // one line for docs/rules.md and error messages
};

inline constexpr DetectorParamSpec kDetectorParams[] = {
    {"unexpected_egress", "sni_wait_s", 5, 0, 60,
     "seconds to wait for a TLS server name when only a host entry could allow the peer"},
    {"cache_dump", "min_bytes", 65536, 1, 1e15,
     "bytes read from inference-cache/vector-index files before sending counts as a dump"},
    {"cache_dump", "window_s", 600, 1, 86400, "seconds between the read and the send"},
    {"log_export", "min_bytes", 65536, 1, 1e15,
     "bytes read from inference-log files before sending counts as an export"},
    {"log_export", "window_s", 600, 1, 86400, "seconds between the read and the send"},
    {"exfil_chain", "min_bytes", 1048576, 1, 1e15,
     "bytes of any sensitive class read, and then sent, for a chain"},
    {"exfil_chain", "ratio", 0.5, 0.01, 100,
     "bytes sent / sensitive bytes read at which the send carries the read"},
    {"exfil_chain", "window_s", 600, 1, 86400, "seconds between the read and the send"},
    {"archive_staging", "min_bytes", 1048576, 1, 1e15,
     "sensitive bytes an archiver (tar, zip, gzip, ...) must read"},
    {"pii_egress", "min_count", 1, 1, 1e9,
     "CRM record ids + emails + phone numbers in one payload prefix that make a finding"},
    {"volume_anomaly", "default_budget_bytes", 0, 0, 1e15,
     "budget for workloads without `budgets:` (0: none)"},
    {"volume_anomaly", "window_s", 3600, 1, 604800, "window of default_budget_bytes"},
    {"dns_tunnel", "min_label_len", 40, 8, 63, "a query label at least this long is suspicious"},
    {"dns_tunnel", "min_entropy", 3.5, 0, 8, "Shannon entropy (bits/char) of a suspicious label"},
    {"dns_tunnel", "max_queries_per_min", 120, 1, 1e6,
     "distinct names under one domain per minute above which it is tunnelling"},
};

// Ids of every detector (DESIGN §5), the keys `detectors:` accepts.
inline constexpr const char* kDetectorIds[] = {
    "unexpected_egress", "cache_dump",  "log_export",     "exfil_chain",
    "archive_staging",   "plaintext_sync", "pii_egress",  "token_misuse",
    "volume_anomaly",    "dns_tunnel",  "tool_egress"};

// A class of sensitive files (DESIGN §5: inference-cache, vector-index, inference-log,
// training-data, crm-credentials, custom): files under any of `paths` belong to it.
struct FileClass {
  uint32_t id = 0;  // 1..SLUICE_MAX_FILE_CLASSES-1, in load order (0 means "not sensitive")
  std::string name;
  std::vector<std::string> paths;  // absolute path prefixes
  SourceLocation loc;
};

struct RuleSet {
  std::vector<Workload> workloads;
  std::vector<FileClass> file_classes;
  CrmEndpoints crm;  // merged over every file
  std::vector<SinkDestination> sinks;
  // Keyed by detector id; at most one entry per id across the rule set.
  std::vector<std::pair<std::string, DetectorConfig>> detectors;
  // `alerts: {aggregate_window: SECONDS}`: alerts with the same (workload, detector,
  // destination) within this window are merged into one with a count (default 60).
  uint32_t aggregate_window_s = 60;
  std::vector<std::string> files;  // the files read, in load order

  // The settings of detector `id`, or nullptr when the rules do not mention it.
  const DetectorConfig* Detector(std::string_view id) const;
  // Parameter `name` of detector `id`: the rule's value, else the default from kDetectorParams.
  // Dies (assert) on a name that is not in kDetectorParams: a programming error. It aborts in
  // every build type, since a made-up value would silently change what the detector reports.
  double Param(std::string_view id, std::string_view name) const;
};

// Workloads per rule set: half the kernel's mask bits, so that a reload (SIGHUP) can write the
// new set into the other half beside the live one and switch between them with one map update.
inline constexpr uint32_t kMaxWorkloads = SLUICE_MAX_WORKLOADS / 2;

struct RuleError {
  SourceLocation loc;
  std::string message;

  // "file:line:col: message", or "file: message" for errors without a position.
  std::string ToString() const;
};

struct LoadResult {
  RuleSet rules;  // empty whenever errors is not empty
  std::vector<RuleError> errors;

  bool ok() const { return errors.empty(); }
};

// Loads a rule file, or every *.yaml / *.yml file of a directory (non-recursive, sorted by name,
// hidden files skipped). Workload ids follow file order, then rule order. Every error of every
// file is reported; none of them is fatal to the process and nothing throws.
LoadResult LoadRules(const std::string& path);

// Parses one file's text; file_name only labels the locations.
LoadResult ParseRules(std::string_view yaml_text, const std::string& file_name);

// On a reload: gives each file class of `next` the id the class of the same name has in
// `previous`, and new classes ids that `previous` did not use where possible, so that a sensitive
// file the kernel already tagged keeps its class. Ids stay in 1..SLUICE_MAX_FILE_CLASSES-1 and
// distinct (LoadRules allows at most that many classes).
void KeepFileClassIds(const RuleSet& previous, RuleSet* next);

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_RULES_H_
