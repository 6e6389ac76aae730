// The agent's pipeline driver: decoded events -> state -> detectors -> actions (watch set, alert
// sinks). One engine serves the live sensor and, later, recorded streams (DESIGN §2), which is
// why it lives apart from every stage: it depends on all of them and none depends on it.
#ifndef SLUICE_AGENT_ENGINE_ENGINE_H_
#define SLUICE_AGENT_ENGINE_ENGINE_H_

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "agent/detect/aggregator.h"
#include "agent/detect/archive_staging.h"
#include "agent/detect/cache_dump.h"
#include "agent/detect/dns_tunnel.h"
#include "agent/detect/exfil_chain.h"
#include "agent/detect/learn.h"
#include "agent/detect/log_export.h"
#include "agent/detect/pii_egress.h"
#include "agent/detect/plaintext_sync.h"
#include "agent/detect/rules.h"
#include "agent/detect/token_misuse.h"
#include "agent/detect/tool_egress.h"
#include "agent/detect/unexpected_egress.h"
#include "agent/detect/volume_anomaly.h"
#include "agent/engine/inputs.h"
#include "agent/enforce/controls.h"
#include "agent/enforce/sever.h"
#include "agent/enforce/watch.h"
#include "agent/events/decode.h"
#include "agent/output/alert_sink.h"
#include "agent/state/cgroup_index.h"
#include "agent/state/dns_cache.h"
#include "agent/state/ledgers.h"
#include "agent/state/process_table.h"
#include "agent/state/workload_resolver.h"
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
  uint64_t alerts = 0;              // delivered to the sink (after aggregation)
  uint64_t alerts_aggregated = 0;   // findings absorbed into an aggregate
  uint64_t sink_errors = 0;
  uint64_t watch_errors = 0;
  uint64_t unknown_workload = 0;  // connect records naming a workload id we do not have
  uint64_t flows_closed = 0;
  uint64_t flows_recovered = 0;   // closed flows whose close record was lost (found by the reaper)
  uint64_t files_reaped = 0;
  uint64_t dns_answers = 0;
  uint64_t dns_errors = 0;        // DNS payloads the parser rejected
  uint64_t tls_records = 0;
  uint64_t payload_prefixes = 0;  // first-segment prefixes of plaintext TCP classified
  uint64_t container_errors = 0;  // container metadata that could not be read
  uint64_t flows_severed = 0;
  uint64_t sever_errors = 0;
  uint64_t flow_updates = 0;      // live flow totals read from the kernel
  uint64_t file_updates = 0;      // live file read totals read from the kernel
  // Findings by detector id, before aggregation.
  absl::flat_hash_map<std::string, uint64_t> findings;
};

struct EngineOptions {
  // Live: the kernel resolved each event's workload with the rules the engine has. Replay with
  // other rules: the engine resolves workloads itself from cgroup paths and executables.
  bool trust_kernel_workload = true;
  // HMAC key for fingerprints of sensitive values (per host; never leaves the agent).
  std::string fingerprint_key;
  // Bytes of each TLS capture the classifiers look at.
  size_t classify_bytes = 4096;
  // --mode enforce: convictions of severing detectors cut the flows of enforce-mode workloads
  // (through the severer, when one is set). Under monitor they say "Would block".
  bool enforce = false;
  // Live: where the container runtimes keep labels, read when a rule selects by labels. Unset
  // in replay: labels come from the recording (ContainerInfo inputs).
  std::optional<state::ContainerMetaRoots> container_roots;
};

class Engine {
 public:
  // `watch` may be null (no kernel: replay). Pointers must outlive the engine.
  Engine(detect::RuleSet rules, state::ProcessTable* processes, state::CgroupIndex* cgroups,
         enforce::WatchTarget* watch, output::AlertSink* sink, EngineOptions options = {});

  // Puts what already exists under watch: every known cgroup, every executable the exe globs
  // name today, every process in the table. Call once after the sensor is attached.
  absl::Status SeedWatchSet();

  // One ring record. Malformed records are counted and dropped, never fatal. DNS payloads are
  // parsed and TLS captures classified here; their bytes go no further.
  void OnRecord(absl::Span<const uint8_t> record);
  void OnEvent(const events::Event& event);
  // Everything the engine handles passes here, live or replayed (and is recorded if asked).
  void OnInput(const Input& input);

  // Records every input from now on (null: none). A ClockSync and the current process and
  // cgroup tables are recorded first, so the recording replays on its own.
  void SetRecorder(InputRecorder* recorder);

  // Publishes every event to `events` from now on (null: none).
  void SetEventPublisher(EventPublisher* events) { events_ = events; }
  void SetProcessHooks(ProcessHooks* hooks) { hooks_ = hooks; }
  // Cuts convicted flows in enforce mode (null: none, findings say "Would block").
  void SetSeverer(enforce::FlowSeverer* severer) { severer_ = severer; }
  // Rule-driven quarantine (null: none).
  void SetContainment(enforce::Containment* containment) { containment_ = containment; }
  // Disarm/arm: whether convictions may cut flows (the --mode enforce ceiling, lowered while
  // enforcement is disarmed).
  void SetEnforce(bool enforce) { options_.enforce = enforce; }
  // The flows open now, as the engine knows them (`sluicectl flows`): newest first, at most
  // `limit`; `workload` non-empty keeps that workload's only. Ages are measured to `now_ns`
  // (CLOCK_BOOTTIME; 0 = the latest event's time).
  struct LiveFlow {
    uint64_t cookie = 0;
    std::string workload;  // "" when the flow's workload is not (or no longer) in the rules
    uint32_t pid = 0;
    std::string process;   // executable, or task name
    std::string protocol;  // "tcp", "udp"
    bool inbound = false;
    std::string local;     // ip:port
    std::string peer;      // ip:port ([v6]:port)
    std::vector<std::string> names;  // DNS names the peer was resolved from
    std::string sni;
    std::string app_protocol;
    uint64_t bytes_out = 0;
    uint64_t bytes_in = 0;
    uint64_t age_ms = 0;
  };
  std::vector<LiveFlow> LiveFlows(const std::string& workload, size_t limit, uint64_t now_ns = 0);
  size_t live_flow_count() const { return open_flows_.size(); }
  // Delivers an alert that is not a detector's finding (enforcement changes): not aggregated.
  void Report(const detect::Alert& alert) { Deliver(alert); }
  // Resolves the workload of every process in the table and reports the watched ones to the
  // process hooks (processes that started before the agent).
  void SeedProcessHooks();

  // A pass of the reaper begins: live totals it reads from now on are newer than every release
  // seen so far (a close record with SLUICE_FLOW_F_RELEASED, whose entry the pass cannot find).
  void BeginReap() { released_.clear(); }
  // The reaper found a closed flow in the kernel map (and deletes it after this call): the
  // final totals. Reported once per flow whose close record was lost or kept its entry.
  void OnFlowReaped(uint64_t cookie, const events::Flow& flow);
  // Final read totals of a (process, file) whose process has exited.
  void OnFileReaped(const FileKey& key, uint64_t bytes_read, uint64_t bytes_mapped,
                    uint64_t calls, uint32_t class_id, uint32_t workload_id = SLUICE_NO_WORKLOAD);
  // Totals of a flow or a (process, file) that is still live, read from the kernel maps: how
  // detectors see an upload or a read while it is under way.
  void OnFlowProgress(uint64_t cookie, const events::Flow& flow);
  void OnFileProgress(const FileKey& key, uint64_t bytes_read, uint64_t bytes_mapped,
                      uint64_t calls, uint32_t class_id, uint32_t workload_id);

  const EngineStats& stats() const { return stats_; }
  size_t dns_entries() const { return dns_.size(); }
  const detect::RuleSet& rules() const { return rules_; }
  // Closes aggregation windows that ended by now (live: call periodically) and delivers their
  // summaries.
  void Tick();
  // Delivers every open aggregation summary (shutdown, end of a replay).
  void FlushAlerts();

  // Kernel workload ids are base + rule id (enforce::kBankSize banks: the rules alternate
  // between the two on reload). Default 0.
  // Before the first event: the kernel ids of the rules start at `base` (a restarted agent that
  // adopted a pinned policy stages its rules in the bank the earlier agent did not use), and
  // ids the kernel chose before `since_ns` are resolved rather than trusted.
  void SetKernelIdBase(uint32_t base, uint64_t since_ns = 0) {
    kernel_id_base_ = base;
    kernel_ids_since_ns_ = since_ns;
    grants_.Reset(&rules_, base);
  }
  uint32_t kernel_id_base() const { return kernel_id_base_; }

  // A rule reload (SIGHUP), in two steps around the kernel's switch:
  //   SeedWatchSet(next): the watch set `next` selects (cgroups, executables, processes known
  //     now), written through the watch target while the old rules still decide;
  //   ReplaceRules: delivers every open aggregate under the old rules, then judges by `rules`
  //     from now on. Reads in the ledgers follow their workload by name (those of removed
  //     workloads are dropped); volume windows, token owners and learn profiles are kept by
  //     name; what was reported stays reported. Kernel ids are read in the bank from
  //     `kernel_id_base`, and trusted only for activity the kernel attributed at or after
  //     `switched_ns` (CLOCK_BOOTTIME); older flows, files and records still in the ring are
  //     resolved from their cgroup and process chain with the new rules. Reports the watched
  //     processes to the process hooks again.
  absl::Status SeedWatchSet(const detect::RuleSet& rules);
  void ReplaceRules(detect::RuleSet rules, uint32_t kernel_id_base, uint64_t switched_ns);
  // Between SeedWatchSet(next) and the switch: the allowlist entries `next`'s host entries earn
  // from the names the DNS cache holds, written for the bank at next_base (so the new set
  // allows those names from its first decision). ReplaceRules adopts them; DropStagedGrants
  // forgets them when the reload is aborted (the bank is scrubbed).
  void StageGrants(const detect::RuleSet& next, uint32_t next_base);
  void DropStagedGrants() { staged_grants_.reset(); }

  // What learn-mode workloads did so far, as a proposed rule file (`sluicectl learn`).
  std::string ProposeRules() const { return learn_.ProposeRules(rules_); }

  // Epoch milliseconds of a CLOCK_BOOTTIME timestamp, by the engine's clock (ClockSync).
  int64_t EpochMs(uint64_t boot_ns) const;

 private:
  // Per open flow: the kernel's flow plus what the detectors learned about it.
  struct FlowState {
    events::Flow flow;
    uint64_t cookie = 0;
    std::string sni;
    std::string app_protocol;     // first classified plaintext protocol
    uint64_t volume_counted = 0;  // bytes_out already added to the volume ledger
    uint32_t fired = 0;           // bits: detectors that already reported this flow
  };

  void OnExec(const events::ExecEvent& e);
  void OnCgroupMkdir(const events::CgroupMkdirEvent& e);
  void OnConnect(const events::ConnectEvent& e);
  void OnFlow(const events::FlowEvent& e);
  void OnFileOpen(const events::FileOpenEvent& e);
  void OnDns(const DnsObservation& o);
  void OnTls(const TlsObservation& o);
  void OnPayload(const PayloadObservation& o);
  PayloadObservation ObservePayload(const events::PayloadEvent& e) const;
  void OnFlowTotals(const FlowTotals& t);
  void OnFileTotals(const FileTotals& t);
  void OnProcessSnapshot(const ProcessSnapshot& p);
  std::optional<DnsObservation> ObserveDns(const events::DnsEvent& e);
  TlsObservation ObserveTls(const events::TlsEvent& e) const;

  // The workload of an activity: the kernel's answer when trusted, else resolved here.
  // `attributed_ns`: when the kernel chose `kernel_id` (0: unknown); ids chosen before the last
  // reload went live are not trusted.
  const detect::Workload* WorkloadFor(uint32_t kernel_id, uint32_t pid, uint64_t cgroup_id,
                                      uint64_t attributed_ns);
  const detect::Workload* ResolveWorkload(uint32_t pid, uint64_t cgroup_id);
  detect::Subject SubjectFor(const detect::Workload& w, uint32_t pid, uint64_t cgroup_id,
                             uint64_t ts_ns);
  detect::Peer PeerOf(const events::Flow& flow, const FlowState* state);
  // The detectors of a flow's bytes: send-after-read and volume. `ts_ns` is when the totals
  // were read.
  void EvaluateFlow(FlowState& fs, uint64_t ts_ns);
  // A closed flow that could still be judged a send-after-read: the read totals of a short-lived
  // chain (`nc host port < file`) reach the agent after the flow's close, on the reaper's next
  // pass. Kept kRejudgeNs and judged again (file detectors only) when the workload's reads grow.
  void KeepForRejudge(FlowState fs, uint64_t closed_ns);
  // Judges again the kept flows of workload `rule_id` (and of process tree `tree`, 0: any) that
  // a file detector has not reported yet.
  void RejudgeClosedFlows(uint32_t rule_id, uint32_t tree);
  // The sender's process tree (ProcessEntry::tree), 0 when unknown.
  uint32_t TreeOf(uint32_t pid) const;
  // A connect unexpected_egress would report unless the flow's TLS server name is allowed.
  struct PendingEgress {
    const detect::Workload* rule = nullptr;  // valid until ReplaceRules (which judges first)
    detect::ConnectObservation obs;
    int64_t deadline_ms = 0;
    uint32_t repeats = 0;  // further connects of the same process to the same peer meanwhile
  };
  struct EgressKey {
    uint32_t pid = 0;
    std::array<uint8_t, 16> daddr{};
    uint16_t dport = 0;
    template <typename H>
    friend H AbslHashValue(H h, const EgressKey& k) {
      return H::combine(std::move(h), k.pid, k.daddr, k.dport);
    }
    friend bool operator==(const EgressKey&, const EgressKey&) = default;
  };
  void JudgePendingEgress(const PendingEgress& p);
  // Judges the connects whose wait ended at or before now_ms (INT64_MAX: all).
  void ExpirePendingEgress(int64_t now_ms);
  void Emit(detect::Alert alert);
  // A finding about a live flow: a severing detector's conviction of an enforce-mode workload
  // under --mode enforce cuts the flow first, and the finding says Blocked.
  void EmitForFlow(detect::Alert alert, const detect::Workload& rule, FlowState& fs);
  void Deliver(const detect::Alert& alert);
  void Advance(uint64_t ts_ns);

  // Reads (live) the labels of the container `cgroup_path` names when `rules` select by labels
  // and they are not known yet, and handles them as a ContainerInfo input.
  void LearnContainer(const detect::RuleSet& rules, const std::string& cgroup_path);
  void Publish(const std::string& type, const nlohmann::json& j);
  std::string ClassName(uint32_t class_id) const;
  std::vector<std::string> NamesFor(const std::array<uint8_t, 16>& addr);
  void Watch(const absl::Status& s);

  detect::RuleSet rules_;
  state::ProcessTable* processes_;
  state::CgroupIndex* cgroups_;
  enforce::WatchTarget* watch_;
  output::AlertSink* sink_;
  EngineOptions options_;
  detect::UnexpectedEgressDetector unexpected_egress_;
  detect::CacheDumpDetector cache_dump_;
  detect::LogExportDetector log_export_;
  detect::ExfilChainDetector exfil_chain_;
  detect::ArchiveStagingDetector archive_staging_;
  detect::PlaintextSyncDetector plaintext_sync_;
  detect::PiiEgressDetector pii_egress_;
  detect::TokenMisuseDetector token_misuse_;
  detect::VolumeAnomalyDetector volume_anomaly_;
  detect::DnsTunnelDetector dns_tunnel_;
  detect::ToolEgressDetector tool_egress_;
  state::ReadLedger reads_;
  state::VolumeLedger volume_;
  state::NameRate name_rate_;
  state::TokenRegistry tokens_;
  detect::LearnProfile learn_;
  detect::AlertAggregator aggregator_;
  int64_t last_flush_ms_ = 0;
  // Rule parameters every flow update needs, looked up once per rule set.
  struct FlowParams {
    double default_budget_bytes = 0;
    double file_window_s = 0;  // the longest window of the send-after-read detectors
    static FlowParams Of(const detect::RuleSet& rules);
  };
  uint32_t kernel_id_base_ = 0;
  uint64_t kernel_ids_since_ns_ = 0;  // attributions before this belong to older rules
  absl::flat_hash_set<uint32_t> archivers_reported_;  // pids archive_staging reported
  absl::flat_hash_set<uint32_t> tools_reported_;      // pids tool_egress reported
  InputRecorder* recorder_ = nullptr;
  int64_t boot_to_epoch_ns_ = 0;
  FlowParams flow_params_;
  uint64_t now_ns_ = 0;  // latest event time seen (CLOCK_BOOTTIME)
  EngineStats stats_;
  EventPublisher* events_ = nullptr;
  ProcessHooks* hooks_ = nullptr;
  enforce::FlowSeverer* severer_ = nullptr;
  enforce::Containment* containment_ = nullptr;
  state::DnsCache dns_;
  // Open flows by socket cookie (from their open records), to give TLS records their peer.
  absl::flat_hash_map<uint64_t, FlowState> open_flows_;
  struct ClosedFlow {
    FlowState fs;
    uint64_t closed_ns = 0;
    uint32_t rule_id = 0;  // its workload (renumbered by a reload)
    uint32_t tree = 0;     // the sender's process tree (0: unknown)
  };
  static constexpr uint64_t kRejudgeNs = 5'000'000'000ULL;  // > the reaper's period, with margin
  static constexpr size_t kMaxRejudge = 4096;
  std::deque<ClosedFlow> recently_closed_;  // oldest first
  absl::flat_hash_map<EgressKey, PendingEgress> pending_egress_;
  struct ContainerState {
    state::ContainerLabels labels;
    bool found = false;
    int64_t read_ms = 0;  // when the agent last read the runtime's metadata (live)
  };
  absl::flat_hash_map<std::string, ContainerState> containers_;
  state::ContainerLabelsFn labels_of_;  // containers_ for state::CgroupMask
  enforce::NameGrants grants_;          // kernel allow entries host entries earned (live set)
  std::optional<enforce::NameGrants> staged_grants_;
  void ApplyGrants(const std::vector<enforce::AllowWrite>& writes);
  absl::flat_hash_set<uint64_t> closed_reported_;       // until the reaper removes the flow
  // Flows whose close record released the kernel entry since the reaper's last pass began.
  absl::flat_hash_set<uint64_t> released_;
  absl::flat_hash_map<FileKey, std::string> file_paths_;  // path each (process, file) was opened by
  absl::flat_hash_map<uint64_t, uint64_t> cgroup_masks_;  // cgroup id -> CgroupMask, for replay
};

}  // namespace sluice::engine

#endif  // SLUICE_AGENT_ENGINE_ENGINE_H_
