// sluicectl: the operator's command line for sluice.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/api/control_server.h"
#include "agent/bpf/pins.h"
#include "agent/common/unique_fd.h"
#include "agent/detect/rules.h"
#include "agent/enforce/policy.h"
#include "agent/output/alert_sink.h"
#include "agent/output/evidence_log.h"
#include "agent/output/incident_report.h"
#include "agent/replay/event_codec.h"
#include "agent/replay/record_file.h"
#include "agent/replay/replayer.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "sluice/v1/control.grpc.pb.h"

namespace {

constexpr int kExitFailure = 1;  // the agent is unreachable, access denied, an RPC failed
constexpr int kExitBadInput = 2;
constexpr auto kStatusTimeout = std::chrono::seconds(10);

// `sluicectl rules check PATH`: the exact checks sluiced runs at start (parse, validate, compile
// into kernel policy), so a rule set that passes here loads there.
int RulesCheck(const std::string& path) {
  sluice::detect::LoadResult loaded = sluice::detect::LoadRules(path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) fprintf(stderr, "%s\n", e.ToString().c_str());
    fprintf(stderr, "%zu error(s); the rule set would be rejected whole\n",
            loaded.errors.size());
    return kExitBadInput;
  }
  auto policy =
      sluice::enforce::CompilePolicy(loaded.rules, sluice::enforce::GlobalMode::kEnforce);
  if (!policy.ok()) {
    fprintf(stderr, "%s\n", std::string(policy.status().message()).c_str());
    return kExitBadInput;
  }
  printf("ok: %zu workload(s) in %zu file(s)\n", loaded.rules.workloads.size(),
         loaded.rules.files.size());
  return 0;
}

// --- Evidence log: verify, report ------------------------------------------------------------

constexpr char kDefaultStateDir[] = "/var/lib/sluice";

// `sluicectl verify`: 0 when the chain is intact, 1 when it is broken (or cannot be read).
int VerifyCommand(const std::string& target) {
  absl::StatusOr<sluice::output::VerifyResult> r = sluice::output::VerifyEvidence(target);
  if (!r.ok()) {
    fprintf(stderr, "sluicectl: %s\n", std::string(r.status().message()).c_str());
    return kExitFailure;
  }
  if (!r->ok) {
    printf("evidence log BROKEN at record %llu: %s\n",
           static_cast<unsigned long long>(r->bad_record), r->problem.c_str());
    printf("log: %s (%llu records read)\n", r->log_path.c_str(),
           static_cast<unsigned long long>(r->records));
    return kExitFailure;
  }
  printf("evidence log intact: %llu records (%s)\n", static_cast<unsigned long long>(r->records),
         r->log_path.c_str());
  if (!r->head_checked) {
    fprintf(stderr, "sluicectl: no head file beside %s: records cut off its end cannot be "
                    "detected\n", r->log_path.c_str());
  }
  return 0;
}

// A report bound: an RFC 3339 time ("2026-11-29T10:00:00Z"), or a duration that long before
// `now` ("24h", "90m", "1h30m", "7d").
std::optional<int64_t> ParseWhen(const std::string& text, absl::Time now) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return absl::ToUnixMillis(t);
  absl::Duration ago;
  if (text.size() > 1 && text.back() == 'd') {
    int64_t days = 0;
    if (!absl::SimpleAtoi(text.substr(0, text.size() - 1), &days) || days < 0) return std::nullopt;
    ago = absl::Hours(24) * days;
  } else if (!absl::ParseDuration(text, &ago)) {
    return std::nullopt;
  }
  if (ago < absl::ZeroDuration()) return std::nullopt;
  return absl::ToUnixMillis(now - ago);
}

bool WriteTextFile(const std::string& path, const std::string& text) {
  sluice::UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    fprintf(stderr, "sluicectl: %s: %s\n", path.c_str(), strerror(errno));
    return false;
  }
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fprintf(stderr, "sluicectl: %s: %s\n", path.c_str(), strerror(errno));
      return false;
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd.release()) != 0) {
    fprintf(stderr, "sluicectl: %s: %s\n", path.c_str(), strerror(errno));
    return false;
  }
  return true;
}

// `sluicectl report --since T [--until T] --out PREFIX`: PREFIX.md and PREFIX.json from the
// alerts of the evidence log in the window. The chain is verified first and the report says how
// that went; a broken log still gets its report (it may be all there is), marked as such.
int ReportCommand(const std::string& target, const std::string& since_text,
                  const std::string& until_text, const std::string& out_prefix) {
  const absl::Time now = absl::Now();
  const std::optional<int64_t> since = ParseWhen(since_text, now);
  const std::optional<int64_t> until =
      until_text.empty() ? std::optional<int64_t>(absl::ToUnixMillis(now))
                         : ParseWhen(until_text, now);
  if (!since.has_value() || !until.has_value()) {
    const bool bad_since = !since.has_value();
    fprintf(stderr, "sluicectl: %s %s: not an RFC 3339 time (2026-11-29T10:00:00Z) nor a "
                    "duration ago (24h, 90m, 7d)\n",
            bad_since ? "--since" : "--until", (bad_since ? since_text : until_text).c_str());
    return kExitBadInput;
  }
  if (*since > *until) {
    fprintf(stderr, "sluicectl: --since is after --until\n");
    return kExitBadInput;
  }
  absl::StatusOr<sluice::output::VerifyResult> verified = sluice::output::VerifyEvidence(target);
  if (!verified.ok()) {
    fprintf(stderr, "sluicectl: %s\n", std::string(verified.status().message()).c_str());
    return kExitFailure;
  }
  auto alerts = sluice::output::ReadEvidenceAlerts(target, *since, *until);
  if (!alerts.ok()) {
    fprintf(stderr, "sluicectl: %s\n", std::string(alerts.status().message()).c_str());
    return kExitFailure;
  }
  sluice::output::IncidentReport report = sluice::output::BuildReport(*alerts, *since, *until);
  report.generated_ms = absl::ToUnixMillis(now);
  report.source.evidence_file = verified->log_path;
  report.source.verified = verified->ok;
  report.source.records = verified->records;
  report.source.bad_record = verified->bad_record;
  report.source.problem = verified->problem;
  report.source.head_checked = verified->head_checked;

  const std::string md_path = out_prefix + ".md";
  const std::string json_path = out_prefix + ".json";
  const std::string json_text =
      sluice::output::RenderJson(report).dump(2, ' ', false,
                                              nlohmann::json::error_handler_t::replace) +
      "\n";
  if (!WriteTextFile(md_path, sluice::output::RenderMarkdown(report)) ||
      !WriteTextFile(json_path, json_text)) {
    return kExitFailure;
  }
  printf("incident report written: %s, %s (%llu alert(s) from %s to %s)\n", md_path.c_str(),
         json_path.c_str(), static_cast<unsigned long long>(report.alerts),
         sluice::output::FormatReportTime(*since).c_str(),
         sluice::output::FormatReportTime(*until).c_str());
  if (!verified->ok) {
    fprintf(stderr, "sluicectl: WARNING: evidence log BROKEN at record %llu: %s; the report "
                    "says so at its top\n",
            static_cast<unsigned long long>(verified->bad_record), verified->problem.c_str());
  }
  return 0;
}

// --- Reaching the agent -------------------------------------------------------------------

// `sluicectl replay FILE --rules PATH`: the recording through the engine, alerts as OCSF JSON
// lines on stdout (or --alerts FILE), a summary on stderr. No agent and no privileges needed.
int ReplayCommand(const std::string& file, const std::string& rules_path,
                  const std::string& alerts_path) {
  sluice::detect::LoadResult loaded = sluice::detect::LoadRules(rules_path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) fprintf(stderr, "%s\n", e.ToString().c_str());
    fprintf(stderr, "%zu error(s) in the rules; nothing replayed\n", loaded.errors.size());
    return kExitBadInput;
  }
  absl::StatusOr<sluice::replay::RecordReader> reader = sluice::replay::RecordReader::Open(file);
  if (!reader.ok()) {
    fprintf(stderr, "%s: %s\n", file.c_str(), std::string(reader.status().message()).c_str());
    return kExitBadInput;
  }
  sluice::output::ProductInfo product;
  auto sink = sluice::output::OpenJsonLinesSink(alerts_path, product);
  if (!sink.ok()) {
    fprintf(stderr, "%s: %s\n", alerts_path.c_str(), std::string(sink.status().message()).c_str());
    return kExitFailure;
  }
  absl::StatusOr<sluice::replay::ReplaySummary> summary =
      sluice::replay::Replay(*reader, loaded.rules, sink->get());
  (void)(*sink)->Flush();
  if (!summary.ok()) {
    fprintf(stderr, "%s: %s\n", file.c_str(), std::string(summary.status().message()).c_str());
    return kExitBadInput;
  }
  fprintf(stderr,
          "replayed %llu input(s) recorded on %s: %llu finding(s), %llu alert(s) after "
          "aggregation",
          static_cast<unsigned long long>(summary->inputs),
          reader->header().hostname().empty() ? "an unnamed host"
                                              : reader->header().hostname().c_str(),
          static_cast<unsigned long long>(summary->findings),
          static_cast<unsigned long long>(summary->alerts));
  if (summary->malformed > 0) {
    fprintf(stderr, "; %llu malformed record(s) skipped (first: %s)",
            static_cast<unsigned long long>(summary->malformed), summary->first_error.c_str());
  }
  if (summary->truncated) fprintf(stderr, "; the recording ends inside a record (cut short)");
  fprintf(stderr, "\n");
  return 0;
}

int Unreachable(const std::string& path, const std::string& reason) {
  fprintf(stderr, "sluicectl: cannot reach sluiced at %s: %s (is sluiced running?)\n",
          path.c_str(), reason.c_str());
  return kExitFailure;
}

int Denied(const std::string& path) {
  fprintf(stderr, "sluicectl: permission denied on %s: run as root\n", path.c_str());
  return kExitFailure;
}

// One connect(2) of our own to the control socket: 0 when the agent accepts, else the errno
// (ENAMETOOLONG for a path a unix socket cannot take).
int ConnectErrno(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return ENAMETOOLONG;
  std::memcpy(addr.sun_path, path.data(), path.size());
  sluice::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return errno;
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) return 0;
  return errno;
}

// Before gRPC: our own connect tells "not running" (no socket, connection refused) from "not
// allowed" (EACCES on the 0600 socket) precisely; gRPC would report both as UNAVAILABLE.
// Returns 0 when the agent accepts connections, else the exit code (printed).
int Preflight(const std::string& path) {
  const int err = ConnectErrno(path);
  if (err == 0) return 0;
  if (err == ENAMETOOLONG) return Unreachable(path, "socket path too long");
  if (err == EACCES || err == EPERM) return Denied(path);
  return Unreachable(path, strerror(err));
}

// Maps an RPC's failure to the CLI's messages and exit code.
int RpcFailed(const std::string& path, const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return Denied(path);
    case grpc::StatusCode::UNAVAILABLE:
      return Unreachable(path, s.error_message());
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Unreachable(path, "no answer in time");
    default:
      fprintf(stderr, "sluicectl: %s: %s\n", path.c_str(), s.error_message().c_str());
      return kExitFailure;
  }
}

std::unique_ptr<sluice::v1::Control::Stub> Connect(const std::string& path) {
  return sluice::v1::Control::NewStub(
      grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials()));
}

// Ctrl-C / SIGTERM cancel the RPC in flight, so a `--follow` stream ends cleanly (exit 0).
// Signals are taken by a thread in sigwait(2): cancelling a gRPC call from a signal handler is
// not async-signal-safe.
class Interrupter {
 public:
  Interrupter() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);  // our own wakeup at exit
    // Before gRPC starts threads: they inherit the mask, so only this thread sees the signals.
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this] { Run(); });
  }
  ~Interrupter() {
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }

  void Watch(grpc::ClientContext* ctx) {
    absl::MutexLock lock(&mu_);
    ctx_ = ctx;
    if (interrupted_ && ctx_ != nullptr) ctx_->TryCancel();
  }
  bool interrupted() {
    absl::MutexLock lock(&mu_);
    return interrupted_;
  }

 private:
  void Run() {
    while (true) {
      int sig = 0;
      if (sigwait(&set_, &sig) != 0) continue;
      absl::MutexLock lock(&mu_);
      if (done_) return;
      if (sig == SIGUSR1) continue;
      interrupted_ = true;
      if (ctx_ != nullptr) ctx_->TryCancel();
    }
  }

  sigset_t set_;
  std::thread thread_;
  absl::Mutex mu_;
  grpc::ClientContext* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// --- status ----------------------------------------------------------------------------------

std::string Duration(uint64_t seconds) {
  const uint64_t d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60,
                 s = seconds % 60;
  if (d > 0) return absl::StrFormat("%dd %02dh %02dm %02ds", d, h, m, s);
  if (h > 0) return absl::StrFormat("%dh %02dm %02ds", h, m, s);
  if (m > 0) return absl::StrFormat("%dm %02ds", m, s);
  return absl::StrFormat("%ds", s);
}

// Left-aligned columns, two spaces apart, widths from the content.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    printf("%s\n", line.c_str());
  }
}

void PrintStatus(const sluice::v1::StatusResponse& st) {
  printf("sluiced %s (pid %u)\n", st.version().c_str(), st.pid());
  const absl::Time started = absl::FromUnixMillis(st.start_time_unix_ms());
  printf("mode:    %s\n", st.mode().empty() ? "-" : st.mode().c_str());
  printf("uptime:  %s (since %s)\n", Duration(st.uptime_seconds()).c_str(),
         absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", started, absl::UTCTimeZone()).c_str());
  printf("rules:   %s (%u workload(s))\n", st.rules_path().empty() ? "-" : st.rules_path().c_str(),
         st.workload_count());
  if (st.disarmed()) printf("enforcement: DISARMED (nothing is denied; `sluicectl arm`)\n");
  for (const auto& q : st.quarantined()) {
    printf("quarantined: %s (by %s since %s)%s%s\n", q.workload().c_str(), q.by().c_str(),
           absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(q.since_unix_ms()),
                            absl::UTCTimeZone())
               .c_str(),
           q.reason().empty() ? "" : ": ", q.reason().c_str());
  }
  printf("alerts:  %llu   decode errors: %llu\n",
         static_cast<unsigned long long>(st.alerts_total()),
         static_cast<unsigned long long>(st.decode_errors()));

  if (st.probes_size() > 0) {
    printf("\n");
    std::vector<std::vector<std::string>> rows = {{"PROBE", "HOOK", "STATE"}};
    for (const auto& p : st.probes()) {
      std::string state = p.attached() ? "attached" : "NOT ATTACHED";
      if (p.attached() && p.fallback_used()) {
        absl::StrAppend(&state, " (fallback for ", p.preferred_hook(),
                        p.fallback_reason().empty() ? "" : ": ", p.fallback_reason(), ")");
      }
      if (!p.attached() && !p.error().empty()) absl::StrAppend(&state, ": ", p.error());
      rows.push_back({p.name(), p.hook(), state});
    }
    PrintTable(rows);
  }
  if (st.event_types_size() > 0) {
    printf("\n");
    std::vector<std::vector<std::string>> rows = {
        {"EVENT TYPE", "RECEIVED", "LOST (RING FULL)", "MAP FULL"}};
    for (const auto& t : st.event_types()) {
      rows.push_back({t.type(), absl::StrCat(t.received()), absl::StrCat(t.ring_full()),
                      absl::StrCat(t.map_full())});
    }
    PrintTable(rows);
  }
  if (st.sinks_size() > 0) {
    printf("\n");
    std::vector<std::vector<std::string>> rows = {
        {"SINK", "KIND", "TARGET", "DELIVERED", "PENDING", "ERRORS", "REJECTED", "LOST", "STATE"}};
    for (const auto& k : st.sinks()) {
      rows.push_back({k.name(), k.kind(), k.target(), absl::StrCat(k.delivered()),
                      absl::StrCat(k.pending()), absl::StrCat(k.errors()),
                      absl::StrCat(k.rejected()), absl::StrCat(k.overflow_dropped()),
                      k.healthy() ? "ok" : absl::StrCat("FAILING: ", k.last_error())});
    }
    PrintTable(rows);
    if (st.spool().enabled()) {
      printf("spool: %llu alert(s), %llu of %llu bytes; %llu damaged record(s) dropped at start\n",
             static_cast<unsigned long long>(st.spool().records()),
             static_cast<unsigned long long>(st.spool().bytes()),
             static_cast<unsigned long long>(st.spool().max_bytes()),
             static_cast<unsigned long long>(st.spool().corrupt_records()));
    }
  }
  // Sorted: protobuf maps have no order.
  for (const auto& [title, map] :
       {std::pair{"GAUGE", &st.gauges()}, std::pair{"COUNTER", &st.counters()}}) {
    if (map->empty()) continue;
    printf("\n");
    std::map<std::string, uint64_t> sorted(map->begin(), map->end());
    std::vector<std::vector<std::string>> rows = {{title, "VALUE"}};
    for (const auto& [k, v] : sorted) rows.push_back({k, absl::StrCat(v)});
    PrintTable(rows);
  }
}

int Status(const std::string& path, bool json) {
  if (int rc = Preflight(path); rc != 0) return rc;
  Interrupter interrupter;
  auto stub = Connect(path);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kStatusTimeout);
  interrupter.Watch(&ctx);
  sluice::v1::StatusResponse resp;
  const grpc::Status s = stub->Status(&ctx, sluice::v1::StatusRequest(), &resp);
  interrupter.Watch(nullptr);
  if (interrupter.interrupted()) return 0;
  if (!s.ok()) return RpcFailed(path, s);
  if (json) {
    google::protobuf::util::JsonPrintOptions opt;
    opt.add_whitespace = true;
    opt.always_print_primitive_fields = true;
    opt.preserve_proto_field_names = true;
    std::string out;
    if (auto js = google::protobuf::util::MessageToJsonString(resp, &out, opt); !js.ok()) {
      fprintf(stderr, "sluicectl: cannot render status as JSON: %s\n", js.ToString().c_str());
      return kExitFailure;
    }
    printf("%s\n", out.c_str());
  } else {
    PrintStatus(resp);
  }
  return fflush(stdout) == 0 ? 0 : kExitFailure;
}

// --- events / alerts ---------------------------------------------------------------------------

// Prints each line as it arrives, flushed, so `| jq` and `tail`-style use see it at once. Lines
// the agent dropped because this client lagged are reported on stderr, never mixed into stdout.
template <typename Msg>
int Stream(const std::string& path, const char* what,
           const std::function<std::unique_ptr<grpc::ClientReader<Msg>>(
               sluice::v1::Control::Stub*, grpc::ClientContext*)>& open) {
  if (int rc = Preflight(path); rc != 0) return rc;
  Interrupter interrupter;
  auto stub = Connect(path);
  grpc::ClientContext ctx;
  interrupter.Watch(&ctx);
  auto reader = open(stub.get(), &ctx);
  Msg msg;
  bool stdout_closed = false;
  while (reader->Read(&msg)) {
    if (msg.dropped_before() > 0) {
      fprintf(stderr, "sluicectl: %llu %s line(s) dropped by sluiced: this client fell behind\n",
              static_cast<unsigned long long>(msg.dropped_before()), what);
    }
    if (msg.json().empty()) continue;
    const std::string& line = msg.json();
    if (fwrite(line.data(), 1, line.size(), stdout) != line.size() || fputc('\n', stdout) == EOF ||
        fflush(stdout) != 0) {
      stdout_closed = true;  // e.g. `| head`: the reader is gone, so are we
      ctx.TryCancel();
      break;
    }
  }
  const grpc::Status s = reader->Finish();
  interrupter.Watch(nullptr);
  if (interrupter.interrupted() || stdout_closed) return 0;
  if (!s.ok()) return RpcFailed(path, s);
  return 0;
}

}  // namespace

// `sluicectl record FILE [--duration S]`: the agent's engine inputs into a recording until
// Ctrl-C (or the duration), for `sluicectl replay`. Every event is validated as replay will read
// it; the file is complete and closed on every exit path.
int RecordCommand(const std::string& path, const std::string& file, double duration_s) {
  if (int rc = Preflight(path); rc != 0) return rc;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  auto writer = sluice::replay::RecordWriter::Open(
      file, {SLUICE_VERSION, host, absl::ToUnixMillis(absl::Now())});
  if (!writer.ok()) {
    fprintf(stderr, "%s: %s\n", file.c_str(), std::string(writer.status().message()).c_str());
    return kExitFailure;
  }
  Interrupter interrupter;
  auto stub = Connect(path);
  grpc::ClientContext ctx;
  if (duration_s > 0) {
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(duration_s * 1000)));
  }
  interrupter.Watch(&ctx);
  sluice::v1::RecordRequest req;
  auto reader = stub->Record(&ctx, req);
  sluice::v1::RecordChunk chunk;
  sluice::v1::Event event;
  uint64_t invalid = 0;
  std::string first_invalid;
  uint64_t dropped = 0;
  absl::Status write_error;
  while (reader->Read(&chunk)) {
    dropped += chunk.dropped_before();
    for (const std::string& bytes : chunk.events()) {
      auto input = event.ParseFromString(bytes) ? sluice::replay::FromProto(event)
                                                : absl::InvalidArgumentError("unparseable");
      if (!input.ok()) {
        if (invalid++ == 0) first_invalid = std::string(input.status().message());
        continue;
      }
      if (write_error = writer->Write(*input); !write_error.ok()) break;
    }
    if (!write_error.ok()) {
      ctx.TryCancel();
      break;
    }
  }
  const grpc::Status s = reader->Finish();
  interrupter.Watch(nullptr);
  const absl::Status closed = writer->Close();
  fprintf(stderr, "sluicectl: recorded %llu event(s) into %s",
          static_cast<unsigned long long>(writer->records_written()), file.c_str());
  if (dropped > 0) {
    fprintf(stderr, "; %llu dropped by sluiced (this client fell behind)",
            static_cast<unsigned long long>(dropped));
  }
  if (invalid > 0) {
    fprintf(stderr, "; %llu invalid event(s) skipped (first: %s)",
            static_cast<unsigned long long>(invalid), first_invalid.c_str());
  }
  fprintf(stderr, "\n");
  if (!write_error.ok() || !closed.ok()) {
    fprintf(stderr, "%s: %s\n", file.c_str(),
            std::string((!write_error.ok() ? write_error : closed).message()).c_str());
    return kExitFailure;
  }
  const bool ended_by_us = interrupter.interrupted() ||
                           (duration_s > 0 && s.error_code() == grpc::DEADLINE_EXCEEDED);
  if (!s.ok() && !ended_by_us) return RpcFailed(path, s);
  return 0;
}

// `sluicectl learn [--write FILE]`: the rule file proposed from what learn-mode workloads did.
int LearnCommand(const std::string& path, const std::string& out) {
  if (int rc = Preflight(path); rc != 0) return rc;
  auto stub = Connect(path);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kStatusTimeout);
  sluice::v1::LearnResponse resp;
  if (grpc::Status s = stub->Learn(&ctx, sluice::v1::LearnRequest(), &resp); !s.ok()) {
    return RpcFailed(path, s);
  }
  if (resp.learning_workloads() == 0) {
    fprintf(stderr, "sluicectl: no workload is in learn mode (set `mode: learn` in the rules and "
                    "reload)\n");
    return kExitFailure;
  }
  if (out.empty() || out == "-") {
    fputs(resp.rules_yaml().c_str(), stdout);
    return 0;
  }
  FILE* f = fopen(out.c_str(), "wx");  // never overwrite a reviewed rule file
  if (f == nullptr) {
    fprintf(stderr, "%s: %s%s\n", out.c_str(), strerror(errno),
            errno == EEXIST ? " (refusing to overwrite; choose another name)" : "");
    return kExitFailure;
  }
  const bool ok = fputs(resp.rules_yaml().c_str(), f) >= 0;
  if (fclose(f) != 0 || !ok) {
    fprintf(stderr, "%s: write failed\n", out.c_str());
    return kExitFailure;
  }
  fprintf(stderr, "sluicectl: proposed rules for %u learning workload(s) written to %s; review, "
                  "then check with: sluicectl rules check %s\n",
          resp.learning_workloads(), out.c_str(), out.c_str());
  return 0;
}

std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrCat(n, " B") : absl::StrFormat("%.1f %s", v, units[u]);
}

// `sluicectl flows [--workload W] [--limit N] [--json]`: the flows open now.
int FlowsCommand(const std::string& path, const std::string& workload, uint32_t limit, bool json) {
  if (int rc = Preflight(path); rc != 0) return rc;
  auto stub = Connect(path);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  sluice::v1::FlowsRequest req;
  req.set_workload(workload);
  req.set_limit(limit);
  sluice::v1::FlowsResponse resp;
  if (grpc::Status s = stub->Flows(&ctx, req, &resp); !s.ok()) return RpcFailed(path, s);
  if (json) {
    google::protobuf::util::JsonPrintOptions opt;
    opt.preserve_proto_field_names = true;
    for (const auto& f : resp.flows()) {
      std::string line;
      if (!google::protobuf::util::MessageToJsonString(f, &line, opt).ok()) return kExitFailure;
      printf("%s\n", line.c_str());
    }
    return fflush(stdout) == 0 ? 0 : kExitFailure;
  }
  std::vector<std::vector<std::string>> rows = {{"WORKLOAD", "PID", "PROCESS", "PROTO", "PEER",
                                                 "NAMES", "OUT", "IN", "AGE", "APP"}};
  for (const auto& f : resp.flows()) {
    std::string app = f.app_protocol();
    if (!f.sni().empty()) absl::StrAppend(&app, app.empty() ? "" : " ", "sni=", f.sni());
    rows.push_back({f.workload().empty() ? "-" : f.workload(), absl::StrCat(f.pid()),
                    f.process().empty() ? "-" : f.process(),
                    absl::StrCat(f.protocol(), f.inbound() ? " in" : ""), f.peer(),
                    f.names().empty() ? "-" : absl::StrJoin(f.names(), ","),
                    HumanBytes(f.bytes_out()), HumanBytes(f.bytes_in()),
                    Duration(f.age_ms() / 1000), app.empty() ? "-" : app});
  }
  PrintTable(rows);
  printf("%d of %u open flow(s)%s\n", resp.flows_size(), resp.total(),
         workload.empty() ? "" : absl::StrCat(" (workload ", workload, ")").c_str());
  return fflush(stdout) == 0 ? 0 : kExitFailure;
}

// Whether connect(2) to the socket says nobody listens there (no socket file, refused): then no
// agent runs with that socket.
bool NobodyListens(const std::string& path) {
  const int err = ConnectErrno(path);
  return err == ENOENT || err == ECONNREFUSED;
}

// `sluicectl disarm` with no agent running: the pinned programs it left in force are detached
// and their pins removed, so nothing of sluice decides any more.
int DisarmPinned(const std::string& socket_path, const std::string& pin_dir) {
  if (geteuid() != 0) {
    fprintf(stderr, "sluicectl: sluiced is not running (%s) and releasing its pinned policy "
                    "under %s needs root\n", socket_path.c_str(), pin_dir.c_str());
    return kExitFailure;
  }
  auto released = sluice::bpf::ReleasePinned(pin_dir);
  if (!released.ok()) {
    if (absl::IsNotFound(released.status())) {
      printf("sluiced is not running and nothing is pinned under %s: nothing to disarm\n",
             pin_dir.c_str());
      return 0;
    }
    fprintf(stderr, "sluicectl: %s\n", std::string(released.status().message()).c_str());
    return kExitFailure;
  }
  // No agent runs to turn this into an alert: the system log keeps the record.
  openlog("sluicectl", LOG_PID, LOG_AUTH);
  syslog(LOG_WARNING, "sluice enforcement disarmed by uid %u with sluiced not running: %zu "
                      "pinned link(s) under %s released", getuid(), released->links.size(),
         pin_dir.c_str());
  closelog();
  printf("sluiced is not running: released the pinned policy under %s (%zu link(s) detached, "
         "%zu map(s) unpinned)\n",
         pin_dir.c_str(), released->links.size(), released->maps.size());
  return 0;
}

// `sluicectl quarantine|unblock|disarm|arm`: one enforcement change, applied by the agent.
int EnforceCommand(const std::string& path, sluice::v1::EnforceRequest::Action action,
                   const std::string& workload, const std::string& reason) {
  if (int rc = Preflight(path); rc != 0) return rc;
  auto stub = Connect(path);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  sluice::v1::EnforceRequest req;
  req.set_action(action);
  req.set_workload(workload);
  req.set_reason(reason);
  sluice::v1::EnforceResponse resp;
  const grpc::Status s = stub->Enforce(&ctx, req, &resp);
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
      printf("%s%s\n", resp.message().c_str(), resp.changed() ? "" : " (nothing changed)");
      return 0;
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::INVALID_ARGUMENT:
      fprintf(stderr, "sluicectl: %s\n", s.error_message().c_str());
      return kExitBadInput;
    default:
      return RpcFailed(path, s);
  }
}

int main(int argc, char** argv) {
  CLI::App app{"sluicectl: control and inspect sluice"};
  app.set_version_flag("--version", std::string("sluicectl ") + SLUICE_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // --socket before or after the subcommand
  std::string socket_path = sluice::api::kDefaultSocketPath;
  app.add_option("--socket", socket_path, "Control socket of sluiced")->capture_default_str();

  auto* rules = app.add_subcommand("rules", "Work with rule files");
  rules->require_subcommand(1);
  std::string check_path;
  auto* check = rules->add_subcommand(
      "check", "Validate a rule file or directory; prints file:line:col: message per error");
  check->add_option("PATH", check_path, "Rule file or directory")->required();

  bool status_json = false;
  auto* status = app.add_subcommand(
      "status", "Agent version, mode, uptime, probes and hooks, event counters and losses");
  status->add_flag("--json", status_json, "Print the status as JSON");

  bool events_follow = false;
  std::vector<std::string> event_types;
  auto* events = app.add_subcommand(
      "events", "Recent sensor events as JSON lines (--follow: then live ones until Ctrl-C)");
  events->add_flag("-f,--follow", events_follow, "Keep printing new events");
  events->add_option("--type", event_types,
                     "Only events of this type (connect, flow, exec, file_open, ...); "
                     "repeat or separate with commas")
      ->delimiter(',')
      ->allow_extra_args(false);

  bool alerts_follow = false;
  auto* alerts = app.add_subcommand(
      "alerts", "Recent alerts as OCSF JSON lines (--follow: then live ones until Ctrl-C)");
  alerts->add_flag("-f,--follow", alerts_follow, "Keep printing new alerts");

  std::string replay_file;
  std::string replay_rules;
  std::string replay_alerts = "-";
  auto* replay = app.add_subcommand(
      "replay", "Run a recording (sluicectl record) through the detection engine offline and "
                "print the alerts as OCSF JSON lines");
  replay->add_option("FILE", replay_file, "Recording")->required();
  replay->add_option("--rules", replay_rules, "Rule file or directory to judge it by")->required();
  replay->add_option("--alerts", replay_alerts, "Alert output: a JSON-lines file, or - for stdout")
      ->capture_default_str();

  std::string record_file;
  double record_duration = 0;
  auto* record = app.add_subcommand(
      "record", "Record the agent's engine inputs into FILE until Ctrl-C, for sluicectl replay "
                "(no payload bytes are recorded)");
  record->add_option("FILE", record_file, "Recording to write (created mode 0600)")->required();
  record->add_option("--duration", record_duration, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);

  std::string learn_out;
  auto* learn = app.add_subcommand(
      "learn", "Print (or --write) the rule file proposed from what learn-mode workloads did");
  learn->add_option("--write", learn_out, "Write the proposal to FILE (never overwritten)");

  std::string flows_workload;
  uint32_t flows_limit = 1000;
  bool flows_json = false;
  auto* flows = app.add_subcommand(
      "flows", "Flows open now: workload, process, peer with its DNS names, bytes both ways");
  flows->add_option("--workload", flows_workload, "Only this workload's flows");
  flows->add_option("--limit", flows_limit, "At most this many, newest first")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  flows->add_flag("--json", flows_json, "One JSON object per flow and line");

  std::string enforce_workload;
  std::string enforce_reason;
  auto* quarantine = app.add_subcommand(
      "quarantine", "Deny WORKLOAD every destination but the resolvers, the sinks and its "
                    "quarantine allowlist, and sever its other live flows (an alert)");
  quarantine->add_option("WORKLOAD", enforce_workload, "Workload name from the rules")
      ->required();
  auto* unblock = app.add_subcommand(
      "unblock", "Lift the quarantine of WORKLOAD: its rules decide again (an alert)");
  unblock->add_option("WORKLOAD", enforce_workload, "Workload name from the rules")->required();
  auto* disarm = app.add_subcommand(
      "disarm", "Stop all blocking on this host: nothing denied or severed, quarantines lifted, "
                "until `sluicectl arm` (an alert)");
  auto* arm = app.add_subcommand("arm", "Let enforce-mode rules deny again after a disarm");
  std::string pin_dir = sluice::bpf::kDefaultPinDir;
  disarm->add_option("--pin-dir", pin_dir,
                     "With sluiced not running: release the policy it left pinned here")
      ->capture_default_str();
  for (auto* sub : {quarantine, unblock, disarm, arm}) {
    sub->add_option("--reason", enforce_reason, "Why (recorded in the alert)");
  }

  std::string evidence_dir = kDefaultStateDir;
  std::string evidence_file;
  auto* verify = app.add_subcommand(
      "verify", "Check the evidence log's hash chain: names the first edited, missing or "
                "reordered record, or a cut tail; exit 1 when broken");
  std::string report_since;
  std::string report_until;
  std::string report_out;
  auto* report = app.add_subcommand(
      "report", "Write an incident report (PREFIX.md, PREFIX.json) from the evidence log: "
                "timeline, workloads, destinations, bytes, data kinds, actions, deadlines");
  report->add_option("--since", report_since,
                     "Start: RFC 3339 time (2026-11-29T10:00:00Z) or a duration ago (24h, 90m, "
                     "7d)")
      ->required();
  report->add_option("--until", report_until, "End, in the same forms (default: now)");
  report->add_option("--out", report_out, "Write PREFIX.md and PREFIX.json")->required();
  for (auto* sub : {verify, report}) {
    auto* dir_opt = sub->add_option("--state-dir", evidence_dir,
                                    "State directory holding evidence.jsonl and evidence.head")
                        ->capture_default_str();
    auto* file_opt = sub->add_option(
        "--file", evidence_file,
        "An evidence log file (a .head of the same name beside it is checked when present)");
    dir_opt->excludes(file_opt);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitBadInput;
  }
  if (*check) return RulesCheck(check_path);
  const std::string& evidence = evidence_file.empty() ? evidence_dir : evidence_file;
  if (*verify) return VerifyCommand(evidence);
  if (*report) return ReportCommand(evidence, report_since, report_until, report_out);
  if (*replay) return ReplayCommand(replay_file, replay_rules, replay_alerts);
  signal(SIGPIPE, SIG_IGN);
  if (*record) return RecordCommand(socket_path, record_file, record_duration);
  if (*learn) return LearnCommand(socket_path, learn_out);
  using Action = sluice::v1::EnforceRequest;
  if (*quarantine) {
    return EnforceCommand(socket_path, Action::QUARANTINE, enforce_workload, enforce_reason);
  }
  if (*unblock) {
    return EnforceCommand(socket_path, Action::UNBLOCK, enforce_workload, enforce_reason);
  }
  if (*disarm) {
    if (NobodyListens(socket_path)) return DisarmPinned(socket_path, pin_dir);
    return EnforceCommand(socket_path, Action::DISARM, "", enforce_reason);
  }
  if (*arm) return EnforceCommand(socket_path, Action::ARM, "", enforce_reason);

  // A closed stdout (`sluicectl events --follow | head`) is an error from write, not a signal.
  signal(SIGPIPE, SIG_IGN);
  if (*status) return Status(socket_path, status_json);
  if (*flows) return FlowsCommand(socket_path, flows_workload, flows_limit, flows_json);
  if (*events) {
    sluice::v1::EventsRequest req;
    req.set_follow(events_follow);
    for (const auto& t : event_types) req.add_types(t);
    return Stream<sluice::v1::EventLine>(
        socket_path, "event", [&](sluice::v1::Control::Stub* stub, grpc::ClientContext* ctx) {
          return stub->Events(ctx, req);
        });
  }
  if (*alerts) {
    sluice::v1::AlertsRequest req;
    req.set_follow(alerts_follow);
    return Stream<sluice::v1::AlertLine>(
        socket_path, "alert", [&](sluice::v1::Control::Stub* stub, grpc::ClientContext* ctx) {
          return stub->Alerts(ctx, req);
        });
  }
  return kExitBadInput;
}
