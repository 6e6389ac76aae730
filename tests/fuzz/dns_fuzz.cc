// libFuzzer target: the DNS answer parser and the cache fed with whatever it accepts. Built with
// -DSLUICE_BUILD_FUZZ=ON (clang); scripts/fuzz.sh runs it. The corpus under corpus/dns/ is also
// replayed by the unit test fuzz_corpus_test.
#include <cstddef>
#include <cstdint>

#include "agent/events/dns.h"
#include "agent/state/dns_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sluice::state::DnsCache cache(sluice::state::DnsCache::Options{.max_addresses = 1024});
  auto m = sluice::events::ParseDnsMessage(absl::Span<const uint8_t>(data, size));
  if (m.ok()) {
    cache.Observe(*m, 0);
    for (const auto& a : m->answers) (void)cache.NamesFor(a.addr, 1);
  }
  return 0;
}
