/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Socket helpers shared by the socket, enforce and TLS families: reading a socket's identity from
 * the kernel structures (CO-RE), resolving a task's fd to its socket, and opening a flow entry.
 */
#ifndef SLUICE_SOCK_BPF_H
#define SLUICE_SOCK_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "emit.bpf.h"

#define SLUICE_IPPROTO_TCP 6
#define SLUICE_IPPROTO_UDP 17

/* Destination of a cgroup sock_addr hook (connect4/6, sendmsg4/6), v4-mapped for IPv4. The
 * context's fields must be read as whole 32-bit words. */
static __always_inline void sluice_ctx_daddr4(struct bpf_sock_addr *ctx, __u8 *daddr)
{
	__builtin_memset(daddr, 0, 16);
	daddr[10] = 0xff;
	daddr[11] = 0xff;
	__u32 ip4 = ctx->user_ip4;
	__builtin_memcpy(&daddr[12], &ip4, 4);
}

static __always_inline void sluice_ctx_daddr6(struct bpf_sock_addr *ctx, __u8 *daddr)
{
	__u32 w0 = ctx->user_ip6[0], w1 = ctx->user_ip6[1];
	__u32 w2 = ctx->user_ip6[2], w3 = ctx->user_ip6[3];
	__builtin_memcpy(&daddr[0], &w0, 4);
	__builtin_memcpy(&daddr[4], &w1, 4);
	__builtin_memcpy(&daddr[8], &w2, 4);
	__builtin_memcpy(&daddr[12], &w3, 4);
}

/* The struct file behind `fd` of the current task, or NULL. */
static __always_inline struct file *sluice_fd_file(int fd)
{
	if (fd < 0)
		return NULL;
	/* The task is a BTF pointer, so the walk to the fd array is plain loads (relocated, and
	 * faulting safely to 0 like a probe read), not a helper call per field. The array slot
	 * itself needs one: the verifier takes no variable index into a BTF pointer. */
	struct task_struct *task = bpf_get_current_task_btf();
	struct files_struct *files = task->files;
	if (!files)
		return NULL;
	struct fdtable *fdt = files->fdt;
	if (!fdt || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	struct file **fds = fdt->fd;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* The struct sock behind a file when it is an inet socket, or NULL. */
static __always_inline struct sock *sluice_file_sock(struct file *f)
{
	if (!f)
		return NULL;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & 00170000) != 0140000)  /* S_IFSOCK */
		return NULL;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return NULL;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != SLUICE_AF_INET && family != SLUICE_AF_INET6)
		return NULL;
	return sk;
}

/* The cookie the kernel already assigned to the socket (0 when none was ever asked for). Probes
 * that cannot call bpf_get_socket_cookie (syscall tracepoints) read it here; the hooks that open
 * flows (cgroup connect/sendmsg, tp_btf establish) always generate it first. */
static __always_inline __u64 sluice_sk_cookie(struct sock *sk)
{
	return (__u64)BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
}

/* Field readers for the socket helpers below, which come in two variants: for a socket pointer
 * found by walking kernel memory (syscall tracepoints: the pointer is a plain number to the
 * verifier, every field a CO-RE probe read, a helper call each) and for a BTF pointer (tp_btf
 * arguments: direct CO-RE relocated loads, no call; the TCP state probe runs on every state
 * change of the host). */
#define SLUICE_RD_PROBE(p, field) BPF_CORE_READ(p, field)
#define SLUICE_RD_BTF(p, field) ((p)->field)
#define SLUICE_RD_INTO_PROBE(dst, p, field) BPF_CORE_READ_INTO(dst, p, field)
#define SLUICE_RD_INTO_BTF(dst, p, field) __builtin_memcpy(dst, &(p)->field, sizeof(*(dst)))

/* Local/peer addresses and ports of a socket, v4-mapped for IPv4. */
#define SLUICE_DEFINE_SK_ADDRS(name, RD, RD_INTO)                                               \
static __always_inline void name(struct sock *sk, struct sluice_flow *f)                       \
{                                                                                               \
	__u16 family = RD(sk, __sk_common.skc_family);                                           \
	f->family = family;                                                                      \
	f->sport = RD(sk, __sk_common.skc_num);                                                  \
	if (!f->sport)  /* a socket that reached CLOSE released its port; the header's stays */  \
		f->sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));         \
	f->dport = bpf_ntohs(RD(sk, __sk_common.skc_dport));                                     \
	if (family == SLUICE_AF_INET) {                                                          \
		__u32 s = RD(sk, __sk_common.skc_rcv_saddr);                                     \
		__u32 d = RD(sk, __sk_common.skc_daddr);                                         \
		__builtin_memset(f->saddr, 0, 16);                                               \
		__builtin_memset(f->daddr, 0, 16);                                               \
		f->saddr[10] = f->saddr[11] = 0xff;                                              \
		f->daddr[10] = f->daddr[11] = 0xff;                                              \
		__builtin_memcpy(&f->saddr[12], &s, 4);                                          \
		__builtin_memcpy(&f->daddr[12], &d, 4);                                          \
	} else {                                                                                 \
		RD_INTO(&f->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);             \
		RD_INTO(&f->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);                 \
	}                                                                                        \
}
SLUICE_DEFINE_SK_ADDRS(sluice_sk_addrs, SLUICE_RD_PROBE, SLUICE_RD_INTO_PROBE)
SLUICE_DEFINE_SK_ADDRS(sluice_sk_addrs_btf, SLUICE_RD_BTF, SLUICE_RD_INTO_BTF)

/* The header of a record about a flow. Flow records are also emitted from softirq and socket
 * hooks: the header names the flow's owner, not the current task. */
static __always_inline void sluice_flow_header(struct sluice_event_header *h, __u32 type,
					       __u32 size, const struct sluice_flow *f)
{
	h->type = type;
	h->size = size;
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->pid = f->pid;
	h->tid = 0;
	h->cgroup_id = f->cgroup_id;
}

/* The transport protocol of a packet and the offset of its transport header (IPv4 with options,
 * IPv6 without extension headers: locally generated TCP and UDP carry none). 0 when it is
 * neither IPv4 nor IPv6 or cannot be read. */
static __always_inline int sluice_skb_l4(struct __sk_buff *skb, __u8 *proto, __u32 *off)
{
	if (skb->protocol == bpf_htons(0x0800)) {
		__u8 vihl;
		if (bpf_skb_load_bytes(skb, 0, &vihl, 1) || bpf_skb_load_bytes(skb, 9, proto, 1))
			return 0;
		*off = (vihl & 0xf) * 4;
		return 1;
	}
	if (skb->protocol == bpf_htons(0x86DD)) {
		if (bpf_skb_load_bytes(skb, 6, proto, 1))
			return 0;
		*off = 40;
		return 1;
	}
	return 0;
}

/* The flow entry of `cookie`, or NULL: for nearly every socket on the host (no flow) answered by
 * the gate's two array loads, without touching the hash. */
static __always_inline struct sluice_flow *sluice_flow_find(__u64 cookie)
{
	if (!sluice_gate_open(&flow_slot_live, &flow_slot_reap, SLUICE_FLOW_SLOT(cookie)))
		return NULL;
	return bpf_map_lookup_elem(&flows, &cookie);
}

/* Inserts a new flow entry (BPF_NOEXIST), its slot counted first so the gate is open before the
 * entry can be looked up; uncounted again when the insert failed. Returns the update's error. */
static __always_inline int sluice_flow_insert(__u64 cookie, const struct sluice_flow *f)
{
	sluice_slot_add(&flow_slot_live, SLUICE_FLOW_SLOT(cookie), 1);
	int err = bpf_map_update_elem(&flows, &cookie, f, BPF_NOEXIST);
	if (err)
		sluice_slot_add(&flow_slot_live, SLUICE_FLOW_SLOT(cookie), -1);
	return err;
}

/* Emits a flow lifecycle record (a notification: the map entry holds the truth). Returns 0 when
 * the record is in the ring, -1 when it was lost (counted). */
static __always_inline int sluice_emit_flow(__u64 cookie, __u32 kind, const struct sluice_flow *f)
{
	struct sluice_flow_event *e = sluice_reserve(&net_events, sizeof(*e), SLUICE_EV_FLOW);
	if (!e)
		return -1;
	sluice_flow_header(&e->hdr, SLUICE_EV_FLOW, sizeof(*e), f);
	e->cookie = cookie;
	e->kind = kind;
	e->_pad = 0;
	__builtin_memcpy(&e->flow, f, sizeof(*f));
	sluice_submit(&net_events, e);
	return 0;
}

/* A flow's totals are final (`f` is the map entry, already marked CLOSED). The close record
 * carries them; once it is in the ring the entry is deleted here, so the agent never reads or
 * deletes it (three syscalls a flow, the reaper's main cost on a busy host). When the record is
 * lost the entry stays, and the agent reaps the totals from the map: they stay exact either way.
 * A severed flow's entry also stays: the agent forgets the sever when it reaps it. */
static __always_inline void sluice_flow_final(__u64 cookie, struct sluice_flow *f)
{
	struct sluice_flow snap = *f;
	__u32 zero = 0;
	struct sluice_sensor_cfg *sc = bpf_map_lookup_elem(&sensor_cfg, &zero);
	const int release = !bpf_map_lookup_elem(&severed, &cookie) &&
			    !(sc && (sc->flags & SLUICE_SENSOR_F_KEEP_FLOWS));
	if (release)
		snap.flags |= SLUICE_FLOW_F_RELEASED;
	/* Uncounted after the delete, so the gate is never closed on an entry. */
	if (sluice_emit_flow(cookie, SLUICE_FLOW_CLOSED, &snap) == 0 && release &&
	    bpf_map_delete_elem(&flows, &cookie) == 0)
		sluice_slot_add(&flow_slot_live, SLUICE_FLOW_SLOT(cookie), -1);
}

/* Opens a flow for a socket of a watched workload from a process-context hook. Returns 0 when a
 * new entry was created. */
static __always_inline int sluice_flow_open(__u64 cookie, __u32 workload, __u16 family,
					    __u8 protocol, const __u8 *daddr, __u16 dport,
					    __u8 flags)
{
	struct sluice_flow f = {};
	f.cgroup_id = bpf_get_current_cgroup_id();
	f.start_ns = bpf_ktime_get_boot_ns();
	f.pid = bpf_get_current_pid_tgid() >> 32;
	f.workload_id = workload;
	f.family = family;
	f.dport = dport;
	f.protocol = protocol;
	f.flags = flags;
	__builtin_memcpy(f.daddr, daddr, 16);
	int err = sluice_flow_insert(cookie, &f);
	if (err == -17 /* EEXIST */)
		return 1;
	if (err) {
		sluice_count(&map_full, SLUICE_EV_FLOW);
		return 1;
	}
	if (protocol == SLUICE_IPPROTO_UDP)
		sluice_emit_flow(cookie, SLUICE_FLOW_UDP, &f);
	return 0;
}

#endif /* SLUICE_SOCK_BPF_H */
