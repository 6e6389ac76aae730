// sluiced: the sluice agent. Loads the sensor, puts the workloads of the rules under watch,
// turns kernel events into alerts, and (in enforce mode) lets the kernel deny what the rules deny.
#include <bpf/bpf.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <map>
#include <future>
#include <mutex>
#include <optional>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/api/control_server.h"
#include "agent/api/metrics_server.h"
#include "agent/api/status_metrics.h"
#include "agent/bpf/enforcer.h"
#include "agent/bpf/file_maps.h"
#include "agent/bpf/mounts.h"
#include "agent/bpf/pins.h"
#include "agent/bpf/reaper.h"
#include "agent/bpf/tls_attach.h"
#include "agent/bpf/tls_libs.h"
#include "agent/bpf/policy_maps.h"
#include "agent/bpf/sensor.h"
#include "agent/bpf/sever.h"
#include "agent/detect/rules.h"
#include "agent/common/boot_clock.h"
#include "agent/common/host_key.h"
#include "agent/engine/engine.h"
#include "agent/replay/event_codec.h"
#include "agent/enforce/controls.h"
#include "agent/enforce/policy.h"
#include "agent/output/alert_sink.h"
#include "agent/output/delivery.h"
#include "agent/output/delivery_setup.h"
#include "agent/output/evidence_log.h"
#include "agent/output/sink_config.h"
#include "agent/output/spool.h"
#include "agent/output/ocsf.h"
#include "agent/state/cgroup_index.h"
#include "agent/state/process_table.h"

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitBadInput = 2;

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_reload = 0;
void OnSignal(int) { g_stop = 1; }
void OnHangup(int) { g_reload = 1; }

int Fail(int code, const absl::Status& s) {
  fprintf(stderr, "sluiced: %s\n", std::string(s.message()).c_str());
  return code;
}

// `--events`: every decoded sensor event as a JSON line, for debugging and tests.
class JsonLinesEvents : public sluice::engine::EventPublisher {
 public:
  explicit JsonLinesEvents(FILE* f) : f_(f) {}
  ~JsonLinesEvents() override {
    if (f_ != nullptr && f_ != stdout) fclose(f_);
  }
  void Publish(const std::string& type, const nlohmann::json& event) override {
    const std::string line = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    fprintf(f_, "%s\n", line.c_str());
  }
  void Flush() { fflush(f_); }

 private:
  FILE* f_;
};

// Attaches the TLS uprobes to every process of a watched workload (at exec, on fork of an
// attached process, and at start for processes already running) and reports processes whose TLS
// the uprobes cannot see (Go, statically linked OpenSSL/BoringSSL).
class TlsHooks : public sluice::engine::ProcessHooks {
 public:
  TlsHooks(sluice::bpf::TlsAttacher* attacher, sluice::engine::EventPublisher* events)
      : attacher_(attacher), events_(events) {}

  void OnWatchedExec(uint32_t pid, uint32_t workload_id, const std::string& exe) override {
    std::vector<sluice::bpf::TlsTarget> extra;
    if (auto mapped = sluice::bpf::MappedTlsLibraries(static_cast<int>(pid)); mapped.ok()) {
      for (const auto& lib : *mapped) extra.push_back(Target(lib));
    }
    attacher_->Attach(pid, extra);
    // Through /proc/PID/exe: valid from the host for a container's binary too, and its
    // libraries are then looked up inside the process's root.
    // A rule reload reports every watched process again: inspect each executable once.
    if (auto it = inspected_.find(pid); it != inspected_.end() && it->second == exe) return;
    inspected_[pid] = exe;
    auto coverage = sluice::bpf::InspectExecutable(absl::StrCat("/proc/", pid, "/exe"));
    if (coverage.ok() && (*coverage == sluice::bpf::TlsCoverage::kStaticOpenSsl ||
                          *coverage == sluice::bpf::TlsCoverage::kGoCryptoTls)) {
      const std::string what = sluice::bpf::TlsCoverageName(*coverage);
      fprintf(stderr, "sluiced: TLS of pid %u (%s) is %s\n", pid, exe.c_str(), what.c_str());
      if (events_ != nullptr) {
        events_->Publish("tls_coverage", {{"type", "tls_coverage"},
                                          {"pid", pid},
                                          {"workload_id", workload_id},
                                          {"exe", exe},
                                          {"covered", false},
                                          {"coverage", what}});
      }
    }
  }
  void OnFork(uint32_t parent, uint32_t child, bool watched) override {
    // Uprobes attached with a pid do not follow fork: a forked worker needs its own. Attaching
    // at fork (they survive exec) also wins the race against a short-lived child such as
    // `sh -c 'curl ...'`, which may finish its TLS call before its exec record is handled.
    if (watched || attacher_->attached(parent)) attacher_->Attach(child);
  }
  void OnExit(uint32_t pid) override {
    attacher_->Detach(pid);
    inspected_.erase(pid);
  }

  static sluice::bpf::TlsTarget Target(const sluice::bpf::TlsLibrary& lib) {
    return {lib.kind == sluice::bpf::TlsLibKind::kGnuTls ? sluice::bpf::TlsLib::kGnuTls
                                                        : sluice::bpf::TlsLib::kOpenSsl,
            lib.path};
  }

 private:
  sluice::bpf::TlsAttacher* attacher_;
  sluice::engine::EventPublisher* events_;
  absl::flat_hash_map<uint32_t, std::string> inspected_;  // pid -> executable inspected
};

// Fans every event out to `--events` and the control API's event stream, rendering it once.
class EventFanout : public sluice::engine::EventPublisher {
 public:
  EventFanout(JsonLinesEvents* file, sluice::api::ControlServer* api) : file_(file), api_(api) {}
  void Publish(const std::string& type, const nlohmann::json& event) override {
    if (file_ != nullptr) file_->Publish(type, event);
    if (api_ != nullptr) {
      api_->PublishEvent(type, event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  }

 private:
  JsonLinesEvents* file_;
  sluice::api::ControlServer* api_;
};

// Streams the engine's inputs to `sluicectl record` clients, encoded as recordings store them.
class ApiRecorder : public sluice::engine::InputRecorder {
 public:
  explicit ApiRecorder(sluice::api::ControlServer* api) : api_(api) {}
  void Record(const sluice::engine::Input& input) override {
    sluice::replay::ToProto(input, &scratch_);
    api_->PublishRecord(scratch_.SerializeAsString());
  }

 private:
  sluice::api::ControlServer* api_;
  sluice::v1::Event scratch_;
};

// Writes alerts to the configured sink and to the control API's alert stream.
class TeeAlertSink : public sluice::output::AlertSink {
 public:
  TeeAlertSink(sluice::output::AlertSink* inner, sluice::api::ControlServer* api,
               sluice::output::ProductInfo product)
      : inner_(inner), api_(api), product_(std::move(product)) {}
  absl::Status Write(const sluice::detect::Alert& alert) override {
    absl::Status s = inner_->Write(alert);  // the durable copy first
    if (api_ != nullptr) api_->PublishAlert(sluice::output::RenderLine(alert, product_));
    counts_[{alert.detector, sluice::detect::DispositionName(alert.disposition)}] +=
        std::max<uint64_t>(alert.count, 1);
    return s;
  }
  // Alerts written so far by (detector, disposition), for status and metrics.
  const std::map<std::pair<std::string, std::string>, uint64_t>& counts() const { return counts_; }
  absl::Status Flush() override { return inner_->Flush(); }

 private:
  sluice::output::AlertSink* inner_;
  sluice::api::ControlServer* api_;
  sluice::output::ProductInfo product_;
  std::map<std::pair<std::string, std::string>, uint64_t> counts_;
};

// Work the control API asks for that must run on the main loop (the engine and the maps are
// single-threaded): enforcement changes, the flow list. The gRPC thread waits for the answer.
class MainLoopCalls {
 public:
  // Called on gRPC threads.
  template <typename T>
  absl::StatusOr<T> Call(std::function<absl::StatusOr<T>()> work) {
    auto done = std::make_shared<std::promise<absl::StatusOr<T>>>();
    std::future<absl::StatusOr<T>> answer = done->get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return absl::UnavailableError("the agent is stopping");
      jobs_.push_back({[done, work = std::move(work)] { done->set_value(work()); },
                       [done] { done->set_value(absl::UnavailableError("the agent is stopping")); }});
    }
    if (answer.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      return absl::DeadlineExceededError(
          "the agent did not answer within 10 s; check `sluicectl status`");
    }
    return answer.get();
  }
  // Main loop: runs what is waiting. Returns whether anything ran.
  bool RunPending() {
    std::deque<Job> jobs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs.swap(jobs_);
    }
    for (Job& j : jobs) j.run();
    return !jobs.empty();
  }
  // At exit: every waiting caller is told, and nothing new is taken.
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    for (Job& j : jobs_) j.cancel();
    jobs_.clear();
  }

 private:
  struct Job {
    std::function<void()> run;
    std::function<void()> cancel;
  };
  std::mutex mu_;
  bool closed_ = false;
  std::deque<Job> jobs_;
};

absl::StatusOr<sluice::v1::EnforceResponse> ApplyEnforce(sluice::bpf::Enforcer& enforcer,
                                                         const sluice::v1::EnforceRequest& req,
                                                         uid_t caller) {
  using sluice::v1::EnforceRequest;
  const std::string by = absl::StrCat("uid ", caller);
  absl::StatusOr<sluice::bpf::Enforcer::Result> r;
  switch (req.action()) {
    case EnforceRequest::QUARANTINE:
    case EnforceRequest::UNBLOCK:
      if (req.workload().empty()) return absl::InvalidArgumentError("a workload name is required");
      r = req.action() == EnforceRequest::QUARANTINE
              ? enforcer.Quarantine(req.workload(), by, req.reason())
              : enforcer.Unblock(req.workload(), by, req.reason());
      break;
    case EnforceRequest::DISARM:
      r = enforcer.Disarm(by, req.reason());
      break;
    case EnforceRequest::ARM:
      r = enforcer.Arm(by, req.reason());
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown action ", req.action()));
  }
  if (!r.ok()) return r.status();
  sluice::v1::EnforceResponse resp;
  resp.set_changed(r->changed);
  resp.set_message(r->message);
  return resp;
}

const char* EventTypeName(uint32_t type) {
  switch (type) {
    case SLUICE_EV_EXEC: return "exec";
    case SLUICE_EV_EXIT: return "exit";
    case SLUICE_EV_CONNECT: return "connect";
    case SLUICE_EV_CGROUP_MKDIR: return "cgroup_mkdir";
    case SLUICE_EV_FORK: return "fork";
    case SLUICE_EV_FLOW: return "flow";
    case SLUICE_EV_DNS: return "dns";
    case SLUICE_EV_FILE_OPEN: return "file_open";
    case SLUICE_EV_TLS: return "tls";
    case SLUICE_EV_PAYLOAD: return "payload";
    default: return "";
  }
}

struct Options {
  std::string rules_path;
  std::string mode = "monitor";
  std::string alerts = "-";
  std::string events;
  uint32_t tls_capture = 1024;
  std::string tls_attach = "per-process";
  std::string api_socket = sluice::api::kDefaultSocketPath;
  std::string state_dir;
  bool test_drop_flow_records = false;
  std::string test_container_root;
  std::string resolv_conf = "/etc/resolv.conf";
  std::string pin_dir = sluice::bpf::kDefaultPinDir;
  bool keep_pinned_on_exit = false;
  std::string hooks = "auto";
  std::string metrics_listen;
  std::string config_path;
};


// The destinations enforcement never denies (resolvers, sinks), written to the kernel and logged.
absl::Status ApplyExemptions(sluice::bpf::PolicyMaps& maps, const sluice::detect::RuleSet& rules,
                             const std::string& resolv_conf) {
  std::string text;
  if (FILE* f = fopen(resolv_conf.c_str(), "re")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && text.size() < (1u << 20)) text.append(buf, n);
    fclose(f);
  } else if (errno != ENOENT) {
    fprintf(stderr, "sluiced: cannot read %s (%s): no DNS resolver is exempt from enforcement\n",
            resolv_conf.c_str(), strerror(errno));
  }
  std::vector<std::string> skipped;
  const auto exemptions =
      sluice::enforce::ExemptionsFor(rules, sluice::enforce::ParseResolvers(text), &skipped);
  if (auto s = maps.ApplyExemptions(exemptions); !s.ok()) return s;
  std::vector<std::string> what;
  for (const auto& e : exemptions) what.push_back(absl::StrCat(e.why, " ", e.cidr.ToString()));
  fprintf(stderr, "sluiced: never denied: %s\n",
          what.empty() ? "nothing (no resolver, no sink by address)"
                       : absl::StrJoin(what, ", ").c_str());
  if (!skipped.empty()) {
    fprintf(stderr, "sluiced: not exempt in the kernel: %s\n",
            absl::StrJoin(skipped, ", ").c_str());
  }
  return absl::OkStatus();
}

int Run(const Options& opt) {
  const std::string& rules_path = opt.rules_path;
  const std::string& mode_name = opt.mode;
  const std::string& alerts_path = opt.alerts;
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
  // Quarantines and disarm decided before a restart hold across it.
  const std::string controls_path =
      opt.state_dir.empty() ? "" : opt.state_dir + "/enforcement.json";
  sluice::enforce::Controls controls;
  if (!controls_path.empty()) {
    auto loaded_controls = sluice::enforce::Controls::Load(controls_path);
    if (!loaded_controls.ok()) {
      return Fail(kExitBadInput,
                  absl::InvalidArgumentError(absl::StrCat(
                      "enforcement state: ", loaded_controls.status().message(),
                      " (fix or remove it; it holds the quarantines and the disarm switch)")));
    }
    controls = *std::move(loaded_controls);
  }
  // Declared before the control API, whose handlers wait on it.
  MainLoopCalls main_calls;

  if (auto s = sluice::bpf::CheckPrivileges(); !s.ok()) return Fail(kExitRuntime, s);
  // Started before anything touches the kernel: a second sluiced stops here ("a server is
  // already answering") instead of loading programs and rewriting the policy maps.
  // The control API answers status from a snapshot the main loop refreshes (the engine is
  // single-threaded; gRPC threads never touch it).
  std::mutex status_mu;
  sluice::v1::StatusResponse status_snapshot;
  std::unique_ptr<sluice::api::ControlServer> api;
  if (!opt.api_socket.empty() && opt.api_socket != "none") {
    sluice::api::ControlServer::Options api_opt;
    api_opt.socket_path = opt.api_socket;
    auto started = sluice::api::ControlServer::Start(api_opt, [&status_mu, &status_snapshot] {
      std::lock_guard<std::mutex> lock(status_mu);
      return status_snapshot;
    });
    if (!started.ok()) return Fail(kExitRuntime, started.status());
    api = *std::move(started);
  }
  // Metrics and health endpoints: up (and /readyz answering 503) from here, ready once the
  // probes are attached.
  auto status_metrics = std::make_shared<sluice::api::StatusCollector>();
  std::unique_ptr<sluice::api::MetricsServer> metrics;
  if (!opt.metrics_listen.empty()) {
    sluice::api::MetricsServer::Options m;
    m.listen = opt.metrics_listen;
    auto started = sluice::api::MetricsServer::Start(m, {status_metrics});
    if (!started.ok()) {
      return Fail(absl::IsInvalidArgument(started.status()) ? kExitBadInput : kExitRuntime,
                  started.status());
    }
    metrics = *std::move(started);
  }
  if (auto s = sluice::bpf::EnsureTracefs(); !s.ok()) return Fail(kExitRuntime, s);
  if (auto s = sluice::bpf::EnsureBpffs(); !s.ok()) return Fail(kExitRuntime, s);
  auto cgroup_root = sluice::bpf::EnsureCgroup2();
  if (!cgroup_root.ok()) return Fail(kExitRuntime, cgroup_root.status());

  sluice::output::ProductInfo product;
  auto sink = sluice::output::OpenJsonLinesSink(alerts_path, product);
  if (!sink.ok()) return Fail(kExitBadInput, sink.status());
  // Where else alerts go (--config), the spool network sinks deliver from and the evidence log,
  // all set up before the kernel is touched: a bad configuration changes nothing.
  auto delivery = sluice::output::OpenDelivery(opt.config_path, opt.state_dir, product,
                                               *std::move(sink));
  if (!delivery.ok()) {
    return Fail(absl::IsInvalidArgument(delivery.status()) ? kExitBadInput : kExitRuntime,
                delivery.status());
  }
  sluice::output::AlertPipeline pipeline(std::move(delivery->options));

  std::unique_ptr<JsonLinesEvents> events;
  if (!opt.events.empty()) {
    FILE* f = opt.events == "-" ? stdout : fopen(opt.events.c_str(), "ae");
    if (f == nullptr) {
      return Fail(kExitBadInput, absl::InvalidArgumentError(absl::StrCat(
                                     "cannot open --events ", opt.events, ": ", strerror(errno))));
    }
    events = std::make_unique<JsonLinesEvents>(f);
  }

  auto sensor = sluice::bpf::Sensor::Load(opt.pin_dir == "none" ? "" : opt.pin_dir,
                                          opt.hooks == "auto");
  if (!sensor.ok()) return Fail(kExitRuntime, sensor.status());
  std::string pinning;
  switch ((*sensor)->pin_state()) {
    case sluice::bpf::Sensor::PinState::kOff: break;
    case sluice::bpf::Sensor::PinState::kFresh:
      pinning = "fresh";
      break;
    case sluice::bpf::Sensor::PinState::kAdopted:
      pinning = "adopted";
      fprintf(stderr, "sluiced: adopting the pinned sensor and policy under %s (they stayed in "
                      "force while no agent ran)\n", opt.pin_dir.c_str());
      break;
    case sluice::bpf::Sensor::PinState::kReplaced:
      pinning = "replaced";
      fprintf(stderr, "sluiced: replacing the pinned sensor under %s (%s); its links stay "
                      "until this one's are attached\n",
              opt.pin_dir.c_str(), (*sensor)->pin_note().c_str());
      break;
  }
  sluice::bpf::PolicyMaps maps(sensor->get());
  if (auto s = ApplyExemptions(maps, loaded.rules, opt.resolv_conf); !s.ok()) {
    return Fail(kExitRuntime, s);
  }
  sluice::bpf::KernelSeverer severer((*sensor)->severed_fd());
  sluice::engine::Engine* engine_ptr = nullptr;  // set once the engine exists
  sluice::bpf::Enforcer::Hooks enforcer_hooks;
  enforcer_hooks.rules = [&]() -> const sluice::detect::RuleSet& {
    return engine_ptr != nullptr ? engine_ptr->rules() : loaded.rules;
  };
  enforcer_hooks.report = [&](const sluice::detect::Alert& a) {
    if (engine_ptr != nullptr) engine_ptr->Report(a);
  };
  enforcer_hooks.set_enforce = [&](bool on) {
    if (engine_ptr != nullptr) engine_ptr->SetEnforce(on);
  };
  enforcer_hooks.now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  sluice::bpf::Enforcer enforcer(mode, controls_path, std::move(controls), &maps, &severer,
                                 (*sensor)->flows_fd(), std::move(enforcer_hooks));
  // A pinned policy an earlier agent left in force keeps deciding until this agent's rule set
  // is complete beside it in the other bank; then one map update switches (as a reload does).
  bool staged_adoption = false;
  if ((*sensor)->pin_state() == sluice::bpf::Sensor::PinState::kAdopted) {
    sluice_selector_cfg live{};
    uint32_t zero = 0;
    if (bpf_map_lookup_elem((*sensor)->selector_cfg_fd(), &zero, &live) == 0 &&
        live.active_mask != 0) {
      const uint32_t live_base =
          (live.active_mask & sluice::enforce::BankMask(0)) ? 0 : sluice::enforce::kBankSize;
      maps.AdoptLive(live_base, live);
      policy = sluice::enforce::CompilePolicy(loaded.rules, mode, maps.next_base());
      if (!policy.ok()) return Fail(kExitBadInput, policy.status());
      enforcer.Prepare(loaded.rules, &*policy);
      if (auto s = maps.Stage(*policy); !s.ok()) {
        maps.Abort();
        return Fail(kExitRuntime, s);
      }
      staged_adoption = true;
    }
  }
  if (!staged_adoption) {
    enforcer.Prepare(loaded.rules, &*policy);
    if (auto s = maps.Apply(*policy); !s.ok()) return Fail(kExitRuntime, s);
  }
  // --test-drop-flow-records: the kernel keeps closed flows for the reaper, as it does when a
  // close record is lost, since the records it hands over are then discarded.
  if (auto s = sluice::bpf::ApplySensorConfig(
          (*sensor)->sensor_cfg_fd(), opt.tls_capture, static_cast<uint32_t>(getpid()),
          opt.test_drop_flow_records ? SLUICE_SENSOR_F_KEEP_FLOWS : 0);
      !s.ok()) {
    return Fail(kExitRuntime, s);
  }
  sluice::bpf::FileSeedStats file_seed;
  if (auto s = sluice::bpf::ApplyFileClasses((*sensor)->file_class_maps(),
                                             loaded.rules.file_classes, &file_seed);
      !s.ok()) {
    return Fail(kExitRuntime, s);
  }
  if (staged_adoption) {
    // Classes of the earlier agent's rules that these do not have.
    size_t stale_prefixes = 0, stale_inodes = 0;
    (void)sluice::bpf::RemoveStaleFileClasses((*sensor)->file_class_maps(),
                                              loaded.rules.file_classes, &stale_prefixes,
                                              &stale_inodes);
  }

  sluice::state::CgroupIndex cgroups(*cgroup_root);
  if (auto s = cgroups.Scan(); !s.ok()) return Fail(kExitRuntime, s);
  sluice::state::ProcessTable processes;
  TeeAlertSink alert_sink(&pipeline, api.get(), product);
  EventFanout fanout(events.get(), api.get());

  sluice::engine::EngineOptions engine_options;
  {
    absl::StatusOr<std::string> key = opt.state_dir.empty()
                                          ? sluice::EphemeralHostKey()
                                          : sluice::LoadOrCreateHostKey(opt.state_dir);
    if (!key.ok()) return Fail(kExitRuntime, key.status());
    if (opt.state_dir.empty()) {
      fprintf(stderr, "sluiced: no --state-dir: fingerprints of sensitive values hold for this "
                      "run only\n");
    }
    engine_options.fingerprint_key = *std::move(key);
  }
  engine_options.classify_bytes = opt.tls_capture;
  engine_options.enforce = mode == GlobalMode::kEnforce;
  engine_options.container_roots.emplace();
  if (!opt.test_container_root.empty()) {
    const std::string& r = opt.test_container_root;
    engine_options.container_roots->docker = {r + "/docker"};
    engine_options.container_roots->containerd = {r + "/containerd"};
    engine_options.container_roots->oci_userdata = {r + "/oci"};
  }
  sluice::engine::Engine engine(loaded.rules, &processes, &cgroups, &maps, &alert_sink,
                                engine_options);
  engine.SetEventPublisher(events || api ? &fanout : nullptr);
  if (staged_adoption) engine.SetKernelIdBase(policy->id_base, sluice::BootTimeNs());
  engine.SetSeverer(&severer);
  engine_ptr = &engine;
  enforcer.Committed();
  enforcer.Start();
  engine.SetContainment(&enforcer);
  std::vector<sluice::bpf::TlsTarget> system_tls;
  for (const auto& lib : sluice::bpf::SystemTlsLibraries()) system_tls.push_back(TlsHooks::Target(lib));
  sluice::bpf::TlsAttacher tls(sensor->get(), system_tls,
                               opt.tls_attach == "system" ? sluice::bpf::TlsAttachMode::kSystem
                                                          : sluice::bpf::TlsAttachMode::kPerProcess);
  if (auto s = tls.AttachSystemWide(); !s.ok()) return Fail(kExitRuntime, s);
  TlsHooks tls_hooks(&tls, events || api ? &fanout : nullptr);
  engine.SetProcessHooks(&tls_hooks);
  sluice::bpf::Reaper reaper((*sensor)->flows_fd(), (*sensor)->file_io_fd(),
                             (*sensor)->open_files_fd(), (*sensor)->fd_holders_fd(),
                             (*sensor)->fd_holder_drops_fd(), (*sensor)->flow_slot_reap_fd(),
                             (*sensor)->inflight_fds());
  sluice::bpf::ReapStats last_reap;
  // Entries of exited processes the reaper dropped, over the agent's life (status counters).
  uint64_t open_fds_dropped = 0, fd_holders_dropped = 0, inflight_swept = 0;
  // Live totals (uploads and reads under way) are read less often than final ones: every entry
  // of the maps is a syscall.
  auto reap = [&](bool with_live) {
    using FlowFn = sluice::bpf::Reaper::FlowFn;
    using FileFn = sluice::bpf::Reaper::FileFn;
    engine.BeginReap();
    last_reap = reaper.Run(
        [&](uint64_t cookie, const sluice::events::Flow& f) {
          engine.OnFlowReaped(cookie, f);
          severer.Forget(cookie);
        },
        [&](const sluice_file_io_key& k, const sluice_file_io& io) {
          engine.OnFileReaped({k.tgid, k.dev, k.ino}, io.bytes_read, io.bytes_mapped, io.calls,
                              io.class_id, io.workload_id);
        },
        [&] { (void)(*sensor)->Poll(0); },
        with_live ? FlowFn([&](uint64_t cookie, const sluice::events::Flow& f) {
          engine.OnFlowProgress(cookie, f);
        })
                  : FlowFn(),
        with_live ? FileFn([&](const sluice_file_io_key& k, const sluice_file_io& io) {
          engine.OnFileProgress({k.tgid, k.dev, k.ino}, io.bytes_read, io.bytes_mapped, io.calls,
                                io.class_id, io.workload_id);
        })
                  : FileFn());
    open_fds_dropped += last_reap.open_fds_dropped;
    fd_holders_dropped += last_reap.fd_holders_dropped;
    inflight_swept += last_reap.inflight_swept;
  };

  // Replacing a pinned sensor of another map layout: the earlier agent's links keep deciding
  // until Attach puts ours in their place, and ours decide on our fresh maps from that instant,
  // so the watch set must be in them first (else a watched workload is unknown for a moment:
  // the layout-change test saw a denied connect get through). Done again after Attach.
  auto seed_watch_set = [&]() -> absl::Status {
    if (auto s = processes.SeedFromProc(); !s.ok()) return s;
    if (auto s = cgroups.Scan(); !s.ok()) return s;
    return engine.SeedWatchSet();
  };
  if ((*sensor)->pin_state() == sluice::bpf::Sensor::PinState::kReplaced) {
    if (auto s = seed_watch_set(); !s.ok()) return Fail(kExitRuntime, s);
  }
  // Attach before seeding from /proc: a process started in between is then seen by the exec
  // probe (its record waits in the ring), so nothing falls between the scan and the probes.
  if (auto s = (*sensor)->Attach(*cgroup_root); !s.ok()) return Fail(kExitRuntime, s);
  if (auto s = seed_watch_set(); !s.ok()) return Fail(kExitRuntime, s);
  if (staged_adoption) {
    absl::Status cleanup;
    if (auto s = maps.Commit(&cleanup); !s.ok()) {
      maps.Abort();
      return Fail(kExitRuntime, s);
    }
    if (!cleanup.ok()) {
      fprintf(stderr, "sluiced: clearing the adopted policy: %s\n",
              std::string(cleanup.message()).c_str());
    }
  }
  engine.SeedProcessHooks();
  // --test-drop-records: discard ring records of one type before the engine sees them, as a
  // full ring would, to prove that totals kept in kernel maps survive lost records.
  const uint32_t drop_type = opt.test_drop_flow_records ? SLUICE_EV_FLOW : 0;
  if (auto s = (*sensor)->StartRings([&engine, drop_type](absl::Span<const uint8_t> r) {
        if (drop_type != 0 && r.size() >= sizeof(uint32_t)) {
          uint32_t type;
          std::memcpy(&type, r.data(), sizeof(type));
          if (type == drop_type) return;
        }
        engine.OnRecord(r);
      });
      !s.ok()) {
    return Fail(kExitRuntime, s);
  }

  std::vector<std::string> hooks;
  std::vector<std::string> fallbacks;
  std::vector<std::string> missing;
  for (const auto& p : (*sensor)->probes()) {
    hooks.push_back(absl::StrCat(p.probe, "@", p.hook));
    if (!p.attached) missing.push_back(absl::StrCat(p.hook, " (", p.error, ")"));
    if (p.attached && p.fallback_used) fallbacks.push_back(absl::StrCat(p.preferred, "->", p.hook));
  }
  fprintf(stderr, "sluiced: cgroup v2 at %s; probes: %s\n", cgroup_root->c_str(),
          absl::StrJoin(hooks, ", ").c_str());
  std::vector<std::string> preferred_used;
  std::vector<std::string> preferred_not;
  for (const auto& f : (*sensor)->families()) {
    if (f.preferred) {
      preferred_used.push_back(absl::StrCat(f.family, ": ", f.hook));
    } else {
      preferred_not.push_back(absl::StrCat(f.family, ": ", f.hook, " (", f.reason, ")"));
    }
  }
  fprintf(stderr, "sluiced: feature probe: %zu hooks attached; preferred hooks in use: %s; "
                  "preferred hooks not usable: %s; fallbacks in use: %s\n",
          hooks.size() - missing.size(),
          preferred_used.empty() ? "none" : absl::StrJoin(preferred_used, ", ").c_str(),
          preferred_not.empty() ? "none" : absl::StrJoin(preferred_not, ", ").c_str(),
          fallbacks.empty() ? "none" : absl::StrJoin(fallbacks, ", ").c_str());
  if (!missing.empty()) {
    fprintf(stderr, "sluiced: optional hooks not available: %s\n",
            absl::StrJoin(missing, ", ").c_str());
  }
  {
    std::vector<std::string> libs;
    for (const auto& t : system_tls) libs.push_back(t.path);
    const auto ts = tls.stats();
    fprintf(stderr, "sluiced: TLS libraries: %s; uprobes on %llu process(es)%s\n",
            libs.empty() ? "none found" : absl::StrJoin(libs, ", ").c_str(),
            static_cast<unsigned long long>(ts.processes),
            ts.system_links > 0
                ? absl::StrCat("; ", ts.system_links, " write uprobes for every process "
                               "(--tls-attach system)").c_str()
                : "");
  }
  fprintf(stderr,
          "sluiced: sensitive files: %zu prefix(es) (%zu of them directories), %zu inode(s) "
          "seeded%s\n",
          file_seed.prefixes, file_seed.dirs, file_seed.inodes,
          file_seed.truncated ? " (inode seeding stopped at its limit)" : "");
  fprintf(stderr, "sluiced: ready: %zu workload(s) from %s, mode %s, alerts to %s (SIGHUP "
                  "reloads the rules)\n",
          loaded.rules.workloads.size(), rules_path.c_str(), mode_name.c_str(),
          alerts_path.c_str());

  uint64_t reloads = 0;
  uint64_t reload_failures = 0;
  using Clock = std::chrono::steady_clock;
  const auto agent_started = Clock::now();
  sluice::v1::LearnResponse learn_snapshot;
  auto refresh_status = [&] {
    sluice::v1::StatusResponse st;
    st.set_mode(mode_name);
    st.set_rules_path(rules_path);
    st.set_workload_count(static_cast<uint32_t>(engine.rules().workloads.size()));
    for (const auto& p : (*sensor)->probes()) {
      auto* out = st.add_probes();
      out->set_name(p.probe);
      out->set_hook(p.hook);
      out->set_attached(p.attached);
      out->set_preferred_hook(p.preferred);
      out->set_fallback_used(p.fallback_used);
      for (const auto& f : (*sensor)->families()) {
        if (p.fallback_used && f.hook == p.preferred) out->set_fallback_reason(f.reason);
      }
      out->set_error(p.error);
    }
    const auto loss = (*sensor)->ReadLoss();
    const auto& es = engine.stats();
    for (uint32_t t = 1; t < SLUICE_EV_TYPE_MAX; ++t) {
      auto* c = st.add_event_types();
      c->set_type(EventTypeName(t));
      c->set_received(es.events[t]);
      c->set_ring_full(loss.ring_full[t]);
      c->set_map_full(loss.map_full[t]);
    }
    st.set_alerts_total(es.alerts);
    st.set_decode_errors(es.decode_errors);
    const auto ts = tls.stats();
    auto& g = *st.mutable_gauges();
    g["processes"] = processes.size();
    g["flows_live"] = last_reap.flows_live;
    g["file_totals_live"] = last_reap.files_live;
    g["dns_entries"] = engine.dns_entries();
    g["tls_processes"] = ts.processes;
    g["tls_uprobes"] = ts.links;
    auto& c = *st.mutable_counters();
    c["flows_closed"] = es.flows_closed;
    c["flows_recovered"] = es.flows_recovered;
    c["files_reaped"] = es.files_reaped;
    c["open_fds_dropped"] = open_fds_dropped;
    c["fd_holders_dropped"] = fd_holders_dropped;
    c["inflight_swept"] = inflight_swept;
    c["dns_answers"] = es.dns_answers;
    c["dns_errors"] = es.dns_errors;
    c["tls_records"] = es.tls_records;
    c["tls_attach_failures"] = ts.failures;
    c["sink_errors"] = es.sink_errors;
    c["watch_errors"] = es.watch_errors;
    c["alerts_aggregated"] = es.alerts_aggregated;
    c["payload_prefixes"] = es.payload_prefixes;
    c["container_errors"] = es.container_errors;
    c["flows_severed"] = es.flows_severed;
    c["sever_errors"] = es.sever_errors;
    c["severed_sockets_shut_down"] = severer.stats().shut_down;
    g["sever_latency_last_us"] = severer.stats().last_latency_ns / 1000;
    g["sever_latency_max_us"] = severer.stats().max_latency_ns / 1000;
    for (const auto& [detector, n] : es.findings) c[absl::StrCat("findings_", detector)] = n;
    for (const auto& [key, n] : alert_sink.counts()) {
      auto* a = st.add_alert_counts();
      a->set_detector(key.first);
      a->set_disposition(key.second);
      a->set_count(n);
    }
    for (const auto& sk : pipeline.stats()) {
      auto* out = st.add_sinks();
      out->set_name(sk.name);
      out->set_kind(sk.kind);
      out->set_target(sk.target);
      out->set_delivered(sk.delivered);
      out->set_errors(sk.errors);
      out->set_rejected(sk.rejected);
      out->set_pending(sk.pending);
      out->set_overflow_dropped(sk.overflow_dropped);
      out->set_last_error(sk.last_error);
      out->set_healthy(sk.healthy);
      for (double b : sk.latency_bounds) out->add_latency_bounds(b);
      for (uint64_t c : sk.latency_counts) out->add_latency_counts(c);
      out->set_latency_sum(sk.latency_sum);
      out->set_latency_count(sk.latency_count);
    }
    if (delivery->spool) {
      const auto sp = delivery->spool->stats();
      auto* out = st.mutable_spool();
      out->set_enabled(true);
      out->set_bytes(sp.bytes);
      out->set_records(sp.records);
      out->set_corrupt_records(sp.corrupt_records);
      out->set_max_bytes(delivery->spool_max_bytes);
    }
    st.set_disarmed(enforcer.controls().disarmed());
    st.set_pinning(pinning);
    for (const auto& q : enforcer.controls().quarantined()) {
      auto* out = st.add_quarantined();
      out->set_workload(q.workload);
      out->set_reason(q.reason);
      out->set_by(q.by);
      out->set_since_unix_ms(q.since_ms);
    }
    c["rules_reloads"] = reloads;
    c["rules_reload_failures"] = reload_failures;
    uint32_t learning_workloads = 0;
    for (const auto& w : engine.rules().workloads) {
      if (w.mode == sluice::detect::Mode::kLearn) ++learning_workloads;
    }
    sluice::v1::LearnResponse learn;
    if (learning_workloads > 0) {
      learn.set_rules_yaml(engine.ProposeRules());
      learn.set_learning_workloads(learning_workloads);
    }
    if (metrics) {
      sluice::v1::StatusResponse copy = st;
      copy.set_version(SLUICE_VERSION);
      copy.set_pid(static_cast<uint32_t>(getpid()));
      copy.set_uptime_seconds(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - agent_started).count()));
      status_metrics->Set(std::move(copy));
    }
    std::lock_guard<std::mutex> lock(status_mu);
    status_snapshot = std::move(st);
    learn_snapshot = std::move(learn);
  };
  refresh_status();
  if (api) {
    api->SetLearnFn([&status_mu, &learn_snapshot] {
      std::lock_guard<std::mutex> lock(status_mu);
      return learn_snapshot;
    });
    api->SetEnforceFn([&](const sluice::v1::EnforceRequest& req, uid_t caller) {
      return main_calls.Call<sluice::v1::EnforceResponse>([&, req, caller] {
        auto r = ApplyEnforce(enforcer, req, caller);
        refresh_status();
        return r;
      });
    });
    api->SetFlowsFn([&](const sluice::v1::FlowsRequest& req) {
      return main_calls.Call<sluice::v1::FlowsResponse>(
          [&, req]() -> absl::StatusOr<sluice::v1::FlowsResponse> {
            sluice::v1::FlowsResponse resp;
            resp.set_total(static_cast<uint32_t>(engine.live_flow_count()));
            for (auto& f : engine.LiveFlows(req.workload(), req.limit() == 0 ? 1000 : req.limit(),
                                            sluice::BootTimeNs())) {
              auto* out = resp.add_flows();
              out->set_cookie(f.cookie);
              out->set_workload(f.workload);
              out->set_pid(f.pid);
              out->set_process(f.process);
              out->set_protocol(f.protocol);
              out->set_inbound(f.inbound);
              out->set_local(f.local);
              out->set_peer(f.peer);
              for (auto& n : f.names) out->add_names(n);
              out->set_sni(f.sni);
              out->set_app_protocol(f.app_protocol);
              out->set_bytes_out(f.bytes_out);
              out->set_bytes_in(f.bytes_in);
              out->set_age_ms(f.age_ms);
            }
            return resp;
          });
    });
  }
  // `sluicectl record`: inputs are encoded only while a client listens; every newcomer's stream
  // starts with the tables (SetRecorder sends them).
  std::optional<ApiRecorder> api_recorder;
  if (api) api_recorder.emplace(api.get());
  bool recording = false;
  uint64_t record_generation = 0;

  // SIGHUP: the whole new rule set or nothing. Everything that can fail on bad input runs before
  // the kernel is touched; the kernel side is staged beside the live set and switched in one
  // map update (bpf::PolicyMaps); a failure while staging leaves the live set deciding.
  auto reload = [&] {
    const auto started = Clock::now();
    auto reject = [&](const std::string& why) {
      ++reload_failures;
      fprintf(stderr, "sluiced: reload rejected: %s; the rules loaded before stay in force\n",
              why.c_str());
    };
    sluice::detect::LoadResult next = sluice::detect::LoadRules(rules_path);
    if (!next.ok()) {
      for (const auto& e : next.errors) fprintf(stderr, "%s\n", e.ToString().c_str());
      return reject(absl::StrCat(next.errors.size(), " error(s) in ", rules_path));
    }
    sluice::detect::KeepFileClassIds(engine.rules(), &next.rules);
    auto next_policy = sluice::enforce::CompilePolicy(next.rules, mode, maps.next_base());
    if (!next_policy.ok()) return reject(std::string(next_policy.status().message()));
    enforcer.Prepare(next.rules, &*next_policy);
    // What the probes submitted so far was decided by the live rules: judge it by them.
    if (auto n = (*sensor)->Poll(0); !n.ok()) return reject(std::string(n.status().message()));
    if (auto s = maps.Stage(*next_policy); !s.ok()) {
      maps.Abort();
      enforcer.Aborted();
      return reject(absl::StrCat("cannot stage the new policy: ", s.message()));
    }
    // Puts the live classes back over whatever of the new ones got written.
    auto restore_file_classes = [&] {
      sluice::bpf::FileSeedStats restored;
      size_t prefixes = 0, inodes = 0;
      (void)sluice::bpf::ApplyFileClasses((*sensor)->file_class_maps(),
                                          engine.rules().file_classes, &restored);
      (void)sluice::bpf::RemoveStaleFileClasses((*sensor)->file_class_maps(),
                                                engine.rules().file_classes, &prefixes, &inodes);
    };
    sluice::bpf::FileSeedStats seeded;
    if (auto s = sluice::bpf::ApplyFileClasses((*sensor)->file_class_maps(),
                                               next.rules.file_classes, &seeded);
        !s.ok()) {
      maps.Abort();
      enforcer.Aborted();
      restore_file_classes();
      return reject(absl::StrCat("cannot write the sensitive file classes: ", s.message()));
    }
    const uint32_t base = next_policy->id_base;
    const size_t workloads = next.rules.workloads.size();
    const size_t classes = next.rules.file_classes.size();
    // The next watch set goes into the staged bank beside the live one, then the kernel
    // switches. Records of the few milliseconds in between carry old-bank ids; the engine
    // resolves those itself, with the new rules.
    (void)engine.SeedWatchSet(next.rules);
    engine.StageGrants(next.rules, base);
    const uint64_t switched_ns = sluice::BootTimeNs();
    absl::Status cleanup;
    if (auto s = maps.Commit(&cleanup); !s.ok()) {
      maps.Abort();
      enforcer.Aborted();
      engine.DropStagedGrants();
      restore_file_classes();
      return reject(absl::StrCat("cannot switch the kernel to the new policy: ", s.message()));
    }
    if (!cleanup.ok()) {
      fprintf(stderr, "sluiced: reload: clearing the previous policy: %s\n",
              std::string(cleanup.message()).c_str());
    }
    engine.ReplaceRules(std::move(next.rules), base, switched_ns);
    enforcer.Committed();
    if (auto s = ApplyExemptions(maps, engine.rules(), opt.resolv_conf); !s.ok()) {
      fprintf(stderr, "sluiced: reload: %s\n", std::string(s.message()).c_str());
    }
    size_t stale_prefixes = 0, stale_inodes = 0;
    if (auto s = sluice::bpf::RemoveStaleFileClasses(
            (*sensor)->file_class_maps(),
            engine.rules().file_classes, &stale_prefixes, &stale_inodes);
        !s.ok()) {
      fprintf(stderr, "sluiced: reload: %s\n", std::string(s.message()).c_str());
    }
    ++reloads;
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    fprintf(stderr,
            "sluiced: rules reloaded from %s: %zu workload(s), %zu file class(es) (%zu "
            "prefix(es), %zu inode(s) seeded; %zu prefix(es), %zu inode(s) dropped), kernel ids "
            "from %u, in %lld ms\n",
            rules_path.c_str(), workloads, classes, seeded.prefixes, seeded.inodes,
            stale_prefixes, stale_inodes, base, static_cast<long long>(ms));
  };

  auto next_reap = Clock::now();
  auto next_live = Clock::now() + std::chrono::seconds(1);
  auto next_loss_report = Clock::now() + std::chrono::seconds(10);
  uint64_t reported_loss = 0;
  pipeline.Start();
  if (metrics) metrics->SetReady(true);
  auto next_sync = Clock::now() + std::chrono::seconds(1);
  bool dir_sync_failed = false;
  while (!g_stop) {
    if (metrics) metrics->Heartbeat();
    if (g_reload) {
      g_reload = 0;
      reload();
      refresh_status();
    }
    // 10 ms: the probes wake us only above a fill watermark (DESIGN §4).
    auto n = (*sensor)->Poll(10);
    if (!n.ok()) return Fail(kExitRuntime, n.status());
    if (api) {
      const size_t listeners = api->record_subscribers();
      const uint64_t generation = api->record_subscriptions();
      if (listeners == 0 && recording) {
        engine.SetRecorder(nullptr);
        recording = false;
      } else if (listeners > 0 && (!recording || generation != record_generation)) {
        record_generation = generation;
        engine.SetRecorder(&*api_recorder);
        recording = true;
      }
    }
    main_calls.RunPending();
    engine.Tick();
    const auto now = Clock::now();
    if (now >= next_reap) {
      const bool with_live = now >= next_live;
      if (with_live) next_live = now + std::chrono::seconds(1);
      reap(with_live);
      severer.Poll();
      refresh_status();
      next_reap = now + std::chrono::milliseconds(250);
    }
    if (now >= next_sync) {
      // The spool and the evidence log are made durable once a second, not per alert.
      if (absl::Status s = pipeline.Flush(); !s.ok()) {
        fprintf(stderr, "sluiced: %s\n", std::string(s.message()).c_str());
      }
      // A prefix directory created (or replaced) since the rules were loaded: the kernel's
      // parent walk (relative and io_uring opens of new files) knows it within a second.
      const absl::Status dirs = sluice::bpf::SyncPrefixDirs((*sensor)->file_class_maps(),
                                                            engine.rules().file_classes);
      if (!dirs.ok() && !dir_sync_failed) {  // said once, until it works again
        fprintf(stderr, "sluiced: %s\n", std::string(dirs.message()).c_str());
      }
      dir_sync_failed = !dirs.ok();
      next_sync = now + std::chrono::seconds(1);
    }
    if (now >= next_loss_report) {
      // Loss is never silent: log it as soon as it grows.
      const auto loss = (*sensor)->ReadLoss();
      uint64_t total = 0;
      std::vector<std::string> parts;
      for (uint32_t t = 0; t < SLUICE_EV_TYPE_MAX; ++t) {
        total += loss.ring_full[t] + loss.map_full[t];
        if (loss.ring_full[t] || loss.map_full[t]) {
          parts.push_back(absl::StrCat("type ", t, ": ", loss.ring_full[t], " ring-full, ",
                                       loss.map_full[t], " map-full"));
        }
      }
      if (total != reported_loss) {
        fprintf(stderr, "sluiced: sensor loss: %s\n", absl::StrJoin(parts, "; ").c_str());
        reported_loss = total;
      }
      next_loss_report = now + std::chrono::seconds(10);
    }
    if (events) events->Flush();
  }
  // Report final totals (the reap drains what the probes submitted before the signal first),
  // then every aggregate still open: an alert accepted is an alert delivered.
  main_calls.Close();
  reap(/*with_live=*/true);
  engine.FlushAlerts();
  if (events) events->Flush();

  (void)pipeline.Flush();
  if (metrics) metrics->BeginStop();  // overlaps civetweb's stop with the rest of the shutdown
  pipeline.Stop();  // what a network sink has not acknowledged waits in the spool
  // --keep-pinned-on-exit: a host whose policy blocks keeps it while no agent runs (a service
  // restart, an upgrade); the next agent adopts it. Otherwise everything is released here.
  const bool blocking = (mode == GlobalMode::kEnforce && !enforcer.controls().disarmed()) ||
                        !enforcer.controls().quarantined().empty();
  const bool keep = opt.keep_pinned_on_exit && blocking && !pinning.empty();
  (*sensor)->set_keep_pinned(keep);
  if (keep) {
    fprintf(stderr, "sluiced: enforcement stays in force, pinned under %s; the next sluiced "
                    "adopts it, `sluicectl disarm` releases it\n", opt.pin_dir.c_str());
  }
  const auto loss = (*sensor)->ReadLoss();
  uint64_t lost = 0;
  for (uint64_t v : loss.ring_full) lost += v;
  const auto& st = engine.stats();
  fprintf(stderr,
          "sluiced: stopping: %llu alert(s), %llu decode error(s), %llu record(s) lost to a "
          "full ring; %s\n",
          static_cast<unsigned long long>(st.alerts),
          static_cast<unsigned long long>(st.decode_errors),
          static_cast<unsigned long long>(lost),
          keep ? "probes left pinned" : "probes detached");
  return 0;  // the sensor's destructor detaches every link
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sluiced: eBPF exfiltration sensor for CRM/LLM hosts"};
  app.set_version_flag("--version", std::string("sluiced ") + SLUICE_VERSION);
  Options opt;
  app.add_option("--rules", opt.rules_path, "Rule file or directory of *.yaml files")
      ->required();
  app.add_option("--mode", opt.mode,
                 "monitor: alert only (\"Would block\"); enforce: rules in enforce mode block")
      ->check(CLI::IsMember({"monitor", "enforce"}))
      ->capture_default_str();
  app.add_option("--alerts", opt.alerts, "Alert output: a JSON-lines file, or - for stdout")
      ->capture_default_str();
  app.add_option("--events", opt.events,
                 "Also write every decoded sensor event (JSON lines) to FILE, or - for stdout; "
                 "for debugging (no payload bytes are written)");
  app.add_option("--tls-capture", opt.tls_capture,
                 "Plaintext bytes of each TLS call sent to the agent for classification "
                 "(never stored)")
      ->check(CLI::Range(0, SLUICE_TLS_CAPTURE_MAX))
      ->capture_default_str();
  app.add_option("--tls-attach", opt.tls_attach,
                 "TLS uprobes: \"per-process\" attaches them to each watched process (no cost "
                 "to any other; a process that makes its first TLS call within tens of ms of its "
                 "birth is missed), \"system\" attaches the write probes once for every process "
                 "(covered from the first call; every process using libssl/libgnutls pays a trap "
                 "per write)")
      ->check(CLI::IsMember({"per-process", "system"}))
      ->capture_default_str();
  app.add_option("--api-socket", opt.api_socket,
                 "Control API unix socket (root only; sluicectl status/events/alerts); "
                 "\"none\" disables it")
      ->capture_default_str();
  app.add_option("--state-dir", opt.state_dir,
                 "Directory for state kept across restarts (the fingerprint key); without it, "
                 "fingerprints of sensitive values are stable for one run only");
  app.add_flag("--test-drop-flow-records", opt.test_drop_flow_records,
               "Testing only: discard every flow ring record, as if the ring were full; flow "
               "totals then come from the kernel map alone")
      ->group("Testing");
  app.add_option("--resolv-conf", opt.resolv_conf,
                 "Resolver configuration whose nameservers stay reachable (port 53) for every "
                 "workload in enforce mode")
      ->capture_default_str();
  app.add_option("--config", opt.config_path,
                 "Agent configuration (YAML): alert sinks (syslog, splunk_hec, webhook, file) "
                 "and the delivery spool's bound; see docs/operations.md");
  app.add_option("--metrics-listen", opt.metrics_listen,
                 "Serve Prometheus metrics (/metrics), /healthz and /readyz over HTTP on "
                 "ADDR:PORT (e.g. 127.0.0.1:9464); off when not given");
  app.add_option("--pin-dir", opt.pin_dir,
                 "bpffs directory where the programs and maps are pinned, so the policy stays "
                 "in force if sluiced dies and a restarted sluiced adopts it; \"none\" disables "
                 "pinning")
      ->capture_default_str();
  app.add_flag("--keep-pinned-on-exit", opt.keep_pinned_on_exit,
               "On SIGTERM/SIGINT, leave the pinned enforcement in force when it blocks "
               "(--mode enforce and armed, or a quarantine) for the next sluiced to adopt; "
               "without it a clean stop detaches everything");
  app.add_option("--hooks", opt.hooks,
                 "Kernel hooks: \"auto\" uses each family's preferred hook (tp_btf, fexit, "
                 "BPF-LSM) where the feature probe finds it works and its tracepoint fallback "
                 "elsewhere; \"fallback\" uses the tracepoints everywhere (troubleshooting)")
      ->check(CLI::IsMember({"auto", "fallback"}))
      ->capture_default_str();
  app.add_option("--test-container-root", opt.test_container_root,
                 "Testing only: read container labels from DIR/docker, DIR/containerd and "
                 "DIR/oci instead of the runtimes' own directories")
      ->group("Testing");
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
  struct sigaction hup {};
  hup.sa_handler = OnHangup;  // no SA_RESTART either: the loop reloads within one poll
  sigaction(SIGHUP, &hup, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return Run(opt);
}
