#include "agent/output/alert_sink.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace sluice::output {
namespace {

class UniqueFd {
 public:
  explicit UniqueFd(int fd, bool owned) : fd_(fd), owned_(owned) {}
  UniqueFd(UniqueFd&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), owned_(other.owned_) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd& operator=(UniqueFd&&) = delete;
  ~UniqueFd() {
    if (owned_ && fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
  bool owned_;  // stdout is borrowed: closing it would hand fd 1 to the next open()
};

class JsonLinesSink : public AlertSink {
 public:
  JsonLinesSink(std::string path, UniqueFd fd, bool is_file, ProductInfo product)
      : path_(std::move(path)),
        fd_(std::move(fd)),
        is_file_(is_file),
        product_(std::move(product)) {}

  absl::Status Write(const detect::Alert& alert) override {
    // Rendering needs no lock; only the write is serialized so lines never interleave.
    std::string line = RenderLine(alert, product_);
    line.push_back('\n');
    absl::MutexLock lock(&mu_);
    size_t done = 0;
    while (done < line.size()) {
      ssize_t n = ::write(fd_.get(), line.data() + done, line.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return absl::ErrnoToStatus(errno, absl::StrCat("cannot write alert to ", path_));
      }
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Flush() override {
    if (!is_file_) return absl::OkStatus();  // a pipe or terminal has nothing to sync
    absl::MutexLock lock(&mu_);
    if (fsync(fd_.get()) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot fsync ", path_));
    }
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  UniqueFd fd_;
  const bool is_file_;
  const ProductInfo product_;
  absl::Mutex mu_;  // serializes writes and fsync on fd_
};

}  // namespace

absl::StatusOr<std::unique_ptr<AlertSink>> OpenJsonLinesSink(const std::string& path,
                                                             ProductInfo product) {
  if (path.empty()) return absl::InvalidArgumentError("alert output path is empty");
  if (product.hostname.empty()) {
    // Resolve once, not per alert: the host does not change under a running agent.
    char host[HOST_NAME_MAX + 1] = {};
    if (gethostname(host, sizeof(host) - 1) == 0) product.hostname = host;
  }
  if (path == "-") {
    return std::unique_ptr<AlertSink>(std::make_unique<JsonLinesSink>(
        "stdout", UniqueFd(STDOUT_FILENO, /*owned=*/false), /*is_file=*/false,
        std::move(product)));
  }
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open alert file ", path));
  }
  return std::unique_ptr<AlertSink>(std::make_unique<JsonLinesSink>(
      path, UniqueFd(fd, /*owned=*/true), /*is_file=*/true, std::move(product)));
}

}  // namespace sluice::output
