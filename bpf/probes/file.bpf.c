// SPDX-License-Identifier: GPL-2.0-only
/*
 * File family: opens of sensitive files by watched workloads and the bytes read from them.
 *
 * Why these hooks (DESIGN §4 table; the agent's feature probe picks per family, agent/bpf/
 * hook_probe.h):
 * - open: LSM file_open where the BPF LSM is active. It sees the opened file itself, so the path
 *   matched is the resolved absolute one (bpf_d_path: no relative path, `..` or symlink games)
 *   and no user memory is copied. The fd is only known when the syscall returns, so the
 *   sys_exit_open* tracepoints stay and check that the fd holds the very file LSM saw.
 *   Fallback: the sys_exit_open/openat/openat2 tracepoints alone, which read the path as the
 *   caller passed it from the saved registers (syscall_args.bpf.h), once the fd is known.
 * - read: fexit vfs_read / vfs_readv, one program run per call that keys the totals by the file's
 *   inode (no fd bookkeeping). Fallback: the sys_exit tracepoints of read, pread64, readv, preadv
 *   and preadv2, the fd taken from the saved registers.
 * - sendfile64, splice, copy_file_range, mmap, dup* and fcntl: their sys_exit tracepoints on
 *   every kernel (no hook tells the length of a mapping or the input of a splice more cheaply).
 *   Each syscall fallback is one program, at the exit: an enter program would cost every call
 *   on the host a second run (~40 ns) and a watched one a hash update and delete to carry the
 *   arguments across.
 * - fork (a child inherits the fds): tp_btf sched_process_fork, which has the child task and so
 *   tells a new thread (nothing to copy) from a new process. Fallback: the classic tracepoint.
 * - io_uring reads and opens, which none of the above sees: the io_uring:io_uring_complete
 *   tracepoint on every kernel (see there).
 * Cost control: only watched workloads pay for an open (path + LPM lookup); the fd probes (reads,
 * mmap, dup, fcntl, close) of every process that holds no sensitive fd stop at the gate of
 * fd_holder_adds/_drops (two array loads instead of a hash lookup: bench/syscalls); fexit reads
 * stop at one lookup of `file_io` by inode.
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
#include "inflight.bpf.h"
#include "syscall_args.bpf.h"
#include <bpf/bpf_tracing.h>

struct sluice_open_pending {
	__u64 file;       /* the struct file LSM file_open saw; 0 from the syscall fallback */
	__u32 class_id;   /* from the path match, 0 when the path matched nothing */
	__u32 workload_id;
	__u32 flags;
	__u32 matched_by;  /* SLUICE_FILE_MATCH_* of the record */
	char path[SLUICE_PATH_MAX];
};

/* Open in flight from LSM file_open to the syscall's exit (key: pid_tgid), for watched tasks
 * only; the syscall fallback needs none. A plain hash, not an LRU: an LRU update and delete took
 * ~150 ns more per call on the dev host, and an LRU would silently evict a live entry (an open
 * under way, its file then uncounted) where a full hash says map-full. An entry whose exit never
 * comes (LSM file_open parks one for an exec's open of the binary, and a static binary may never
 * open again) is swept by the agent's reaper once its thread is gone; the next open of a live
 * thread replaces it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct sluice_open_pending);
} open_inflight SEC(".maps");

#define SLUICE_IO_READ 1
#define SLUICE_IO_MMAP 2

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

/* Slot 0 is set once fd_holders was full: from then on every fork walks open_files, as before
 * that map existed, rather than miss a holder it had no room for. A map, not a global: pinned
 * with fd_holders, so the programs of an upgraded agent, which adopt that map, know it too. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fd_holders_full SEC(".maps");

/* `tgid` now holds a sensitive fd (see fd_holders). Counted in its gate slot when added, and
 * also when the map is full: that slot then stays open for good (the safe direction). */
static __always_inline void sluice_hold_fd(__u32 tgid)
{
	__u32 one = 1;
	if (bpf_map_lookup_elem(&fd_holders, &tgid))
		return;
	int err = bpf_map_update_elem(&fd_holders, &tgid, &one, BPF_NOEXIST);
	if (err == -17 /* EEXIST: another thread of the process, just now */)
		return;
	sluice_slot_add(&fd_holder_adds, SLUICE_HOLDER_SLOT(tgid), 1);
	if (err) {
		__u32 zero = 0;
		__u32 *full = bpf_map_lookup_elem(&fd_holders_full, &zero);
		if (full)
			*full = 1;
		sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
	}
}

/* Whether `tgid` may hold a sensitive fd: false for nearly every process on the host, answered
 * without a hash lookup (see fd_holder_adds). Only holders have open_files entries, and a holder
 * stays one until the agent sees its process gone. */
static __always_inline int sluice_may_hold_fd(__u32 tgid)
{
	return sluice_gate_open(&fd_holder_adds, &fd_holder_drops, SLUICE_HOLDER_SLOT(tgid));
}

/* Matches the path (n bytes with its NUL) against the prefixes: fills s->pending. */
static __always_inline void sluice_open_match(struct sluice_file_scratch *s, long n,
					      __u32 workload, __u32 flags, __u64 file)
{
	s->pending.file = file;
	s->pending.class_id = 0;
	s->pending.workload_id = workload;
	s->pending.flags = flags;
	s->pending.matched_by = SLUICE_FILE_MATCH_INODE;
	if (n > 0 && s->pending.path[0] == '/') {
		s->key.prefixlen = (__u32)(n - 1) * 8;  /* without the NUL */
		__builtin_memcpy(s->key.path, s->pending.path, sizeof(s->key.path));
		struct sluice_file_class *c = bpf_map_lookup_elem(&sensitive_prefix, &s->key);
		if (c) {
			s->pending.class_id = c->class_id;
			s->pending.matched_by = SLUICE_FILE_MATCH_PATH;
		}
	}
}

/* Preferred open hook. Runs for every open in the kernel (exec of a binary too): the record is
 * used only by an open syscall's exit whose new fd holds this file; a stale one is replaced by
 * the next open or dropped by that exit. Always allows the open (returns 0). */
SEC("lsm/file_open")
int BPF_PROG(sluice_lsm_file_open, struct file *file)
{
	__u32 workload = sluice_current_workload();
	if (workload == SLUICE_NO_WORKLOAD)
		return 0;
	__u32 zero = 0;
	struct sluice_file_scratch *s = bpf_map_lookup_elem(&file_scratch, &zero);
	if (!s)
		return 0;
	long n = bpf_d_path((struct path *)&file->f_path, s->pending.path, sizeof(s->pending.path));
	if (n <= 0)
		s->pending.path[0] = 0;  /* too long: the inode check still applies */
	sluice_open_match(s, n, workload, file->f_flags, (__u64)file);
	/* Parked for the open syscall's exit, which knows the fd. */
	if (sluice_inflight_put(&open_inflight, bpf_get_current_pid_tgid(), &s->pending))
		sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
	return 0;
}

/* A reopen keeps counting into its totals, and its record would tell the agent only what the
 * first one did (the process, the file, its class) and the totals will (the bytes). A process
 * that reopens a file in a loop (a cache poller; ~300k times a second in bench/overhead's files
 * workload) sent one record per open, more than the ring holds between two drains (under 3 ms
 * of them at that rate), and lost records of other files to the full ring. So a reopen sends one
 * only when its flags differ from the last record's (a read-only file now opened for writing) or
 * a second has passed; the path of a reopen by another name within that second is the one
 * record not sent. True when the reopen of `io` with `flags` at `now` sends none. */
static __always_inline int sluice_reopen_is_quiet(const struct sluice_file_io *io, __u32 flags,
						  __u64 now)
{
	return io->last_open_flags == flags && now - io->last_open_ns < SLUICE_REOPEN_RECORD_NS;
}

/* The (dev, inode) key of `inode`, read through probe reads (`inode` need not be a BTF pointer). */
static __always_inline struct sluice_exe_key sluice_inode_key(struct inode *inode)
{
	struct sluice_exe_key k = {
		.ino = BPF_CORE_READ(inode, i_ino),
		.dev = sluice_user_dev(BPF_CORE_READ(inode, i_sb, s_dev)),
	};
	return k;
}

/* The file behind the fd an open returned, its (dev, inode) in `ik`; NULL when there is none, or
 * when `expect` (the file LSM file_open saw, 0 for none) is another file: not this open's (e.g.
 * one left by an exec). */
static __always_inline struct file *sluice_opened_file(long fd, __u64 expect,
						      struct sluice_exe_key *ik)
{
	struct file *f = sluice_fd_file((int)fd);
	if (!f || (expect && expect != (__u64)f))
		return NULL;
	*ik = sluice_inode_key(BPF_CORE_READ(f, f_inode));
	return f;
}

/* Levels of directories above a file that sluice_dir_class looks at. */
#define SLUICE_DIR_WALK_MAX 24

/* The class of the closest configured prefix directory above file `f` (sensitive_dir), or NULL:
 * for a file no path names (a relative open, an io_uring open) and no inode entry knows, such as
 * one created below a prefix after the agent started. Parents are followed across mounts (a
 * mount's root goes on at its mountpoint in the parent mount), up to SLUICE_DIR_WALK_MAX levels;
 * each level is a few probe reads and a lookup. */
static __always_inline struct sluice_file_class *sluice_dir_class(struct file *f)
{
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	struct vfsmount *vm = BPF_CORE_READ(f, f_path.mnt);
	struct mount *m = (void *)((__u64)vm - bpf_core_field_offset(struct mount, mnt));
	for (int i = 0; i < SLUICE_DIR_WALK_MAX; i++) {
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (d == BPF_CORE_READ(m, mnt.mnt_root) || parent == d) {
			/* The root of its mount: on at the mountpoint, unless this is the top. */
			struct mount *up = BPF_CORE_READ(m, mnt_parent);
			if (!up || up == m)
				return NULL;
			d = BPF_CORE_READ(m, mnt_mountpoint);
			m = up;
			continue;  /* the mountpoint is the directory that holds the mount */
		}
		d = parent;
		struct sluice_exe_key k = sluice_inode_key(BPF_CORE_READ(d, d_inode));
		struct sluice_file_class *c = bpf_map_lookup_elem(&sensitive_dir, &k);
		if (c)
			return c;
	}
	return NULL;
}

/* The record of a newly counted (process, file): `fd` -1 when no fd was opened for it (a read
 * seen at an io_uring completion). */
static __always_inline void sluice_file_open_record(const struct sluice_exe_key *ik, __s32 fd,
						    __u32 flags, __u32 class_id, __u32 workload,
						    __u32 matched, const char *path)
{
	struct sluice_file_open_event *e =
		sluice_reserve(&file_events, sizeof(*e), SLUICE_EV_FILE_OPEN);
	if (!e)
		return;
	sluice_fill_header(&e->hdr, SLUICE_EV_FILE_OPEN, sizeof(*e));
	e->ino = ik->ino;
	e->dev = ik->dev;
	e->fd = fd;
	e->open_flags = flags;
	e->class_id = class_id;
	e->workload_id = workload;
	e->matched_by = matched;
	__builtin_memcpy(e->path, path, sizeof(e->path));
	sluice_submit(&file_events, e);
}

/* An open of thread `id` returned fd `ret`, the file `ik` (`known`: its sensitive_inode entry,
 * if any); `p` says how it was opened and what its path (or its directory) matched. */
static __always_inline void sluice_open_done(__u64 id, long ret, const struct sluice_exe_key *ik,
					     struct sluice_file_class *known,
					     const struct sluice_open_pending *p)
{
	__u32 class_id = p->class_id;
	__u32 matched = p->matched_by;
	if (class_id) {
		/* Known already (a reopen): no update, which would allocate a new element. */
		struct sluice_file_class c = {.class_id = class_id};
		if ((!known || known->class_id != class_id) &&
		    bpf_map_update_elem(&sensitive_inode, ik, &c, BPF_ANY))
			sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
	} else {
		if (!known)
			return;
		class_id = known->class_id;
	}

	__u32 tgid = id >> 32;
	struct sluice_fd_key fk = {.tgid = tgid, .fd = (__s32)ret};
	struct sluice_file_io_key iok = {.tgid = tgid, .dev = ik->dev, .ino = ik->ino};
	sluice_hold_fd(tgid);  /* the gate opens before the fd is in open_files */
	if (bpf_map_update_elem(&open_files, &fk, &iok, BPF_ANY))
		sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
	__u64 now = bpf_ktime_get_boot_ns();
	struct sluice_file_io *io = bpf_map_lookup_elem(&file_io, &iok);
	if (io) {
		if (sluice_reopen_is_quiet(io, p->flags, now))
			return;
		io->last_open_ns = now;
		io->last_open_flags = p->flags;
	} else {
		struct sluice_file_io first = {.class_id = class_id, .workload_id = p->workload_id,
					       .last_open_ns = now, .last_open_flags = p->flags};
		int err = bpf_map_update_elem(&file_io, &iok, &first, BPF_NOEXIST);
		if (err && err != -17 /* EEXIST: another thread opened it just now */)
			sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
	}

	sluice_file_open_record(ik, (__s32)ret, p->flags, class_id, p->workload_id, matched, p->path);
}

/* With LSM file_open: the exit finishes the open that hook parked. Returns whether the fd holds
 * the file LSM saw (the open was this one). */
static __always_inline int sluice_exit_open_parked(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (sluice_inflight_none(id))
		return 0;
	struct sluice_open_pending *p = bpf_map_lookup_elem(&open_inflight, &id);
	if (!p)
		return 0;
	struct sluice_exe_key ik = {};
	int mine = ret >= 0 && sluice_opened_file(ret, p->file, &ik) != NULL;
	if (mine)
		sluice_open_done(id, ret, &ik, bpf_map_lookup_elem(&sensitive_inode, &ik), p);
	sluice_inflight_done(&open_inflight, id);
	return mine;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int sluice_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	sluice_exit_open_parked(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int sluice_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	sluice_exit_open_parked(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int sluice_exit_open_legacy(struct trace_event_raw_sys_exit *ctx)
{
	sluice_exit_open_parked(ctx->ret);
	return 0;
}

/* A quiet reopen (sluice_reopen_is_quiet) of a file this process already counts: only the new
 * fd is noted. Decided before the path is read and matched, which such a reopen does not need. */
static __always_inline int sluice_quiet_reopen(__u64 id, long fd, const struct sluice_exe_key *ik,
					       __u32 flags)
{
	__u32 tgid = id >> 32;
	struct sluice_file_io_key iok = {.tgid = tgid, .dev = ik->dev, .ino = ik->ino};
	struct sluice_file_io *io = bpf_map_lookup_elem(&file_io, &iok);
	if (!io || !sluice_reopen_is_quiet(io, flags, bpf_ktime_get_boot_ns()))
		return 0;
	struct sluice_fd_key fk = {.tgid = tgid, .fd = (__s32)fd};
	sluice_hold_fd(tgid);
	if (bpf_map_update_elem(&open_files, &fk, &iok, BPF_ANY))
		sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
	return 1;
}

/* Fallback: the exit alone, the path as the caller passed it, read from its memory once the
 * call has returned (syscall_args.bpf.h). No enter program and no open in flight: every open on
 * the host runs one program instead of two, a watched one parks nothing in a hash. A relative
 * path or one too long to read still counts when the fd's inode is known to be sensitive, or
 * when the file lies below a prefix directory (a file created there since the agent started). */
static __always_inline void sluice_exit_open_path(long ret, const char *upath, __u32 flags)
{
	if (ret < 0)
		return;
	__u32 workload = sluice_current_workload();
	if (workload == SLUICE_NO_WORKLOAD)
		return;
	__u64 id = bpf_get_current_pid_tgid();
	struct sluice_exe_key ik = {};
	struct file *f = sluice_opened_file(ret, 0, &ik);
	if (!f)
		return;
	struct sluice_file_class *known = bpf_map_lookup_elem(&sensitive_inode, &ik);
	if (known && sluice_quiet_reopen(id, ret, &ik, flags))
		return;
	__u32 zero = 0;
	struct sluice_file_scratch *s = bpf_map_lookup_elem(&file_scratch, &zero);
	if (!s)
		return;
	long n = bpf_probe_read_user_str(s->pending.path, sizeof(s->pending.path), upath);
	if (n <= 0)
		s->pending.path[0] = 0;
	sluice_open_match(s, n, workload, flags, 0);
	if (!known && !s->pending.class_id && s->pending.path[0] != '/') {
		/* No prefix to match: where the file is decides. Only relative or unreadable paths
		 * pay for the walk; an absolute one was matched as the caller spelled it. */
		struct sluice_file_class *dir = sluice_dir_class(f);
		if (dir) {
			s->pending.class_id = dir->class_id;
			s->pending.matched_by = SLUICE_FILE_MATCH_PATH;  /* its place matched */
		}
	}
	sluice_open_done(id, ret, &ik, known, &s->pending);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int sluice_exit_openat_path(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = sluice_syscall_regs();  /* (dfd, path, flags, mode) */
	sluice_exit_open_path(ctx->ret, (const char *)SLUICE_SYSCALL_ARG2(regs),
			      (__u32)SLUICE_SYSCALL_ARG3(regs));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int sluice_exit_openat2_path(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	asm volatile("" : "+r"(ret));  /* one load of the context: the verifier refuses a second
					* through a pointer the compiler advanced */
	struct pt_regs *regs = sluice_syscall_regs();  /* (dfd, path, struct open_how *, size) */
	__u64 flags = 0;
	if (ret >= 0)
		bpf_probe_read_user(&flags, sizeof(flags), (void *)SLUICE_SYSCALL_ARG3(regs));
	sluice_exit_open_path(ret, (const char *)SLUICE_SYSCALL_ARG2(regs), (__u32)flags);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int sluice_exit_open_path_legacy(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = sluice_syscall_regs();  /* (path, flags, mode) */
	sluice_exit_open_path(ctx->ret, (const char *)SLUICE_SYSCALL_ARG1(regs),
			      (__u32)SLUICE_SYSCALL_ARG2(regs));
	return 0;
}

/* One call on a file whose totals are `io`, which read `n` bytes (none when n <= 0). */
static __always_inline void sluice_io_count(struct sluice_file_io *io, long n)
{
	if (n > 0)
		__sync_fetch_and_add(&io->bytes_read, (__u64)n);
	__sync_fetch_and_add(&io->calls, 1);
	io->last_ns = bpf_ktime_get_boot_ns();
}

/* A read-like call of the current thread on `fd` returned `ret` (fallback; the fd comes from the
 * saved registers, see syscall_args.bpf.h). Only a process past the fd gate gets here. */
static __always_inline void sluice_io_done(long fd, long ret, __u32 kind, __u64 len)
{
	struct sluice_fd_key fk = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = (__s32)fd};
	struct sluice_file_io_key *file = bpf_map_lookup_elem(&open_files, &fk);
	if (!file)
		return;
	struct sluice_file_io *io = bpf_map_lookup_elem(&file_io, file);
	if (!io)
		return;
	if (kind == SLUICE_IO_MMAP) {
		if ((unsigned long)ret < (unsigned long)-4095L)  /* not an error code */
			__sync_fetch_and_add(&io->bytes_mapped, len);
		sluice_io_count(io, 0);
	} else {
		sluice_io_count(io, ret);
	}
}

/* Preferred read hooks: the file is an argument, so its totals are found by (tgid, inode)
 * directly; every fd of it counts, inherited and duplicated ones included. */
static __always_inline void sluice_file_read(struct file *file, long ret)
{
	struct inode *inode = file->f_inode;
	struct sluice_file_io_key k = {
		.tgid = bpf_get_current_pid_tgid() >> 32,
		.dev = sluice_user_dev(inode->i_sb->s_dev),
		.ino = inode->i_ino,
	};
	struct sluice_file_io *io = bpf_map_lookup_elem(&file_io, &k);
	if (io)
		sluice_io_count(io, ret);
}

SEC("fexit/vfs_read")
int BPF_PROG(sluice_fexit_vfs_read, struct file *file, char *buf, size_t count, loff_t *pos,
	     ssize_t ret)
{
	sluice_file_read(file, ret);
	return 0;
}

SEC("fexit/vfs_readv")
int BPF_PROG(sluice_fexit_vfs_readv, struct file *file, const struct iovec *vec,
	     unsigned long vlen, loff_t *pos, rwf_t flags, ssize_t ret)
{
	sluice_file_read(file, ret);
	return 0;
}

/* Fallback read hooks: the exit tracepoint alone, which has the result and, in the saved
 * registers, the fd. Every process on the host runs it and stops at the fd gate; before, an
 * enter program ran too and parked the fd of a sensitive call in a hash for the exit. */
#define SLUICE_IO_PROBE(name, FD_ARG)                                              \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                 \
	int sluice_exit_##name(struct trace_event_raw_sys_exit *ctx)               \
	{                                                                          \
		if (!sluice_may_hold_fd(bpf_get_current_pid_tgid() >> 32))         \
			return 0;                                                  \
		struct pt_regs *regs = sluice_syscall_regs();                      \
		sluice_io_done(FD_ARG(regs), ctx->ret, SLUICE_IO_READ, 0);         \
		return 0;                                                          \
	}

SLUICE_IO_PROBE(read, SLUICE_SYSCALL_ARG1)
SLUICE_IO_PROBE(pread64, SLUICE_SYSCALL_ARG1)
SLUICE_IO_PROBE(readv, SLUICE_SYSCALL_ARG1)
SLUICE_IO_PROBE(preadv, SLUICE_SYSCALL_ARG1)
SLUICE_IO_PROBE(preadv2, SLUICE_SYSCALL_ARG1)
SLUICE_IO_PROBE(sendfile64, SLUICE_SYSCALL_ARG2)       /* (out_fd, in_fd, ...): the input */
SLUICE_IO_PROBE(splice, SLUICE_SYSCALL_ARG1)           /* (fd_in, off_in, fd_out, ...) */
SLUICE_IO_PROBE(copy_file_range, SLUICE_SYSCALL_ARG1)  /* (fd_in, off_in, fd_out, ...) */

/* A mapping of a sensitive file counts as its length. */
SEC("tracepoint/syscalls/sys_exit_mmap")
int sluice_exit_mmap(struct trace_event_raw_sys_exit *ctx)
{
	if (!sluice_may_hold_fd(bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct pt_regs *regs = sluice_syscall_regs();  /* (addr, len, prot, flags, fd, off) */
	long fd = SLUICE_SYSCALL_ARG5(regs);
	if (fd < 0 || (SLUICE_SYSCALL_ARG4(regs) & 0x20 /* MAP_ANONYMOUS: fd ignored */))
		return 0;
	sluice_io_done(fd, ctx->ret, SLUICE_IO_MMAP, SLUICE_SYSCALL_ARG2(regs));
	return 0;
}

/* fd copies keep counting: dup, dup2, dup3 and fcntl(F_DUPFD*), at their exits (the old fd from
 * the saved registers, the new one the result), so a failed copy leaves nothing. The new fd
 * takes the old one's entry, or loses its own: dup2/dup3 onto an open sensitive fd closes it
 * in the kernel without a close() call. */
static __always_inline void sluice_fd_copied(long oldfd, long newfd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (oldfd == newfd)
		return;
	struct sluice_fd_key ok = {.tgid = tgid, .fd = (__s32)oldfd};
	struct sluice_fd_key nk = {.tgid = tgid, .fd = (__s32)newfd};
	struct sluice_file_io_key *file = bpf_map_lookup_elem(&open_files, &ok);
	if (!file) {
		if (bpf_map_lookup_elem(&open_files, &nk))
			bpf_map_delete_elem(&open_files, &nk);
		return;
	}
	struct sluice_file_io_key copy = *file;
	if (bpf_map_update_elem(&open_files, &nk, &copy, BPF_ANY))
		sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
	sluice_hold_fd(tgid);
}

/* Each runs for every such call on the host: the fd gate stops nearly all. */
#define SLUICE_DUP_PROBE(name)                                                     \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                 \
	int sluice_exit_##name(struct trace_event_raw_sys_exit *ctx)               \
	{                                                                          \
		if (ctx->ret < 0 || !sluice_may_hold_fd(bpf_get_current_pid_tgid() >> 32)) \
			return 0;                                                  \
		sluice_fd_copied(SLUICE_SYSCALL_ARG1(sluice_syscall_regs()), ctx->ret); \
		return 0;                                                          \
	}

SLUICE_DUP_PROBE(dup)
SLUICE_DUP_PROBE(dup2)
SLUICE_DUP_PROBE(dup3)

SEC("tracepoint/syscalls/sys_exit_fcntl")
int sluice_exit_fcntl(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0 || !sluice_may_hold_fd(bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct pt_regs *regs = sluice_syscall_regs();  /* (fd, cmd, arg) */
	long cmd = SLUICE_SYSCALL_ARG2(regs);
	if (cmd == 0 /* F_DUPFD */ || cmd == 1030 /* F_DUPFD_CLOEXEC */)
		sluice_fd_copied(SLUICE_SYSCALL_ARG1(regs), ctx->ret);
	return 0;
}

/* io_uring. A read submitted through an io_uring never enters read(2) and friends nor vfs_read
 * (io_uring calls the file's read_iter itself), and its open never enters open(2): without this,
 * a process could read a sensitive file with neither the fallback tracepoints nor fexit vfs_read
 * seeing a byte, and a file it opened that way would stay unknown to its later read() calls.
 *
 * Why the io_uring:io_uring_complete tracepoint: it fires once per completion with the request
 * (its opcode and file say what was done) and the result (a read's byte count, an open's fd),
 * in a thread of the submitting process (the submitter itself, one of its io-wq workers or its
 * SQPOLL thread: all share its thread group and fd table). The classic tracepoint, not tp_btf:
 * its fields have kept their layout since `req` was added (5.19), where the tp_btf prototype
 * changed (6.1's (ctx, req, user_data, res, ...) is (ctx, req, cqe) now); `req` is a plain pointer
 * either way, read with probe reads. It runs for every completion on the host, which stops at the
 * workload and fd gates unless the process is watched or already holds a sensitive fd.
 *
 * What it does per opcode (uapi numbers, which never change):
 * - reads (READ, READV, READ_FIXED, READV_FIXED): the result is added to the totals of
 *   (process, the request's file) when that file is sensitive (by inode, or below a prefix
 *   directory), whatever fd or registered file slot it was read through. The first such read
 *   of a file with no totals yet sends a file_open record (fd -1, matched_by IO_URING, the
 *   file's name as its path).
 *   (READ_MULTISHOT, whose later completions name no request, reads only pipes and sockets.)
 * - SPLICE: the same for its input, when given as an fd (a registered input slot is not read).
 * - OPENAT, OPENAT2, FIXED_FD_INSTALL: an fd that holds a sensitive file is noted like an open
 *   syscall's (open_files, a record), so read(), mmap() or sendfile() on it count. With LSM
 *   file_open the open was parked with its resolved path and is finished here; otherwise the
 *   path is gone (io_uring frees it before the completion): the inode decides, or for a file
 *   no inode entry knows, the prefix directory it lies below (sluice_dir_class). An open into a
 *   registered file slot gives no fd: its reads count at their own completions.
 * Not seen: a splice from a registered slot. */
#define SLUICE_IORING_OP_READV 1
#define SLUICE_IORING_OP_READ_FIXED 4
#define SLUICE_IORING_OP_OPENAT 18
#define SLUICE_IORING_OP_READ 22
#define SLUICE_IORING_OP_OPENAT2 28
#define SLUICE_IORING_OP_SPLICE 30
#define SLUICE_IORING_OP_FIXED_FD_INSTALL 54
#define SLUICE_IORING_OP_READV_FIXED 60
#define SLUICE_SPLICE_F_FD_IN_FIXED (1U << 31)

/* The file's name (its last path component) into `path`, for a record with no path. */
static __always_inline void sluice_file_name(struct file *f, char *path)
{
	const unsigned char *name = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel_str(path, SLUICE_PATH_MAX, name) <= 0)
		path[0] = 0;
}

/* Files an io_uring read of a watched process found below no prefix directory, and when: a
 * reader of ordinary files through registered slots then walks their parents once a second per
 * file, not on every read. An LRU: only a cost saving, any entry may go. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct sluice_exe_key);
	__type(value, __u64);
} uring_plain SEC(".maps");

/* The class of file `ik` (`f`), met at an io_uring read of a watched process, when it is
 * sensitive: known by inode, or found below a prefix directory (then known by inode from now
 * on). NULL for an ordinary file. */
static __always_inline __u32 sluice_uring_read_class(struct file *f,
						     const struct sluice_exe_key *ik)
{
	struct sluice_file_class *known = bpf_map_lookup_elem(&sensitive_inode, ik);
	if (known)
		return known->class_id;
	/* Not known by inode: a file opened straight into a registered slot (its open gave no fd
	 * to look at) and created below a prefix since the agent started. */
	__u64 now = bpf_ktime_get_boot_ns();
	__u64 *plain = bpf_map_lookup_elem(&uring_plain, ik);
	if (plain && now - *plain < 1000000000ULL)
		return 0;
	struct sluice_file_class *dir = sluice_dir_class(f);
	if (!dir) {
		bpf_map_update_elem(&uring_plain, ik, &now, BPF_ANY);
		return 0;
	}
	struct sluice_file_class c = {.class_id = dir->class_id};
	if (bpf_map_update_elem(&sensitive_inode, ik, &c, BPF_ANY))
		sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
	return c.class_id;
}

/* A read of `n` bytes of file `f` completed for the current process. */
static __always_inline void sluice_uring_read(struct file *f, long n, __u32 workload)
{
	if (!f || n <= 0)
		return;
	struct sluice_exe_key ik = sluice_inode_key(BPF_CORE_READ(f, f_inode));
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct sluice_file_io_key iok = {.tgid = tgid, .dev = ik.dev, .ino = ik.ino};
	struct sluice_file_io *io = bpf_map_lookup_elem(&file_io, &iok);
	if (!io) {
		if (workload == SLUICE_NO_WORKLOAD)
			return;
		__u32 class_id = sluice_uring_read_class(f, &ik);
		if (!class_id)
			return;
		__u32 flags = BPF_CORE_READ(f, f_flags);
		struct sluice_file_io first = {.class_id = class_id, .workload_id = workload,
					       .last_open_ns = bpf_ktime_get_boot_ns(),
					       .last_open_flags = flags};
		int err = bpf_map_update_elem(&file_io, &iok, &first, BPF_NOEXIST);
		if (err == 0) {
			__u32 zero = 0;
			struct sluice_file_scratch *s = bpf_map_lookup_elem(&file_scratch, &zero);
			if (s) {
				sluice_file_name(f, s->pending.path);
				sluice_file_open_record(&ik, -1, flags, class_id, workload,
							SLUICE_FILE_MATCH_IO_URING, s->pending.path);
			}
		} else if (err != -17 /* EEXIST: another completion, just now */) {
			sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
			return;
		}
		io = bpf_map_lookup_elem(&file_io, &iok);
		if (!io)
			return;
	}
	sluice_io_count(io, n);
}

/* An io_uring open (or fd install) gave the current process fd `fd`. */
static __always_inline void sluice_uring_open(long fd, __u32 workload)
{
	if (workload == SLUICE_NO_WORKLOAD)
		return;
	if (sluice_exit_open_parked(fd))
		return;  /* LSM file_open saw it, with its path */
	struct sluice_exe_key ik = {};
	struct file *f = sluice_opened_file(fd, 0, &ik);
	if (!f)
		return;
	struct sluice_file_class *known = bpf_map_lookup_elem(&sensitive_inode, &ik);
	/* Not known by inode: where the file is decides (one created below a prefix directory
	 * since the agent started). */
	struct sluice_file_class *dir = known ? NULL : sluice_dir_class(f);
	if (!known && !dir)
		return;
	__u32 zero = 0;
	struct sluice_file_scratch *s = bpf_map_lookup_elem(&file_scratch, &zero);
	if (!s)
		return;
	sluice_file_name(f, s->pending.path);
	sluice_open_match(s, 0 /* no path to match */, workload, BPF_CORE_READ(f, f_flags), 0);
	s->pending.class_id = dir ? dir->class_id : 0;
	s->pending.matched_by = SLUICE_FILE_MATCH_IO_URING;
	sluice_open_done(bpf_get_current_pid_tgid(), fd, &ik, known, &s->pending);
}

SEC("tracepoint/io_uring/io_uring_complete")
int sluice_io_uring_complete(struct trace_event_raw_io_uring_complete *ctx)
{
	/* Kernels before 5.19 name no request, and one built without io_uring has none of these
	 * types: the relocations below then fail, and this makes them dead code instead of a
	 * program (and an object) the kernel refuses. */
	if (!bpf_core_field_exists(ctx->req) || !bpf_core_type_exists(struct io_kiocb))
		return 0;
	long res = ctx->res;
	if (res < 0)
		return 0;
	__u32 workload = sluice_current_workload();
	if (workload == SLUICE_NO_WORKLOAD && !sluice_may_hold_fd(bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct io_kiocb *req = ctx->req;
	if (!req)
		return 0;  /* a multishot request's completion: none of the operations below */
	switch (BPF_CORE_READ(req, opcode)) {
	case SLUICE_IORING_OP_READV:
	case SLUICE_IORING_OP_READ_FIXED:
	case SLUICE_IORING_OP_READ:
	case SLUICE_IORING_OP_READV_FIXED:
		sluice_uring_read(BPF_CORE_READ(req, file), res, workload);
		break;
	case SLUICE_IORING_OP_SPLICE: {
		/* The request's command area (at its start) is the splice's. */
		struct io_splice *sp = (void *)req;
		if (bpf_core_field_exists(sp->splice_fd_in) &&
		    !(BPF_CORE_READ(sp, flags) & SLUICE_SPLICE_F_FD_IN_FIXED))
			sluice_uring_read(sluice_fd_file(BPF_CORE_READ(sp, splice_fd_in)), res,
					  workload);
		break;
	}
	case SLUICE_IORING_OP_OPENAT:
	case SLUICE_IORING_OP_OPENAT2: {
		struct io_open *op = (void *)req;
		if (bpf_core_field_exists(op->file_slot) &&
		    !BPF_CORE_READ(op, file_slot))  /* else a registered slot: no fd */
			sluice_uring_open(res, workload);
		break;
	}
	case SLUICE_IORING_OP_FIXED_FD_INSTALL:
		sluice_uring_open(res, workload);
		break;
	}
	return 0;
}

/* A child inherits its parent's open fds (a shell's `< file` redirection, a worker pool): copy
 * the parent's sensitive fds to the child, with a totals entry of its own. The copy is bounded;
 * more than SLUICE_FORK_FD_COPY open sensitive fds in one forking process is counted as map-full.
 * Only a parent in fd_holders walks open_files: the walk visits every bucket of the map however
 * few fds it holds, and every fork on the host runs this program. */
#define SLUICE_FORK_FD_COPY 16
struct sluice_fork_copy {
	struct sluice_fd_key keys[SLUICE_FORK_FD_COPY];
	struct sluice_file_io_key files[SLUICE_FORK_FD_COPY];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_fork_copy);
} fork_scratch SEC(".maps");

struct sluice_fork_walk {  /* on the stack: bpf_for_each_map_elem wants a stack context */
	__u32 parent;
	__u32 n;
	__u32 overflow;
};

static long sluice_collect_fd(struct bpf_map *map, struct sluice_fd_key *key,
			      struct sluice_file_io_key *file, struct sluice_fork_walk *w)
{
	if (key->tgid != w->parent)
		return 0;
	__u32 zero = 0;
	struct sluice_fork_copy *c = bpf_map_lookup_elem(&fork_scratch, &zero);
	__u32 i = w->n;
	if (!c || i >= SLUICE_FORK_FD_COPY) {
		w->overflow = 1;
		return 1;  /* stop */
	}
	c->keys[i] = *key;
	c->files[i] = *file;
	w->n = i + 1;
	return 0;
}

/* Whether `child`, just created by the current task, is a thread of its process, for the
 * fallback hook, which names only the child's id. copy_process links a new thread at the tail
 * of its group's list (signal->thread_head) before the tracepoint fires. Another thread the
 * process created in between can be the tail instead: then this says no and the child is
 * treated as a process (a walk, and a copy of the fds under its id: the safe direction). */
static __always_inline int sluice_new_thread(__u32 child)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct list_head *last = task->signal->thread_head.prev;
	struct task_struct *tail =
		(void *)((__u64)last - bpf_core_field_offset(struct task_struct, thread_node));
	return (__u32)BPF_CORE_READ(tail, pid) == child;
}

/* The current task forked `child`: copy its process's sensitive fds to the child. `maybe_thread`:
 * the caller could not tell whether the child is a thread (which shares the fds: nothing to
 * copy). */
static __always_inline void sluice_fork_fds(__u32 child, int maybe_thread)
{
	struct sluice_fork_walk w = {.parent = bpf_get_current_pid_tgid() >> 32};
	if (!sluice_may_hold_fd(w.parent) || !bpf_map_lookup_elem(&fd_holders, &w.parent)) {
		__u32 zero = 0;
		__u32 *full = bpf_map_lookup_elem(&fd_holders_full, &zero);
		if (!full || !*full)
			return;  /* the common case: the parent never held a sensitive fd */
	}
	if (maybe_thread && sluice_new_thread(child))
		return;
	bpf_for_each_map_elem(&open_files, sluice_collect_fd, &w, 0);
	if (w.overflow)
		sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
	if (!w.n)
		return;
	__u32 zero = 0;
	struct sluice_fork_copy *c = bpf_map_lookup_elem(&fork_scratch, &zero);
	if (!c)
		return;
	for (__u32 i = 0; i < SLUICE_FORK_FD_COPY; i++) {
		if (i >= w.n)
			break;
		struct sluice_fd_key nk = {.tgid = child, .fd = c->keys[i].fd};
		struct sluice_file_io_key nf = c->files[i];
		struct sluice_file_io *parent_io = bpf_map_lookup_elem(&file_io, &c->files[i]);
		nf.tgid = child;
		if (bpf_map_update_elem(&open_files, &nk, &nf, BPF_ANY))
			sluice_count(&map_full, SLUICE_EV_FILE_OPEN);
		sluice_hold_fd(child);
		struct sluice_file_io io = {};
		if (parent_io) {
			io.class_id = parent_io->class_id;
			io.workload_id = parent_io->workload_id;
		}
		bpf_map_update_elem(&file_io, &nf, &io, BPF_NOEXIST);
	}
}

/* Preferred: the child task is at hand, so a new thread, which shares its process's fds and
 * their (tgid, fd) keys, costs nothing; before, every thread a holder started walked open_files
 * (~120 us) and left a copy of its fds under the thread's id. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sluice_file_fork_btf, struct task_struct *parent, struct task_struct *child)
{
	if (child->tgid == child->pid)
		sluice_fork_fds(child->pid, 0);
	return 0;
}

/* Fallback: the tracepoint names only the child's id, which may be a thread's. */
SEC("tracepoint/sched/sched_process_fork")
int sluice_file_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	sluice_fork_fds(ctx->child_pid, 1);
	return 0;
}

/* The fd goes away; the (process, file) totals stay in file_io for the agent. Every close on the
 * host runs this: the gate stops nearly all of them, the lookup is lock-free, a delete takes the
 * bucket's lock, so only a sensitive fd is deleted. */
SEC("tracepoint/syscalls/sys_enter_close")
int sluice_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct sluice_fd_key fk = {.tgid = bpf_get_current_pid_tgid() >> 32,
				   .fd = (__s32)ctx->args[0]};
	if (!sluice_may_hold_fd(fk.tgid))
		return 0;
	if (bpf_map_lookup_elem(&open_files, &fk))
		bpf_map_delete_elem(&open_files, &fk);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
