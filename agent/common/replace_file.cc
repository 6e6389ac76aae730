#include "agent/common/replace_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "agent/common/unique_fd.h"

namespace sluice {

absl::Status ReplaceFile(const std::string& path, absl::string_view data) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  auto fail = [&tmp](const std::string& what, int err) {
    unlink(tmp.c_str());
    return absl::ErrnoToStatus(err, what);
  };
  {
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) return fail(absl::StrCat("cannot write ", tmp), errno);
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = write(fd.get(), data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return fail(absl::StrCat("cannot write ", tmp), n < 0 ? errno : EIO);
      done += static_cast<size_t>(n);
    }
    if (fsync(fd.get()) != 0) return fail(absl::StrCat("cannot sync ", tmp), errno);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(absl::StrCat("cannot replace ", path), errno);
  }
  return absl::OkStatus();
}

}  // namespace sluice
