#include "agent/engine/engine.h"

#include <glob.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/detect/classify/http.h"
#include "agent/events/dns.h"
#include "agent/output/event_json.h"
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

constexpr size_t kMaxOpenFlows = 131072;

int64_t MonotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

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
    if (w.selector.cgroup_glob) cfg.has_cgroup |= bit;
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
          Publish("exec", output::ExecJson(e));
          if (hooks_ != nullptr && e.workload_id != SLUICE_NO_WORKLOAD) {
            auto p = processes_->Get(e.hdr.pid);
            hooks_->OnWatchedExec(e.hdr.pid, e.workload_id, p ? p->exe : e.filename);
          }
        } else if constexpr (std::is_same_v<T, events::ExitEvent>) {
          Publish("exit", output::ExitJson(e));
          processes_->OnExit(e);
          if (hooks_ != nullptr) hooks_->OnExit(e.hdr.pid);
        } else if constexpr (std::is_same_v<T, events::ForkEvent>) {
          if (!(e.flags & SLUICE_FORK_F_MAYBE_THREAD)) processes_->OnFork(e);
          if (hooks_ != nullptr && !(e.flags & SLUICE_FORK_F_MAYBE_THREAD)) {
            hooks_->OnFork(e.hdr.pid, e.child_pid, (e.flags & SLUICE_FORK_F_WATCHED) != 0);
          }
          Publish("fork", output::ForkJson(e));
        } else if constexpr (std::is_same_v<T, events::CgroupMkdirEvent>) {
          OnCgroupMkdir(e);
        } else if constexpr (std::is_same_v<T, events::ConnectEvent>) {
          Publish("connect", output::ConnectJson(e));
          OnConnect(e);
        } else if constexpr (std::is_same_v<T, events::FlowEvent>) {
          OnFlow(e);
        } else if constexpr (std::is_same_v<T, events::FileOpenEvent>) {
          OnFileOpen(e);
        } else if constexpr (std::is_same_v<T, events::DnsEvent>) {
          OnDns(e);
        } else if constexpr (std::is_same_v<T, events::TlsEvent>) {
          OnTls(e);
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

void Engine::Publish(const std::string& type, const nlohmann::json& j) {
  if (events_ != nullptr) events_->Publish(type, j);
}

std::string Engine::ClassName(uint32_t class_id) const {
  for (const auto& c : rules_.file_classes) {
    if (c.id == class_id) return c.name;
  }
  return absl::StrCat("class-", class_id);
}

std::vector<std::string> Engine::NamesFor(const std::array<uint8_t, 16>& addr) {
  return dns_.NamesFor(addr, MonotonicMs());
}

void Engine::OnFlow(const events::FlowEvent& e) {
  if (e.kind == SLUICE_FLOW_CLOSED) {
    open_flows_.erase(e.cookie);
    if (!closed_reported_.insert(e.cookie).second) return;
    ++stats_.flows_closed;
  } else if (open_flows_.size() < kMaxOpenFlows || open_flows_.contains(e.cookie)) {
    open_flows_.insert_or_assign(e.cookie, e.flow);
  }
  Publish("flow", output::FlowJson(e.cookie, e.kind, e.flow, NamesFor(e.flow.daddr)));
}

void Engine::OnFlowReaped(uint64_t cookie, const events::Flow& flow) {
  open_flows_.erase(cookie);
  if (closed_reported_.erase(cookie) > 0) return;  // its close record was published already
  ++stats_.flows_closed;
  ++stats_.flows_recovered;
  nlohmann::json j = output::FlowJson(cookie, SLUICE_FLOW_CLOSED, flow, NamesFor(flow.daddr));
  j["recovered"] = true;  // the close record was lost; the totals come from the kernel map
  Publish("flow", j);
}

void Engine::OnFileOpen(const events::FileOpenEvent& e) {
  FileKey key{e.hdr.pid, e.dev, e.ino};
  // Bounded: entries leave when the reaper reports the totals of an exited process.
  if (file_paths_.size() < 65536 || file_paths_.contains(key)) {
    std::string path = e.path;
    if (!path.empty() && path[0] != '/') {
      if (auto p = processes_->Get(e.hdr.pid)) path = absl::StrCat("(relative) ", e.path);
    }
    file_paths_.insert_or_assign(key, std::move(path));
  }
  Publish("file_open", output::FileOpenJson(e, ClassName(e.class_id)));
}

void Engine::OnFileReaped(const FileKey& key, uint64_t bytes_read, uint64_t bytes_mapped,
                          uint64_t calls, uint32_t class_id) {
  ++stats_.files_reaped;
  std::string path;
  if (auto it = file_paths_.find(key); it != file_paths_.end()) {
    path = std::move(it->second);
    file_paths_.erase(it);
  }
  Publish("file_read", output::FileTotalsJson(key.pid, key.dev, key.ino, path, ClassName(class_id),
                                              bytes_read, bytes_mapped, calls));
}

void Engine::OnDns(const events::DnsEvent& e) {
  auto msg = events::ParseDnsMessage(e.payload);
  if (!msg.ok()) {
    ++stats_.dns_errors;
    return;
  }
  if (!msg->response) return;
  ++stats_.dns_answers;
  dns_.Observe(*msg, MonotonicMs());
  nlohmann::json answers = nlohmann::json::array();
  for (const auto& a : msg->answers) {
    nlohmann::json j = {{"name", a.name}, {"type", a.type}, {"ttl", a.ttl}};
    if (a.type == 5) {
      j["cname"] = a.cname;
    } else {
      j["addr"] = output::IpText(a.addr);
    }
    answers.push_back(std::move(j));
  }
  Publish("dns", {{"type", "dns"},
                  {"ts_ns", e.hdr.ts_ns},
                  {"cgroup_id", e.hdr.cgroup_id},
                  {"cookie", e.cookie},
                  {"server", output::IpText(e.server)},
                  {"id", msg->id},
                  {"rcode", msg->rcode},
                  {"truncated", msg->truncated || e.wire_len > e.payload.size()},
                  {"questions", msg->questions},
                  {"answers", answers}});
}

void Engine::OnTls(const events::TlsEvent& e) {
  ++stats_.tls_records;
  // Classify and drop the bytes: only the classification leaves this function.
  const detect::classify::PayloadClass c = detect::classify::ClassifyPayload(e.data);
  nlohmann::json j = {{"type", "tls"},
                      {"ts_ns", e.hdr.ts_ns},
                      {"pid", e.hdr.pid},
                      {"tid", e.hdr.tid},
                      {"cgroup_id", e.hdr.cgroup_id},
                      {"direction", e.direction == SLUICE_TLS_DIR_WRITE ? "write" : "read"},
                      {"library", e.lib == SLUICE_TLS_LIB_GNUTLS ? "gnutls" : "openssl"},
                      {"fd", e.fd},
                      {"cookie", e.cookie},
                      {"length", e.len},
                      {"captured", e.data.size()},
                      {"protocol", detect::classify::ProtocolName(c.protocol)}};
  if (c.protocol == detect::classify::PayloadClass::kHttp1Request) {
    j["http"] = {{"method", c.method}, {"path", c.path}, {"version", c.version},
                 {"host", c.host}, {"request_line", c.request_line()},
                 {"has_query", c.has_query}};
  }
  if (auto it = open_flows_.find(e.cookie); e.cookie != 0 && it != open_flows_.end()) {
    j["daddr"] = output::IpText(it->second.daddr);
    j["dport"] = it->second.dport;
    j["names"] = NamesFor(it->second.daddr);
  }
  if (e.workload_id != SLUICE_NO_WORKLOAD) j["workload_id"] = e.workload_id;
  Publish("tls", j);
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
    auto w = state::ResolveWorkload(state::CgroupMask(rules_, path), exe_mask, selectors);
    if (w) hooks_->OnWatchedExec(pid, *w, p->exe);
  }
}

}  // namespace sluice::engine
