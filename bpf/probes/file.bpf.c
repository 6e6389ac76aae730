// SPDX-License-Identifier: GPL-2.0-only
/*
 * File family: opens of sensitive files by watched workloads and the bytes read from them.
 *
 * Why these hooks: LSM file_open and fexit vfs_read are refused on the dev host (DESIGN §4
 * table), so the fallback is the syscall tracepoints: sys_enter/exit_open, openat and openat2 for
 * opens; read, pread64, readv, preadv, preadv2, sendfile64, splice, copy_file_range and mmap for
 * bytes. Cost control: only watched workloads pay for an open (path copy + LPM lookup); the read
 * probes of every other task stop at one hash lookup of (tgid, fd) in `open_files`.
 *
 * A file is sensitive when its path (as opened, absolute) falls under a configured prefix, or
 * when its inode is already known to be sensitive: the kernel adds the inode of every
 * path-matched open, and the agent seeds the inodes found under the prefixes at start, so a
 * rename, a hard link or a relative path does not hide it. Totals live in `file_io` per
 * (process, file) and are exact regardless of ring loss; the agent reaps them after exit.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "emit.bpf.h"
#include "workload.bpf.h"
#include "sock.bpf.h"

struct sluice_open_pending {
	__u32 class_id;   /* from the path match, 0 when the path matched nothing */
	__u32 workload_id;
	__u32 flags;
	__u32 _pad;
	char path[SLUICE_PATH_MAX];
};

/* Open in flight (key: pid_tgid) for watched tasks only. LRU: a task killed inside open() must
 * not leak an entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct sluice_open_pending);
} open_inflight SEC(".maps");

#define SLUICE_IO_READ 1
#define SLUICE_IO_MMAP 2

struct sluice_io_pending {
	struct sluice_file_io_key file;
	__u64 len;   /* mmap: the mapping length */
	__u32 kind;
	__u32 _pad;
};

/* Read-like call in flight on a sensitive fd (key: pid_tgid). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct sluice_io_pending);
} io_inflight SEC(".maps");

/* Scratch space too big for the 512-byte BPF stack. */
struct sluice_file_scratch {
	struct sluice_open_pending pending;
	struct sluice_path_key key;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_file_scratch);
} file_scratch SEC(".maps");

static __always_inline void sluice_enter_open(const char *upath, __u32 flags)
{
	__u32 workload = sluice_current_workload();
	if (workload == SLUICE_NO_WORKLOAD)
		return;
	__u32 zero = 0;
	struct sluice_file_scratch *s = bpf_map_lookup_elem(&file_scratch, &zero);
	if (!s)
		return;
	long n = bpf_probe_read_user_str(s->pending.path, sizeof(s->pending.path), upath);
	if (n <= 0)
		return;
	s->pending.class_id = 0;
	s->pending.workload_id = workload;
	s->pending.flags = flags;
	s->pending._pad = 0;
	if (s->pending.path[0] == '/') {
		s->key.prefixlen = (__u32)(n - 1) * 8;  /* without the NUL */
		__builtin_memcpy(s->key.path, s->pending.path, sizeof(s->key.path));
		struct sluice_file_class *c = bpf_map_lookup_elem(&sensitive_prefix, &s->key);
		if (c)
			s->pending.class_id = c->class_id;
	}
	__u64 id = bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&open_inflight, &id, &s->pending, BPF_ANY))
		sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
}

static __always_inline void sluice_exit_open(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sluice_open_pending *p = bpf_map_lookup_elem(&open_inflight, &id);
	if (!p)
		return;
	if (ret < 0)
		goto out;
	struct file *f = sluice_fd_file((int)ret);
	if (!f)
		goto out;
	struct sluice_exe_key ik = {};
	ik.ino = BPF_CORE_READ(f, f_inode, i_ino);
	ik.dev = sluice_user_dev(BPF_CORE_READ(f, f_inode, i_sb, s_dev));
	__u32 class_id = p->class_id;
	__u32 matched = SLUICE_FILE_MATCH_PATH;
	if (class_id) {
		struct sluice_file_class c = {.class_id = class_id};
		if (bpf_map_update_elem(&sensitive_inode, &ik, &c, BPF_ANY))
			sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
	} else {
		struct sluice_file_class *c = bpf_map_lookup_elem(&sensitive_inode, &ik);
		if (!c)
			goto out;
		class_id = c->class_id;
		matched = SLUICE_FILE_MATCH_INODE;
	}

	__u32 tgid = id >> 32;
	struct sluice_fd_key fk = {.tgid = tgid, .fd = (__s32)ret};
	struct sluice_file_io_key iok = {.tgid = tgid, .dev = ik.dev, .ino = ik.ino};
	if (bpf_map_update_elem(&open_files, &fk, &iok, BPF_ANY))
		sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
	struct sluice_file_io io = {.class_id = class_id, .workload_id = p->workload_id};
	int err = bpf_map_update_elem(&file_io, &iok, &io, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: reopened, keep counting */)
		sluice_count(&map_full, SLUICE_EV_FILE_OPEN);

	struct sluice_file_open_event *e =
		sluice_reserve(&file_events, sizeof(*e), SLUICE_EV_FILE_OPEN);
	if (e) {
		sluice_fill_header(&e->hdr, SLUICE_EV_FILE_OPEN, sizeof(*e));
		e->ino = ik.ino;
		e->dev = ik.dev;
		e->fd = (__s32)ret;
		e->open_flags = p->flags;
		e->class_id = class_id;
		e->workload_id = p->workload_id;
		e->matched_by = matched;
		__builtin_memcpy(e->path, p->path, sizeof(e->path));
		sluice_submit(&file_events, e);
	}
out:
	bpf_map_delete_elem(&open_inflight, &id);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int sluice_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	sluice_enter_open((const char *)BPF_CORE_READ(ctx, args[1]), (__u32)BPF_CORE_READ(ctx, args[2]));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int sluice_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	sluice_exit_open(BPF_CORE_READ(ctx, ret));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int sluice_enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = 0;
	bpf_probe_read_user(&flags, sizeof(flags), (void *)BPF_CORE_READ(ctx, args[2]));
	sluice_enter_open((const char *)BPF_CORE_READ(ctx, args[1]), (__u32)flags);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int sluice_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	sluice_exit_open(BPF_CORE_READ(ctx, ret));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int sluice_enter_open_legacy(struct trace_event_raw_sys_enter *ctx)
{
	sluice_enter_open((const char *)BPF_CORE_READ(ctx, args[0]), (__u32)BPF_CORE_READ(ctx, args[1]));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int sluice_exit_open_legacy(struct trace_event_raw_sys_exit *ctx)
{
	sluice_exit_open(BPF_CORE_READ(ctx, ret));
	return 0;
}

/* Entry of a read-like call: one hash lookup for everyone; a pending record only for a sensitive
 * fd. */
static __always_inline void sluice_enter_io(long fd, __u32 kind, __u64 len)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sluice_fd_key fk = {.tgid = id >> 32, .fd = (__s32)fd};
	struct sluice_file_io_key *file = bpf_map_lookup_elem(&open_files, &fk);
	if (!file)
		return;
	struct sluice_io_pending p = {.file = *file, .len = len, .kind = kind};
	if (bpf_map_update_elem(&io_inflight, &id, &p, BPF_ANY))
		sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
}

static __always_inline void sluice_exit_io(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sluice_io_pending *p = bpf_map_lookup_elem(&io_inflight, &id);
	if (!p)
		return;
	struct sluice_file_io *io = bpf_map_lookup_elem(&file_io, &p->file);
	if (io) {
		if (p->kind == SLUICE_IO_MMAP) {
			if ((unsigned long)ret < (unsigned long)-4095L)  /* not an error code */
				__sync_fetch_and_add(&io->bytes_mapped, p->len);
		} else if (ret > 0) {
			__sync_fetch_and_add(&io->bytes_read, (__u64)ret);
		}
		__sync_fetch_and_add(&io->calls, 1);
		io->last_ns = bpf_ktime_get_boot_ns();
	}
	bpf_map_delete_elem(&io_inflight, &id);
}

#define SLUICE_IO_PROBES(name, fdarg)                                              \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                \
	int sluice_enter_##name(struct trace_event_raw_sys_enter *ctx)             \
	{                                                                          \
		sluice_enter_io(BPF_CORE_READ(ctx, args[fdarg]), SLUICE_IO_READ, 0); \
		return 0;                                                          \
	}                                                                          \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                 \
	int sluice_exit_##name(struct trace_event_raw_sys_exit *ctx)               \
	{                                                                          \
		sluice_exit_io(BPF_CORE_READ(ctx, ret));                           \
		return 0;                                                          \
	}

SLUICE_IO_PROBES(read, 0)
SLUICE_IO_PROBES(pread64, 0)
SLUICE_IO_PROBES(readv, 0)
SLUICE_IO_PROBES(preadv, 0)
SLUICE_IO_PROBES(preadv2, 0)
SLUICE_IO_PROBES(sendfile64, 1)       /* (out_fd, in_fd, ...): the file is the input */
SLUICE_IO_PROBES(splice, 0)           /* (fd_in, off_in, fd_out, ...) */
SLUICE_IO_PROBES(copy_file_range, 0)  /* (fd_in, off_in, fd_out, ...) */

SEC("tracepoint/syscalls/sys_enter_mmap")
int sluice_enter_mmap(struct trace_event_raw_sys_enter *ctx)
{
	/* (addr, len, prot, flags, fd, off): a mapping of a sensitive file counts as its length. */
	long fd = BPF_CORE_READ(ctx, args[4]);
	if (fd < 0)
		return 0;  /* anonymous */
	sluice_enter_io(fd, SLUICE_IO_MMAP, BPF_CORE_READ(ctx, args[1]));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int sluice_exit_mmap(struct trace_event_raw_sys_exit *ctx)
{
	sluice_exit_io(BPF_CORE_READ(ctx, ret));
	return 0;
}

/* The fd goes away; the (process, file) totals stay in file_io for the agent. */
SEC("tracepoint/syscalls/sys_enter_close")
int sluice_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct sluice_fd_key fk = {.tgid = bpf_get_current_pid_tgid() >> 32,
				   .fd = (__s32)BPF_CORE_READ(ctx, args[0])};
	bpf_map_delete_elem(&open_files, &fk);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
