#include "agent/bpf/pins.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sluice::bpf {
namespace {

absl::Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", path, ": ", strerror(errno),
                     errno == EPERM || errno == EACCES ? "" : " (is bpffs mounted?)"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string PinPath(const std::string& dir, const char* kind, const std::string& name) {
  return absl::StrCat(dir, "/", kind, "/", name);
}

absl::StatusOr<UniqueFd> LockPinDir(const std::string& dir) {
  for (const std::string& d : {dir, dir + "/links", dir + "/maps"}) {
    if (auto s = MakeDir(d); !s.ok()) return s;
  }
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot open ", dir, ": ", strerror(errno)));
  }
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("another sluiced (or sluicectl disarm) is using ", dir));
    }
    return absl::FailedPreconditionError(absl::StrCat("cannot lock ", dir, ": ", strerror(errno)));
  }
  return fd;
}

std::vector<std::string> PinnedNames(const std::string& dir, const char* kind) {
  std::vector<std::string> out;
  UniqueDir d(opendir(absl::StrCat(dir, "/", kind).c_str()));
  if (!d) return out;
  while (dirent* e = readdir(d.get())) {
    if (e->d_name[0] == '.') continue;
    out.emplace_back(e->d_name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void RemovePins(const std::string& dir) {
  for (const char* kind : {"links", "maps"}) {
    for (const std::string& name : PinnedNames(dir, kind)) unlink(PinPath(dir, kind, name).c_str());
    rmdir(absl::StrCat(dir, "/", kind).c_str());
  }
  rmdir(dir.c_str());
}

absl::StatusOr<ReleaseReport> ReleasePinned(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("nothing pinned: ", dir, ": ", strerror(errno)));
  }
  auto lock = LockPinDir(dir);
  if (!lock.ok()) return lock.status();
  ReleaseReport report;
  for (const std::string& name : PinnedNames(dir, "links")) {
    const std::string path = PinPath(dir, "links", name);
    UniqueFd fd(bpf_obj_get(path.c_str()));
    // Detach first where the link type allows it (cgroup links do): a link some other process
    // still holds open stops deciding anyway. The others (tracepoints) go when their last
    // reference, this pin, goes.
    if (fd.valid()) (void)bpf_link_detach(fd.get());
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return absl::InternalError(absl::StrCat("cannot remove ", path, ": ", strerror(errno)));
    }
    report.links.push_back(name);
  }
  for (const std::string& name : PinnedNames(dir, "maps")) {
    const std::string path = PinPath(dir, "maps", name);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return absl::InternalError(absl::StrCat("cannot remove ", path, ": ", strerror(errno)));
    }
    report.maps.push_back(name);
  }
  RemovePins(dir);
  return report;
}

}  // namespace sluice::bpf
