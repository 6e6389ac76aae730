// Host allow entries in the kernel (DESIGN §6: "names in rules become IPs from the DNS cache and
// are refreshed as answers arrive"). The kernel decides connects by address, so a `host` entry
// earns kernel allowlist entries for the addresses DNS answers give for the names it matches:
// (workload, address/128) -> the entry's ports, folded with the ports of the workload's CIDR
// entries that contain the address (the kernel sees only the longest prefix). A grant lasts as
// long as the answer's TTL, at least kMinGrantMs, and is renewed by every answer; when it ends the
// key is deleted, or restored to what the rules alone compile for it. Pure: the writes it returns
// are applied by the caller (agent/bpf), so it is tested without the kernel.
#ifndef SLUICE_AGENT_ENFORCE_NAME_GRANTS_H_
#define SLUICE_AGENT_ENFORCE_NAME_GRANTS_H_

#include <linux/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "agent/detect/ip.h"
#include "agent/detect/rules.h"
#include "sluice/abi.h"

namespace sluice::enforce {

// Applications and connection pools keep an address well past a short TTL: a grant stays at
// least this long after the answer that earned it.
inline constexpr int64_t kMinGrantMs = 300'000;

// One write to the kernel allowlist: `value` set = insert/replace, empty = delete.
struct AllowWrite {
  sluice_allow_key key{};
  std::optional<sluice_allow_value> value;
};

class NameGrants {
 public:
  // The rules the grants are computed for (kept by pointer: the caller keeps them alive) and the
  // kernel id base of their bank. Forgets every grant; returns the deletes of the old ones.
  std::vector<AllowWrite> Reset(const detect::RuleSet* rules, uint32_t id_base);
  // Re-points at the same rules after they moved (no writes).
  void Rebind(const detect::RuleSet* rules) { rules_ = rules; }

  // `addr` answers for `names` (every name the DNS cache holds for it), until expires_ms.
  std::vector<AllowWrite> Observe(const detect::IpAddr& addr, const std::vector<std::string>& names,
                                  int64_t expires_ms);
  // Ends the grants whose time is up.
  std::vector<AllowWrite> Expire(int64_t now_ms);

  size_t size() const { return grants_.size(); }

 private:
  struct Key {
    uint32_t rule_id;
    std::array<uint8_t, 16> addr;
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.rule_id, k.addr);
    }
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct Grant {
    std::vector<detect::PortRange> ports;  // of the host entries that matched
    int64_t expires_ms = 0;
  };
  AllowWrite Write(const Key& k, const Grant* grant) const;

  const detect::RuleSet* rules_ = nullptr;
  uint32_t id_base_ = 0;
  absl::flat_hash_map<Key, Grant> grants_;
};

}  // namespace sluice::enforce

#endif  // SLUICE_AGENT_ENFORCE_NAME_GRANTS_H_
