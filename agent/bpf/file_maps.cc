#include "agent/bpf/file_maps.h"

#include <bpf/bpf.h>
#include <ftw.h>
#include <sys/stat.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/bpf/map_keys.h"
#include "sluice/abi.h"

namespace sluice::bpf {
namespace {

// nftw has no context pointer: the walk state lives here for the duration of one walk (the
// agent seeds from its main thread only).
struct WalkState {
  int inode_fd = -1;
  uint32_t class_id = 0;
  size_t max = 0;
  size_t count = 0;
  bool truncated = false;
  int error = 0;
};
thread_local WalkState* g_walk = nullptr;

int Visit(const char*, const struct stat* st, int type, struct FTW*) {
  if (type != FTW_F) return 0;
  if (g_walk->count >= g_walk->max) {
    g_walk->truncated = true;
    return 1;  // stop
  }
  sluice_exe_key key{};
  key.ino = st->st_ino;
  key.dev = static_cast<uint32_t>(st->st_dev);
  sluice_file_class value{};
  value.class_id = g_walk->class_id;
  if (bpf_map_update_elem(g_walk->inode_fd, &key, &value, BPF_ANY) != 0) {
    g_walk->error = errno;
    return 1;
  }
  ++g_walk->count;
  return 0;
}

// When a configured path is an existing directory, makes sensitive_dir map its (dev, inode) to
// `class_id` (no write when it already does) and returns the key; nullopt for anything else.
absl::StatusOr<std::optional<sluice_exe_key>> PutPrefixDir(int dir_fd,
                                                          const std::string& configured,
                                                          uint32_t class_id) {
  struct stat st;
  if (stat(configured.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  sluice_exe_key key{};
  key.ino = st.st_ino;
  key.dev = static_cast<uint32_t>(st.st_dev);
  sluice_file_class value{};
  if (bpf_map_lookup_elem(dir_fd, &key, &value) == 0 && value.class_id == class_id) return key;
  value.class_id = class_id;
  if (bpf_map_update_elem(dir_fd, &key, &value, BPF_ANY) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot add sensitive directory ", configured, ": ", strerror(errno)));
  }
  return key;
}

}  // namespace

std::string KernelPrefix(const std::string& configured) {
  if (absl::EndsWith(configured, "/")) return configured;
  struct stat st;
  if (stat(configured.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) return configured;
  return configured + "/";
}

absl::Status ApplyFileClasses(const FileClassMaps& maps,
                              const std::vector<detect::FileClass>& classes,
                              FileSeedStats* stats, size_t max_inodes) {
  const int prefix_fd = maps.prefix_fd, inode_fd = maps.inode_fd;
  for (const detect::FileClass& c : classes) {
    for (const std::string& configured : c.paths) {
      const std::string prefix = KernelPrefix(configured);
      if (prefix.size() >= SLUICE_PATH_MAX) {
        return absl::InvalidArgumentError(absl::StrCat("path prefix too long: ", prefix));
      }
      sluice_path_key key{};
      key.prefixlen = static_cast<uint32_t>(prefix.size() * 8);
      std::memcpy(key.path, prefix.data(), prefix.size());
      sluice_file_class value{};
      value.class_id = c.id;
      if (bpf_map_update_elem(prefix_fd, &key, &value, BPF_ANY) != 0) {
        return absl::InternalError(absl::StrCat("cannot add sensitive prefix ", prefix, ": ",
                                                strerror(errno)));
      }
      ++stats->prefixes;
      const auto dir = PutPrefixDir(maps.dir_fd, configured, c.id);
      if (!dir.ok()) return dir.status();
      if (dir->has_value()) ++stats->dirs;

      WalkState walk;
      walk.inode_fd = inode_fd;
      walk.class_id = c.id;
      walk.max = max_inodes > stats->inodes ? max_inodes - stats->inodes : 0;
      g_walk = &walk;
      nftw(configured.c_str(), Visit, 16, FTW_PHYS | FTW_MOUNT);
      g_walk = nullptr;
      stats->inodes += walk.count;
      stats->truncated |= walk.truncated;
      if (walk.error != 0) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "cannot record sensitive inode under ", configured, ": ", strerror(walk.error)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status SyncPrefixDirs(const FileClassMaps& maps,
                            const std::vector<detect::FileClass>& classes) {
  absl::flat_hash_set<std::pair<uint32_t, uint64_t>> dirs;
  for (const detect::FileClass& c : classes) {
    for (const std::string& configured : c.paths) {
      const auto dir = PutPrefixDir(maps.dir_fd, configured, c.id);
      if (!dir.ok()) return dir.status();
      if (dir->has_value()) dirs.insert({(*dir)->dev, (*dir)->ino});
    }
  }
  for (const sluice_exe_key& key : MapKeys<sluice_exe_key>(maps.dir_fd)) {
    if (dirs.contains(std::make_pair(key.dev, static_cast<uint64_t>(key.ino)))) continue;
    if (bpf_map_delete_elem(maps.dir_fd, &key) != 0 && errno != ENOENT) {
      return absl::InternalError(
          absl::StrCat("cannot remove sensitive directory: ", strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::Status RemoveStaleFileClasses(const FileClassMaps& maps,
                                    const std::vector<detect::FileClass>& classes,
                                    size_t* prefixes_removed, size_t* inodes_removed) {
  const int prefix_fd = maps.prefix_fd, inode_fd = maps.inode_fd;
  absl::flat_hash_set<std::string> prefixes;
  absl::flat_hash_set<uint32_t> ids;
  for (const detect::FileClass& c : classes) {
    ids.insert(c.id);
    for (const std::string& configured : c.paths) prefixes.insert(KernelPrefix(configured));
  }
  *prefixes_removed = *inodes_removed = 0;
  for (const sluice_path_key& key : MapKeys<sluice_path_key>(prefix_fd)) {
    const size_t len = std::min<size_t>(key.prefixlen / 8, sizeof(key.path));
    if (prefixes.contains(std::string(reinterpret_cast<const char*>(key.path), len))) continue;
    if (bpf_map_delete_elem(prefix_fd, &key) != 0 && errno != ENOENT) {
      return absl::InternalError(absl::StrCat("cannot remove sensitive prefix: ", strerror(errno)));
    }
    ++*prefixes_removed;
  }
  // A prefix directory no class names any more goes with its prefix (counted there).
  if (absl::Status s = SyncPrefixDirs(maps, classes); !s.ok()) return s;
  for (const sluice_exe_key& key : MapKeys<sluice_exe_key>(inode_fd)) {
    sluice_file_class value{};
    if (bpf_map_lookup_elem(inode_fd, &key, &value) != 0 || ids.contains(value.class_id)) continue;
    if (bpf_map_delete_elem(inode_fd, &key) != 0 && errno != ENOENT) {
      return absl::InternalError(absl::StrCat("cannot remove sensitive inode: ", strerror(errno)));
    }
    ++*inodes_removed;
  }
  return absl::OkStatus();
}

absl::Status ApplySensorConfig(int cfg_fd, uint32_t tls_capture, uint32_t agent_tgid,
                               uint32_t flags) {
  uint32_t zero = 0;
  sluice_sensor_cfg cfg{};
  cfg.tls_capture = tls_capture;
  cfg.agent_tgid = agent_tgid;
  cfg.flags = flags;
  if (bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY) != 0) {
    return absl::InternalError(absl::StrCat("cannot write sensor config: ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace sluice::bpf
