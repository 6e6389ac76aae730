// Kernel filesystems and privileges the sensor needs, made ready at start (DESIGN §4).
#ifndef SLUICE_AGENT_BPF_MOUNTS_H_
#define SLUICE_AGENT_BPF_MOUNTS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sluice::bpf {

// Mounts tracefs at /sys/kernel/tracing when it is not there (tracepoint attach needs it).
absl::Status EnsureTracefs();
// Mounts bpffs at /sys/fs/bpf when it is not there (pinning, DESIGN §6).
absl::Status EnsureBpffs();
// Mounts securityfs at /sys/kernel/security when it is not there (the active-LSM list the
// feature probe reads, hook_probe.h).
absl::Status EnsureSecurityfs();
// Returns the cgroup v2 mount point from /proc/mounts (hybrid hosts have it at
// /sys/fs/cgroup/unified); mounts one at /run/sluice/cgroup2 when the host has none.
absl::StatusOr<std::string> EnsureCgroup2();

// Which capabilities the agent needs and which of them the effective set lacks, from a
// /proc/self/status CapEff mask. Returns "" when nothing is missing.
std::string MissingCapabilities(uint64_t cap_eff);
// Reads CapEff of this process and returns PermissionDenied with one line naming what is missing.
absl::Status CheckPrivileges();

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_MOUNTS_H_
