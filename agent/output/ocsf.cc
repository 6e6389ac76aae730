#include "agent/output/ocsf.h"

#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace sluice::output {

#ifdef SLUICE_VERSION
const char kSluiceVersion[] = SLUICE_VERSION;
#else
const char kSluiceVersion[] = "0.0.0";
#endif

namespace {

using json = nlohmann::json;

constexpr int kClassUid = 2004;     // Detection Finding
constexpr int kCategoryUid = 2;     // Findings
constexpr int kActivityCreate = 1;  // every alert is a new finding; sluice never updates one

// MITRE ATT&CK ids the detectors use (DESIGN §5), with their names and tactics. An id not listed
// here is still reported, by uid only: a wrong name would be worse than none.
struct Tactic {
  const char* uid;
  const char* name;
};
constexpr Tactic kExfiltration = {"TA0010", "Exfiltration"};
constexpr Tactic kCollection = {"TA0009", "Collection"};
constexpr Tactic kCredentialAccess = {"TA0006", "Credential Access"};
constexpr Tactic kCommandAndControl = {"TA0011", "Command and Control"};

struct KnownTechnique {
  std::string_view uid;
  const char* name;
  const Tactic* tactic;
};
constexpr KnownTechnique kTechniques[] = {
    {"T1041", "Exfiltration Over C2 Channel", &kExfiltration},
    {"T1048", "Exfiltration Over Alternative Protocol", &kExfiltration},
    {"T1567", "Exfiltration Over Web Service", &kExfiltration},
    {"T1030", "Data Transfer Size Limits", &kExfiltration},
    {"T1020", "Automated Exfiltration", &kExfiltration},
    {"T1005", "Data from Local System", &kCollection},
    {"T1560", "Archive Collected Data", &kCollection},
    {"T1552", "Unsecured Credentials", &kCredentialAccess},
    {"T1071", "Application Layer Protocol", &kCommandAndControl},
};

struct KnownSubTechnique {
  std::string_view uid;
  const char* name;
};
constexpr KnownSubTechnique kSubTechniques[] = {
    {"T1071.001", "Web Protocols"},
    {"T1071.004", "DNS"},
    {"T1048.003", "Exfiltration Over Unencrypted Non-C2 Protocol"},
    {"T1567.002", "Exfiltration to Cloud Storage"},
    {"T1552.001", "Credentials In Files"},
    {"T1560.001", "Archive via Utility"},
};

// One OCSF attack object. A sub-technique id ("T1071.004") is reported as its parent technique
// plus a sub_technique object, as OCSF 1.1 models it; the tactic comes from the parent.
json AttackObject(const std::string& id) {
  const std::string_view full = id;
  const std::string_view parent = full.substr(0, full.find('.'));
  json attack = json::object();
  const KnownTechnique* known = nullptr;
  for (const auto& t : kTechniques) {
    if (t.uid == parent) known = &t;
  }
  json technique = {{"uid", std::string(parent)}};
  if (known != nullptr) technique["name"] = known->name;
  attack["technique"] = std::move(technique);
  if (parent.size() != full.size()) {
    json sub = {{"uid", id}};
    for (const auto& s : kSubTechniques) {
      if (s.uid == full) sub["name"] = s.name;
    }
    attack["sub_technique"] = std::move(sub);
  }
  if (known != nullptr) {
    attack["tactic"] = {{"uid", known->tactic->uid}, {"name", known->tactic->name}};
  }
  return attack;
}

const char* SeverityName(int id) {
  switch (id) {
    case 1: return "Informational";
    case 2: return "Low";
    case 3: return "Medium";
    case 4: return "High";
    case 5: return "Critical";
    case 6: return "Fatal";
    default: return "Unknown";
  }
}

struct DispositionFields {
  int disposition_id;
  int action_id;
  const char* action;
};

DispositionFields Disposition(detect::Disposition d) {
  switch (d) {
    case detect::Disposition::kAllowed:
      return {1, 1, "Allowed"};
    case detect::Disposition::kBlocked:
      return {2, 2, "Denied"};
    case detect::Disposition::kWouldBlock:
      // OCSF 1.1 has no "would block": the closest captions (Allowed, Logged, Alert) lose the
      // fact that enforcement would have denied it. So the id is 99 Other, and per OCSF's rule
      // for Other the caption carries the source's own value, "Would block"; action likewise.
      return {99, 99, "Would block"};
  }
  return {0, 0, "Unknown"};
}

std::string Hostname(const ProductInfo& product) {
  if (!product.hostname.empty()) return product.hostname;
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

int ProtocolNumber(const std::string& name) {
  if (name == "tcp") return 6;
  if (name == "udp") return 17;
  return -1;
}

// An OCSF file object for a path; `name` is required there, so a path without a final component
// ("/var/cache/") names itself.
json FileObject(const std::string& path) {
  std::string name = Basename(path);
  if (name.empty()) name = path;
  return {{"path", path}, {"name", std::move(name)}, {"type_id", 1}, {"type", "Regular File"}};
}

json ProcessObject(const detect::ProcessInfo& p) {
  json process = {{"pid", p.pid}};
  const std::string name = !p.comm.empty() ? p.comm : Basename(p.exe);
  if (!name.empty()) process["name"] = name;
  if (!p.cmdline.empty()) process["cmd_line"] = p.cmdline;
  if (!p.exe.empty()) process["file"] = FileObject(p.exe);
  // OCSF's user.uid is a string (it also carries SIDs and cloud ids).
  process["user"] = {{"uid", std::to_string(p.uid)}};
  if (p.ppid != 0) process["parent_process"] = {{"pid", p.ppid}};
  return process;
}

// Evidence artifacts OCSF 1.1 has objects for: each sensitive file by path, and the domain a DNS
// finding is about. How much was read from each file has no OCSF attribute (file.size is the
// file's size); it goes to unmapped.sluice.files.
json Evidences(const detect::Alert& alert) {
  json evidences = json::array();
  for (const detect::FileAccess& file : alert.files) {
    if (file.path.empty()) continue;  // inode only: nothing to name the file object by
    evidences.push_back({{"file", FileObject(file.path)}});
  }
  if (!alert.dns_domain.empty()) {
    evidences.push_back({{"query", {{"hostname", alert.dns_domain}}}});
  }
  return evidences;
}

// What the finding is about that OCSF 1.1 has no place for in a Detection Finding: per-file byte
// counts, flow byte counts (shaped like OCSF's Network Traffic object, which only network
// activity classes carry), the application protocol, the TLS server name and the sensitive-data
// matches. Added to `sluice` only when the detector filled them.
void AddUnmappedEvidence(const detect::Alert& alert, json& sluice) {
  if (!alert.files.empty()) {
    json files = json::array();
    for (const detect::FileAccess& file : alert.files) {
      files.push_back({{"path", file.path},
                       {"file_class", file.file_class},
                       {"bytes_read", file.bytes_read},
                       {"bytes_mapped", file.bytes_mapped}});
    }
    sluice["files"] = std::move(files);
  }
  if (alert.bytes_out != 0 || alert.bytes_in != 0) {
    sluice["traffic"] = {{"bytes_out", alert.bytes_out}, {"bytes_in", alert.bytes_in}};
  }
  if (!alert.app_protocol.empty()) sluice["app_protocol"] = alert.app_protocol;
  if (!alert.sni.empty()) sluice["tls"] = {{"sni", alert.sni}};
  if (alert.encrypted) sluice["encrypted"] = true;
  if (!alert.data.empty()) {
    // Kinds, counts and keyed fingerprints only: the matched values never leave the agent.
    json data = json::array();
    for (const detect::DataMatch& match : alert.data) {
      json entry = {{"kind", match.kind}, {"count", match.count}};
      if (!match.fingerprints.empty()) entry["fingerprints"] = match.fingerprints;
      data.push_back(std::move(entry));
    }
    sluice["data"] = std::move(data);
  }
}

}  // namespace

json RenderDetectionFinding(const detect::Alert& alert, const ProductInfo& product) {
  json f = json::object();
  f["class_uid"] = kClassUid;
  f["class_name"] = "Detection Finding";
  f["category_uid"] = kCategoryUid;
  f["category_name"] = "Findings";
  f["activity_id"] = kActivityCreate;
  f["activity_name"] = "Create";
  f["type_uid"] = kClassUid * 100 + kActivityCreate;
  f["type_name"] = "Detection Finding: Create";

  int64_t time_ms = alert.time_ms;
  if (time_ms <= 0) {
    // Every finding needs a time; "now" is closer to the truth than 1970.
    time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  }
  f["time"] = time_ms;

  const int severity_id = static_cast<int>(alert.severity);
  f["severity_id"] = (severity_id >= 1 && severity_id <= 6) ? severity_id : 0;
  f["severity"] = SeverityName(severity_id);
  f["status_id"] = 1;
  f["status"] = "New";
  f["message"] = alert.title;

  json metadata = {{"version", "1.1.0"},
                   {"product",
                    {{"name", product.name},
                     {"vendor_name", product.vendor_name},
                     {"version", product.version}}},
                   {"profiles", json::array({"host", "security_control"})}};
  if (!alert.uid.empty()) metadata["uid"] = alert.uid;
  f["metadata"] = std::move(metadata);

  json attacks = json::array();
  for (const auto& id : alert.attack_techniques) attacks.push_back(AttackObject(id));

  json finding = {{"uid", alert.uid},
                  {"title", alert.title},
                  {"types", json::array({alert.detector})},
                  {"analytic",
                   {{"name", alert.detector},
                    {"uid", alert.detector},
                    {"type_id", 1},
                    {"type", "Rule"}}}};
  if (!alert.description.empty()) finding["desc"] = alert.description;
  if (!attacks.empty()) finding["attacks"] = attacks;
  if (alert.first_seen_ms > 0) finding["first_seen_time"] = alert.first_seen_ms;
  if (alert.last_seen_ms > 0) finding["last_seen_time"] = alert.last_seen_ms;
  f["finding_info"] = std::move(finding);
  // An aggregated alert (detect/aggregator.h) stands for `count` occurrences; OCSF's count is
  // defined over start_time..end_time, so those come with it. An alert the aggregator never saw
  // (count 1, no seen times) renders without them.
  if (alert.count != 1 || alert.first_seen_ms > 0 || alert.last_seen_ms > 0) {
    f["count"] = std::max<uint64_t>(alert.count, 1);
    if (alert.first_seen_ms > 0) f["start_time"] = alert.first_seen_ms;
    if (alert.last_seen_ms > 0) f["end_time"] = alert.last_seen_ms;
  }
  // The security_control profile carries attacks at the top level too; OCSF asks producers that
  // are security controls to duplicate them into finding_info, as done above.
  if (!attacks.empty()) f["attacks"] = std::move(attacks);

  const DispositionFields d = Disposition(alert.disposition);
  f["disposition_id"] = d.disposition_id;
  f["disposition"] = detect::DispositionName(alert.disposition);
  f["action_id"] = d.action_id;
  f["action"] = d.action;

  json device = {{"type_id", 1}, {"type", "Server"}};  // sluice watches server hosts (§1)
  if (std::string host = Hostname(product); !host.empty()) device["hostname"] = std::move(host);
  f["device"] = std::move(device);

  f["actor"] = {{"process", ProcessObject(alert.process)}};
  if (!alert.workload.name.empty()) f["actor"]["app_name"] = alert.workload.name;

  const detect::Endpoint& dst = alert.destination;
  if (!dst.ip.empty() || dst.port != 0) {
    json endpoint = json::object();
    if (!dst.ip.empty()) endpoint["ip"] = dst.ip;
    if (dst.port != 0) endpoint["port"] = dst.port;
    if (!dst.names.empty() && !dst.names.front().empty()) {
      endpoint["hostname"] = dst.names[0];
    } else if (!alert.sni.empty()) {
      // No DNS answer led here (a hard-coded or cached address): the name the client asked the
      // TLS server for is the best hostname there is, and the one a SOC searches by.
      endpoint["hostname"] = alert.sni;
    }
    f["dst_endpoint"] = std::move(endpoint);
  }
  if (!dst.protocol.empty()) {
    // Every destination sluice reports is one the watched host connects or sends to.
    json conn = {{"protocol_name", dst.protocol}, {"direction_id", 2}, {"direction", "Outbound"}};
    if (int num = ProtocolNumber(dst.protocol); num >= 0) conn["protocol_num"] = num;
    f["connection_info"] = std::move(conn);
  }

  f["unmapped"] = {{"sluice",
                    {{"workload",
                      {{"name", alert.workload.name},
                       {"role", alert.workload.role},
                       {"cgroup_path", alert.workload.cgroup_path},
                       {"cgroup_id", alert.workload.cgroup_id}}},
                     {"rule_mode", alert.rule_mode},
                     {"connect_result", alert.connect_result},
                     {"destination_names", dst.names}}}};
  AddUnmappedEvidence(alert, f["unmapped"]["sluice"]);
  if (json evidences = Evidences(alert); !evidences.empty()) f["evidences"] = std::move(evidences);
  return f;
}

std::string RenderLine(const detect::Alert& alert, const ProductInfo& product) {
  // dump() throws on invalid UTF-8 unless told otherwise; replacing keeps the line and flags
  // the bytes (U+FFFD) where a SIEM will show them.
  return RenderDetectionFinding(alert, product)
      .dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
}

}  // namespace sluice::output
