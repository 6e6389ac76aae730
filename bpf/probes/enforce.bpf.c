// SPDX-License-Identifier: GPL-2.0-only
/*
 * Enforce family: allow or deny a connect before the first byte leaves.
 *
 * Why cgroup/connect4/6: it runs for every connect() (TCP and UDP, including io_uring and other
 * paths that bypass the syscall tracepoints) before the kernel sends a SYN, and returning 0 makes
 * connect() fail with EPERM, so a denied peer sees nothing. Attached once at the cgroup v2 root
 * (multi-attach link) and deciding by workload, so every process of a workload, including ones
 * started later or in child cgroups, is covered at once. connect6 also sees v4-mapped
 * destinations (::ffff:a.b.c.d) from AF_INET6 sockets: the allowlist keys IPv4 in exactly that
 * form, so one lookup serves both.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "emit.bpf.h"
#include "workload.bpf.h"
#include "sock.bpf.h"

static __always_inline int sluice_is_loopback(const __u8 *a)
{
	/* ::ffff:127.0.0.0/104 */
	if (a[10] == 0xff && a[11] == 0xff && a[12] == 127) {
		for (int i = 0; i < 10; i++)
			if (a[i])
				return 0;
		return 1;
	}
	/* ::1 */
	for (int i = 0; i < 15; i++)
		if (a[i])
			return 0;
	return a[15] == 1;
}

static __always_inline int sluice_ports_match(const struct sluice_allow_value *v, __u16 dport)
{
	for (__u32 i = 0; i < SLUICE_MAX_PORT_RANGES; i++) {
		if (i >= v->nranges)
			break;
		if (dport >= v->ranges[i].lo && dport <= v->ranges[i].hi)
			return 1;
	}
	return 0;
}

static __always_inline __u8 sluice_decide(__u32 workload, const __u8 *daddr, __u16 dport)
{
	struct sluice_workload_cfg *cfg = bpf_map_lookup_elem(&workload_cfg, &workload);
	__u32 flags = cfg ? cfg->flags : 0;

	if (!(flags & SLUICE_WL_F_ENFORCE_LOOPBACK) && sluice_is_loopback(daddr))
		return SLUICE_VERDICT_EXEMPT;
	/* The resolvers and the SIEM sinks stay reachable whatever a rule says: a host that cannot
	 * resolve names or report alerts is worse off, not safer. */
	struct sluice_exempt_key ek = {};
	ek.prefixlen = 128;
	__builtin_memcpy(ek.addr, daddr, 16);
	struct sluice_allow_value *ev = bpf_map_lookup_elem(&exempt, &ek);
	if (ev && sluice_ports_match(ev, dport))
		return SLUICE_VERDICT_EXEMPT;

	/* A quarantined workload keeps only its quarantine allowlist (a namespace of its own in the
	 * same trie), and is denied the rest whatever its mode says. */
	__u32 quarantined = flags & SLUICE_WL_F_QUARANTINE;
	struct sluice_allow_key key = {};
	key.prefixlen = 32 + 128;
	key.workload_id = bpf_htonl(quarantined ? (workload | SLUICE_ALLOW_QUARANTINE) : workload);
	__builtin_memcpy(key.addr, daddr, 16);
	struct sluice_allow_value *v = bpf_map_lookup_elem(&egress_allow, &key);
	if (v && sluice_ports_match(v, dport))
		return SLUICE_VERDICT_ALLOW;
	return (flags & (SLUICE_WL_F_ENFORCE | SLUICE_WL_F_QUARANTINE)) ? SLUICE_VERDICT_DENY
									: SLUICE_VERDICT_WOULD_DENY;
}

/* Record the verdict in the in-flight connect (the syscall path), or, when the tracepoint did not
 * see this connect (io_uring, a kernel-internal caller), emit the attempt from here. */
static __always_inline void sluice_report(__u32 workload, const __u8 *daddr, __u16 dport,
					  __u16 family, __u8 protocol, __u8 verdict)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sluice_connect_event *pending = bpf_map_lookup_elem(&connect_inflight, &id);
	if (pending) {
		pending->verdict = verdict;
		pending->protocol = protocol;
		return;
	}
	struct sluice_connect_event *e =
		sluice_reserve(&net_events, sizeof(*e), SLUICE_EV_CONNECT);
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	sluice_fill_header(&e->hdr, SLUICE_EV_CONNECT, sizeof(*e));
	e->workload_id = workload;
	e->family = family;
	e->dport = dport;
	e->verdict = verdict;
	e->protocol = protocol;
	e->flags = SLUICE_CONNECT_F_FROM_HOOK;
	__builtin_memcpy(e->daddr, daddr, 16);
	sluice_submit(&net_events, e);
}

SEC("cgroup/connect4")
int sluice_connect4(struct bpf_sock_addr *ctx)
{
	__u32 workload = sluice_current_workload();
	if (workload == SLUICE_NO_WORKLOAD)
		return 1;

	__u8 daddr[16];
	sluice_ctx_daddr4(ctx, daddr);
	__u16 dport = bpf_ntohs((__u16)ctx->user_port);

	__u8 verdict = sluice_decide(workload, daddr, dport);
	sluice_report(workload, daddr, dport, SLUICE_AF_INET, (__u8)ctx->protocol, verdict);
	if (verdict == SLUICE_VERDICT_DENY)
		return 0;
	/* The socket family is AF_INET here (connect4 only runs for AF_INET sockets). */
	sluice_flow_open(bpf_get_socket_cookie(ctx), workload, SLUICE_AF_INET,
			 (__u8)ctx->protocol, daddr, dport, 0);
	return 1;
}

SEC("cgroup/connect6")
int sluice_connect6(struct bpf_sock_addr *ctx)
{
	__u32 workload = sluice_current_workload();
	if (workload == SLUICE_NO_WORKLOAD)
		return 1;

	__u8 daddr[16];
	sluice_ctx_daddr6(ctx, daddr);
	__u16 dport = bpf_ntohs((__u16)ctx->user_port);

	__u8 verdict = sluice_decide(workload, daddr, dport);
	sluice_report(workload, daddr, dport, SLUICE_AF_INET6, (__u8)ctx->protocol, verdict);
	if (verdict == SLUICE_VERDICT_DENY)
		return 0;
	sluice_flow_open(bpf_get_socket_cookie(ctx), workload, SLUICE_AF_INET6,
			 (__u8)ctx->protocol, daddr, dport, 0);
	return 1;
}

/* Unconnected UDP (sendto/sendmsg with an address) never calls connect: the same decision per
 * datagram, here. Why cgroup/sendmsg4/6: it runs before the datagram is built, for every
 * sender in the workload's cgroups, and returning 0 fails the send with EPERM. A denied or
 * would-be-denied destination is reported once per socket and destination per second: a tool
 * spraying datagrams must not flood the ring. (Connected UDP is decided by connect4/6.) */
static __always_inline int sluice_send_decide(struct bpf_sock_addr *ctx, const __u8 *daddr,
					      __u16 family)
{
	__u32 workload = sluice_current_workload();
	if (workload == SLUICE_NO_WORKLOAD)
		return 1;
	__u16 dport = bpf_ntohs((__u16)ctx->user_port);
	__u8 verdict = sluice_decide(workload, daddr, dport);
	if (verdict == SLUICE_VERDICT_DENY || verdict == SLUICE_VERDICT_WOULD_DENY) {
		__u64 key = bpf_get_socket_cookie(ctx) * 0x9E3779B97F4A7C15ULL;
		for (int i = 0; i < 16; i++)
			key = (key ^ daddr[i]) * 0x100000001B3ULL;
		key ^= dport;
		__u64 now = bpf_ktime_get_boot_ns();
		__u64 *last = bpf_map_lookup_elem(&send_reported, &key);
		if (!last || now - *last > 1000000000ULL) {
			bpf_map_update_elem(&send_reported, &key, &now, BPF_ANY);
			sluice_report(workload, daddr, dport, family, SLUICE_IPPROTO_UDP, verdict);
		}
	}
	return verdict == SLUICE_VERDICT_DENY ? 0 : 1;
}

SEC("cgroup/sendmsg4")
int sluice_enforce_sendmsg4(struct bpf_sock_addr *ctx)
{
	__u8 daddr[16];
	sluice_ctx_daddr4(ctx, daddr);
	return sluice_send_decide(ctx, daddr, SLUICE_AF_INET);
}

SEC("cgroup/sendmsg6")
int sluice_enforce_sendmsg6(struct bpf_sock_addr *ctx)
{
	__u8 daddr[16];
	sluice_ctx_daddr6(ctx, daddr);
	return sluice_send_decide(ctx, daddr, SLUICE_AF_INET6);
}

char LICENSE[] SEC("license") = "GPL";
