// SPDX-License-Identifier: GPL-2.0-only
/*
 * TLS family: the plaintext of TLS library calls of watched processes, tied to their socket.
 *
 * Why uprobes on the library: the payload is encrypted by the time any kernel hook sees it; the
 * library's write/read functions are the last place with plaintext. They are the most expensive
 * hook (a trap per call), so by default the agent attaches them per watched process (libbpf with
 * a pid; DESIGN §4, measured 1.00x for other processes vs 1.3x system-wide). A process that makes
 * its first TLS call before the agent has attached to it (tens of ms after its birth) is missed
 * that way; `--tls-attach system` trades the cost for coverage with the *_any write programs.
 *
 * Egress needs only the entry of SSL_write/SSL_write_ex/gnutls_record_send (buffer and length are
 * arguments). The call is tied to the socket the library writes to inside the call (struct
 * offsets inside SSL objects change across OpenSSL versions): the entry probe parks the buffer,
 * the first socket send of that thread inside the call emits the record with the socket cookie.
 * Ingress (SSL_read*, gnutls_record_recv) needs the uretprobe for the length; the socket receive
 * inside the call names the socket. The tie is its own hook family: tp_btf sock_send_length /
 * sock_recv_length where the kernel has them (socket calls only), else the fd of the
 * write/send/read/recv syscalls. Only the first `tls_capture` bytes
 * (agent-set, <= 4 KiB) are copied; the agent classifies and discards them.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "emit.bpf.h"
#include "workload.bpf.h"
#include "sock.bpf.h"
#include "inflight.bpf.h"

struct sluice_tls_pending {
	__u64 buf;          /* user pointer to the plaintext */
	__u64 len;          /* requested length */
	__u64 readbytes;    /* SSL_read_ex: user pointer to the size_t result */
	__u64 cookie;
	__s32 fd;
	__u8 direction;
	__u8 lib;
	__u8 is_ex;
	__u8 tied;       /* a read call's socket is known */
};

/* TLS call in flight (key: pid_tgid). LRU: a write call that never reached a socket must not pin
 * an entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct sluice_tls_pending);
} tls_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_tls_event);
} tls_scratch SEC(".maps");

static __always_inline void sluice_tls_enter(__u64 buf, __u64 len, __u8 dir, __u8 lib,
					     __u64 readbytes, __u8 is_ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sluice_tls_pending p = {.buf = buf, .len = len, .readbytes = readbytes,
				       .fd = -1, .direction = dir, .lib = lib, .is_ex = is_ex};
	if (sluice_inflight_put(&tls_inflight, id, &p))
		sluice_count(&map_full, SLUICE_EV_TLS);
}

static __always_inline void sluice_tls_emit(struct sluice_tls_pending *p, __u64 len)
{
	__u32 zero = 0;
	struct sluice_tls_event *e = bpf_map_lookup_elem(&tls_scratch, &zero);
	struct sluice_sensor_cfg *cfg = bpf_map_lookup_elem(&sensor_cfg, &zero);
	if (!e || !cfg)
		return;
	sluice_fill_header(&e->hdr, SLUICE_EV_TLS, 0);
	e->cookie = p->cookie;
	e->fd = p->fd;
	e->len = len > 0xffffffffULL ? 0xffffffffU : (__u32)len;
	e->direction = p->direction;
	e->lib = p->lib;
	e->_pad = 0;
	e->workload_id = sluice_current_workload();
	e->_pad2 = 0;
	__u64 want = cfg->tls_capture;
	if (want > len)
		want = len;
	/* A constant size, or a masked one (see the note on lengths in process.bpf.c). */
	__u32 n;
	if (want >= SLUICE_TLS_CAPTURE_MAX) {
		n = SLUICE_TLS_CAPTURE_MAX;
		if (bpf_probe_read_user(e->data, SLUICE_TLS_CAPTURE_MAX, (void *)p->buf))
			n = 0;
	} else {
		n = want;
		barrier_var(n);
		n &= SLUICE_TLS_CAPTURE_MAX - 1;
		if (bpf_probe_read_user(e->data, n, (void *)p->buf))
			n = 0;
	}
	e->captured = n;
	__u32 size = (SLUICE_TLS_EVENT_HEADER_SIZE + n) & (2 * SLUICE_TLS_CAPTURE_MAX - 1);
	e->hdr.size = size;
	if (size > sizeof(*e))
		return;
	if (bpf_ringbuf_output(&tls_events, e, size,
			       sluice_wakeup_flag(&tls_events, size + 8 /* ring record header */, 0)))
		sluice_count(&event_loss, SLUICE_EV_TLS);
}

/* The TLS call of thread `id` in direction `dir` that is still waiting for its socket, or NULL.
 * Every other thread stops at the gate of inflight_calls, a thread of a busy slot after one LRU
 * lookup. */
static __always_inline struct sluice_tls_pending *sluice_tls_untied(__u64 id, __u8 dir)
{
	if (sluice_inflight_none(id))
		return NULL;
	struct sluice_tls_pending *p = bpf_map_lookup_elem(&tls_inflight, &id);
	if (!p || p->direction != dir || p->tied)
		return NULL;
	return p;
}

/* The socket a write call reached: the record leaves now, with the socket's cookie. */
static __always_inline void sluice_tls_tie_write(__u64 id, struct sluice_tls_pending *p,
						 struct sock *sk, __s32 fd)
{
	struct sluice_tls_pending copy = *p;
	copy.fd = fd;
	copy.cookie = sluice_sk_cookie(sk);
	sluice_inflight_done(&tls_inflight, id);
	sluice_tls_emit(&copy, copy.len);
}

/* The socket a read call reached: kept for the return probe, which knows the length. */
static __always_inline void sluice_tls_tie_read(struct sluice_tls_pending *p, struct sock *sk,
						__s32 fd)
{
	p->fd = fd;
	p->cookie = sluice_sk_cookie(sk);
	p->tied = 1;
}

/* Fallback tie: a write/send syscall of a thread inside a TLS write call; that fd is the call's
 * socket unless it is no inet socket (a log write inside the library: keep waiting). */
static __always_inline void sluice_tls_socket_write(long fd)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sluice_tls_pending *p = sluice_tls_untied(id, SLUICE_TLS_DIR_WRITE);
	if (!p)
		return;
	struct sock *sk = sluice_file_sock(sluice_fd_file((int)fd));
	if (sk)
		sluice_tls_tie_write(id, p, sk, (__s32)fd);
}

/* Fallback tie: a read/recv syscall inside a TLS read call. */
static __always_inline void sluice_tls_socket_read(long fd)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sluice_tls_pending *p = sluice_tls_untied(id, SLUICE_TLS_DIR_READ);
	if (!p)
		return;
	struct sock *sk = sluice_file_sock(sluice_fd_file((int)fd));
	if (sk)
		sluice_tls_tie_read(p, sk, (__s32)fd);
}

/* An inet socket of the sock tracepoints, or NULL (unix, netlink ...: keep waiting). */
static __always_inline struct sock *sluice_tls_inet(struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;
	return family == SLUICE_AF_INET || family == SLUICE_AF_INET6 ? sk : NULL;
}

static __always_inline void sluice_tls_read_return(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sluice_tls_pending *p = bpf_map_lookup_elem(&tls_inflight, &id);
	if (!p || p->direction != SLUICE_TLS_DIR_READ)
		return;
	struct sluice_tls_pending copy = *p;
	sluice_inflight_done(&tls_inflight, id);
	__u64 n = 0;
	if (copy.is_ex) {
		if (ret != 1 || !copy.readbytes)
			return;
		if (bpf_probe_read_user(&n, sizeof(n), (void *)copy.readbytes))
			return;
	} else {
		if (ret <= 0)
			return;
		n = (__u64)ret;
	}
	sluice_tls_emit(&copy, n);
}

/* OpenSSL: int SSL_write(SSL *s, const void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(sluice_ssl_write, void *ssl, const void *buf, int num)
{
	if (num > 0)
		sluice_tls_enter((__u64)buf, (__u64)num, SLUICE_TLS_DIR_WRITE, SLUICE_TLS_LIB_OPENSSL, 0, 0);
	return 0;
}

/* OpenSSL: int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written) — what Python
 * and most modern callers use. */
SEC("uprobe")
int BPF_KPROBE(sluice_ssl_write_ex, void *ssl, const void *buf, size_t num)
{
	if (num > 0)
		sluice_tls_enter((__u64)buf, (__u64)num, SLUICE_TLS_DIR_WRITE, SLUICE_TLS_LIB_OPENSSL, 0, 1);
	return 0;
}

/* GnuTLS: ssize_t gnutls_record_send(gnutls_session_t, const void *data, size_t size) */
SEC("uprobe")
int BPF_KPROBE(sluice_gnutls_send, void *session, const void *data, size_t size)
{
	if (size > 0)
		sluice_tls_enter((__u64)data, (__u64)size, SLUICE_TLS_DIR_WRITE, SLUICE_TLS_LIB_GNUTLS, 0, 0);
	return 0;
}

/* System-wide variants of the three write entries (sluiced --tls-attach system): attached once
 * with no pid, so a process is covered from its first call however soon after its birth it makes
 * it, at the price of a trap per call in every process of the host that uses the library. The
 * workload check keeps everyone else to that trap plus two hash lookups. */
SEC("uprobe")
int BPF_KPROBE(sluice_ssl_write_any, void *ssl, const void *buf, int num)
{
	if (num > 0 && sluice_current_workload() != SLUICE_NO_WORKLOAD)
		sluice_tls_enter((__u64)buf, (__u64)num, SLUICE_TLS_DIR_WRITE, SLUICE_TLS_LIB_OPENSSL, 0, 0);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(sluice_ssl_write_ex_any, void *ssl, const void *buf, size_t num)
{
	if (num > 0 && sluice_current_workload() != SLUICE_NO_WORKLOAD)
		sluice_tls_enter((__u64)buf, (__u64)num, SLUICE_TLS_DIR_WRITE, SLUICE_TLS_LIB_OPENSSL, 0, 1);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(sluice_gnutls_send_any, void *session, const void *data, size_t size)
{
	if (size > 0 && sluice_current_workload() != SLUICE_NO_WORKLOAD)
		sluice_tls_enter((__u64)data, (__u64)size, SLUICE_TLS_DIR_WRITE, SLUICE_TLS_LIB_GNUTLS, 0, 0);
	return 0;
}

/* OpenSSL: int SSL_read(SSL *s, void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(sluice_ssl_read, void *ssl, void *buf, int num)
{
	sluice_tls_enter((__u64)buf, (__u64)num, SLUICE_TLS_DIR_READ, SLUICE_TLS_LIB_OPENSSL, 0, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(sluice_ssl_read_ret, int ret)
{
	sluice_tls_read_return(ret);
	return 0;
}

/* OpenSSL: int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes) */
SEC("uprobe")
int BPF_KPROBE(sluice_ssl_read_ex, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	sluice_tls_enter((__u64)buf, (__u64)num, SLUICE_TLS_DIR_READ, SLUICE_TLS_LIB_OPENSSL,
			 (__u64)readbytes, 1);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(sluice_ssl_read_ex_ret, int ret)
{
	sluice_tls_read_return(ret);
	return 0;
}

/* GnuTLS: ssize_t gnutls_record_recv(gnutls_session_t, void *data, size_t size) */
SEC("uprobe")
int BPF_KPROBE(sluice_gnutls_recv, void *session, void *data, size_t size)
{
	sluice_tls_enter((__u64)data, (__u64)size, SLUICE_TLS_DIR_READ, SLUICE_TLS_LIB_GNUTLS, 0, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(sluice_gnutls_recv_ret, long ret)
{
	sluice_tls_read_return(ret);
	return 0;
}

/* Preferred tie (kernels with the sock tracepoints, 6.3 and later): sock_send_length and
 * sock_recv_length fire inside sock_sendmsg/sock_recvmsg, in the caller's context, for sockets
 * only, once the call has its result; the socket is an argument. The fallback below hooks the
 * write/read/send/recv syscalls, so every write to a file or a pipe by every process on the host
 * ran a program (bench/syscalls: write 148 -> 210 ns, a third program on each read); here only
 * socket calls do, and they stop at the inflight gate unless their thread is inside a TLS call.
 * The fd is not known at this layer: the records carry the socket cookie alone (fd -1). */
SEC("tp_btf/sock_send_length")
int BPF_PROG(sluice_tls_send_btf, struct sock *sk, int ret, int flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sluice_tls_pending *p = sluice_tls_untied(id, SLUICE_TLS_DIR_WRITE);
	if (p && sluice_tls_inet(sk))
		sluice_tls_tie_write(id, p, sk, -1);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sluice_tls_recv_btf, struct sock *sk, int ret, int flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sluice_tls_pending *p = sluice_tls_untied(id, SLUICE_TLS_DIR_READ);
	if (p && sluice_tls_inet(sk))
		sluice_tls_tie_read(p, sk, -1);
	return 0;
}

/* Fallback: the socket syscalls a TLS library makes inside a call. */
#define SLUICE_TLS_SYSCALL(name, fn)                                        \
	SEC("tracepoint/syscalls/sys_enter_" #name)                         \
	int sluice_tls_##name(struct trace_event_raw_sys_enter *ctx)        \
	{                                                                   \
		fn(ctx->args[0]);                                           \
		return 0;                                                   \
	}

SLUICE_TLS_SYSCALL(write, sluice_tls_socket_write)
SLUICE_TLS_SYSCALL(writev, sluice_tls_socket_write)
SLUICE_TLS_SYSCALL(sendto, sluice_tls_socket_write)
SLUICE_TLS_SYSCALL(sendmsg, sluice_tls_socket_write)
SLUICE_TLS_SYSCALL(read, sluice_tls_socket_read)
SLUICE_TLS_SYSCALL(readv, sluice_tls_socket_read)
SLUICE_TLS_SYSCALL(recvfrom, sluice_tls_socket_read)
SLUICE_TLS_SYSCALL(recvmsg, sluice_tls_socket_read)

char LICENSE[] SEC("license") = "GPL";
