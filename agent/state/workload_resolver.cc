#include "agent/state/workload_resolver.h"

#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <bit>
#include <string_view>

namespace sluice::state {
namespace {

bool Matches(const std::string& glob, const char* path) {
  return fnmatch(glob.c_str(), path, 0) == 0;
}

// Workload ids index 64-bit masks; LoadRules guarantees ids < SLUICE_MAX_WORKLOADS, but a bad
// shift would be undefined behaviour, so check anyway.
uint64_t Bit(uint32_t id) { return id < SLUICE_MAX_WORKLOADS ? uint64_t{1} << id : 0; }

// Calls f on each non-empty "/"-separated component of path until it returns true.
template <typename F>
bool AnyComponent(std::string_view path, F f) {
  while (!path.empty()) {
    const size_t slash = path.find('/');
    const std::string_view component = path.substr(0, slash);
    if (!component.empty() && f(component)) return true;
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return false;
}

// A full container id (at most 64 lower-case hex digits) that starts with id_prefix.
bool IsIdWithPrefix(std::string_view id, std::string_view id_prefix) {
  if (id.size() < id_prefix.size() || id.size() > 64 || !id.starts_with(id_prefix)) {
    return false;
  }
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The part of a cgroup path component that would be a container id: the middle of
// "docker-ID.scope" and the other runtime scopes, else the component itself.
std::string_view IdPartOf(std::string_view component) {
  static constexpr std::array<std::string_view, 4> kScopePrefixes = {"docker-", "cri-containerd-",
                                                                     "crio-", "libpod-"};
  constexpr std::string_view kScope = ".scope";
  for (std::string_view prefix : kScopePrefixes) {
    if (component.size() > prefix.size() + kScope.size() && component.starts_with(prefix) &&
        component.ends_with(kScope)) {
      return component.substr(prefix.size(), component.size() - prefix.size() - kScope.size());
    }
  }
  return component;
}

bool NamesContainer(std::string_view component, std::string_view id_prefix) {
  return IsIdWithPrefix(IdPartOf(component), id_prefix);
}

// The cgroup-side selectors that s sets all match cgroup_path; false when it sets none.
bool CgroupSideMatches(const detect::Selector& s, const std::string& cgroup_path,
                       const ContainerLabelsFn& labels_of) {
  if (!s.has_cgroup_side()) return false;
  if (s.cgroup_glob && !CgroupGlobMatches(*s.cgroup_glob, cgroup_path)) return false;
  if (s.unit && !UnitMatches(*s.unit, cgroup_path)) return false;
  if (s.container_id && !ContainerMatches(*s.container_id, cgroup_path)) return false;
  if (!s.container_labels.empty()) {
    const std::optional<std::string> id = ContainerIdOf(cgroup_path);
    const ContainerLabels* labels = id && labels_of ? labels_of(*id) : nullptr;
    if (labels == nullptr) return false;
    for (const auto& [key, value] : s.container_labels) {
      auto it = labels->find(key);
      if (it == labels->end() || it->second != value) return false;
    }
  }
  return true;
}

}  // namespace

bool CgroupGlobMatches(const std::string& glob, const std::string& cgroup_path) {
  std::string path = cgroup_path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path.empty()) return false;
  if (Matches(glob, path.c_str())) return true;
  // Walk up: "/a/b/c" -> "/a/b" -> "/a"; stop before the root.
  for (size_t slash = path.rfind('/'); slash != std::string::npos && slash > 0;
       slash = path.rfind('/')) {
    path.resize(slash);
    if (Matches(glob, path.c_str())) return true;
  }
  return false;
}

bool UnitMatches(const std::string& unit, const std::string& cgroup_path) {
  if (unit.empty()) return false;
  return AnyComponent(cgroup_path, [&unit](std::string_view c) { return c == unit; });
}

bool ContainerMatches(const std::string& id_prefix, const std::string& cgroup_path) {
  if (id_prefix.empty()) return false;
  return AnyComponent(cgroup_path,
                      [&id_prefix](std::string_view c) { return NamesContainer(c, id_prefix); });
}

bool ExeGlobMatches(const std::string& glob, const std::string& exe_path) {
  return Matches(glob, exe_path.c_str());
}

std::optional<std::string> ContainerIdOf(const std::string& cgroup_path) {
  std::optional<std::string> id;
  AnyComponent(cgroup_path, [&id](std::string_view c) {
    const std::string_view part = IdPartOf(c);
    if (IsContainerId(part)) id = std::string(part);
    return false;  // the deepest one wins: keep walking
  });
  return id;
}

bool NeedsContainerLabels(const detect::RuleSet& rules) {
  return std::any_of(rules.workloads.begin(), rules.workloads.end(),
                     [](const detect::Workload& w) { return !w.selector.container_labels.empty(); });
}

uint64_t CgroupMask(const detect::RuleSet& rules, const std::string& cgroup_path,
                    const ContainerLabelsFn& labels_of) {
  uint64_t mask = 0;
  for (const detect::Workload& w : rules.workloads) {
    if (CgroupSideMatches(w.selector, cgroup_path, labels_of)) mask |= Bit(w.id);
  }
  return mask;
}

uint64_t ExeMask(const detect::RuleSet& rules, const std::string& exe_path) {
  uint64_t mask = 0;
  for (const detect::Workload& w : rules.workloads) {
    if (w.selector.exe_glob && ExeGlobMatches(*w.selector.exe_glob, exe_path)) mask |= Bit(w.id);
  }
  return mask;
}

std::optional<uint32_t> ResolveWorkload(uint64_t cgroup_mask, uint64_t exe_mask,
                                        const sluice_selector_cfg& cfg) {
  // Line for line sluice_current_workload(): a selector a workload lacks counts as matching.
  if (cfg.active_mask == 0) return std::nullopt;
  if (cgroup_mask == 0 && exe_mask == 0) return std::nullopt;  // every workload has a selector
  const uint64_t m = (cgroup_mask | ~cfg.has_cgroup) & (exe_mask | ~cfg.has_exe) & cfg.active_mask;
  if (m == 0) return std::nullopt;
  return static_cast<uint32_t>(std::countr_zero(m));
}

}  // namespace sluice::state
