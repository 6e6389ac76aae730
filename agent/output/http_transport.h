// The HTTPS sinks (DESIGN §7): alerts as JSON to a Splunk HEC-style collector
// (`/services/collector/event`, `Authorization: Splunk <token>`) or to a generic webhook. One POST
// per batch over one kept-alive connection, TLS verified; the reply decides what the delivery
// thread does with the batch (transport.h): delivered, refused for good, or retried.
#ifndef SLUICE_AGENT_OUTPUT_HTTP_TRANSPORT_H_
#define SLUICE_AGENT_OUTPUT_HTTP_TRANSPORT_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "agent/output/transport.h"

namespace sluice::output {

struct HttpOptions {
  enum class Kind { kSplunkHec, kWebhook };
  Kind kind = Kind::kWebhook;
  // https://host[:port]/path[?query]. http:// only for loopback addresses (127.0.0.0/8, ::1,
  // localhost): alerts carry customer-data fingerprints and must not cross a network in clear.
  // For HEC an empty path means /services/collector/event; any other path is used as given
  // (collectors behind a proxy are often remapped).
  std::string url;
  // HEC only: sent as "Authorization: Splunk <token>". Never logged, never in an error message.
  std::string token;
  // Extra request headers ("Authorization", "Bearer ..."), for either kind. Their values are kept
  // out of error messages like the token.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string ca_file;  // PEM CA bundle to verify the collector; "" = the system store
  std::string cert_file, key_file;  // optional client certificate (key_file needs cert_file)
  absl::Duration timeout = absl::Seconds(10);  // per request: connecting, and the whole exchange
  // HEC event metadata. index is omitted when empty; host "" = gethostname().
  std::string sourcetype = "sluice:ocsf";
  std::string source = "sluiced";
  std::string index;
  std::string host;
};

// The HEC request body: one event object per line, each followed by '\n':
//   {"time":<s.mmm>,"host":..,"source":..,"sourcetype":..,"index":..,"event":<line>}
// `time` is the finding's `time` (epoch ms) as epoch seconds with a millisecond fraction, so
// Splunk indexes the finding when it happened rather than when it arrived; it is omitted when
// the line has no positive numeric time. Empty host/source/sourcetype/index are omitted. A line
// that is JSON goes verbatim (the OCSF bytes are not re-serialised); a line that is not (or has
// trailing content) goes as a JSON string event, invalid UTF-8 replaced by U+FFFD, so the body
// is always valid JSON whatever the spool held.
std::string HecBody(absl::Span<const std::string> lines, const HttpOptions& options,
                    absl::string_view host);

// The webhook request body: a JSON array of the lines, each as HecBody embeds its event.
std::string WebhookBody(absl::Span<const std::string> lines);

class HttpTransport final : public Transport {
 public:
  // The libcurl handles and the validated request; defined in http_transport.cc.
  struct State;
  // Use MakeHttpTransport.
  explicit HttpTransport(std::unique_ptr<State> state);
  ~HttpTransport() override;
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // One POST of the whole batch (an empty batch sends nothing). OK on a 2xx (for HEC only with
  // the collector's {"code":0}). InvalidArgument when the collector refuses the records (4xx
  // other than 408/429): the message has the status and the collector's text. Unavailable for
  // 408/429/5xx, redirects, a 2xx HEC reply that is not success, and connection, timeout and
  // TLS errors; the next Send reconnects.
  absl::Status Send(absl::Span<const std::string> lines) override;

  // "splunk_hec+https://host:port/path" or "webhook+https://host:port/path": no user
  // information, query or fragment.
  std::string Describe() const override;

 private:
  std::unique_ptr<State> state_;
};

// Validates `options` (InvalidArgument naming what is wrong: the URL or its scheme, a missing
// HEC token, a header that cannot be sent, an unreadable CA/certificate/key file by path) and
// prepares the connection; nothing is sent until the first Send.
absl::StatusOr<std::unique_ptr<HttpTransport>> MakeHttpTransport(HttpOptions options);

}  // namespace sluice::output

#endif  // SLUICE_AGENT_OUTPUT_HTTP_TRANSPORT_H_
