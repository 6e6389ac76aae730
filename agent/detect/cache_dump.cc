#include "agent/detect/cache_dump.h"

#include "absl/strings/str_cat.h"

namespace sluice::detect {

const DetectorSpec& CacheDumpDetector::Spec() {
  static const DetectorSpec spec{"cache_dump", "Inference cache dump", Severity::kCritical,
                                 {"T1005", "T1041"}, /*severs=*/true};
  return spec;
}

std::optional<Alert> CacheDumpDetector::Evaluate(const RuleSet& rules,
                                                 const SendAfterRead& send) const {
  const DetectorSpec& spec = Spec();
  if (!DetectorEnabled(rules, spec)) return std::nullopt;
  // An inference server answering its clients reads its cache and sends: accepted flows and
  // allowed peers are its job. Loopback never leaves the host.
  if (!send.outbound || send.allowed || IsLoopback(send.peer.ip)) return std::nullopt;
  if (send.bytes_out < kMinExfilSend) return std::nullopt;
  const int64_t window_ms = static_cast<int64_t>(rules.Param(spec.id, "window_s") * 1000);
  static const std::vector<std::string> kClasses = {"inference-cache", "vector-index"};
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
  a.title = absl::StrCat("Inference cache dump from workload ", a.workload.name, " to ",
                         send.peer.Label());
  a.description = absl::StrCat(
      "Workload ", a.workload.name, " read ", HumanBytes(read),
      " of inference-cache / vector-index files, then ", ProcessLabel(send.subject.process),
      " sent ", HumanBytes(send.bytes_out), " to ", send.peer.Label(),
      ", which is not on the workload's egress allowlist.");
  return a;
}

}  // namespace sluice::detect
