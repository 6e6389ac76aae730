// Writes the compiled policy and the watch set into the sensor's maps, and swaps rule sets on a
// reload without a moment in which the kernel decides with a mix of two of them.
#ifndef SLUICE_AGENT_BPF_POLICY_MAPS_H_
#define SLUICE_AGENT_BPF_POLICY_MAPS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "agent/bpf/sensor.h"
#include "agent/enforce/exempt.h"
#include "agent/enforce/policy.h"
#include "agent/enforce/watch.h"

namespace sluice::bpf {

// Workload ids in the kernel come in two banks (enforce::kBankSize). The live rule set owns one;
// a reload goes:
//   Stage(next)  scrubs the other bank, writes the next set's workload flags and allowlist into
//                it, and from then on every Watch* call writes the next set's masks there while
//                keeping the live bank's bits: both sets are complete side by side;
//   Commit()     one update of selector_cfg makes the next bank the active one (probes and the
//                connect hooks read active_mask first, so each decision sees one set or the
//                other), then scrubs the old bank;
//   Abort()      instead of Commit when anything failed: scrubs what Stage wrote; the live set
//                never stopped deciding.
// The watch masks the engine passes are in rule-id bits; they are shifted into the bank here.
class PolicyMaps : public enforce::WatchTarget {
 public:
  explicit PolicyMaps(const Sensor* sensor) : sensor_(sensor) {}

  // The first rule set (bank 0 or 1, by policy.id_base). Writes per-workload flags and the
  // allowlist first and the selector summary last: until the summary names a workload the
  // probes treat everything as unwatched, so no probe sees a half-written allowlist.
  absl::Status Apply(const enforce::CompiledPolicy& policy);

  // A restarted agent that adopted pinned maps: the earlier agent's set (bank `live_base`,
  // summary `live`) is the live one, and the first rule set goes in through Stage/Commit.
  void AdoptLive(uint32_t live_base, const sluice_selector_cfg& live) {
    live_base_ = write_base_ = live_base;
    live_ = live;
  }
  // The bank a reload must compile for.
  uint32_t next_base() const { return live_base_ == 0 ? enforce::kBankSize : 0; }
  uint32_t live_base() const { return live_base_; }

  absl::Status Stage(const enforce::CompiledPolicy& next);
  // Fails only when the switch itself failed: the live set still decides, and the caller must
  // Abort(). A failure to clear the old bank afterwards (harmless: its bits are inactive, and the
  // next Stage clears it again) goes to `cleanup`.
  absl::Status Commit(absl::Status* cleanup);
  void Abort();

  // Replaces the contents of the `exempt` map (resolvers, sinks): destinations no workload is
  // denied.
  absl::Status ApplyExemptions(const std::vector<enforce::Exemption>& exemptions);

  // Rewrites the flags of one workload of the live set (by rule id) in place: a single map
  // update, so the next connect or send already sees it (quarantine, unblock, disarm, arm).
  absl::Status SetLiveFlags(uint32_t rule_id, uint32_t flags);
  // What the enforcement hooks would decide now for workload `rule_id` of the live set
  // connecting to addr:port (SLUICE_VERDICT_*): the same lookups in the same order, from user
  // space. Used to find the live flows a quarantine must cut.
  uint8_t Decide(uint32_t rule_id, const uint8_t addr[16], uint16_t port) const;

  absl::Status WatchCgroup(uint64_t cgroup_id, uint64_t workload_mask) override;
  absl::Status WatchExe(uint32_t dev, uint64_t ino, uint64_t workload_mask) override;
  absl::Status WatchTask(uint32_t tgid, uint64_t workload_mask) override;
  absl::Status WriteAllow(const enforce::AllowWrite& write) override;

 private:
  // Writes `mask` (rule-id bits) shifted into the target bank, keeping the bits of `keep_` the
  // entry already has; deletes the entry when nothing is left.
  absl::Status WriteMask(int fd, const void* key, uint64_t mask, const char* what);
  // Removes the bits of `bank` from every watch entry, the bank's allowlist entries, and its
  // workload flags.
  absl::Status Scrub(uint64_t bank);

  const Sensor* sensor_;
  uint32_t live_base_ = 0;
  uint32_t write_base_ = 0;  // bank the Watch* calls write into
  uint64_t keep_ = 0;        // bits of existing entries that Watch* preserves (staging)
  bool staged_ = false;
  sluice_selector_cfg live_{};
  sluice_selector_cfg next_{};
};

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_POLICY_MAPS_H_
