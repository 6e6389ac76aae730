#include "agent/state/dns_cache.h"

#include <algorithm>

namespace sluice::state {
namespace {
constexpr int kMaxChainHops = 8;
}  // namespace

void DnsCache::Observe(const events::DnsMessage& m, int64_t now_ms) {
  if (!m.response || m.rcode != 0) return;
  for (const events::DnsAnswer& a : m.answers) {
    if (a.type != events::kDnsTypeA && a.type != events::kDnsTypeAaaa) continue;
    // The owner name, then every name whose CNAME chain (within this message) reaches it.
    std::vector<std::string> names = {a.name};
    std::string current = a.name;
    for (int hop = 0; hop < kMaxChainHops; ++hop) {
      auto it = std::find_if(m.answers.begin(), m.answers.end(), [&](const events::DnsAnswer& c) {
        return c.type == events::kDnsTypeCname && c.cname == current;
      });
      if (it == m.answers.end()) break;
      if (std::find(names.begin(), names.end(), it->name) != names.end()) break;  // a cycle
      names.push_back(it->name);
      current = it->name;
    }
    // Added from the end of the chain so the queried name ends up most recent.
    for (auto n = names.begin(); n != names.end(); ++n) Add(a.addr, *n, a.ttl, now_ms);
  }
}

void DnsCache::Add(const std::array<uint8_t, 16>& ip, const std::string& name, uint32_t ttl,
                   int64_t now_ms) {
  const uint32_t clamped = std::clamp(ttl, options_.min_ttl_s, options_.max_ttl_s);
  const int64_t expires = now_ms + int64_t{clamped} * 1000;
  auto it = entries_.find(ip);
  if (it == entries_.end()) {
    if (entries_.size() >= options_.max_addresses && !lru_.empty()) {
      entries_.erase(lru_.back());
      lru_.pop_back();
      ++stats_.evictions;
    }
    lru_.push_front(ip);
    it = entries_.emplace(ip, Entry{{}, lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  std::vector<Name>& names = it->second.names;
  names.erase(std::remove_if(names.begin(), names.end(),
                             [&](const Name& n) { return n.name == name; }),
              names.end());
  names.insert(names.begin(), Name{name, expires});
  if (names.size() > options_.max_names_per_address) {
    names.resize(options_.max_names_per_address);
    ++stats_.evictions;
  }
}

std::vector<std::string> DnsCache::NamesFor(const std::array<uint8_t, 16>& ip, int64_t now_ms) {
  std::vector<std::string> out;
  auto it = entries_.find(ip);
  if (it == entries_.end()) return out;
  std::vector<Name>& names = it->second.names;
  const size_t before = names.size();
  names.erase(std::remove_if(names.begin(), names.end(),
                             [&](const Name& n) { return n.expires_ms <= now_ms; }),
              names.end());
  stats_.expired += before - names.size();
  if (names.empty()) {
    lru_.erase(it->second.lru);
    entries_.erase(it);
    return out;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);  // a lookup is a use
  for (const Name& n : names) out.push_back(n.name);
  return out;
}

}  // namespace sluice::state
