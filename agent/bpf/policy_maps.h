// Writes the compiled policy and the watch set into the sensor's maps.
#ifndef SLUICE_AGENT_BPF_POLICY_MAPS_H_
#define SLUICE_AGENT_BPF_POLICY_MAPS_H_

#include "absl/status/status.h"
#include "agent/bpf/sensor.h"
#include "agent/enforce/policy.h"
#include "agent/enforce/watch.h"

namespace sluice::bpf {

class PolicyMaps : public enforce::WatchTarget {
 public:
  explicit PolicyMaps(const Sensor* sensor) : sensor_(sensor) {}

  // Writes per-workload flags and the allowlist first and the selector summary last: until the
  // summary names a workload the probes treat everything as unwatched, so no probe ever sees a
  // workload whose allowlist is only half written.
  absl::Status Apply(const enforce::CompiledPolicy& policy);

  absl::Status WatchCgroup(uint64_t cgroup_id, uint64_t workload_mask) override;
  absl::Status WatchExe(uint32_t dev, uint64_t ino, uint64_t workload_mask) override;
  absl::Status WatchTask(uint32_t tgid, uint64_t workload_mask) override;

 private:
  const Sensor* sensor_;
};

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_POLICY_MAPS_H_
