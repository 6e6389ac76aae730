#include "agent/engine/engine.h"

#include <glob.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include <cstdio>
#include <utility>
#include <variant>
#include <vector>

#include "agent/state/workload_resolver.h"

namespace sluice::engine {
namespace {

// Kernel timestamps are CLOCK_BOOTTIME; alerts carry wall-clock epoch milliseconds.
int64_t BootNsToEpochMs(uint64_t boot_ns) {
  timespec real{}, boot{};
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_BOOTTIME, &boot);
  int64_t offset_ns = (int64_t{real.tv_sec} - boot.tv_sec) * 1000000000LL +
                      (int64_t{real.tv_nsec} - boot.tv_nsec);
  return (static_cast<int64_t>(boot_ns) + offset_ns) / 1000000;
}

// st_dev as the kernel side encodes it (new_encode_dev, see bpf/probes/process.bpf.c).
uint32_t EncodeDev(dev_t dev) {
  uint32_t maj = major(dev), min = minor(dev);
  return (min & 0xff) | (maj << 8) | ((min & ~0xffu) << 12);
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
               output::AlertSink* sink)
    : rules_(std::move(rules)),
      processes_(processes),
      cgroups_(cgroups),
      watch_(watch),
      sink_(sink) {}

void Engine::Watch(const absl::Status& s) {
  if (s.ok()) return;
  ++stats_.watch_errors;
  fprintf(stderr, "sluiced: watch set: %s\n", std::string(s.message()).c_str());
}

absl::Status Engine::SeedWatchSet() {
  if (watch_ == nullptr) return absl::OkStatus();
  for (const auto& [id, path] : cgroups_->All()) {
    uint64_t mask = state::CgroupMask(rules_, path);
    if (mask != 0) Watch(watch_->WatchCgroup(id, mask));
  }
  for (const auto& w : rules_.workloads) {
    if (!w.selector.exe_glob) continue;
    glob_t g{};
    if (glob(w.selector.exe_glob->c_str(), 0, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        struct stat st;
        if (stat(g.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode)) continue;
        // The mask of the path the glob named; a symlink's target may match other globs too,
        // which its own expansion adds.
        uint64_t mask = state::ExeMask(rules_, g.gl_pathv[i]);
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
      if (p && !p->exe.empty()) mask |= state::ExeMask(rules_, p->exe);
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
        if (e.hdr.type < stats_.events.size()) ++stats_.events[e.hdr.type];
        if constexpr (std::is_same_v<T, events::ExecEvent>) {
          OnExec(e);
        } else if constexpr (std::is_same_v<T, events::ExitEvent>) {
          processes_->OnExit(e);
        } else if constexpr (std::is_same_v<T, events::CgroupMkdirEvent>) {
          OnCgroupMkdir(e);
        } else if constexpr (std::is_same_v<T, events::ConnectEvent>) {
          OnConnect(e);
        }
      },
      event);
}

void Engine::OnExec(const events::ExecEvent& e) {
  processes_->OnExec(e);
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
  if (watch_ == nullptr) return;
  uint64_t mask = state::CgroupMask(rules_, e.path);
  if (mask != 0) Watch(watch_->WatchCgroup(e.hdr.cgroup_id, mask));
}

void Engine::OnConnect(const events::ConnectEvent& e) {
  if (e.workload_id >= rules_.workloads.size()) {
    ++stats_.unknown_workload;
    return;
  }
  const detect::Workload& rule = rules_.workloads[e.workload_id];

  detect::ConnectObservation obs;
  obs.time_ms = BootNsToEpochMs(e.hdr.ts_ns);
  obs.daddr.bytes = e.daddr;
  obs.dport = e.dport;
  obs.protocol = ProtocolName(e.protocol);
  obs.verdict = e.verdict;
  obs.has_result = (e.flags & SLUICE_CONNECT_F_HAS_RESULT) != 0;
  obs.ret = e.ret;
  obs.process.pid = e.hdr.pid;
  if (auto p = processes_->Get(e.hdr.pid)) {
    obs.process.ppid = p->ppid;
    obs.process.uid = p->uid;
    obs.process.exe = p->exe;
    obs.process.comm = p->comm;
    obs.process.cmdline = p->cmdline;
  }
  obs.workload.name = rule.name;
  obs.workload.role = rule.role;
  obs.workload.cgroup_id = e.hdr.cgroup_id;
  obs.workload.cgroup_path = cgroups_->PathOf(e.hdr.cgroup_id).value_or("");

  auto alert = unexpected_egress_.Evaluate(rule, obs);
  if (!alert) return;
  ++stats_.alerts;
  if (absl::Status s = sink_->Write(*alert); !s.ok()) {
    ++stats_.sink_errors;
    fprintf(stderr, "sluiced: alert sink: %s\n", std::string(s.message()).c_str());
  }
}

}  // namespace sluice::engine
