// Recent activity the correlating detectors look back on (DESIGN §5): which sensitive files each
// workload read, how many bytes it sent per budget, which names it queried per domain, who used
// each credential first. Bounded: each ledger has a cap and drops its oldest entries first; the
// drops are counted. Single-threaded (the engine thread).
#ifndef SLUICE_AGENT_STATE_LEDGERS_H_
#define SLUICE_AGENT_STATE_LEDGERS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "agent/detect/finding.h"
#include "agent/detect/token_misuse.h"

namespace sluice::state {

// Per workload, per (process, file): the kernel's cumulative read totals and when they last grew.
class ReadLedger {
 public:
  explicit ReadLedger(size_t max_entries = 16384) : max_entries_(max_entries) {}

  struct Update {
    uint32_t workload_id = 0;
    uint32_t pid = 0;
    uint32_t dev = 0;
    uint64_t ino = 0;
    uint64_t bytes_read = 0;    // cumulative, as in the kernel map
    uint64_t bytes_mapped = 0;  // cumulative
    std::string path;
    std::string file_class;
    std::string exe;
    int64_t time_ms = 0;
    uint32_t tree = 0;  // the reader's process tree (ProcessEntry::tree); 0 = unknown lineage
  };
  // Records new totals; returns by how many bytes (read + mapped) they grew since the last
  // update of the same (workload, process, file): 0 when nothing was read since.
  uint64_t Observe(const Update& u);

  // Queries take a process tree: kAnyTree for the whole workload, else the reads of that tree
  // and those of unknown lineage (tree 0), which may belong to any tree.
  static constexpr uint32_t kAnyTree = 0;

  // Reads of the workload (of `tree`) whose last growth is at or after since_ms, of `classes`
  // (every class when empty), oldest first; at most `limit`, the newest. One entry per
  // (process, file).
  std::vector<detect::SensitiveRead> ForWorkload(uint32_t workload_id, uint32_t tree,
                                                 int64_t since_ms,
                                                 const std::vector<std::string>& classes = {},
                                                 size_t limit = SIZE_MAX) const;
  // Reads of one process (all times).
  std::vector<detect::SensitiveRead> ForProcess(uint32_t pid) const;

  // Bytes the workload's processes read (growth of the kernel totals) from files of `classes`
  // (every class when empty) since `since_ms`, at one-minute granularity: the minute holding
  // since_ms counts whole. Kept for a day. Cheap: the send-after-read detectors ask on every
  // flow update.
  uint64_t GrowthSince(uint32_t workload_id, uint32_t tree,
                       const std::vector<std::string>& classes, int64_t since_ms) const;

  // The latest growth of any of the workload's (tree's) entries (INT64_MIN when none): a cheap
  // check before ForWorkload, which copies.
  int64_t LastReadMs(uint32_t workload_id, uint32_t tree = kAnyTree) const;

  // Drops entries whose last growth is before `before_ms`.
  void Expire(int64_t before_ms);

  // After a rule reload: moves each workload's reads to its new id (old id -> new id); the
  // reads of workloads missing from the map (removed by the reload) are dropped.
  void Renumber(const absl::flat_hash_map<uint32_t, uint32_t>& old_to_new);

  size_t size() const { return entries_.size(); }
  uint64_t evicted() const { return evicted_; }

 private:
  struct Key {
    uint32_t workload_id;
    uint32_t pid;
    uint32_t dev;
    uint64_t ino;
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.workload_id, k.pid, k.dev, k.ino);
    }
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct Entry {
    detect::SensitiveRead read;
    uint32_t workload_id = 0;
    uint32_t tree = 0;
  };
  void EvictOldest();

  size_t max_entries_;
  absl::flat_hash_map<Key, Entry> entries_;
  // Keys of each workload's entries, so that a workload's reads are found without a full scan.
  absl::flat_hash_map<uint32_t, absl::flat_hash_set<Key>> by_workload_;
  struct Bucket {
    int64_t minute = 0;
    uint64_t bytes = 0;
  };
  // One workload's (or one tree's) growth: class -> growth per minute, oldest first; and its
  // latest growth.
  struct Growth {
    absl::flat_hash_map<std::string, std::deque<Bucket>> classes;
    int64_t last_ms = INT64_MIN;
  };
  struct WorkloadGrowth {
    Growth all;                                  // every tree
    absl::flat_hash_map<uint32_t, Growth> trees;  // per tree (0: unknown lineage), bounded
  };
  absl::flat_hash_map<uint32_t, WorkloadGrowth> growth_;
  // Trees kept per workload; past it the tree that grew longest ago goes (its reads then count
  // for the workload as a whole only).
  static constexpr size_t kMaxTreesPerWorkload = 4096;
  void AddGrowth(uint32_t workload_id, uint32_t tree, const std::string& file_class,
                 uint64_t bytes, int64_t time_ms);
  static uint64_t SumSince(const Growth& g, const std::vector<std::string>& classes,
                           int64_t since_minute);
  uint64_t evicted_ = 0;
};

// Bytes sent per key (a workload's budget) in one-minute buckets, for sliding-window sums.
class VolumeLedger {
 public:
  explicit VolumeLedger(size_t max_keys = 4096) : max_keys_(max_keys) {}
  // Adds `bytes` at time_ms under key; returns the sum over the last window_s seconds
  // (minute granularity: the current minute plus the whole minutes before it that the window
  // covers).
  uint64_t Add(const std::string& key, uint64_t bytes, int64_t time_ms, uint32_t window_s);
  size_t size() const { return keys_.size(); }

 private:
  struct Bucket {
    int64_t minute = 0;
    uint64_t bytes = 0;
  };
  size_t max_keys_;
  absl::flat_hash_map<std::string, std::deque<Bucket>> keys_;
};

// Distinct query names per (workload, domain) over the last minute.
class NameRate {
 public:
  explicit NameRate(size_t max_domains = 4096, size_t max_names = 4096)
      : max_domains_(max_domains), max_names_(max_names) {}
  // Records `name` under `key` at time_ms; returns the distinct names of the last 60 s
  // (capped at max_names: beyond that the count stops growing, which is far past any threshold).
  uint64_t Observe(const std::string& key, const std::string& name, int64_t time_ms);

 private:
  struct Domain {
    std::deque<std::pair<int64_t, std::string>> seen;  // time, name; oldest first
    absl::flat_hash_map<std::string, int64_t> last;    // name -> last time
  };
  size_t max_domains_;
  size_t max_names_;
  absl::flat_hash_map<std::string, Domain> domains_;
};

// Credential fingerprint -> its first user.
class TokenRegistry {
 public:
  explicit TokenRegistry(size_t max_tokens = 65536) : max_tokens_(max_tokens) {}
  // Records `owner` as the user of `fingerprint` if it is the first; returns the first owner
  // when that is a different workload or executable than `owner`.
  std::optional<detect::TokenOwner> Use(const std::string& fingerprint,
                                        const detect::TokenOwner& owner);
  size_t size() const { return owners_.size(); }

 private:
  size_t max_tokens_;
  absl::flat_hash_map<std::string, detect::TokenOwner> owners_;
};

}  // namespace sluice::state

#endif  // SLUICE_AGENT_STATE_LEDGERS_H_
