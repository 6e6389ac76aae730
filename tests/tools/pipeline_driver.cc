// Drives the agent's delivery assembly as sluiced builds it: OpenDelivery (the sinks of
// --config, the spool and the evidence log in --state-dir) around an AlertPipeline with one
// delivery thread per network sink. It writes --count synthetic alerts through the pipeline at
// --rate-per-s, then waits until every network sink has acknowledged everything the spool holds,
// so an integration test can kill and restart the receivers (or this process) mid-stream and
// check what arrived (tests/integration/delivery_test.py).
//
// stdout, one line each:
//   {"t_ms":..,"written":..,"write_errors":..,
//    "spool":{"bytes","records","segments","last_seq","corrupt_records","corrupt_bytes"},
//    "sinks":{"<name>":{"kind","delivered","pending","errors","rejected","overflow_dropped",
//                       "healthy","last_error","acked_seq"}}}
//       every --stats-every-ms while running;
//   DONE {same JSON}   at the end (exit 0), or when the wait gave up (exit 1).
// Alert uids are "t-<run>-<i>" for i in [0, count). Started again on the same --state-dir with
// --count 0 it only delivers what an earlier run left in the spool.
// Exit codes: 0 everything delivered, 1 something still pending at the deadline or an alert the
// pipeline could not take, 2 the delivery could not be opened (bad configuration, locked spool).
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/detect/alert.h"
#include "agent/output/delivery.h"
#include "agent/output/delivery_setup.h"
#include "agent/output/spool.h"
#include "nlohmann/json.hpp"

namespace {

using sluice::detect::Alert;
using sluice::detect::DataMatch;
using sluice::detect::Disposition;
using sluice::detect::FileAccess;
using sluice::detect::Severity;
using sluice::output::AlertPipeline;
using sluice::output::Delivery;
using sluice::output::SinkStats;
using sluice::output::SpoolStats;

constexpr int64_t kFlushEvery = 100;
constexpr int64_t kBaseTimeMs = 1717171717000;

// A finding as a detector would report it, varied in every field the OCSF renderer and the
// syslog header draw on, so receivers parse realistic lines (a few long enough to need
// rsyslog's 64k message size).
Alert MakeAlert(const std::string& run, int64_t i) {
  static const char* const kDetectors[] = {"unexpected_egress", "dns_tunnel", "bulk_upload",
                                           "cred_file_read", "crm_record_exfil"};
  static const char* const kTechniques[] = {"T1041", "T1071.004", "T1567.002", "T1552.001",
                                            "T1048.003"};
  static const Disposition kDispositions[] = {Disposition::kAllowed, Disposition::kBlocked,
                                              Disposition::kWouldBlock};
  const size_t d = static_cast<size_t>(i) % 5;
  Alert a;
  a.uid = absl::StrCat("t-", run, "-", i);
  a.detector = kDetectors[d];
  a.title = absl::StrCat(a.detector, " from crm-sync #", i, " to café.example");
  a.description = "Synthetic finding of the delivery test: a workload sent data where its rules "
                  "do not allow it.";
  a.severity = static_cast<Severity>(1 + i % 6);
  a.disposition = kDispositions[i % 3];
  a.rule_mode = a.disposition == Disposition::kBlocked ? "enforce" : "monitor";
  a.time_ms = kBaseTimeMs + i * 1001 + i % 7;
  a.workload = {"crm-sync", i % 2 == 0 ? "worker" : "", "/kubepods/pod-crm/ctr-1",
                static_cast<uint64_t>(4000 + i % 13)};
  a.process.pid = static_cast<uint32_t>(1000 + i % 30000);
  a.process.ppid = 1;
  a.process.uid = 1000;
  a.process.exe = "/usr/bin/curl";
  a.process.comm = "curl";
  a.process.cmdline = absl::StrCat("curl -s -d @/var/lib/crm/export-", i, ".csv https://");
  if (i % 499 == 7) a.process.cmdline.append(20000, 'x');  // past rsyslog's default 8k
  a.destination.ip = absl::StrCat("203.0.113.", i % 250);
  a.destination.port = static_cast<uint16_t>(i % 4 == 0 ? 53 : 443);
  a.destination.protocol = i % 4 == 0 ? "udp" : "tcp";
  a.destination.names = {absl::StrCat("h", i % 17, ".exfil.example")};
  a.attack_techniques = {kTechniques[d]};
  a.connect_result = a.disposition == Disposition::kBlocked ? -1 : 0;
  a.bytes_out = static_cast<uint64_t>(1 << 20) + static_cast<uint64_t>(i);
  a.bytes_in = static_cast<uint64_t>(i % 4096);
  switch (d) {
    case 1:
      a.dns_domain = "exfil.example";
      break;
    case 3:
      a.files.push_back(FileAccess{"/home/app/.aws/credentials", "cloud-credentials",
                                   static_cast<uint64_t>(512 + i % 64), 0});
      break;
    case 4:
      a.data.push_back(DataMatch{"crm_record_id", static_cast<uint64_t>(1 + i % 50),
                                 {"3f9a1c0b7e2d", "a07c55e1d2b4"}});
      break;
    default:
      a.app_protocol = "tls";
      a.sni = "uploads.exfil.example";
      a.encrypted = true;
      break;
  }
  if (i % 10 == 9) {  // an aggregated alert
    a.count = static_cast<uint64_t>(2 + i % 5);
    a.first_seen_ms = a.time_ms - 30000;
    a.last_seen_ms = a.time_ms;
  }
  return a;
}

nlohmann::json StatsJson(const std::vector<SinkStats>& sinks, const SpoolStats* spool,
                         int64_t written, int64_t write_errors, absl::Duration elapsed) {
  nlohmann::json out;
  out["t_ms"] = absl::ToInt64Milliseconds(elapsed);
  out["written"] = written;
  out["write_errors"] = write_errors;
  if (spool != nullptr) {
    out["spool"] = {{"bytes", spool->bytes},
                    {"records", spool->records},
                    {"segments", spool->segments},
                    {"last_seq", spool->last_seq},
                    {"corrupt_records", spool->corrupt_records},
                    {"corrupt_bytes", spool->corrupt_bytes}};
  }
  nlohmann::json by_name = nlohmann::json::object();
  for (const SinkStats& s : sinks) {
    nlohmann::json& j = by_name[s.name];
    j = {{"kind", s.kind},
         {"delivered", s.delivered},
         {"pending", s.pending},
         {"errors", s.errors},
         {"rejected", s.rejected},
         {"overflow_dropped", s.overflow_dropped},
         {"healthy", s.healthy},
         {"last_error", s.last_error}};
    // Where the sink's cursor stands: which alerts it acknowledged, not just how many.
    if (spool != nullptr) {
      if (auto it = spool->sinks.find(s.name); it != spool->sinks.end()) {
        j["acked_seq"] = it->second.acked_seq;
      }
    }
  }
  out["sinks"] = std::move(by_name);
  return out;
}

// Prints the pipeline's stats every `every` on its own thread, so the writer's pacing and the
// wait for the sinks never hide what delivery is doing.
class StatsPrinter {
 public:
  StatsPrinter(const AlertPipeline* pipeline, const sluice::output::Spool* spool,
               absl::Duration every)
      : pipeline_(pipeline), spool_(spool), every_(every), started_(absl::Now()) {
    if (every_ > absl::ZeroDuration()) thread_ = std::thread([this] { Loop(); });
  }
  ~StatsPrinter() { Stop(); }
  StatsPrinter(const StatsPrinter&) = delete;
  StatsPrinter& operator=(const StatsPrinter&) = delete;

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

  void SetCounts(int64_t written, int64_t write_errors) {
    absl::MutexLock lock(&mu_);
    written_ = written;
    write_errors_ = write_errors;
  }

  // One line, `prefix` first ("" or "DONE ").
  void Print(const char* prefix) {
    int64_t written = 0, write_errors = 0;
    {
      absl::MutexLock lock(&mu_);
      written = written_;
      write_errors = write_errors_;
    }
    SpoolStats spool;
    if (spool_ != nullptr) spool = spool_->stats();
    const std::string line =
        StatsJson(pipeline_->stats(), spool_ != nullptr ? &spool : nullptr, written,
                  write_errors, absl::Now() - started_)
            .dump();
    absl::MutexLock lock(&print_mu_);
    printf("%s%s\n", prefix, line.c_str());
    fflush(stdout);
  }

 private:
  void Loop() {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        auto stop = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping_; };
        if (mu_.AwaitWithTimeout(absl::Condition(&stop), every_)) return;
      }
      Print("");
    }
  }

  const AlertPipeline* const pipeline_;
  const sluice::output::Spool* const spool_;
  const absl::Duration every_;
  const absl::Time started_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t written_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t write_errors_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex print_mu_;  // whole lines on stdout
  std::thread thread_;
};

bool AllNetworkSinksDrained(const std::vector<SinkStats>& sinks) {
  for (const SinkStats& s : sinks) {
    if (s.kind != "file" && s.pending != 0) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config;
  std::string state_dir;
  std::string run = "0";
  int64_t count = 0;
  double rate_per_s = 0;
  double wait_s = 60;
  int64_t stats_every_ms = 500;
  CLI::App app{"Write synthetic alerts through the agent's delivery pipeline"};
  app.add_option("--config", config, "agent configuration (sinks, spool)")->required();
  app.add_option("--state-dir", state_dir, "holds the spool and the evidence log")->required();
  app.add_option("--count", count, "alerts to write (0: only deliver what is spooled)")
      ->required()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--run", run, "names this run in the alert uids, t-<run>-<i>");
  app.add_option("--rate-per-s", rate_per_s, "alerts per second (0: as fast as possible)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--wait-s", wait_s, "how long to wait for the sinks after writing")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--stats-every-ms", stats_every_ms, "stats line period (0: only DONE)")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  auto delivery = sluice::output::OpenDelivery(config, state_dir, sluice::output::ProductInfo{},
                                               /*primary=*/nullptr);
  if (!delivery.ok()) {
    fprintf(stderr, "pipeline_driver: %s\n", delivery.status().ToString().c_str());
    return 2;
  }
  // The pipeline points into the spool and the evidence log `delivery` owns: declared after it,
  // it is destroyed (its workers stopped) first.
  AlertPipeline pipeline(std::move(delivery->options));
  StatsPrinter printer(&pipeline, delivery->spool.get(), absl::Milliseconds(stats_every_ms));
  pipeline.Start();

  const absl::Time start = absl::Now();
  int64_t write_errors = 0;
  for (int64_t i = 0; i < count; ++i) {
    if (rate_per_s > 0) {
      const absl::Time due = start + absl::Seconds(static_cast<double>(i) / rate_per_s);
      if (const absl::Time now = absl::Now(); due > now) absl::SleepFor(due - now);
    }
    if (absl::Status s = pipeline.Write(MakeAlert(run, i)); !s.ok()) {
      ++write_errors;
      fprintf(stderr, "pipeline_driver: alert %lld: %s\n", static_cast<long long>(i),
              s.ToString().c_str());
    }
    if ((i + 1) % kFlushEvery == 0 || i + 1 == count) {
      if (absl::Status s = pipeline.Flush(); !s.ok()) {
        fprintf(stderr, "pipeline_driver: flush: %s\n", s.ToString().c_str());
      }
    }
    printer.SetCounts(i + 1, write_errors);
  }

  const absl::Time deadline = absl::Now() + absl::Seconds(wait_s);
  bool drained = AllNetworkSinksDrained(pipeline.stats());
  while (!drained && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    drained = AllNetworkSinksDrained(pipeline.stats());
  }
  if (absl::Status s = pipeline.Flush(); !s.ok()) {
    fprintf(stderr, "pipeline_driver: flush: %s\n", s.ToString().c_str());
  }
  pipeline.Stop();
  printer.Stop();
  printer.Print("DONE ");
  if (!drained) {
    fprintf(stderr, "pipeline_driver: alerts still pending after %gs\n", wait_s);
    return 1;
  }
  return write_errors == 0 ? 0 : 1;
}
