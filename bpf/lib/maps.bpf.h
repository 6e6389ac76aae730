/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Maps shared by every probe family. The probes are compiled one file per hook family and linked
 * into one object (bpftool gen object); each map is defined __weak here so every unit that includes
 * this header refers to the same map after linking.
 *
 * Sizes are deliberate (DESIGN §4 "size every map"): see the comment on each.
 */
#ifndef SLUICE_MAPS_BPF_H
#define SLUICE_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sluice/abi.h"

/* Process lifecycle records (exec/exit/cgroup mkdir). 256 KiB holds ~700 exec records, i.e. more
 * than a 10 ms consume period of an exec storm on a busy host. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} proc_events SEC(".maps") __weak;

/* Network records (connect attempts, flow lifecycle, DNS answers). 1 MiB: a loopback connect storm
 * of a watched workload (bench/overhead: ~60k connects/s, 3-5 records each) overflowed 256 KiB
 * between two 10 ms consume ticks. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} net_events SEC(".maps") __weak;

/* Sensitive file opens. 256 KiB = ~860 records. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} file_events SEC(".maps") __weak;

/* TLS plaintext prefixes (up to 4 KiB + 64 each) and DNS answers. 1 MiB holds ~250 full-size TLS
 * records: TLS calls of watched processes are bursty (a sync batch), and loss here only costs a
 * classification, never byte totals. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} tls_events SEC(".maps") __weak;

/* Ring reservation failures, per CPU, indexed by enum sluice_event_type: never silent loss. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_EV_TYPE_MAX);
	__type(key, __u32);
	__type(value, __u64);
} event_loss SEC(".maps") __weak;

/* Map update failures (a full map), per CPU, indexed by enum sluice_event_type of the probe. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_EV_TYPE_MAX);
	__type(key, __u32);
	__type(value, __u64);
} map_full SEC(".maps") __weak;

/* Slot 0: which workloads exist and which selectors they have. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_selector_cfg);
} selector_cfg SEC(".maps") __weak;

/* cgroup id -> workloads whose cgroup glob matches. Only matching cgroups are inserted; 16k is far
 * more than the cgroups a host runs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct sluice_cgroup_match);
} cgroup_match SEC(".maps") __weak;

/* (dev, inode) of an executable -> workloads whose exe glob matches it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct sluice_exe_key);
	__type(value, struct sluice_exe_match);
} exe_match SEC(".maps") __weak;

/* tgid -> exe-selector workloads of that process: set at exec, inherited on fork, removed at exit.
 * 65536 covers the default pid_max of watched processes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct sluice_task_match);
} task_match SEC(".maps") __weak;

/* Per-workload enforcement flags, indexed by workload id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_MAX_WORKLOADS);
	__type(key, __u32);
	__type(value, struct sluice_workload_cfg);
} workload_cfg SEC(".maps") __weak;

/* (workload, destination prefix) -> allowed port ranges. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_allow_key);
	__type(value, struct sluice_allow_value);
} egress_allow SEC(".maps") __weak;

/* Connect in flight, between sys_enter_connect and sys_exit_connect (key: pid_tgid). The cgroup
 * hook, which runs inside the same syscall, records its verdict here. A plain hash, as
 * open_inflight (bpf/probes/file.bpf.c): cheaper than an LRU, never evicts a connect under way;
 * the agent's reaper sweeps the entry of a thread that died between enter and exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct sluice_connect_event);
} connect_inflight SEC(".maps") __weak;

/* Flows of watched workloads (key: socket cookie). A closed flow's entry is deleted by the kernel
 * once its close record is in the ring, else (record lost, flow severed) reaped by the agent, so
 * totals are exact even when the ring drops the close record. 65536 live flows of watched
 * workloads; not preallocated (96 B each when used). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct sluice_flow);
} flows SEC(".maps") __weak;

/* Destinations never denied (DNS resolvers, SIEM sinks) -> the ports that are exempt. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_exempt_key);
	__type(value, struct sluice_allow_value);
} exempt SEC(".maps") __weak;

/* Denied datagrams already reported (key: socket cookie, destination and port folded into one
 * hash): one report per destination per socket per second, however fast a tool sends. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} send_reported SEC(".maps") __weak;

/* Flows the agent severed in enforce mode (key: socket cookie); removed with the flow. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct sluice_sever);
} severed SEC(".maps") __weak;

/* Sensitive path prefixes (LPM over path bytes) -> file class. A few hundred prefixes at most. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_path_key);
	__type(value, struct sluice_file_class);
} sensitive_prefix SEC(".maps") __weak;

/* Inodes known to be sensitive (seeded by the agent from the prefixes, added by the kernel when a
 * path match opens a file), so a rename or a hard link does not hide the file. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_exe_key);
	__type(value, struct sluice_file_class);
} sensitive_inode SEC(".maps") __weak;

/* The configured prefixes that are directories, by (dev, inode), written by the agent: a file
 * below one of them is sensitive wherever a path to it came from, found by walking its parents
 * (file.bpf.c, sluice_dir_class) when no path names it: a relative open, an io_uring open. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);  /* as many as sensitive_prefix */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_exe_key);
	__type(value, struct sluice_file_class);
} sensitive_dir SEC(".maps") __weak;

/* Open sensitive fds of watched processes -> the file they refer to. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_fd_key);
	__type(value, struct sluice_file_io_key);
} open_files SEC(".maps") __weak;

/* Processes that hold, or held, an open sensitive fd (key: tgid; value unused): a fork by any
 * other process skips the walk of open_files (that walk visits every bucket: ~120 us on the dev
 * host, paid by every fork on the host). The agent removes the entries of exited processes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} fd_holders SEC(".maps") __weak;

/* The gate of the fd probes (read-likes, mmap, dup, fcntl, close), which run for every such call
 * of every process on the host. Per slot (tgid % SLUICE_HOLDER_SLOTS): how many tgids of the slot
 * were added to fd_holders (by the kernel, fd_holder_adds) and removed from it (by the agent's
 * reaper, fd_holder_drops). Equal counts: no process of the slot holds a sensitive fd, and the
 * probe stops after two array loads (inlined by the verifier) instead of a hash lookup. One
 * writer per map, so the agent needs no atomics on kernel memory. A slot shared with a holder,
 * or left uneven by a failed insert, costs only the lookup the gate would have saved; an add is
 * counted before the fd it is for reaches user space. Pinned like the maps it guards, so a
 * restarted agent that adopts fd_holders keeps counts that match it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_HOLDER_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} fd_holder_adds SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_HOLDER_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} fd_holder_drops SEC(".maps") __weak;

/* The gate of `flows` for the hooks that look up every socket's cookie: cgroup_skb egress and
 * ingress (every packet on the host), TCP state changes, socket release. Per slot
 * (SLUICE_FLOW_SLOT(cookie)): entries the kernel created minus those it deleted
 * (flow_slot_live, kernel atomics), and entries the agent's reaper deleted (flow_slot_reap,
 * its only writer). Equal: no flow in the slot, and the hook stops after two array loads
 * instead of a lookup in a 65536-bucket hash. A slot is counted before its entry is inserted
 * and uncounted after it is deleted, so it is never closed on a flow; a slot left uneven only
 * costs the lookup. Pinned with `flows`, so an adopting agent keeps counts that match it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_FLOW_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} flow_slot_live SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_FLOW_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} flow_slot_reap SEC(".maps") __weak;

/* Adds `delta` to `slot` of a gate's kernel-written counts (fd_holder_adds, flow_slot_live,
 * inflight_calls). No fetch-and-sub before -mcpu=v3: a negative delta subtracts. */
static __always_inline void sluice_slot_add(void *counts, __u32 slot, __s32 delta)
{
	__u32 *n = bpf_map_lookup_elem(counts, &slot);
	if (n)
		__sync_fetch_and_add(n, delta);
}

/* Whether a two-writer gate (the kernel's counts and the agent's, above) is open at `slot`:
 * closed only when both counts are readable and equal, so a failed lookup never closes it. */
static __always_inline int sluice_gate_open(void *kernel_counts, void *agent_counts, __u32 slot)
{
	__u32 *k = bpf_map_lookup_elem(kernel_counts, &slot);
	__u32 *a = bpf_map_lookup_elem(agent_counts, &slot);
	return !k || !a || *k != *a;
}

/* Read totals per (process, file); reaped by the agent after the process exits. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_file_io_key);
	__type(value, struct sluice_file_io);
} file_io SEC(".maps") __weak;

/* Agent-written capture settings (slot 0). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_sensor_cfg);
} sensor_cfg SEC(".maps") __weak;

#endif /* SLUICE_MAPS_BPF_H */
