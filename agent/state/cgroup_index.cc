#include "agent/state/cgroup_index.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "agent/common/unique_fd.h"

namespace sluice::state {
namespace {


std::string ChildPath(const std::string& parent, absl::string_view name) {
  return parent == "/" ? absl::StrCat("/", name) : absl::StrCat(parent, "/", name);
}

// Decodes the octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) that the kernel
// uses for whitespace in /proc/mounts fields.
std::string UnescapeMountField(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const char a = s[i + 1], b = s[i + 2], c = s[i + 3];
      if (a >= '0' && a <= '3' && b >= '0' && b <= '7' && c >= '0' && c <= '7') {
        out.push_back(static_cast<char>((a - '0') * 64 + (b - '0') * 8 + (c - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

CgroupIndex::CgroupIndex(std::string cgroup2_root) : root_(std::move(cgroup2_root)) {}

absl::Status CgroupIndex::Scan() {
  ++scans_;
  // The root itself may be reached through a symlink (it is what the caller named); nothing
  // below it is, so a link inside cgroupfs (or a stand-in tree) cannot pull in a foreign tree.
  UniqueFd root_fd(open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root_fd.get() < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open cgroup root ", root_));
  }
  struct stat st;
  if (fstat(root_fd.get(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot stat cgroup root ", root_));
  }
  absl::flat_hash_map<uint64_t, std::string> found;
  found[st.st_ino] = "/";

  // Iterative depth-first walk holding one directory open at a time, so a deep tree cannot
  // exhaust file descriptors; children are opened relative to the root fd.
  std::vector<std::string> pending = {"/"};
  while (!pending.empty()) {
    std::string rel = std::move(pending.back());
    pending.pop_back();
    int fd = rel == "/" ? dup(root_fd.get())
                        : openat(root_fd.get(), rel.c_str() + 1,
                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;  // unreadable, or removed since we saw it
    UniqueFd owned(fd);
    UniqueDir dir(fdopendir(owned.get()));
    if (!dir) continue;  // `owned` still closes the fd
    owned.release();     // the DIR owns it now
    while (dirent* ent = readdir(dir.get())) {
      absl::string_view name = ent->d_name;
      if (name == "." || name == "..") continue;
      // d_type is a hint; DT_UNKNOWN needs a stat, and only real directories are cgroups.
      if (ent->d_type != DT_DIR && ent->d_type != DT_UNKNOWN) continue;
      struct stat child;
      if (fstatat(dirfd(dir.get()), ent->d_name, &child, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (!S_ISDIR(child.st_mode)) continue;
      std::string child_rel = ChildPath(rel, name);
      found[child.st_ino] = child_rel;
      pending.push_back(std::move(child_rel));
    }
  }
  // A scan is a complete snapshot: cgroups removed since the last one drop out here, which is
  // what keeps the index bounded on hosts with container churn.
  paths_ = std::move(found);
  return absl::OkStatus();
}

void CgroupIndex::Add(uint64_t id, std::string rel_path) {
  if (!absl::StartsWith(rel_path, "/")) rel_path.insert(0, "/");
  paths_[id] = std::move(rel_path);
}

std::optional<std::string> CgroupIndex::PathOf(uint64_t id) {
  if (auto it = paths_.find(id); it != paths_.end()) return it->second;
  if (id == 0) return std::nullopt;
  if (!Scan().ok()) return std::nullopt;
  if (auto it = paths_.find(id); it != paths_.end()) return it->second;
  return std::nullopt;
}

std::vector<std::pair<uint64_t, std::string>> CgroupIndex::All() const {
  std::vector<std::pair<uint64_t, std::string>> out(paths_.begin(), paths_.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second, a.first) < std::tie(b.second, b.first);
  });
  return out;
}

absl::StatusOr<uint64_t> CgroupIndex::IdOf(const std::string& abs_dir) {
  struct stat st;
  if (stat(abs_dir.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot stat ", abs_dir));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(abs_dir, " is not a directory"));
  }
  return static_cast<uint64_t>(st.st_ino);
}

absl::StatusOr<std::string> FindCgroup2Mount(std::string_view proc_mounts_text) {
  const absl::string_view text(proc_mounts_text.data(), proc_mounts_text.size());
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    // device mountpoint fstype options dump pass
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.size() < 3 || f[2] != "cgroup2") continue;
    return UnescapeMountField(f[1]);
  }
  return absl::NotFoundError("no cgroup2 filesystem in /proc/mounts");
}

absl::StatusOr<std::string> Cgroup2PathFromProcCgroup(std::string_view proc_pid_cgroup_text) {
  const absl::string_view text(proc_pid_cgroup_text.data(), proc_pid_cgroup_text.size());
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    // v1 lines are "ID:controllers:/path"; the single v2 line has ID 0 and no controllers. The
    // path may itself contain ':', so only the prefix is matched.
    if (!absl::ConsumePrefix(&line, "0::")) continue;
    absl::ConsumeSuffix(&line, " (deleted)");
    if (line.empty()) continue;
    return std::string(line);
  }
  return absl::NotFoundError("no cgroup v2 entry (\"0::\") in /proc/PID/cgroup");
}

}  // namespace sluice::state
