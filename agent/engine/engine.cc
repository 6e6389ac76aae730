#include "agent/engine/engine.h"

#include <glob.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/common/boot_clock.h"
#include "agent/detect/allowlist.h"
#include "agent/detect/classify/http.h"
#include "agent/detect/classify/sensitive.h"
#include "agent/events/dns.h"
#include "agent/output/event_json.h"
#include "agent/state/workload_resolver.h"

namespace sluice::engine {
namespace {

// Kernel timestamps are CLOCK_BOOTTIME; alerts carry wall-clock epoch milliseconds. The offset
// is taken once: the engine's clock must not jump under a replay, and a recording stores it.
int64_t BootToEpochNs() {
  timespec real{}, boot{};
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_BOOTTIME, &boot);
  return (int64_t{real.tv_sec} - boot.tv_sec) * 1000000000LL +
         (int64_t{real.tv_nsec} - boot.tv_nsec);
}

// A process table entry as a recording stores it.
ProcessSnapshot SnapshotOf(const state::ProcessEntry& p) {
  return ProcessSnapshot{p.pid,     p.ppid,      p.uid,     p.exe,    p.comm,
                         p.cmdline, p.cgroup_id, p.exe_ino, p.exe_dev};
}

// A learning workload has no allowlist yet: every destination counts as allowed, so only the
// detectors that do not depend on the allowlist (tokens to non-CRM hosts, log export, DNS
// tunnelling, archiving, tools) speak while it learns.
bool AllowedFor(const detect::Workload& w, const detect::IpAddr& ip, uint16_t port,
                const std::vector<std::string>& names) {
  return w.mode == detect::Mode::kLearn || detect::EgressAllowed(w, ip, port, names);
}

// What the classified bytes were doing, for alerts: the HTTP request line (no query), the
// Kafka API, the AMQP method or the Redis command.
std::string OperationOf(const detect::classify::PayloadClass& c) {
  if (c.protocol == detect::classify::PayloadClass::kHttp1Request) return c.request_line();
  return c.operation;
}

// Sensitive values of a plaintext prefix as counts and keyed fingerprints; the values stay in
// the scanner.
std::vector<detect::DataMatch> ScanSensitive(absl::Span<const uint8_t> prefix,
                                             const std::string& key) {
  const detect::classify::SensitiveFindings found = detect::classify::ScanSensitive(prefix, key);
  std::vector<detect::DataMatch> out;
  out.reserve(found.kinds.size());
  for (const auto& k : found.kinds) out.push_back({k.kind, k.count, k.fingerprints});
  return out;
}

// Bits of FlowState::fired.
constexpr uint32_t kFiredCacheDump = 1u << 0;
constexpr uint32_t kFiredLogExport = 1u << 1;
constexpr uint32_t kFiredExfilChain = 1u << 2;
constexpr uint32_t kFiredPlaintext = 1u << 3;
constexpr uint32_t kFiredPii = 1u << 4;
constexpr uint32_t kFiredToken = 1u << 5;

// st_dev as the kernel side encodes it (new_encode_dev, see bpf/probes/process.bpf.c).
uint32_t EncodeDev(dev_t dev) {
  uint32_t maj = major(dev), min = minor(dev);
  return (min & 0xff) | (maj << 8) | ((min & ~0xffu) << 12);
}

constexpr size_t kMaxOpenFlows = 131072;
// Containers whose labels are kept; an id no runtime knew is asked again after the retry delay.
constexpr size_t kMaxContainers = 16384;
constexpr int64_t kContainerRetryMs = 10000;
// Connects waiting for a TLS server name; past it, connects are judged at once.
constexpr size_t kMaxPendingEgress = 4096;

// The cgroup v2 path of a running process ("0::/path" in /proc/PID/cgroup), "" if unknown.
std::string CgroupPathOfPid(uint32_t pid) {
  FILE* f = fopen(absl::StrCat("/proc/", pid, "/cgroup").c_str(), "re");
  if (f == nullptr) return "";
  char line[4096];
  std::string out;
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (strncmp(line, "0::", 3) == 0) {
      out = line + 3;
      while (!out.empty() && out.back() == '\n') out.pop_back();
      break;
    }
  }
  fclose(f);
  return out;
}

sluice_selector_cfg SelectorsOf(const detect::RuleSet& rules) {
  sluice_selector_cfg cfg{};
  for (const auto& w : rules.workloads) {
    const uint64_t bit = uint64_t{1} << w.id;
    cfg.active_mask |= bit;
    if (w.selector.has_cgroup_side()) cfg.has_cgroup |= bit;
    if (w.selector.exe_glob) cfg.has_exe |= bit;
  }
  return cfg;
}

const char* ProtocolName(uint8_t proto) {
  switch (proto) {
    case 6: return "tcp";
    case 17: return "udp";
    default: return "";
  }
}

}  // namespace

Engine::Engine(detect::RuleSet rules, state::ProcessTable* processes,
               state::CgroupIndex* cgroups, enforce::WatchTarget* watch,
               output::AlertSink* sink, EngineOptions options)
    : rules_(std::move(rules)),
      processes_(processes),
      cgroups_(cgroups),
      watch_(watch),
      sink_(sink),
      options_(std::move(options)),
      aggregator_(detect::AlertAggregator::Options{
          .window_ms = int64_t{rules_.aggregate_window_s} * 1000}),
      boot_to_epoch_ns_(BootToEpochNs()),
      flow_params_(FlowParams::Of(rules_)),
      labels_of_([this](const std::string& id) -> const state::ContainerLabels* {
        auto it = containers_.find(id);
        return it != containers_.end() && it->second.found ? &it->second.labels : nullptr;
      }) {
  grants_.Reset(&rules_, 0);
}

void Engine::ApplyGrants(const std::vector<enforce::AllowWrite>& writes) {
  if (watch_ == nullptr) return;
  for (const enforce::AllowWrite& w : writes) Watch(watch_->WriteAllow(w));
}

void Engine::StageGrants(const detect::RuleSet& next, uint32_t next_base) {
  staged_grants_.emplace();
  staged_grants_->Reset(&next, next_base);
  const uint64_t now_ms = now_ns_ / 1000000;
  for (const state::DnsCache::Address& a : dns_.Addresses()) {
    const std::vector<std::string> names = dns_.NamesFor(a, now_ms);
    if (names.empty()) continue;
    ApplyGrants(staged_grants_->Observe(detect::IpAddr{a}, names,
                                        static_cast<int64_t>(now_ms) + enforce::kMinGrantMs));
  }
}

Engine::FlowParams Engine::FlowParams::Of(const detect::RuleSet& rules) {
  FlowParams p;
  p.default_budget_bytes = rules.Param("volume_anomaly", "default_budget_bytes");
  p.file_window_s = std::max({rules.Param("cache_dump", "window_s"),
                              rules.Param("log_export", "window_s"),
                              rules.Param("exfil_chain", "window_s")});
  return p;
}

void Engine::LearnContainer(const detect::RuleSet& rules, const std::string& cgroup_path) {
  if (!options_.container_roots || !state::NeedsContainerLabels(rules)) return;
  std::optional<std::string> id = state::ContainerIdOf(cgroup_path);
  if (!id) return;
  const int64_t now_ms = EpochMs(BootTimeNs());
  if (auto it = containers_.find(*id); it != containers_.end()) {
    // Known; an id no runtime knew is asked again after a while (its metadata may have been
    // written after its cgroup was made).
    if (it->second.found || now_ms - it->second.read_ms < kContainerRetryMs) return;
  }
  ContainerInfo info;
  info.id = *id;
  absl::StatusOr<state::ContainerLabels> labels =
      state::ReadContainerLabels(*options_.container_roots, *id);
  if (labels.ok()) {
    info.labels = *std::move(labels);
    info.found = true;
  } else if (!absl::IsNotFound(labels.status())) {
    ++stats_.container_errors;
    fprintf(stderr, "sluiced: container %s: %s\n", id->substr(0, 12).c_str(),
            std::string(labels.status().message()).c_str());
  }
  OnInput(info);  // recorded before the input that named the container
  containers_[*id].read_ms = now_ms;
}

int64_t Engine::EpochMs(uint64_t boot_ns) const {
  return (static_cast<int64_t>(boot_ns) + boot_to_epoch_ns_) / 1000000;
}

void Engine::Advance(uint64_t ts_ns) {
  if (ts_ns > now_ns_) now_ns_ = ts_ns;
  // Event time drives the aggregation windows, so a replay closes them as the live agent did.
  const int64_t now_ms = EpochMs(now_ns_);
  if (now_ms - last_flush_ms_ >= 1000) {
    last_flush_ms_ = now_ms;
    ExpirePendingEgress(now_ms);
    ApplyGrants(grants_.Expire(static_cast<int64_t>(now_ns_ / 1000000)));
    for (const detect::Alert& a : aggregator_.Flush(now_ms)) Deliver(a);
  }
}

void Engine::Tick() { Advance(BootTimeNs()); }

void Engine::FlushAlerts() {
  ExpirePendingEgress(INT64_MAX);
  for (const detect::Alert& a : aggregator_.FlushAll()) Deliver(a);
}

void Engine::JudgePendingEgress(const PendingEgress& p) {
  auto alert = unexpected_egress_.Evaluate(rules_, *p.rule, p.obs);
  if (!alert) return;  // the server name is allowed
  for (uint32_t i = 0; i < p.repeats; ++i) Emit(*alert);
  Emit(std::move(*alert));
}

void Engine::ExpirePendingEgress(int64_t now_ms) {
  if (pending_egress_.empty()) return;
  std::vector<EgressKey> due;
  for (const auto& [key, p] : pending_egress_) {
    if (p.deadline_ms <= now_ms) due.push_back(key);
  }
  // In connect order, as they would have been emitted without the wait.
  std::sort(due.begin(), due.end(), [this](const EgressKey& a, const EgressKey& b) {
    return pending_egress_.at(a).obs.time_ms < pending_egress_.at(b).obs.time_ms;
  });
  for (const EgressKey& key : due) {
    auto it = pending_egress_.find(key);
    JudgePendingEgress(it->second);
    pending_egress_.erase(it);
  }
}

void Engine::Watch(const absl::Status& s) {
  if (s.ok()) return;
  ++stats_.watch_errors;
  fprintf(stderr, "sluiced: watch set: %s\n", std::string(s.message()).c_str());
}

absl::Status Engine::SeedWatchSet() { return SeedWatchSet(rules_); }

absl::Status Engine::SeedWatchSet(const detect::RuleSet& rules) {
  if (watch_ == nullptr) return absl::OkStatus();
  for (const auto& [id, path] : cgroups_->All()) {
    LearnContainer(rules, path);
    uint64_t mask = state::CgroupMask(rules, path, labels_of_);
    if (mask != 0) Watch(watch_->WatchCgroup(id, mask));
  }
  for (const auto& w : rules.workloads) {
    if (!w.selector.exe_glob) continue;
    glob_t g{};
    if (glob(w.selector.exe_glob->c_str(), 0, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        struct stat st;
        if (stat(g.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode)) continue;
        // The mask of the path the glob named; a symlink's target may match other globs too,
        // which its own expansion adds.
        uint64_t mask = state::ExeMask(rules, g.gl_pathv[i]);
        Watch(watch_->WatchExe(EncodeDev(st.st_dev), st.st_ino, mask));
      }
    }
    globfree(&g);
  }
  // A process belongs to the exe workloads of its own executable and of every ancestor's, as
  // the kernel's fork/exec inheritance would have recorded had the agent been running then.
  for (uint32_t pid : processes_->Pids()) {
    uint64_t mask = 0;
    std::vector<uint32_t> chain = processes_->Ancestors(pid);
    chain.push_back(pid);
    for (uint32_t member : chain) {
      auto p = processes_->Get(member);
      if (p && !p->exe.empty()) mask |= state::ExeMask(rules, p->exe);
    }
    if (mask != 0) Watch(watch_->WatchTask(pid, mask));
  }
  return absl::OkStatus();
}

void Engine::OnRecord(absl::Span<const uint8_t> record) {
  auto event = events::Decode(record);
  if (!event.ok()) {
    ++stats_.decode_errors;
    return;
  }
  OnEvent(*event);
}

void Engine::OnEvent(const events::Event& event) {
  std::visit(
      [this](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, events::DnsEvent>) {
          if (e.hdr.type < stats_.events.size()) ++stats_.events[e.hdr.type];
          if (auto o = ObserveDns(e)) OnInput(*o);
        } else if constexpr (std::is_same_v<T, events::TlsEvent>) {
          if (e.hdr.type < stats_.events.size()) ++stats_.events[e.hdr.type];
          OnInput(ObserveTls(e));
        } else if constexpr (std::is_same_v<T, events::PayloadEvent>) {
          if (e.hdr.type < stats_.events.size()) ++stats_.events[e.hdr.type];
          OnInput(ObservePayload(e));
        } else {
          OnInput(Input(e));
        }
      },
      event);
}

void Engine::SetRecorder(InputRecorder* recorder) {
  recorder_ = recorder;
  if (recorder_ == nullptr) return;
  recorder_->Record(ClockSync{boot_to_epoch_ns_});
  for (const auto& [id, c] : containers_) recorder_->Record(ContainerInfo{id, c.labels, c.found});
  for (const auto& [id, path] : cgroups_->All()) recorder_->Record(CgroupSnapshot{id, path});
  for (uint32_t pid : processes_->Pids()) {
    if (auto p = processes_->Get(pid)) {
      recorder_->Record(SnapshotOf(*p));
    }
  }
}

void Engine::OnInput(const Input& input) {
  // A new container's labels are needed to place its cgroup: learned (and recorded) first.
  if (const auto* mkdir = std::get_if<events::CgroupMkdirEvent>(&input)) {
    LearnContainer(rules_, mkdir->path);
  } else if (const auto* snapshot = std::get_if<CgroupSnapshot>(&input)) {
    LearnContainer(rules_, snapshot->path);
  }
  if (recorder_ != nullptr) recorder_->Record(input);
  std::visit(
      [this](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, events::ExecEvent>) {
          ++stats_.events[SLUICE_EV_EXEC];
          Advance(e.hdr.ts_ns);
          OnExec(e);
          if (events_ != nullptr) Publish("exec", output::ExecJson(e));
          if (hooks_ != nullptr && e.workload_id != SLUICE_NO_WORKLOAD) {
            auto p = processes_->Get(e.hdr.pid);
            hooks_->OnWatchedExec(e.hdr.pid, e.workload_id, p ? p->exe : e.filename);
          }
        } else if constexpr (std::is_same_v<T, events::ExitEvent>) {
          ++stats_.events[SLUICE_EV_EXIT];
          Advance(e.hdr.ts_ns);
          if (events_ != nullptr) Publish("exit", output::ExitJson(e));
          processes_->OnExit(e);
          archivers_reported_.erase(e.hdr.pid);
          tools_reported_.erase(e.hdr.pid);
          if (hooks_ != nullptr) hooks_->OnExit(e.hdr.pid);
        } else if constexpr (std::is_same_v<T, events::ForkEvent>) {
          ++stats_.events[SLUICE_EV_FORK];
          Advance(e.hdr.ts_ns);
          if (!(e.flags & SLUICE_FORK_F_MAYBE_THREAD)) processes_->OnFork(e);
          if (hooks_ != nullptr && !(e.flags & SLUICE_FORK_F_MAYBE_THREAD)) {
            hooks_->OnFork(e.hdr.pid, e.child_pid, (e.flags & SLUICE_FORK_F_WATCHED) != 0);
          }
          if (events_ != nullptr) Publish("fork", output::ForkJson(e));
        } else if constexpr (std::is_same_v<T, events::CgroupMkdirEvent>) {
          ++stats_.events[SLUICE_EV_CGROUP_MKDIR];
          OnCgroupMkdir(e);
        } else if constexpr (std::is_same_v<T, events::ConnectEvent>) {
          ++stats_.events[SLUICE_EV_CONNECT];
          Advance(e.hdr.ts_ns);
          if (events_ != nullptr) Publish("connect", output::ConnectJson(e));
          OnConnect(e);
        } else if constexpr (std::is_same_v<T, events::FlowEvent>) {
          ++stats_.events[SLUICE_EV_FLOW];
          Advance(e.hdr.ts_ns);
          OnFlow(e);
        } else if constexpr (std::is_same_v<T, events::FileOpenEvent>) {
          ++stats_.events[SLUICE_EV_FILE_OPEN];
          Advance(e.hdr.ts_ns);
          OnFileOpen(e);
        } else if constexpr (std::is_same_v<T, DnsObservation>) {
          Advance(e.hdr.ts_ns);
          OnDns(e);
        } else if constexpr (std::is_same_v<T, TlsObservation>) {
          Advance(e.hdr.ts_ns);
          OnTls(e);
        } else if constexpr (std::is_same_v<T, FlowTotals>) {
          Advance(e.ts_ns);
          OnFlowTotals(e);
        } else if constexpr (std::is_same_v<T, FileTotals>) {
          Advance(e.ts_ns);
          OnFileTotals(e);
        } else if constexpr (std::is_same_v<T, ProcessSnapshot>) {
          OnProcessSnapshot(e);
        } else if constexpr (std::is_same_v<T, CgroupSnapshot>) {
          cgroups_->Add(e.id, e.path);
          cgroup_masks_.erase(e.id);
        } else if constexpr (std::is_same_v<T, ClockSync>) {
          boot_to_epoch_ns_ = e.boot_to_epoch_ns;
        } else if constexpr (std::is_same_v<T, PayloadObservation>) {
          Advance(e.hdr.ts_ns);
          OnPayload(e);
        } else if constexpr (std::is_same_v<T, ContainerInfo>) {
          if (containers_.size() >= kMaxContainers && !containers_.contains(e.id)) {
            containers_.clear();  // rare: ids are looked up again as cgroups name them
          }
          ContainerState& c = containers_[e.id];
          c.labels = e.labels;
          c.found = e.found;
          cgroup_masks_.clear();
        }
      },
      input);
}

void Engine::OnProcessSnapshot(const ProcessSnapshot& s) {
  state::ProcessEntry p;
  p.pid = s.pid;
  p.ppid = s.ppid;
  p.uid = s.uid;
  p.exe = s.exe;
  p.comm = s.comm;
  p.cmdline = s.cmdline;
  p.cgroup_id = s.cgroup_id;
  p.exe_ino = s.exe_ino;
  p.exe_dev = s.exe_dev;
  processes_->Upsert(std::move(p));
}

const detect::Workload* Engine::WorkloadFor(uint32_t kernel_id, uint32_t pid, uint64_t cgroup_id,
                                            uint64_t attributed_ns) {
  if (options_.trust_kernel_workload) {
    if (kernel_id == SLUICE_NO_WORKLOAD) return nullptr;
    // Attributed under earlier rules (before a reload went live, or by the other bank): the id
    // may name another workload now.
    const bool stale = (kernel_ids_since_ns_ != 0 && attributed_ns < kernel_ids_since_ns_) ||
                       kernel_id < kernel_id_base_ ||
                       kernel_id - kernel_id_base_ >= detect::kMaxWorkloads;
    if (stale) return ResolveWorkload(pid, cgroup_id);
    const uint32_t id = kernel_id - kernel_id_base_;
    if (id >= rules_.workloads.size()) {
      ++stats_.unknown_workload;
      return nullptr;
    }
    return &rules_.workloads[id];
  }
  return ResolveWorkload(pid, cgroup_id);
}

void Engine::ReplaceRules(detect::RuleSet rules, uint32_t kernel_id_base,
                          uint64_t switched_ns) {
  // Accepted alerts are delivered under the rules that raised them.
  FlushAlerts();
  absl::flat_hash_map<uint32_t, uint32_t> renumber;
  for (const detect::Workload& next : rules.workloads) {
    for (const detect::Workload& prev : rules_.workloads) {
      if (prev.name == next.name) renumber[prev.id] = next.id;
    }
  }
  reads_.Renumber(renumber);
  // Closed flows awaiting their reads follow their workload too (or go with it).
  for (auto it = recently_closed_.begin(); it != recently_closed_.end();) {
    auto to = renumber.find(it->rule_id);
    if (to == renumber.end()) {
      it = recently_closed_.erase(it);
    } else {
      it->rule_id = to->second;
      ++it;
    }
  }
  rules_ = std::move(rules);
  flow_params_ = FlowParams::Of(rules_);
  aggregator_ = detect::AlertAggregator(detect::AlertAggregator::Options{
      .window_ms = int64_t{rules_.aggregate_window_s} * 1000});
  cgroup_masks_.clear();
  kernel_id_base_ = kernel_id_base;
  kernel_ids_since_ns_ = std::max<uint64_t>(switched_ns, 1);
  // The grants of the old bank went with its scrub; the staged ones are the new set's.
  if (staged_grants_) {
    grants_ = std::move(*staged_grants_);
    staged_grants_.reset();
    grants_.Rebind(&rules_);
  } else {
    grants_.Reset(&rules_, kernel_id_base);
  }
  // What was reported stays reported (per flow, per process): a reload must not repeat alerts.
  SeedProcessHooks();
}

const detect::Workload* Engine::ResolveWorkload(uint32_t pid, uint64_t cgroup_id) {
  // Resolved as the kernel would with these rules: cgroup masks per cgroup, exe masks along the
  // process chain.
  uint64_t cmask = 0;
  if (cgroup_id != 0) {
    auto it = cgroup_masks_.find(cgroup_id);
    if (it == cgroup_masks_.end()) {
      const std::optional<std::string> path = cgroups_->PathOf(cgroup_id);
      it = cgroup_masks_.emplace(cgroup_id, path ? state::CgroupMask(rules_, *path, labels_of_) : 0).first;
    }
    cmask = it->second;
  }
  uint64_t emask = 0;
  if (pid != 0) {
    std::vector<uint32_t> chain = processes_->Ancestors(pid);
    chain.push_back(pid);
    for (uint32_t member : chain) {
      if (const state::ProcessEntry* p = processes_->Find(member); p && !p->exe.empty()) {
        emask |= state::ExeMask(rules_, p->exe);
      }
    }
  }
  auto w = state::ResolveWorkload(cmask, emask, SelectorsOf(rules_));
  if (!w || *w >= rules_.workloads.size()) return nullptr;
  return &rules_.workloads[*w];
}

detect::Subject Engine::SubjectFor(const detect::Workload& w, uint32_t pid, uint64_t cgroup_id,
                                   uint64_t ts_ns) {
  detect::Subject s;
  s.rule = &w;
  s.time_ms = EpochMs(ts_ns);
  s.process.pid = pid;
  if (const state::ProcessEntry* p = pid != 0 ? processes_->Find(pid) : nullptr) {
    s.process.ppid = p->ppid;
    s.process.uid = p->uid;
    s.process.exe = p->exe;
    s.process.comm = p->comm;
    s.process.cmdline = p->cmdline;
  }
  s.workload.name = w.name;
  s.workload.role = w.role;
  s.workload.cgroup_id = cgroup_id;
  s.workload.cgroup_path = cgroup_id != 0 ? cgroups_->PathOf(cgroup_id).value_or("") : "";
  return s;
}

detect::Peer Engine::PeerOf(const events::Flow& flow, const FlowState* fs) {
  detect::Peer peer;
  peer.ip.bytes = flow.daddr;
  peer.port = flow.dport;
  peer.protocol = ProtocolName(flow.protocol);
  peer.names = NamesFor(flow.daddr);
  if (fs != nullptr) peer.sni = fs->sni;
  return peer;
}

void Engine::EmitForFlow(detect::Alert alert, const detect::Workload& rule, FlowState& fs) {
  const bool convicts = alert.disposition == detect::Disposition::kWouldBlock;  // spec.severs
  const bool inbound = (fs.flow.flags & SLUICE_FLOW_F_INBOUND) != 0;
  if (convicts && options_.enforce && rule.mode == detect::Mode::kEnforce && severer_ != nullptr &&
      fs.cookie != 0 && !inbound && !(fs.flow.flags & SLUICE_FLOW_F_CLOSED)) {
    if (absl::Status s = severer_->Sever(fs.cookie, fs.flow.pid); s.ok()) {
      ++stats_.flows_severed;
      alert.disposition = detect::Disposition::kBlocked;
      alert.description += " The flow was severed: nothing more of it leaves the host.";
    } else {
      ++stats_.sever_errors;
      fprintf(stderr, "sluiced: cannot sever flow %llu: %s\n",
              static_cast<unsigned long long>(fs.cookie), std::string(s.message()).c_str());
    }
  }
  Emit(std::move(alert));
}

void Engine::Emit(detect::Alert alert) {
  ++stats_.findings[alert.detector];
  // A rule's quarantine follows the finding that asked for it (also one the aggregator holds).
  const detect::Workload* contain = nullptr;
  if (containment_ != nullptr) {
    for (const detect::Workload& w : rules_.workloads) {
      if (w.name != alert.workload.name) continue;
      if (std::find(w.quarantine_on.begin(), w.quarantine_on.end(), alert.detector) !=
          w.quarantine_on.end()) {
        contain = &w;
      }
      break;
    }
  }
  std::optional<detect::Alert> trigger;
  if (contain != nullptr) trigger = alert;
  const int64_t now_ms = std::max(alert.time_ms, EpochMs(now_ns_));
  std::vector<detect::Alert> out = aggregator_.Offer(std::move(alert), now_ms);
  if (out.empty()) ++stats_.alerts_aggregated;
  for (const detect::Alert& a : out) Deliver(a);
  if (trigger) containment_->OnConviction(*contain, *trigger);
}

void Engine::Deliver(const detect::Alert& alert) {
  ++stats_.alerts;
  if (absl::Status s = sink_->Write(alert); !s.ok()) {
    ++stats_.sink_errors;
    fprintf(stderr, "sluiced: alert sink: %s\n", std::string(s.message()).c_str());
  }
}

void Engine::OnExec(const events::ExecEvent& e) {
  processes_->OnExec(e);
  archivers_reported_.erase(e.hdr.pid);
  tools_reported_.erase(e.hdr.pid);
  if (recorder_ != nullptr) {
    // What /proc told the live table (the absolute exe, the full command line) is not in the
    // event: record it, so a replay attributes the process the same way.
    if (auto p = processes_->Get(e.hdr.pid)) {
      recorder_->Record(SnapshotOf(*p));
    }
  }
  if (watch_ == nullptr) return;
  // Exe globs are expanded to inodes at start; a binary that appeared later (an upgrade, a
  // dropped tool) is matched by path here, and the kernel learns the file and the process.
  // Rewriting an entry the kernel already has is harmless: the mask below is the same one.
  auto p = processes_->Get(e.hdr.pid);
  std::string exe = p && !p->exe.empty() ? p->exe : e.filename;
  uint64_t mask = state::ExeMask(rules_, exe);
  if (mask == 0) return;
  Watch(watch_->WatchExe(e.exe_dev, e.exe_ino, mask));
  // Inherited bits, if any, are in the kernel already; the kernel ORs nothing here, so include
  // the parent chain's exe workloads as the exec probe would have.
  for (uint32_t a : processes_->Ancestors(e.hdr.pid)) {
    if (auto p = processes_->Get(a); p && !p->exe.empty()) mask |= state::ExeMask(rules_, p->exe);
  }
  Watch(watch_->WatchTask(e.hdr.pid, mask));
}

void Engine::OnCgroupMkdir(const events::CgroupMkdirEvent& e) {
  cgroups_->Add(e.hdr.cgroup_id, e.path);
  cgroup_masks_.erase(e.hdr.cgroup_id);
  if (watch_ == nullptr) return;
  uint64_t mask = state::CgroupMask(rules_, e.path, labels_of_);
  if (mask != 0) Watch(watch_->WatchCgroup(e.hdr.cgroup_id, mask));
}

void Engine::OnConnect(const events::ConnectEvent& e) {
  const detect::Workload* rule = WorkloadFor(e.workload_id, e.hdr.pid, e.hdr.cgroup_id, e.hdr.ts_ns);
  if (rule == nullptr) return;
  const detect::Subject subject = SubjectFor(*rule, e.hdr.pid, e.hdr.cgroup_id, e.hdr.ts_ns);

  detect::ConnectObservation obs;
  obs.time_ms = subject.time_ms;
  obs.daddr.bytes = e.daddr;
  obs.dport = e.dport;
  obs.protocol = ProtocolName(e.protocol);
  obs.verdict = e.verdict;
  obs.has_result = (e.flags & SLUICE_CONNECT_F_HAS_RESULT) != 0;
  obs.ret = e.ret;
  obs.process = subject.process;
  obs.workload = subject.workload;
  obs.names = NamesFor(e.daddr);
  if (rule->mode == detect::Mode::kLearn) learn_.OnConnect(*rule, obs.daddr, obs.dport, obs.names);
  if (auto alert = unexpected_egress_.Evaluate(rules_, *rule, obs)) {
    // Not allowed by address, and no DNS answer named the address (resolved out of sight: a
    // hosts file, DNS over HTTPS, a cache older than the agent), but a host entry could still
    // allow it by the TLS server name the ClientHello will carry: judge again when the flow's
    // first bytes arrive (OnPayload), or when the wait is over. A known name that no entry
    // allows is judged at once: a server name that disagrees with it must not whitewash it.
    const double wait_s = rules_.Param("unexpected_egress", "sni_wait_s");
    const bool connected = !obs.has_result || obs.ret == 0 || obs.ret == -EINPROGRESS;
    if (wait_s > 0 && obs.names.empty() && obs.protocol == "tcp" &&
        e.verdict != SLUICE_VERDICT_DENY && connected &&
        detect::HostEntryCouldAllow(*rule, obs.dport) &&
        pending_egress_.size() < kMaxPendingEgress) {
      const EgressKey key{e.hdr.pid, e.daddr, e.dport};
      auto [it, inserted] = pending_egress_.try_emplace(key);
      if (inserted) {
        it->second.rule = rule;
        it->second.obs = obs;
        it->second.deadline_ms = subject.time_ms + static_cast<int64_t>(wait_s * 1000);
      } else {
        ++it->second.repeats;  // the same process again: judged with the first
      }
    } else {
      Emit(std::move(*alert));
    }
  }

  // A transfer tool under a service workload: once per process, on its first connect off-host
  // that is not its name lookup (port 53: the resolver query comes first and would take the
  // finding away from the transfer).
  if (!detect::ToolEgressDetector::ToolName(subject.process.Image()).empty() &&
      !tools_reported_.contains(e.hdr.pid) && !detect::IsLoopback(obs.daddr) &&
      obs.dport != 53) {
    detect::ToolConnect tc;
    tc.subject = subject;
    tc.peer.ip = obs.daddr;
    tc.peer.port = obs.dport;
    tc.peer.protocol = obs.protocol;
    tc.peer.names = obs.names;
    tc.allowed = AllowedFor(*rule, obs.daddr, obs.dport, obs.names);
    if (subject.process.ppid != 0) {
      if (auto parent = processes_->Get(subject.process.ppid)) tc.parent_exe = parent->exe;
    }
    if (auto alert = tool_egress_.Evaluate(rules_, tc)) {
      tools_reported_.insert(e.hdr.pid);
      Emit(std::move(*alert));
    }
  }
}

void Engine::Publish(const std::string& type, const nlohmann::json& j) {
  if (events_ != nullptr) events_->Publish(type, j);
}

std::string Engine::ClassName(uint32_t class_id) const {
  for (const auto& c : rules_.file_classes) {
    if (c.id == class_id) return c.name;
  }
  return absl::StrCat("class-", class_id);
}

std::vector<Engine::LiveFlow> Engine::LiveFlows(const std::string& workload, size_t limit,
                                                uint64_t now_ns) {
  if (now_ns == 0) now_ns = now_ns_;
  auto endpoint = [](const std::array<uint8_t, 16>& addr, uint16_t port) {
    const std::string ip = detect::IpAddr{addr}.ToString();
    return ip.find(':') != std::string::npos ? absl::StrCat("[", ip, "]:", port)
                                             : absl::StrCat(ip, ":", port);
  };
  std::vector<const FlowState*> open;
  open.reserve(open_flows_.size());
  for (const auto& [cookie, fs] : open_flows_) {
    if (!(fs.flow.flags & SLUICE_FLOW_F_CLOSED)) open.push_back(&fs);
  }
  std::sort(open.begin(), open.end(), [](const FlowState* a, const FlowState* b) {
    return a->flow.start_ns > b->flow.start_ns;
  });
  std::vector<LiveFlow> out;
  for (const FlowState* fs : open) {
    if (out.size() >= limit) break;
    const events::Flow& f = fs->flow;
    const detect::Workload* rule = WorkloadFor(f.workload_id, f.pid, f.cgroup_id, f.start_ns);
    const std::string name = rule != nullptr ? rule->name : "";
    if (!workload.empty() && name != workload) continue;
    LiveFlow lf;
    lf.cookie = fs->cookie;
    lf.workload = name;
    lf.pid = f.pid;
    if (auto p = processes_->Get(f.pid)) lf.process = p->exe.empty() ? p->comm : p->exe;
    lf.protocol = f.protocol == 17 ? "udp" : "tcp";
    lf.inbound = (f.flags & SLUICE_FLOW_F_INBOUND) != 0;
    lf.local = endpoint(f.saddr, f.sport);
    lf.peer = endpoint(f.daddr, f.dport);
    lf.names = NamesFor(f.daddr);
    lf.sni = fs->sni;
    lf.app_protocol = fs->app_protocol;
    lf.bytes_out = f.bytes_out;
    lf.bytes_in = f.bytes_in;
    lf.age_ms = now_ns > f.start_ns ? (now_ns - f.start_ns) / 1000000 : 0;
    out.push_back(std::move(lf));
  }
  return out;
}

std::vector<std::string> Engine::NamesFor(const std::array<uint8_t, 16>& addr) {
  return dns_.NamesFor(addr, now_ns_ / 1000000);
}

void Engine::OnFlow(const events::FlowEvent& e) {
  if (e.kind == SLUICE_FLOW_CLOSED) {
    auto it = open_flows_.find(e.cookie);
    if (it != open_flows_.end()) {
      it->second.flow = e.flow;
      EvaluateFlow(it->second, e.hdr.ts_ns);
      KeepForRejudge(std::move(it->second), e.hdr.ts_ns);
      open_flows_.erase(it);
    } else {
      FlowState fs;
      fs.flow = e.flow;
      fs.cookie = e.cookie;
      EvaluateFlow(fs, e.hdr.ts_ns);
      KeepForRejudge(std::move(fs), e.hdr.ts_ns);
    }
    if (e.flow.flags & SLUICE_FLOW_F_RELEASED) {
      // The kernel deleted the entry with this record: no reap follows. A live snapshot the
      // reaper took before the close must not bring the flow back (see BeginReap).
      if (released_.size() >= kMaxOpenFlows) released_.clear();  // no reaper (a replay)
      released_.insert(e.cookie);
      if (severer_ != nullptr) severer_->Forget(e.cookie);
    } else if (!closed_reported_.insert(e.cookie).second) {
      return;
    }
    ++stats_.flows_closed;
  } else if (open_flows_.size() < kMaxOpenFlows || open_flows_.contains(e.cookie)) {
    FlowState& fs = open_flows_[e.cookie];
    fs.flow = e.flow;
    fs.cookie = e.cookie;
  }
  if (events_ != nullptr) Publish("flow", output::FlowJson(e.cookie, e.kind, e.flow, NamesFor(e.flow.daddr)));
}

void Engine::OnFlowReaped(uint64_t cookie, const events::Flow& flow) {
  OnInput(FlowTotals{BootTimeNs(), cookie, flow, /*final=*/true});
}

void Engine::OnFlowProgress(uint64_t cookie, const events::Flow& flow) {
  OnInput(FlowTotals{BootTimeNs(), cookie, flow, /*final=*/false});
}

void Engine::OnFlowTotals(const FlowTotals& t) {
  if (!t.final) {
    if (released_.contains(t.cookie)) return;  // closed since the reaper read it
    ++stats_.flow_updates;
    auto it = open_flows_.find(t.cookie);
    if (it == open_flows_.end()) {
      // Its open record was lost or came before the agent: the map entry is the truth.
      if (open_flows_.size() >= kMaxOpenFlows) return;
      it = open_flows_.emplace(t.cookie, FlowState{}).first;
      it->second.cookie = t.cookie;
    }
    it->second.flow = t.flow;
    EvaluateFlow(it->second, t.ts_ns);
    return;
  }
  if (auto it = open_flows_.find(t.cookie); it != open_flows_.end()) {
    it->second.flow = t.flow;
    EvaluateFlow(it->second, t.ts_ns);
    KeepForRejudge(std::move(it->second), t.ts_ns);
    open_flows_.erase(it);
  } else if (!closed_reported_.contains(t.cookie)) {
    // Neither its open nor its close record arrived: judge the final totals once.
    FlowState fs;
    fs.flow = t.flow;
    fs.cookie = t.cookie;
    EvaluateFlow(fs, t.ts_ns);
    KeepForRejudge(std::move(fs), t.ts_ns);
  }
  if (closed_reported_.erase(t.cookie) > 0) return;  // its close record was published already
  ++stats_.flows_closed;
  ++stats_.flows_recovered;
  if (events_ == nullptr) return;
  nlohmann::json j = output::FlowJson(t.cookie, SLUICE_FLOW_CLOSED, t.flow, NamesFor(t.flow.daddr));
  j["recovered"] = true;  // the close record was lost; the totals come from the kernel map
  Publish("flow", j);
}

void Engine::EvaluateFlow(FlowState& fs, uint64_t ts_ns) {
  const events::Flow& f = fs.flow;
  if (f.bytes_out == 0 || detect::IsLoopback(detect::IpAddr{f.daddr})) return;
  // What this flow sent since it was last counted (volume budgets, learn mode).
  const uint64_t delta = f.bytes_out > fs.volume_counted ? f.bytes_out - fs.volume_counted : 0;
  fs.volume_counted = std::max(fs.volume_counted, f.bytes_out);
  // Send-after-read can only be an outbound flow with something sent that no file detector
  // reported yet. Every check before the subject and peer are built is cheap: a busy host
  // updates every live flow every second.
  const bool outbound = !(f.flags & SLUICE_FLOW_F_INBOUND);
  const bool may_carry_files = outbound && f.bytes_out >= detect::kMinExfilSend &&
                               (fs.fired & (kFiredCacheDump | kFiredLogExport |
                                            kFiredExfilChain)) == 0;
  if (delta == 0 && !may_carry_files) return;
  const detect::Workload* rule = WorkloadFor(f.workload_id, f.pid, f.cgroup_id, f.start_ns);
  if (rule == nullptr) return;
  const double default_budget = flow_params_.default_budget_bytes;
  const bool budgeted = delta > 0 && (!rule->budgets.empty() || default_budget > 0);
  const bool learning = delta > 0 && outbound && rule->mode == detect::Mode::kLearn;
  // The longest window any of the three file detectors looks back over, and whether the
  // workload read sensitive files within it.
  const double window_s = flow_params_.file_window_s;
  const int64_t since_ms = EpochMs(ts_ns) - static_cast<int64_t>(window_s * 1000);
  // Only the reads of the sender's own process tree count (ProcessEntry::tree): the workload's
  // other trees (another job, another shell) read for their own reasons.
  const uint32_t tree = may_carry_files ? TreeOf(f.pid) : 0;
  const bool read_lately = may_carry_files && reads_.LastReadMs(rule->id, tree) >= since_ms;
  if (!budgeted && !learning && !read_lately) return;

  const detect::Subject subject = SubjectFor(*rule, f.pid, f.cgroup_id, ts_ns);
  const detect::Peer peer = PeerOf(f, &fs);
  const std::vector<std::string> names = peer.AllNames();
  if (learning) learn_.OnBytesOut(*rule, peer.ip, peer.port, peer.names, delta);
  if (budgeted) {
    // Every budget the flow falls under.
    std::vector<const detect::ByteBudget*> budgets;
    for (const detect::ByteBudget& b : rule->budgets) {
      if (detect::DestinationMatches(b.to, peer.ip, names)) budgets.push_back(&b);
    }
    detect::ByteBudget fallback;
    if (rule->budgets.empty()) {
      fallback.bytes = static_cast<uint64_t>(default_budget);
      fallback.window_s = static_cast<uint32_t>(rules_.Param("volume_anomaly", "window_s"));
      budgets.push_back(&fallback);
    }
    for (const detect::ByteBudget* b : budgets) {
      const std::string label = b->to.host_glob ? *b->to.host_glob
                                : b->to.cidr    ? b->to.cidr->ToString()
                                                : std::string("any destination");
      const std::string key = absl::StrCat(rule->name, "|", label, "|", b->bytes, "|", b->window_s);
      const uint64_t sum = volume_.Add(key, delta, subject.time_ms, b->window_s);
      // Report the crossing, not every update after it (the aggregator merges repeats).
      if (sum > b->bytes && sum - delta <= b->bytes) {
        detect::VolumeObservation o{subject, peer, b->bytes, b->window_s, label, sum};
        if (auto a = volume_anomaly_.Evaluate(rules_, o)) EmitForFlow(std::move(*a), *rule, fs);
      }
    }
  }
  if (!read_lately) return;

  detect::SendAfterRead send;
  send.subject = subject;
  send.peer = peer;
  send.bytes_out = f.bytes_out;
  send.bytes_in = f.bytes_in;
  send.outbound = true;
  send.allowed = AllowedFor(*rule, peer.ip, peer.port, names);
  send.sink = detect::SinkFor(rules_, peer.ip, peer.port, names);
  // An allowed peer that is not a log sink can only be a log export: without inference logs
  // read, nothing here can fire.
  const bool could_dump = !send.allowed && send.sink == nullptr;
  const bool could_export =
      send.sink == nullptr || send.sink->kind != detect::SinkDestination::Kind::kLog;
  if (!could_dump && !could_export) return;
  const uint32_t workload_id = rule->id;
  send.read_bytes = [this, workload_id, tree](const std::vector<std::string>& classes,
                                              int64_t since) {
    return reads_.GrowthSince(workload_id, tree, classes, since);
  };
  send.read_files = [this, workload_id, tree](const std::vector<std::string>& classes,
                                              int64_t since) {
    return reads_.ForWorkload(workload_id, tree, since, classes, detect::kMaxFilesPerFinding);
  };
  bool specific = false;
  if (!(fs.fired & kFiredCacheDump)) {
    if (auto a = cache_dump_.Evaluate(rules_, send)) {
      fs.fired |= kFiredCacheDump;
      specific = true;
      EmitForFlow(std::move(*a), *rule, fs);
    }
  }
  if (!(fs.fired & kFiredLogExport)) {
    if (auto a = log_export_.Evaluate(rules_, send)) {
      fs.fired |= kFiredLogExport;
      specific = true;
      EmitForFlow(std::move(*a), *rule, fs);
    }
  }
  if (!specific && !(fs.fired & kFiredExfilChain)) {
    if (auto a = exfil_chain_.Evaluate(rules_, send)) {
      fs.fired |= kFiredExfilChain;
      EmitForFlow(std::move(*a), *rule, fs);
    }
  }
}

uint32_t Engine::TreeOf(uint32_t pid) const {
  const state::ProcessEntry* p = processes_->Find(pid);
  return p != nullptr ? p->tree : 0;
}

void Engine::KeepForRejudge(FlowState fs, uint64_t closed_ns) {
  const events::Flow& f = fs.flow;
  // Only what a file detector could still report (the checks EvaluateFlow starts with).
  if ((f.flags & SLUICE_FLOW_F_INBOUND) || f.bytes_out < detect::kMinExfilSend ||
      (fs.fired & (kFiredCacheDump | kFiredLogExport | kFiredExfilChain)) != 0 ||
      detect::IsLoopback(detect::IpAddr{f.daddr})) {
    return;
  }
  const detect::Workload* rule = WorkloadFor(f.workload_id, f.pid, f.cgroup_id, f.start_ns);
  if (rule == nullptr) return;
  if (recently_closed_.size() >= kMaxRejudge) recently_closed_.pop_front();
  fs.volume_counted = std::max(fs.volume_counted, f.bytes_out);  // volume is counted already
  const uint32_t tree = TreeOf(f.pid);
  recently_closed_.push_back({std::move(fs), closed_ns, rule->id, tree});
}

void Engine::RejudgeClosedFlows(uint32_t rule_id, uint32_t tree) {
  while (!recently_closed_.empty() && recently_closed_.front().closed_ns + kRejudgeNs < now_ns_) {
    recently_closed_.pop_front();
  }
  for (ClosedFlow& c : recently_closed_) {
    // Only the flows these reads can count for: the same workload, and the same process tree
    // unless either side's lineage is unknown.
    if (c.rule_id != rule_id || (tree != 0 && c.tree != 0 && c.tree != tree)) continue;
    if ((c.fs.fired & (kFiredCacheDump | kFiredLogExport | kFiredExfilChain)) != 0) continue;
    // As of the close: the window reaches back from there, and the reads just reported count.
    EvaluateFlow(c.fs, c.closed_ns);
  }
}

void Engine::OnFileOpen(const events::FileOpenEvent& e) {
  FileKey key{e.hdr.pid, e.dev, e.ino};
  // Bounded: entries leave when the reaper reports the totals of an exited process.
  if (file_paths_.size() < 65536 || file_paths_.contains(key)) {
    std::string path = e.path;
    if (e.matched_by == SLUICE_FILE_MATCH_IO_URING) {
      path = absl::StrCat("(io_uring) ", e.path);  // the name only: io_uring keeps no path
    } else if (!path.empty() && path[0] != '/') {
      path = absl::StrCat("(relative) ", e.path);
    }
    file_paths_.insert_or_assign(key, std::move(path));
  }
  if (events_ != nullptr) Publish("file_open", output::FileOpenJson(e, ClassName(e.class_id)));
}

void Engine::OnFileReaped(const FileKey& key, uint64_t bytes_read, uint64_t bytes_mapped,
                          uint64_t calls, uint32_t class_id, uint32_t workload_id) {
  OnInput(FileTotals{BootTimeNs(), key.pid, key.dev, key.ino, bytes_read, bytes_mapped, calls,
                     class_id, workload_id, /*final=*/true});
}

void Engine::OnFileProgress(const FileKey& key, uint64_t bytes_read, uint64_t bytes_mapped,
                            uint64_t calls, uint32_t class_id, uint32_t workload_id) {
  OnInput(FileTotals{BootTimeNs(), key.pid, key.dev, key.ino, bytes_read, bytes_mapped, calls,
                     class_id, workload_id, /*final=*/false});
}

void Engine::OnFileTotals(const FileTotals& t) {
  const FileKey key{t.pid, t.dev, t.ino};
  std::string path;
  if (auto it = file_paths_.find(key); it != file_paths_.end()) path = it->second;
  // A file's totals belong to the workload of the reading process: the kernel's answer, or the
  // cgroup of the process as the table knows it.
  uint64_t cgroup_id = 0;
  uint32_t tree = 0;
  if (const state::ProcessEntry* p = processes_->Find(t.pid)) {
    cgroup_id = p->cgroup_id;
    tree = p->tree;
  }
  if (const detect::Workload* rule = WorkloadFor(t.workload_id, t.pid, cgroup_id, /*attributed_ns=*/0)) {
    state::ReadLedger::Update u;
    u.workload_id = rule->id;
    u.pid = t.pid;
    u.dev = t.dev;
    u.ino = t.ino;
    u.bytes_read = t.bytes_read;
    u.bytes_mapped = t.bytes_mapped;
    u.path = path;
    u.file_class = ClassName(t.class_id);
    u.time_ms = EpochMs(t.ts_ns);
    u.tree = tree;
    const detect::Subject subject = SubjectFor(*rule, t.pid, cgroup_id, t.ts_ns);
    u.exe = subject.process.exe;
    const uint64_t grew = reads_.Observe(u);
    if (grew > 0 && !recently_closed_.empty()) RejudgeClosedFlows(rule->id, tree);
    if (grew > 0 && rule->mode == detect::Mode::kLearn) learn_.OnFileRead(*rule, u.file_class, grew);
    if (grew > 0 && !archivers_reported_.contains(t.pid) &&
        detect::ArchiveStagingDetector::IsArchiver(subject.process.Image())) {
      detect::ArchiveObservation o{subject, reads_.ForProcess(t.pid)};
      if (auto a = archive_staging_.Evaluate(rules_, o)) {
        archivers_reported_.insert(t.pid);
        Emit(std::move(*a));
      }
    }
  }
  if (!t.final) {
    ++stats_.file_updates;
    return;
  }
  ++stats_.files_reaped;
  file_paths_.erase(key);
  if (events_ != nullptr) Publish("file_read", output::FileTotalsJson(t.pid, t.dev, t.ino, path, ClassName(t.class_id),
                                              t.bytes_read, t.bytes_mapped, t.calls));
}

std::optional<DnsObservation> Engine::ObserveDns(const events::DnsEvent& e) {
  auto msg = events::ParseDnsMessage(e.payload);
  if (!msg.ok()) {
    ++stats_.dns_errors;
    return std::nullopt;
  }
  if (!msg->response) return std::nullopt;
  DnsObservation o;
  o.hdr = e.hdr;
  o.cookie = e.cookie;
  o.server = e.server;
  o.cut = e.wire_len > e.payload.size();
  o.message = *std::move(msg);
  return o;
}

void Engine::OnDns(const DnsObservation& o) {
  ++stats_.dns_answers;
  const events::DnsMessage& msg = o.message;
  const uint64_t dns_ms = o.hdr.ts_ns / 1000000;
  dns_.Observe(msg, dns_ms);
  // Host entries earn the answered addresses in the kernel allowlist (enforce mode needs them
  // before the connect that follows).
  for (const auto& a : msg.answers) {
    if (a.type != events::kDnsTypeA && a.type != events::kDnsTypeAaaa) continue;
    const std::vector<std::string> names = dns_.NamesFor(a.addr, dns_ms);
    const int64_t until = static_cast<int64_t>(dns_ms) +
                          std::max<int64_t>(int64_t{a.ttl} * 1000, enforce::kMinGrantMs);
    ApplyGrants(grants_.Observe(detect::IpAddr{a.addr}, names, until));
  }
  if (events_ != nullptr) {
    nlohmann::json answers = nlohmann::json::array();
    for (const auto& a : msg.answers) {
      nlohmann::json j = {{"name", a.name}, {"type", a.type}, {"ttl", a.ttl}};
      if (a.type == events::kDnsTypeCname) {
        j["cname"] = a.cname;
      } else {
        j["addr"] = output::IpText(a.addr);
      }
      answers.push_back(std::move(j));
    }
    Publish("dns", {{"type", "dns"},
                    {"ts_ns", o.hdr.ts_ns},
                    {"cgroup_id", o.hdr.cgroup_id},
                    {"cookie", o.cookie},
                    {"server", output::IpText(o.server)},
                    {"id", msg.id},
                    {"rcode", msg.rcode},
                    {"truncated", msg.truncated || o.cut},
                    {"questions", msg.questions},
                    {"answers", answers}});
  }

  // dns_tunnel: the questions say what was asked, whatever the answer. DNS records carry no
  // workload id and no process (they are taken in softirq): the receiving socket's cgroup says.
  const detect::Workload* rule = ResolveWorkload(0, o.hdr.cgroup_id);
  if (rule == nullptr) return;
  for (const std::string& q : msg.questions) {
    const std::string domain = detect::DnsTunnelDetector::RegisteredDomain(q);
    if (domain.size() >= q.size()) continue;  // nothing left of the domain to carry data
    const absl::string_view sub(q.data(), q.size() - domain.size() - 1);
    detect::DnsQueryObservation obs;
    obs.subject = SubjectFor(*rule, 0, o.hdr.cgroup_id, o.hdr.ts_ns);
    obs.name = q;
    obs.domain = domain;
    for (absl::string_view label : absl::StrSplit(sub, '.')) {
      if (label.size() > obs.longest_label) {
        obs.longest_label = label.size();
        obs.label_entropy = detect::DnsTunnelDetector::Entropy(label);
      }
    }
    obs.names_last_minute =
        name_rate_.Observe(absl::StrCat(rule->name, "|", domain), q, obs.subject.time_ms);
    if (auto a = dns_tunnel_.Evaluate(rules_, obs)) Emit(std::move(*a));
  }
}

TlsObservation Engine::ObserveTls(const events::TlsEvent& e) const {
  TlsObservation o;
  o.hdr = e.hdr;
  o.cookie = e.cookie;
  o.fd = e.fd;
  o.len = e.len;
  o.direction = e.direction;
  o.lib = e.lib;
  o.workload_id = e.workload_id;
  const absl::Span<const uint8_t> prefix =
      absl::MakeConstSpan(e.data).first(std::min(e.data.size(), options_.classify_bytes));
  o.captured = static_cast<uint32_t>(prefix.size());
  // Classify and drop the bytes: only the classification leaves this function.
  const detect::classify::PayloadClass c = detect::classify::ClassifyPayload(prefix);
  o.protocol = detect::classify::ProtocolName(c.protocol);
  if (c.protocol == detect::classify::PayloadClass::kHttp1Request) {
    o.http_method = c.method;
    o.http_path = c.path;
    o.http_host = c.host;
    o.http_has_query = c.has_query;
  }
  if (c.protocol != detect::classify::PayloadClass::kHttp1Request) o.operation = c.operation;
  // A ClientHello written through the library: a proxy's or a tunnelled TLS-in-TLS hello.
  if (c.client_hello && !c.client_hello->sni_invalid) o.sni = c.client_hello->sni;
  if (e.direction == SLUICE_TLS_DIR_WRITE) o.data = ScanSensitive(prefix, options_.fingerprint_key);
  return o;
}

PayloadObservation Engine::ObservePayload(const events::PayloadEvent& e) const {
  PayloadObservation o;
  o.hdr = e.hdr;
  o.cookie = e.cookie;
  o.len = e.len;
  // Classify and drop the bytes.
  const detect::classify::PayloadClass c = detect::classify::ClassifyPayload(e.data);
  o.protocol = detect::classify::ProtocolName(c.protocol);
  o.operation = OperationOf(c);
  if (c.client_hello && !c.client_hello->sni_invalid) o.sni = c.client_hello->sni;
  return o;
}

void Engine::OnPayload(const PayloadObservation& o) {
  ++stats_.payload_prefixes;
  nlohmann::json j = {{"type", "payload"},     {"ts_ns", o.hdr.ts_ns},   {"pid", o.hdr.pid},
                      {"cgroup_id", o.hdr.cgroup_id}, {"cookie", o.cookie}, {"length", o.len},
                      {"protocol", o.protocol}};
  if (!o.operation.empty()) j["operation"] = o.operation;
  auto it = open_flows_.find(o.cookie);
  if (it == open_flows_.end()) {
    Publish("payload", j);
    return;  // no flow: no destination to judge (its open record was lost)
  }
  FlowState& fs = it->second;
  if (fs.app_protocol.empty()) fs.app_protocol = o.protocol;
  if (fs.sni.empty()) fs.sni = o.sni;
  j["daddr"] = output::IpText(fs.flow.daddr);
  j["dport"] = fs.flow.dport;
  if (!o.sni.empty()) j["sni"] = o.sni;
  Publish("payload", j);
  // A connect waiting for its server name has it now, or will never get one.
  if (!pending_egress_.empty() && !(fs.flow.flags & SLUICE_FLOW_F_INBOUND)) {
    auto p = pending_egress_.find(EgressKey{fs.flow.pid, fs.flow.daddr, fs.flow.dport});
    if (p != pending_egress_.end()) {
      p->second.obs.sni = o.sni;
      JudgePendingEgress(p->second);
      pending_egress_.erase(p);
    }
  }
  if (fs.fired & kFiredPlaintext) return;
  const detect::Workload* rule = WorkloadFor(fs.flow.workload_id, o.hdr.pid, o.hdr.cgroup_id, fs.flow.start_ns);
  if (rule == nullptr) return;
  detect::PlaintextObservation p;
  p.subject = SubjectFor(*rule, o.hdr.pid, o.hdr.cgroup_id, o.hdr.ts_ns);
  p.peer = PeerOf(fs.flow, &fs);
  p.protocol = o.protocol;
  p.operation = o.operation;
  p.outbound = !(fs.flow.flags & SLUICE_FLOW_F_INBOUND);
  p.tls_required = detect::TlsRequired(*rule, p.peer.ip, p.peer.port, p.peer.AllNames());
  if (auto a = plaintext_sync_.Evaluate(rules_, p)) {
    fs.fired |= kFiredPlaintext;
    Emit(std::move(*a));
  }
}

void Engine::OnTls(const TlsObservation& o) {
  ++stats_.tls_records;
  FlowState* fs = nullptr;
  if (auto it = open_flows_.find(o.cookie); o.cookie != 0 && it != open_flows_.end()) {
    fs = &it->second;
    if (!o.sni.empty()) fs->sni = o.sni;
    if (fs->app_protocol.empty() && o.protocol != "unknown") fs->app_protocol = o.protocol;
  }
  if (events_ != nullptr) {
    nlohmann::json j = {{"type", "tls"},
                        {"ts_ns", o.hdr.ts_ns},
                        {"pid", o.hdr.pid},
                        {"tid", o.hdr.tid},
                        {"cgroup_id", o.hdr.cgroup_id},
                        {"direction", o.direction == SLUICE_TLS_DIR_WRITE ? "write" : "read"},
                        {"library", o.lib == SLUICE_TLS_LIB_GNUTLS ? "gnutls" : "openssl"},
                        {"fd", o.fd},
                        {"cookie", o.cookie},
                        {"length", o.len},
                        {"captured", o.captured},
                        {"protocol", o.protocol}};
    if (!o.http_method.empty()) {
      const std::string request_line = absl::StrCat(o.http_method, " ", o.http_path);
      j["http"] = {{"method", o.http_method}, {"path", o.http_path}, {"host", o.http_host},
                   {"request_line", request_line}, {"has_query", o.http_has_query}};
    }
    if (!o.data.empty()) {
      nlohmann::json data = nlohmann::json::object();
      for (const auto& m : o.data) data[m.kind] = m.count;  // counts only: never values
      j["sensitive"] = data;
    }
    if (fs != nullptr) {
      j["daddr"] = output::IpText(fs->flow.daddr);
      j["dport"] = fs->flow.dport;
      j["names"] = NamesFor(fs->flow.daddr);
    }
    if (o.workload_id != SLUICE_NO_WORKLOAD) j["workload_id"] = o.workload_id;
    Publish("tls", j);
  }

  // What a write carried, to whom: pii_egress and token_misuse. The peer comes from the flow
  // the call was tied to; without it there is no destination to judge.
  if (o.direction != SLUICE_TLS_DIR_WRITE || o.data.empty() || fs == nullptr) return;
  const detect::Workload* rule = WorkloadFor(o.workload_id, o.hdr.pid, o.hdr.cgroup_id, o.hdr.ts_ns);
  if (rule == nullptr) return;
  detect::PayloadWrite w;
  w.subject = SubjectFor(*rule, o.hdr.pid, o.hdr.cgroup_id, o.hdr.ts_ns);
  w.peer = PeerOf(fs->flow, fs);
  w.app_protocol = o.protocol;
  if (!o.http_method.empty()) w.request_line = absl::StrCat(o.http_method, " ", o.http_path);
  w.data = o.data;
  w.call_bytes = o.len;
  const std::vector<std::string> names = w.peer.AllNames();
  w.allowed = AllowedFor(*rule, w.peer.ip, w.peer.port, names);
  w.crm_peer = detect::IsCrmPeer(rules_, w.peer.ip, names);
  if (!(fs->fired & kFiredPii)) {
    if (auto a = pii_egress_.Evaluate(rules_, w)) {
      fs->fired |= kFiredPii;
      EmitForFlow(std::move(*a), *rule, *fs);
    }
  }
  std::optional<detect::TokenOwner> first;
  for (const detect::DataMatch& m : o.data) {
    if (m.kind != "bearer_token" && m.kind != "api_key") continue;
    for (const std::string& fp : m.fingerprints) {
      auto owner = tokens_.Use(fp, {rule->name, w.subject.process.exe, o.hdr.pid});
      if (owner && !first) first = owner;
    }
  }
  if (!(fs->fired & kFiredToken)) {
    if (auto a = token_misuse_.Evaluate(rules_, w, first)) {
      fs->fired |= kFiredToken;
      EmitForFlow(std::move(*a), *rule, *fs);
    }
  }
}

void Engine::SeedProcessHooks() {
  if (hooks_ == nullptr) return;
  const sluice_selector_cfg selectors = SelectorsOf(rules_);
  for (uint32_t pid : processes_->Pids()) {
    auto p = processes_->Get(pid);
    if (!p || p->exe.empty()) continue;  // kernel threads
    const std::string path = CgroupPathOfPid(pid);
    uint64_t exe_mask = state::ExeMask(rules_, p->exe);
    for (uint32_t a : processes_->Ancestors(pid)) {
      if (auto q = processes_->Get(a); q && !q->exe.empty()) {
        exe_mask |= state::ExeMask(rules_, q->exe);
      }
    }
    auto w = state::ResolveWorkload(state::CgroupMask(rules_, path, labels_of_), exe_mask,
                                    selectors);
    if (w) hooks_->OnWatchedExec(pid, *w, p->exe);
  }
}

}  // namespace sluice::engine
