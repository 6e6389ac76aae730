#include "agent/state/container_meta.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/common/unique_fd.h"
#include "nlohmann/json.hpp"

namespace sluice::state {
namespace {

// Real metadata files are tens of KiB; the cap only keeps a hostile or corrupt file from costing
// unbounded memory.
constexpr size_t kMaxFileBytes = 4 << 20;
constexpr size_t kMaxLabels = 512;
constexpr size_t kMaxKeyBytes = 4096;
constexpr size_t kMaxValueBytes = 4096;

// Annotations whose string value is a JSON object holding the labels the user gave: CRI-O keeps
// the CRI labels there, nerdctl the --label values. Earlier entries win over later ones.
constexpr const char* kEmbeddedLabelAnnotations[] = {"io.kubernetes.cri-o.Labels",
                                                     "nerdctl/labels"};

enum class Format { kDocker, kOci };

// "<root>/<parts...>", without doubling a trailing '/' of the root so messages name clean paths.
template <typename... Parts>
std::string UnderRoot(absl::string_view root, const Parts&... parts) {
  while (root.size() > 1 && root.back() == '/') root.remove_suffix(1);
  return absl::StrCat(root, "/", parts...);
}

// The errno text in the message, DataLoss as the code: callers tell "no runtime knows the id"
// (NotFound) from "a runtime knows it but its metadata cannot be used" by code alone.
absl::Status Unreadable(int err, const std::string& path) {
  return absl::DataLossError(
      absl::ErrnoToStatus(err, absl::StrCat("cannot read container metadata ", path)).message());
}

// The file's contents; nullopt when it does not exist (the runtime does not know the id).
absl::StatusOr<std::optional<std::string>> ReadMetaFile(const std::string& path) {
  // O_NONBLOCK: a FIFO planted at the path must not hang the caller in open() or read().
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd.valid()) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<std::string>();
    return Unreadable(errno, path);
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return Unreadable(errno, path);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("container metadata ", path, " is not a regular file"));
  }
  const auto too_large = [&path] {
    return absl::InvalidArgumentError(
        absl::StrCat("container metadata ", path, " is larger than ", kMaxFileBytes, " bytes"));
  };
  if (st.st_size < 0 || static_cast<size_t>(st.st_size) > kMaxFileBytes) return too_large();

  std::string text;
  text.reserve(static_cast<size_t>(st.st_size));
  char buf[16384];
  // The size is checked again while reading: the file may grow between fstat() and read().
  while (true) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unreadable(errno, path);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes) return too_large();
  }
  return std::optional<std::string>(std::move(text));
}

// Adds the string entries of the JSON object `obj` within the bounds. Keys present in `plain`
// (if given) are skipped whatever their value there, so an expanded entry never overrides a
// plain one, even one that was itself skipped for its size.
void AddEntries(const nlohmann::json& obj, const nlohmann::json* plain, ContainerLabels& labels) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (labels.size() >= kMaxLabels) return;
    if (!it.value().is_string()) continue;
    const std::string& key = it.key();
    const std::string& value = it.value().get_ref<const std::string&>();
    if (key.size() > kMaxKeyBytes || value.size() > kMaxValueBytes) continue;
    if (plain != nullptr && plain->contains(key)) continue;
    labels.try_emplace(key, value);
  }
}

ContainerLabels LabelsFromAnnotations(const nlohmann::json& annotations) {
  ContainerLabels labels;
  AddEntries(annotations, nullptr, labels);
  for (const char* name : kEmbeddedLabelAnnotations) {
    const auto it = annotations.find(name);
    if (it == annotations.end() || !it->is_string()) continue;
    const nlohmann::json embedded = nlohmann::json::parse(it->get_ref<const std::string&>(),
                                                          nullptr, /*allow_exceptions=*/false);
    // A malformed embedded object loses only its own entries; the plain annotations stand.
    if (embedded.is_discarded() || !embedded.is_object()) continue;
    AddEntries(embedded, &annotations, labels);
  }
  return labels;
}

absl::Status WrongShape(const std::string& path, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("container metadata ", path, ": ", what));
}

// The labels in the metadata file at `path`; nullopt when the file does not exist.
absl::StatusOr<std::optional<ContainerLabels>> LabelsFromFile(const std::string& path,
                                                              Format format) {
  absl::StatusOr<std::optional<std::string>> text = ReadMetaFile(path);
  if (!text.ok()) return text.status();
  if (!text->has_value()) return std::optional<ContainerLabels>();

  const nlohmann::json doc = nlohmann::json::parse(**text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return WrongShape(path, "not valid JSON");
  if (!doc.is_object()) return WrongShape(path, "not a JSON object");

  const nlohmann::json* labels_obj = nullptr;
  if (format == Format::kDocker) {
    const auto config = doc.find("Config");
    if (config == doc.end() || !config->is_object()) return WrongShape(path, "no .Config object");
    const auto labels = config->find("Labels");
    // Docker writes null (or nothing) for a container without labels.
    if (labels != config->end() && !labels->is_null()) {
      if (!labels->is_object()) return WrongShape(path, ".Config.Labels is not an object");
      labels_obj = &*labels;
    }
  } else {
    const auto annotations = doc.find("annotations");
    // Optional in the OCI runtime spec.
    if (annotations != doc.end() && !annotations->is_null()) {
      if (!annotations->is_object()) return WrongShape(path, ".annotations is not an object");
      labels_obj = &*annotations;
    }
  }
  if (labels_obj == nullptr) return std::optional<ContainerLabels>(ContainerLabels());
  if (format == Format::kDocker) {
    // Docker labels are only the user's own: no runtime-embedded label objects to expand.
    ContainerLabels labels;
    AddEntries(*labels_obj, nullptr, labels);
    return std::optional<ContainerLabels>(std::move(labels));
  }
  return std::optional<ContainerLabels>(LabelsFromAnnotations(*labels_obj));
}

// The containerd namespaces under `root`, sorted so that an id present in two namespaces always
// resolves the same way. Only real directories: a symlink could lead outside the root. Empty when
// the root does not exist (that runtime is not installed).
absl::StatusOr<std::vector<std::string>> ContainerdNamespaces(const std::string& root) {
  UniqueFd fd(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT || errno == ENOTDIR) return std::vector<std::string>();
    return Unreadable(errno, root);
  }
  UniqueDir dir(fdopendir(fd.get()));
  if (dir == nullptr) return Unreadable(errno, root);
  fd.release();  // owned by `dir` now

  std::vector<std::string> names;
  while (true) {
    errno = 0;
    const dirent* e = readdir(dir.get());
    if (e == nullptr) {
      if (errno != 0) return Unreadable(errno, root);
      break;
    }
    const absl::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (fstatat(dirfd(dir.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISDIR(st.st_mode)) continue;
    names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

absl::StatusOr<ContainerLabels> ReadContainerLabels(const ContainerMetaRoots& roots,
                                                    const std::string& id) {
  // The id becomes a path component: only a well-formed id can never name anything but the
  // container's own directory.
  if (!IsContainerId(id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "container id must be 64 lower-case hex digits, got \"",
        absl::CHexEscape(absl::string_view(id).substr(0, 80)), id.size() > 80 ? "...\"" : "\""));
  }

  // A file that exists but cannot be used ends the search with its error rather than falling
  // through: a later runtime's answer would not be the container's.
  // An empty root is skipped: it would turn "<root>/<id>" into "/<id>", outside every root.
  for (const std::string& root : roots.docker) {
    if (root.empty()) continue;
    auto labels = LabelsFromFile(UnderRoot(root, id, "/config.v2.json"), Format::kDocker);
    if (!labels.ok()) return labels.status();
    if (labels->has_value()) return std::move(**labels);
  }
  for (const std::string& root : roots.containerd) {
    if (root.empty()) continue;
    absl::StatusOr<std::vector<std::string>> namespaces = ContainerdNamespaces(root);
    if (!namespaces.ok()) return namespaces.status();
    for (const std::string& ns : *namespaces) {
      auto labels = LabelsFromFile(UnderRoot(root, ns, "/", id, "/config.json"), Format::kOci);
      if (!labels.ok()) return labels.status();
      if (labels->has_value()) return std::move(**labels);
    }
  }
  for (const std::string& root : roots.oci_userdata) {
    if (root.empty()) continue;
    auto labels = LabelsFromFile(UnderRoot(root, id, "/userdata/config.json"), Format::kOci);
    if (!labels.ok()) return labels.status();
    if (labels->has_value()) return std::move(**labels);
  }
  return absl::NotFoundError(absl::StrCat("no container runtime has metadata for container ", id));
}

}  // namespace sluice::state
