// Typed events decoded from the kernel's ring records (bpf/include/sluice/abi.h). Decoding is the
// one place where bytes from the kernel (or from a recorded stream, which may be corrupt or
// hostile) become C++ values, so it validates every length and never trusts a terminator.
#ifndef SLUICE_AGENT_EVENTS_DECODE_H_
#define SLUICE_AGENT_EVENTS_DECODE_H_

// abi.h uses the kernel's __u8..__u64 and expects them to be defined first.
#include <linux/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sluice/abi.h"

namespace sluice::events {

// The ABI header minus its size field, which only frames the record and is checked by Decode.
struct EventHeader {
  uint32_t type = 0;       // SLUICE_EV_*
  uint64_t ts_ns = 0;      // CLOCK_BOOTTIME nanoseconds
  uint32_t pid = 0;        // tgid
  uint32_t tid = 0;
  uint64_t cgroup_id = 0;  // cgroup v2 id (for cgroup_mkdir: the new cgroup's id)

  friend bool operator==(const EventHeader&, const EventHeader&) = default;
};

struct ExecEvent {
  EventHeader hdr;
  uint32_t ppid = 0;
  uint32_t uid = 0;
  uint64_t exe_ino = 0;
  uint32_t exe_dev = 0;                     // new_encode_dev() form
  uint32_t workload_id = SLUICE_NO_WORKLOAD;
  std::string comm;
  std::string filename;                     // as passed to execve, possibly truncated

  friend bool operator==(const ExecEvent&, const ExecEvent&) = default;
};

struct ExitEvent {
  EventHeader hdr;
  int32_t exit_code = 0;

  friend bool operator==(const ExitEvent&, const ExitEvent&) = default;
};

struct ConnectEvent {
  EventHeader hdr;
  uint32_t workload_id = SLUICE_NO_WORKLOAD;
  int32_t ret = 0;       // meaningful only with SLUICE_CONNECT_F_HAS_RESULT
  uint16_t family = 0;   // SLUICE_AF_INET / SLUICE_AF_INET6
  uint16_t dport = 0;    // host byte order
  uint8_t verdict = 0;   // SLUICE_VERDICT_*
  uint8_t protocol = 0;  // IPPROTO_*, 0 when unknown
  uint16_t flags = 0;    // SLUICE_CONNECT_F_*
  std::array<uint8_t, 16> daddr{};  // IPv4 as v4-mapped IPv6, network byte order

  friend bool operator==(const ConnectEvent&, const ConnectEvent&) = default;
};

struct CgroupMkdirEvent {
  EventHeader hdr;
  std::string path;  // relative to the cgroup v2 root, e.g. "/system.slice/x.service"

  friend bool operator==(const CgroupMkdirEvent&, const CgroupMkdirEvent&) = default;
};

using Event = std::variant<ExecEvent, ExitEvent, ConnectEvent, CgroupMkdirEvent>;

// Decodes one ring record. The record must hold at least a header; the header's size must equal
// the exact struct size of its type (ABI v1 has no variable-length records) and must not exceed
// the record, which may carry trailing padding (ignored). Fixed-size string fields are copied up
// to their first NUL or to the end of the field, whichever comes first.
// Errors are InvalidArgument; any byte sequence is safe to pass.
absl::StatusOr<Event> Decode(absl::Span<const uint8_t> record);

}  // namespace sluice::events

#endif  // SLUICE_AGENT_EVENTS_DECODE_H_
