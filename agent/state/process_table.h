// The process table: who is pid N (executable, command line, parent, user), as the detectors
// and the workload resolver need it. Seeded from /proc at start, kept current from exec/exit
// events, and bounded, because exit events can be lost when a ring overflows and the table must
// not grow without limit on a long-running host.
#ifndef SLUICE_AGENT_STATE_PROCESS_TABLE_H_
#define SLUICE_AGENT_STATE_PROCESS_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "agent/events/decode.h"

namespace sluice::state {

struct ProcessEntry {
  uint32_t pid = 0;        // tgid
  uint32_t ppid = 0;
  uint32_t uid = 0;        // real uid
  std::string exe;         // absolute path of the executable, "" if unknown (kernel threads)
  std::string comm;
  std::string cmdline;     // argv joined by spaces, at most kMaxCmdline bytes
  uint64_t cgroup_id = 0;  // 0 when unknown (seeding from /proc leaves it to the caller)
  uint64_t exe_ino = 0;
  uint32_t exe_dev = 0;    // new_encode_dev() form, as the exec probe reports it
  int64_t start_ns = 0;    // CLOCK_BOOTTIME ns: process start (from /proc) or exec time (event)
  uint64_t exited_ns = 0;  // CLOCK_BOOTTIME ns of its exit; 0 while it runs
  // The process tree it belongs to within its cgroup: the pid of its outermost ancestor in the
  // same cgroup (itself when it was started into the cgroup, e.g. by a service manager or
  // `echo $$ > cgroup.procs; exec ...`). Set from exec/fork events and inherited, so it holds
  // after the ancestors exit. 0 when its lineage is unknown (seeded from /proc, or a parent the
  // table never saw): such a process is taken to share every tree of its workload.
  uint32_t tree = 0;
};

// How long an exited process stays known: what it did reaches the agent after its exit too
// (file and flow totals are read from kernel maps after the close; a short-lived `tar` or `nc`
// is gone by then), and is attributed to it for this long.
inline constexpr uint64_t kExitLingerNs = 10'000'000'000ULL;

// Not thread-safe: owned and used by the engine thread. Get() and Ancestors() are const but may
// fill the cache from /proc and reorder the eviction list, so callers on other threads would
// need their own lock.
class ProcessTable {
 public:
  static constexpr size_t kMaxCmdline = 512;

  // Eviction is LRU: inserting or replacing an entry, and every successful lookup, makes it the
  // most recently used; when full, the least recently used entry goes. Plain insertion order
  // (FIFO) would evict the long-lived daemons seeded first, which are exactly the workloads
  // that connects are attributed to.
  explicit ProcessTable(size_t max_entries = 65536);

  // Adds every numeric directory of `proc_root`: exe (readlink of PID/exe, " (deleted)"
  // stripped; "" for kernel threads), comm, cmdline (NULs as spaces, bounded), ppid and real uid
  // from status, exe ino/dev (stat through the exe link), start time from stat; cgroup_id is left
  // 0 for the caller. Processes that vanish mid-scan are skipped silently. Later on-demand
  // lookups (Get of an unknown pid) use the same `proc_root`.
  // Fails only when `proc_root` itself cannot be listed.
  absl::Status SeedFromProc(const std::string& proc_root = "/proc");

  // Replaces the entry of the exec'ing process. exe and cmdline come from /proc when the process
  // still runs the image the event describes (same inode), else exe is the event's filename.
  void OnExec(const events::ExecEvent& e);
  // A new process: a copy of its parent's entry (same image until it execs) with its own pid.
  // Fallback-hook records that may describe a thread are skipped by the caller.
  void OnFork(const events::ForkEvent& e);
  // Marks the entry of the exiting process as exited; it stays known for kExitLingerNs (a pid
  // reused by a new process replaces it at once), then goes.
  void OnExit(const events::ExitEvent& e);
  // Inserts or replaces an entry as given (a recorded snapshot on replay).
  void Upsert(ProcessEntry entry) { Put(std::move(entry)); }
  // Never read /proc on a miss: replaying a recording must not see this host's processes.
  void DisableProcLookup() { proc_root_.clear(); }

  // The entry of `pid`; when missing (a process that started before the probes attached and
  // after the seed, or was evicted), one /proc lookup fills it in. Failures are not cached.
  std::optional<ProcessEntry> Get(uint32_t pid) const;
  // The same without a copy: null when unknown; valid until the table next changes (any call
  // but size()), so read what is needed at once.
  const ProcessEntry* Find(uint32_t pid) const { return Lookup(pid); }

  // Parent, grandparent, ... of `pid` (nearest first), at most `max_depth`. Ends at ppid 0, at
  // a pid already in the chain (stale entries after lost exits can form a cycle), or after a
  // parent that is unknown (its pid is listed, since the child names it, but not its parent).
  std::vector<uint32_t> Ancestors(uint32_t pid, size_t max_depth = 32) const;

  // Every pid in the table, ascending.
  std::vector<uint32_t> Pids() const;

  size_t size() const { return entries_.size(); }
  size_t max_entries() const { return max_entries_; }
  uint64_t evictions() const { return evictions_; }

 private:
  struct Slot {
    ProcessEntry entry;
    std::list<uint32_t>::iterator lru_pos;  // position in lru_ (front = most recent)
  };

  void Put(ProcessEntry entry) const;
  const ProcessEntry* Lookup(uint32_t pid) const;

  size_t max_entries_;
  // Exited processes in exit order, removed once kExitLingerNs has passed.
  std::deque<std::pair<uint32_t, uint64_t>> exited_;
  std::string proc_root_ = "/proc";
  // Mutable: the lookup cache and the LRU order change on reads (see the class comment).
  mutable absl::flat_hash_map<uint32_t, Slot> entries_;
  mutable std::list<uint32_t> lru_;
  mutable uint64_t evictions_ = 0;
};

}  // namespace sluice::state

#endif  // SLUICE_AGENT_STATE_PROCESS_TABLE_H_
