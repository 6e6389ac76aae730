// sluiced: the sluice agent. Loads the sensor, puts the workloads of the rules under watch,
// turns kernel events into alerts, and (in enforce mode) lets the kernel deny what the rules deny.
#include <signal.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/bpf/mounts.h"
#include "agent/bpf/policy_maps.h"
#include "agent/bpf/sensor.h"
#include "agent/detect/rules.h"
#include "agent/engine/engine.h"
#include "agent/enforce/policy.h"
#include "agent/output/alert_sink.h"
#include "agent/state/cgroup_index.h"
#include "agent/state/process_table.h"

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitBadInput = 2;

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

int Fail(int code, const absl::Status& s) {
  fprintf(stderr, "sluiced: %s\n", std::string(s.message()).c_str());
  return code;
}

int Run(const std::string& rules_path, const std::string& mode_name,
        const std::string& alerts_path) {
  using sluice::enforce::GlobalMode;
  const GlobalMode mode = mode_name == "enforce" ? GlobalMode::kEnforce : GlobalMode::kMonitor;

  // Bad input first: nothing is touched in the kernel until the whole rule set is valid.
  sluice::detect::LoadResult loaded = sluice::detect::LoadRules(rules_path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) fprintf(stderr, "%s\n", e.ToString().c_str());
    fprintf(stderr, "sluiced: %zu error(s) in rules, nothing loaded\n", loaded.errors.size());
    return kExitBadInput;
  }
  auto policy = sluice::enforce::CompilePolicy(loaded.rules, mode);
  if (!policy.ok()) return Fail(kExitBadInput, policy.status());

  if (auto s = sluice::bpf::CheckPrivileges(); !s.ok()) return Fail(kExitRuntime, s);
  if (auto s = sluice::bpf::EnsureTracefs(); !s.ok()) return Fail(kExitRuntime, s);
  if (auto s = sluice::bpf::EnsureBpffs(); !s.ok()) return Fail(kExitRuntime, s);
  auto cgroup_root = sluice::bpf::EnsureCgroup2();
  if (!cgroup_root.ok()) return Fail(kExitRuntime, cgroup_root.status());

  sluice::output::ProductInfo product;
  auto sink = sluice::output::OpenJsonLinesSink(alerts_path, product);
  if (!sink.ok()) return Fail(kExitBadInput, sink.status());

  auto sensor = sluice::bpf::Sensor::Load();
  if (!sensor.ok()) return Fail(kExitRuntime, sensor.status());
  sluice::bpf::PolicyMaps maps(sensor->get());
  if (auto s = maps.Apply(*policy); !s.ok()) return Fail(kExitRuntime, s);

  sluice::state::CgroupIndex cgroups(*cgroup_root);
  if (auto s = cgroups.Scan(); !s.ok()) return Fail(kExitRuntime, s);
  sluice::state::ProcessTable processes;
  sluice::engine::Engine engine(loaded.rules, &processes, &cgroups, &maps, sink->get());

  // Attach before seeding from /proc: a process started in between is then seen by the exec
  // probe (its record waits in the ring), so nothing falls between the scan and the probes.
  if (auto s = (*sensor)->Attach(*cgroup_root); !s.ok()) return Fail(kExitRuntime, s);
  if (auto s = processes.SeedFromProc(); !s.ok()) return Fail(kExitRuntime, s);
  if (auto s = cgroups.Scan(); !s.ok()) return Fail(kExitRuntime, s);
  if (auto s = engine.SeedWatchSet(); !s.ok()) return Fail(kExitRuntime, s);
  if (auto s = (*sensor)->StartRings([&engine](absl::Span<const uint8_t> r) {
        engine.OnRecord(r);
      });
      !s.ok()) {
    return Fail(kExitRuntime, s);
  }

  std::vector<std::string> hooks;
  for (const auto& p : (*sensor)->probes()) hooks.push_back(absl::StrCat(p.probe, "@", p.hook));
  fprintf(stderr, "sluiced: cgroup v2 at %s; probes: %s\n", cgroup_root->c_str(),
          absl::StrJoin(hooks, ", ").c_str());
  fprintf(stderr, "sluiced: ready: %zu workload(s) from %s, mode %s, alerts to %s\n",
          loaded.rules.workloads.size(), rules_path.c_str(), mode_name.c_str(),
          alerts_path.c_str());

  while (!g_stop) {
    // 10 ms: the probes wake us only above a fill watermark (DESIGN §4).
    auto n = (*sensor)->Poll(10);
    if (!n.ok()) return Fail(kExitRuntime, n.status());
  }

  (void)(*sink)->Flush();
  const auto loss = (*sensor)->ReadLoss();
  uint64_t lost = 0;
  for (uint64_t v : loss.ring_full) lost += v;
  const auto& st = engine.stats();
  fprintf(stderr,
          "sluiced: stopping: %llu alert(s), %llu decode error(s), %llu record(s) lost to a "
          "full ring; probes detached\n",
          static_cast<unsigned long long>(st.alerts),
          static_cast<unsigned long long>(st.decode_errors),
          static_cast<unsigned long long>(lost));
  return 0;  // the sensor's destructor detaches every link
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sluiced: eBPF exfiltration sensor for CRM/LLM hosts"};
  app.set_version_flag("--version", std::string("sluiced ") + SLUICE_VERSION);
  std::string rules_path, mode = "monitor", alerts = "-";
  app.add_option("--rules", rules_path, "Rule file or directory of *.yaml files")
      ->required();
  app.add_option("--mode", mode,
                 "monitor: alert only (\"Would block\"); enforce: rules in enforce mode block")
      ->check(CLI::IsMember({"monitor", "enforce"}))
      ->capture_default_str();
  app.add_option("--alerts", alerts, "Alert output: a JSON-lines file, or - for stdout")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitBadInput;
  }

  struct sigaction sa {};
  sa.sa_handler = OnSignal;  // no SA_RESTART: the poll returns and the loop sees the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return Run(rules_path, mode, alerts);
}
