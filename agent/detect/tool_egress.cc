#include "agent/detect/tool_egress.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"

namespace sluice::detect {
namespace {

// Debian's `nc` is a symlink to nc.openbsd or nc.traditional: the process runs (and /proc names)
// the target, so both names are listed.
constexpr std::array<absl::string_view, 24> kTools = {
    "curl", "wget",   "scp",           "sftp",   "rsync", "rclone", "aws",    "gsutil",
    "gcloud", "az",   "s3cmd",         "nc",     "ncat",  "netcat", "socat",  "ftp",
    "lftp",   "ssh",  "telnet",        "mc",     "azcopy", "httpie", "nc.openbsd",
    "nc.traditional"};

// Roles that run services, not operators: a tool under them is not routine.
bool ServiceRole(const std::string& role) {
  return role == "llm-inference" || role == "crm-sync" || role == "vector-db";
}

}  // namespace

const DetectorSpec& ToolEgressDetector::Spec() {
  static const DetectorSpec spec{"tool_egress", "Transfer tool egress", Severity::kMedium,
                                 {"T1105", "T1048"}, /*severs=*/false};
  return spec;
}

absl::string_view ToolEgressDetector::ToolName(absl::string_view exe_path) {
  auto it = std::find(kTools.begin(), kTools.end(), Basename(exe_path));
  return it == kTools.end() ? absl::string_view() : *it;
}

std::optional<Alert> ToolEgressDetector::Evaluate(const RuleSet& rules,
                                                  const ToolConnect& obs) const {
  const DetectorSpec& spec = Spec();
  if (!DetectorEnabled(rules, spec)) return std::nullopt;
  if (obs.subject.rule == nullptr || !ServiceRole(obs.subject.rule->role)) return std::nullopt;
  if (IsLoopback(obs.peer.ip)) return std::nullopt;
  const absl::string_view tool = ToolName(obs.subject.process.Image());
  if (tool.empty()) return std::nullopt;
  if (ExceptionFor(rules, spec, obs.subject, &obs.peer) != nullptr) return std::nullopt;
  Alert a = NewFinding(rules, spec, obs.subject, &obs.peer);
  if (!obs.allowed && !SeverityOverridden(rules, spec)) a.severity = Severity::kHigh;
  a.title = absl::StrCat(tool, " in workload ", a.workload.name, " connected to ",
                         obs.peer.Label());
  a.description = absl::StrCat(
      ProcessLabel(obs.subject.process),
      obs.parent_exe.empty() ? "" : absl::StrCat(", started by ", obs.parent_exe), ", runs in ",
      obs.subject.rule->role, " workload ", a.workload.name, " and connected to ",
      obs.peer.Label(),
      obs.allowed ? " (an allowed destination, but services do not shell out to transfer tools)."
                  : ", which is not on the workload's egress allowlist.");
  return a;
}

}  // namespace sluice::detect
