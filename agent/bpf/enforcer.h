// Applies enforcement changes to the running kernel policy (DESIGN §6): quarantine and unblock of
// a workload, disarm and arm of the host, by an operator (the control API) or by a rule
// (enforce::Containment). Each change is written to the live bank's workload flags in one map
// update, kept in --state-dir so it survives a restart, and reported as an alert; a quarantine
// also severs the workload's live flows that the kernel would now refuse.
#ifndef SLUICE_AGENT_BPF_ENFORCER_H_
#define SLUICE_AGENT_BPF_ENFORCER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "agent/bpf/policy_maps.h"
#include "agent/bpf/sever.h"
#include "agent/detect/alert.h"
#include "agent/detect/rules.h"
#include "agent/enforce/controls.h"
#include "agent/enforce/policy.h"

namespace sluice::bpf {

class Enforcer : public enforce::Containment {
 public:
  struct Hooks {
    std::function<const detect::RuleSet&()> rules;       // the live rule set
    std::function<void(const detect::Alert&)> report;    // delivers an enforcement alert
    std::function<void(bool)> set_enforce;               // convictions may cut flows
    std::function<int64_t()> now_ms;                     // epoch ms
  };
  // `state_path`: where the controls are kept ("" keeps them for this run only).
  Enforcer(enforce::GlobalMode mode, std::string state_path, enforce::Controls controls,
           PolicyMaps* maps, KernelSeverer* severer, int flows_fd, Hooks hooks);

  // Before a rule set is staged (at start too): puts the controls into its kernel flags and
  // keeps the flags its rules compiled to, for later changes.
  void Prepare(const detect::RuleSet& rules, enforce::CompiledPolicy* policy);
  // After the kernel switched to the prepared set (or instead: it was aborted).
  void Committed();
  void Aborted() { pending_flags_.clear(); }
  // The live workload flags, once the first set is in the kernel (the engine's enforce switch
  // follows the disarm state from here on).
  void Start();

  struct Result {
    bool changed = false;
    std::string message;
  };
  // `by` names who asked ("uid 0"). NotFound for a workload the rules do not name;
  // FailedPrecondition for a quarantine while disarmed.
  absl::StatusOr<Result> Quarantine(const std::string& workload, const std::string& by,
                                    const std::string& reason);
  absl::StatusOr<Result> Unblock(const std::string& workload, const std::string& by,
                                 const std::string& reason);
  absl::StatusOr<Result> Disarm(const std::string& by, const std::string& reason);
  absl::StatusOr<Result> Arm(const std::string& by, const std::string& reason);

  void OnConviction(const detect::Workload& workload, const detect::Alert& finding) override;

  const enforce::Controls& controls() const { return controls_; }
  bool persistent() const { return !state_path_.empty(); }

 private:
  const detect::Workload* Find(const std::string& name) const;
  // Writes the flags of every live workload; on failure, the controls as they were are put back.
  absl::Status Rewrite();
  // Severs the live outbound flows of the workload that the kernel now denies; returns how many.
  size_t SeverDenied(uint32_t rule_id);
  // Puts changed controls into the kernel and on disk; when the kernel refuses, the controls
  // as they were (`before`) are restored there and the error says what could not be done.
  absl::Status Commit(const enforce::Controls& before, const std::string& what);
  void Persist();
  void Report(enforce::Change change, const detect::Workload* w, const std::string& by,
              const std::string& reason, const std::string& extra = "");

  enforce::GlobalMode mode_;
  std::string state_path_;
  enforce::Controls controls_;
  PolicyMaps* maps_;
  KernelSeverer* severer_;
  int flows_fd_;
  Hooks hooks_;
  std::vector<uint32_t> live_flags_;     // as the rules compiled them, by rule id
  std::vector<uint32_t> pending_flags_;
  absl::flat_hash_set<std::string> would_reported_;  // "would quarantine" said once per workload
};

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_ENFORCER_H_
