#include "agent/state/workload_resolver.h"

#include <fnmatch.h>

#include <bit>

namespace sluice::state {
namespace {

bool Matches(const std::string& glob, const char* path) {
  return fnmatch(glob.c_str(), path, 0) == 0;
}

// Workload ids index 64-bit masks; LoadRules guarantees ids < SLUICE_MAX_WORKLOADS, but a bad
// shift would be undefined behaviour, so check anyway.
uint64_t Bit(uint32_t id) { return id < SLUICE_MAX_WORKLOADS ? uint64_t{1} << id : 0; }

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

bool ExeGlobMatches(const std::string& glob, const std::string& exe_path) {
  return Matches(glob, exe_path.c_str());
}

uint64_t CgroupMask(const detect::RuleSet& rules, const std::string& cgroup_path) {
  uint64_t mask = 0;
  for (const detect::Workload& w : rules.workloads) {
    if (w.selector.cgroup_glob && CgroupGlobMatches(*w.selector.cgroup_glob, cgroup_path)) {
      mask |= Bit(w.id);
    }
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
