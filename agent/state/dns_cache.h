// IP -> the names it was resolved from, learned from DNS answers seen by the sensor, so every
// flow carries the names of its destination (an allowlist by FQDN, an alert that says
// "paste.evil.test" rather than an address). CNAME chains are followed: the address of
// acme.my.salesforce.com -> CNAME na1.salesforce.com -> A 10.1.2.3 gets both names.
// Bounded: LRU over addresses, a cap on names per address, TTLs clamped.
#ifndef SLUICE_AGENT_STATE_DNS_CACHE_H_
#define SLUICE_AGENT_STATE_DNS_CACHE_H_

#include <array>
#include <cstdint>
#include <list>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "agent/events/dns.h"

namespace sluice::state {

class DnsCache {
 public:
  struct Options {
    size_t max_addresses = 65536;
    size_t max_names_per_address = 8;
    // A connect usually follows its answer within milliseconds, but TTL-0 and TTL-1 answers are
    // common (load balancers, CDNs) and a long-lived connection is resolved once: keep names at
    // least this long so the flow still gets them. Capped so a forged huge TTL cannot pin a name.
    uint32_t min_ttl_s = 60;
    uint32_t max_ttl_s = 86400;
  };
  struct Stats {
    uint64_t evictions = 0;
    uint64_t expired = 0;
  };

  DnsCache() : DnsCache(Options{}) {}
  explicit DnsCache(Options options) : options_(options) {}

  // Learns the A/AAAA answers of a response message. `now_ms` is a monotonic clock.
  void Observe(const events::DnsMessage& m, int64_t now_ms);
  // Live names of `ip` (16-byte, v4-mapped for IPv4), most recently seen first.
  std::vector<std::string> NamesFor(const std::array<uint8_t, 16>& ip, int64_t now_ms);

  size_t size() const { return entries_.size(); }
  const Stats& stats() const { return stats_; }

 private:
  struct Name {
    std::string name;
    int64_t expires_ms = 0;
  };
  struct Entry {
    std::vector<Name> names;  // most recent first
    std::list<std::array<uint8_t, 16>>::iterator lru;
  };
  void Add(const std::array<uint8_t, 16>& ip, const std::string& name, uint32_t ttl,
           int64_t now_ms);

  Options options_;
  Stats stats_;
  absl::flat_hash_map<std::array<uint8_t, 16>, Entry> entries_;
  std::list<std::array<uint8_t, 16>> lru_;  // front: most recently used
};

}  // namespace sluice::state

#endif  // SLUICE_AGENT_STATE_DNS_CACHE_H_
