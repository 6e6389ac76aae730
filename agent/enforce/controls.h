// What operators and rules decided about enforcement beyond the rules themselves (DESIGN §6):
// quarantined workloads and the disarm switch. Pure state with its kernel meaning (Flags) and its
// file form; the agent applies it to the kernel, keeps it in --state-dir across restarts, and
// reports every change as an alert (ChangeAlert).
//
// Semantics:
//  - quarantine WORKLOAD: the kernel denies the workload every destination but the exempt ones
//    (resolvers, sinks, loopback) and its `quarantine: allow` entries, whatever its mode. An
//    operator's quarantine holds under --mode monitor too (it is an explicit command); a rule's
//    quarantine only where the rule may block (see Workload::quarantine_on).
//  - unblock WORKLOAD: lifts its quarantine.
//  - disarm: nothing is denied any more (every quarantine lifted, enforce-mode rules report
//    "Would block") until `arm`; it survives restarts, as an operator who disarmed a host expects.
#ifndef SLUICE_AGENT_ENFORCE_CONTROLS_H_
#define SLUICE_AGENT_ENFORCE_CONTROLS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/detect/alert.h"
#include "agent/detect/rules.h"
#include "agent/enforce/policy.h"

namespace sluice::enforce {

struct QuarantineRecord {
  std::string workload;
  std::string reason;  // the operator's words, or the finding that triggered a rule
  std::string by;      // "uid 0" (sluicectl), or "rule"
  int64_t since_ms = 0;
  friend bool operator==(const QuarantineRecord&, const QuarantineRecord&) = default;
};

class Controls {
 public:
  bool disarmed() const { return disarmed_; }
  const std::vector<QuarantineRecord>& quarantined() const { return quarantined_; }
  const QuarantineRecord* Find(const std::string& workload) const;

  // Each returns false when nothing changed (already quarantined, not quarantined, already
  // disarmed, already armed).
  bool Quarantine(QuarantineRecord record);
  bool Unblock(const std::string& workload);
  // Lifts every quarantine too; `released` gets the workloads that were quarantined.
  bool Disarm(std::vector<std::string>* released = nullptr);
  bool Arm();

  // The kernel flags of `workload`, given those its rules compile to.
  uint32_t Flags(const std::string& workload, uint32_t compiled) const;
  // Flags() over every workload of a compiled policy (`rules` names them, by rule id).
  void ApplyTo(const detect::RuleSet& rules, CompiledPolicy* policy) const;

  std::string ToJson() const;
  // InvalidArgument, with what is wrong, for a malformed file.
  static absl::StatusOr<Controls> FromJson(const std::string& text);
  // Written to a temporary file beside `path`, synced, then renamed over it: a crash leaves the
  // old state or the new one, never half of one.
  absl::Status Save(const std::string& path) const;
  // An absent file is the default state (armed, nothing quarantined).
  static absl::StatusOr<Controls> Load(const std::string& path);

 private:
  bool disarmed_ = false;
  std::vector<QuarantineRecord> quarantined_;
};

// The engine's side of rule-driven quarantine: every finding of a detector that a workload's
// `quarantine: on` lists is handed here (replays and unit tests set none: nothing happens).
class Containment {
 public:
  virtual ~Containment() = default;
  virtual void OnConviction(const detect::Workload& workload, const detect::Alert& finding) = 0;
};

enum class Change { kQuarantine, kWouldQuarantine, kUnblock, kDisarm, kArm };

// The alert that reports one enforcement change (detector "enforcement"): a quarantine is
// Blocked, a rule's quarantine that could not block is Would block, unblock/disarm/arm are
// Allowed. `workload` is empty for disarm/arm.
detect::Alert ChangeAlert(Change change, const detect::Workload* workload, const std::string& by,
                          const std::string& reason, int64_t now_ms);

}  // namespace sluice::enforce

#endif  // SLUICE_AGENT_ENFORCE_CONTROLS_H_
