#include "agent/bpf/policy_maps.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sluice::bpf {
namespace {

absl::Status Update(int fd, const void* key, const void* value, const char* what) {
  if (bpf_map_update_elem(fd, key, value, BPF_ANY) != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot update BPF map ", what, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status Delete(int fd, const void* key, const char* what) {
  if (bpf_map_delete_elem(fd, key) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("cannot delete from BPF map ", what, ": ",
                                            strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PolicyMaps::Apply(const enforce::CompiledPolicy& policy) {
  for (uint32_t id = 0; id < policy.workloads.size(); ++id) {
    if (auto s = Update(sensor_->workload_cfg_fd(), &id, &policy.workloads[id], "workload_cfg");
        !s.ok()) {
      return s;
    }
  }
  for (const auto& entry : policy.allow) {
    if (auto s = Update(sensor_->egress_allow_fd(), &entry.key, &entry.value, "egress_allow");
        !s.ok()) {
      return s;
    }
  }
  uint32_t zero = 0;
  return Update(sensor_->selector_cfg_fd(), &zero, &policy.selector, "selector_cfg");
}

absl::Status PolicyMaps::WatchCgroup(uint64_t cgroup_id, uint64_t workload_mask) {
  if (workload_mask == 0) return Delete(sensor_->cgroup_match_fd(), &cgroup_id, "cgroup_match");
  sluice_cgroup_match v{.workload_mask = workload_mask};
  return Update(sensor_->cgroup_match_fd(), &cgroup_id, &v, "cgroup_match");
}

absl::Status PolicyMaps::WatchExe(uint32_t dev, uint64_t ino, uint64_t workload_mask) {
  sluice_exe_key key{};
  key.ino = ino;
  key.dev = dev;
  if (workload_mask == 0) return Delete(sensor_->exe_match_fd(), &key, "exe_match");
  sluice_exe_match v{.workload_mask = workload_mask};
  return Update(sensor_->exe_match_fd(), &key, &v, "exe_match");
}

absl::Status PolicyMaps::WatchTask(uint32_t tgid, uint64_t workload_mask) {
  if (workload_mask == 0) return Delete(sensor_->task_match_fd(), &tgid, "task_match");
  sluice_task_match v{.workload_mask = workload_mask};
  return Update(sensor_->task_match_fd(), &tgid, &v, "task_match");
}

}  // namespace sluice::bpf
