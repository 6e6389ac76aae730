#include "agent/bpf/mounts.h"

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "agent/state/cgroup_index.h"

namespace sluice::bpf {
namespace {

#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif
#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
#ifndef SECURITYFS_MAGIC
#define SECURITYFS_MAGIC 0x73636673
#endif

bool HasFsType(const char* path, int64_t magic) {
  struct statfs st;
  return statfs(path, &st) == 0 && static_cast<int64_t>(st.f_type) == magic;
}

absl::Status EnsureMounted(const char* path, const char* fstype, int64_t magic) {
  if (HasFsType(path, magic)) return absl::OkStatus();
  if (mkdir(path, 0755) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("cannot create ", path, ": ", strerror(errno)));
  }
  if (mount("nodev", path, fstype, 0, nullptr) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot mount ", fstype, " at ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::Status EnsureTracefs() {
  // Older hosts expose tracefs only under debugfs; /sys/kernel/tracing exists since 4.1.
  return EnsureMounted("/sys/kernel/tracing", "tracefs", TRACEFS_MAGIC);
}

absl::Status EnsureBpffs() { return EnsureMounted("/sys/fs/bpf", "bpf", BPF_FS_MAGIC); }

absl::Status EnsureSecurityfs() {
  return EnsureMounted("/sys/kernel/security", "securityfs", SECURITYFS_MAGIC);
}

absl::StatusOr<std::string> EnsureCgroup2() {
  auto mounts = ReadFile("/proc/mounts");
  if (!mounts.ok()) return mounts.status();
  auto found = state::FindCgroup2Mount(*mounts);
  if (found.ok()) return found;
  const char* kOwn = "/run/sluice/cgroup2";
  mkdir("/run/sluice", 0700);
  if (mkdir(kOwn, 0755) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("cannot create ", kOwn, ": ", strerror(errno)));
  }
  if (mount("cgroup2", kOwn, "cgroup2", 0, nullptr) != 0) {
    return absl::InternalError(absl::StrCat("no cgroup v2 mount in /proc/mounts and cannot mount "
                                            "one at ", kOwn, ": ", strerror(errno)));
  }
  return std::string(kOwn);
}

std::string MissingCapabilities(uint64_t cap_eff) {
  constexpr int kCapNetAdmin = 12, kCapSysAdmin = 21, kCapSysResource = 24, kCapPerfmon = 38,
                kCapBpf = 39;
  auto has = [cap_eff](int cap) { return (cap_eff >> cap) & 1; };
  std::vector<std::string> missing;
  // Loading tracing programs needs CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN on older kernels);
  // attaching cgroup programs needs CAP_NET_ADMIN; mounting tracefs/bpffs needs CAP_SYS_ADMIN.
  if (!has(kCapSysAdmin)) {
    if (!has(kCapBpf)) missing.push_back("CAP_BPF");
    if (!has(kCapPerfmon)) missing.push_back("CAP_PERFMON");
  }
  if (!has(kCapNetAdmin)) missing.push_back("CAP_NET_ADMIN");
  (void)kCapSysResource;  // only needed for RLIMIT_MEMLOCK on kernels < 5.11 (issue 9)
  return absl::StrJoin(missing, ", ");
}

absl::Status CheckPrivileges() {
  auto status = ReadFile("/proc/self/status");
  if (!status.ok()) return status.status();
  std::istringstream in(*status);
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, "CapEff:")) continue;
    uint64_t eff = 0;
    std::string hex(absl::StripAsciiWhitespace(line.substr(7)));
    if (!absl::SimpleHexAtoi(hex, &eff)) break;
    std::string missing = MissingCapabilities(eff);
    if (missing.empty()) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat(
        "missing capabilities: ", missing, " (run as root or grant them to sluiced)"));
  }
  return absl::InternalError("cannot read CapEff from /proc/self/status");
}

}  // namespace sluice::bpf
