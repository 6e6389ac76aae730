// Attaches the TLS uprobes (bpf/probes/tls.bpf.c) to one watched process at a time, never
// system-wide: a uprobe is a trap per call paid by every process that maps the library, so only
// watched processes pay (DESIGN §4: 1.00x for others with a pid filter, 1.3x system-wide).
// A uprobe attached with a pid applies to that process's current and future mappings of the
// library file, so attaching at exec (before the loader maps libssl) is enough.
#ifndef SLUICE_AGENT_BPF_TLS_ATTACH_H_
#define SLUICE_AGENT_BPF_TLS_ATTACH_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "agent/bpf/sensor.h"
#include "agent/common/unique_fd.h"

struct bpf_link;

namespace sluice::bpf {

enum class TlsLib { kOpenSsl, kGnuTls };

struct TlsTarget {
  TlsLib lib;
  std::string path;  // as the agent can open it (may be /proc/PID/root/... for containers)
};

// Per process (default): every uprobe is attached with the pid of a watched process, so no other
// process pays for them, but one that reaches its first TLS call before the agent attached to it
// (tens of ms after its birth) is missed. System: the write-entry uprobes of the host's libraries
// are attached once for every process (their programs check the workload in the kernel), so a
// watched process is covered from its first write; every process of the host using those
// libraries pays a trap per write. Reads and a container's own libraries stay per process.
enum class TlsAttachMode { kPerProcess, kSystem };

struct TlsAttachStats {
  uint64_t processes = 0;  // processes with probes attached now
  uint64_t links = 0;      // uprobes attached now
  uint64_t failures = 0;   // attach attempts that failed (process gone, kernel refusal)
  uint64_t last_errno = 0; // errno of the most recent failure
  uint64_t system_links = 0;  // system-wide write uprobes (TlsAttachMode::kSystem)
};

class TlsAttacher {
 public:
  // `system_libs`: the TLS libraries installed on the host, attached for every watched process.
  TlsAttacher(const Sensor* sensor, std::vector<TlsTarget> system_libs,
              TlsAttachMode mode = TlsAttachMode::kPerProcess);
  // kSystem: attaches the write-entry uprobes of every system library for every process. An
  // error names the library and function the kernel refused; nothing stays attached then.
  absl::Status AttachSystemWide();
  ~TlsAttacher();
  TlsAttacher(const TlsAttacher&) = delete;
  TlsAttacher& operator=(const TlsAttacher&) = delete;

  // Attaches to `pid` for the system libraries plus `extra` (libraries found in its maps, e.g. a
  // container's own libssl). Idempotent per (pid, path). Returns the number of new uprobes.
  int Attach(uint32_t pid, const std::vector<TlsTarget>& extra = {});
  bool attached(uint32_t pid) const { return links_.contains(pid); }
  // Detaches everything of `pid` (it exited). Returns at once: closing a uprobe link waits for
  // an RCU grace period in the kernel (~80 ms measured here), so the links are closed on a
  // background thread, never on the thread that must attach to the next process quickly.
  void Detach(uint32_t pid);
  TlsAttachStats stats() const;

 private:
  struct LinkDeleter {
    void operator()(bpf_link* l) const;
  };
  struct ProcessLinks {
    std::vector<std::string> paths;  // libraries attached
    std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links;
  };
  // `skip_writes`: the write entries are attached system-wide already.
  int AttachLib(uint32_t pid, const TlsTarget& lib, ProcessLinks* out, bool skip_writes);
  // Symbol name -> file offset in `path`, resolved on first use.
  const absl::flat_hash_map<std::string, uint64_t>& Offsets(const std::string& path);

  const Sensor* sensor_;
  // A per-task perf event kept open for the agent's lifetime: see the constructor.
  UniqueFd keep_perf_sched_;
  std::vector<TlsTarget> system_libs_;
  TlsAttachMode mode_;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> system_links_;
  absl::flat_hash_map<uint32_t, ProcessLinks> links_;
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, uint64_t>> offsets_;
  uint64_t failures_ = 0;
  int last_errno_ = 0;

  void CloserLoop();
  std::mutex closer_mu_;
  std::condition_variable closer_cv_;
  std::deque<ProcessLinks> to_close_;
  bool stopping_ = false;
  std::thread closer_;  // last: started after everything it uses exists
};

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_TLS_ATTACH_H_
