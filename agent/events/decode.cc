#include "agent/events/decode.h"

#include <algorithm>
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
    case SLUICE_EV_FORK:
      return sizeof(sluice_fork_event);
    case SLUICE_EV_FLOW:
      return sizeof(sluice_flow_event);
    case SLUICE_EV_DNS:
      return sizeof(sluice_dns_event);
    case SLUICE_EV_FILE_OPEN:
      return sizeof(sluice_file_open_event);
    case SLUICE_EV_TLS:
      return SLUICE_TLS_EVENT_HEADER_SIZE;  // minimum; `captured` bytes follow
    case SLUICE_EV_PAYLOAD:
      return sizeof(sluice_payload_event);
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
  const size_t n = std::min<size_t>(raw.args_len, sizeof(raw.args));
  std::string_view args(raw.args, n);
  // argv strings are NUL-separated; a trailing partial string is kept (it was truncated).
  while (!args.empty()) {
    size_t nul = args.find('\0');
    e.argv.emplace_back(args.substr(0, nul));
    if (nul == std::string_view::npos) break;
    args.remove_prefix(nul + 1);
  }
  e.argv_truncated = raw.args_total > n;
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

ForkEvent DecodeFork(absl::Span<const uint8_t> record) {
  const auto raw = Load<sluice_fork_event>(record);
  ForkEvent e;
  e.hdr = ToHeader(raw.hdr);
  e.child_pid = raw.child_pid;
  e.flags = raw.flags;
  return e;
}

FlowEvent DecodeFlowEvent(absl::Span<const uint8_t> record) {
  const auto raw = Load<sluice_flow_event>(record);
  FlowEvent e;
  e.hdr = ToHeader(raw.hdr);
  e.cookie = raw.cookie;
  e.kind = raw.kind;
  e.flow = DecodeFlow(raw.flow);
  return e;
}

DnsEvent DecodeDns(absl::Span<const uint8_t> record) {
  const auto raw = Load<sluice_dns_event>(record);
  DnsEvent e;
  e.hdr = ToHeader(raw.hdr);
  e.cookie = raw.cookie;
  e.family = raw.family;
  e.wire_len = raw.wire_len;
  std::memcpy(e.server.data(), raw.server, e.server.size());
  const size_t n = std::min<size_t>(raw.len, sizeof(raw.payload));
  e.payload.assign(raw.payload, raw.payload + n);
  return e;
}

FileOpenEvent DecodeFileOpen(absl::Span<const uint8_t> record) {
  const auto raw = Load<sluice_file_open_event>(record);
  FileOpenEvent e;
  e.hdr = ToHeader(raw.hdr);
  e.ino = raw.ino;
  e.dev = raw.dev;
  e.fd = raw.fd;
  e.open_flags = raw.open_flags;
  e.class_id = raw.class_id;
  e.workload_id = raw.workload_id;
  e.matched_by = raw.matched_by;
  e.path = FixedString(raw.path);
  return e;
}

PayloadEvent DecodePayload(absl::Span<const uint8_t> record) {
  const auto raw = Load<sluice_payload_event>(record);
  PayloadEvent e;
  e.hdr = ToHeader(raw.hdr);
  e.cookie = raw.cookie;
  e.len = raw.len;
  // A lying `captured` cannot read past the fixed array.
  const size_t n = std::min<size_t>(raw.captured, sizeof(raw.data));
  e.data.assign(raw.data, raw.data + n);
  return e;
}

absl::StatusOr<TlsEvent> DecodeTls(absl::Span<const uint8_t> record, uint32_t size) {
  sluice_tls_event raw;  // only the fixed part is read from the record
  std::memcpy(&raw, record.data(), SLUICE_TLS_EVENT_HEADER_SIZE);
  if (raw.captured > SLUICE_TLS_CAPTURE_MAX ||
      size != SLUICE_TLS_EVENT_HEADER_SIZE + raw.captured) {
    return absl::InvalidArgumentError(absl::StrCat("TLS record of ", size, " bytes claims ",
                                                   raw.captured, " captured bytes"));
  }
  TlsEvent e;
  e.hdr = ToHeader(raw.hdr);
  e.cookie = raw.cookie;
  e.fd = raw.fd;
  e.len = raw.len;
  e.direction = raw.direction;
  e.lib = raw.lib;
  e.workload_id = raw.workload_id;
  const uint8_t* data = record.data() + SLUICE_TLS_EVENT_HEADER_SIZE;
  e.data.assign(data, data + raw.captured);
  return e;
}

}  // namespace

Flow DecodeFlow(const sluice_flow& raw) {
  Flow f;
  f.cgroup_id = raw.cgroup_id;
  f.start_ns = raw.start_ns;
  f.end_ns = raw.end_ns;
  f.bytes_out = raw.bytes_out;
  f.bytes_in = raw.bytes_in;
  f.pid = raw.pid;
  f.workload_id = raw.workload_id;
  f.family = raw.family;
  f.sport = raw.sport;
  f.dport = raw.dport;
  f.protocol = raw.protocol;
  f.flags = raw.flags;
  std::memcpy(f.saddr.data(), raw.saddr, f.saddr.size());
  std::memcpy(f.daddr.data(), raw.daddr, f.daddr.size());
  return f;
}

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
  if (hdr.type == SLUICE_EV_TLS) {
    if (hdr.size < expected) {
      return absl::InvalidArgumentError(absl::StrCat("TLS record of ", hdr.size,
                                                     " bytes is shorter than its fixed part"));
    }
    auto tls = DecodeTls(record, hdr.size);
    if (!tls.ok()) return tls.status();
    return Event(*std::move(tls));
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
    case SLUICE_EV_FORK:
      return Event(DecodeFork(record));
    case SLUICE_EV_FLOW:
      return Event(DecodeFlowEvent(record));
    case SLUICE_EV_DNS:
      return Event(DecodeDns(record));
    case SLUICE_EV_FILE_OPEN:
      return Event(DecodeFileOpen(record));
    case SLUICE_EV_PAYLOAD:
      return Event(DecodePayload(record));
  }
  // Unreachable: ExpectedSize() already rejected every other type.
  return absl::InvalidArgumentError(absl::StrCat("unknown event type ", hdr.type));
}

}  // namespace sluice::events
