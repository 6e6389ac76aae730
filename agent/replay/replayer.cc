#include "agent/replay/replayer.h"

#include "absl/status/status.h"
#include "agent/engine/engine.h"
#include "agent/state/cgroup_index.h"
#include "agent/state/process_table.h"

namespace sluice::replay {

absl::StatusOr<ReplaySummary> Replay(RecordReader& reader, const detect::RuleSet& rules,
                                     output::AlertSink* sink) {
  // Tables filled from the recording only: this host's /proc and cgroups must not leak in.
  state::ProcessTable processes;
  processes.DisableProcLookup();
  state::CgroupIndex cgroups("/nonexistent/sluice-replay");
  engine::EngineOptions options;
  options.trust_kernel_workload = false;
  engine::Engine engine(rules, &processes, &cgroups, /*watch=*/nullptr, sink, options);

  ReplaySummary summary;
  while (true) {
    const uint64_t before = reader.offset();
    absl::StatusOr<std::optional<engine::Input>> next = reader.Next();
    if (!next.ok()) {
      if (reader.truncated()) {
        summary.truncated = true;
        break;
      }
      // A bad record that was consumed leaves the framing intact: skip it and go on. One that
      // was not (a garbled length) leaves nothing to resynchronise on.
      if (reader.offset() == before) return next.status();
      if (summary.malformed++ == 0) summary.first_error = std::string(next.status().message());
      continue;
    }
    if (!next->has_value()) break;
    engine.OnInput(**next);
    ++summary.inputs;
  }
  engine.FlushAlerts();
  summary.alerts = engine.stats().alerts;
  for (const auto& [id, n] : engine.stats().findings) summary.findings += n;
  return summary;
}

}  // namespace sluice::replay
