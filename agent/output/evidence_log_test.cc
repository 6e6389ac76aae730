#include "agent/output/evidence_log.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::output {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr char kZeros[] = "0000000000000000000000000000000000000000000000000000000000000000";

// A temporary directory, removed with everything in it when the test ends (also on failure).
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-evidence-XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// The log's lines without their line ends (a torn last line included).
std::vector<std::string> Lines(const std::string& path) {
  std::string text = ReadFile(path);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.empty()) return {};
  return absl::StrSplit(text, '\n');
}

void WriteLines(const std::string& path, const std::vector<std::string>& lines) {
  WriteFile(path, lines.empty() ? "" : absl::StrCat(absl::StrJoin(lines, "\n"), "\n"));
}

std::string Alert(int i) {
  return absl::StrCat(R"({"class_uid":2004,"time":)", 1795946400000 + i * 1000,
                      R"(,"finding_info":{"uid":"u)", i,
                      R"(","title":"crm-sync sent records to upload.example.net","analytic":{"name":"pii_egress"}},"disposition":"Would block"})");
}

// A directory with a log of `n` records.
void Fill(const std::string& dir, int n) {
  auto log = EvidenceLog::Open(dir);
  ASSERT_TRUE(log.ok()) << log.status();
  for (int i = 1; i <= n; ++i) ASSERT_TRUE((*log)->Append(Alert(i)).ok());
  ASSERT_TRUE((*log)->Sync().ok());
}

VerifyResult Verify(const std::string& dir_or_file) {
  auto r = VerifyEvidence(dir_or_file);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : VerifyResult{};
}

TEST(Sha256HexTest, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(EvidenceLogTest, ChainRoundTrip) {
  TempDir dir;
  Fill(dir.path(), 5);
  const std::vector<std::string> lines = Lines(dir.file("evidence.jsonl"));
  ASSERT_EQ(lines.size(), 5u);
  std::string prev = kZeros;
  for (size_t i = 0; i < lines.size(); ++i) {
    // The field order is part of the format: seq first, the alert last.
    EXPECT_THAT(lines[i], ::testing::StartsWith(absl::StrCat("{\"seq\":", i + 1, ",\"time_ms\":")));
    const json rec = json::parse(lines[i]);
    EXPECT_EQ(rec["seq"], i + 1);
    EXPECT_TRUE(rec["time_ms"].is_number_integer());
    EXPECT_EQ(rec["prev"], prev);
    EXPECT_EQ(rec["alert"], json::parse(Alert(static_cast<int>(i) + 1)));
    prev = Sha256Hex(lines[i]);
  }
  const json head = json::parse(ReadFile(dir.file("evidence.head")));
  EXPECT_EQ(head["seq"], 5);
  EXPECT_EQ(head["sha256"], prev);

  const VerifyResult v = Verify(dir.path());
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 5u);
  EXPECT_EQ(v.bad_record, 0u);
  EXPECT_EQ(v.problem, "");
  EXPECT_TRUE(v.head_checked);
  EXPECT_EQ(v.log_path, dir.file("evidence.jsonl"));

  struct stat st{};
  ASSERT_EQ(stat(dir.file("evidence.jsonl").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(dir.file("evidence.head").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(EvidenceLogTest, CreatesTheDirectory) {
  TempDir dir;
  const std::string sub = dir.file("state");
  Fill(sub, 1);
  struct stat st{};
  ASSERT_EQ(stat(sub.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(Verify(sub).ok);
}

TEST(EvidenceLogTest, RejectsWhatIsNotAnObjectAndStoresCompact) {
  TempDir dir;
  auto log = EvidenceLog::Open(dir.path());
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::IsInvalidArgument((*log)->Append("not json")));
  EXPECT_TRUE(absl::IsInvalidArgument((*log)->Append("[1,2]")));
  EXPECT_TRUE(absl::IsInvalidArgument((*log)->Append("")));
  EXPECT_EQ((*log)->records(), 0u);
  ASSERT_TRUE((*log)->Append("{\n  \"time\": 1,\n  \"title\": \"a\"\n}").ok());
  const std::vector<std::string> lines = Lines(dir.file("evidence.jsonl"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr(",\"alert\":{\"time\":1,\"title\":\"a\"}}"));
}

TEST(EvidenceLogTest, ReopenContinuesTheChain) {
  TempDir dir;
  Fill(dir.path(), 3);
  {
    auto log = EvidenceLog::Open(dir.path());
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_EQ((*log)->records(), 3u);
    ASSERT_TRUE((*log)->Append(Alert(4)).ok());
    ASSERT_TRUE((*log)->Append(Alert(5)).ok());
  }
  const std::vector<std::string> lines = Lines(dir.file("evidence.jsonl"));
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(json::parse(lines[3])["seq"], 4);
  EXPECT_EQ(json::parse(lines[3])["prev"], Sha256Hex(lines[2]));
  const VerifyResult v = Verify(dir.path());
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 5u);
}

TEST(EvidenceLogTest, OneWriterPerDirectory) {
  TempDir dir;
  auto first = EvidenceLog::Open(dir.path());
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = EvidenceLog::Open(dir.path());
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
}

TEST(EvidenceLogTest, ConcurrentAppendsFormOneChain) {
  TempDir dir;
  {
    auto log = EvidenceLog::Open(dir.path());
    ASSERT_TRUE(log.ok()) << log.status();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 25; ++i) EXPECT_TRUE((*log)->Append(Alert(t * 100 + i)).ok());
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ((*log)->records(), 100u);
  }
  const VerifyResult v = Verify(dir.path());
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 100u);
}

TEST(EvidenceLogTest, EmptyLogVerifies) {
  TempDir dir;
  {
    auto log = EvidenceLog::Open(dir.path());
    ASSERT_TRUE(log.ok()) << log.status();
  }
  const VerifyResult v = Verify(dir.path());
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.records, 0u);
}

TEST(EvidenceLogTest, NoLogIsAnError) {
  TempDir dir;
  EXPECT_TRUE(absl::IsNotFound(VerifyEvidence(dir.path()).status()));
  EXPECT_TRUE(absl::IsNotFound(VerifyEvidence(dir.file("nope.jsonl")).status()));
}

// --- Tampering: each kind is named, at the exact record. -----------------------------------

class TamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Fill(dir_.path(), 10);
    lines_ = Lines(log());
    ASSERT_EQ(lines_.size(), 10u);
  }
  std::string log() const { return dir_.file("evidence.jsonl"); }
  std::string head() const { return dir_.file("evidence.head"); }
  void Expect(uint64_t records, uint64_t bad, const std::string& problem) {
    const VerifyResult v = Verify(dir_.path());
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.records, records);
    EXPECT_EQ(v.bad_record, bad);
    EXPECT_EQ(v.problem, problem);
    // A writer refuses to chain onto a damaged tail; damage further up is for verify to find.
  }
  void ExpectOpenRefuses(const std::string& what) {
    auto log = EvidenceLog::Open(dir_.path());
    EXPECT_TRUE(absl::IsDataLoss(log.status())) << log.status();
    EXPECT_THAT(std::string(log.status().message()), HasSubstr(what));
  }

  TempDir dir_;
  std::vector<std::string> lines_;
};

TEST_F(TamperTest, EditedRecord) {
  const size_t at = lines_[3].find("upload.example.net");
  ASSERT_NE(at, std::string::npos);
  lines_[3][at] = 'U';  // still JSON, different hash
  WriteLines(log(), lines_);
  Expect(10, 4, "edited (its hash does not match the next record's prev)");
}

TEST_F(TamperTest, EditedFirstRecord) {
  lines_[0].replace(lines_[0].find("Would block"), 11, "Blocked");
  WriteLines(log(), lines_);
  Expect(10, 1, "edited (its hash does not match the next record's prev)");
}

TEST_F(TamperTest, EditedLastRecord) {
  lines_[9].replace(lines_[9].find("Would block"), 11, "Allowed");
  WriteLines(log(), lines_);
  Expect(10, 10, "edited (its hash does not match the head)");
  ExpectOpenRefuses("record 10 edited (its hash does not match the head)");
}

TEST_F(TamperTest, EditThatBreaksJson) {
  lines_[5].erase(lines_[5].size() - 1);  // the closing brace
  WriteLines(log(), lines_);
  Expect(10, 6, "not JSON");
}

TEST_F(TamperTest, RecordWithoutItsFields) {
  lines_[6] = R"({"seq":7,"alert":{}})";
  WriteLines(log(), lines_);
  Expect(10, 7, "not a record (no time_ms)");
}

TEST_F(TamperTest, DeletedRecord) {
  lines_.erase(lines_.begin() + 2);  // record 3
  WriteLines(log(), lines_);
  Expect(9, 3, "missing (seq 4 follows seq 2)");
}

TEST_F(TamperTest, DeletedFirstRecord) {
  lines_.erase(lines_.begin());
  WriteLines(log(), lines_);
  Expect(9, 1, "missing (the log starts at seq 2)");
}

TEST_F(TamperTest, SwappedRecords) {
  std::swap(lines_[4], lines_[5]);  // records 5 and 6
  WriteLines(log(), lines_);
  Expect(10, 5, "out of order (seq 6 comes before seq 5)");
}

TEST_F(TamperTest, MovedRecordFarAhead) {
  const std::string r2 = lines_[1];
  lines_.erase(lines_.begin() + 1);
  lines_.push_back(r2);  // record 2 moved to the end
  WriteLines(log(), lines_);
  Expect(10, 2, "out of order (seq 3 comes before seq 2)");
}

TEST_F(TamperTest, DuplicatedRecord) {
  lines_.insert(lines_.begin() + 7, lines_[2]);  // a copy of record 3 after record 7
  WriteLines(log(), lines_);
  Expect(11, 8, "out of order (seq 3 follows seq 7)");
}

TEST_F(TamperTest, TruncatedTail) {
  lines_.resize(8);
  WriteLines(log(), lines_);
  Expect(8, 9, "tail truncated (head says 10 records, log has 8)");
  ExpectOpenRefuses("tail truncated (head says 10 records, log ends at seq 8)");
}

TEST_F(TamperTest, EmptiedLog) {
  WriteLines(log(), {});
  Expect(0, 1, "tail truncated (head says 10 records, log has 0)");
  ExpectOpenRefuses("tail truncated (head says 10 records, log has 0)");
}

TEST_F(TamperTest, DeletedLog) {
  ASSERT_EQ(unlink(log().c_str()), 0);
  Expect(0, 1, "log missing (head says 10 records)");
  ExpectOpenRefuses("log missing (head says 10 records)");
  struct stat st{};
  EXPECT_NE(stat(log().c_str(), &st), 0) << "a refused open must not create a new log";
}

TEST_F(TamperTest, EditedHead) {
  std::string h = ReadFile(head());
  const size_t at = h.find("\"sha256\":\"") + 10;
  h[at] = h[at] == '0' ? '1' : '0';
  WriteFile(head(), h);
  Expect(10, 10, "head edited (evidence.head does not match its own check)");
  ExpectOpenRefuses("head edited");
}

TEST_F(TamperTest, HeadSeqEdited) {
  std::string h = ReadFile(head());
  h.replace(h.find("\"seq\":10"), 8, "\"seq\":12");
  WriteFile(head(), h);
  Expect(10, 10, "head edited (evidence.head does not match its own check)");
}

TEST_F(TamperTest, HeadNotJson) {
  WriteFile(head(), "garbage");
  Expect(10, 10, "head edited (evidence.head is not JSON)");
}

TEST_F(TamperTest, DeletedHead) {
  ASSERT_EQ(unlink(head().c_str()), 0);
  Expect(10, 10, "head missing");
  ExpectOpenRefuses("head missing");
}

TEST_F(TamperTest, FirstProblemWins) {
  lines_.erase(lines_.begin() + 8);  // record 9
  lines_[2][lines_[2].find("upload")] = 'X';  // record 3
  WriteLines(log(), lines_);
  Expect(9, 3, "edited (its hash does not match the next record's prev)");
}

TEST_F(TamperTest, TornTailIsReportedNotChainedOver) {
  // A crash in the middle of writing record 10: its line has no end.
  std::string text = ReadFile(log());
  text.resize(text.size() - lines_[9].size() / 2);
  WriteFile(log(), text);
  Expect(10, 10,
         "torn (the last line has no line end: a write cut short by a crash, or the file cut "
         "inside a record)");
  ExpectOpenRefuses("torn last record");
  EXPECT_EQ(ReadFile(log()), text) << "a refused open leaves the log as it is";
}

TEST_F(TamperTest, FileWithoutItsHeadCannotSeeACutTail) {
  TempDir other;
  lines_.resize(7);
  WriteLines(other.file("copy.jsonl"), lines_);
  const VerifyResult v = Verify(other.file("copy.jsonl"));
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 7u);
  EXPECT_FALSE(v.head_checked);
  // Given as a file next to its head, the head is used.
  WriteLines(log(), lines_);
  const VerifyResult w = Verify(log());
  EXPECT_FALSE(w.ok);
  EXPECT_TRUE(w.head_checked);
  EXPECT_EQ(w.problem, "tail truncated (head says 10 records, log has 7)");
}

// A crash between writing a record and replacing the head: the record chains onto the head's,
// so verify names it uncovered and the next open adopts it.
TEST_F(TamperTest, RecordWrittenHeadNotUpdated) {
  const std::string line =
      absl::StrCat(R"({"seq":11,"time_ms":1,"prev":")", Sha256Hex(lines_[9]),
                   R"(","alert":{"time":5}})");
  lines_.push_back(line);
  WriteLines(log(), lines_);
  Expect(11, 11,
         "head behind (head says 10 records, log has 11; records after 10 are not covered by the "
         "head)");
  {
    auto log = EvidenceLog::Open(dir_.path());
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_EQ((*log)->records(), 11u);
    ASSERT_TRUE((*log)->Append(Alert(12)).ok());
  }
  const VerifyResult v = Verify(dir_.path());
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 12u);
}

TEST_F(TamperTest, ForgedRecordAfterTheHeadIsRefused) {
  lines_.push_back(absl::StrCat(R"({"seq":11,"time_ms":1,"prev":")", kZeros,
                                R"(","alert":{"time":5}})"));
  WriteLines(log(), lines_);
  Expect(11, 10, "edited (its hash does not match the next record's prev)");
  ExpectOpenRefuses("head behind (head says 10 records, log ends at seq 11)");
}

TEST(ReadEvidenceAlertsTest, WindowIsInclusiveAndSkipsDamage) {
  TempDir dir;
  Fill(dir.path(), 6);
  std::vector<std::string> lines = Lines(dir.file("evidence.jsonl"));
  lines[3] = "not json";  // record 4's alert is unreadable
  WriteLines(dir.file("evidence.jsonl"), lines);
  auto alerts = ReadEvidenceAlerts(dir.path(), 1795946400000 + 2000, 1795946400000 + 5000);
  ASSERT_TRUE(alerts.ok()) << alerts.status();
  std::vector<std::string> uids;
  for (const json& a : *alerts) uids.push_back(a["finding_info"]["uid"]);
  EXPECT_EQ(uids, (std::vector<std::string>{"u2", "u3", "u5"}));
}

}  // namespace
}  // namespace sluice::output
