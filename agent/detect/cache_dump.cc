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
  static const std::vector<std::string> kClasses = {"inference-cache", "vector-index"};
  const WindowedRead window = ReadInWindow(rules, spec, send, kClasses);
  const uint64_t read = window.bytes;
  if (read == 0) return std::nullopt;
  if (ExceptionFor(rules, spec, send.subject, &send.peer) != nullptr) return std::nullopt;

  Alert a = SendFinding(rules, spec, send, kClasses, window.since_ms);
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
