// Redis request recognition from a payload prefix (DESIGN §5: plaintext_sync looks for Redis
// bytes to a sync peer without TLS). Clients send RESP arrays of bulk strings
// ("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"); redis-cli over telnet and a few tools
// send inline commands ("PING\r\n"). Only the command name and the number of arguments are
// kept, never an argument: AUTH's password, HELLO's credentials, keys and values all stay in the
// prefix.
#ifndef SLUICE_AGENT_DETECT_CLASSIFY_REDIS_H_
#define SLUICE_AGENT_DETECT_CLASSIFY_REDIS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sluice::detect::classify {

// Longest command name accepted ("CLUSTER", "FT.SEARCH", "ZRANGEBYSCORE"; module commands add a
// dotted prefix).
inline constexpr size_t kMaxRedisCommandBytes = 32;
// Most array elements accepted in one request (Redis itself refuses more than 2^31; a client
// request with millions of arguments is not one a sensor needs to believe).
inline constexpr int64_t kMaxRedisArrayElements = 1 << 20;
// Most requests counted in one prefix (a pipeline).
inline constexpr uint32_t kMaxRedisPipelined = 64;
// Longest inline command line considered.
inline constexpr size_t kMaxRedisInlineBytes = 4096;

struct RedisCommand {
  // The command name, upper-cased ("SET", "AUTH", "JSON.SET"); "" when the prefix ended inside
  // it.
  std::string name;
  // The name is a command of Redis itself (IsKnownRedisCommand); RESP arrays may carry module
  // commands that are not.
  bool known = false;
  // Arguments after the name (their values are never looked at beyond skipping them).
  uint32_t arg_count = 0;
  // An inline command ("PING\r\n") rather than a RESP array.
  bool inline_form = false;
  // Requests whose start is in the prefix, this one included (pipelines send several in one
  // write), at most kMaxRedisPipelined.
  uint32_t request_count = 1;
  // The prefix ended inside the first request.
  bool truncated = false;
};

// Recognises a Redis request at the start of `prefix` (at most kMaxClassifyBytes are looked at).
// A RESP array is recognised by its shape: "*N\r\n$len\r\n" followed by a command-like name
// (letters first, then letters, digits, '.', '_', '-', '|'), N and len in range. An inline
// command needs more, as text looks like it: a complete line of printable ASCII whose first
// word is a known command written all in upper or all in lower case, with an argument count
// that command accepts, and no "HTTP/" version at the end of the line.
// InvalidArgument when it is not a request.
absl::StatusOr<RedisCommand> ParseRedisCommand(absl::Span<const uint8_t> prefix);

// `upper_name` (upper case) is a Redis command this classifier knows.
bool IsKnownRedisCommand(absl::string_view upper_name);

}  // namespace sluice::detect::classify

#endif  // SLUICE_AGENT_DETECT_CLASSIFY_REDIS_H_
