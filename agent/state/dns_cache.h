// IP -> the names it was resolved from, learned from DNS answers seen by the sensor, so that every
// flow carries the names of its destination (an alert that says "paste.evil.test" rather than an
// address, an allowlist by name). CNAME chains are followed: for the question
// acme.my.salesforce.com, CNAME na1.salesforce.com, A 10.1.2.3, the address 10.1.2.3 gets both
// names.
//
// Only names that a question of the same message leads to are learned (Options::
// only_question_chains): a response may carry records nobody asked about, and a datagram from
// port 53 is easy to forge, so "api.salesforce.com A <attacker>" appended to the answer for
// x.evil.test must not name the attacker's address after the CRM. This does not make the cache
// trustworthy against a process that queries a server it controls; feed it answers from the
// configured resolvers only when names are used for allow decisions.
//
// Bounded: LRU over addresses (a new answer for an address makes it the most recent), a cap on
// names per address, a budget on the bytes of all names, TTLs clamped. Single-threaded (the
// engine thread), no locking.
#ifndef SLUICE_AGENT_STATE_DNS_CACHE_H_
#define SLUICE_AGENT_STATE_DNS_CACHE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "agent/events/dns.h"

namespace sluice::state {

class DnsCache {
 public:
  using Address = std::array<uint8_t, 16>;  // IPv6, IPv4 as v4-mapped (::ffff:a.b.c.d)

  struct Options {
    size_t max_addresses = 65536;
    size_t max_names_per_address = 8;
    // Approximate heap bytes of the whole cache (addresses, names, bookkeeping; see
    // memory_bytes()). The caps above bound counts, this bounds memory: a name is up to ~1 KiB in
    // escaped form, so 65536 addresses x 8 long names would otherwise be ~0.5 GiB. Least
    // recently answered addresses go first when it is exceeded.
    size_t max_memory_bytes = 16 << 20;
    // A name is kept at least this long whatever the answer's TTL: the connect that a lookup is
    // for usually follows the answer, and TTL-0 or TTL-1 answers are common (load balancers,
    // CDNs, some resolvers count down to 0), as are long-lived connections opened once. A name
    // that expired the moment it arrived would leave those flows nameless.
    uint32_t min_ttl_s = 60;
    // And at most this long: a forged or absurd TTL cannot pin a name to an address forever.
    uint32_t max_ttl_s = 86400;
    // Learn only answers that a question of the message leads to (see above).
    bool only_question_chains = true;
  };

  struct Stats {
    uint64_t entries = 0;       // addresses added (again after an eviction or expiry)
    uint64_t evictions = 0;     // addresses dropped with live names (LRU: count or byte budget)
    uint64_t expired = 0;       // names dropped because their TTL ran out
    uint64_t names_capped = 0;  // names pushed out by max_names_per_address
    uint64_t unrelated = 0;     // A/AAAA answers ignored: no question leads to them
  };

  DnsCache() : DnsCache(Options{}) {}
  explicit DnsCache(Options options);

  // Learns the A/AAAA answers of a successful (NOERROR) QUERY response; ignores anything else.
  // `now_ms` is a monotonic clock in milliseconds, the same one NamesFor is given.
  void Observe(const events::DnsMessage& m, uint64_t now_ms);

  // Live names of `ip`, most recently seen first (within one answer, the question's name first
  // and the address record's owner last). Empty when unknown or expired. A lookup does not count
  // as a use for the LRU: only a new answer keeps an address.
  std::vector<std::string> NamesFor(const Address& ip, uint64_t now_ms) const;
  // Every address held (names may have expired since; NamesFor says).
  std::vector<Address> Addresses() const;

  // Drops every expired name and every address left without one. Observe already expires the
  // least recently answered addresses a few at a time; call this for a full sweep (e.g. before
  // exporting size() as a metric). Returns the number of names dropped.
  size_t Purge(uint64_t now_ms);

  // Addresses held, including any whose names all expired since they were last touched.
  size_t size() const { return entries_.size(); }
  // Approximate heap bytes held, as charged against max_memory_bytes: per address two hash
  // table slots (the table is 44-88% full) and its LRU node, per name its record and characters.
  size_t memory_bytes() const { return memory_bytes_; }
  const Stats& stats() const { return stats_; }
  const Options& options() const { return options_; }

 private:
  struct Name {
    std::string name;
    uint64_t expires_ms = 0;
  };
  struct Entry {
    std::vector<Name> names;  // most recent first
    std::list<Address>::iterator lru;
  };

  // Records `names` (added in order, so the last one ends up most recent) for `ip`.
  void Add(const Address& ip, absl::Span<const std::string* const> names, uint64_t expires_ms,
           uint64_t now_ms);
  // Drops the expired names of one entry; true when none is left.
  bool ExpireNames(Entry& e, uint64_t now_ms);
  // Removes the least recently answered address.
  void EvictOldest(uint64_t now_ms);
  void Erase(absl::flat_hash_map<Address, Entry>::iterator it);
  static size_t AddressCost();
  static size_t NameCost(const std::string& name);

  Options options_;
  Stats stats_;
  size_t memory_bytes_ = 0;
  absl::flat_hash_map<Address, Entry> entries_;
  std::list<Address> lru_;  // front: most recently answered
};

}  // namespace sluice::state

#endif  // SLUICE_AGENT_STATE_DNS_CACHE_H_
