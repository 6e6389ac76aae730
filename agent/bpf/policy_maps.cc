#include "agent/bpf/policy_maps.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/bpf/map_keys.h"

namespace sluice::bpf {
namespace {

absl::Status Update(int fd, const void* key, const void* value, const char* what) {
  if (bpf_map_update_elem(fd, key, value, BPF_ANY) != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot update BPF map ", what, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status Delete(int fd, const void* key, const char* what) {
  if (bpf_map_delete_elem(fd, key) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("cannot delete from BPF map ", what, ": ",
                                            strerror(errno)));
  }
  return absl::OkStatus();
}

// Clears `bits` in every entry of a watch map (values are a single u64 mask).
template <typename K>
absl::Status ClearBits(int fd, uint64_t bits, const char* what) {
  for (const K& key : MapKeys<K>(fd)) {
    uint64_t mask = 0;
    if (bpf_map_lookup_elem(fd, &key, &mask) != 0) continue;  // gone meanwhile (process exit)
    if ((mask & bits) == 0) continue;
    mask &= ~bits;
    absl::Status s = mask == 0 ? Delete(fd, &key, what) : Update(fd, &key, &mask, what);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

static_assert(sizeof(sluice_cgroup_match) == sizeof(uint64_t));
static_assert(sizeof(sluice_exe_match) == sizeof(uint64_t));
static_assert(sizeof(sluice_task_match) == sizeof(uint64_t));

absl::Status WriteBank(const Sensor* sensor, const enforce::CompiledPolicy& policy) {
  for (uint32_t i = 0; i < policy.workloads.size(); ++i) {
    const uint32_t id = policy.id_base + i;
    if (auto s = Update(sensor->workload_cfg_fd(), &id, &policy.workloads[i], "workload_cfg");
        !s.ok()) {
      return s;
    }
  }
  for (const auto& entry : policy.allow) {
    if (auto s = Update(sensor->egress_allow_fd(), &entry.key, &entry.value, "egress_allow");
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PolicyMaps::Apply(const enforce::CompiledPolicy& policy) {
  if (auto s = WriteBank(sensor_, policy); !s.ok()) return s;
  live_base_ = write_base_ = policy.id_base;
  live_ = policy.selector;
  uint32_t zero = 0;
  return Update(sensor_->selector_cfg_fd(), &zero, &policy.selector, "selector_cfg");
}

absl::Status PolicyMaps::Stage(const enforce::CompiledPolicy& next) {
  if (staged_) return absl::FailedPreconditionError("a reload is already staged");
  if (next.id_base != next_base()) {
    return absl::InvalidArgumentError(absl::StrCat("the next rule set must use kernel ids from ",
                                                   next_base(), ", not ", next.id_base));
  }
  staged_ = true;
  write_base_ = next.id_base;
  keep_ = enforce::BankMask(live_base_);
  next_ = next.selector;
  // Leftovers of the set before the live one (bits a racing fork copied after the last scrub)
  // must not come back to life with the new set.
  if (auto s = Scrub(enforce::BankMask(next.id_base)); !s.ok()) return s;
  if (auto s = WriteBank(sensor_, next); !s.ok()) return s;
  // Both banks' selector kinds, the live bank still the only active one.
  sluice_selector_cfg both = live_;
  both.has_cgroup |= next.selector.has_cgroup;
  both.has_exe |= next.selector.has_exe;
  uint32_t zero = 0;
  return Update(sensor_->selector_cfg_fd(), &zero, &both, "selector_cfg");
}

absl::Status PolicyMaps::Commit(absl::Status* cleanup) {
  if (!staged_) return absl::FailedPreconditionError("no reload staged");
  uint32_t zero = 0;
  // The switch: the next bank becomes the active one in a single map update (active_mask is one
  // aligned u64; has_cgroup/has_exe already hold both banks' bits and do not change here).
  sluice_selector_cfg both = next_;
  both.has_cgroup |= live_.has_cgroup;
  both.has_exe |= live_.has_exe;
  if (auto s = Update(sensor_->selector_cfg_fd(), &zero, &both, "selector_cfg"); !s.ok()) {
    return s;
  }
  const uint64_t old_bank = enforce::BankMask(live_base_);
  live_base_ = write_base_;
  live_ = next_;
  keep_ = 0;
  staged_ = false;
  // From here the new set decides; what is left of the old one is inert, and removed.
  *cleanup = Scrub(old_bank);
  if (auto s = Update(sensor_->selector_cfg_fd(), &zero, &live_, "selector_cfg");
      !s.ok() && cleanup->ok()) {
    *cleanup = s;
  }
  return absl::OkStatus();
}

void PolicyMaps::Abort() {
  if (!staged_) return;
  uint32_t zero = 0;
  (void)Update(sensor_->selector_cfg_fd(), &zero, &live_, "selector_cfg");
  (void)Scrub(enforce::BankMask(write_base_));
  write_base_ = live_base_;
  keep_ = 0;
  staged_ = false;
}

absl::Status PolicyMaps::Scrub(uint64_t bank) {
  absl::Status first = absl::OkStatus();
  auto note = [&first](absl::Status s) {
    if (first.ok() && !s.ok()) first = std::move(s);
  };
  note(ClearBits<uint64_t>(sensor_->cgroup_match_fd(), bank, "cgroup_match"));
  note(ClearBits<sluice_exe_key>(sensor_->exe_match_fd(), bank, "exe_match"));
  note(ClearBits<uint32_t>(sensor_->task_match_fd(), bank, "task_match"));
  for (const sluice_allow_key& key : MapKeys<sluice_allow_key>(sensor_->egress_allow_fd())) {
    const uint32_t id = ntohl(key.workload_id) & ~SLUICE_ALLOW_QUARANTINE;
    if (id < 64 && (bank >> id) & 1) note(Delete(sensor_->egress_allow_fd(), &key, "egress_allow"));
  }
  const sluice_workload_cfg none{};
  for (uint32_t id = 0; id < SLUICE_MAX_WORKLOADS; ++id) {
    if ((bank >> id) & 1) note(Update(sensor_->workload_cfg_fd(), &id, &none, "workload_cfg"));
  }
  return first;
}

absl::Status PolicyMaps::ApplyExemptions(const std::vector<enforce::Exemption>& exemptions) {
  const int fd = sensor_->exempt_fd();
  // Write the new entries first, then drop the ones that are gone: a destination that stays
  // exempt is never briefly denied.
  std::vector<sluice_exempt_key> keep;
  for (const enforce::Exemption& e : exemptions) {
    sluice_exempt_key key{};
    key.prefixlen = static_cast<uint32_t>(e.cidr.prefix_len);
    std::memcpy(key.addr, e.cidr.base.bytes.data(), sizeof(key.addr));
    sluice_allow_value value{};
    value.nranges = static_cast<uint32_t>(std::min<size_t>(e.ports.size(), SLUICE_MAX_PORT_RANGES));
    for (uint32_t i = 0; i < value.nranges; ++i) {
      value.ranges[i].lo = e.ports[i].lo;
      value.ranges[i].hi = e.ports[i].hi;
    }
    if (auto s = Update(fd, &key, &value, "exempt"); !s.ok()) return s;
    keep.push_back(key);
  }
  for (const sluice_exempt_key& key : MapKeys<sluice_exempt_key>(fd)) {
    const bool kept = std::any_of(keep.begin(), keep.end(), [&key](const sluice_exempt_key& k) {
      return std::memcmp(&k, &key, sizeof(k)) == 0;
    });
    if (!kept) {
      if (auto s = Delete(fd, &key, "exempt"); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status PolicyMaps::WriteMask(int fd, const void* key, uint64_t mask, const char* what) {
  uint64_t value = mask << write_base_;
  if (keep_ != 0) {
    uint64_t existing = 0;
    if (bpf_map_lookup_elem(fd, key, &existing) == 0) value |= existing & keep_;
  }
  if (value == 0) return Delete(fd, key, what);
  return Update(fd, key, &value, what);
}

absl::Status PolicyMaps::WriteAllow(const enforce::AllowWrite& write) {
  if (write.value) return Update(sensor_->egress_allow_fd(), &write.key, &*write.value, "egress_allow");
  return Delete(sensor_->egress_allow_fd(), &write.key, "egress_allow");
}

absl::Status PolicyMaps::SetLiveFlags(uint32_t rule_id, uint32_t flags) {
  if (rule_id >= enforce::kBankSize) {
    return absl::InvalidArgumentError(absl::StrCat("workload id ", rule_id, " out of range"));
  }
  const uint32_t id = live_base_ + rule_id;
  sluice_workload_cfg cfg{};
  cfg.flags = flags;
  return Update(sensor_->workload_cfg_fd(), &id, &cfg, "workload_cfg");
}

namespace {

bool PortsMatch(const sluice_allow_value& v, uint16_t port) {
  for (uint32_t i = 0; i < v.nranges && i < SLUICE_MAX_PORT_RANGES; ++i) {
    if (port >= v.ranges[i].lo && port <= v.ranges[i].hi) return true;
  }
  return false;
}

bool IsLoopback(const uint8_t a[16]) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr uint8_t kOne[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return (std::memcmp(a, kMapped, 12) == 0 && a[12] == 127) || std::memcmp(a, kOne, 16) == 0;
}

}  // namespace

uint8_t PolicyMaps::Decide(uint32_t rule_id, const uint8_t addr[16], uint16_t port) const {
  const uint32_t id = live_base_ + rule_id;
  sluice_workload_cfg cfg{};
  if (bpf_map_lookup_elem(sensor_->workload_cfg_fd(), &id, &cfg) != 0) cfg.flags = 0;
  if (!(cfg.flags & SLUICE_WL_F_ENFORCE_LOOPBACK) && IsLoopback(addr)) return SLUICE_VERDICT_EXEMPT;
  sluice_exempt_key ek{};
  ek.prefixlen = 128;
  std::memcpy(ek.addr, addr, 16);
  sluice_allow_value v{};
  if (bpf_map_lookup_elem(sensor_->exempt_fd(), &ek, &v) == 0 && PortsMatch(v, port)) {
    return SLUICE_VERDICT_EXEMPT;
  }
  const bool quarantined = (cfg.flags & SLUICE_WL_F_QUARANTINE) != 0;
  sluice_allow_key key{};
  key.prefixlen = 32 + 128;
  key.workload_id = htonl(quarantined ? (id | SLUICE_ALLOW_QUARANTINE) : id);
  std::memcpy(key.addr, addr, 16);
  if (bpf_map_lookup_elem(sensor_->egress_allow_fd(), &key, &v) == 0 && PortsMatch(v, port)) {
    return SLUICE_VERDICT_ALLOW;
  }
  return (cfg.flags & (SLUICE_WL_F_ENFORCE | SLUICE_WL_F_QUARANTINE)) ? SLUICE_VERDICT_DENY
                                                                      : SLUICE_VERDICT_WOULD_DENY;
}

absl::Status PolicyMaps::WatchCgroup(uint64_t cgroup_id, uint64_t workload_mask) {
  return WriteMask(sensor_->cgroup_match_fd(), &cgroup_id, workload_mask, "cgroup_match");
}

absl::Status PolicyMaps::WatchExe(uint32_t dev, uint64_t ino, uint64_t workload_mask) {
  sluice_exe_key key{};
  key.ino = ino;
  key.dev = dev;
  return WriteMask(sensor_->exe_match_fd(), &key, workload_mask, "exe_match");
}

absl::Status PolicyMaps::WatchTask(uint32_t tgid, uint64_t workload_mask) {
  return WriteMask(sensor_->task_match_fd(), &tgid, workload_mask, "task_match");
}

}  // namespace sluice::bpf
