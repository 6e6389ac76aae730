// Protocol sniffing of the first bytes of a payload (DESIGN §5, classifiers): the prefix of a TLS
// plaintext write (SSL_write/gnutls_record_send) or of a plaintext TCP payload. It tells HTTP/1.x
// requests and responses, the HTTP/2 client preface, TLS records (with the ClientHello's SNI and
// ALPN), Kafka requests, AMQP and Redis requests apart, and keeps bounded metadata only: for
// HTTP the method, the path without its query string (the query may carry customer data, so only
// its length is kept), the version, the Host (or TLS SNI), Content-Length; for the others the
// operation (Kafka API, AMQP method, Redis command) and a few header fields (tls_hello.h,
// kafka.h, amqp.h, redis.h say which). No header value other than Host, no argument and no
// message body leaves this function.
#ifndef SLUICE_AGENT_DETECT_CLASSIFY_HTTP_H_
#define SLUICE_AGENT_DETECT_CLASSIFY_HTTP_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/types/span.h"
#include "agent/detect/classify/amqp.h"
#include "agent/detect/classify/kafka.h"
#include "agent/detect/classify/limits.h"
#include "agent/detect/classify/redis.h"
#include "agent/detect/classify/tls_hello.h"

namespace sluice::detect::classify {

// kMaxClassifyBytes (bytes of the prefix examined) and kMaxHostBytes are in limits.h.
// Longest path kept and longest header value looked at; longer ones are cut and flagged.
inline constexpr size_t kMaxPathBytes = 1024;
inline constexpr size_t kMaxHeaderValueBytes = 1024;

struct PayloadClass {
  enum Protocol {
    kUnknown,
    kHttp1Request,
    kHttp1Response,
    kHttp2Preface,
    kTlsRecord,
    kKafka,
    kAmqp,
    kRedis,
  };
  Protocol protocol = kUnknown;

  // HTTP/1.x request line. `method` is one of GET POST PUT PATCH DELETE HEAD OPTIONS CONNECT
  // TRACE. `path` is the request target up to '?' or '#', bytes outside printable ASCII
  // percent-escaped, userinfo ("user:pass@") removed from absolute-form targets, at most
  // kMaxPathBytes. CONNECT's target is its authority ("host:port").
  std::string method;
  std::string path;
  // The path is incomplete: cut at kMaxPathBytes, or by the end of the prefix. An authority
  // (absolute-form, CONNECT) cut by the end of the prefix is left out of path and host.
  bool path_truncated = false;
  bool has_query = false;
  uint32_t query_length = 0;  // bytes after '?', as seen in the prefix
  // "HTTP/1.1", "HTTP/1.0" (requests and responses), "HTTP/2" for the preface, "" otherwise.
  std::string version;
  uint16_t status_code = 0;  // responses

  // Host header value (or the authority of an absolute-form or CONNECT target, which takes
  // precedence as RFC 9112 §3.2.2 says; or the TLS SNI of a ClientHello, kept only when it is a
  // valid DNS name), lowercased, userinfo removed, at most kMaxHostBytes.
  std::string host;
  bool host_truncated = false;

  bool has_content_length = false;
  uint32_t content_length = 0;  // saturates at UINT32_MAX
  // Two Content-Length headers that disagree (a request smuggling sign).
  bool conflicting_content_length = false;
  bool chunked = false;  // Transfer-Encoding: chunked
  uint32_t header_count = 0;
  // A header line longer than kMaxHeaderValueBytes was seen (not kept either way).
  bool header_value_truncated = false;
  // The prefix ended before the end of the headers (or of the request line / preface / record
  // header / ClientHello / Kafka, AMQP or Redis header); fields after that point are unknown,
  // not absent.
  bool truncated = false;

  // TLS record header: content type (0x14 change_cipher_spec, 0x15 alert, 0x16 handshake,
  // 0x17 application_data) and record version (0x0301 ... 0x0304).
  uint8_t tls_content_type = 0;
  uint16_t tls_version = 0;
  bool tls_client_hello = false;
  // The ClientHello, when it parsed (its SNI is also `host`); ALPN is client_hello->alpn.
  std::optional<ClientHello> client_hello;

  // kKafka, kAmqp, kRedis: the parsed header, exactly one of them set.
  std::optional<KafkaRequest> kafka;
  std::optional<AmqpInfo> amqp;
  std::optional<RedisCommand> redis;
  // What the bytes ask for, for alerts: the Kafka API ("Produce"), the AMQP method
  // ("basic.publish"), the Redis command ("SET"); "" for the other protocols (an HTTP request
  // has request_line()).
  std::string operation;

  // method + " " + path + " " + version, e.g. "GET /v1/accounts HTTP/1.1"; "" when not a request.
  std::string request_line() const;
};

// Never fails: bytes that match nothing are kUnknown. Tried in turn: TLS record, HTTP/2 preface,
// HTTP/1.x, AMQP, Kafka, Redis (each recogniser rejects the others' bytes; the order only
// settles prefixes too short to tell).
PayloadClass ClassifyPayload(absl::Span<const uint8_t> prefix);

// "unknown", "http1-request", "http1-response", "http2-preface", "tls-record", "kafka", "amqp",
// "redis".
const char* ProtocolName(PayloadClass::Protocol protocol);

}  // namespace sluice::detect::classify

#endif  // SLUICE_AGENT_DETECT_CLASSIFY_HTTP_H_
