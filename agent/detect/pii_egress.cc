#include "agent/detect/pii_egress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sluice::detect {

uint64_t MatchCount(const std::vector<DataMatch>& data, absl::string_view kind) {
  for (const DataMatch& m : data) {
    if (m.kind == kind) return m.count;
  }
  return 0;
}

const DetectorSpec& PiiEgressDetector::Spec() {
  static const DetectorSpec spec{"pii_egress", "CRM data egress", Severity::kHigh,
                                 {"T1567", "T1041"}, /*severs=*/true};
  return spec;
}

std::optional<Alert> PiiEgressDetector::Evaluate(const RuleSet& rules,
                                                 const PayloadWrite& write) const {
  const DetectorSpec& spec = Spec();
  if (!DetectorEnabled(rules, spec)) return std::nullopt;
  if (write.crm_peer || write.allowed || IsLoopback(write.peer.ip)) return std::nullopt;
  const uint64_t ids = MatchCount(write.data, "crm_record_id");
  const uint64_t emails = MatchCount(write.data, "email");
  const uint64_t phones = MatchCount(write.data, "phone");
  const uint64_t total = ids + emails + phones;
  if (total == 0 || static_cast<double>(total) < rules.Param(spec.id, "min_count")) {
    return std::nullopt;
  }
  if (ExceptionFor(rules, spec, write.subject, &write.peer) != nullptr) return std::nullopt;

  Alert a = NewFinding(rules, spec, write.subject, &write.peer);
  a.encrypted = true;
  a.app_protocol = write.app_protocol;
  for (const DataMatch& m : write.data) {
    if (m.kind == "crm_record_id" || m.kind == "email" || m.kind == "phone") a.data.push_back(m);
  }
  // Ten or more record ids in a single write is a batch of records, not a stray reference.
  if (ids >= 10 && !SeverityOverridden(rules, spec)) a.severity = Severity::kCritical;
  std::vector<std::string> parts;
  if (ids > 0) parts.push_back(absl::StrCat(ids, " CRM record id(s)"));
  if (emails > 0) parts.push_back(absl::StrCat(emails, " e-mail address(es)"));
  if (phones > 0) parts.push_back(absl::StrCat(phones, " phone number(s)"));
  a.title = absl::StrCat("CRM data sent from workload ", a.workload.name, " to ",
                         write.peer.Label());
  a.description = absl::StrCat(
      ProcessLabel(write.subject.process), " in workload ", a.workload.name, " sent ",
      absl::StrJoin(parts, ", "), " in TLS plaintext",
      write.request_line.empty() ? "" : absl::StrCat(" (", write.request_line, ")"), " to ",
      write.peer.Label(), ", which is neither the CRM nor on the workload's egress allowlist.");
  return a;
}

}  // namespace sluice::detect
