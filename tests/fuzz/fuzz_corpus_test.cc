// Replays the fuzz targets' regression corpus (tests/fuzz/corpus, written by make_corpus.py plus
// any crasher a fuzzing run found) in the normal build: every input must be handled without a
// crash, the well-formed ones must parse, the malformed ones must be rejected.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "agent/events/decode.h"
#include "agent/events/dns.h"
#include "agent/state/dns_cache.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

std::vector<fs::path> Corpus(const std::string& kind) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path("tests/fuzz/corpus") / kind)) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  return out;
}

TEST(FuzzCorpusTest, DnsCorpus) {
  const std::set<std::string> must_parse = {"cname_chain", "a_only", "query", "many_answers",
                                            "chain_cut_60", "chain_cut_101"};
  const std::set<std::string> must_fail = {"self_pointer", "forward_pointer", "label_64",
                                           "long_name", "bad_rdlength", "short_header", "empty"};
  state::DnsCache cache;
  auto files = Corpus("dns");
  ASSERT_GE(files.size(), must_parse.size() + must_fail.size());
  for (const auto& p : files) {
    const std::string label = p.filename().string();
    auto m = events::ParseDnsMessage(ReadFile(p));
    if (m.ok()) cache.Observe(*m, 0);
    if (must_parse.count(label)) EXPECT_TRUE(m.ok()) << label << ": " << m.status();
    if (must_fail.count(label)) EXPECT_FALSE(m.ok()) << label;
  }
  std::array<uint8_t, 16> ip{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  auto names = cache.NamesFor(ip, 1);
  EXPECT_NE(std::find(names.begin(), names.end(), "acme.my.salesforce.com"), names.end());
}

TEST(FuzzCorpusTest, DecodeCorpus) {
  const std::set<std::string> must_decode = {"exec", "exit", "connect", "flow",
                                             "dns",  "file_open", "tls_5"};
  const std::set<std::string> must_fail = {"tls_lying", "size_too_big", "unknown_type", "short"};
  auto files = Corpus("decode");
  ASSERT_GE(files.size(), must_decode.size() + must_fail.size());
  for (const auto& p : files) {
    const std::string label = p.filename().string();
    auto e = events::Decode(ReadFile(p));
    if (must_decode.count(label)) EXPECT_TRUE(e.ok()) << label << ": " << e.status();
    if (must_fail.count(label)) EXPECT_FALSE(e.ok()) << label;
  }
}

}  // namespace
}  // namespace sluice
