#include "agent/state/dns_cache.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"

namespace sluice::state {
namespace {

// CNAMEs followed from a question forwards, and from an address record's owner backwards.
// Resolvers give up well before this (BIND: 16 in total, most chains are 1-3 long).
constexpr int kMaxChainHops = 8;
// Least recently answered addresses checked for expiry on every Observe: keeps stale addresses
// from piling up without a timer and without a full sweep on the hot path.
constexpr int kExpireChecksPerObserve = 4;

}  // namespace

// The memory charged for one address and for one name (memory_bytes()).
size_t DnsCache::AddressCost() {
  constexpr size_t kSlot = sizeof(std::pair<const Address, Entry>) + 1;   // value + control byte
  constexpr size_t kListNode = sizeof(Address) + 2 * sizeof(void*) + 16;  // + malloc header
  return 2 * kSlot + kListNode;
}

size_t DnsCache::NameCost(const std::string& name) { return sizeof(Name) + name.size(); }

DnsCache::DnsCache(Options options) : options_(options) {
  options_.max_ttl_s = std::max(options_.max_ttl_s, options_.min_ttl_s);
}

void DnsCache::Observe(const events::DnsMessage& m, uint64_t now_ms) {
  // Only a successful answer to a standard query: other opcodes (UPDATE, NOTIFY) give the
  // sections other meanings, and an error response carries nothing to learn.
  if (!m.response || m.opcode != 0 || m.rcode != 0) return;
  if (options_.max_addresses == 0 || options_.max_names_per_address == 0) return;

  for (int i = 0; i < kExpireChecksPerObserve && !lru_.empty(); ++i) {
    auto it = entries_.find(lru_.back());
    if (!ExpireNames(it->second, now_ms)) break;
    Erase(it);
  }

  // The names the questions lead to: the questions, then CNAME targets, kMaxChainHops deep.
  absl::flat_hash_set<absl::string_view> related;
  if (options_.only_question_chains) {
    for (const std::string& q : m.questions) related.insert(q);
    std::vector<absl::string_view> reached;
    for (int hop = 0; hop < kMaxChainHops; ++hop) {
      // One hop per round: the targets found in a round join the set only after it.
      reached.clear();
      for (const events::DnsAnswer& a : m.answers) {
        if (a.type == events::kDnsTypeCname && related.contains(a.name) &&
            !related.contains(a.cname)) {
          reached.push_back(a.cname);
        }
      }
      if (reached.empty()) break;
      related.insert(reached.begin(), reached.end());
    }
  }
  auto is_related = [&](absl::string_view name) {
    return !options_.only_question_chains || related.contains(name);
  };

  // Owner name -> the names that reach it through CNAMEs, nearest first; computed once per owner.
  absl::flat_hash_map<absl::string_view, std::vector<const std::string*>> aliases;
  for (const events::DnsAnswer& a : m.answers) {
    if (a.type != events::kDnsTypeA && a.type != events::kDnsTypeAaaa) continue;
    if (!is_related(a.name)) {
      ++stats_.unrelated;
      continue;
    }
    auto [it, inserted] = aliases.try_emplace(a.name);
    std::vector<const std::string*>& names = it->second;
    if (inserted) {
      // Breadth first, backwards along the CNAMEs; a name seen before ends a path (cycles).
      names.push_back(&a.name);
      size_t level_begin = 0;
      for (int hop = 0; hop < kMaxChainHops && level_begin < names.size(); ++hop) {
        const size_t level_end = names.size();
        for (size_t k = level_begin; k < level_end; ++k) {
          for (const events::DnsAnswer& c : m.answers) {
            if (c.type != events::kDnsTypeCname || c.cname != *names[k]) continue;
            if (!is_related(c.name)) continue;
            const bool seen = std::any_of(names.begin(), names.end(),
                                          [&](const std::string* n) { return *n == c.name; });
            if (!seen) names.push_back(&c.name);
          }
        }
        level_begin = level_end;
      }
    }
    // Every name of the chain is kept as long as the address record it leads to: the name is
    // wanted for as long as the address is used.
    const uint64_t ttl_s = std::clamp(a.ttl, options_.min_ttl_s, options_.max_ttl_s);
    // The owner first and the farthest alias (usually the question) last, so the name the
    // application asked for ends up most recent and is the last one the per-address cap drops.
    Add(a.addr, names, now_ms + ttl_s * 1000, now_ms);
  }
}

void DnsCache::Add(const Address& ip, absl::Span<const std::string* const> names,
                   uint64_t expires_ms, uint64_t now_ms) {
  auto it = entries_.find(ip);
  if (it == entries_.end()) {
    if (entries_.size() >= options_.max_addresses) EvictOldest(now_ms);
    lru_.push_front(ip);
    it = entries_.try_emplace(ip, Entry{{}, lru_.begin()}).first;
    ++stats_.entries;
    memory_bytes_ += AddressCost();
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    ExpireNames(it->second, now_ms);
  }
  std::vector<Name>& held = it->second.names;
  for (const std::string* name : names) {
    auto same =
        std::find_if(held.begin(), held.end(), [&](const Name& n) { return n.name == *name; });
    if (same != held.end()) {
      Name refreshed = std::move(*same);
      held.erase(same);
      refreshed.expires_ms = std::max(refreshed.expires_ms, expires_ms);
      held.insert(held.begin(), std::move(refreshed));
      continue;
    }
    held.insert(held.begin(), Name{*name, expires_ms});
    memory_bytes_ += NameCost(*name);
    if (held.size() > options_.max_names_per_address) {
      memory_bytes_ -= NameCost(held.back().name);
      held.pop_back();
      ++stats_.names_capped;
    }
  }
  // The memory budget: drop the least recently answered addresses, never the one just answered.
  while (memory_bytes_ > options_.max_memory_bytes && entries_.size() > 1) EvictOldest(now_ms);
}

bool DnsCache::ExpireNames(Entry& e, uint64_t now_ms) {
  const size_t before = e.names.size();
  e.names.erase(std::remove_if(e.names.begin(), e.names.end(),
                               [&](const Name& n) {
                                 if (n.expires_ms > now_ms) return false;
                                 memory_bytes_ -= NameCost(n.name);
                                 return true;
                               }),
                e.names.end());
  stats_.expired += before - e.names.size();
  return e.names.empty();
}

void DnsCache::EvictOldest(uint64_t now_ms) {
  if (lru_.empty()) return;
  auto it = entries_.find(lru_.back());
  // An address whose names all expired is counted as expired, not as an eviction.
  if (!ExpireNames(it->second, now_ms)) ++stats_.evictions;
  Erase(it);
}

void DnsCache::Erase(absl::flat_hash_map<Address, Entry>::iterator it) {
  for (const Name& n : it->second.names) memory_bytes_ -= NameCost(n.name);
  memory_bytes_ -= AddressCost();
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

std::vector<DnsCache::Address> DnsCache::Addresses() const {
  std::vector<Address> out;
  out.reserve(entries_.size());
  for (const auto& [ip, e] : entries_) out.push_back(ip);
  return out;
}

std::vector<std::string> DnsCache::NamesFor(const Address& ip, uint64_t now_ms) const {
  std::vector<std::string> out;
  auto it = entries_.find(ip);
  if (it == entries_.end()) return out;
  for (const Name& n : it->second.names) {
    if (n.expires_ms > now_ms) out.push_back(n.name);
  }
  return out;
}

size_t DnsCache::Purge(uint64_t now_ms) {
  const uint64_t before = stats_.expired;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (ExpireNames(it->second, now_ms)) {
      Erase(it++);
    } else {
      ++it;
    }
  }
  return static_cast<size_t>(stats_.expired - before);
}

}  // namespace sluice::state
