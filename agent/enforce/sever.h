// Severing a live flow (DESIGN §6): when a detector convicts a flow of an enforce-mode workload
// under --mode enforce, the engine asks for the flow to be cut. The kernel-facing side lives in
// agent/bpf (a drop map read by cgroup_skb, and a shutdown of the socket); the engine only sees
// this interface, so replays and tests never touch the kernel.
#ifndef SLUICE_AGENT_ENFORCE_SEVER_H_
#define SLUICE_AGENT_ENFORCE_SEVER_H_

#include <cstdint>

#include "absl/status/status.h"

namespace sluice::enforce {

class FlowSeverer {
 public:
  virtual ~FlowSeverer() = default;
  // Cuts the flow with this socket cookie, owned by `pid` (0 when unknown). OK when nothing more
  // of it can leave the host; an error when the cut could not be put in place.
  virtual absl::Status Sever(uint64_t cookie, uint32_t pid) = 0;
  // The flow ended and the kernel no longer tracks it: drop what Sever put in place for it.
  virtual void Forget(uint64_t cookie) { (void)cookie; }
};

}  // namespace sluice::enforce

#endif  // SLUICE_AGENT_ENFORCE_SEVER_H_
