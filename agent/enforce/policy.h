// Compiles a rule set into the contents of the kernel's policy maps (bpf/include/sluice/abi.h):
// the selector summary, the per-workload flags and the egress LPM trie. Pure: writing the maps
// is agent/bpf's job, so this is tested without privileges.
#ifndef SLUICE_AGENT_ENFORCE_POLICY_H_
#define SLUICE_AGENT_ENFORCE_POLICY_H_

#include <linux/types.h>

#include <vector>

#include "absl/status/statusor.h"
#include "agent/detect/rules.h"
#include "sluice/abi.h"

namespace sluice::enforce {

// The --mode ceiling: under kMonitor no workload is armed, whatever its rule says.
enum class GlobalMode { kMonitor, kEnforce };

// Port ranges as the kernel holds them: sorted, overlapping and adjacent ranges merged
// ([1,5] + [6,9] is [1,9]).
std::vector<detect::PortRange> MergePortRanges(std::vector<detect::PortRange> ranges);
// An allow entry's ports, with "any port" (no ports listed) as 0-65535.
void AddPortsOf(const std::vector<detect::PortRange>& ports,
                std::vector<detect::PortRange>* out);

struct AllowEntry {
  sluice_allow_key key;
  sluice_allow_value value;
};

// The kernel's 64 workload ids form two banks of 32: the live rule set uses one, and a reload
// writes the next set into the other before switching `active_mask` over in one map update, so
// no probe or hook ever decides with half of one set and half of another. The kernel id of a
// workload is its bank's base plus its rule id.
inline constexpr uint32_t kBankSize = SLUICE_MAX_WORKLOADS / 2;
static_assert(kBankSize == detect::kMaxWorkloads);
// The mask bits of the bank starting at id_base (0 or kBankSize).
uint64_t BankMask(uint32_t id_base);

struct CompiledPolicy {
  uint32_t id_base = 0;                        // bank: kernel id = id_base + rule id
  sluice_selector_cfg selector{};              // active_mask, has_cgroup, has_exe (kernel bits)
  std::vector<sluice_workload_cfg> workloads;  // index = rule id (kernel id - id_base)
  std::vector<AllowEntry> allow;               // one per distinct (workload, prefix)
};

// The kernel looks up the full-length key and sees only the longest matching prefix, so each
// entry's value holds the union of its own port ranges and those of every shorter prefix of the
// same workload that contains it ("any port" is 0-65535). A workload's quarantine allowlist is
// compiled the same way under kernel id | SLUICE_ALLOW_QUARANTINE. Entries are sorted by workload id,
// prefix length, then address. InvalidArgument when an entry needs more than
// SLUICE_MAX_PORT_RANGES ranges after merging, or when the rule set breaks the invariants that
// LoadRules guarantees (ids = indexes, at most kBankSize, a selector on each, no host
// allow entry in an enforce-mode workload). Host allow entries are left out of the trie: the
// kernel matches addresses only, and the agent matches those entries by name.
// `id_base` (0 or kBankSize) places the set in a bank: mask bits and allowlist keys use kernel
// ids.
absl::StatusOr<CompiledPolicy> CompilePolicy(const detect::RuleSet& rules, GlobalMode mode,
                                             uint32_t id_base = 0);

}  // namespace sluice::enforce

#endif  // SLUICE_AGENT_ENFORCE_POLICY_H_
