// A network destination of alerts (DESIGN §7: syslog, Splunk HEC-style collector, webhook). The
// agent writes every alert to the disk spool first (agent/output/spool.h); one delivery thread
// per sink reads what that sink has not acknowledged, hands it to the sink's Transport as a
// batch, and acknowledges the batch in the spool only when Send returned OK. So delivery is at
// least once: a batch that failed half way is sent again whole, and receivers drop repeats by the
// finding's uid (finding_info.uid in every line).
#ifndef SLUICE_AGENT_OUTPUT_TRANSPORT_H_
#define SLUICE_AGENT_OUTPUT_TRANSPORT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace sluice::output {

class Transport {
 public:
  virtual ~Transport() = default;
  // Delivers every line of `lines` (each one OCSF Detection Finding as a compact JSON object
  // without a trailing newline, as output::RenderLine makes it), in order. OK only when all of
  // them were delivered. Otherwise:
  //  - InvalidArgument: the receiver refused these records and will refuse them again (e.g. an
  //    HTTP 400): retrying cannot help; the caller counts and skips them;
  //  - any other error: transient (connection refused, timeout, 5xx); the caller retries the
  //    same batch later with backoff. A Transport reconnects by itself on the next Send.
  // Called from one delivery thread only; never concurrently.
  virtual absl::Status Send(absl::Span<const std::string> lines) = 0;
  // For logs and metrics, e.g. "syslog+tls://siem.example:6514".
  virtual std::string Describe() const = 0;

  // Whether an OK from Send means the receiver has the records for good. Syslog over TCP has no
  // application acknowledgement: bytes the receiver's kernel acknowledged still die with a
  // receiver killed at that moment. For such a transport the delivery thread acknowledges a
  // batch in the spool only once the same connection (Connection()) carried a later batch, or
  // is still up (Confirm()) a moment later; otherwise the batch is sent again.
  virtual bool SendConfirms() const { return true; }
  // Changes whenever the transport opened a new connection.
  virtual uint64_t Connection() const { return 0; }
  // OK when the connection the last Send used is still up.
  virtual absl::Status Confirm() { return absl::OkStatus(); }
};

}  // namespace sluice::output

#endif  // SLUICE_AGENT_OUTPUT_TRANSPORT_H_
