// AMQP recognition from a payload prefix (DESIGN §5: plaintext_sync looks for AMQP bytes to a
// sync peer without TLS). A client opens with the protocol header ("AMQP" and a version; 0-9-1
// is "AMQP\x00\x00\x09\x01") and then speaks in AMQP 0-9-1 frames: type (1 method, 2 content
// header, 3 content body, 8 heartbeat), channel, size, payload, frame-end octet 0xCE. Method
// frames name what the client does (class-id / method-id, e.g. basic.publish). Only frame
// headers and method ids are kept, never a payload byte (message bodies, credentials in
// connection.start-ok).
#ifndef SLUICE_AGENT_DETECT_CLASSIFY_AMQP_H_
#define SLUICE_AGENT_DETECT_CLASSIFY_AMQP_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace sluice::detect::classify {

// Frames described per prefix; the walk stops after them.
inline constexpr size_t kMaxAmqpFrames = 16;
// Largest frame payload accepted. Brokers negotiate frame_max (RabbitMQ: 128 KiB by default);
// 16 MiB is far above any configured value.
inline constexpr uint32_t kMaxAmqpFrameBytes = 16u << 20;

struct AmqpFrame {
  enum Type : uint8_t { kMethod = 1, kHeader = 2, kBody = 3, kHeartbeat = 8 };
  uint8_t type = 0;
  uint16_t channel = 0;
  uint32_t size = 0;  // payload bytes (the frame is 7 + size + 1 bytes)
  // The whole frame, frame-end octet included, is in the prefix (and the octet is 0xCE).
  bool complete = false;
  uint16_t class_id = 0;   // method and content header frames
  uint16_t method_id = 0;  // method frames

  // AmqpMethodName() of a method frame, nullptr otherwise.
  const char* MethodName() const;
};

struct AmqpInfo {
  // The prefix starts with the protocol header; `version` is "0-9-1", "0-9", "0-8", "0-10" or
  // "1.0" ("" while cut before the version bytes).
  bool protocol_header = false;
  std::string version;
  // 0-9-1 frames after the header (or from the start), in order, at most kMaxAmqpFrames.
  std::vector<AmqpFrame> frames;
  // The prefix ended inside the header or inside the last frame.
  bool truncated = false;

  // What the client is doing: the name of the first method frame ("basic.publish"), else
  // "protocol-header", "content", "heartbeat".
  std::string Operation() const;
};

// Recognises AMQP at the start of `prefix` (at most kMaxClassifyBytes are looked at).
// InvalidArgument when it is not AMQP. The first frame must be unambiguous on its own: a method
// frame whose class/method pair is known (connection methods on channel 0, others not), a
// content header of class basic with weight 0, or a body or heartbeat frame seen whole with its
// frame-end octet. Later frames are walked while they stay valid.
absl::StatusOr<AmqpInfo> ParseAmqp(absl::Span<const uint8_t> prefix);

// "connection.start-ok", "basic.publish", ... for the methods of AMQP 0-9-1 (and RabbitMQ's
// extensions: basic.nack, exchange.bind, connection.blocked, ...), nullptr for others.
const char* AmqpMethodName(uint16_t class_id, uint16_t method_id);

}  // namespace sluice::detect::classify

#endif  // SLUICE_AGENT_DETECT_CLASSIFY_AMQP_H_
