#include "agent/detect/token_misuse.h"

#include "absl/strings/str_cat.h"

namespace sluice::detect {

const DetectorSpec& TokenMisuseDetector::Spec() {
  static const DetectorSpec spec{"token_misuse", "CRM credential misuse", Severity::kCritical,
                                 {"T1552", "T1550.001"}, /*severs=*/true};
  return spec;
}

std::optional<Alert> TokenMisuseDetector::Evaluate(
    const RuleSet& rules, const PayloadWrite& write,
    const std::optional<TokenOwner>& first_owner) const {
  const DetectorSpec& spec = Spec();
  if (!DetectorEnabled(rules, spec)) return std::nullopt;
  if (IsLoopback(write.peer.ip)) return std::nullopt;
  const uint64_t tokens =
      MatchCount(write.data, "bearer_token") + MatchCount(write.data, "api_key");
  if (tokens == 0) return std::nullopt;
  const bool wrong_host = !write.crm_peer;
  if (!wrong_host && !first_owner) return std::nullopt;
  if (ExceptionFor(rules, spec, write.subject, &write.peer) != nullptr) return std::nullopt;

  Alert a = NewFinding(rules, spec, write.subject, &write.peer);
  a.encrypted = true;
  a.app_protocol = write.app_protocol;
  for (const DataMatch& m : write.data) {
    if (m.kind == "bearer_token" || m.kind == "api_key") a.data.push_back(m);
  }
  a.title = wrong_host ? absl::StrCat("CRM credential sent from workload ", a.workload.name,
                                      " to non-CRM host ", write.peer.Label())
                       : absl::StrCat("CRM credential reused by workload ", a.workload.name);
  std::string why;
  if (wrong_host) {
    why = absl::StrCat(write.peer.Label(), " is not a CRM endpoint");
  }
  if (first_owner) {
    absl::StrAppend(&why, why.empty() ? "" : "; ", "the same credential was first used by ",
                    first_owner->exe.empty() ? "pid" : first_owner->exe, " (pid ",
                    first_owner->pid, ") of workload ", first_owner->workload);
  }
  a.description = absl::StrCat(ProcessLabel(write.subject.process), " in workload ",
                               a.workload.name, " sent ", tokens,
                               " bearer token(s) / API key(s) in TLS plaintext to ",
                               write.peer.Label(), ": ", why, ".");
  return a;
}

}  // namespace sluice::detect
