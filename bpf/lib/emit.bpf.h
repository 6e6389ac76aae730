/* SPDX-License-Identifier: GPL-2.0-only */
/* Ring buffer emission with loss accounting and batched wakeups. */
#ifndef SLUICE_EMIT_BPF_H
#define SLUICE_EMIT_BPF_H

#include "maps.bpf.h"
#include <bpf/bpf_helpers.h>

static __always_inline void sluice_count(void *counters, __u32 type)
{
	__u64 *c = bpf_map_lookup_elem(counters, &type);
	if (c)
		*c += 1;  /* per-CPU slot: no atomic needed */
}

/* Reserve a record; a failure is counted per event type so the agent can report exact loss. */
static __always_inline void *sluice_reserve(void *ring, __u32 size, __u32 type)
{
	void *e = bpf_ringbuf_reserve(ring, size, 0);
	if (!e)
		sluice_count(&event_loss, type);
	return e;
}

static __always_inline void sluice_fill_header(struct sluice_event_header *h, __u32 type,
					       __u32 size)
{
	__u64 id = bpf_get_current_pid_tgid();
	h->type = type;
	h->size = size;
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->cgroup_id = bpf_get_current_cgroup_id();
}

/* The wakeup flag for a record of `size` bytes just reserved in (or about to be written to)
 * `ring`. The agent consumes on a 10 ms timer; a record wakes it early only when it pushes the
 * ring's fill across one of the marks at 1/4, 3/8, 1/2, ... of its size, so a burst cannot
 * overflow the ring between two ticks, and a ring that stays above a mark (an agent busy
 * elsewhere) costs one wakeup per mark, not one per record. A wakeup is an irq_work and a
 * self-IPI: 2.5-8 us per record on the dev host (DESIGN §4), and forcing one for every record
 * above a single watermark spent 12 % of bench/overhead's time in the APIC write alone. Two
 * producers racing across a mark may both skip it; the next mark or the timer catches up. */
static __always_inline __u64 sluice_wakeup_flag(void *ring, __u64 size, int reserved)
{
	__u64 avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);
	__u64 step = bpf_ringbuf_query(ring, BPF_RB_RING_SIZE) / 8;
	__u64 before = avail, after = avail + size;
	if (reserved) {  /* the reservation already counts in avail */
		before = avail > size ? avail - size : 0;
		after = avail;
	}
	if (!step || after < 2 * step)
		return BPF_RB_NO_WAKEUP;
	return before / step != after / step ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Submit a reserved record (its size in the header); wakes the agent only as above. The
 * reservation already counts in the ring's fill. */
static __always_inline void sluice_submit(void *ring, void *e)
{
	const struct sluice_event_header *h = e;
	bpf_ringbuf_submit(e, sluice_wakeup_flag(ring, h->size + 8 /* ring record header */, 1));
}

/* Submit and wake the agent now: for the few records it must act on before the process goes
 * further (exec/fork of a watched process: the agent attaches per-process TLS uprobes). */
static __always_inline void sluice_submit_now(void *ring, void *e)
{
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

#endif /* SLUICE_EMIT_BPF_H */
