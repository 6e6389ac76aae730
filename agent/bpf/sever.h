// Severs convicted flows in the kernel: the socket cookie goes into the `severed` map, which
// cgroup_skb reads to drop every packet of the flow both ways (bpf/probes/socket.bpf.c), and the
// owner's socket is shut down through a pidfd so the application sees the connection end instead
// of retransmitting into the void. Also reports how long after the decision the first packet was
// dropped.
#ifndef SLUICE_AGENT_BPF_SEVER_H_
#define SLUICE_AGENT_BPF_SEVER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "agent/enforce/sever.h"

namespace sluice::bpf {

struct SeverStats {
  uint64_t severed = 0;         // flows put in the drop map
  uint64_t shut_down = 0;       // of those, sockets the agent also shut down in their owner
  uint64_t dropped_flows = 0;   // flows with at least one packet dropped
  uint64_t last_latency_ns = 0; // decision -> first dropped packet, of the latest such flow
  uint64_t max_latency_ns = 0;
};

class KernelSeverer : public enforce::FlowSeverer {
 public:
  explicit KernelSeverer(int severed_fd) : fd_(severed_fd) {}

  absl::Status Sever(uint64_t cookie, uint32_t pid) override;

  // Reads the drop times of the flows severed so far and reports each first drop once (a log
  // line and the stats). Call periodically.
  void Poll();
  // The flow is gone (reaped): its map entry goes too.
  void Forget(uint64_t cookie) override;
  // Disarm: every severed flow's packets pass again (their sockets were shut down already).
  // Returns how many entries were released.
  size_t ReleaseAll();

  const SeverStats& stats() const { return stats_; }

 private:
  struct Pending {
    uint64_t decided_ns = 0;
    bool reported = false;
  };
  void Report(uint64_t cookie, Pending& p);

  int fd_;
  absl::flat_hash_map<uint64_t, Pending> severed_;
  SeverStats stats_;
};

// Shuts down (SHUT_RDWR) the socket with this cookie among the open fds of `pid`, reached with
// pidfd_getfd(2). NotFound when the process has no such socket (it exited, or passed it on).
absl::Status ShutdownSocketOf(uint32_t pid, uint64_t cookie);

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_SEVER_H_
