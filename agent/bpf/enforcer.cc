#include "agent/bpf/enforcer.h"

#include <bpf/bpf.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/bpf/map_keys.h"
#include "sluice/abi.h"

namespace sluice::bpf {

Enforcer::Enforcer(enforce::GlobalMode mode, std::string state_path, enforce::Controls controls,
                   PolicyMaps* maps, KernelSeverer* severer, int flows_fd, Hooks hooks)
    : mode_(mode),
      state_path_(std::move(state_path)),
      controls_(std::move(controls)),
      maps_(maps),
      severer_(severer),
      flows_fd_(flows_fd),
      hooks_(std::move(hooks)) {}

void Enforcer::Prepare(const detect::RuleSet& rules, enforce::CompiledPolicy* policy) {
  pending_flags_.clear();
  for (const sluice_workload_cfg& w : policy->workloads) pending_flags_.push_back(w.flags);
  controls_.ApplyTo(rules, policy);
}

void Enforcer::Committed() {
  live_flags_ = std::move(pending_flags_);
  pending_flags_.clear();
  // A quarantine outlives a rule set that no longer names its workload only as a record: say so.
  for (const enforce::QuarantineRecord& q : controls_.quarantined()) {
    if (Find(q.workload) == nullptr) {
      fprintf(stderr,
              "sluiced: workload %s is quarantined but the rules no longer name it; the "
              "quarantine applies again if it comes back (sluicectl unblock %s lifts it)\n",
              q.workload.c_str(), q.workload.c_str());
    }
  }
}

void Enforcer::Start() {
  hooks_.set_enforce(mode_ == enforce::GlobalMode::kEnforce && !controls_.disarmed());
  if (controls_.disarmed()) {
    fprintf(stderr, "sluiced: enforcement is DISARMED (%s): nothing is denied until "
                    "`sluicectl arm`\n",
            state_path_.c_str());
  }
  for (const enforce::QuarantineRecord& q : controls_.quarantined()) {
    fprintf(stderr, "sluiced: workload %s is quarantined (by %s: %s)\n", q.workload.c_str(),
            q.by.c_str(), q.reason.c_str());
  }
  if (state_path_.empty()) {
    fprintf(stderr, "sluiced: no --state-dir: quarantines and disarm hold for this run only\n");
  }
}

const detect::Workload* Enforcer::Find(const std::string& name) const {
  for (const detect::Workload& w : hooks_.rules().workloads) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

absl::Status Enforcer::Rewrite() {
  const detect::RuleSet& rules = hooks_.rules();
  for (size_t i = 0; i < rules.workloads.size() && i < live_flags_.size(); ++i) {
    const uint32_t flags = controls_.Flags(rules.workloads[i].name, live_flags_[i]);
    if (absl::Status s = maps_->SetLiveFlags(static_cast<uint32_t>(i), flags); !s.ok()) return s;
  }
  return absl::OkStatus();
}

size_t Enforcer::SeverDenied(uint32_t rule_id) {
  const uint32_t kernel_id = maps_->live_base() + rule_id;
  size_t severed = 0;
  for (const uint64_t cookie : MapKeys<uint64_t>(flows_fd_)) {
    sluice_flow f{};
    if (bpf_map_lookup_elem(flows_fd_, &cookie, &f) != 0) continue;  // closed meanwhile
    if (f.workload_id != kernel_id) continue;
    if (f.flags & (SLUICE_FLOW_F_INBOUND | SLUICE_FLOW_F_CLOSED)) continue;
    if (maps_->Decide(rule_id, f.daddr, f.dport) != SLUICE_VERDICT_DENY) continue;
    if (absl::Status s = severer_->Sever(cookie, f.pid); s.ok()) {
      ++severed;
    } else {
      fprintf(stderr, "sluiced: quarantine: cannot sever flow %llu: %s\n",
              static_cast<unsigned long long>(cookie), std::string(s.message()).c_str());
    }
  }
  return severed;
}

absl::Status Enforcer::Commit(const enforce::Controls& before, const std::string& what) {
  if (absl::Status s = Rewrite(); !s.ok()) {
    controls_ = before;
    (void)Rewrite();
    return absl::InternalError(absl::StrCat("cannot ", what, ": ", s.message()));
  }
  Persist();
  return absl::OkStatus();
}

void Enforcer::Persist() {
  if (state_path_.empty()) return;
  if (absl::Status s = controls_.Save(state_path_); !s.ok()) {
    // The kernel already holds the change; only its survival across a restart is at stake.
    fprintf(stderr, "sluiced: the enforcement change holds but will not survive a restart: %s\n",
            std::string(s.message()).c_str());
  }
}

void Enforcer::Report(enforce::Change change, const detect::Workload* w, const std::string& by,
                      const std::string& reason, const std::string& extra) {
  detect::Alert a = enforce::ChangeAlert(change, w, by, reason, hooks_.now_ms());
  if (!extra.empty()) a.description += " " + extra;
  fprintf(stderr, "sluiced: %s (by %s)%s%s\n", a.title.c_str(), by.c_str(),
          reason.empty() ? "" : ": ", reason.c_str());
  hooks_.report(a);
}

absl::StatusOr<Enforcer::Result> Enforcer::Quarantine(const std::string& workload,
                                                      const std::string& by,
                                                      const std::string& reason) {
  const detect::Workload* w = Find(workload);
  if (w == nullptr) {
    return absl::NotFoundError(absl::StrCat("no workload \"", workload, "\" in the loaded rules"));
  }
  if (controls_.disarmed()) {
    return absl::FailedPreconditionError(
        "enforcement is disarmed: `sluicectl arm` first, then quarantine");
  }
  const enforce::Controls before = controls_;
  if (!controls_.Quarantine({workload, reason, by, hooks_.now_ms()})) {
    return Result{false, absl::StrCat("workload ", workload, " is already quarantined")};
  }
  if (absl::Status s = Commit(before, absl::StrCat("quarantine ", workload)); !s.ok()) return s;
  const size_t severed = SeverDenied(w->id);
  Report(enforce::Change::kQuarantine, w, by, reason,
         absl::StrCat(severed, " live flow(s) severed."));
  return Result{true, absl::StrCat("workload ", workload, " quarantined; ", severed,
                                   " live flow(s) severed")};
}

absl::StatusOr<Enforcer::Result> Enforcer::Unblock(const std::string& workload,
                                                   const std::string& by,
                                                   const std::string& reason) {
  const enforce::Controls before = controls_;
  if (!controls_.Unblock(workload)) {
    if (Find(workload) == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("no workload \"", workload, "\" in the loaded rules or in quarantine"));
    }
    return Result{false, absl::StrCat("workload ", workload, " is not quarantined")};
  }
  if (absl::Status s = Commit(before, absl::StrCat("unblock ", workload)); !s.ok()) return s;
  would_reported_.erase(workload);
  Report(enforce::Change::kUnblock, Find(workload), by, reason);
  return Result{true, absl::StrCat("workload ", workload, " released from quarantine")};
}

absl::StatusOr<Enforcer::Result> Enforcer::Disarm(const std::string& by,
                                                  const std::string& reason) {
  const enforce::Controls before = controls_;
  std::vector<std::string> released;
  if (!controls_.Disarm(&released)) return Result{false, "enforcement is already disarmed"};
  if (absl::Status s = Commit(before, "disarm"); !s.ok()) return s;
  const size_t unsevered = severer_->ReleaseAll();
  hooks_.set_enforce(false);
  std::string extra;
  if (!released.empty()) {
    extra = absl::StrCat("Quarantines lifted: ", absl::StrJoin(released, ", "), ".");
  }
  Report(enforce::Change::kDisarm, nullptr, by, reason, extra);
  return Result{true, absl::StrCat("enforcement disarmed: nothing is denied (", released.size(),
                                   " quarantine(s) lifted, ", unsevered,
                                   " severed flow(s) released); `sluicectl arm` re-arms")};
}

absl::StatusOr<Enforcer::Result> Enforcer::Arm(const std::string& by, const std::string& reason) {
  const enforce::Controls before = controls_;
  if (!controls_.Arm()) return Result{false, "enforcement is already armed"};
  if (absl::Status s = Commit(before, "arm"); !s.ok()) return s;
  hooks_.set_enforce(mode_ == enforce::GlobalMode::kEnforce);
  Report(enforce::Change::kArm, nullptr, by, reason,
         mode_ == enforce::GlobalMode::kEnforce
             ? ""
             : "The agent runs under --mode monitor: only quarantines deny.");
  return Result{true, mode_ == enforce::GlobalMode::kEnforce
                          ? "enforcement armed: enforce-mode rules deny again"
                          : "enforcement armed (--mode monitor: only quarantines deny)"};
}

void Enforcer::OnConviction(const detect::Workload& workload, const detect::Alert& finding) {
  if (controls_.Find(workload.name) != nullptr) return;  // already contained
  const std::string reason =
      absl::StrCat(finding.detector, " finding ", finding.uid, ": ", finding.title);
  const bool armed = mode_ == enforce::GlobalMode::kEnforce && !controls_.disarmed() &&
                     workload.mode == detect::Mode::kEnforce;
  if (!armed) {
    if (would_reported_.insert(workload.name).second) {
      Report(enforce::Change::kWouldQuarantine, &workload, "rule", reason);
    }
    return;
  }
  if (auto r = Quarantine(workload.name, "rule", reason); !r.ok()) {
    fprintf(stderr, "sluiced: rule quarantine of %s failed: %s\n", workload.name.c_str(),
            std::string(r.status().message()).c_str());
  }
}

}  // namespace sluice::bpf
