#include "agent/output/incident_report.h"

#include <algorithm>
#include <initializer_list>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sluice::output {

namespace {

using json = nlohmann::json;

// What the engine appends to a finding's description when it severed the flow (engine.cc);
// OCSF has no field that says so.
constexpr char kSeveredPhrase[] = "The flow was severed";

// The value at a path of object keys, or null when any step is missing: alerts in the log may come
// from older or newer versions, so no field is assumed present.
const json* Find(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::string Str(const json& j, std::initializer_list<const char*> path) {
  const json* v = Find(j, path);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

uint64_t Uint(const json& j, std::initializer_list<const char*> path, uint64_t fallback) {
  const json* v = Find(j, path);
  if (v == nullptr) return fallback;
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  if (v->is_number_integer() && v->get<int64_t>() >= 0) return v->get<int64_t>();
  return fallback;
}

std::string HostPort(const ReportDestination& d) {
  const bool v6 = d.ip.find(':') != std::string::npos;
  std::string host = v6 ? absl::StrCat("[", d.ip, "]") : d.ip;
  return d.port != 0 ? absl::StrCat(host, ":", d.port) : host;
}

std::vector<std::string> Sorted(const std::set<std::string>& s) { return {s.begin(), s.end()}; }

TimelineEntry EntryOf(const json& a) {
  TimelineEntry e;
  e.detector = Str(a, {"finding_info", "analytic", "name"});
  e.workload = Str(a, {"actor", "app_name"});
  if (e.workload.empty()) e.workload = Str(a, {"unmapped", "sluice", "workload", "name"});
  e.destination.ip = Str(a, {"dst_endpoint", "ip"});
  e.destination.port = static_cast<uint32_t>(std::min<uint64_t>(
      Uint(a, {"dst_endpoint", "port"}, 0), 65535));
  std::set<std::string> names;
  if (std::string h = Str(a, {"dst_endpoint", "hostname"}); !h.empty()) names.insert(h);
  if (const json* dn = Find(a, {"unmapped", "sluice", "destination_names"});
      dn != nullptr && dn->is_array()) {
    for (const json& n : *dn) {
      if (n.is_string() && !n.get_ref<const std::string&>().empty()) names.insert(n.get<std::string>());
    }
  }
  if (std::string sni = Str(a, {"unmapped", "sluice", "tls", "sni"}); !sni.empty()) {
    names.insert(sni);
  }
  e.destination.names = Sorted(names);
  e.disposition = Str(a, {"disposition"});
  e.severity = Str(a, {"severity"});
  e.title = Str(a, {"finding_info", "title"});
  if (e.title.empty()) e.title = Str(a, {"message"});
  e.count = std::max<uint64_t>(Uint(a, {"count"}, 1), 1);
  e.bytes_out = Uint(a, {"unmapped", "sluice", "traffic", "bytes_out"}, 0);
  e.severed = Str(a, {"finding_info", "desc"}).find(kSeveredPhrase) != std::string::npos;
  return e;
}

// --- Markdown ----------------------------------------------------------------------------------

// Alert text comes from the watched host (process names, DNS names, titles built from them): it
// is escaped so that it cannot add table cells, links, HTML or emphasis to the report.
std::string Md(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '\\': case '`': case '*': case '_': case '[': case ']': case '<': case '>':
      case '|': case '#': case '!':
        out.push_back('\\');
        out.push_back(c);
        break;
      case '\n': case '\r': case '\t':
        out.push_back(' ');
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string MdDestination(const ReportDestination& d) {
  if (d.ip.empty() && d.port == 0) return "-";
  std::string out = Md(HostPort(d));
  if (!d.names.empty()) absl::StrAppend(&out, " (", Md(absl::StrJoin(d.names, ", ")), ")");
  return out;
}

std::string MdList(const std::vector<std::string>& items) {
  if (items.empty()) return "-";
  return Md(absl::StrJoin(items, ", "));
}

void Row(std::string& out, std::initializer_list<std::string> cells) {
  absl::StrAppend(&out, "| ", absl::StrJoin(cells, " | "), " |\n");
}

json DestinationJson(const ReportDestination& d) {
  return {{"ip", d.ip}, {"port", d.port}, {"names", d.names}};
}

json EntryJson(const TimelineEntry& e) {
  json j = {{"time", FormatReportTime(e.time_ms)},
            {"time_ms", e.time_ms},
            {"detector", e.detector},
            {"workload", e.workload},
            {"disposition", e.disposition},
            {"severity", e.severity},
            {"title", e.title},
            {"count", e.count},
            {"bytes_out", e.bytes_out},
            {"severed", e.severed}};
  j["destination"] = (e.destination.ip.empty() && e.destination.port == 0)
                         ? json(nullptr)
                         : DestinationJson(e.destination);
  return j;
}

}  // namespace

std::string FormatReportTime(int64_t epoch_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(epoch_ms),
                          absl::UTCTimeZone());
}

IncidentReport BuildReport(const std::vector<json>& alerts, int64_t since_ms, int64_t until_ms) {
  IncidentReport r;
  r.since_ms = since_ms;
  r.until_ms = until_ms;
  r.generated_ms = absl::ToUnixMillis(absl::Now());

  struct WorkloadAcc {
    WorkloadSummary s;
    std::set<std::string> detectors, destinations;
  };
  struct DestinationAcc {
    DestinationSummary s;
    std::set<std::string> names, workloads;
  };
  std::map<std::string, WorkloadAcc> workloads;
  std::map<std::pair<std::string, uint32_t>, DestinationAcc> destinations;
  std::map<std::string, std::set<std::string>> fingerprints;

  for (const json& a : alerts) {
    const json* time = Find(a, {"time"});
    if (time == nullptr || !time->is_number_integer()) {
      ++r.undated;
      continue;
    }
    const int64_t t = time->get<int64_t>();
    if (t < since_ms || t > until_ms) continue;
    TimelineEntry e = EntryOf(a);
    e.time_ms = t;

    ++r.alerts;
    r.occurrences += e.count;
    r.bytes_out += e.bytes_out;
    ++r.detectors[e.detector];

    if (e.detector == kEnforcementDetector) {
      if (e.disposition == "Blocked") ++r.actions.quarantines;
      if (e.disposition == "Would block") ++r.actions.would_quarantine;
      r.actions.enforcement.push_back(e);
    } else {
      if (!r.detection_ms.has_value() || t < *r.detection_ms) r.detection_ms = t;
      if (e.disposition == "Blocked") ++r.actions.blocked;
      if (e.disposition == "Would block") ++r.actions.would_block;
      if (e.disposition == "Allowed") ++r.actions.allowed;
      if (e.severed) ++r.actions.severed_flows;
    }

    const bool has_destination = !e.destination.ip.empty() || e.destination.port != 0;
    if (!e.workload.empty()) {
      WorkloadAcc& w = workloads[e.workload];
      w.s.name = e.workload;
      ++w.s.alerts;
      w.s.occurrences += e.count;
      w.s.bytes_out += e.bytes_out;
      if (!e.detector.empty()) w.detectors.insert(e.detector);
      if (has_destination) w.destinations.insert(HostPort(e.destination));
    }
    if (has_destination) {
      DestinationAcc& d = destinations[{e.destination.ip, e.destination.port}];
      d.s.destination.ip = e.destination.ip;
      d.s.destination.port = e.destination.port;
      d.names.insert(e.destination.names.begin(), e.destination.names.end());
      ++d.s.alerts;
      d.s.bytes_out += e.bytes_out;
      if (!e.workload.empty()) d.workloads.insert(e.workload);
    }
    if (const json* data = Find(a, {"unmapped", "sluice", "data"});
        data != nullptr && data->is_array()) {
      std::set<std::string> kinds_here;
      for (const json& m : *data) {
        const std::string kind = Str(m, {"kind"});
        if (kind.empty()) continue;
        DataSummary& ds = r.data[kind];
        ds.matches += Uint(m, {"count"}, 0);
        if (kinds_here.insert(kind).second) ++ds.alerts;
        if (const json* fps = Find(m, {"fingerprints"}); fps != nullptr && fps->is_array()) {
          for (const json& fp : *fps) {
            if (fp.is_string()) fingerprints[kind].insert(fp.get<std::string>());
          }
        }
      }
    }
    r.timeline.push_back(std::move(e));
  }

  if (r.detection_ms.has_value()) {
    r.gdpr_art33_due_ms = *r.detection_ms + kGdprArt33DeadlineMs;
    r.nis2_early_warning_due_ms = *r.detection_ms + kNis2EarlyWarningDeadlineMs;
  }
  auto by_time = [](const TimelineEntry& x, const TimelineEntry& y) {
    return x.time_ms < y.time_ms;
  };
  std::stable_sort(r.timeline.begin(), r.timeline.end(), by_time);
  std::stable_sort(r.actions.enforcement.begin(), r.actions.enforcement.end(), by_time);
  for (auto& [name, w] : workloads) {
    w.s.detectors = Sorted(w.detectors);
    w.s.destinations = Sorted(w.destinations);
    r.workloads.push_back(std::move(w.s));
  }
  for (auto& [key, d] : destinations) {
    d.s.destination.names = Sorted(d.names);
    d.s.workloads = Sorted(d.workloads);
    r.destinations.push_back(std::move(d.s));
  }
  for (auto& [kind, fps] : fingerprints) r.data[kind].distinct_fingerprints = fps.size();
  return r;
}

std::string RenderMarkdown(const IncidentReport& r) {
  std::string out = "# sluice incident report\n\n";
  const ReportSource& src = r.source;
  if (!src.verified) {
    absl::StrAppend(
        &out, "> **WARNING: THE EVIDENCE LOG DID NOT VERIFY.** The hash chain of ",
        Md(src.evidence_file), " is broken at record ", src.bad_record, ": ", Md(src.problem),
        ". The alerts below were read from a log that has been altered or damaged: do not rely "
        "on them as evidence until the cause is established.\n\n");
  }
  absl::StrAppend(&out, "- Window: ", FormatReportTime(r.since_ms), " to ",
                  FormatReportTime(r.until_ms), " (UTC)\n");
  absl::StrAppend(&out, "- Generated: ", FormatReportTime(r.generated_ms), "\n");
  absl::StrAppend(&out, "- Evidence log: ", Md(src.evidence_file), "\n");
  if (src.verified) {
    absl::StrAppend(&out, "- Hash chain: verified intact (", src.records, " records)",
                    src.head_checked ? ""
                                     : "; no head file beside the log, so a cut tail could not "
                                       "be detected",
                    "\n");
  } else {
    absl::StrAppend(&out, "- Hash chain: BROKEN at record ", src.bad_record, " (",
                    src.records, " records read)\n");
  }

  out += "\n## Summary\n\n";
  if (r.alerts == 0) {
    absl::StrAppend(&out, "No alerts in this window: sluice reported nothing between ",
                    FormatReportTime(r.since_ms), " and ", FormatReportTime(r.until_ms), ".\n");
  } else {
    absl::StrAppend(&out, "- Alerts: ", r.alerts, " (", r.occurrences, " occurrences)\n");
    std::vector<std::string> detectors;
    for (const auto& [name, n] : r.detectors) detectors.push_back(absl::StrCat(Md(name), " ", n));
    absl::StrAppend(&out, "- By detector: ", absl::StrJoin(detectors, ", "), "\n");
    absl::StrAppend(&out, "- Workloads: ", r.workloads.size(), "; destinations: ",
                    r.destinations.size(), "\n");
    absl::StrAppend(&out, "- Bytes sent out: ", r.bytes_out,
                    " (summed over the alerts; a flow that two detectors report counts twice)\n");
    if (r.detection_ms.has_value()) {
      absl::StrAppend(&out, "- Detection time: ", FormatReportTime(*r.detection_ms),
                      " (the first finding in the window)\n");
    }
  }
  if (r.undated > 0) {
    absl::StrAppend(&out, "- Left out: ", r.undated, " alert(s) without a time\n");
  }

  out += "\n## Notification deadlines\n\n";
  if (!r.detection_ms.has_value()) {
    out += "No detection in this window: no deadline runs from it.\n";
  } else {
    absl::StrAppend(
        &out,
        "Computed from the detection time, ", FormatReportTime(*r.detection_ms),
        ", taken as the time of awareness. If the organisation became aware earlier, the "
        "deadlines run from then. Whether the incident is a notifiable personal data breach or "
        "significant incident is for the controller or entity to decide.\n\n");
    Row(out, {"Obligation", "Due (UTC)"});
    Row(out, {"---", "---"});
    Row(out, {"GDPR Art. 33 notification to the supervisory authority (detection + 72 h)",
              FormatReportTime(r.gdpr_art33_due_ms)});
    Row(out, {"NIS2 Art. 23 early warning to the CSIRT or competent authority (detection + 24 h)",
              FormatReportTime(r.nis2_early_warning_due_ms)});
  }
  if (r.alerts == 0) return out;

  out += "\n## Timeline\n\n";
  Row(out, {"Time (UTC)", "Detector", "Workload", "Destination", "Disposition", "Title"});
  Row(out, {"---", "---", "---", "---", "---", "---"});
  for (const TimelineEntry& e : r.timeline) {
    std::string disposition = Md(e.disposition);
    if (e.severed) disposition += " (flow severed)";
    std::string title = Md(e.title);
    if (e.count > 1) absl::StrAppend(&title, " (x", e.count, ")");
    Row(out, {FormatReportTime(e.time_ms), Md(e.detector), e.workload.empty() ? "-" : Md(e.workload),
              MdDestination(e.destination), disposition, title});
  }

  out += "\n## Workloads\n\n";
  if (r.workloads.empty()) {
    out += "No alert names a workload.\n";
  } else {
    Row(out, {"Workload", "Alerts", "Occurrences", "Bytes out", "Detectors", "Destinations"});
    Row(out, {"---", "---:", "---:", "---:", "---", "---"});
    for (const WorkloadSummary& w : r.workloads) {
      Row(out, {Md(w.name), absl::StrCat(w.alerts), absl::StrCat(w.occurrences),
                absl::StrCat(w.bytes_out), MdList(w.detectors), MdList(w.destinations)});
    }
  }

  out += "\n## Destinations\n\n";
  if (r.destinations.empty()) {
    out += "No alert names a destination.\n";
  } else {
    Row(out, {"IP", "Port", "Names", "Alerts", "Bytes out", "Workloads"});
    Row(out, {"---", "---:", "---", "---:", "---:", "---"});
    for (const DestinationSummary& d : r.destinations) {
      Row(out, {d.destination.ip.empty() ? "-" : Md(d.destination.ip),
                d.destination.port != 0 ? absl::StrCat(d.destination.port) : "-",
                MdList(d.destination.names), absl::StrCat(d.alerts), absl::StrCat(d.bytes_out),
                MdList(d.workloads)});
    }
  }

  out += "\n## Data involved\n\n";
  if (r.data.empty()) {
    out += "No CRM record IDs or personal data were seen in the payloads sluice inspected.\n";
  } else {
    out += "Sensitive values seen in outgoing payloads, counted by kind; sluice never records the "
           "values themselves. Distinct values are counted by keyed fingerprint, a lower bound.\n\n";
    Row(out, {"Kind", "Matches", "Alerts", "Distinct values"});
    Row(out, {"---", "---:", "---:", "---:"});
    for (const auto& [kind, d] : r.data) {
      Row(out, {Md(kind), absl::StrCat(d.matches), absl::StrCat(d.alerts),
                absl::StrCat(d.distinct_fingerprints)});
    }
  }

  const ActionSummary& act = r.actions;
  out += "\n## Actions taken\n\n";
  absl::StrAppend(&out, "- Blocked: ", act.blocked, "\n");
  absl::StrAppend(&out, "- Would block (monitor mode or an unarmed rule; not stopped): ",
                  act.would_block, "\n");
  absl::StrAppend(&out, "- Allowed (detected only): ", act.allowed, "\n");
  absl::StrAppend(&out, "- Flows severed: ", act.severed_flows, "\n");
  absl::StrAppend(&out, "- Workloads quarantined: ", act.quarantines, "\n");
  absl::StrAppend(&out, "- Quarantines a rule asked for but could not apply: ",
                  act.would_quarantine, "\n");
  if (!act.enforcement.empty()) {
    out += "\n### Enforcement changes\n\n";
    Row(out, {"Time (UTC)", "Workload", "Disposition", "Title"});
    Row(out, {"---", "---", "---", "---"});
    for (const TimelineEntry& e : act.enforcement) {
      Row(out, {FormatReportTime(e.time_ms), e.workload.empty() ? "-" : Md(e.workload),
                Md(e.disposition), Md(e.title)});
    }
  }
  return out;
}

json RenderJson(const IncidentReport& r) {
  json j = json::object();
  j["report"] = "sluice incident report";
  j["generated"] = FormatReportTime(r.generated_ms);
  j["generated_ms"] = r.generated_ms;
  j["window"] = {{"since", FormatReportTime(r.since_ms)},
                 {"since_ms", r.since_ms},
                 {"until", FormatReportTime(r.until_ms)},
                 {"until_ms", r.until_ms}};
  json evidence = {{"file", r.source.evidence_file},
                   {"verified", r.source.verified},
                   {"records", r.source.records},
                   {"head_checked", r.source.head_checked}};
  if (!r.source.verified) {
    evidence["bad_record"] = r.source.bad_record;
    evidence["problem"] = r.source.problem;
  }
  j["evidence"] = std::move(evidence);
  j["summary"] = {{"alerts", r.alerts},
                  {"occurrences", r.occurrences},
                  {"undated", r.undated},
                  {"bytes_out", r.bytes_out},
                  {"detectors", r.detectors}};
  if (r.detection_ms.has_value()) {
    j["detection"] = {{"time", FormatReportTime(*r.detection_ms)},
                      {"time_ms", *r.detection_ms},
                      {"basis", "first finding in the window, enforcement changes excluded"}};
    j["deadlines"] = {
        {"basis", "computed from the detection time, taken as the time of awareness"},
        {"gdpr_art33",
         {{"due", FormatReportTime(r.gdpr_art33_due_ms)},
          {"due_ms", r.gdpr_art33_due_ms},
          {"hours", kGdprArt33DeadlineMs / 3600000}}},
        {"nis2_early_warning",
         {{"due", FormatReportTime(r.nis2_early_warning_due_ms)},
          {"due_ms", r.nis2_early_warning_due_ms},
          {"hours", kNis2EarlyWarningDeadlineMs / 3600000}}}};
  } else {
    j["detection"] = nullptr;
    j["deadlines"] = nullptr;
  }
  json timeline = json::array();
  for (const TimelineEntry& e : r.timeline) timeline.push_back(EntryJson(e));
  j["timeline"] = std::move(timeline);
  json workloads = json::array();
  for (const WorkloadSummary& w : r.workloads) {
    workloads.push_back({{"name", w.name},
                         {"alerts", w.alerts},
                         {"occurrences", w.occurrences},
                         {"bytes_out", w.bytes_out},
                         {"detectors", w.detectors},
                         {"destinations", w.destinations}});
  }
  j["workloads"] = std::move(workloads);
  json destinations = json::array();
  for (const DestinationSummary& d : r.destinations) {
    json dj = DestinationJson(d.destination);
    dj["alerts"] = d.alerts;
    dj["bytes_out"] = d.bytes_out;
    dj["workloads"] = d.workloads;
    destinations.push_back(std::move(dj));
  }
  j["destinations"] = std::move(destinations);
  json data = json::object();
  for (const auto& [kind, d] : r.data) {
    data[kind] = {{"matches", d.matches},
                  {"alerts", d.alerts},
                  {"distinct_fingerprints", d.distinct_fingerprints}};
  }
  j["data"] = std::move(data);
  json enforcement = json::array();
  for (const TimelineEntry& e : r.actions.enforcement) enforcement.push_back(EntryJson(e));
  j["actions"] = {{"blocked", r.actions.blocked},
                  {"would_block", r.actions.would_block},
                  {"allowed", r.actions.allowed},
                  {"severed_flows", r.actions.severed_flows},
                  {"quarantines", r.actions.quarantines},
                  {"would_quarantine", r.actions.would_quarantine},
                  {"enforcement", std::move(enforcement)}};
  return j;
}

}  // namespace sluice::output
