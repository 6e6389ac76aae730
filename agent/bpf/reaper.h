// Reads the kernel's total-keeping maps and hands final totals to the engine: closed flows from
// `flows` (those the kernel kept: their close record was lost, or they were severed), and
// per-(process, file) read totals from `file_io` once the process has exited. The kernel deletes
// a flow entry only once its close record, carrying the same totals, is in the ring, and never
// a file_io entry, so totals are exact even when ring records were lost; the reaper is what keeps
// the maps from filling. It also drops the open_files and fd_holders entries of exited processes.
#ifndef SLUICE_AGENT_BPF_REAPER_H_
#define SLUICE_AGENT_BPF_REAPER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "agent/events/decode.h"

namespace sluice::bpf {

struct ReapStats {
  size_t flows_live = 0;
  size_t flows_reaped = 0;
  size_t files_live = 0;
  size_t files_reaped = 0;
  size_t open_fds_dropped = 0;  // open_files entries of exited processes
  size_t fd_holders_dropped = 0;  // fd_holders entries of exited processes
  size_t inflight_swept = 0;  // calls in flight whose thread is gone (their exit never came)
};

class Reaper {
 public:
  using FlowFn = std::function<void(uint64_t cookie, const events::Flow& flow)>;
  using FileFn = std::function<void(const sluice_file_io_key& key, const sluice_file_io& io)>;
  // Whether a process still exists (tests substitute their own).
  using AliveFn = std::function<bool(uint32_t pid)>;

  // `fd_holder_drops_fd`: the agent's half of the fd probes' gate (bpf/lib/maps.bpf.h); each
  // tgid dropped from fd_holders is counted in its slot there. `flow_slot_reap_fd`: the same
  // for the packet hooks' gate of `flows`; each flow reaped is counted in its cookie's slot.
  // `inflight_fds`: the hashes of calls in flight (key pid_tgid) that no LRU cleans: entries of
  // threads that are gone are swept (bpf/lib/inflight.bpf.h).
  Reaper(int flows_fd, int file_io_fd, int open_files_fd, int fd_holders_fd,
         int fd_holder_drops_fd, int flow_slot_reap_fd, std::vector<int> inflight_fds,
         AliveFn alive = ProcessAlive);

  using DrainFn = std::function<void()>;
  // One pass over the maps. Entries are deleted after their callback ran. `drain` runs between
  // finding what is final and reporting it: it must hand the engine every ring record submitted
  // so far, so that a process's open or a flow's close record (submitted before the process
  // died or the flow was marked closed) is handled before its final totals.
  // `on_live_flow` / `on_live_file`, when set, get the current totals of every entry that is
  // still live (after the final ones), so that detectors see uploads and reads under way.
  ReapStats Run(const FlowFn& on_flow, const FileFn& on_file, const DrainFn& drain,
                const FlowFn& on_live_flow = nullptr, const FileFn& on_live_file = nullptr);

  static bool ProcessAlive(uint32_t pid);

 private:
  // Deletes the entries of `fd` (keyed by K) whose process, tgid_of(key), has exited; calls
  // dropped(key) for each entry this pass deleted.
  template <typename K, typename TgidOf, typename Dropped>
  size_t DropExited(int fd, TgidOf tgid_of, Dropped dropped);
  // Counts one deletion in `slot` of an agent-written gate array (`fd`).
  static void CountDrop(int fd, uint32_t slot);

  int flows_fd_;
  int file_io_fd_;
  int open_files_fd_;
  int fd_holders_fd_;
  int fd_holder_drops_fd_;
  int flow_slot_reap_fd_;
  std::vector<int> inflight_fds_;
  AliveFn alive_;
};

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_REAPER_H_
