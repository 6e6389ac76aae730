#include "agent/enforce/controls.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/common/replace_file.h"
#include "agent/common/unique_fd.h"
#include "agent/detect/alert_uid.h"
#include "nlohmann/json.hpp"

namespace sluice::enforce {

const QuarantineRecord* Controls::Find(const std::string& workload) const {
  for (const QuarantineRecord& r : quarantined_) {
    if (r.workload == workload) return &r;
  }
  return nullptr;
}

bool Controls::Quarantine(QuarantineRecord record) {
  if (Find(record.workload) != nullptr) return false;
  quarantined_.push_back(std::move(record));
  return true;
}

bool Controls::Unblock(const std::string& workload) {
  auto it = std::find_if(quarantined_.begin(), quarantined_.end(),
                         [&](const QuarantineRecord& r) { return r.workload == workload; });
  if (it == quarantined_.end()) return false;
  quarantined_.erase(it);
  return true;
}

bool Controls::Disarm(std::vector<std::string>* released) {
  if (released != nullptr) {
    for (const QuarantineRecord& r : quarantined_) released->push_back(r.workload);
  }
  const bool changed = !disarmed_ || !quarantined_.empty();
  quarantined_.clear();
  disarmed_ = true;
  return changed;
}

bool Controls::Arm() {
  if (!disarmed_) return false;
  disarmed_ = false;
  return true;
}

uint32_t Controls::Flags(const std::string& workload, uint32_t compiled) const {
  uint32_t flags = compiled & ~uint32_t{SLUICE_WL_F_QUARANTINE};
  if (disarmed_) return flags & ~uint32_t{SLUICE_WL_F_ENFORCE};
  if (Find(workload) != nullptr) flags |= SLUICE_WL_F_QUARANTINE;
  return flags;
}

void Controls::ApplyTo(const detect::RuleSet& rules, CompiledPolicy* policy) const {
  for (size_t i = 0; i < policy->workloads.size() && i < rules.workloads.size(); ++i) {
    policy->workloads[i].flags = Flags(rules.workloads[i].name, policy->workloads[i].flags);
  }
}

std::string Controls::ToJson() const {
  nlohmann::json j;
  j["version"] = 1;
  j["disarmed"] = disarmed_;
  j["quarantined"] = nlohmann::json::array();
  for (const QuarantineRecord& r : quarantined_) {
    j["quarantined"].push_back(
        {{"workload", r.workload}, {"reason", r.reason}, {"by", r.by}, {"since_ms", r.since_ms}});
  }
  return j.dump(2) + "\n";
}

absl::StatusOr<Controls> Controls::FromJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("not a JSON object");
  }
  auto bad = [](const std::string& what) { return absl::InvalidArgumentError(what); };
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] != 1) {
    return bad("\"version\" must be 1");
  }
  Controls c;
  if (j.contains("disarmed")) {
    if (!j["disarmed"].is_boolean()) return bad("\"disarmed\" must be true or false");
    c.disarmed_ = j["disarmed"].get<bool>();
  }
  if (j.contains("quarantined")) {
    const nlohmann::json& q = j["quarantined"];
    if (!q.is_array()) return bad("\"quarantined\" must be a list");
    for (size_t i = 0; i < q.size(); ++i) {
      const nlohmann::json& e = q[i];
      const std::string where = absl::StrCat("quarantined[", i, "]");
      if (!e.is_object() || !e.contains("workload") || !e["workload"].is_string() ||
          e["workload"].get<std::string>().empty()) {
        return bad(absl::StrCat(where, " needs a \"workload\" name"));
      }
      QuarantineRecord r;
      r.workload = e["workload"].get<std::string>();
      if (e.contains("reason") && e["reason"].is_string()) r.reason = e["reason"].get<std::string>();
      if (e.contains("by") && e["by"].is_string()) r.by = e["by"].get<std::string>();
      if (e.contains("since_ms") && e["since_ms"].is_number_integer()) {
        r.since_ms = e["since_ms"].get<int64_t>();
      }
      if (!c.Quarantine(std::move(r))) return bad(absl::StrCat(where, " repeats a workload"));
    }
  }
  return c;
}

absl::Status Controls::Save(const std::string& path) const {
  return ReplaceFile(path, ToJson());
}

absl::StatusOr<Controls> Controls::Load(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Controls{};
    return absl::InternalError(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1u << 20)) return absl::InvalidArgumentError(absl::StrCat(path, ": too large"));
  }
  auto c = FromJson(text);
  if (!c.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", c.status().message()));
  return c;
}

detect::Alert ChangeAlert(Change change, const detect::Workload* workload, const std::string& by,
                          const std::string& reason, int64_t now_ms) {
  detect::Alert a;
  a.uid = detect::NewAlertUid();
  a.detector = "enforcement";
  a.time_ms = now_ms;
  a.first_seen_ms = now_ms;
  a.last_seen_ms = now_ms;
  const std::string name = workload != nullptr ? workload->name : "";
  if (workload != nullptr) {
    a.workload.name = workload->name;
    a.workload.role = workload->role;
    a.rule_mode = detect::ModeName(workload->mode);
  }
  const std::string why = reason.empty() ? "" : absl::StrCat(" Reason: ", reason, ".");
  switch (change) {
    case Change::kQuarantine:
      a.title = absl::StrCat("Workload ", name, " quarantined");
      a.description = absl::StrCat(
          "Workload ", name, " was quarantined by ", by,
          ": every destination but the resolvers, the sinks and its quarantine allowlist is "
          "denied, and its live flows to other destinations were severed.",
          why);
      a.severity = detect::Severity::kHigh;
      a.disposition = detect::Disposition::kBlocked;
      break;
    case Change::kWouldQuarantine:
      a.title = absl::StrCat("Workload ", name, " would be quarantined");
      a.description = absl::StrCat(
          "A rule asks for workload ", name,
          " to be quarantined, but it may not block (monitor mode, the --mode monitor ceiling, "
          "or enforcement disarmed): nothing was denied.",
          why);
      a.severity = detect::Severity::kHigh;
      a.disposition = detect::Disposition::kWouldBlock;
      break;
    case Change::kUnblock:
      a.title = absl::StrCat("Workload ", name, " released from quarantine");
      a.description =
          absl::StrCat("Workload ", name, " was released from quarantine by ", by,
                       ": its rules decide its egress again.", why);
      a.severity = detect::Severity::kMedium;
      a.disposition = detect::Disposition::kAllowed;
      break;
    case Change::kDisarm:
      a.title = "Enforcement disarmed";
      a.description = absl::StrCat(
          "Enforcement was disarmed by ", by,
          ": nothing is denied or severed, quarantines are lifted, and findings say Would block "
          "until it is armed again.",
          why);
      a.severity = detect::Severity::kHigh;
      a.disposition = detect::Disposition::kAllowed;
      break;
    case Change::kArm:
      a.title = "Enforcement armed";
      a.description = absl::StrCat("Enforcement was armed by ", by,
                                   ": enforce-mode rules deny again.", why);
      a.severity = detect::Severity::kMedium;
      a.disposition = detect::Disposition::kAllowed;
      break;
  }
  return a;
}

}  // namespace sluice::enforce
