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
  const WindowedRead window = ReadInWindow(rules, spec, send, {});
  const uint64_t read = window.bytes;
  if (read == 0) return std::nullopt;
  const double ratio = static_cast<double>(send.bytes_out) / static_cast<double>(read);
  if (ratio < rules.Param(spec.id, "ratio")) return std::nullopt;
  if (ExceptionFor(rules, spec, send.subject, &send.peer) != nullptr) return std::nullopt;

  Alert a = SendFinding(rules, spec, send, {}, window.since_ms);
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
