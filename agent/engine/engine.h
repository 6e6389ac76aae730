// The agent's pipeline driver: decoded events -> state -> detectors -> actions (watch set, alert
// sinks). One engine serves the live sensor and, later, recorded streams (DESIGN §2), which is
// why it lives apart from every stage: it depends on all of them and none depends on it.
#ifndef SLUICE_AGENT_ENGINE_ENGINE_H_
#define SLUICE_AGENT_ENGINE_ENGINE_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "agent/detect/rules.h"
#include "agent/detect/unexpected_egress.h"
#include "agent/enforce/watch.h"
#include "agent/events/decode.h"
#include "agent/output/alert_sink.h"
#include "agent/state/cgroup_index.h"
#include "agent/state/process_table.h"
#include "sluice/abi.h"

namespace sluice::engine {

struct EngineStats {
  std::array<uint64_t, SLUICE_EV_TYPE_MAX> events{};  // decoded, by event type
  uint64_t decode_errors = 0;
  uint64_t alerts = 0;
  uint64_t sink_errors = 0;
  uint64_t watch_errors = 0;
  uint64_t unknown_workload = 0;  // connect records naming a workload id we do not have
};

class Engine {
 public:
  // `watch` may be null (no kernel: replay). Pointers must outlive the engine.
  Engine(detect::RuleSet rules, state::ProcessTable* processes, state::CgroupIndex* cgroups,
         enforce::WatchTarget* watch, output::AlertSink* sink);

  // Puts what already exists under watch: every known cgroup, every executable the exe globs
  // name today, every process in the table. Call once after the sensor is attached.
  absl::Status SeedWatchSet();

  // One ring record. Malformed records are counted and dropped, never fatal.
  void OnRecord(absl::Span<const uint8_t> record);
  void OnEvent(const events::Event& event);

  const EngineStats& stats() const { return stats_; }
  const detect::RuleSet& rules() const { return rules_; }

 private:
  void OnExec(const events::ExecEvent& e);
  void OnCgroupMkdir(const events::CgroupMkdirEvent& e);
  void OnConnect(const events::ConnectEvent& e);
  void Watch(const absl::Status& s);

  detect::RuleSet rules_;
  state::ProcessTable* processes_;
  state::CgroupIndex* cgroups_;
  enforce::WatchTarget* watch_;
  output::AlertSink* sink_;
  detect::UnexpectedEgressDetector unexpected_egress_;
  EngineStats stats_;
};

}  // namespace sluice::engine

#endif  // SLUICE_AGENT_ENGINE_ENGINE_H_
