// SPDX-License-Identifier: GPL-2.0-only
/*
 * Process family: exec, fork, exit, and cgroup creation.
 *
 * Why these hooks: exec, fork and exit each have a tp_btf program (preferred: typed arguments, no
 * trace-event buffer to format, and fork sees the child task and so tells threads from
 * processes) and a sched_process_* tracepoint fallback, stable ABI on every kernel sluice
 * targets. The agent's feature probe loads one of each pair (DESIGN §4 table; agent/bpf/
 * hook_probe.h). cgroup_mkdir lets the agent put a new cgroup under watch without polling the
 * cgroup filesystem.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "emit.bpf.h"
#include "workload.bpf.h"
#include <bpf/bpf_tracing.h>

/* `filename`: the path execve was given, a kernel string. */
static __always_inline void sluice_on_exec(const void *filename)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct sluice_exe_key key = {};
	key.ino = BPF_CORE_READ(task, mm, exe_file, f_inode, i_ino);
	key.dev = sluice_user_dev(BPF_CORE_READ(task, mm, exe_file, f_inode, i_sb, s_dev));

	/* Selector bits for the new image are added to what fork inherited: a tool a watched
	 * process starts (sh -c 'curl ...') stays in its workload (DESIGN §5 tool_egress). */
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct sluice_exe_match *em = bpf_map_lookup_elem(&exe_match, &key);
	if (em) {
		struct sluice_task_match tm = {.workload_mask = em->workload_mask};
		struct sluice_task_match *cur = bpf_map_lookup_elem(&task_match, &tgid);
		if (cur)
			tm.workload_mask |= cur->workload_mask;
		if (bpf_map_update_elem(&task_match, &tgid, &tm, BPF_ANY))
			sluice_count(&map_full, SLUICE_EV_EXEC);
	}

	struct sluice_exec_event *e =
		sluice_reserve(&proc_events, sizeof(*e), SLUICE_EV_EXEC);
	if (!e)
		return;
	sluice_fill_header(&e->hdr, SLUICE_EV_EXEC, sizeof(*e));
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->exe_ino = key.ino;
	e->exe_dev = key.dev;
	e->workload_id = sluice_current_workload();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename);
	/* argv of the new image is already on its stack. */
	unsigned long arg_start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(task, mm, arg_end);
	__u32 total = arg_end > arg_start ? (__u32)(arg_end - arg_start) : 0;
	e->args_total = total;
	e->args_len = 0;
	/* A constant size, or a masked one: clang re-derives clamped lengths in ways the verifier
	 * cannot follow. */
	if (total >= SLUICE_ARGS_MAX) {
		if (bpf_probe_read_user(e->args, SLUICE_ARGS_MAX, (void *)arg_start) == 0)
			e->args_len = SLUICE_ARGS_MAX;
	} else {
		__u32 n = total;
		barrier_var(n);  /* keep clang from dropping the mask it can prove redundant */
		n &= SLUICE_ARGS_MAX - 1;
		if (bpf_probe_read_user(e->args, n, (void *)arg_start) == 0)
			e->args_len = n;
	}
	if (e->workload_id != SLUICE_NO_WORKLOAD)
		sluice_submit_now(&proc_events, e);  /* the agent attaches TLS probes to it */
	else
		sluice_submit(&proc_events, e);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sluice_exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	sluice_on_exec(BPF_CORE_READ(bprm, filename));
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int sluice_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	unsigned int off = ctx->__data_loc_filename & 0xffff;
	sluice_on_exec((void *)ctx + off);
	return 0;
}

/* Children inherit the exe-selector bits of their parent so a workload's helpers (a shell, curl)
 * stay under watch. Runs in the parent's context. child is a tid: a new thread gets an entry
 * too, keyed by its tid, which never collides with a tgid and is removed when the thread exits. */
static __always_inline void sluice_on_fork(__u32 child, __u32 flags)
{
	__u32 parent = bpf_get_current_pid_tgid() >> 32;
	struct sluice_task_match *tm = bpf_map_lookup_elem(&task_match, &parent);
	if (tm) {
		struct sluice_task_match copy = *tm;
		if (bpf_map_update_elem(&task_match, &child, &copy, BPF_ANY))
			sluice_count(&map_full, SLUICE_EV_FORK);
	}
	struct sluice_fork_event *e = sluice_reserve(&proc_events, sizeof(*e), SLUICE_EV_FORK);
	if (!e)
		return;
	sluice_fill_header(&e->hdr, SLUICE_EV_FORK, sizeof(*e));
	e->child_pid = child;
	if (sluice_current_workload() != SLUICE_NO_WORKLOAD)
		flags |= SLUICE_FORK_F_WATCHED;
	e->flags = flags;
	if (flags & SLUICE_FORK_F_WATCHED)
		sluice_submit_now(&proc_events, e);  /* attach to the child before it execs */
	else
		sluice_submit(&proc_events, e);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sluice_fork_btf, struct task_struct *parent, struct task_struct *child)
{
	__u32 pid = BPF_CORE_READ(child, pid);
	if (BPF_CORE_READ(child, tgid) != pid) {
		/* A thread: inherit the selector bits, but the agent's process tree needs no record. */
		__u32 ptgid = bpf_get_current_pid_tgid() >> 32;
		struct sluice_task_match *tm = bpf_map_lookup_elem(&task_match, &ptgid);
		if (tm) {
			struct sluice_task_match copy = *tm;
			if (bpf_map_update_elem(&task_match, &pid, &copy, BPF_ANY))
				sluice_count(&map_full, SLUICE_EV_FORK);
		}
		return 0;
	}
	sluice_on_fork(pid, 0);
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int sluice_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	sluice_on_fork(ctx->child_pid, SLUICE_FORK_F_MAYBE_THREAD);
	return 0;
}

static __always_inline void sluice_on_exit(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	bpf_map_delete_elem(&task_match, &tid);
	if ((id >> 32) != tid)
		return;  /* a thread, not the process */

	struct sluice_exit_event *e =
		sluice_reserve(&proc_events, sizeof(*e), SLUICE_EV_EXIT);
	if (!e)
		return;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	sluice_fill_header(&e->hdr, SLUICE_EV_EXIT, sizeof(*e));
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->_pad = 0;
	sluice_submit(&proc_events, e);
}

/* The exiting task is current in both. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sluice_exit_btf, struct task_struct *p)
{
	sluice_on_exit();
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int sluice_exit(void *ctx)
{
	sluice_on_exit();
	return 0;
}

SEC("tracepoint/cgroup/cgroup_mkdir")
int sluice_cgroup_mkdir(struct trace_event_raw_cgroup *ctx)
{
	struct sluice_cgroup_event *e =
		sluice_reserve(&proc_events, sizeof(*e), SLUICE_EV_CGROUP_MKDIR);
	if (!e)
		return 0;
	sluice_fill_header(&e->hdr, SLUICE_EV_CGROUP_MKDIR, sizeof(*e));
	/* The new cgroup, not the creator's. */
	e->hdr.cgroup_id = ctx->id;
	unsigned int off = ctx->__data_loc_path & 0xffff;
	bpf_probe_read_kernel_str(e->path, sizeof(e->path), (void *)ctx + off);
	sluice_submit(&proc_events, e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
