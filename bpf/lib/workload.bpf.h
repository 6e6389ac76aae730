/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Which workload does the current task belong to? The same rule as the agent's
 * (agent/state/workload_resolver.h): a workload matches when each selector it has matches (cgroup
 * glob AND exe glob); the lowest matching workload id (rule order) wins.
 */
#ifndef SLUICE_WORKLOAD_BPF_H
#define SLUICE_WORKLOAD_BPF_H

#include "maps.bpf.h"

static __always_inline __u32 sluice_lowest_bit(__u64 m)
{
	__u32 n = 0;
	if (!(m & 0xffffffffULL)) { n += 32; m >>= 32; }
	if (!(m & 0xffffULL)) { n += 16; m >>= 16; }
	if (!(m & 0xffULL)) { n += 8; m >>= 8; }
	if (!(m & 0xfULL)) { n += 4; m >>= 4; }
	if (!(m & 0x3ULL)) { n += 2; m >>= 2; }
	if (!(m & 0x1ULL)) { n += 1; }
	return n;
}

/* Kernel-internal dev_t (MAJOR<<20|MINOR) -> the st_dev encoding user space sees (new_encode_dev),
 * the form of every (dev, inode) key the agent writes. */
static __always_inline __u32 sluice_user_dev(__u32 kdev)
{
	__u32 major = kdev >> 20, minor = kdev & 0xfffff;
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

/* Returns the workload id or SLUICE_NO_WORKLOAD. Cheap for unwatched tasks: two hash lookups. */
static __always_inline __u32 sluice_current_workload(void)
{
	__u32 zero = 0;
	struct sluice_selector_cfg *cfg = bpf_map_lookup_elem(&selector_cfg, &zero);
	if (!cfg || !cfg->active_mask)
		return SLUICE_NO_WORKLOAD;

	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 mc = 0, me = 0;
	/* Each lookup only when some workload has that kind of selector: most rule sets select by
	 * cgroup alone, and every process on the host comes through here. */
	if (cfg->has_cgroup) {
		__u64 cgid = bpf_get_current_cgroup_id();
		struct sluice_cgroup_match *cm = bpf_map_lookup_elem(&cgroup_match, &cgid);
		mc = cm ? cm->workload_mask : 0;
	}
	if (cfg->has_exe) {
		struct sluice_task_match *tm = bpf_map_lookup_elem(&task_match, &tgid);
		me = tm ? tm->workload_mask : 0;
	}
	if (!mc && !me)
		return SLUICE_NO_WORKLOAD;  /* every workload has at least one selector */
	__u64 m = (mc | ~cfg->has_cgroup) & (me | ~cfg->has_exe) & cfg->active_mask;
	if (!m)
		return SLUICE_NO_WORKLOAD;
	/* The agent never watches (or blocks) itself, even when it runs inside a watched cgroup. */
	struct sluice_sensor_cfg *sc = bpf_map_lookup_elem(&sensor_cfg, &zero);
	if (sc && sc->agent_tgid == tgid)
		return SLUICE_NO_WORKLOAD;
	return sluice_lowest_bit(m);
}

#endif /* SLUICE_WORKLOAD_BPF_H */
