// The kernel-facing side of workload selection: as the engine learns about cgroups, executables
// and processes it tells the kernel which workloads they belong to, so the probes and the
// enforcement hooks decide in the kernel, at the first syscall, without asking the agent.
#ifndef SLUICE_AGENT_ENFORCE_WATCH_H_
#define SLUICE_AGENT_ENFORCE_WATCH_H_

#include <cstdint>

#include "absl/status/status.h"
#include "agent/enforce/name_grants.h"

namespace sluice::enforce {

class WatchTarget {
 public:
  virtual ~WatchTarget() = default;
  // A mask of 0 removes the entry.
  virtual absl::Status WatchCgroup(uint64_t cgroup_id, uint64_t workload_mask) = 0;
  virtual absl::Status WatchExe(uint32_t dev, uint64_t ino, uint64_t workload_mask) = 0;
  virtual absl::Status WatchTask(uint32_t tgid, uint64_t workload_mask) = 0;
  // An allowlist entry a host entry earned from a DNS answer (NameGrants), or its removal.
  virtual absl::Status WriteAllow(const AllowWrite& write) { return absl::OkStatus(); }
};

}  // namespace sluice::enforce

#endif  // SLUICE_AGENT_ENFORCE_WATCH_H_
