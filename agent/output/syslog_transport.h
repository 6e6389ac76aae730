// The syslog sink's transport (DESIGN §7): each alert as one RFC 5424 message, sent over TCP or
// TLS with octet-counting framing (RFC 6587 3.4.1, RFC 5425 4.3) to a syslog receiver such as
// rsyslog's imtcp.
//
// Delivery guarantee: Send returns OK only once the receiver's TCP has acknowledged every byte of
// the batch. Syslog has no application-level acknowledgement, so bytes a receiver had accepted
// but not yet processed when it died are lost; everything short of that (refused connection,
// closed or reset peer, timeout, certificate failure) fails the batch and the delivery thread
// sends it again.
#ifndef SLUICE_AGENT_OUTPUT_SYSLOG_TRANSPORT_H_
#define SLUICE_AGENT_OUTPUT_SYSLOG_TRANSPORT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "agent/common/unique_fd.h"
#include "agent/output/transport.h"

// OpenSSL's handle types, so that users of this header need not include OpenSSL's.
struct ssl_ctx_st;
struct ssl_st;

namespace sluice::output {

struct SyslogOptions {
  std::string host;                 // name or address
  uint16_t port = 6514;
  bool tls = true;
  std::string ca_file;              // TLS: CA bundle to verify the server (required with tls)
  std::string cert_file, key_file;  // TLS client certificate (optional, both or neither)
  std::string server_name;          // TLS: name verified in the server certificate; "" = host
  std::string app_name = "sluiced";
  std::string hostname;             // "" = gethostname()
  int facility = 13;                // log audit (RFC 5424 facility 13)
  absl::Duration connect_timeout = absl::Seconds(5);  // TCP connect and TLS handshake together
  absl::Duration io_timeout = absl::Seconds(10);      // longest wait without write progress
};

// One RFC 5424 message for one OCSF line:
//   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [sluice@32473 uid="" disposition=""] MSG
// PRI is facility*8 plus the syslog severity of the finding's severity_id (Fatal/Critical: 2
// crit, High: 3 err, Medium: 4 warning, Low: 5 notice, Informational: 6 info, anything else: 4);
// TIMESTAMP is the finding's `time` (epoch ms) in RFC 3339 UTC with milliseconds; MSGID is the
// detector id (finding_info.analytic.name); the structured data carries finding_info.uid and
// disposition, escaped per RFC 5424 6.3.3; MSG is the line itself, without a BOM. A field the
// line does not have, or a line that is not a JSON object, gives the NILVALUE "-" (an SD element
// without parameters is left out), and the message still goes out. Header fields are cut to
// RFC 5424's lengths and characters outside printable US-ASCII become '_'.
std::string FormatRfc5424(absl::string_view ocsf_line, const SyslogOptions& options,
                          absl::string_view hostname, uint32_t procid);

struct SslCtxFree {
  void operator()(ssl_ctx_st* ctx) const;
};
struct SslFree {
  void operator()(ssl_st* ssl) const;
};

class SyslogTransport : public Transport {
 public:
  // Only MakeSyslogTransport, which checks the options, can make one.
  class Key {
    Key() = default;
    friend absl::StatusOr<std::unique_ptr<SyslogTransport>> MakeSyslogTransport(
        SyslogOptions options);
  };
  SyslogTransport(Key, SyslogOptions options, std::string hostname,
                  std::unique_ptr<ssl_ctx_st, SslCtxFree> ctx);
  SyslogTransport(const SyslogTransport&) = delete;
  SyslogTransport& operator=(const SyslogTransport&) = delete;
  ~SyslogTransport() override;

  // Connects first if there is no live connection (a peer that closed or reset since the last
  // batch is noticed here and replaced, so no batch is written into a dead socket), then writes
  // every line as one octet-counted message. Any failure closes the connection and returns
  // Unavailable naming the cause; the next Send reconnects.
  absl::Status Send(absl::Span<const std::string> lines) override;
  // "syslog+tls://host:port" or "syslog+tcp://host:port" (IPv6 literals in brackets).
  std::string Describe() const override;
  // A receiver killed right after its kernel acknowledged a batch loses it: see Transport.
  bool SendConfirms() const override { return false; }
  uint64_t Connection() const override { return connection_; }
  absl::Status Confirm() override;

 private:
  absl::Status Connect();
  absl::Status Handshake(absl::Time deadline);
  // False when the peer closed, reset or broke the TLS session; consumes whatever it sent.
  bool PeerAlive(std::string* why);
  absl::Status WriteAll(absl::string_view data);
  absl::Status AwaitAcknowledged();
  absl::Status Fail(absl::string_view what);
  void Close();

  const SyslogOptions options_;
  const std::string hostname_;  // RFC 5424 HOSTNAME
  const uint32_t procid_;
  uint64_t connection_ = 0;  // incremented by every successful Connect
  const std::unique_ptr<ssl_ctx_st, SslCtxFree> ctx_;  // null without TLS
  // The connection; ssl_ is declared after fd_ so that it is freed before the socket closes.
  UniqueFd fd_;
  std::unique_ptr<ssl_st, SslFree> ssl_;
};

// Checks `options` (InvalidArgument naming the field) and, with TLS, loads the CA bundle and the
// client certificate and key (errors name the file). Does not connect: the receiver may be down
// when the agent starts.
absl::StatusOr<std::unique_ptr<SyslogTransport>> MakeSyslogTransport(SyslogOptions options);

}  // namespace sluice::output

#endif  // SLUICE_AGENT_OUTPUT_SYSLOG_TRANSPORT_H_
