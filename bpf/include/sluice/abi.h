/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * THE shared ABI between the sluice BPF probes and the sluiced agent.
 *
 * Rules (shared/DESIGN.md §3):
 *  - only fixed-width __u8..__u64 / __s* types, no pointers, no bool, no enums as field types
 *    (enum *values* below are fixed and never renumbered: recorded streams depend on them);
 *  - every struct is padded explicitly so that BPF (clang -target bpf) and the host compiler agree;
 *    the C++ side static_asserts sizes and offsets in agent/events/abi_check.h;
 *  - a change that alters a layout bumps SLUICE_ABI_VERSION.
 *
 * Included by BPF C (after vmlinux.h, which provides __u*) and by C++ (after <linux/types.h>).
 */
#ifndef SLUICE_ABI_H
#define SLUICE_ABI_H

#define SLUICE_ABI_VERSION 7

/* Limits shared by both sides. */
#define SLUICE_MAX_WORKLOADS 64     /* workload ids are bit positions in a __u64 mask */
#define SLUICE_MAX_PORT_RANGES 16   /* port ranges per (workload, destination prefix) */
#define SLUICE_PATH_MAX 256         /* bytes of an exec filename kept in an event */
#define SLUICE_COMM_LEN 16
#define SLUICE_NO_WORKLOAD 0xffffffffu
#define SLUICE_ARGS_MAX 128         /* bytes of argv (NUL-separated) kept in an exec event */
#define SLUICE_DNS_MAX 512          /* bytes of a DNS answer copied to the agent (RFC 1035 UDP) */
#define SLUICE_TLS_CAPTURE_MAX 4096 /* hard cap on plaintext bytes per TLS call sent to the agent */
#define SLUICE_MAX_FILE_CLASSES 32  /* sensitive file class ids are 1..31; 0 = none */
/* The fd probes' gate (fd_holder_adds, fd_holder_drops): its slots, and a process's slot, which
 * the kernel (adds) and the agent (drops) must compute alike. */
#define SLUICE_HOLDER_SLOTS 16384
#define SLUICE_HOLDER_SLOT(tgid) ((tgid) & (SLUICE_HOLDER_SLOTS - 1))
/* The packet hooks' gate of `flows` (flow_slot_live, flow_slot_reap): the same, by cookie. */
#define SLUICE_FLOW_SLOTS 16384
#define SLUICE_FLOW_SLOT(cookie) ((__u32)(cookie) & (SLUICE_FLOW_SLOTS - 1))

/* Event types: the first __u32 of every ring record. Values are fixed forever. */
enum sluice_event_type {
	SLUICE_EV_EXEC = 1,
	SLUICE_EV_EXIT = 2,
	SLUICE_EV_CONNECT = 3,
	SLUICE_EV_CGROUP_MKDIR = 4,
	SLUICE_EV_FORK = 5,
	SLUICE_EV_FLOW = 6,
	SLUICE_EV_DNS = 7,
	SLUICE_EV_FILE_OPEN = 8,
	SLUICE_EV_TLS = 9,
	SLUICE_EV_PAYLOAD = 10,
	SLUICE_EV_TYPE_MAX = 11, /* one past the last; sizes the loss counters */
};

/* What the enforcement hook decided for a connect attempt. */
enum sluice_verdict {
	SLUICE_VERDICT_NONE = 0,        /* enforcement hook did not run (not attached / not seen) */
	SLUICE_VERDICT_ALLOW = 1,       /* destination is on the workload's allowlist */
	SLUICE_VERDICT_WOULD_DENY = 2,  /* not allowed, workload not armed: monitor only */
	SLUICE_VERDICT_DENY = 3,        /* not allowed, armed: connect() got EPERM in the kernel */
	SLUICE_VERDICT_EXEMPT = 4,      /* loopback: never enforced by default */
};

/* Address families as the kernel defines them (AF_INET / AF_INET6). */
#define SLUICE_AF_INET 2
#define SLUICE_AF_INET6 10

/* sluice_connect_event.flags */
#define SLUICE_CONNECT_F_HAS_RESULT 0x1   /* ret holds the syscall's return value */
#define SLUICE_CONNECT_F_FROM_HOOK 0x2    /* emitted by the cgroup hook (no syscall tracepoint seen) */

/* sluice_workload_cfg.flags */
#define SLUICE_WL_F_ENFORCE 0x1           /* armed: deny what is not allowed */
#define SLUICE_WL_F_ENFORCE_LOOPBACK 0x2  /* loopback destinations are not exempt */
/* Quarantined (an operator or a rule contained the workload): deny everything but the exempt
 * destinations and the workload's quarantine allowlist, whatever its mode and the --mode ceiling.
 * The quarantine allowlist lives in egress_allow under workload_id | SLUICE_ALLOW_QUARANTINE. */
#define SLUICE_WL_F_QUARANTINE 0x4
#define SLUICE_ALLOW_QUARANTINE 0x80000000u

/* Common header of every ring record. 32 bytes. */
struct sluice_event_header {
	__u32 type;       /* enum sluice_event_type */
	__u32 size;       /* total record size in bytes, header included */
	__u64 ts_ns;      /* bpf_ktime_get_boot_ns() */
	__u32 pid;        /* tgid */
	__u32 tid;
	__u64 cgroup_id;  /* cgroup v2 id of the task (inode number of its cgroup directory) */
};

/* Process exec. 464 bytes. */
struct sluice_exec_event {
	struct sluice_event_header hdr;
	__u32 ppid;
	__u32 uid;
	__u64 exe_ino;
	__u32 exe_dev;    /* new_encode_dev() form, as st_dev from stat(2) */
	__u32 workload_id;/* SLUICE_NO_WORKLOAD when none matched in the kernel */
	char comm[SLUICE_COMM_LEN];
	char filename[SLUICE_PATH_MAX]; /* NUL-terminated, possibly truncated */
	__u32 args_len;   /* bytes used in args */
	__u32 args_total; /* bytes of the whole argv area (args_len < args_total: truncated) */
	char args[SLUICE_ARGS_MAX];     /* argv prefix, NUL-separated, possibly truncated */
};

/* Process exit (thread group leader only). 40 bytes. */
struct sluice_exit_event {
	struct sluice_event_header hdr;
	__s32 exit_code;
	__u32 _pad;
};

/* Connect attempt and (when seen) its result. 64 bytes. */
struct sluice_connect_event {
	struct sluice_event_header hdr;
	__u32 workload_id;
	__s32 ret;        /* syscall return (0, -EINPROGRESS, -EPERM, ...) if F_HAS_RESULT */
	__u16 family;     /* SLUICE_AF_INET / SLUICE_AF_INET6 */
	__u16 dport;      /* host byte order */
	__u8 verdict;     /* enum sluice_verdict */
	__u8 protocol;    /* IPPROTO_TCP / IPPROTO_UDP when known by the hook, else 0 */
	__u16 flags;      /* SLUICE_CONNECT_F_* */
	__u8 daddr[16];   /* IPv4 as v4-mapped IPv6 (::ffff:a.b.c.d), network byte order */
};

/* A cgroup was created: the agent matches its path against workload selectors. 288 bytes. */
struct sluice_cgroup_event {
	struct sluice_event_header hdr;
	char path[SLUICE_PATH_MAX];   /* path relative to the cgroup v2 root, from the tracepoint */
};

/* A new task. hdr.pid is the parent process. 40 bytes. */
struct sluice_fork_event {
	struct sluice_event_header hdr;
	__u32 child_pid;
	__u32 flags;      /* SLUICE_FORK_F_* */
};
#define SLUICE_FORK_F_MAYBE_THREAD 0x1  /* fallback hook: cannot tell a thread from a process */
#define SLUICE_FORK_F_WATCHED 0x2       /* the parent belongs to a watched workload */

/* sluice_flow_event.kind */
enum sluice_flow_kind {
	SLUICE_FLOW_CONNECTED = 1,  /* active TCP open reached ESTABLISHED */
	SLUICE_FLOW_ACCEPTED = 2,   /* passive TCP open handed to the process by accept() */
	SLUICE_FLOW_UDP = 3,        /* first datagram of a UDP socket of a watched workload */
	SLUICE_FLOW_CLOSED = 4,     /* final totals; the agent reaps the flow map entry */
};

/* sluice_flow.flags */
#define SLUICE_FLOW_F_CLOSED 0x1     /* totals are final; the agent may delete the entry */
#define SLUICE_FLOW_F_INBOUND 0x2    /* accepted (the peer opened it) */
#define SLUICE_FLOW_F_ESTABLISHED 0x4
#define SLUICE_FLOW_F_PAYLOAD_SEEN 0x8  /* the first payload prefix was sent to the agent */
/* Only in a CLOSED record: the record carries the final totals and the kernel deleted the map
 * entry (the reservation succeeded). Without it the entry stays for the agent to reap. */
#define SLUICE_FLOW_F_RELEASED 0x10

/* A flow of a watched workload: value of the `flows` map, keyed by socket cookie. The byte totals
 * live here (not in ring records) so they stay exact when records are lost. TCP totals are the
 * kernel's own counters (bytes_acked / bytes_received of the tcp_sock), UDP totals are payload
 * bytes counted at cgroup_skb. 88 bytes. */
struct sluice_flow {
	__u64 cgroup_id;
	__u64 start_ns;
	__u64 end_ns;       /* 0 while open */
	__u64 bytes_out;
	__u64 bytes_in;
	__u32 pid;          /* owner (connect/accept/first send); 0 when not yet known */
	__u32 workload_id;
	__u16 family;       /* SLUICE_AF_* of the socket */
	__u16 sport;        /* host byte order */
	__u16 dport;        /* host byte order (the peer's port) */
	__u8 protocol;      /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 flags;         /* SLUICE_FLOW_F_* */
	__u8 saddr[16];     /* local address, v4-mapped for IPv4 */
	__u8 daddr[16];     /* peer address, v4-mapped for IPv4 */
};

/* Flow lifecycle notification; the map entry is the source of truth. 136 bytes. */
struct sluice_flow_event {
	struct sluice_event_header hdr;
	__u64 cookie;
	__u32 kind;         /* enum sluice_flow_kind */
	__u32 _pad;
	struct sluice_flow flow;
};

/* A DNS answer (UDP source port 53) delivered to a local socket, copied for the agent's parser.
 * hdr.pid/tid are 0 (softirq); hdr.cgroup_id is the receiving socket's cgroup. 576 bytes. */
struct sluice_dns_event {
	struct sluice_event_header hdr;
	__u64 cookie;       /* receiving socket */
	__u16 family;
	__u16 len;          /* bytes of payload valid (<= SLUICE_DNS_MAX) */
	__u16 wire_len;     /* UDP payload length on the wire (may exceed len) */
	__u16 _pad;
	__u8 server[16];    /* resolver address, v4-mapped for IPv4 */
	__u8 payload[SLUICE_DNS_MAX];
};

/* A watched process opened a sensitive file (by path prefix or by a known inode). 320 bytes. */
struct sluice_file_open_event {
	struct sluice_event_header hdr;
	__u64 ino;
	__u32 dev;          /* st_dev encoding */
	__s32 fd;
	__u32 open_flags;
	__u32 class_id;     /* 1..SLUICE_MAX_FILE_CLASSES-1 */
	__u32 workload_id;
	__u32 matched_by;   /* SLUICE_FILE_MATCH_* */
	char path[SLUICE_PATH_MAX];  /* as passed to open (may be relative) */
};
#define SLUICE_FILE_MATCH_PATH 1
#define SLUICE_FILE_MATCH_INODE 2
/* By inode, at an io_uring completion (file.bpf.c): `path` is the file's name only. */
#define SLUICE_FILE_MATCH_IO_URING 3

/* Per (process, file) read totals: value of `file_io`, kept until the agent reaps the process.
 * 56 bytes. */
struct sluice_file_io {
	__u64 bytes_read;   /* read/pread/readv/preadv, sendfile, splice, copy_file_range */
	__u64 bytes_mapped; /* mmap lengths */
	__u64 calls;
	__u64 last_ns;
	__u32 class_id;
	__u32 workload_id;
	__u64 last_open_ns;    /* when the last file_open record of this (process, file) was sent */
	__u32 last_open_flags; /* and the open flags it carried */
	__u32 _pad;
};
/* A reopen of a file by a process that has it in `file_io` sends a file_open record only when
 * its flags differ from the last record's or this much time has passed since (see file.bpf.c). */
#define SLUICE_REOPEN_RECORD_NS 1000000000ULL

struct sluice_file_io_key {
	__u32 tgid;
	__u32 dev;
	__u64 ino;
};

/* An open sensitive file descriptor (key of `open_files`). */
struct sluice_fd_key {
	__u32 tgid;
	__s32 fd;
};

/* Sensitive path prefix: LPM trie over path bytes; prefixlen = 8 * prefix length. */
struct sluice_path_key {
	__u32 prefixlen;
	__u8 path[SLUICE_PATH_MAX];
};

struct sluice_file_class {
	__u32 class_id;
	__u32 _pad;
};

/* TLS library call direction / library. */
#define SLUICE_TLS_DIR_WRITE 1
#define SLUICE_TLS_DIR_READ 2
#define SLUICE_TLS_LIB_OPENSSL 1
#define SLUICE_TLS_LIB_GNUTLS 2

/* Plaintext prefix of one SSL write/read call of a watched process, tied to the socket the library
 * wrote to / read from. Variable size: 64 + captured bytes. The agent classifies it and drops the
 * bytes; they are never stored. */
struct sluice_tls_event {
	struct sluice_event_header hdr;
	__u64 cookie;       /* socket the call went through (0 when the fd was not a socket) */
	__s32 fd;           /* -1 when no socket syscall was seen inside the call */
	__u32 len;          /* length of the whole call (plaintext bytes) */
	__u32 captured;     /* bytes of data that follow */
	__u8 direction;     /* SLUICE_TLS_DIR_* */
	__u8 lib;           /* SLUICE_TLS_LIB_* */
	__u16 _pad;
	__u32 workload_id;
	__u32 _pad2;
	__u8 data[SLUICE_TLS_CAPTURE_MAX];
};
#define SLUICE_TLS_EVENT_HEADER_SIZE 64  /* offsetof(struct sluice_tls_event, data) */

/* First bytes of the first TCP segment with payload that a watched flow sent, taken at
 * cgroup_skb egress: whatever library (or none) produced them, so the agent can tell a TLS
 * handshake from Kafka, AMQP, Redis or HTTP in the clear. hdr.pid and hdr.cgroup_id are the
 * flow's (the hook may run in softirq). The agent classifies the bytes and drops them.
 * SLUICE_PAYLOAD_PLAIN bytes are enough to name a plaintext protocol and its operation; a TLS
 * handshake record (first byte 22) gets up to SLUICE_PAYLOAD_MAX, which holds the server_name
 * of a typical ClientHello (the ClientHello is sent in the clear by design; nothing in it is
 * the application's data). 560 bytes. */
#define SLUICE_PAYLOAD_PLAIN 64
#define SLUICE_PAYLOAD_MAX 512
#define SLUICE_TLS_HANDSHAKE 22
struct sluice_payload_event {
	struct sluice_event_header hdr;
	__u64 cookie;
	__u32 len;          /* TCP payload bytes of the segment */
	__u32 captured;     /* bytes of data valid (<= SLUICE_PAYLOAD_MAX) */
	__u8 data[SLUICE_PAYLOAD_MAX];
};

/* sluice_sensor_cfg.flags */
#define SLUICE_SENSOR_F_KEEP_FLOWS 0x1  /* testing: closed flows stay in the map for the reaper,
					 * as when every close record is lost */

/* Agent-set capture configuration (slot 0 of an array). */
struct sluice_sensor_cfg {
	__u32 tls_capture;  /* bytes of plaintext per call to capture, <= SLUICE_TLS_CAPTURE_MAX */
	__u32 agent_tgid;   /* never watched */
	__u32 flags;        /* SLUICE_SENSOR_F_* */
	__u32 _pad;
};

/* ---- maps written by the agent ---- */

/* Selector bits of one cgroup (key: cgroup id). */
struct sluice_cgroup_match {
	__u64 workload_mask;  /* workloads whose cgroup glob matches this cgroup */
};

/* Selector bits of one executable (key: sluice_exe_key). */
struct sluice_exe_key {
	__u64 ino;
	__u32 dev;
	__u32 _pad;
};

struct sluice_exe_match {
	__u64 workload_mask;  /* workloads whose exe glob matches this file */
};

/* Per-process state (key: tgid), set at exec from sluice_exe_match, inherited on fork. */
struct sluice_task_match {
	__u64 workload_mask;
};

/* Global selector summary: slot 0 of an array map. */
struct sluice_selector_cfg {
	__u64 active_mask;   /* workloads that exist */
	__u64 has_cgroup;    /* workloads that have a cgroup selector */
	__u64 has_exe;       /* workloads that have an exe selector */
};

/* Per-workload enforcement settings (array indexed by workload id). */
struct sluice_workload_cfg {
	__u32 flags;  /* SLUICE_WL_F_* */
	__u32 _pad;
};

/* Egress allowlist: LPM trie keyed by (workload, destination prefix).
 * prefixlen counts the bits after the field: 32 (workload id, always whole) + address bits, where
 * IPv4 prefixes are stored v4-mapped (96 + v4 length). */
struct sluice_allow_key {
	__u32 prefixlen;
	__u32 workload_id;  /* big-endian so that trie order is the id order (only equality matters) */
	__u8 addr[16];
};

struct sluice_port_range {
	__u16 lo;  /* host byte order, inclusive */
	__u16 hi;
};

/* The port ranges allowed for a matching destination. The agent folds into each prefix the ranges
 * of every shorter prefix that contains it, so the single longest-prefix match is complete. */
struct sluice_allow_value {
	__u32 nranges;
	struct sluice_port_range ranges[SLUICE_MAX_PORT_RANGES];
};

/* Destinations no workload is ever denied (the host's DNS resolvers, the configured SIEM sinks):
 * LPM trie keyed by address (v4-mapped for IPv4), prefixlen = address bits. */
struct sluice_exempt_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* A flow the agent severed (key of `severed`: socket cookie): cgroup_skb drops every packet of
 * it both ways from then on. The kernel fills the drop fields, so the agent can tell when the
 * decision took effect. 24 bytes. */
struct sluice_sever {
	__u64 decided_ns;     /* CLOCK_BOOTTIME, written by the agent */
	__u64 first_drop_ns;  /* first packet dropped (0: none yet) */
	__u64 drops;          /* packets dropped */
};

#endif /* SLUICE_ABI_H */
