#include "agent/enforce/name_grants.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "agent/detect/allowlist.h"
#include "agent/enforce/policy.h"

namespace sluice::enforce {

std::vector<AllowWrite> NameGrants::Reset(const detect::RuleSet* rules, uint32_t id_base) {
  std::vector<AllowWrite> out;
  for (const auto& [k, g] : grants_) out.push_back(Write(k, nullptr));
  grants_.clear();
  rules_ = rules;
  id_base_ = id_base;
  return out;
}

AllowWrite NameGrants::Write(const Key& k, const Grant* grant) const {
  AllowWrite w;
  w.key.prefixlen = 32 + 128;
  w.key.workload_id = htonl(id_base_ + k.rule_id);
  std::memcpy(w.key.addr, k.addr.data(), sizeof(w.key.addr));
  // What the rules alone compile for this exact key: the ports of every CIDR entry that contains
  // the address; an exact /128 entry among them means the key exists without the grant.
  const detect::Workload& w_rule = rules_->workloads[k.rule_id];
  std::vector<detect::PortRange> ranges;
  bool exact = false;
  const detect::IpAddr ip{k.addr};
  for (const detect::EgressAllow& a : w_rule.allow) {
    if (a.host_glob || !a.cidr.Contains(ip)) continue;
    AddPortsOf(a.ports, &ranges);
    exact |= a.cidr.prefix_len == 128;
  }
  if (grant != nullptr) ranges.insert(ranges.end(), grant->ports.begin(), grant->ports.end());
  if (grant == nullptr && !exact) return w;  // delete
  ranges = MergePortRanges(std::move(ranges));
  sluice_allow_value v{};
  // More than the kernel holds: keep the first ranges (the rules loader caps static entries;
  // a grant that would overflow is narrowed, never widened).
  v.nranges = static_cast<uint32_t>(std::min<size_t>(ranges.size(), SLUICE_MAX_PORT_RANGES));
  for (uint32_t i = 0; i < v.nranges; ++i) {
    v.ranges[i].lo = ranges[i].lo;
    v.ranges[i].hi = ranges[i].hi;
  }
  w.value = v;
  return w;
}

std::vector<AllowWrite> NameGrants::Observe(const detect::IpAddr& addr,
                                            const std::vector<std::string>& names,
                                            int64_t expires_ms) {
  std::vector<AllowWrite> out;
  if (rules_ == nullptr || names.empty() || detect::IsLoopback(addr)) return out;
  for (const detect::Workload& w : rules_->workloads) {
    std::vector<detect::PortRange> ports;
    for (const detect::EgressAllow& a : w.allow) {
      if (!a.host_glob) continue;
      detect::Destination to;
      to.host_glob = a.host_glob;
      if (detect::DestinationMatches(to, addr, names)) AddPortsOf(a.ports, &ports);
    }
    if (ports.empty()) continue;
    const Key k{w.id, addr.bytes};
    Grant& g = grants_[k];
    std::vector<detect::PortRange> merged = MergePortRanges(ports);
    const bool changed = merged != g.ports;
    g.ports = std::move(merged);
    g.expires_ms = std::max(g.expires_ms, expires_ms);
    if (changed) out.push_back(Write(k, &g));
  }
  return out;
}

std::vector<AllowWrite> NameGrants::Expire(int64_t now_ms) {
  std::vector<AllowWrite> out;
  for (auto it = grants_.begin(); it != grants_.end();) {
    if (it->second.expires_ms > now_ms) {
      ++it;
      continue;
    }
    out.push_back(Write(it->first, nullptr));
    grants_.erase(it++);
  }
  return out;
}

}  // namespace sluice::enforce
