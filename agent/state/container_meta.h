// Container labels from the metadata that container runtimes keep on the host (Docker's
// config.v2.json, the OCI runtime spec of containerd, CRI-O and Podman containers), so that a
// workload found by its container id can be named by its labels (Kubernetes pod and container
// names, compose project, user labels) in rules and alerts.
//
// Everything read here was written by the runtime from what the container's creator asked for,
// so it is treated as untrusted input: files are size-bounded, parsed without exceptions, and the
// labels kept are bounded in number and size.
#ifndef SLUICE_AGENT_STATE_CONTAINER_META_H_
#define SLUICE_AGENT_STATE_CONTAINER_META_H_

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sluice::state {

// Labels of one container, sorted by key (stable when recorded and compared).
using ContainerLabels = std::map<std::string, std::string>;

// Where the runtimes keep per-container metadata on the host. Tests point them at temporary
// directories.
struct ContainerMetaRoots {
  // Docker: <root>/<id>/config.v2.json, labels in .Config.Labels (object of strings).
  std::vector<std::string> docker = {"/var/lib/docker/containers"};
  // containerd (Kubernetes CRI, nerdctl): <root>/<namespace>/<id>/config.json, the OCI runtime
  // spec of the task; its .annotations (object of strings) are the labels.
  std::vector<std::string> containerd = {"/run/containerd/io.containerd.runtime.v2.task"};
  // CRI-O and Podman: <root>/<id>/userdata/config.json, OCI spec, .annotations.
  std::vector<std::string> oci_userdata = {"/run/containers/storage/overlay-containers",
                                           "/var/lib/containers/storage/overlay-containers"};
};

// A full container id: exactly 64 lower-case hex digits. (Inline: the recording codec checks
// ids without linking the state library.)
inline bool IsContainerId(std::string_view id) {
  return id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The labels of the container with this full id (exactly 64 lower-case hex digits; anything
// else is InvalidArgument), from the first runtime that knows it: NotFound when none does.
// Annotations whose value is itself a JSON object of strings that runtimes use to carry the
// user's labels are expanded into it as well: "io.kubernetes.cri-o.Labels" (CRI-O: the
// container's CRI labels, io.kubernetes.pod.name/namespace, io.kubernetes.container.name) and "nerdctl/labels" (nerdctl): their entries are added as labels (an entry that is
// also a plain annotation/label keeps the plain value). A metadata file that is unreadable,
// larger than 4 MiB, not JSON, or of the wrong shape gives a clear InvalidArgument/DataLoss
// status naming the file — never a crash, never an exception escaping. Labels are bounded:
// at most 512 entries, keys and values at most 4096 bytes each; entries past the bounds or
// whose value is not a string are skipped (not fatal).
absl::StatusOr<ContainerLabels> ReadContainerLabels(const ContainerMetaRoots& roots,
                                                    const std::string& id);

}  // namespace sluice::state

#endif  // SLUICE_AGENT_STATE_CONTAINER_META_H_
