#include "agent/bpf/sever.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/bpf/map_keys.h"
#include "agent/common/boot_clock.h"
#include "agent/common/unique_fd.h"
#include "sluice/abi.h"

namespace sluice::bpf {

absl::Status ShutdownSocketOf(uint32_t pid, uint64_t cookie) {
  if (pid == 0) return absl::NotFoundError("owner unknown");
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0)));
  if (pidfd.get() < 0) {
    return absl::NotFoundError(absl::StrCat("pid ", pid, ": ", strerror(errno)));
  }
  const std::string dir = absl::StrCat("/proc/", pid, "/fd");
  UniqueDir d(opendir(dir.c_str()));
  if (!d) return absl::NotFoundError(absl::StrCat(dir, ": ", strerror(errno)));
  while (dirent* e = readdir(d.get())) {
    int target = 0;
    if (!absl::SimpleAtoi(e->d_name, &target)) continue;
    char link[64] = {};
    const std::string path = absl::StrCat(dir, "/", e->d_name);
    const ssize_t n = readlink(path.c_str(), link, sizeof(link) - 1);
    if (n <= 0 || strncmp(link, "socket:[", 8) != 0) continue;
    UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), target, 0)));
    if (fd.get() < 0) continue;  // closed meanwhile
    uint64_t c = 0;
    socklen_t len = sizeof(c);
    if (getsockopt(fd.get(), SOL_SOCKET, SO_COOKIE, &c, &len) != 0 || c != cookie) continue;
    // The duplicate shares the socket: shutting it down ends the flow for its owner too.
    if (shutdown(fd.get(), SHUT_RDWR) != 0 && errno != ENOTCONN) {
      return absl::InternalError(absl::StrCat("shutdown of pid ", pid, " fd ", target, ": ",
                                              strerror(errno)));
    }
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat("pid ", pid, " holds no socket with cookie ", cookie));
}

absl::Status KernelSeverer::Sever(uint64_t cookie, uint32_t pid) {
  if (severed_.contains(cookie)) return absl::OkStatus();
  sluice_sever value{};
  value.decided_ns = BootTimeNs();
  // The drop map first: from this update on, no packet of the flow leaves the host.
  if (bpf_map_update_elem(fd_, &cookie, &value, BPF_ANY) != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot add flow ", cookie, " to the severed map: ", strerror(errno)));
  }
  severed_[cookie] = Pending{value.decided_ns, false};
  ++stats_.severed;
  // Then the application: best effort (it may have exited or handed the socket on); the drop
  // holds either way.
  if (ShutdownSocketOf(pid, cookie).ok()) ++stats_.shut_down;
  return absl::OkStatus();
}

size_t KernelSeverer::ReleaseAll() {
  size_t released = 0;
  for (const uint64_t cookie : MapKeys<uint64_t>(fd_)) {
    if (bpf_map_delete_elem(fd_, &cookie) == 0) ++released;
  }
  severed_.clear();
  return released;
}

void KernelSeverer::Report(uint64_t cookie, Pending& p) {
  if (p.reported) return;
  sluice_sever value{};
  if (bpf_map_lookup_elem(fd_, &cookie, &value) != 0 || value.first_drop_ns == 0) return;
  p.reported = true;
  const uint64_t latency =
      value.first_drop_ns > value.decided_ns ? value.first_drop_ns - value.decided_ns : 0;
  ++stats_.dropped_flows;
  stats_.last_latency_ns = latency;
  if (latency > stats_.max_latency_ns) stats_.max_latency_ns = latency;
  fprintf(stderr, "sluiced: severed flow %llu: first packet dropped %.3f ms after the decision\n",
          static_cast<unsigned long long>(cookie), static_cast<double>(latency) / 1e6);
}

void KernelSeverer::Poll() {
  for (auto& [cookie, p] : severed_) Report(cookie, p);
}

void KernelSeverer::Forget(uint64_t cookie) {
  auto it = severed_.find(cookie);
  if (it == severed_.end()) return;
  Report(cookie, it->second);  // a flow that ended between two polls still reports
  severed_.erase(it);
  bpf_map_delete_elem(fd_, &cookie);
}

}  // namespace sluice::bpf
