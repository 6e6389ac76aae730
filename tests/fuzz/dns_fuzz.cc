// libFuzzer target: the DNS answer parser on arbitrary bytes, and the cache fed with whatever it
// accepts. Beyond "no crash" (ASan/UBSan) it checks the parser's promises and aborts when one is
// broken:
// - the caps hold, every returned name is in presentation form (printable ASCII, no upper case);
// - an error is InvalidArgument and names its byte offset;
// - a prefix of an accepted message (a cut, as the sensor's bounded copy makes) is either
//   rejected or yields the same questions and a prefix of the same answers, never other data.
// Built with -DSLUICE_BUILD_FUZZ=ON (clang); scripts/fuzz.sh runs it over tests/fuzz/corpus/dns,
// which agent/events/dns_corpus_test.cc also replays in every build.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/events/dns.h"
#include "agent/state/dns_cache.h"

namespace {

using sluice::events::DnsMessage;

void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "dns_fuzz: broken promise: %s\n", what);
    abort();
  }
}

void CheckName(const std::string& name) {
  for (char c : name) {
    Check(c > 0x20 && c < 0x7f && !(c >= 'A' && c <= 'Z'), "name in presentation form");
  }
  // 255 wire bytes, each label byte escaped to at most 4 characters.
  Check(name.size() <= 4 * 255, "name length bounded");
}

void CheckMessage(const DnsMessage& m) {
  Check(m.questions.size() <= sluice::events::kDnsMaxQuestions, "question cap");
  Check(m.answers.size() <= sluice::events::kDnsMaxAnswers, "answer cap");
  for (const auto& q : m.questions) CheckName(q);
  for (const auto& a : m.answers) {
    CheckName(a.name);
    CheckName(a.cname);
    Check(a.type == sluice::events::kDnsTypeA || a.type == sluice::events::kDnsTypeAaaa ||
              a.type == sluice::events::kDnsTypeCname,
          "only A/AAAA/CNAME answers");
    if (a.type == sluice::events::kDnsTypeA) {
      Check(a.addr[10] == 0xff && a.addr[11] == 0xff, "A as v4-mapped");
    }
    if (a.type != sluice::events::kDnsTypeCname) Check(a.cname.empty(), "no target on A/AAAA");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One cache across inputs, small, so that eviction and expiry run often.
  static sluice::state::DnsCache cache(
      sluice::state::DnsCache::Options{.max_addresses = 256,
                                       .max_names_per_address = 4,
                                       .max_memory_bytes = 64 << 10,
                                       .min_ttl_s = 1,
                                       .max_ttl_s = 10});
  static uint64_t now_ms = 0;
  now_ms += 500;

  const absl::Span<const uint8_t> bytes(data, size);
  auto m = sluice::events::ParseDnsMessage(bytes);
  if (!m.ok()) {
    Check(m.status().code() == absl::StatusCode::kInvalidArgument, "errors are InvalidArgument");
    Check(m.status().message().substr(0, 12) == "dns: offset ", "errors carry the offset");
    return 0;
  }
  CheckMessage(*m);

  if (size > 12) {
    // Cut at a point the input chooses (its last byte), as a bounded copy would.
    const size_t cut = 12 + data[size - 1] % (size - 12);
    auto prefix = sluice::events::ParseDnsMessage(bytes.first(cut));
    if (prefix.ok()) {
      CheckMessage(*prefix);
      Check(prefix->questions == m->questions, "a cut keeps the questions");
      Check(prefix->answers.size() <= m->answers.size(), "a cut adds no answer");
      for (size_t i = 0; i < prefix->answers.size(); ++i) {
        Check(prefix->answers[i] == m->answers[i], "a cut returns only complete answers");
      }
      if (prefix->answers.size() < m->answers.size()) Check(prefix->truncated, "a cut is flagged");
    }
  }

  cache.Observe(*m, now_ms);
  for (const auto& a : m->answers) {
    const auto names = cache.NamesFor(a.addr, now_ms);
    Check(names.size() <= 4, "names per address capped");
  }
  Check(cache.size() <= 256, "addresses capped");
  Check(cache.memory_bytes() <= (64 << 10) || cache.size() <= 1, "memory budgeted");
  if (now_ms % 50'000 == 0) cache.Purge(now_ms);
  if (now_ms % 500'000 == 0) {
    // Everything expires eventually, and the memory accounting returns to zero exactly.
    cache.Purge(now_ms + 3'600'000);
    Check(cache.size() == 0 && cache.memory_bytes() == 0, "a full purge empties the cache");
  }
  return 0;
}
