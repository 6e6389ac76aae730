#include "agent/state/process_table.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "agent/common/unique_fd.h"

namespace sluice::state {
namespace {


// Reads at most `max_bytes` of a (proc) file. nullopt when it cannot be opened or read, which for
// /proc/PID/* means the process is gone or not ours to inspect.
std::optional<std::string> ReadBounded(const std::string& path, size_t max_bytes) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  std::string out(max_bytes, '\0');
  size_t got = 0;
  while (got < max_bytes) {
    ssize_t n = read(fd.get(), out.data() + got, max_bytes - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

// st_dev in the kernel's new_encode_dev() form, which is what the exec probe reports, so that
// seeded entries and exec events describe the same file with the same (dev, ino).
uint32_t EncodeDev(dev_t dev) {
  const uint32_t maj = major(dev), min = minor(dev);
  return (min & 0xff) | (maj << 8) | ((min & ~0xffu) << 12);
}

// The exe link of a process whose file was replaced or removed reads "/path (deleted)"; rules
// match on the path the binary had.
std::string ReadExeLink(const std::string& link) {
  char buf[PATH_MAX];
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf));
  if (n <= 0) return "";
  absl::string_view target(buf, static_cast<size_t>(n));
  absl::ConsumeSuffix(&target, " (deleted)");
  return std::string(target);
}

std::string ReadCmdline(const std::string& path) {
  auto raw = ReadBounded(path, ProcessTable::kMaxCmdline);
  if (!raw) return "";
  std::replace(raw->begin(), raw->end(), '\0', ' ');
  // argv ends with a NUL (now a space); a truncated read may end mid-argument, which is fine.
  while (!raw->empty() && raw->back() == ' ') raw->pop_back();
  return *std::move(raw);
}

// Process start in CLOCK_BOOTTIME ns: field 22 of /proc/PID/stat, in clock ticks. The comm
// (field 2) may contain spaces and parentheses, so fields are counted after its last ')'.
int64_t ReadStartNs(const std::string& path) {
  auto stat = ReadBounded(path, 4096);
  if (!stat) return 0;
  const size_t close = stat->rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<absl::string_view> fields = absl::StrSplit(
      absl::string_view(*stat).substr(close + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state), so field 22 is fields[19].
  uint64_t ticks = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &ticks)) return 0;
  const long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) return 0;
  return static_cast<int64_t>(ticks * (1000000000ull / static_cast<uint64_t>(hz)));
}

// One process from /proc. nullopt when the process is gone (its status file is the witness:
// it exists for every live process, kernel threads included).
std::optional<ProcessEntry> ReadProcEntry(const std::string& proc_root, uint32_t pid) {
  const std::string dir = absl::StrCat(proc_root, "/", pid);
  auto status = ReadBounded(dir + "/status", 16384);
  if (!status) return std::nullopt;

  ProcessEntry p;
  p.pid = pid;
  std::string name_from_status;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (absl::ConsumePrefix(&line, "PPid:")) {
      (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &p.ppid);
    } else if (absl::ConsumePrefix(&line, "Uid:")) {
      // "Uid:\treal\teffective\tsaved\tfs": the real uid, as bpf_get_current_uid_gid() gives.
      std::vector<absl::string_view> ids =
          absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (!ids.empty()) (void)absl::SimpleAtoi(ids[0], &p.uid);
    } else if (absl::ConsumePrefix(&line, "Name:")) {
      name_from_status = std::string(absl::StripAsciiWhitespace(line));
    }
  }

  if (auto comm = ReadBounded(dir + "/comm", 64)) {
    p.comm = std::string(absl::StripTrailingAsciiWhitespace(*comm));
  } else {
    p.comm = std::move(name_from_status);
  }
  p.cmdline = ReadCmdline(dir + "/cmdline");
  p.exe = ReadExeLink(dir + "/exe");
  // stat() follows the exe link to the file itself (kernel threads have none: left 0).
  struct stat st;
  if (!p.exe.empty() && stat((dir + "/exe").c_str(), &st) == 0) {
    p.exe_ino = st.st_ino;
    p.exe_dev = EncodeDev(st.st_dev);
  }
  p.start_ns = ReadStartNs(dir + "/stat");
  return p;
}

}  // namespace

ProcessTable::ProcessTable(size_t max_entries) : max_entries_(std::max<size_t>(1, max_entries)) {}

absl::Status ProcessTable::SeedFromProc(const std::string& proc_root) {
  proc_root_ = proc_root;
  UniqueDir dir(opendir(proc_root.c_str()));
  if (!dir) return absl::ErrnoToStatus(errno, absl::StrCat("cannot list ", proc_root));
  while (dirent* ent = readdir(dir.get())) {
    // Only process directories have all-digit names ("self", "sys", ... are not processes).
    const absl::string_view name = ent->d_name;
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
          return absl::ascii_isdigit(static_cast<unsigned char>(c));
        })) {
      continue;
    }
    uint32_t pid = 0;
    if (!absl::SimpleAtoi(name, &pid) || pid == 0) continue;
    if (auto p = ReadProcEntry(proc_root, pid)) Put(*std::move(p));
  }
  return absl::OkStatus();
}

void ProcessTable::OnExec(const events::ExecEvent& e) {
  ProcessEntry p;
  p.pid = e.hdr.pid;
  p.ppid = e.ppid;
  p.uid = e.uid;
  p.comm = e.comm;
  p.cgroup_id = e.hdr.cgroup_id;
  p.exe_ino = e.exe_ino;
  p.exe_dev = e.exe_dev;
  p.start_ns = static_cast<int64_t>(e.hdr.ts_ns);
  p.exe = e.filename;  // what execve was given: possibly relative, or a script's path
  // Its tree: kept across an exec in the same cgroup; else its parent's when the parent is in
  // the same cgroup; else a tree of its own (it entered the cgroup, or its parent is unknown).
  // Only what the table holds: no /proc lookup, no change of the eviction order.
  auto held = [this](uint32_t pid) -> const ProcessEntry* {
    auto it = entries_.find(pid);
    return it == entries_.end() ? nullptr : &it->second.entry;
  };
  if (const ProcessEntry* before = held(p.pid);
      before != nullptr && before->tree != 0 && before->cgroup_id == p.cgroup_id) {
    p.tree = before->tree;
  } else if (const ProcessEntry* parent = held(p.ppid);
             parent != nullptr && parent->cgroup_id != 0 && parent->cgroup_id == p.cgroup_id) {
    p.tree = parent->tree;
  } else {
    p.tree = p.pid;
  }

  // Best effort: by the time the record is consumed the process may have exited, or exec'd
  // again, or (rarely) its pid may belong to someone else. /proc is trusted only while it shows
  // the same executable inode as the event. Only the inode is compared: on overlayfs the device
  // stat() reports need not be the one the probe reads from the inode's superblock.
  const std::string dir = absl::StrCat(proc_root_, "/", p.pid);
  struct stat st;
  if (stat((dir + "/exe").c_str(), &st) == 0 && (e.exe_ino == 0 || st.st_ino == e.exe_ino)) {
    if (std::string exe = ReadExeLink(dir + "/exe"); !exe.empty()) p.exe = std::move(exe);
    p.cmdline = ReadCmdline(dir + "/cmdline");
  }
  if (p.cmdline.empty() && !e.argv.empty()) {
    // The process is gone already: the argv prefix the probe copied is the best we have.
    p.cmdline = absl::StrJoin(e.argv, " ").substr(0, kMaxCmdline);
  }
  Put(std::move(p));
}

void ProcessTable::OnFork(const events::ForkEvent& e) {
  if (e.child_pid == 0 || e.child_pid == e.hdr.pid) return;
  ProcessEntry child;
  if (const ProcessEntry* parent = Lookup(e.hdr.pid)) {
    child = *parent;  // its tree too (0 for a parent of unknown lineage)
  }
  child.pid = e.child_pid;
  child.ppid = e.hdr.pid;
  child.cgroup_id = e.hdr.cgroup_id;
  child.start_ns = static_cast<int64_t>(e.hdr.ts_ns);
  Put(std::move(child));
}

void ProcessTable::OnExit(const events::ExitEvent& e) {
  const uint64_t now = e.hdr.ts_ns;
  // The ones whose time is up go, unless their pid has been reused since.
  while (!exited_.empty() && exited_.front().second + kExitLingerNs <= now) {
    const auto [pid, at] = exited_.front();
    exited_.pop_front();
    auto it = entries_.find(pid);
    if (it != entries_.end() && it->second.entry.exited_ns == at) {
      lru_.erase(it->second.lru_pos);
      entries_.erase(it);
    }
  }
  auto it = entries_.find(e.hdr.pid);
  if (it == entries_.end()) return;
  it->second.entry.exited_ns = std::max<uint64_t>(now, 1);
  exited_.emplace_back(e.hdr.pid, it->second.entry.exited_ns);
}

void ProcessTable::Put(ProcessEntry entry) const {
  const uint32_t pid = entry.pid;
  if (auto it = entries_.find(pid); it != entries_.end()) {
    it->second.entry = std::move(entry);
    lru_.splice(lru_.begin(), lru_, it->second.lru_pos);
    return;
  }
  if (entries_.size() >= max_entries_) {
    entries_.erase(lru_.back());
    lru_.pop_back();
    ++evictions_;
  }
  lru_.push_front(pid);
  entries_.emplace(pid, Slot{std::move(entry), lru_.begin()});
}

const ProcessEntry* ProcessTable::Lookup(uint32_t pid) const {
  if (auto it = entries_.find(pid); it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru_pos);
    return &it->second.entry;
  }
  if (pid == 0 || proc_root_.empty()) return nullptr;
  auto fresh = ReadProcEntry(proc_root_, pid);
  if (!fresh) return nullptr;
  Put(*std::move(fresh));
  return &entries_.find(pid)->second.entry;
}

std::optional<ProcessEntry> ProcessTable::Get(uint32_t pid) const {
  const ProcessEntry* p = Lookup(pid);
  if (p == nullptr) return std::nullopt;
  return *p;
}

std::vector<uint32_t> ProcessTable::Ancestors(uint32_t pid, size_t max_depth) const {
  std::vector<uint32_t> chain;
  absl::flat_hash_set<uint32_t> seen = {pid};
  uint32_t cur = pid;
  while (chain.size() < max_depth) {
    const ProcessEntry* p = Lookup(cur);
    if (p == nullptr) break;  // unknown: its parent is unknown too
    const uint32_t parent = p->ppid;
    if (parent == 0 || !seen.insert(parent).second) break;
    chain.push_back(parent);
    cur = parent;
  }
  return chain;
}

std::vector<uint32_t> ProcessTable::Pids() const {
  std::vector<uint32_t> pids;
  pids.reserve(entries_.size());
  for (const auto& [pid, slot] : entries_) pids.push_back(pid);
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace sluice::state
