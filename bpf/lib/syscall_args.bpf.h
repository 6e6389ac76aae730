/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The arguments of the current system call, read at its exit tracepoint.
 *
 * Why: a sys_exit_* tracepoint carries only the return value, so the syscall fallbacks used to
 * pair every exit program with an enter program that parked the arguments in a hash keyed by
 * thread. Each program on a syscall tracepoint costs every caller on the host a run (~40 ns on the
 * dev host even when it returns at once), and the pair cost a watched caller a hash update and
 * delete besides. The task's saved user registers still hold the arguments when the call returns
 * (the entry code saves them and the system call reads them from there; x86-64 keeps the
 * arguments' registers, arm64 keeps the first one in orig_x0, which libbpf's *_SYSCALL macros
 * read), so one exit program sees both the arguments and the result. bpf_task_pt_regs (5.15) and
 * bpf_get_current_task_btf (5.11) give them as a BTF pointer: plain loads, no helper per field.
 *
 * What the exit sees is the register, not a copy taken at entry: for an argument that is a
 * pointer to user memory (a path), the memory is read after the call, which another thread may
 * have changed in between, as it could after an entry probe's copy and before the kernel's.
 */
#ifndef SLUICE_SYSCALL_ARGS_BPF_H
#define SLUICE_SYSCALL_ARGS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* The current task's user registers as saved at the system call's entry. */
static __always_inline struct pt_regs *sluice_syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

#define SLUICE_SYSCALL_ARG1(regs) ((long)PT_REGS_PARM1_SYSCALL(regs))
#define SLUICE_SYSCALL_ARG2(regs) ((long)PT_REGS_PARM2_SYSCALL(regs))
#define SLUICE_SYSCALL_ARG3(regs) ((long)PT_REGS_PARM3_SYSCALL(regs))
#define SLUICE_SYSCALL_ARG4(regs) ((long)PT_REGS_PARM4_SYSCALL(regs))  /* r10 on x86-64 */
#define SLUICE_SYSCALL_ARG5(regs) ((long)PT_REGS_PARM5_SYSCALL(regs))

#endif /* SLUICE_SYSCALL_ARGS_BPF_H */
