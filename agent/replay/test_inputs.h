// Engine inputs for the replay tests: one of every kind with every field set to a value other
// than its default, so that a field the codec forgets shows up as a round-trip difference.
#ifndef SLUICE_AGENT_REPLAY_TEST_INPUTS_H_
#define SLUICE_AGENT_REPLAY_TEST_INPUTS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/engine/inputs.h"
#include "agent/events/dns.h"
#include "sluice/abi.h"

namespace sluice::replay::testing {

inline std::array<uint8_t, 16> V4Mapped(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d};
}

inline std::array<uint8_t, 16> V6(uint8_t last) {
  return {0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, last};
}

// `seed` varies the numbers so that records of a long recording differ.
inline events::EventHeader Header(uint32_t type, uint64_t seed) {
  return events::EventHeader{type, 1'000'000'000ull + seed, 4242, 4243, 0x100000000ull + seed};
}

inline events::Flow SampleFlow(uint64_t seed) {
  events::Flow f;
  f.cgroup_id = 777 + seed;
  f.start_ns = 5'000'000'000ull + seed;
  f.end_ns = 6'000'000'000ull;
  f.bytes_out = (uint64_t{1} << 40) + seed;
  f.bytes_in = 12345;
  f.pid = 4242;
  f.workload_id = 3;
  f.family = SLUICE_AF_INET6;
  f.sport = 40000;
  f.dport = 443;
  f.protocol = 6;
  f.flags = SLUICE_FLOW_F_CLOSED | SLUICE_FLOW_F_ESTABLISHED;
  f.saddr = V6(1);
  f.daddr = V6(2);
  return f;
}

// One input of every alternative of engine::Input, in variant order.
inline std::vector<engine::Input> AllKinds(uint64_t seed = 0) {
  std::vector<engine::Input> out;

  events::ExecEvent exec;
  exec.hdr = Header(SLUICE_EV_EXEC, seed);
  exec.ppid = 1;
  exec.uid = 1000;
  exec.exe_ino = 987654321;
  exec.exe_dev = 0x800001;
  exec.workload_id = 63;
  exec.comm = "rclone";
  exec.filename = "/usr/bin/rclone";
  exec.argv = {"rclone", "copy", "", "/srv/kv-cache", "s3:bucket/x\xff\xfe"};
  exec.argv_truncated = true;
  out.push_back(exec);

  events::ExitEvent exit;
  exit.hdr = Header(SLUICE_EV_EXIT, seed);
  exit.exit_code = -9;
  out.push_back(exit);

  events::ForkEvent fork;
  fork.hdr = Header(SLUICE_EV_FORK, seed);
  fork.child_pid = 4300;
  fork.flags = SLUICE_FORK_F_WATCHED | SLUICE_FORK_F_MAYBE_THREAD;
  out.push_back(fork);

  events::CgroupMkdirEvent mkdir;
  mkdir.hdr = Header(SLUICE_EV_CGROUP_MKDIR, seed);
  mkdir.path = "/system.slice/crm-sync.service";
  out.push_back(mkdir);

  events::ConnectEvent connect;
  connect.hdr = Header(SLUICE_EV_CONNECT, seed);
  connect.workload_id = 0;
  connect.ret = -1;
  connect.family = SLUICE_AF_INET;
  connect.dport = 65535;
  connect.verdict = SLUICE_VERDICT_DENY;
  connect.protocol = 17;
  connect.flags = SLUICE_CONNECT_F_HAS_RESULT | SLUICE_CONNECT_F_FROM_HOOK;
  connect.daddr = V4Mapped(203, 0, 113, static_cast<uint8_t>(seed));
  out.push_back(connect);

  events::FlowEvent flow;
  flow.hdr = Header(SLUICE_EV_FLOW, seed);
  flow.cookie = 0xfedcba9876543210ull - seed;
  flow.kind = SLUICE_FLOW_CLOSED;
  flow.flow = SampleFlow(seed);
  out.push_back(flow);

  events::FileOpenEvent open;
  open.hdr = Header(SLUICE_EV_FILE_OPEN, seed);
  open.ino = 5555;
  open.dev = 0x803;
  open.fd = 7;
  open.open_flags = 0x80000;
  open.class_id = 31;
  open.workload_id = SLUICE_NO_WORKLOAD;
  open.matched_by = SLUICE_FILE_MATCH_INODE;
  open.path = "relative/kv.bin";
  out.push_back(open);

  engine::DnsObservation dns;
  dns.hdr = Header(SLUICE_EV_DNS, seed);
  dns.cookie = 99;
  dns.server = V4Mapped(10, 0, 0, 53);
  dns.cut = true;
  dns.message.id = 0xbeef;
  dns.message.response = true;
  dns.message.opcode = 2;
  dns.message.truncated = true;
  dns.message.rcode = 3;
  dns.message.questions = {"api.example.com", "a\\046b.example"};
  dns.message.answers = {
      events::DnsAnswer{"api.example.com", events::kDnsTypeCname, 300, {}, "edge.example.net"},
      events::DnsAnswer{"edge.example.net", events::kDnsTypeA, 60, V4Mapped(198, 51, 100, 7), ""},
      events::DnsAnswer{"edge.example.net", events::kDnsTypeAaaa, 4294967295u, V6(9), ""},
  };
  out.push_back(dns);

  engine::TlsObservation tls;
  tls.hdr = Header(SLUICE_EV_TLS, seed);
  tls.cookie = 0xffffffffffffffffull;
  tls.fd = -1;
  tls.len = 70000;
  tls.captured = 4096;
  tls.direction = SLUICE_TLS_DIR_WRITE;
  tls.lib = SLUICE_TLS_LIB_GNUTLS;
  tls.workload_id = 5;
  tls.protocol = "http1-request";
  tls.http_method = "POST";
  tls.http_path = "/v1/accounts";
  tls.http_host = "crm.example.com";
  tls.http_has_query = true;
  tls.operation = "produce";
  tls.sni = "crm.example.com";
  tls.data = {detect::DataMatch{"crm_record_id", 12, {"a1b2c3", "d4e5f6"}},
              detect::DataMatch{"email", 3, {}}};
  out.push_back(tls);

  engine::FlowTotals flow_totals;
  flow_totals.ts_ns = 7'000'000'000ull + seed;
  flow_totals.cookie = 31337;
  flow_totals.flow = SampleFlow(seed + 1);
  flow_totals.final = true;
  out.push_back(flow_totals);

  engine::FileTotals file_totals;
  file_totals.ts_ns = 8'000'000'000ull + seed;
  file_totals.pid = 4242;
  file_totals.dev = 0x803;
  file_totals.ino = 5555;
  file_totals.bytes_read = uint64_t{1} << 33;
  file_totals.bytes_mapped = 4096;
  file_totals.calls = 17;
  file_totals.class_id = 2;
  file_totals.workload_id = 1;
  file_totals.final = true;
  out.push_back(file_totals);

  engine::ProcessSnapshot proc;
  proc.pid = 4242;
  proc.ppid = 1;
  proc.uid = 998;
  proc.exe = "/usr/bin/python3.11";
  proc.comm = "python3";
  proc.cmdline = "python3 -m sync --all";
  proc.cgroup_id = 0x100000000ull;
  proc.exe_ino = 1234;
  proc.exe_dev = 0x801;
  out.push_back(proc);

  out.push_back(engine::CgroupSnapshot{0x200000000ull + seed, "/kubepods.slice/pod-1"});
  out.push_back(engine::ClockSync{1'700'000'000'000'000'000ll - static_cast<int64_t>(seed)});
  engine::PayloadObservation payload;
  payload.hdr = Header(SLUICE_EV_PAYLOAD, seed);
  payload.cookie = 0x1234567890abcdefull;
  payload.len = 1448;
  payload.protocol = "kafka";
  payload.operation = "Produce";
  out.push_back(payload);
  engine::PayloadObservation hello;
  hello.hdr = Header(SLUICE_EV_PAYLOAD, seed + 1);
  hello.cookie = 0x1234567890abcdf0ull;
  hello.len = 517;
  hello.protocol = "tls-record";
  hello.sni = "acme.my.salesforce.com";
  out.push_back(hello);
  engine::ContainerInfo container;
  container.id = std::string(64, 'a');
  container.found = true;
  container.labels = {{"app", "crm-sync"}, {"io.kubernetes.pod.namespace", "crm"}};
  out.push_back(container);
  engine::ContainerInfo unknown;
  unknown.id = std::string(63, 'b') + "c";
  out.push_back(unknown);
  return out;
}

}  // namespace sluice::replay::testing

#endif  // SLUICE_AGENT_REPLAY_TEST_INPUTS_H_
