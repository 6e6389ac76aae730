// `sluicectl replay FILE --rules PATH`: a recording fed to the same engine the live agent runs
// (DESIGN §2), offline and without privileges. Workloads are resolved from the recorded cgroup
// paths and executables with the given rules, not from the kernel's ids of the recording run,
// so a recording can be judged again under new rules.
#ifndef SLUICE_AGENT_REPLAY_REPLAYER_H_
#define SLUICE_AGENT_REPLAY_REPLAYER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "agent/detect/rules.h"
#include "agent/output/alert_sink.h"
#include "agent/replay/record_file.h"

namespace sluice::replay {

struct ReplaySummary {
  uint64_t inputs = 0;     // inputs handed to the engine
  uint64_t malformed = 0;  // records skipped: not a valid event (the rest was replayed)
  bool truncated = false;  // the recording ended inside a record (cut while being written)
  uint64_t alerts = 0;     // delivered to the sink, after aggregation
  uint64_t findings = 0;   // before aggregation
  std::string first_error; // the first malformed record's error, for the report
};

// Replays every input of `reader` through an engine built with `rules`; alerts go to `sink`.
// Malformed records are counted and skipped; a cut final record ends the replay cleanly. An
// error that loses the framing (an oversized or garbled length) fails the replay with the
// record number and byte offset.
absl::StatusOr<ReplaySummary> Replay(RecordReader& reader, const detect::RuleSet& rules,
                                     output::AlertSink* sink);

}  // namespace sluice::replay

#endif  // SLUICE_AGENT_REPLAY_REPLAYER_H_
