/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Calls in flight between two probes of one thread: connect's enter tracepoint and its exit, LSM
 * file_open and the open syscall's exit, or a TLS library's entry uprobe and the socket call
 * inside it. Each family keeps them in a hash keyed by pid_tgid, and the probe that finishes a
 * call runs for every such call of every thread on the host (each connect, open, socket write
 * ...), nearly always with nothing in flight. `inflight_calls` counts the entries of all those
 * maps per slot of thread ids, so that probe stops after one array load (inlined by the
 * verifier) when its slot is empty, instead of a hash lookup (~30-40 ns a call on the dev host).
 *
 * The kernel is the only writer: +1 when an entry is created, -1 when a delete removed one. An
 * entry an LRU evicts, or one left by a thread that died between the probes (which the agent's
 * reaper sweeps without touching the count), leaves its slot high, which only costs the lookup
 * the gate would have saved. A slot is counted before the finishing probe can run (both run on
 * the same thread, in order).
 */
#ifndef SLUICE_INFLIGHT_BPF_H
#define SLUICE_INFLIGHT_BPF_H

#include "maps.bpf.h"

#define SLUICE_INFLIGHT_SLOTS 4096

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_INFLIGHT_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} inflight_calls SEC(".maps") __weak;

#define SLUICE_INFLIGHT_SLOT(id) ((__u32)(id) & (SLUICE_INFLIGHT_SLOTS - 1))

/* True when thread `id` surely has no call in flight in any of the maps. */
static __always_inline int sluice_inflight_none(__u64 id)
{
	__u32 slot = SLUICE_INFLIGHT_SLOT(id);
	__u32 *n = bpf_map_lookup_elem(&inflight_calls, &slot);
	return n && !*n;
}

/* Parks `value` for thread `id` in `map`; returns the update's error. */
static __always_inline long sluice_inflight_put(void *map, __u64 id, const void *value)
{
	if (bpf_map_update_elem(map, &id, value, BPF_NOEXIST) == 0) {
		sluice_slot_add(&inflight_calls, SLUICE_INFLIGHT_SLOT(id), 1);
		return 0;
	}
	/* An earlier call of this thread was never finished (a TLS write that reached no socket, a
	 * probe that missed its pair): replace that entry, already counted. */
	return bpf_map_update_elem(map, &id, value, BPF_EXIST);
}

/* The call of thread `id` is over: its entry goes, and its count with it. */
static __always_inline void sluice_inflight_done(void *map, __u64 id)
{
	if (bpf_map_delete_elem(map, &id))
		return;  /* evicted, or never parked */
	sluice_slot_add(&inflight_calls, SLUICE_INFLIGHT_SLOT(id), -1);
}

#endif /* SLUICE_INFLIGHT_BPF_H */
