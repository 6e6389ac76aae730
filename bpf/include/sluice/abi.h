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

#define SLUICE_ABI_VERSION 1

/* Limits shared by both sides. */
#define SLUICE_MAX_WORKLOADS 64     /* workload ids are bit positions in a __u64 mask */
#define SLUICE_MAX_PORT_RANGES 16   /* port ranges per (workload, destination prefix) */
#define SLUICE_PATH_MAX 256         /* bytes of an exec filename kept in an event */
#define SLUICE_COMM_LEN 16
#define SLUICE_NO_WORKLOAD 0xffffffffu

/* Event types: the first __u32 of every ring record. Values are fixed forever. */
enum sluice_event_type {
	SLUICE_EV_EXEC = 1,
	SLUICE_EV_EXIT = 2,
	SLUICE_EV_CONNECT = 3,
	SLUICE_EV_CGROUP_MKDIR = 4,
	SLUICE_EV_TYPE_MAX = 5, /* one past the last; sizes the loss counters */
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

/* Common header of every ring record. 32 bytes. */
struct sluice_event_header {
	__u32 type;       /* enum sluice_event_type */
	__u32 size;       /* total record size in bytes, header included */
	__u64 ts_ns;      /* bpf_ktime_get_boot_ns() */
	__u32 pid;        /* tgid */
	__u32 tid;
	__u64 cgroup_id;  /* cgroup v2 id of the task (inode number of its cgroup directory) */
};

/* Process exec. 328 bytes. */
struct sluice_exec_event {
	struct sluice_event_header hdr;
	__u32 ppid;
	__u32 uid;
	__u64 exe_ino;
	__u32 exe_dev;    /* new_encode_dev() form, as st_dev from stat(2) */
	__u32 workload_id;/* SLUICE_NO_WORKLOAD when none matched in the kernel */
	char comm[SLUICE_COMM_LEN];
	char filename[SLUICE_PATH_MAX]; /* NUL-terminated, possibly truncated */
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

#endif /* SLUICE_ABI_H */
