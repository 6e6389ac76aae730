// Cgroup v2 ids <-> paths. The kernel reports cgroups by id (the inode number of the cgroup's
// directory in cgroupfs); rules and humans name them by path. The index is seeded by walking the
// v2 hierarchy, kept current from cgroup_mkdir events, and rescanned on a miss because a cgroup
// created while its event was lost or not yet consumed must still resolve.
#ifndef SLUICE_AGENT_STATE_CGROUP_INDEX_H_
#define SLUICE_AGENT_STATE_CGROUP_INDEX_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sluice::state {

// Not thread-safe: owned and used by the engine thread.
class CgroupIndex {
 public:
  // `cgroup2_root` is the v2 mount point, e.g. "/sys/fs/cgroup/unified" on a hybrid host.
  explicit CgroupIndex(std::string cgroup2_root);

  // Walks the whole hierarchy under the root and replaces the index with what exists now.
  // Directories only; symlinks are never followed; a directory that cannot be read is indexed
  // but not descended. Fails (leaving the index unchanged) only when the root cannot be read.
  absl::Status Scan();

  // Records a cgroup announced by a cgroup_mkdir event. `rel_path` is relative to the root
  // ("/a/b"); a missing leading '/' is added.
  void Add(uint64_t id, std::string rel_path);

  // The path relative to the root ("/" for the root). On a miss, rescans once (the cgroup may
  // have been created after the last scan) and looks again; nullopt if still unknown.
  // Id 0 is never a valid cgroup id and never triggers a rescan.
  std::optional<std::string> PathOf(uint64_t id);

  // Every known (id, path), sorted by path so that callers see parents before children.
  std::vector<std::pair<uint64_t, std::string>> All() const;

  const std::string& root() const { return root_; }
  size_t size() const { return paths_.size(); }
  // Scans done so far, including the ones PathOf triggered (exported as a metric later).
  uint64_t scans() const { return scans_; }

  // The cgroup id of a cgroup directory given by absolute path: its inode number.
  static absl::StatusOr<uint64_t> IdOf(const std::string& abs_dir);

 private:
  std::string root_;
  absl::flat_hash_map<uint64_t, std::string> paths_;
  uint64_t scans_ = 0;
};

// Parses /proc/mounts text; returns the mount point of the first "cgroup2" filesystem (with the
// kernel's octal escapes such as "\040" decoded), or NotFound.
absl::StatusOr<std::string> FindCgroup2Mount(std::string_view proc_mounts_text);

// Parses /proc/PID/cgroup text; returns the path of the v2 entry ("0::/path" -> "/path"), without
// the " (deleted)" suffix the kernel appends for a removed cgroup, or NotFound.
absl::StatusOr<std::string> Cgroup2PathFromProcCgroup(std::string_view proc_pid_cgroup_text);

}  // namespace sluice::state

#endif  // SLUICE_AGENT_STATE_CGROUP_INDEX_H_
