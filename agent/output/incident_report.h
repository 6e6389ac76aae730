// Incident reports from the evidence log (DESIGN §7, `sluicectl report`): what left, from which
// workload, to where, how much and what kind of customer data, what sluice did about it, and the
// notification deadlines that run from detection. Built from the OCSF alerts the log holds (the
// fields ocsf.cc renders); data matches are reported as counts per kind, never values.
#ifndef SLUICE_AGENT_OUTPUT_INCIDENT_REPORT_H_
#define SLUICE_AGENT_OUTPUT_INCIDENT_REPORT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace sluice::output {

// GDPR Art. 33(1): notify the supervisory authority not later than 72 hours after becoming
// aware. NIS2 Art. 23(4)(a): an early warning within 24 hours of becoming aware.
inline constexpr int64_t kGdprArt33DeadlineMs = 72LL * 3600 * 1000;
inline constexpr int64_t kNis2EarlyWarningDeadlineMs = 24LL * 3600 * 1000;

// The detector id of the findings that report enforcement changes (quarantine and so on).
inline constexpr char kEnforcementDetector[] = "enforcement";

struct ReportDestination {
  std::string ip;
  uint32_t port = 0;
  std::vector<std::string> names;  // DNS names and TLS server name, sorted, unique
};

struct TimelineEntry {
  int64_t time_ms = 0;
  std::string detector;
  std::string workload;  // "" when the finding has none (disarm, arm)
  ReportDestination destination;
  std::string disposition;  // "Allowed", "Blocked", "Would block"
  std::string severity;
  std::string title;
  uint64_t count = 1;  // occurrences an aggregated alert stands for
  uint64_t bytes_out = 0;
  bool severed = false;  // the engine severed the flow
};

struct WorkloadSummary {
  std::string name;
  uint64_t alerts = 0;
  uint64_t occurrences = 0;
  uint64_t bytes_out = 0;
  std::vector<std::string> detectors;     // sorted, unique
  std::vector<std::string> destinations;  // "ip:port", sorted, unique
};

struct DestinationSummary {
  ReportDestination destination;
  uint64_t alerts = 0;
  uint64_t bytes_out = 0;
  std::vector<std::string> workloads;  // sorted, unique
};

// One kind of sensitive data (crm_record_id, email, phone, bearer_token, ...).
struct DataSummary {
  uint64_t matches = 0;                // sum of the alerts' match counts
  uint64_t alerts = 0;                 // alerts that saw this kind
  uint64_t distinct_fingerprints = 0;  // distinct keyed fingerprints: a floor on distinct values
};

struct ActionSummary {
  uint64_t blocked = 0;      // findings with disposition Blocked (enforcement changes excluded)
  uint64_t would_block = 0;  // ... Would block
  uint64_t allowed = 0;      // ... Allowed
  uint64_t severed_flows = 0;
  uint64_t quarantines = 0;       // enforcement findings that quarantined (Blocked)
  uint64_t would_quarantine = 0;  // enforcement findings a rule wanted but could not (Would block)
  std::vector<TimelineEntry> enforcement;  // every enforcement change, in time order
};

// Where the alerts came from; the caller fills it (BuildReport sees only alerts).
struct ReportSource {
  std::string evidence_file;
  bool verified = false;  // the chain verified intact
  uint64_t records = 0;
  uint64_t bad_record = 0;
  std::string problem;  // why it did not verify
  bool head_checked = true;  // false: a log file without its head, so a cut tail went unseen
};

struct IncidentReport {
  int64_t since_ms = 0;
  int64_t until_ms = 0;
  int64_t generated_ms = 0;
  ReportSource source;

  uint64_t alerts = 0;       // alerts in the window
  uint64_t occurrences = 0;  // sum of their counts
  uint64_t undated = 0;      // alerts without a time, left out
  uint64_t bytes_out = 0;    // summed over alerts (a flow two detectors report counts twice)
  std::map<std::string, uint64_t> detectors;  // alerts per detector

  // The first finding in the window other than an enforcement change: a quarantine, unblock,
  // disarm or arm is an action, not a detection. Unset: nothing was detected.
  std::optional<int64_t> detection_ms;
  int64_t gdpr_art33_due_ms = 0;         // detection + 72 h (when detection_ms is set)
  int64_t nis2_early_warning_due_ms = 0;  // detection + 24 h

  std::vector<TimelineEntry> timeline;  // time order (log order for equal times)
  std::vector<WorkloadSummary> workloads;        // by name
  std::vector<DestinationSummary> destinations;  // by ip, then port
  std::map<std::string, DataSummary> data;       // by kind
  ActionSummary actions;
};

// The report over the alerts (OCSF Detection Finding objects) whose `time` lies in
// [since_ms, until_ms]; others are ignored. generated_ms is now; `source` is left empty.
IncidentReport BuildReport(const std::vector<nlohmann::json>& alerts, int64_t since_ms,
                           int64_t until_ms);

// Times in both renderings are RFC 3339 UTC with milliseconds ("2026-11-29T10:00:00.000Z").
std::string FormatReportTime(int64_t epoch_ms);
std::string RenderMarkdown(const IncidentReport& report);
nlohmann::json RenderJson(const IncidentReport& report);

}  // namespace sluice::output

#endif  // SLUICE_AGENT_OUTPUT_INCIDENT_REPORT_H_
