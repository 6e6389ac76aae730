// Everything the engine consumes, as one closed set of types (DESIGN §2: the same engine runs on
// live kernel events and on a recorded stream). The live path turns ring records and map reads
// into these; `sluicectl record` stores them (proto/sluice/v1/event.proto) and `sluicectl replay`
// feeds them back, so a replay sees exactly what the live engine saw.
//
// Payload bytes never cross this boundary: a TLS capture is classified before it becomes a
// TlsObservation and a DNS answer is parsed before it becomes a DnsObservation. What is recorded
// is therefore what sluice is allowed to keep (classifications, counts, fingerprints).
#ifndef SLUICE_AGENT_ENGINE_INPUTS_H_
#define SLUICE_AGENT_ENGINE_INPUTS_H_

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "agent/detect/alert.h"
#include "agent/events/decode.h"
#include "agent/events/dns.h"
#include "agent/state/container_meta.h"
#include "sluice/abi.h"

namespace sluice::engine {

// A DNS message received by a local socket, parsed (events::ParseDnsMessage).
struct DnsObservation {
  events::EventHeader hdr;
  uint64_t cookie = 0;
  std::array<uint8_t, 16> server{};  // the answering server, v4-mapped for IPv4
  bool cut = false;                  // the sensor copied less than the datagram
  events::DnsMessage message;

  friend bool operator==(const DnsObservation&, const DnsObservation&) = default;
};

// A TLS-library plaintext call of a watched process, classified; the bytes are gone.
struct TlsObservation {
  events::EventHeader hdr;
  uint64_t cookie = 0;  // socket the call was tied to, 0 if unknown
  int32_t fd = -1;
  uint32_t len = 0;       // bytes of the call
  uint32_t captured = 0;  // bytes the sensor copied and the classifiers saw
  uint8_t direction = 0;  // SLUICE_TLS_DIR_*
  uint8_t lib = 0;        // SLUICE_TLS_LIB_*
  uint32_t workload_id = SLUICE_NO_WORKLOAD;
  std::string protocol;   // classify::ProtocolName(), e.g. "http1-request", "kafka", "unknown"
  std::string http_method;
  std::string http_path;  // without query
  std::string http_host;
  bool http_has_query = false;
  std::string operation;  // kafka api / amqp method / redis command name, "" otherwise
  std::string sni;        // of a ClientHello written through the library (rare), else ""
  std::vector<detect::DataMatch> data;  // sensitive values found (counts, fingerprints)

  friend bool operator==(const TlsObservation&, const TlsObservation&) = default;
};

// The first bytes a watched TCP flow sent (any library or none), classified; the bytes are gone.
struct PayloadObservation {
  events::EventHeader hdr;  // pid and cgroup of the flow's owner
  uint64_t cookie = 0;
  uint32_t len = 0;       // payload bytes of the segment
  std::string protocol;   // classify::ProtocolName(), e.g. "tls-record", "kafka", "unknown"
  std::string operation;  // kafka api / amqp method / redis command / HTTP request line
  std::string sni;        // server_name of a TLS ClientHello, else ""

  friend bool operator==(const PayloadObservation&, const PayloadObservation&) = default;
};

// Byte totals of a flow read from the kernel's `flows` map: periodically while it is open
// (final = false) and once when the reaper removes it (final = true).
struct FlowTotals {
  uint64_t ts_ns = 0;  // CLOCK_BOOTTIME when read
  uint64_t cookie = 0;
  events::Flow flow;
  bool final = false;

  friend bool operator==(const FlowTotals&, const FlowTotals&) = default;
};

// Read totals of a (process, sensitive file) from the kernel's `file_io` map: periodically while
// the process lives (final = false) and once after it exited (final = true).
struct FileTotals {
  uint64_t ts_ns = 0;  // CLOCK_BOOTTIME when read
  uint32_t pid = 0;
  uint32_t dev = 0;
  uint64_t ino = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_mapped = 0;
  uint64_t calls = 0;
  uint32_t class_id = 0;
  uint32_t workload_id = SLUICE_NO_WORKLOAD;
  bool final = false;

  friend bool operator==(const FileTotals&, const FileTotals&) = default;
};

// State that existed before the first event: a process found in /proc at start.
struct ProcessSnapshot {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  uint32_t uid = 0;
  std::string exe;
  std::string comm;
  std::string cmdline;
  uint64_t cgroup_id = 0;
  uint64_t exe_ino = 0;
  uint32_t exe_dev = 0;

  friend bool operator==(const ProcessSnapshot&, const ProcessSnapshot&) = default;
};

// A cgroup that existed before the first event (or that the agent learned of by a walk).
struct CgroupSnapshot {
  uint64_t id = 0;
  std::string path;  // relative to the cgroup v2 root

  friend bool operator==(const CgroupSnapshot&, const CgroupSnapshot&) = default;
};

// The labels a container runtime keeps for a container. Live: read by the engine the first
// time a cgroup path names the container, when some rule selects by labels, and handled (and
// recorded) before the input that named it; replay: from the recording, so the same rules
// select the same cgroups offline.
struct ContainerInfo {
  std::string id;  // full id, 64 lower-case hex digits
  state::ContainerLabels labels;
  bool found = false;  // no runtime on the host knew the id

  friend bool operator==(const ContainerInfo&, const ContainerInfo&) = default;
};

// Clock of a recording: how to turn the events' CLOCK_BOOTTIME into wall-clock time. Comes
// first in a recording; the live engine is given the same by the agent.
struct ClockSync {
  int64_t boot_to_epoch_ns = 0;  // epoch_ns = boot_ns + this

  friend bool operator==(const ClockSync&, const ClockSync&) = default;
};

using Input = std::variant<events::ExecEvent, events::ExitEvent, events::ForkEvent,
                           events::CgroupMkdirEvent, events::ConnectEvent, events::FlowEvent,
                           events::FileOpenEvent, DnsObservation, TlsObservation, FlowTotals,
                           FileTotals, ProcessSnapshot, CgroupSnapshot, ClockSync,
                           PayloadObservation, ContainerInfo>;

// Receives every input the engine handles, in order (`sluicectl record`).
class InputRecorder {
 public:
  virtual ~InputRecorder() = default;
  virtual void Record(const Input& input) = 0;
};

}  // namespace sluice::engine

#endif  // SLUICE_AGENT_ENGINE_INPUTS_H_
