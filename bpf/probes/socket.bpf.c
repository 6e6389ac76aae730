// SPDX-License-Identifier: GPL-2.0-only
/*
 * Socket family: connect attempts and their results.
 *
 * Why these hooks: on the dev host there are no kprobes and fentry/LSM are refused (DESIGN §4
 * table), so connect is observed at the syscall tracepoints. sys_enter_connect copies the
 * destination from user memory; the cgroup/connect hook (enforce.bpf.c) runs inside the same
 * syscall and adds its verdict; sys_exit_connect emits one record with the result. Only tasks of
 * watched workloads pay more than two map lookups.
 *
 * Flows (DESIGN §4 "TCP state, bytes per flow"): fexit tcp_close is refused here, so the fallback
 * is used: the flow entry is opened in process context (cgroup/connect4/6 in enforce.bpf.c,
 * accept() exit and cgroup/sendmsg here), tp_btf inet_sock_set_state completes it at ESTABLISHED
 * and at CLOSE copies the kernel's own exact TCP counters (bytes_acked / bytes_received of the
 * tcp_sock). Payload bytes are counted at cgroup_skb egress/ingress for sockets that have a flow
 * entry: UDP totals, and TCP running totals while open (replaced by the exact counters at CLOSE).
 * A UDP flow is closed at cgroup/sock_release.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "emit.bpf.h"
#include "workload.bpf.h"
#include <bpf/bpf_tracing.h>
#include "sock.bpf.h"
#include "inflight.bpf.h"
#include "dns.bpf.h"

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
	void *uaddr = (void *)ctx->args[1];
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
	if (sluice_inflight_put(&connect_inflight, id, &ev))
		sluice_count(&map_full, SLUICE_EV_CONNECT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int sluice_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (sluice_inflight_none(id))
		return 0;
	struct sluice_connect_event *pending = bpf_map_lookup_elem(&connect_inflight, &id);
	if (!pending)
		return 0;

	struct sluice_connect_event *e =
		sluice_reserve(&net_events, sizeof(*e), SLUICE_EV_CONNECT);
	if (e) {
		__builtin_memcpy(e, pending, sizeof(*e));
		sluice_fill_header(&e->hdr, SLUICE_EV_CONNECT, sizeof(*e));
		e->ret = (__s32)ctx->ret;
		e->flags |= SLUICE_CONNECT_F_HAS_RESULT;
		sluice_submit(&net_events, e);
	}
	sluice_inflight_done(&connect_inflight, id);
	return 0;
}

#define SLUICE_TCP_ESTABLISHED 1
#define SLUICE_TCP_SYN_SENT 2
#define SLUICE_TCP_SYN_RECV 3
#define SLUICE_TCP_FIN_WAIT1 4
#define SLUICE_TCP_FIN_WAIT2 5
#define SLUICE_TCP_CLOSE 7
#define SLUICE_TCP_LAST_ACK 9
#define SLUICE_TCP_CLOSING 11

/* A TCP flow reached CLOSE: its totals are final. `sk` is a full TCP socket (both callers
 * checked sk_protocol); `tp` the same socket as a tcp_sock, RD its field reader (sock.bpf.h).
 * `fin_sent`: this side queued a FIN (it went through FIN_WAIT1 or LAST_ACK).
 *
 * The kernel's counters of bytes acknowledged by the peer and received in order do not count
 * retransmissions twice, but they count sequence space: the control flags are taken out to
 * leave payload bytes. Out: our SYN (active opens only: a passive child starts with its SYN-ACK
 * already acknowledged) and our FIN once acknowledged (it advanced write_seq; all of it is acked
 * when snd_una reached it). In: the peer's FIN once received in order (tcp_fin sets SOCK_DONE).
 * Neither is read from sk_shutdown: a reset or an abortive close (SO_LINGER 0) sets both of its
 * bits with no FIN either way. */
#define SLUICE_TCP_FLOW_CLOSE(sk, tp, cookie, f, fin_sent, RD)                                   \
	do {                                                                                     \
		__u64 acked = RD(tp, bytes_acked);                                               \
		__u64 received = RD(tp, bytes_received);                                         \
		unsigned long sk_flags = RD(sk, __sk_common.skc_flags);                          \
		__u64 control_out = 0;                                                           \
		if (((f)->flags & SLUICE_FLOW_F_ESTABLISHED) &&                                  \
		    !((f)->flags & SLUICE_FLOW_F_INBOUND))                                       \
			control_out += 1;                                                        \
		if ((fin_sent) && RD(tp, snd_una) == RD(tp, write_seq))                          \
			control_out += 1;                                                        \
		(f)->bytes_out = acked >= control_out ? acked - control_out : 0;                 \
		__u64 control_in =                                                               \
			(sk_flags >> bpf_core_enum_value(enum sock_flags, SOCK_DONE)) & 1;       \
		(f)->bytes_in = received >= control_in ? received - control_in : 0;              \
		(f)->end_ns = bpf_ktime_get_boot_ns();                                           \
		(f)->flags |= SLUICE_FLOW_F_CLOSED;                                              \
		sluice_flow_final(cookie, f);                                                    \
	} while (0)

/* From the accept() exit: `sk` was found through the fd table. */
static __always_inline void sluice_tcp_flow_close(struct sock *sk, __u64 cookie,
						  struct sluice_flow *f, int fin_sent)
{
	if (f->flags & SLUICE_FLOW_F_CLOSED)
		return;
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	SLUICE_TCP_FLOW_CLOSE(sk, tp, cookie, f, fin_sent, SLUICE_RD_PROBE);
}

/* From inet_sock_set_state: `sk` is a BTF pointer. */
static __always_inline void sluice_tcp_flow_close_btf(struct sock *sk, __u64 cookie,
						      struct sluice_flow *f, int fin_sent)
{
	if (f->flags & SLUICE_FLOW_F_CLOSED)
		return;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	if (!tp) {  /* not expected for a full TCP socket; the probe reads still work */
		sluice_tcp_flow_close(sk, cookie, f, fin_sent);
		return;
	}
	SLUICE_TCP_FLOW_CLOSE(sk, tp, cookie, f, fin_sent, SLUICE_RD_BTF);
}

/* Every TCP state change on the host runs this: `sk` is a BTF pointer here, so its fields are
 * read directly (CO-RE relocated loads), not through a helper call each. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sluice_sock_state, struct sock *sk, int oldstate, int newstate)
{
	if (sk->sk_protocol != SLUICE_IPPROTO_TCP)
		return 0;
	if (newstate == SLUICE_TCP_ESTABLISHED) {
		/* Give every established socket a cookie (one cmpxchg, once per socket) so that
		 * accept() and TLS calls, seen at syscall tracepoints that cannot generate one, can
		 * read it from the socket. */
		__u64 cookie = bpf_get_socket_cookie(sk);
		if (oldstate != SLUICE_TCP_SYN_SENT)
			return 0;
		struct sluice_flow *f = sluice_flow_find(cookie);
		if (!f)
			return 0;
		struct sluice_flow snap = *f;
		sluice_sk_addrs_btf(sk, &snap);
		snap.flags |= SLUICE_FLOW_F_ESTABLISHED;
		f->sport = snap.sport;
		__builtin_memcpy(f->saddr, snap.saddr, 16);
		f->flags = snap.flags;
		sluice_emit_flow(cookie, SLUICE_FLOW_CONNECTED, &snap);
		return 0;
	}
	if (newstate != SLUICE_TCP_CLOSE)
		return 0;
	__u64 cookie = sk->__sk_common.skc_cookie.counter;
	if (!cookie)
		return 0;
	struct sluice_flow *f = sluice_flow_find(cookie);
	if (f)
		sluice_tcp_flow_close_btf(sk, cookie, f,
					  oldstate == SLUICE_TCP_FIN_WAIT1 ||
					  oldstate == SLUICE_TCP_FIN_WAIT2 ||
					  oldstate == SLUICE_TCP_CLOSING || oldstate == SLUICE_TCP_LAST_ACK);
	return 0;
}

/* fd `fd` of the current process, watched as `workload`, holds a socket it just accepted (by
 * accept(2) or through an io_uring): open its flow. The cookie was generated when the
 * connection reached ESTABLISHED (above). */
static __always_inline void sluice_accepted(long fd, __u32 workload)
{
	struct sock *sk = sluice_file_sock(sluice_fd_file((int)fd));
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != SLUICE_IPPROTO_TCP)
		return;
	__u64 cookie = sluice_sk_cookie(sk);
	if (!cookie)
		return;
	struct sluice_flow f = {};
	f.cgroup_id = bpf_get_current_cgroup_id();
	f.start_ns = bpf_ktime_get_boot_ns();
	f.pid = bpf_get_current_pid_tgid() >> 32;
	f.workload_id = workload;
	f.protocol = SLUICE_IPPROTO_TCP;
	f.flags = SLUICE_FLOW_F_INBOUND | SLUICE_FLOW_F_ESTABLISHED;
	sluice_sk_addrs(sk, &f);
	int err = sluice_flow_insert(cookie, &f);
	if (err) {
		if (err != -17 /* EEXIST: the flow is already open */)
			sluice_count(&map_full, SLUICE_EV_FLOW);
		return;
	}
	sluice_emit_flow(cookie, SLUICE_FLOW_ACCEPTED, &f);
	/* A peer that connects and resets at once (a health check, a port scan, a client killed
	 * mid-request) can take the socket to CLOSE while it waits in the accept queue, before the
	 * entry above existed: inet_sock_set_state has come and gone, and nothing else would ever
	 * close the entry. Checked after the insert, so a CLOSE racing with it is seen by one side
	 * or the other. */
	if (BPF_CORE_READ(sk, __sk_common.skc_state) == SLUICE_TCP_CLOSE) {
		struct sluice_flow *e = bpf_map_lookup_elem(&flows, &cookie);
		if (e)  /* closed before the application had it: it queued no FIN */
			sluice_tcp_flow_close(sk, cookie, e, 0);
	}
}

/* accept()/accept4() returned a connected socket. */
static __always_inline int sluice_on_accept(struct trace_event_raw_sys_exit *ctx)
{
	long fd = ctx->ret;
	if (fd < 0)
		return 0;
	__u32 workload = sluice_current_workload();
	if (workload == SLUICE_NO_WORKLOAD)
		return 0;
	sluice_accepted(fd, workload);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int sluice_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return sluice_on_accept(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int sluice_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return sluice_on_accept(ctx);
}

/* io_uring. An accept submitted through an io_uring never returns from accept(2): without this,
 * a server accepting that way has no inbound flows at all (no bytes, no names, nothing to sever).
 * Connects and unconnected sends through a ring need nothing: cgroup/connect4/6 and sendmsg4/6
 * run for them as for the system calls.
 *
 * Why the io_uring tracepoints (classic, as the file family's; see file.bpf.c): the completion
 * carries the accepted fd, in the accepting process. A single-shot accept's completion names its
 * request; a multishot accept posts its completions without one (req is NULL), so its submission
 * is remembered in `uring_accepts` by (ring, user_data) and its completions are matched by that.
 * An application that gives the same user_data to another request of the same ring can have
 * that request's result taken for an fd: it only opens a flow if that fd is a TCP socket of the
 * process with none yet. An accept into a registered file slot gives no fd and is not seen. */
#define SLUICE_IORING_OP_ACCEPT 13
#define SLUICE_IORING_CQE_F_MORE (1U << 1)

struct sluice_uring_req_key {
	__u64 ring;
	__u64 user_data;
};

/* Accept submissions of watched processes, until their last completion (without F_MORE). An LRU:
 * a ring torn down with an accept pending posts no last completion. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct sluice_uring_req_key);
	__type(value, __u8);
} uring_accepts SEC(".maps");

/* A request of ring `ring` was submitted (ring, request, user_data, opcode: the same fields under
 * either tracepoint name). */
static __always_inline void sluice_uring_submitted(void *ring, void *req, __u64 user_data,
						   __u8 opcode)
{
	if (opcode != SLUICE_IORING_OP_ACCEPT || !bpf_core_type_exists(struct io_accept))
		return;
	if (sluice_current_workload() == SLUICE_NO_WORKLOAD)
		return;
	/* Prepared before the tracepoint: a registered-slot accept is known already. */
	struct io_accept *a = req;  /* the request's command area, at its start */
	if (bpf_core_field_exists(a->file_slot) && BPF_CORE_READ(a, file_slot))
		return;
	struct sluice_uring_req_key k = {.ring = (__u64)ring, .user_data = user_data};
	__u8 one = 1;
	bpf_map_update_elem(&uring_accepts, &k, &one, BPF_ANY);
}

SEC("tracepoint/io_uring/io_uring_submit_req")
int sluice_uring_submit(struct trace_event_raw_io_uring_submit_req *ctx)
{
	if (bpf_core_field_exists(ctx->opcode))
		sluice_uring_submitted(ctx->ctx, ctx->req, ctx->user_data, ctx->opcode);
	return 0;
}

/* The same tracepoint before 6.2 (renamed then; its fields differ in their order only). */
struct trace_event_raw_io_uring_submit_sqe___old {
	void *ctx;
	void *req;
	__u64 user_data;
	__u8 opcode;
} __attribute__((preserve_access_index));

SEC("tracepoint/io_uring/io_uring_submit_sqe")
int sluice_uring_submit_sqe(struct trace_event_raw_io_uring_submit_sqe___old *ctx)
{
	if (bpf_core_field_exists(ctx->req))
		sluice_uring_submitted(ctx->ctx, ctx->req, ctx->user_data, ctx->opcode);
	return 0;
}

SEC("tracepoint/io_uring/io_uring_complete")
int sluice_uring_accept(struct trace_event_raw_io_uring_complete *ctx)
{
	if (!bpf_core_field_exists(ctx->req) || !bpf_core_type_exists(struct io_kiocb))
		return 0;
	long fd = ctx->res;
	if (fd < 0)
		return 0;
	__u32 workload = sluice_current_workload();
	if (workload == SLUICE_NO_WORKLOAD)
		return 0;
	struct io_kiocb *req = ctx->req;
	struct sluice_uring_req_key k = {.ring = (__u64)ctx->ctx, .user_data = ctx->user_data};
	if (req && BPF_CORE_READ(req, opcode) != SLUICE_IORING_OP_ACCEPT)
		return 0;
	if (!bpf_map_lookup_elem(&uring_accepts, &k))
		return 0;  /* not a watched accept, or one into a registered slot */
	if (!(ctx->cflags & SLUICE_IORING_CQE_F_MORE))
		bpf_map_delete_elem(&uring_accepts, &k);
	sluice_accepted(fd, workload);
	return 0;
}

/* Unconnected UDP (sendto/sendmsg with an address) skips connect: open the flow at the first
 * send. Observation only; enforcement of sendmsg is the enforce family's. */
SEC("cgroup/sendmsg4")
int sluice_sendmsg4(struct bpf_sock_addr *ctx)
{
	__u32 workload = sluice_current_workload();
	if (workload == SLUICE_NO_WORKLOAD)
		return 1;
	__u8 daddr[16];
	sluice_ctx_daddr4(ctx, daddr);
	sluice_flow_open(bpf_get_socket_cookie(ctx), workload, SLUICE_AF_INET, SLUICE_IPPROTO_UDP,
			 daddr, bpf_ntohs((__u16)ctx->user_port), 0);
	return 1;
}

SEC("cgroup/sendmsg6")
int sluice_sendmsg6(struct bpf_sock_addr *ctx)
{
	__u32 workload = sluice_current_workload();
	if (workload == SLUICE_NO_WORKLOAD)
		return 1;
	__u8 daddr[16];
	sluice_ctx_daddr6(ctx, daddr);
	sluice_flow_open(bpf_get_socket_cookie(ctx), workload, SLUICE_AF_INET6, SLUICE_IPPROTO_UDP,
			 daddr, bpf_ntohs((__u16)ctx->user_port), 0);
	return 1;
}

/* Payload bytes of a packet of the flow's protocol (IP and UDP/TCP headers excluded), or 0. */
static __always_inline __u64 sluice_l4_payload(struct __sk_buff *skb, __u8 protocol)
{
	__u32 off = 0;
	__u8 proto = 0;
	if (!sluice_skb_l4(skb, &proto, &off) || proto != protocol)
		return 0;
	if (proto == SLUICE_IPPROTO_UDP)
		return skb->len >= off + 8 ? skb->len - off - 8 : 0;
	__u8 doff;
	if (bpf_skb_load_bytes(skb, off + 12, &doff, 1))
		return 0;
	off += (doff >> 4) * 4;
	return skb->len > off ? skb->len - off : 0;
}

/* Bytes of a watched flow as they pass. UDP: the totals themselves. TCP: a running count while
 * the flow is open, so that detectors see an upload grow (volume budgets, send-after-read) and
 * can sever it before it ends; retransmissions make it a slight overcount, and at CLOSE the
 * kernel's exact counters replace it (sluice_sock_state). A GSO packet counts its whole
 * payload once. */
static __always_inline void sluice_count_bytes(struct __sk_buff *skb, struct sluice_flow *f,
					       int egress)
{
	if (f->flags & SLUICE_FLOW_F_CLOSED)
		return;
	__u64 n = sluice_l4_payload(skb, f->protocol);
	if (!n)
		return;
	if (egress)
		__sync_fetch_and_add(&f->bytes_out, n);
	else
		__sync_fetch_and_add(&f->bytes_in, n);
}

/* The first TCP segment with payload of a watched flow: its first bytes go to the agent, once per
 * flow (SLUICE_FLOW_F_PAYLOAD_SEEN). Why here and not in sendmsg: cgroup_skb sees the bytes as
 * they leave whatever wrote them (a statically linked client, a kernel TLS socket, sendfile), and
 * the flow entry tells watched sockets apart with one lookup. Two segments racing on two CPUs
 * may both be sent; the agent keeps the first. */
static __always_inline void sluice_tcp_prefix(struct __sk_buff *skb, __u64 cookie,
					      struct sluice_flow *f)
{
	if (f->protocol != SLUICE_IPPROTO_TCP || (f->flags & SLUICE_FLOW_F_PAYLOAD_SEEN))
		return;
	__u32 off = 0;
	__u8 proto = 0;
	if (!sluice_skb_l4(skb, &proto, &off) || proto != SLUICE_IPPROTO_TCP)
		return;
	__u8 doff;
	if (bpf_skb_load_bytes(skb, off + 12, &doff, 1))
		return;
	off += (doff >> 4) * 4;
	if (off > 120 || skb->len <= off)
		return;  /* a bare ACK/SYN/FIN: nothing sent yet */
	__u32 len = skb->len - off;
	f->flags |= SLUICE_FLOW_F_PAYLOAD_SEEN;
	struct sluice_payload_event *e =
		sluice_reserve(&net_events, sizeof(*e), SLUICE_EV_PAYLOAD);
	if (!e)
		return;
	sluice_flow_header(&e->hdr, SLUICE_EV_PAYLOAD, sizeof(*e), f);
	e->cookie = cookie;
	e->len = len;
	e->captured = 0;
	/* A TLS handshake gets the longer capture (its server_name lies past the first 64 bytes);
	 * anything else only what names the protocol. */
	__u8 first = 0;
	if (bpf_skb_load_bytes(skb, off, &first, 1) == 0) {
		const int hello = first == SLUICE_TLS_HANDSHAKE;
		const __u32 cap = hello ? SLUICE_PAYLOAD_MAX : SLUICE_PAYLOAD_PLAIN;
		/* Constant or masked lengths: the verifier must see the copy bounded by the array. */
		if (len >= cap) {
			if (hello) {
				if (bpf_skb_load_bytes(skb, off, e->data, SLUICE_PAYLOAD_MAX) == 0)
					e->captured = SLUICE_PAYLOAD_MAX;
			} else if (bpf_skb_load_bytes(skb, off, e->data, SLUICE_PAYLOAD_PLAIN) == 0) {
				e->captured = SLUICE_PAYLOAD_PLAIN;
			}
		} else if (len > 0) {
			/* A length the verifier can prove is in [1, 512] on its own: masked from
			 * len - 1, then + 1. (Masking len and testing n > 0 is not enough for older
			 * verifiers, e.g. 6.1's, which do not carry the n > 0 branch into the call
			 * and reject a possibly empty read.) Keep the barrier: the compiler knows
			 * len < 512 and would drop the mask, the verifier not. */
			__u32 n = len - 1;
			barrier_var(n);
			n &= SLUICE_PAYLOAD_MAX - 1;
			n += 1;
			if (bpf_skb_load_bytes(skb, off, e->data, n) == 0)
				e->captured = n;
		}
	}
	sluice_submit(&net_events, e);
}

/* A severed flow (the agent convicted it in enforce mode): its packets are dropped here, both
 * ways, whatever process or thread holds the socket now. Why cgroup_skb: it sees every packet
 * of the socket before it leaves (egress) or reaches it (ingress), in any network namespace, on
 * every kernel this sensor supports; the agent also shuts the socket down so the application
 * gets an error instead of retransmitting into the void. Only flows are severed, and a severed
 * flow keeps its entry until the agent forgets the sever (sluice_flow_final), so a packet of a
 * socket without a flow entry needs no lookup here. */
static __always_inline int sluice_severed(__u64 cookie)
{
	struct sluice_sever *s = bpf_map_lookup_elem(&severed, &cookie);
	if (!s)
		return 0;
	if (!s->first_drop_ns)
		s->first_drop_ns = bpf_ktime_get_boot_ns();  /* two CPUs may both write: either time */
	__sync_fetch_and_add(&s->drops, 1);
	return 1;
}

/* Every packet of every socket on the host passes here: a socket that is not a watched flow
 * costs its cookie and the gate of `flows` (two array loads; sock.bpf.h). */
SEC("cgroup_skb/egress")
int sluice_skb_egress(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct sluice_flow *f = sluice_flow_find(cookie);
	if (!f)
		return 1;
	if (sluice_severed(cookie))
		return 0;
	sluice_count_bytes(skb, f, 1);
	sluice_tcp_prefix(skb, cookie, f);
	return 1;
}

/* Also the DNS family's hook (lib/dns.bpf.h says why it has no program of its own). The answer
 * is taken whatever the flow's fate, as when the two were separate programs. */
SEC("cgroup_skb/ingress")
int sluice_skb_ingress(struct __sk_buff *skb)
{
	sluice_dns_answer(skb);
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct sluice_flow *f = sluice_flow_find(cookie);
	if (!f)
		return 1;
	if (sluice_severed(cookie))
		return 0;
	sluice_count_bytes(skb, f, 0);
	return 1;
}

/* A UDP socket of a watched workload was released: its totals are final. (TCP flows close at
 * the CLOSE state, after the last byte was acknowledged, which can be later than release.) */
SEC("cgroup/sock_release")
int sluice_sock_release(struct bpf_sock *sk)
{
	if (sk->protocol != SLUICE_IPPROTO_UDP)
		return 1;
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct sluice_flow *f = sluice_flow_find(cookie);
	if (!f || (f->flags & SLUICE_FLOW_F_CLOSED))
		return 1;
	f->end_ns = bpf_ktime_get_boot_ns();
	f->flags |= SLUICE_FLOW_F_CLOSED;
	sluice_flow_final(cookie, f);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
