// Where alerts go. The engine hands each finding to an AlertSink; sinks own formatting and
// delivery. More sinks (syslog, HTTP, gRPC, spool-backed) implement the same interface.
#ifndef SLUICE_AGENT_OUTPUT_ALERT_SINK_H_
#define SLUICE_AGENT_OUTPUT_ALERT_SINK_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/detect/alert.h"
#include "agent/output/ocsf.h"

namespace sluice::output {

class AlertSink {
 public:
  virtual ~AlertSink() = default;
  // Delivers one alert (or queues it, for sinks that batch). Errors are returned, never thrown.
  virtual absl::Status Write(const detect::Alert& alert) = 0;
  // Makes everything written so far durable / delivered.
  virtual absl::Status Flush() = 0;
};

// OCSF JSON lines: one Detection Finding per line (RenderLine + '\n'). `path` "-" is stdout
// (not closed, not fsync'ed); any other path is opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, mode
// 0600 when created, so restarts append and `tail -f` keeps working. Each line goes out in one
// write(2), so a concurrent reader never sees half a line (short writes, e.g. on a full disk,
// are completed with further writes). Flush() fsyncs a file. Thread-safe.
absl::StatusOr<std::unique_ptr<AlertSink>> OpenJsonLinesSink(const std::string& path,
                                                             ProductInfo product);

}  // namespace sluice::output

#endif  // SLUICE_AGENT_OUTPUT_ALERT_SINK_H_
