#include "agent/bpf/hook_probe.h"

#include "gtest/gtest.h"

namespace sluice::bpf {
namespace {

TEST(HookProbeTest, BpfLsmIsFoundInTheActiveList) {
  EXPECT_TRUE(LsmListHasBpf("lockdown,capability,bpf"));
  EXPECT_TRUE(LsmListHasBpf("bpf"));
  EXPECT_TRUE(LsmListHasBpf("capability, bpf ,landlock\n"));
  EXPECT_FALSE(LsmListHasBpf("lockdown,capability,landlock,yama,apparmor"));
  EXPECT_FALSE(LsmListHasBpf("bpfx,xbpf"));
  EXPECT_FALSE(LsmListHasBpf(""));
}

TEST(HookProbeTest, HookNamesFollowLibbpfSections) {
  EXPECT_EQ(HookName(HookKind::kTpBtf, "sched_process_exec"), "tp_btf/sched_process_exec");
  EXPECT_EQ(HookName(HookKind::kFentry, "tcp_connect"), "fentry/tcp_connect");
  EXPECT_EQ(HookName(HookKind::kFexit, "vfs_read"), "fexit/vfs_read");
  EXPECT_EQ(HookName(HookKind::kLsm, "file_open"), "lsm/file_open");
}

TEST(HookProbeTest, LsmHooksAreNotTriedWhenTheBpfLsmIsInactive) {
  // Decided before any bpf() call: runs unprivileged.
  HookSupport h = ProbeHook(HookKind::kLsm, "file_open", "lockdown,capability");
  EXPECT_FALSE(h.ok);
  EXPECT_EQ(h.reason, "BPF LSM not active (lsm=lockdown,capability)");
  h = ProbeHook(HookKind::kLsm, "file_open", "");
  EXPECT_FALSE(h.ok);
  EXPECT_EQ(h.reason, "active LSM list unreadable (securityfs)");
}

}  // namespace
}  // namespace sluice::bpf
