// Writes the sensitive-file configuration into the kernel: path prefixes (LPM trie over path
// bytes), the inodes of the files already under them, so renames, hard links and relative
// opens of existing files are recognised too (the kernel adds inodes of later path matches), and
// the prefix directories themselves, so a file created below one later is recognised by where it
// is when no path names it (the kernel walks its parents: a relative open, an io_uring open).
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
  size_t dirs = 0;         // prefixes that are existing directories
  bool truncated = false;  // the inode walk stopped at `max_inodes`
};

// The kernel maps of the sensitive-file configuration (sensitive_prefix, sensitive_inode,
// sensitive_dir).
struct FileClassMaps {
  int prefix_fd = -1;
  int inode_fd = -1;
  int dir_fd = -1;
};

// The kernel prefix for a configured path: directories (existing, or written with a trailing
// '/') match everything below them and nothing beside them ("/a/b" must not match "/a/bc").
std::string KernelPrefix(const std::string& configured);

// Inserts every class's prefixes and prefix directories and seeds the inodes found below them
// (no symlinks followed, at most `max_inodes`). Fails on a map error; nonexistent paths are fine
// (created later).
absl::Status ApplyFileClasses(const FileClassMaps& maps,
                              const std::vector<detect::FileClass>& classes,
                              FileSeedStats* stats, size_t max_inodes = 60000);

// After ApplyFileClasses of a reloaded set: removes the prefixes (and prefix directories) no class
// of `classes` names any more, and the known inodes whose class id no class has (ids are kept by
// class name across reloads, detect::KeepFileClassIds, so a class that stays keeps the inodes
// the kernel added). Returns how many prefixes and inodes went.
absl::Status RemoveStaleFileClasses(const FileClassMaps& maps,
                                    const std::vector<detect::FileClass>& classes,
                                    size_t* prefixes_removed, size_t* inodes_removed);

// Makes sensitive_dir hold exactly the configured prefixes of `classes` that are directories now:
// one created since the rules were loaded is added, one removed or replaced (a new inode) goes.
// Run at every load and about once a second (a few stat calls).
absl::Status SyncPrefixDirs(const FileClassMaps& maps,
                            const std::vector<detect::FileClass>& classes);

// Writes the capture settings, the agent's own tgid and SLUICE_SENSOR_F_* (slot 0 of sensor_cfg).
absl::Status ApplySensorConfig(int cfg_fd, uint32_t tls_capture, uint32_t agent_tgid,
                               uint32_t flags = 0);

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_FILE_MAPS_H_
