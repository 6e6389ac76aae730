// Writes the sensitive-file configuration into the kernel: path prefixes (LPM trie over path
// bytes) and the inodes of the files already under them, so renames, hard links and relative
// opens of existing files are recognised too (the kernel adds inodes of later path matches).
#ifndef SLUICE_AGENT_BPF_FILE_MAPS_H_
#define SLUICE_AGENT_BPF_FILE_MAPS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/detect/rules.h"

namespace sluice::bpf {

struct FileSeedStats {
  size_t prefixes = 0;
  size_t inodes = 0;
  bool truncated = false;  // the inode walk stopped at `max_inodes`
};

// The kernel prefix for a configured path: directories (existing, or written with a trailing
// '/') match everything below them and nothing beside them ("/a/b" must not match "/a/bc").
std::string KernelPrefix(const std::string& configured);

// Inserts every class's prefixes and seeds the inodes found below them (no symlinks followed,
// at most `max_inodes`). Fails on a map error; nonexistent paths are fine (created later).
absl::Status ApplyFileClasses(int prefix_fd, int inode_fd,
                              const std::vector<detect::FileClass>& classes,
                              FileSeedStats* stats, size_t max_inodes = 60000);

// After ApplyFileClasses of a reloaded set: removes the prefixes no class of `classes` names any
// more, and the known inodes whose class id no class has (ids are kept by class name across
// reloads, detect::KeepFileClassIds, so a class that stays keeps the inodes the kernel added).
// Returns how many prefixes and inodes went.
absl::Status RemoveStaleFileClasses(int prefix_fd, int inode_fd,
                                    const std::vector<detect::FileClass>& classes,
                                    size_t* prefixes_removed, size_t* inodes_removed);

// Writes the capture settings, the agent's own tgid and SLUICE_SENSOR_F_* (slot 0 of sensor_cfg).
absl::Status ApplySensorConfig(int cfg_fd, uint32_t tls_capture, uint32_t agent_tgid,
                               uint32_t flags = 0);

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_FILE_MAPS_H_
