#include "agent/common/host_key.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "agent/common/replace_file.h"
#include "agent/common/unique_fd.h"

namespace sluice {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::ErrnoToStatus(errno, what);
}

}  // namespace

absl::StatusOr<std::string> EphemeralHostKey() {
  std::string key(kHostKeyBytes, '\0');
  size_t got = 0;
  while (got < key.size()) {
    ssize_t n = getrandom(key.data() + got, key.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("getrandom");
    }
    got += static_cast<size_t>(n);
  }
  return key;
}

absl::StatusOr<std::string> LoadOrCreateHostKey(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Errno(absl::StrCat("state directory ", dir));
  }
  const std::string path = absl::StrCat(dir, "/fingerprint.key");
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() >= 0) {
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return Errno(path);
    if ((st.st_mode & 077) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": readable by group or others; chmod 600 it"));
    }
    std::string key(kHostKeyBytes + 1, '\0');
    ssize_t n = read(fd.get(), key.data(), key.size());
    if (n < 0) return Errno(path);
    if (static_cast<size_t>(n) != kHostKeyBytes) {
      return absl::DataLossError(absl::StrCat(path, ": ", n, " bytes, expected ", kHostKeyBytes,
                                              "; remove it to create a new key"));
    }
    key.resize(kHostKeyBytes);
    return key;
  }
  if (errno != ENOENT) return Errno(path);
  absl::StatusOr<std::string> key = EphemeralHostKey();
  if (!key.ok()) return key.status();
  if (absl::Status s = ReplaceFile(path, *key); !s.ok()) return s;
  return key;
}

}  // namespace sluice
