#include "agent/detect/log_export.h"

#include "absl/strings/str_cat.h"

namespace sluice::detect {

const DetectorSpec& LogExportDetector::Spec() {
  static const DetectorSpec spec{"log_export", "Inference log export", Severity::kHigh,
                                 {"T1005", "T1048"}, /*severs=*/false};
  return spec;
}

std::optional<Alert> LogExportDetector::Evaluate(const RuleSet& rules,
                                                 const SendAfterRead& send) const {
  const DetectorSpec& spec = Spec();
  if (!DetectorEnabled(rules, spec)) return std::nullopt;
  if (!send.outbound || IsLoopback(send.peer.ip)) return std::nullopt;
  // Shipping logs to the configured log sink is the point of having one.
  if (send.sink != nullptr && send.sink->kind == SinkDestination::Kind::kLog) return std::nullopt;
  if (send.bytes_out < kMinExfilSend) return std::nullopt;
  static const std::vector<std::string> kClasses = {"inference-log"};
  const WindowedRead window = ReadInWindow(rules, spec, send, kClasses);
  const uint64_t read = window.bytes;
  if (read == 0) return std::nullopt;
  if (ExceptionFor(rules, spec, send.subject, &send.peer) != nullptr) return std::nullopt;

  Alert a = SendFinding(rules, spec, send, kClasses, window.since_ms);
  a.title = absl::StrCat("Inference logs exported from workload ", a.workload.name, " to ",
                         send.peer.Label());
  a.description = absl::StrCat(
      "Workload ", a.workload.name, " read ", HumanBytes(read), " of inference logs, then ",
      ProcessLabel(send.subject.process), " sent ", HumanBytes(send.bytes_out), " to ",
      send.peer.Label(), ", which is not a configured log sink",
      send.allowed ? " (the peer is on the egress allowlist, but not for logs)." : ".");
  return a;
}

}  // namespace sluice::detect
