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
#include <vector>

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
  std::vector<std::string> argv;            // argv prefix (SLUICE_ARGS_MAX bytes)
  bool argv_truncated = false;

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

struct ForkEvent {
  EventHeader hdr;  // pid: the parent
  uint32_t child_pid = 0;
  uint32_t flags = 0;  // SLUICE_FORK_F_*

  friend bool operator==(const ForkEvent&, const ForkEvent&) = default;
};

// A flow as the kernel keeps it (sluice_flow), decoded.
struct Flow {
  uint64_t cgroup_id = 0;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  uint64_t bytes_out = 0;
  uint64_t bytes_in = 0;
  uint32_t pid = 0;
  uint32_t workload_id = SLUICE_NO_WORKLOAD;
  uint16_t family = 0;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t protocol = 0;
  uint8_t flags = 0;  // SLUICE_FLOW_F_*
  std::array<uint8_t, 16> saddr{};
  std::array<uint8_t, 16> daddr{};

  friend bool operator==(const Flow&, const Flow&) = default;
};
Flow DecodeFlow(const sluice_flow& raw);

struct FlowEvent {
  EventHeader hdr;
  uint64_t cookie = 0;
  uint32_t kind = 0;  // SLUICE_FLOW_*
  Flow flow;

  friend bool operator==(const FlowEvent&, const FlowEvent&) = default;
};

// A DNS answer off the wire. The payload is handed to the DNS parser and then dropped.
struct DnsEvent {
  EventHeader hdr;
  uint64_t cookie = 0;
  uint16_t family = 0;
  uint16_t wire_len = 0;
  std::array<uint8_t, 16> server{};
  std::vector<uint8_t> payload;

  friend bool operator==(const DnsEvent&, const DnsEvent&) = default;
};

struct FileOpenEvent {
  EventHeader hdr;
  uint64_t ino = 0;
  uint32_t dev = 0;
  int32_t fd = -1;
  uint32_t open_flags = 0;
  uint32_t class_id = 0;
  uint32_t workload_id = SLUICE_NO_WORKLOAD;
  uint32_t matched_by = 0;  // SLUICE_FILE_MATCH_*
  std::string path;

  friend bool operator==(const FileOpenEvent&, const FileOpenEvent&) = default;
};

// Plaintext prefix of a TLS call. `data` lives only until the classifier has seen it.
struct TlsEvent {
  EventHeader hdr;
  uint64_t cookie = 0;
  int32_t fd = -1;
  uint32_t len = 0;
  uint8_t direction = 0;  // SLUICE_TLS_DIR_*
  uint8_t lib = 0;        // SLUICE_TLS_LIB_*
  uint32_t workload_id = SLUICE_NO_WORKLOAD;
  std::vector<uint8_t> data;

  friend bool operator==(const TlsEvent&, const TlsEvent&) = default;
};

// First bytes of the first TCP segment a watched flow sent. `data` lives only until the
// classifier has seen it.
struct PayloadEvent {
  EventHeader hdr;  // pid and cgroup_id of the flow's owner
  uint64_t cookie = 0;
  uint32_t len = 0;  // payload bytes of the segment
  std::vector<uint8_t> data;

  friend bool operator==(const PayloadEvent&, const PayloadEvent&) = default;
};

using Event = std::variant<ExecEvent, ExitEvent, ConnectEvent, CgroupMkdirEvent, ForkEvent,
                           FlowEvent, DnsEvent, FileOpenEvent, TlsEvent, PayloadEvent>;

// Decodes one ring record. The record must hold at least a header; the header's size must equal
// the exact struct size of its type (TLS records: the fixed part plus `captured` bytes, at most
// SLUICE_TLS_CAPTURE_MAX) and must not exceed
// the record, which may carry trailing padding (ignored). Fixed-size string fields are copied up
// to their first NUL or to the end of the field, whichever comes first.
// Errors are InvalidArgument; any byte sequence is safe to pass.
absl::StatusOr<Event> Decode(absl::Span<const uint8_t> record);

}  // namespace sluice::events

#endif  // SLUICE_AGENT_EVENTS_DECODE_H_
