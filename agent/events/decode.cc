#include "agent/events/decode.h"

#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "agent/events/abi_check.h"

namespace sluice::events {
namespace {

// Ring records are only guaranteed 8-byte aligned by the kernel, recorded streams not at all:
// copy into a properly aligned local instead of casting the buffer.
template <typename Raw>
Raw Load(absl::Span<const uint8_t> record) {
  Raw raw;
  std::memcpy(&raw, record.data(), sizeof(raw));
  return raw;
}

// The kernel NUL-terminates with bpf_probe_read_*_str, but a corrupt or crafted record need not:
// strnlen bounds the copy to the field.
template <size_t N>
std::string FixedString(const char (&field)[N]) {
  return std::string(field, strnlen(field, N));
}

EventHeader ToHeader(const sluice_event_header& h) {
  EventHeader out;
  out.type = h.type;
  out.ts_ns = h.ts_ns;
  out.pid = h.pid;
  out.tid = h.tid;
  out.cgroup_id = h.cgroup_id;
  return out;
}

size_t ExpectedSize(uint32_t type) {
  switch (type) {
    case SLUICE_EV_EXEC:
      return sizeof(sluice_exec_event);
    case SLUICE_EV_EXIT:
      return sizeof(sluice_exit_event);
    case SLUICE_EV_CONNECT:
      return sizeof(sluice_connect_event);
    case SLUICE_EV_CGROUP_MKDIR:
      return sizeof(sluice_cgroup_event);
    default:
      return 0;
  }
}

ExecEvent DecodeExec(absl::Span<const uint8_t> record) {
  const auto raw = Load<sluice_exec_event>(record);
  ExecEvent e;
  e.hdr = ToHeader(raw.hdr);
  e.ppid = raw.ppid;
  e.uid = raw.uid;
  e.exe_ino = raw.exe_ino;
  e.exe_dev = raw.exe_dev;
  e.workload_id = raw.workload_id;
  e.comm = FixedString(raw.comm);
  e.filename = FixedString(raw.filename);
  return e;
}

ExitEvent DecodeExit(absl::Span<const uint8_t> record) {
  const auto raw = Load<sluice_exit_event>(record);
  ExitEvent e;
  e.hdr = ToHeader(raw.hdr);
  e.exit_code = raw.exit_code;
  return e;
}

ConnectEvent DecodeConnect(absl::Span<const uint8_t> record) {
  const auto raw = Load<sluice_connect_event>(record);
  ConnectEvent e;
  e.hdr = ToHeader(raw.hdr);
  e.workload_id = raw.workload_id;
  e.ret = raw.ret;
  e.family = raw.family;
  e.dport = raw.dport;
  e.verdict = raw.verdict;
  e.protocol = raw.protocol;
  e.flags = raw.flags;
  std::memcpy(e.daddr.data(), raw.daddr, e.daddr.size());
  return e;
}

CgroupMkdirEvent DecodeCgroupMkdir(absl::Span<const uint8_t> record) {
  const auto raw = Load<sluice_cgroup_event>(record);
  CgroupMkdirEvent e;
  e.hdr = ToHeader(raw.hdr);
  e.path = FixedString(raw.path);
  return e;
}

}  // namespace

absl::StatusOr<Event> Decode(absl::Span<const uint8_t> record) {
  constexpr size_t kHeaderSize = sizeof(sluice_event_header);
  if (record.size() < kHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat("record of ", record.size(),
                                                   " bytes is shorter than the ", kHeaderSize,
                                                   "-byte event header"));
  }
  const auto hdr = Load<sluice_event_header>(record);
  const size_t expected = ExpectedSize(hdr.type);
  if (expected == 0) {
    return absl::InvalidArgumentError(absl::StrCat("unknown event type ", hdr.type));
  }
  if (hdr.size > record.size()) {
    return absl::InvalidArgumentError(absl::StrCat("event type ", hdr.type, " claims ", hdr.size,
                                                   " bytes but the record holds ",
                                                   record.size()));
  }
  // Exact size: a producer built against another ABI version must be rejected, not half-read.
  if (hdr.size != expected) {
    return absl::InvalidArgumentError(absl::StrCat("event type ", hdr.type, " has size ",
                                                   hdr.size, ", expected ", expected,
                                                   " (ABI version ", SLUICE_ABI_VERSION, ")"));
  }
  switch (hdr.type) {
    case SLUICE_EV_EXEC:
      return Event(DecodeExec(record));
    case SLUICE_EV_EXIT:
      return Event(DecodeExit(record));
    case SLUICE_EV_CONNECT:
      return Event(DecodeConnect(record));
    case SLUICE_EV_CGROUP_MKDIR:
      return Event(DecodeCgroupMkdir(record));
  }
  // Unreachable: ExpectedSize() already rejected every other type.
  return absl::InvalidArgumentError(absl::StrCat("unknown event type ", hdr.type));
}

}  // namespace sluice::events
