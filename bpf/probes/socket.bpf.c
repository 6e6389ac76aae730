// SPDX-License-Identifier: GPL-2.0-only
/*
 * Socket family: connect attempts and their results.
 *
 * Why these hooks: on the dev host there are no kprobes and fentry/LSM are refused (DESIGN §4
 * table), so connect is observed at the syscall tracepoints. sys_enter_connect copies the
 * destination from user memory; the cgroup/connect hook (enforce.bpf.c) runs inside the same
 * syscall and adds its verdict; sys_exit_connect emits one record with the result. Only tasks of
 * watched workloads pay more than two map lookups.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "emit.bpf.h"
#include "workload.bpf.h"

struct sluice_sockaddr {  /* the union of sockaddr_in and sockaddr_in6 that we read */
	__u16 family;
	__u16 port;            /* network order */
	__u32 v4_or_flowinfo;  /* sin_addr for AF_INET, sin6_flowinfo for AF_INET6 */
	__u8 v6[16];
};

SEC("tracepoint/syscalls/sys_enter_connect")
int sluice_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u32 workload = sluice_current_workload();
	if (workload == SLUICE_NO_WORKLOAD)
		return 0;

	struct sluice_sockaddr sa = {};
	void *uaddr = (void *)BPF_CORE_READ(ctx, args[1]);
	if (bpf_probe_read_user(&sa, sizeof(sa.family), uaddr))
		return 0;
	if (sa.family == SLUICE_AF_INET) {
		if (bpf_probe_read_user(&sa, 8, uaddr))
			return 0;
	} else if (sa.family == SLUICE_AF_INET6) {
		if (bpf_probe_read_user(&sa, sizeof(sa), uaddr))
			return 0;
	} else {
		return 0;  /* AF_UNIX and friends never leave the host */
	}

	struct sluice_connect_event ev = {};
	ev.workload_id = workload;
	ev.family = sa.family;
	ev.dport = bpf_ntohs(sa.port);
	if (sa.family == SLUICE_AF_INET) {
		ev.daddr[10] = 0xff;
		ev.daddr[11] = 0xff;
		__builtin_memcpy(&ev.daddr[12], &sa.v4_or_flowinfo, 4);
	} else {
		__builtin_memcpy(ev.daddr, sa.v6, 16);
	}
	__u64 id = bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&connect_inflight, &id, &ev, BPF_ANY))
		sluice_count(&map_full, SLUICE_EV_CONNECT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int sluice_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sluice_connect_event *pending = bpf_map_lookup_elem(&connect_inflight, &id);
	if (!pending)
		return 0;

	struct sluice_connect_event *e =
		sluice_reserve(&net_events, sizeof(*e), SLUICE_EV_CONNECT);
	if (e) {
		__builtin_memcpy(e, pending, sizeof(*e));
		sluice_fill_header(&e->hdr, SLUICE_EV_CONNECT, sizeof(*e));
		e->ret = (__s32)BPF_CORE_READ(ctx, ret);
		e->flags |= SLUICE_CONNECT_F_HAS_RESULT;
		sluice_submit(&net_events, e);
	}
	bpf_map_delete_elem(&connect_inflight, &id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
