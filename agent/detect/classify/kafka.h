// Kafka request recognition from a payload prefix (DESIGN §5: plaintext_sync looks for Kafka
// bytes to a sync peer without TLS). A request is a 4-byte big-endian size followed by the
// request header (api_key, api_version, correlation_id, client_id; kafka.apache.org/protocol).
// The header has no magic number, so recognition rests on every field being in its sane range
// at once; those ranges keep HTTP, TLS, AMQP, Redis and text from ever matching (the size of any
// printable first byte is over the size bound). Only the header is read, never the records.
#ifndef SLUICE_AGENT_DETECT_CLASSIFY_KAFKA_H_
#define SLUICE_AGENT_DETECT_CLASSIFY_KAFKA_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace sluice::detect::classify {

// Highest api_key accepted. Kafka 3.7 defines 0-75 and newer brokers add a few more; a key far
// past that is not Kafka.
inline constexpr int16_t kMaxKafkaApiKey = 90;
// Highest api_version accepted (the highest any API has reached is in the teens).
inline constexpr int16_t kMaxKafkaApiVersion = 20;
// A broker refuses requests over socket.request.max.bytes, 100 MiB by default.
inline constexpr uint32_t kMaxKafkaRequestBytes = 100u << 20;
// Longest client_id accepted (clients use names like "producer-1" or "rdkafka").
inline constexpr size_t kMaxKafkaClientIdBytes = 255;
// Header bytes needed to tell: size, api_key, api_version, correlation_id, client_id length.
inline constexpr size_t kKafkaMinPrefixBytes = 14;

struct KafkaRequest {
  uint32_t size = 0;  // the size field: bytes of the request after it
  int16_t api_key = 0;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  // client_id: printable ASCII, 1 to kMaxKafkaClientIdBytes bytes, or null (length -1). An
  // empty one is refused: no client sends it, and it is what zeros and HTTP/2 frames look like.
  bool client_id_null = false;
  std::string client_id;
  // The prefix ended inside the client_id, which is then left empty (a cut name could be
  // another client's).
  bool truncated = false;

  // KafkaApiName(api_key), or "ApiKey<n>" for a key without a name here.
  std::string ApiName() const;
};

// Recognises a Kafka request at the start of `prefix` (at most kMaxClassifyBytes are looked at).
// InvalidArgument when it is not one: fewer than kKafkaMinPrefixBytes, or a field out of range
// (size, api_key, api_version, negative correlation_id, client_id length or bytes).
absl::StatusOr<KafkaRequest> ParseKafkaRequest(absl::Span<const uint8_t> prefix);

// "Produce", "Fetch", "ListOffsets", "Metadata", ... for the api keys Kafka 3.7 defines
// (0-75), nullptr for others.
const char* KafkaApiName(int16_t api_key);

}  // namespace sluice::detect::classify

#endif  // SLUICE_AGENT_DETECT_CLASSIFY_KAFKA_H_
