// The agent's pipeline driver: decoded events -> state -> detectors -> actions (watch set, alert
// sinks). One engine serves the live sensor and, later, recorded streams (DESIGN §2), which is
// why it lives apart from every stage: it depends on all of them and none depends on it.
#ifndef SLUICE_AGENT_ENGINE_ENGINE_H_
#define SLUICE_AGENT_ENGINE_ENGINE_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "agent/detect/rules.h"
#include "agent/detect/unexpected_egress.h"
#include "agent/enforce/watch.h"
#include "agent/events/decode.h"
#include "agent/output/alert_sink.h"
#include "agent/state/cgroup_index.h"
#include "agent/state/dns_cache.h"
#include "agent/state/process_table.h"
#include "nlohmann/json.hpp"
#include "sluice/abi.h"

namespace sluice::engine {

// Receives every decoded sensor event as JSON (`sluiced --events`, the control API's event
// stream). Called on the engine thread; implementations must not block for long.
class EventPublisher {
 public:
  virtual ~EventPublisher() = default;
  virtual void Publish(const std::string& type, const nlohmann::json& event) = 0;
};

// Process lifecycle of watched workloads, for per-process attachments (the TLS uprobes).
class ProcessHooks {
 public:
  virtual ~ProcessHooks() = default;
  // A process of a watched workload exec'd (or existed when the agent started).
  virtual void OnWatchedExec(uint32_t pid, uint32_t workload_id, const std::string& exe) = 0;
  // `watched`: the parent belongs to a watched workload (so does the child).
  virtual void OnFork(uint32_t parent, uint32_t child, bool watched) = 0;
  virtual void OnExit(uint32_t pid) = 0;
};

// Identity of a (process, file) read total in the kernel's file_io map.
struct FileKey {
  uint32_t pid = 0;
  uint32_t dev = 0;
  uint64_t ino = 0;
  template <typename H>
  friend H AbslHashValue(H h, const FileKey& k) {
    return H::combine(std::move(h), k.pid, k.dev, k.ino);
  }
  friend bool operator==(const FileKey&, const FileKey&) = default;
};

struct EngineStats {
  std::array<uint64_t, SLUICE_EV_TYPE_MAX> events{};  // decoded, by event type
  uint64_t decode_errors = 0;
  uint64_t alerts = 0;
  uint64_t sink_errors = 0;
  uint64_t watch_errors = 0;
  uint64_t unknown_workload = 0;  // connect records naming a workload id we do not have
  uint64_t flows_closed = 0;
  uint64_t flows_recovered = 0;   // closed flows whose close record was lost (found by the reaper)
  uint64_t files_reaped = 0;
  uint64_t dns_answers = 0;
  uint64_t dns_errors = 0;        // DNS payloads the parser rejected
  uint64_t tls_records = 0;
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

  // Publishes every event to `events` from now on (null: none).
  void SetEventPublisher(EventPublisher* events) { events_ = events; }
  void SetProcessHooks(ProcessHooks* hooks) { hooks_ = hooks; }
  // Resolves the workload of every process in the table and reports the watched ones to the
  // process hooks (processes that started before the agent).
  void SeedProcessHooks();

  // The reaper found a closed flow in the kernel map (and deletes it after this call): the
  // final totals. Reported once per flow whether or not its close record arrived.
  void OnFlowReaped(uint64_t cookie, const events::Flow& flow);
  // Final read totals of a (process, file) whose process has exited.
  void OnFileReaped(const FileKey& key, uint64_t bytes_read, uint64_t bytes_mapped,
                    uint64_t calls, uint32_t class_id);

  const EngineStats& stats() const { return stats_; }
  size_t dns_entries() const { return dns_.size(); }
  const detect::RuleSet& rules() const { return rules_; }

 private:
  void OnExec(const events::ExecEvent& e);
  void OnCgroupMkdir(const events::CgroupMkdirEvent& e);
  void OnConnect(const events::ConnectEvent& e);
  void OnFlow(const events::FlowEvent& e);
  void OnFileOpen(const events::FileOpenEvent& e);
  void OnDns(const events::DnsEvent& e);
  void OnTls(const events::TlsEvent& e);
  void Publish(const std::string& type, const nlohmann::json& j);
  std::string ClassName(uint32_t class_id) const;
  std::vector<std::string> NamesFor(const std::array<uint8_t, 16>& addr);
  void Watch(const absl::Status& s);

  detect::RuleSet rules_;
  state::ProcessTable* processes_;
  state::CgroupIndex* cgroups_;
  enforce::WatchTarget* watch_;
  output::AlertSink* sink_;
  detect::UnexpectedEgressDetector unexpected_egress_;
  EngineStats stats_;
  EventPublisher* events_ = nullptr;
  ProcessHooks* hooks_ = nullptr;
  state::DnsCache dns_;
  // Open flows by socket cookie (from their open records), to give TLS records their peer.
  absl::flat_hash_map<uint64_t, events::Flow> open_flows_;
  absl::flat_hash_set<uint64_t> closed_reported_;       // until the reaper removes the flow
  absl::flat_hash_map<FileKey, std::string> file_paths_;  // path each (process, file) was opened by
};

}  // namespace sluice::engine

#endif  // SLUICE_AGENT_ENGINE_ENGINE_H_
