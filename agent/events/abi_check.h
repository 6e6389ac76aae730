// Compile-time proof that the host compiler lays out the kernel/agent ABI exactly as the BPF side
// does (bpf/include/sluice/abi.h). A layout change that forgot to bump SLUICE_ABI_VERSION, or a
// field that picked up implicit padding, fails the build here instead of corrupting decoded
// events at run time. The values were also checked with clang -target bpf.
//
// Note: abi.h's comments say 344 bytes for the exec event and 72 for the connect event; the
// fields add up to 328 and 64 (no implicit padding anywhere), which is what both compilers
// produce, so the real sizes are asserted.
#ifndef SLUICE_AGENT_EVENTS_ABI_CHECK_H_
#define SLUICE_AGENT_EVENTS_ABI_CHECK_H_

#include <linux/types.h>

#include <cstddef>

#include "sluice/abi.h"

namespace sluice::events::abi_check {

static_assert(SLUICE_ABI_VERSION == 7, "ABI changed: review the layout assertions below");

// Enum values are recorded in streams and must never be renumbered.
static_assert(SLUICE_EV_EXEC == 1 && SLUICE_EV_EXIT == 2 && SLUICE_EV_CONNECT == 3 &&
              SLUICE_EV_CGROUP_MKDIR == 4);
static_assert(SLUICE_VERDICT_NONE == 0 && SLUICE_VERDICT_ALLOW == 1 &&
              SLUICE_VERDICT_WOULD_DENY == 2 && SLUICE_VERDICT_DENY == 3 &&
              SLUICE_VERDICT_EXEMPT == 4);

// sluice_event_header: 32 bytes.
static_assert(sizeof(sluice_event_header) == 32);
static_assert(offsetof(sluice_event_header, type) == 0);
static_assert(offsetof(sluice_event_header, size) == 4);
static_assert(offsetof(sluice_event_header, ts_ns) == 8);
static_assert(offsetof(sluice_event_header, pid) == 16);
static_assert(offsetof(sluice_event_header, tid) == 20);
static_assert(offsetof(sluice_event_header, cgroup_id) == 24);

// sluice_exec_event: 328 bytes.
static_assert(sizeof(sluice_exec_event) == 464);
static_assert(offsetof(sluice_exec_event, args_len) == 328);
static_assert(offsetof(sluice_exec_event, args_total) == 332);
static_assert(offsetof(sluice_exec_event, args) == 336);
static_assert(offsetof(sluice_exec_event, hdr) == 0);
static_assert(offsetof(sluice_exec_event, ppid) == 32);
static_assert(offsetof(sluice_exec_event, uid) == 36);
static_assert(offsetof(sluice_exec_event, exe_ino) == 40);
static_assert(offsetof(sluice_exec_event, exe_dev) == 48);
static_assert(offsetof(sluice_exec_event, workload_id) == 52);
static_assert(offsetof(sluice_exec_event, comm) == 56);
static_assert(sizeof(sluice_exec_event::comm) == SLUICE_COMM_LEN);
static_assert(offsetof(sluice_exec_event, filename) == 72);
static_assert(sizeof(sluice_exec_event::filename) == SLUICE_PATH_MAX);

// sluice_exit_event: 40 bytes.
static_assert(sizeof(sluice_exit_event) == 40);
static_assert(offsetof(sluice_exit_event, hdr) == 0);
static_assert(offsetof(sluice_exit_event, exit_code) == 32);
static_assert(offsetof(sluice_exit_event, _pad) == 36);

// sluice_connect_event: 64 bytes.
static_assert(sizeof(sluice_connect_event) == 64);
static_assert(offsetof(sluice_connect_event, hdr) == 0);
static_assert(offsetof(sluice_connect_event, workload_id) == 32);
static_assert(offsetof(sluice_connect_event, ret) == 36);
static_assert(offsetof(sluice_connect_event, family) == 40);
static_assert(offsetof(sluice_connect_event, dport) == 42);
static_assert(offsetof(sluice_connect_event, verdict) == 44);
static_assert(offsetof(sluice_connect_event, protocol) == 45);
static_assert(offsetof(sluice_connect_event, flags) == 46);
static_assert(offsetof(sluice_connect_event, daddr) == 48);
static_assert(sizeof(sluice_connect_event::daddr) == 16);

// sluice_cgroup_event: 288 bytes.
static_assert(sizeof(sluice_cgroup_event) == 288);
static_assert(offsetof(sluice_cgroup_event, hdr) == 0);
static_assert(offsetof(sluice_cgroup_event, path) == 32);
static_assert(sizeof(sluice_cgroup_event::path) == SLUICE_PATH_MAX);

// Map keys and values written by the agent.
static_assert(sizeof(sluice_cgroup_match) == 8);
static_assert(offsetof(sluice_cgroup_match, workload_mask) == 0);

static_assert(sizeof(sluice_exe_key) == 16);
static_assert(offsetof(sluice_exe_key, ino) == 0);
static_assert(offsetof(sluice_exe_key, dev) == 8);
static_assert(offsetof(sluice_exe_key, _pad) == 12);

static_assert(sizeof(sluice_exe_match) == 8);
static_assert(offsetof(sluice_exe_match, workload_mask) == 0);

static_assert(sizeof(sluice_task_match) == 8);
static_assert(offsetof(sluice_task_match, workload_mask) == 0);

static_assert(sizeof(sluice_selector_cfg) == 24);
static_assert(offsetof(sluice_selector_cfg, active_mask) == 0);
static_assert(offsetof(sluice_selector_cfg, has_cgroup) == 8);
static_assert(offsetof(sluice_selector_cfg, has_exe) == 16);

static_assert(sizeof(sluice_workload_cfg) == 8);
static_assert(offsetof(sluice_workload_cfg, flags) == 0);
static_assert(offsetof(sluice_workload_cfg, _pad) == 4);

static_assert(sizeof(sluice_allow_key) == 24);
static_assert(offsetof(sluice_allow_key, prefixlen) == 0);
static_assert(offsetof(sluice_allow_key, workload_id) == 4);
static_assert(offsetof(sluice_allow_key, addr) == 8);
static_assert(sizeof(sluice_allow_key::addr) == 16);

static_assert(sizeof(sluice_port_range) == 4);
static_assert(offsetof(sluice_port_range, lo) == 0);
static_assert(offsetof(sluice_port_range, hi) == 2);

static_assert(sizeof(sluice_allow_value) == 68);
static_assert(offsetof(sluice_allow_value, nranges) == 0);
static_assert(offsetof(sluice_allow_value, ranges) == 4);
static_assert(sizeof(sluice_allow_value::ranges) ==
              SLUICE_MAX_PORT_RANGES * sizeof(sluice_port_range));

// Workload ids are bit positions in a __u64 mask.
static_assert(SLUICE_MAX_WORKLOADS <= 64);

}  // namespace sluice::events::abi_check

// ABI v2: sensor families of issue 4.
static_assert(SLUICE_EV_FORK == 5 && SLUICE_EV_FLOW == 6 && SLUICE_EV_DNS == 7 &&
              SLUICE_EV_FILE_OPEN == 8 && SLUICE_EV_TLS == 9);
// ABI v3: payload prefixes of plaintext TCP.
static_assert(SLUICE_EV_PAYLOAD == 10 && SLUICE_EV_TYPE_MAX == 11);
// ABI v4: up to 512 bytes of a TLS handshake record (the ClientHello's server_name).
static_assert(sizeof(sluice_payload_event) == 560);
// ABI v5: severed flows, exempt destinations.
static_assert(sizeof(sluice_exempt_key) == 20);
static_assert(sizeof(sluice_sever) == 24 && offsetof(sluice_sever, drops) == 16);
static_assert(SLUICE_PAYLOAD_PLAIN == 64 && SLUICE_PAYLOAD_MAX == 512);
static_assert(offsetof(sluice_payload_event, cookie) == 32);
static_assert(offsetof(sluice_payload_event, len) == 40);
static_assert(offsetof(sluice_payload_event, captured) == 44);
static_assert(offsetof(sluice_payload_event, data) == 48);
static_assert(sizeof(sluice_fork_event) == 40);
static_assert(offsetof(sluice_fork_event, child_pid) == 32);
static_assert(offsetof(sluice_fork_event, flags) == 36);
static_assert(sizeof(sluice_flow) == 88);
static_assert(offsetof(sluice_flow, cgroup_id) == 0);
static_assert(offsetof(sluice_flow, start_ns) == 8);
static_assert(offsetof(sluice_flow, end_ns) == 16);
static_assert(offsetof(sluice_flow, bytes_out) == 24);
static_assert(offsetof(sluice_flow, bytes_in) == 32);
static_assert(offsetof(sluice_flow, pid) == 40);
static_assert(offsetof(sluice_flow, workload_id) == 44);
static_assert(offsetof(sluice_flow, family) == 48);
static_assert(offsetof(sluice_flow, sport) == 50);
static_assert(offsetof(sluice_flow, dport) == 52);
static_assert(offsetof(sluice_flow, protocol) == 54);
static_assert(offsetof(sluice_flow, flags) == 55);
static_assert(offsetof(sluice_flow, saddr) == 56);
static_assert(offsetof(sluice_flow, daddr) == 72);
static_assert(sizeof(sluice_flow_event) == 136);
static_assert(offsetof(sluice_flow_event, cookie) == 32);
static_assert(offsetof(sluice_flow_event, kind) == 40);
static_assert(offsetof(sluice_flow_event, flow) == 48);
static_assert(sizeof(sluice_dns_event) == 576);
static_assert(offsetof(sluice_dns_event, cookie) == 32);
static_assert(offsetof(sluice_dns_event, family) == 40);
static_assert(offsetof(sluice_dns_event, len) == 42);
static_assert(offsetof(sluice_dns_event, wire_len) == 44);
static_assert(offsetof(sluice_dns_event, server) == 48);
static_assert(offsetof(sluice_dns_event, payload) == 64);
static_assert(sizeof(sluice_file_open_event) == 320);
static_assert(offsetof(sluice_file_open_event, ino) == 32);
static_assert(offsetof(sluice_file_open_event, dev) == 40);
static_assert(offsetof(sluice_file_open_event, fd) == 44);
static_assert(offsetof(sluice_file_open_event, open_flags) == 48);
static_assert(offsetof(sluice_file_open_event, class_id) == 52);
static_assert(offsetof(sluice_file_open_event, workload_id) == 56);
static_assert(offsetof(sluice_file_open_event, matched_by) == 60);
static_assert(offsetof(sluice_file_open_event, path) == 64);
static_assert(sizeof(sluice_file_io) == 56);
static_assert(sizeof(sluice_file_io_key) == 16);
static_assert(sizeof(sluice_fd_key) == 8);
static_assert(sizeof(sluice_path_key) == 4 + SLUICE_PATH_MAX);
static_assert(offsetof(sluice_tls_event, cookie) == 32);
static_assert(offsetof(sluice_tls_event, fd) == 40);
static_assert(offsetof(sluice_tls_event, len) == 44);
static_assert(offsetof(sluice_tls_event, captured) == 48);
static_assert(offsetof(sluice_tls_event, direction) == 52);
static_assert(offsetof(sluice_tls_event, lib) == 53);
static_assert(offsetof(sluice_tls_event, workload_id) == 56);
static_assert(offsetof(sluice_tls_event, data) == SLUICE_TLS_EVENT_HEADER_SIZE);
static_assert(sizeof(sluice_sensor_cfg) == 16 && offsetof(sluice_sensor_cfg, flags) == 8);

#endif  // SLUICE_AGENT_EVENTS_ABI_CHECK_H_
