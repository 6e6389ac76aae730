// Replays the classify fuzz target's regression corpus (tests/fuzz/corpus/classify, written by
// tests/fuzz/make_corpus.py, plus whatever a fuzzing run found) through every classifier in the
// normal build. The file name says what is expected:
//   ok-<protocol>-*  ClassifyPayload names <protocol> (ProtocolName: "kafka", "tls-record", ...);
//   bad-*            ClassifyPayload says "unknown";
//   any other name   must only be handled.
// Files whose name contains "-pii" must also hold at least one sensitive value.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/detect/classify/http.h"
#include "agent/detect/classify/sensitive.h"
#include "gtest/gtest.h"

namespace sluice::detect::classify {
namespace {

namespace fs = std::filesystem;

#ifdef SLUICE_SOURCE_DIR
constexpr char kCorpusDir[] = SLUICE_SOURCE_DIR "/tests/fuzz/corpus/classify";
#else
constexpr char kCorpusDir[] = "tests/fuzz/corpus/classify";
#endif

constexpr PayloadClass::Protocol kProtocols[] = {
    PayloadClass::kUnknown,      PayloadClass::kHttp1Request, PayloadClass::kHttp1Response,
    PayloadClass::kHttp2Preface, PayloadClass::kTlsRecord,    PayloadClass::kKafka,
    PayloadClass::kAmqp,         PayloadClass::kRedis};

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::vector<fs::path> Corpus() {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(kCorpusDir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file()) out.push_back(it->path());
  }
  EXPECT_FALSE(ec) << kCorpusDir << ": " << ec.message();
  std::sort(out.begin(), out.end());
  return out;
}

// The protocol an "ok-" file name promises, by the longest matching name.
bool ExpectedProtocol(const std::string& file, PayloadClass::Protocol* out) {
  size_t best = 0;
  for (PayloadClass::Protocol p : kProtocols) {
    const std::string prefix = absl::StrCat("ok-", ProtocolName(p), "-");
    if (absl::StartsWith(file, prefix) && prefix.size() > best) {
      best = prefix.size();
      *out = p;
    }
  }
  return best > 0;
}

TEST(ClassifyCorpusTest, EveryFileIsHandledAsItsNameSays) {
  size_t ok = 0, bad = 0;
  std::vector<PayloadClass::Protocol> seen;
  for (const fs::path& p : Corpus()) {
    const std::string file = p.filename().string();
    SCOPED_TRACE(file);
    const std::string data = ReadFile(p);
    const auto bytes =
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    const PayloadClass c = ClassifyPayload(bytes);
    // Every classifier on every file, whatever the dispatcher chose.
    (void)ParseClientHello(bytes);
    (void)ParseKafkaRequest(bytes);
    (void)ParseAmqp(bytes);
    (void)ParseRedisCommand(bytes);
    const SensitiveFindings found = ScanSensitive(bytes, "corpus-key");
    EXPECT_LE(c.host.size(), kMaxHostBytes);

    if (absl::StartsWith(file, "ok-")) {
      ++ok;
      PayloadClass::Protocol want = PayloadClass::kUnknown;
      ASSERT_TRUE(ExpectedProtocol(file, &want)) << "no protocol in the name";
      EXPECT_EQ(c.protocol, want) << ProtocolName(c.protocol);
      seen.push_back(want);
    } else if (absl::StartsWith(file, "bad-")) {
      ++bad;
      EXPECT_EQ(c.protocol, PayloadClass::kUnknown) << ProtocolName(c.protocol);
    }
    if (absl::StrContains(file, "-pii")) {
      EXPECT_FALSE(found.empty());
    }
  }
  // The corpus is there (a wrong directory must not pass silently) and covers each protocol.
  EXPECT_GE(ok, 15u);
  EXPECT_GE(bad, 10u);
  for (PayloadClass::Protocol p : kProtocols) {
    if (p == PayloadClass::kUnknown) continue;
    EXPECT_NE(std::find(seen.begin(), seen.end(), p), seen.end()) << ProtocolName(p);
  }
}

}  // namespace
}  // namespace sluice::detect::classify
