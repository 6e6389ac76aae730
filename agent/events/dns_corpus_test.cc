// Replays the fuzz targets' regression corpus (tests/fuzz/corpus, written by
// tests/fuzz/make_corpus.py, plus whatever a fuzzing run found) in the normal build, so every
// build checks what the fuzzers once found. The file name prefix says what is expected (see
// make_corpus.py): ok- parses, cut- parses as truncated, bad- is rejected; any other name must
// only be handled. The test runs from the source root (sluice_unit_test).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <variant>
#include <vector>

#include "agent/events/decode.h"
#include "agent/events/dns.h"
#include "agent/state/dns_cache.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::events {
namespace {

namespace fs = std::filesystem;

using ::testing::Contains;

std::vector<uint8_t> ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

// Empty (and a test failure) when the directory is missing, e.g. run outside the source root.
std::vector<fs::path> Corpus(const std::string& kind) {
  std::vector<fs::path> out;
  const fs::path dir = fs::path("tests/fuzz/corpus") / kind;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file()) out.push_back(it->path());
  }
  EXPECT_FALSE(ec) << dir << ": " << ec.message() << " (run from the source root)";
  std::sort(out.begin(), out.end());
  return out;
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

void ExpectPresentationForm(const std::string& name, const std::string& file) {
  for (char c : name) {
    ASSERT_TRUE(c > 0x20 && c < 0x7f && !(c >= 'A' && c <= 'Z')) << file << ": " << name;
  }
}

TEST(DnsCorpusTest, EveryFileIsHandledAsItsNameSays) {
  state::DnsCache cache(state::DnsCache::Options{.max_addresses = 64});
  size_t ok = 0, cut = 0, bad = 0;
  for (const fs::path& p : Corpus("dns")) {
    const std::string file = p.filename().string();
    auto m = ParseDnsMessage(ReadFile(p));
    if (m.ok()) {
      EXPECT_LE(m->questions.size(), kDnsMaxQuestions) << file;
      EXPECT_LE(m->answers.size(), kDnsMaxAnswers) << file;
      for (const auto& q : m->questions) ExpectPresentationForm(q, file);
      for (const auto& a : m->answers) {
        ExpectPresentationForm(a.name, file);
        ExpectPresentationForm(a.cname, file);
      }
      cache.Observe(*m, 1000);
      for (const auto& a : m->answers) (void)cache.NamesFor(a.addr, 1000);
    } else {
      EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << file;
    }
    if (StartsWith(file, "ok-")) {
      ++ok;
      ASSERT_TRUE(m.ok()) << file << ": " << m.status();
      EXPECT_FALSE(m->truncated) << file;
    } else if (StartsWith(file, "cut-")) {
      ++cut;
      ASSERT_TRUE(m.ok()) << file << ": " << m.status();
      EXPECT_TRUE(m->truncated) << file;
    } else if (StartsWith(file, "bad-")) {
      ++bad;
      EXPECT_FALSE(m.ok()) << file;
    }
  }
  // The corpus is there (a wrong working directory must not pass silently).
  EXPECT_GE(ok, 10u);
  EXPECT_GE(cut, 5u);
  EXPECT_GE(bad, 10u);
  EXPECT_LE(cache.size(), 64u);
}

TEST(DnsCorpusTest, KnownGoodFilesGiveTheirNames) {
  state::DnsCache cache;
  auto chain = ParseDnsMessage(ReadFile("tests/fuzz/corpus/dns/ok-cname-chain"));
  ASSERT_TRUE(chain.ok()) << chain.status();
  cache.Observe(*chain, 0);
  const state::DnsCache::Address ip{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  EXPECT_EQ(cache.NamesFor(ip, 0),
            (std::vector<std::string>{"acme.my.salesforce.com", "na1.salesforce.com"}));

  // The 512-byte copy of a longer answer keeps the records that fit whole.
  auto cut = ParseDnsMessage(ReadFile("tests/fuzz/corpus/dns/cut-512"));
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_TRUE(cut->truncated);
  EXPECT_EQ(cut->answers.size(), (512u - 34u) / 16u);
  cache.Observe(*cut, 0);
  const state::DnsCache::Address pool{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 0};
  EXPECT_THAT(cache.NamesFor(pool, 0), Contains("pool.cdn.example"));
}

TEST(DecodeCorpusTest, EveryFileIsHandledAsItsNameSays) {
  size_t ok = 0, bad = 0;
  for (const fs::path& p : Corpus("decode")) {
    const std::string file = p.filename().string();
    auto e = Decode(ReadFile(p));
    if (!e.ok()) {
      EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << file;
    }
    if (StartsWith(file, "ok-")) {
      ++ok;
      EXPECT_TRUE(e.ok()) << file << ": " << e.status();
    } else if (StartsWith(file, "bad-")) {
      ++bad;
      EXPECT_FALSE(e.ok()) << file;
    }
    // A decoded DNS record goes on to the parser, as in the engine.
    if (e.ok()) {
      if (const auto* dns = std::get_if<DnsEvent>(&*e)) (void)ParseDnsMessage(dns->payload);
    }
  }
  EXPECT_GE(ok, 10u);
  EXPECT_GE(bad, 5u);
}

TEST(DecodeCorpusTest, DnsRecordCarriesAParsableAnswer) {
  auto e = Decode(ReadFile("tests/fuzz/corpus/decode/ok-dns"));
  ASSERT_TRUE(e.ok()) << e.status();
  const auto* dns = std::get_if<DnsEvent>(&*e);
  ASSERT_NE(dns, nullptr);
  auto m = ParseDnsMessage(dns->payload);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(m->truncated);
  EXPECT_EQ(m->answers.size(), 3u);

  auto cut = Decode(ReadFile("tests/fuzz/corpus/decode/ok-dns-cut"));
  ASSERT_TRUE(cut.ok()) << cut.status();
  dns = std::get_if<DnsEvent>(&*cut);
  ASSERT_NE(dns, nullptr);
  EXPECT_EQ(dns->payload.size(), 512u);
  EXPECT_GT(dns->wire_len, 512u);
  m = ParseDnsMessage(dns->payload);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->truncated);
}

}  // namespace
}  // namespace sluice::events
