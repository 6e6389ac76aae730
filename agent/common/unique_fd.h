// RAII owners of a file descriptor and of a directory stream: every fd the agent opens is closed
// on every path, including early error returns. Move-only.
#ifndef SLUICE_AGENT_COMMON_UNIQUE_FD_H_
#define SLUICE_AGENT_COMMON_UNIQUE_FD_H_

#include <dirent.h>
#include <unistd.h>

#include <memory>
#include <utility>

namespace sluice {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  // Closes the current fd (if any) and owns `fd` instead.
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A DIR* from opendir/fdopendir, closed with closedir (which also closes an fdopendir's fd).
struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

}  // namespace sluice

#endif  // SLUICE_AGENT_COMMON_UNIQUE_FD_H_
