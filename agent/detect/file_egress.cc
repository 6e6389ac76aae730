#include "agent/detect/file_egress.h"

namespace sluice::detect {

WindowedRead ReadInWindow(const RuleSet& rules, const DetectorSpec& spec, const SendAfterRead& send,
                          const std::vector<std::string>& classes) {
  WindowedRead r;
  r.since_ms = send.subject.time_ms - static_cast<int64_t>(rules.Param(spec.id, "window_s") * 1000);
  const uint64_t read = send.ReadBytes(classes, r.since_ms);
  if (read > 0 && static_cast<double>(read) >= rules.Param(spec.id, "min_bytes")) r.bytes = read;
  return r;
}

Alert SendFinding(const RuleSet& rules, const DetectorSpec& spec, const SendAfterRead& send,
                  const std::vector<std::string>& classes, int64_t since_ms) {
  Alert a = NewFinding(rules, spec, send.subject, &send.peer);
  a.files = send.Files(classes, since_ms);
  a.bytes_out = send.bytes_out;
  a.bytes_in = send.bytes_in;
  return a;
}

}  // namespace sluice::detect
