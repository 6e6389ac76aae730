// Feature probe for the preferred hooks of DESIGN §4 (fentry/fexit, BPF-LSM, tp_btf): before the
// sensor object is loaded, each family's preferred hook is tried with a two-instruction program
// of the same type on the same kernel function, loaded and attached for real, then released.
// A family whose probe fails loads its fallback programs instead (tracepoints), so one missing
// feature never costs the others.
#ifndef SLUICE_AGENT_BPF_HOOK_PROBE_H_
#define SLUICE_AGENT_BPF_HOOK_PROBE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace sluice::bpf {

enum class HookKind { kTpBtf, kFentry, kFexit, kLsm };

struct HookSupport {
  bool ok = false;
  std::string reason;  // why not, for the start-up log and status ("" when ok)
};

// Loads and attaches a minimal program of `kind` on `target` (a tracepoint name for kTpBtf, a
// kernel function for kFentry/kFexit, an LSM hook name such as "file_open" for kLsm). For kLsm
// the BPF LSM must also be active (`lsm_list`, the contents of /sys/kernel/security/lsm): on a
// kernel booted without "bpf" in lsm= the program attaches but never runs.
HookSupport ProbeHook(HookKind kind, const std::string& target, absl::string_view lsm_list);

// Whether a comma-separated active-LSM list (/sys/kernel/security/lsm) names the BPF LSM.
bool LsmListHasBpf(absl::string_view lsm_list);

// /sys/kernel/security/lsm, mounting securityfs first when it is absent; "" when unreadable.
std::string ReadActiveLsms();

// The hook name for logs: "fexit/vfs_read", "lsm/file_open", "tp_btf/sched_process_exec".
std::string HookName(HookKind kind, absl::string_view target);

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_HOOK_PROBE_H_
