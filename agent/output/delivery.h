// Alert delivery (DESIGN §7): every alert is rendered once to its OCSF line and then
//  - written to the JSON-lines outputs (--alerts, and `file` sinks with rotation), synchronously:
//    the durable local copy exists before anything else happens;
//  - appended to the evidence log (hash chain), when one is kept;
//  - appended to the disk spool, from which one worker thread per network sink (syslog, HTTPS)
//    delivers and acknowledges. A sink that is down only makes its backlog grow in the spool;
//    the engine never waits for it, and what is not acknowledged is sent again after a restart.
#ifndef SLUICE_AGENT_OUTPUT_DELIVERY_H_
#define SLUICE_AGENT_OUTPUT_DELIVERY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/output/alert_sink.h"
#include "agent/output/spool.h"
#include "agent/output/transport.h"

namespace sluice::output {

// A JSON-lines file that rotates: when a line would take it past max_bytes, or it is older than
// max_age, it is renamed PATH.1 (PATH.1 -> PATH.2 ... up to `keep`, the oldest removed) and a
// new PATH is started. 0 disables each limit. Thread-safe.
struct RotateOptions {
  uint64_t max_bytes = 0;
  absl::Duration max_age = absl::ZeroDuration();
  int keep = 5;
};
class RotatingFile {
 public:
  static absl::StatusOr<std::unique_ptr<RotatingFile>> Open(const std::string& path,
                                                            RotateOptions options);
  ~RotatingFile();
  absl::Status WriteLine(absl::string_view line);  // adds the newline
  absl::Status Sync();
  const std::string& path() const { return path_; }

 private:
  RotatingFile() = default;
  absl::Status Rotate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OpenCurrent() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::string path_;
  RotateOptions options_;
  absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;
  uint64_t size_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time opened_ ABSL_GUARDED_BY(mu_);
};

// What a sink did so far (status and metrics).
struct SinkStats {
  std::string name;
  std::string kind;    // "file", "syslog", "splunk_hec", "webhook"
  std::string target;  // path, or the transport's Describe()
  uint64_t delivered = 0;
  uint64_t errors = 0;
  uint64_t rejected = 0;
  uint64_t pending = 0;
  uint64_t overflow_dropped = 0;
  bool healthy = true;
  std::string last_error;
  // Batch delivery time: cumulative counts per bound (seconds), as Prometheus histograms.
  std::vector<double> latency_bounds;
  std::vector<uint64_t> latency_counts;
  double latency_sum = 0;
  uint64_t latency_count = 0;
};

struct NetworkSink {
  std::string name;  // also the spool consumer name
  std::string kind;
  std::unique_ptr<Transport> transport;
};

struct FileSink {
  std::string name;
  std::unique_ptr<RotatingFile> file;
};

class AlertPipeline : public AlertSink {
 public:
  struct Options {
    ProductInfo product;
    std::unique_ptr<AlertSink> primary;  // --alerts (may be null)
    std::vector<FileSink> files;
    std::vector<NetworkSink> network;
    Spool* spool = nullptr;  // required when `network` is not empty; owned by the caller
    // The evidence log (hash chain), when one is kept.
    std::function<absl::Status(absl::string_view line)> evidence;
    std::function<absl::Status()> evidence_sync;
    size_t batch_records = 100;
    size_t batch_bytes = 1 << 20;
    absl::Duration min_backoff = absl::Milliseconds(500);
    absl::Duration max_backoff = absl::Seconds(30);
    // A transport whose Send does not confirm (Transport::SendConfirms): how long after a batch
    // its connection must still be up for the batch to count as delivered.
    absl::Duration confirm_after = absl::Seconds(1);
  };
  explicit AlertPipeline(Options options);
  // Stops the workers (what they have not delivered stays in the spool for the next start).
  ~AlertPipeline() override;

  // Starts one delivery thread per network sink.
  void Start();
  // Every output gets the alert; the first error is returned after all were tried (an output
  // that fails does not keep the alert from the others).
  absl::Status Write(const detect::Alert& alert) override;
  absl::Status Flush() override;
  void Stop();

  std::vector<SinkStats> stats() const;

 private:
  struct Worker;
  void Run(Worker* w);

  Options options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<SinkStats> file_stats_;
  mutable absl::Mutex file_mu_;
  std::atomic<bool> stopping_{false};
};

// Histogram bounds of the delivery time (seconds).
const std::vector<double>& DeliveryLatencyBounds();

}  // namespace sluice::output

#endif  // SLUICE_AGENT_OUTPUT_DELIVERY_H_
