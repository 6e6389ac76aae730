#include "agent/detect/exfil_chain.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sluice::detect {

const DetectorSpec& ExfilChainDetector::Spec() {
  static const DetectorSpec spec{"exfil_chain", "Sensitive file exfiltration", Severity::kHigh,
                                 {"T1005", "T1041"}, /*severs=*/true};
  return spec;
}

std::optional<Alert> ExfilChainDetector::Evaluate(const RuleSet& rules,
                                                  const SendAfterRead& send) const {
  const DetectorSpec& spec = Spec();
  if (!DetectorEnabled(rules, spec)) return std::nullopt;
  if (!send.outbound || send.allowed || IsLoopback(send.peer.ip)) return std::nullopt;
  // A configured sink receives what the host ships on purpose (logs, alerts); what it should
  // not receive is log_export's and cache_dump's business, which judge the file classes.
  if (send.sink != nullptr) return std::nullopt;
  if (send.bytes_out < kMinExfilSend) return std::nullopt;
  const int64_t window_ms = static_cast<int64_t>(rules.Param(spec.id, "window_s") * 1000);
  const int64_t since_ms = send.subject.time_ms - window_ms;
  const uint64_t read = send.ReadBytes({}, since_ms);
  if (read == 0 || static_cast<double>(read) < rules.Param(spec.id, "min_bytes")) {
    return std::nullopt;
  }
  const double ratio = static_cast<double>(send.bytes_out) / static_cast<double>(read);
  if (ratio < rules.Param(spec.id, "ratio")) return std::nullopt;
  if (ExceptionFor(rules, spec, send.subject, &send.peer) != nullptr) return std::nullopt;

  Alert a = NewFinding(rules, spec, send.subject, &send.peer);
  a.files = send.Files({}, since_ms);
  a.bytes_out = send.bytes_out;
  a.bytes_in = send.bytes_in;
  a.title = absl::StrCat("Sensitive files sent from workload ", a.workload.name, " to ",
                         send.peer.Label());
  a.description = absl::StrCat(
      "Workload ", a.workload.name, " read ", HumanBytes(read), " of sensitive files, then ",
      ProcessLabel(send.subject.process), " sent ", HumanBytes(send.bytes_out),
      absl::StrFormat(" (%.2fx what was read)", ratio), " to ", send.peer.Label(),
      ", which is not on the workload's egress allowlist.");
  return a;
}

}  // namespace sluice::detect
