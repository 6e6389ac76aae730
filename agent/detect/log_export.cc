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
  const int64_t window_ms = static_cast<int64_t>(rules.Param(spec.id, "window_s") * 1000);
  static const std::vector<std::string> kClasses = {"inference-log"};
  const int64_t since_ms = send.subject.time_ms - window_ms;
  const uint64_t read = send.ReadBytes(kClasses, since_ms);
  if (read == 0 || static_cast<double>(read) < rules.Param(spec.id, "min_bytes")) {
    return std::nullopt;
  }
  if (ExceptionFor(rules, spec, send.subject, &send.peer) != nullptr) return std::nullopt;

  Alert a = NewFinding(rules, spec, send.subject, &send.peer);
  a.files = send.Files(kClasses, since_ms);
  a.bytes_out = send.bytes_out;
  a.bytes_in = send.bytes_in;
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
