/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * DNS family: answers delivered to local sockets, copied for the agent's parser.
 *
 * Why cgroup_skb/ingress: there is no kernel hook that knows DNS, and resolvers live in user space
 * (glibc, systemd-resolved, language runtimes), so the answer is taken off the wire as it reaches
 * the receiving socket. Attached at the cgroup v2 root it sees every socket on the host with the
 * socket's cgroup, in any network namespace, and runs after the packet was reassembled. Only UDP
 * from port 53 is copied (a bounded 512 bytes: RFC 1035 UDP size without EDNS); parsing happens in
 * the agent's hardened parser, never here. DNS over TCP/TLS is not seen (documented limitation).
 *
 * Why a header and not a program of its own: the socket family's ingress program
 * (probes/socket.bpf.c) calls it. Every packet received on the host runs each program attached
 * to cgroup_skb/ingress, and each run costs ~55-65 ns on the dev host even when it returns at
 * once (bench/README.md); one program doing both saves that on every packet.
 */
#ifndef SLUICE_DNS_BPF_H
#define SLUICE_DNS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "emit.bpf.h"

#define SLUICE_DNS_PORT 53

static __always_inline void sluice_dns_answer(struct __sk_buff *skb)
{
	__u32 off;
	__u8 proto;
	__u16 family;
	__u8 server[16] = {};

	/* Every packet of every socket on the host passes here: a socket that is not UDP (a TCP
	 * stream, most of the traffic) is let through on a context read, before any packet load. */
	struct bpf_sock *sk = skb->sk;
	if (sk) {
		sk = bpf_sk_fullsock(sk);
		if (sk && sk->protocol != 17)
			return;
	}
	if (skb->protocol == bpf_htons(0x0800)) {
		__u8 vihl;
		if (bpf_skb_load_bytes(skb, 0, &vihl, 1) || bpf_skb_load_bytes(skb, 9, &proto, 1))
			return;
		if (proto != 17)
			return;
		off = (vihl & 0xf) * 4;
		family = SLUICE_AF_INET;
		server[10] = server[11] = 0xff;
		if (bpf_skb_load_bytes(skb, 12, &server[12], 4))
			return;
	} else if (skb->protocol == bpf_htons(0x86DD)) {
		if (bpf_skb_load_bytes(skb, 6, &proto, 1) || proto != 17)
			return;
		off = 40;
		family = SLUICE_AF_INET6;
		if (bpf_skb_load_bytes(skb, 8, server, 16))
			return;
	} else {
		return;
	}
	__be16 ports[2];
	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)))
		return;
	if (ports[0] != bpf_htons(SLUICE_DNS_PORT))
		return;
	off += 8;
	if (skb->len <= off)
		return;
	__u32 wire = skb->len - off;

	struct sluice_dns_event *e = sluice_reserve(&net_events, sizeof(*e), SLUICE_EV_DNS);
	if (!e)
		return;
	e->hdr.type = SLUICE_EV_DNS;
	e->hdr.size = sizeof(*e);
	e->hdr.ts_ns = bpf_ktime_get_boot_ns();
	e->hdr.pid = 0;  /* softirq: the current task is unrelated */
	e->hdr.tid = 0;
	e->hdr.cgroup_id = bpf_skb_cgroup_id(skb);
	e->cookie = bpf_get_socket_cookie(skb);
	e->family = family;
	e->wire_len = wire > 0xffff ? 0xffff : wire;
	e->_pad = 0;
	__builtin_memcpy(e->server, server, 16);
	/* bpf_skb_load_bytes wants a length the verifier can prove is in [1, 512]. */
	/* A constant size, or a masked non-zero one (see the note on lengths in process.bpf.c). */
	if (wire >= SLUICE_DNS_MAX) {
		e->len = bpf_skb_load_bytes(skb, off, e->payload, SLUICE_DNS_MAX) == 0 ? SLUICE_DNS_MAX : 0;
	} else {
		/* Masked from wire - 1, then + 1: in [1, SLUICE_DNS_MAX] by construction, which 6.1's
		 * verifier needs (a clamp after the mask is not carried into the call). */
		__u32 n = wire ? wire - 1 : 0;
		barrier_var(n);
		n &= SLUICE_DNS_MAX - 1;
		n += 1;
		e->len = bpf_skb_load_bytes(skb, off, e->payload, n) == 0 ? n : 0;
	}
	/* Wake the agent now: in enforce mode the answer earns the kernel allowlist entries of host
	 * rules (enforce::NameGrants), and the connect that follows it comes right after. */
	sluice_submit_now(&net_events, e);
}

#endif /* SLUICE_DNS_BPF_H */
