// Which workload does a process belong to? The agent answers the question from names (cgroup
// path, executable path) to fill the kernel's selector maps, and to resolve processes it saw
// before those maps existed. The final rule is the one the BPF side applies
// (bpf/lib/workload.bpf.h), so both sides always agree.
#ifndef SLUICE_AGENT_STATE_WORKLOAD_RESOLVER_H_
#define SLUICE_AGENT_STATE_WORKLOAD_RESOLVER_H_

#include <linux/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "agent/detect/rules.h"
#include "agent/state/container_meta.h"
#include "sluice/abi.h"

namespace sluice::state {

// fnmatch(glob, p, 0) for p = cgroup_path and each of its ancestors below the root
// ("/a/b/c" tries "/a/b/c", "/a/b", "/a"): a selector names a subtree, so the cgroups systemd
// or a container runtime creates under a unit are part of it. The root "/" is tried only when it
// is the path itself, so it matches glob "/" or globs like "*" and never makes every cgroup
// match "/". Trailing slashes of cgroup_path are ignored; an empty path matches nothing.
bool CgroupGlobMatches(const std::string& glob, const std::string& cgroup_path);

// fnmatch(glob, exe_path, 0): "*" crosses "/".
bool ExeGlobMatches(const std::string& glob, const std::string& exe_path);

// Some component of cgroup_path equals unit: "/system.slice/crm-sync.service/worker" is in
// unit "crm-sync.service", and so is everything below the unit's cgroup.
bool UnitMatches(const std::string& unit, const std::string& cgroup_path);

// Some component of cgroup_path names a container whose id starts with id_prefix (lower-case
// hex), as the runtimes name them: "docker-ID.scope", "cri-containerd-ID.scope",
// "crio-ID.scope", "libpod-ID.scope" (systemd cgroup driver) or the bare id (cgroupfs driver),
// where ID is the full id of at most 64 hex digits. "crio-conmon-ID.scope", the runtime's
// monitor, is not the container.
bool ContainerMatches(const std::string& id_prefix, const std::string& cgroup_path);

// The full id (64 lower-case hex digits) of the container the cgroup path names, in the forms
// of ContainerMatches; the deepest such component when several do. nullopt when none does.
std::optional<std::string> ContainerIdOf(const std::string& cgroup_path);

// The labels of a container by full id, or null when they are not known.
using ContainerLabelsFn = std::function<const ContainerLabels*(const std::string& id)>;

// Some workload selects by container labels (so cgroups need their container's labels).
bool NeedsContainerLabels(const detect::RuleSet& rules);

// Bit `id` set for each workload with a cgroup-side selector (Selector::has_cgroup_side) whose
// cgroup glob, unit, container id and container labels, those it sets, all match cgroup_path:
// the value of the kernel's cgroup_match map for that cgroup. Labels come from `labels_of` for
// the container the path names; without it (or without a container) a labels selector does not
// match.
uint64_t CgroupMask(const detect::RuleSet& rules, const std::string& cgroup_path,
                    const ContainerLabelsFn& labels_of = {});

// Bit `id` set for each workload whose exe selector matches exe_path (exe_match map value).
uint64_t ExeMask(const detect::RuleSet& rules, const std::string& exe_path);

// A workload matches when each selector it has matches (cgroup AND exe); the lowest id, i.e. the
// first rule, wins. nullopt when none matches.
std::optional<uint32_t> ResolveWorkload(uint64_t cgroup_mask, uint64_t exe_mask,
                                        const sluice_selector_cfg& cfg);

}  // namespace sluice::state

#endif  // SLUICE_AGENT_STATE_WORKLOAD_RESOLVER_H_
