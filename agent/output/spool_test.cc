#include "agent/output/spool.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::output {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr size_t kHeader = Spool::kRecordHeaderBytes;
// Payloads of Payload10() are 10 bytes, so each of those records takes exactly kRec bytes.
constexpr uint64_t kRec = kHeader + 10;
constexpr size_t kAll = std::numeric_limits<size_t>::max();

std::string Payload10(uint64_t i) { return absl::StrFormat("record-%03d", i); }

std::string SegName(uint64_t first_seq) { return absl::StrFormat("seg-%020d.log", first_seq); }

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

std::vector<uint64_t> Seqs(const std::vector<SpoolRecord>& records) {
  std::vector<uint64_t> seqs;
  for (const SpoolRecord& r : records) seqs.push_back(r.seq);
  return seqs;
}

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "spool_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ / "spool";  // missing: Open creates it
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  SpoolOptions Options(std::vector<std::string> sinks, uint64_t max_bytes = 1 << 20,
                       uint64_t segment_bytes = 64 << 10) const {
    SpoolOptions o;
    o.dir = dir_.string();
    o.sinks = std::move(sinks);
    o.max_bytes = max_bytes;
    o.segment_bytes = segment_bytes;
    return o;
  }

  std::unique_ptr<Spool> MustOpen(SpoolOptions o) {
    absl::StatusOr<std::unique_ptr<Spool>> s = Spool::Open(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  std::vector<std::string> Segments() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("seg-", 0) == 0) names.push_back(n);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // Appends Payload10(seq) records until `last`, checking the seq each one gets.
  static void AppendUpTo(Spool& spool, uint64_t first, uint64_t last) {
    for (uint64_t i = first; i <= last; ++i) {
      absl::StatusOr<uint64_t> seq = spool.Append(Payload10(i));
      ASSERT_TRUE(seq.ok()) << seq.status();
      ASSERT_EQ(*seq, i);
    }
  }

  static std::vector<uint64_t> ReadSeqs(Spool& spool, const std::string& sink) {
    absl::StatusOr<std::vector<SpoolRecord>> r = spool.Read(sink, kAll, kAll);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return {};
    for (const SpoolRecord& rec : *r) EXPECT_EQ(rec.payload, Payload10(rec.seq));
    return Seqs(*r);
  }

  fs::path root_;
  fs::path dir_;
};

TEST_F(SpoolTest, AppendReadAckRoundTrip) {
  auto spool = MustOpen(Options({"siem"}));
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(*spool->Append("one"), 1u);
  EXPECT_EQ(*spool->Append("two"), 2u);
  EXPECT_EQ(*spool->Append(""), 3u);  // empty payloads are records too

  absl::StatusOr<std::vector<SpoolRecord>> r = spool->Read("siem", 10, 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].seq, 1u);
  EXPECT_EQ((*r)[0].payload, "one");
  EXPECT_EQ((*r)[1].seq, 2u);
  EXPECT_EQ((*r)[1].payload, "two");
  EXPECT_EQ((*r)[2].seq, 3u);
  EXPECT_EQ((*r)[2].payload, "");

  // Reading does not consume: only Ack does.
  EXPECT_THAT(Seqs(*spool->Read("siem", 10, 1 << 20)), ElementsAre(1, 2, 3));
  ASSERT_TRUE(spool->Ack("siem", 2).ok());
  EXPECT_THAT(Seqs(*spool->Read("siem", 10, 1 << 20)), ElementsAre(3));

  SpoolStats st = spool->stats();
  EXPECT_EQ(st.appended, 3u);
  EXPECT_EQ(st.last_seq, 3u);
  EXPECT_EQ(st.records, 1u);
  EXPECT_EQ(st.bytes, 3 * kHeader + 6);
  EXPECT_EQ(st.corrupt_records, 0u);
  EXPECT_EQ(st.sinks.at("siem").acked_seq, 2u);
  EXPECT_EQ(st.sinks.at("siem").pending, 1u);

  ASSERT_TRUE(spool->Ack("siem", 3).ok());
  EXPECT_THAT(Seqs(*spool->Read("siem", 10, 1 << 20)), IsEmpty());
  EXPECT_FALSE(spool->WaitForRecords("siem", absl::ZeroDuration()));
  EXPECT_EQ(spool->stats().records, 0u);
  EXPECT_EQ(spool->stats().sinks.at("siem").pending, 0u);
  // An older acknowledgement (a late retry) does not move the cursor back.
  ASSERT_TRUE(spool->Ack("siem", 1).ok());
  EXPECT_EQ(spool->stats().sinks.at("siem").acked_seq, 3u);
  EXPECT_TRUE(spool->Sync().ok());
}

TEST_F(SpoolTest, ReadHonorsRecordAndByteLimits) {
  auto spool = MustOpen(Options({"a"}));
  ASSERT_NE(spool, nullptr);
  AppendUpTo(*spool, 1, 6);  // 10-byte payloads
  EXPECT_THAT(Seqs(*spool->Read("a", 4, kAll)), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(Seqs(*spool->Read("a", kAll, 30)), ElementsAre(1, 2, 3));
  EXPECT_THAT(Seqs(*spool->Read("a", kAll, 29)), ElementsAre(1, 2));
  // The first record is returned even when it alone exceeds max_bytes, or the sink would stall.
  EXPECT_THAT(Seqs(*spool->Read("a", kAll, 0)), ElementsAre(1));
  EXPECT_THAT(Seqs(*spool->Read("a", 0, kAll)), IsEmpty());
  ASSERT_TRUE(spool->Ack("a", 4).ok());
  EXPECT_THAT(Seqs(*spool->Read("a", 1, kAll)), ElementsAre(5));
}

TEST_F(SpoolTest, RejectsBadOptionsAndUnknownSinks) {
  for (const std::vector<std::string>& sinks :
       std::vector<std::vector<std::string>>{{"Upper"}, {""}, {"a b"}, {"a/b"}, {"ok", "ok"},
                                             {std::string(129, 'a')}}) {
    absl::StatusOr<std::unique_ptr<Spool>> s = Spool::Open(Options(sinks));
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << sinks[0];
  }
  SpoolOptions no_dir = Options({"a"});
  no_dir.dir = "";
  EXPECT_EQ(Spool::Open(no_dir).status().code(), absl::StatusCode::kInvalidArgument);

  auto spool = MustOpen(Options({"a", "b.2_x-y"}));
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->Read("c", 1, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(spool->Ack("c", 0).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(spool->WaitForRecords("c", absl::ZeroDuration()));
  AppendUpTo(*spool, 1, 2);
  EXPECT_EQ(spool->Ack("a", 3).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(spool->stats().sinks.at("a").acked_seq, 0u);
}

TEST_F(SpoolTest, FileModesAndCursorFormat) {
  auto spool = MustOpen(Options({"a"}));
  ASSERT_NE(spool, nullptr);
  AppendUpTo(*spool, 1, 3);
  ASSERT_TRUE(spool->Ack("a", 2).ok());
  struct stat st;
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(stat((dir_ / SegName(1)).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(stat((dir_ / "cursor-a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(ReadFile(dir_ / "cursor-a"), "2\n");
  EXPECT_EQ(fs::file_size(dir_ / SegName(1)), 3 * kRec);
  // Only the segment and the cursor: no temporary files left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);
}

TEST_F(SpoolTest, SecondOpenOfTheSameDirectoryIsRefused) {
  auto spool = MustOpen(Options({"a"}));
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(Spool::Open(Options({"a"})).status().code(),
            absl::StatusCode::kFailedPrecondition);
  spool.reset();
  EXPECT_TRUE(Spool::Open(Options({"a"})).ok());
}

TEST_F(SpoolTest, UnackedRecordsAreResentAfterRestart) {
  {
    auto spool = MustOpen(Options({"a"}));
    ASSERT_NE(spool, nullptr);
    AppendUpTo(*spool, 1, 5);
    ASSERT_TRUE(spool->Ack("a", 2).ok());
    ASSERT_TRUE(spool->Sync().ok());
  }
  {
    auto spool = MustOpen(Options({"a"}));
    ASSERT_NE(spool, nullptr);
    SpoolStats st = spool->stats();
    EXPECT_EQ(st.last_seq, 5u);
    EXPECT_EQ(st.appended, 0u);
    EXPECT_EQ(st.records, 3u);
    EXPECT_EQ(st.sinks.at("a").acked_seq, 2u);
    EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(3, 4, 5));
    AppendUpTo(*spool, 6, 6);
    ASSERT_TRUE(spool->Ack("a", 6).ok());
  }
  auto spool = MustOpen(Options({"a"}));
  ASSERT_NE(spool, nullptr);
  EXPECT_THAT(ReadSeqs(*spool, "a"), IsEmpty());
  EXPECT_EQ(spool->stats().corrupt_records, 0u);
  AppendUpTo(*spool, 7, 7);
  EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(7));
}

TEST_F(SpoolTest, TwoSinksHaveIndependentCursorsAndSegmentsGoWhenBothAcked) {
  // 2 records per segment.
  auto spool = MustOpen(Options({"a", "b"}, 1 << 20, 2 * kRec));
  ASSERT_NE(spool, nullptr);
  AppendUpTo(*spool, 1, 6);
  EXPECT_THAT(Segments(), ElementsAre(SegName(1), SegName(3), SegName(5)));

  ASSERT_TRUE(spool->Ack("a", 4).ok());
  EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(5, 6));
  EXPECT_THAT(ReadSeqs(*spool, "b"), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(Segments(), ElementsAre(SegName(1), SegName(3), SegName(5)));

  ASSERT_TRUE(spool->Ack("b", 2).ok());
  EXPECT_THAT(Segments(), ElementsAre(SegName(3), SegName(5)));
  ASSERT_TRUE(spool->Ack("b", 6).ok());  // a is still at 4: seg 5 stays
  EXPECT_THAT(Segments(), ElementsAre(SegName(5)));
  EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(5, 6));
  EXPECT_THAT(ReadSeqs(*spool, "b"), IsEmpty());
  SpoolStats st = spool->stats();
  EXPECT_EQ(st.records, 2u);
  EXPECT_EQ(st.bytes, 2 * kRec);
  EXPECT_EQ(st.sinks.at("a").pending, 2u);
  EXPECT_EQ(st.sinks.at("b").pending, 0u);

  ASSERT_TRUE(spool->Ack("a", 6).ok());
  EXPECT_THAT(Segments(), IsEmpty());
  EXPECT_EQ(spool->stats().bytes, 0u);
  AppendUpTo(*spool, 7, 7);
  EXPECT_THAT(Segments(), ElementsAre(SegName(7)));
  EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(7));
  EXPECT_THAT(ReadSeqs(*spool, "b"), ElementsAre(7));
}

TEST_F(SpoolTest, TheSegmentTakingAppendsStaysUntilClosed) {
  auto spool = MustOpen(Options({"a"}, 1 << 20, 3 * kRec));
  ASSERT_NE(spool, nullptr);
  AppendUpTo(*spool, 1, 2);
  ASSERT_TRUE(spool->Ack("a", 2).ok());
  EXPECT_THAT(Segments(), ElementsAre(SegName(1)));
  EXPECT_EQ(spool->stats().records, 0u);
  AppendUpTo(*spool, 3, 3);  // the segment reaches its size and is closed
  ASSERT_TRUE(spool->Ack("a", 3).ok());
  EXPECT_THAT(Segments(), IsEmpty());
}

TEST_F(SpoolTest, SequenceContinuesWhenEverySegmentWasDeleted) {
  {
    auto spool = MustOpen(Options({"a"}, 1 << 20, 2 * kRec));
    ASSERT_NE(spool, nullptr);
    AppendUpTo(*spool, 1, 4);
    ASSERT_TRUE(spool->Ack("a", 4).ok());
    EXPECT_THAT(Segments(), IsEmpty());
  }
  auto spool = MustOpen(Options({"a"}, 1 << 20, 2 * kRec));
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->stats().last_seq, 4u);
  // Had the sequence restarted at 1, the cursor (4) would have swallowed these records.
  AppendUpTo(*spool, 5, 5);
  EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(5));
}

TEST_F(SpoolTest, NewSinkStartsAtOldestAndStaleCursorIsLeftAlone) {
  {
    auto spool = MustOpen(Options({"a"}));
    ASSERT_NE(spool, nullptr);
    AppendUpTo(*spool, 1, 3);
    ASSERT_TRUE(spool->Ack("a", 3).ok());
  }
  {
    auto spool = MustOpen(Options({"a", "b"}));
    ASSERT_NE(spool, nullptr);
    EXPECT_THAT(ReadSeqs(*spool, "a"), IsEmpty());
    EXPECT_THAT(ReadSeqs(*spool, "b"), ElementsAre(1, 2, 3));
    EXPECT_EQ(spool->stats().sinks.at("b").acked_seq, 0u);
    EXPECT_EQ(spool->stats().sinks.at("b").pending, 3u);
  }
  {
    // a is no longer configured: its cursor neither holds back deletion nor gets removed.
    auto spool = MustOpen(Options({"b"}, 1 << 20, 2 * kRec));
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(spool->stats().sinks.count("a"), 0u);
    ASSERT_TRUE(spool->Ack("b", 3).ok());
    EXPECT_THAT(Segments(), IsEmpty());
  }
  EXPECT_EQ(ReadFile(dir_ / "cursor-a"), "3\n");
  EXPECT_EQ(ReadFile(dir_ / "cursor-b"), "3\n");
}

TEST_F(SpoolTest, TornTailIsTruncatedWithCountedLoss) {
  // Cut inside the payload, inside the header, inside the magic.
  for (uint64_t kept_of_last : {kRec - 3, uint64_t{5}, uint64_t{2}}) {
    SCOPED_TRACE(kept_of_last);
    fs::remove_all(dir_);
    {
      auto spool = MustOpen(Options({"a"}));
      ASSERT_NE(spool, nullptr);
      AppendUpTo(*spool, 1, 5);
      ASSERT_TRUE(spool->Sync().ok());
    }
    fs::resize_file(dir_ / SegName(1), 4 * kRec + kept_of_last);
    {
      auto spool = MustOpen(Options({"a"}));
      ASSERT_NE(spool, nullptr);
      SpoolStats st = spool->stats();
      EXPECT_EQ(st.corrupt_records, 1u);
      EXPECT_EQ(st.corrupt_bytes, kept_of_last);
      EXPECT_EQ(st.last_seq, 4u);
      EXPECT_EQ(st.bytes, 4 * kRec);
      EXPECT_EQ(fs::file_size(dir_ / SegName(1)), 4 * kRec);
      EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(1, 2, 3, 4));
      AppendUpTo(*spool, 5, 6);
      EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(1, 2, 3, 4, 5, 6));
    }
    // The loss was repaired on disk: counted once, not at every start.
    auto spool = MustOpen(Options({"a"}));
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(spool->stats().corrupt_records, 0u);
    EXPECT_EQ(spool->stats().corrupt_bytes, 0u);
    EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(1, 2, 3, 4, 5, 6));
  }
}

TEST_F(SpoolTest, DamagedLastRecordAndZeroedTailAreDropped) {
  {
    auto spool = MustOpen(Options({"a"}));
    ASSERT_NE(spool, nullptr);
    AppendUpTo(*spool, 1, 5);
  }
  std::string data = ReadFile(dir_ / SegName(1));
  ASSERT_EQ(data.size(), 5 * kRec);
  data[4 * kRec + kHeader + 4] ^= 0x01;  // a payload bit of record 5
  WriteFile(dir_ / SegName(1), data);
  {
    auto spool = MustOpen(Options({"a"}));
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(spool->stats().corrupt_records, 1u);
    EXPECT_EQ(spool->stats().corrupt_bytes, kRec);
    EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(1, 2, 3, 4));
    AppendUpTo(*spool, 5, 5);
  }
  // Zeros after the last record, as some file systems leave them after a power loss.
  WriteFile(dir_ / SegName(5), ReadFile(dir_ / SegName(5)) + std::string(100, '\0'));
  auto spool = MustOpen(Options({"a"}));
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->stats().corrupt_records, 1u);
  EXPECT_EQ(spool->stats().corrupt_bytes, 100u);
  EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(1, 2, 3, 4, 5));
  EXPECT_EQ(fs::file_size(dir_ / SegName(5)), kRec);
}

TEST_F(SpoolTest, CorruptionInTheMiddleIsSkipped) {
  struct Damage {
    const char* what;
    size_t offset;  // into record 3
    char value;     // xor'ed in
  };
  for (const Damage& d : {Damage{"payload", kHeader + 3, 0x20}, Damage{"magic", 1, 0x01},
                          Damage{"length up", 5, 0x40}, Damage{"length down", 4, 0x08},
                          Damage{"seq", 8, 0x02}, Damage{"crc", 17, 0x10}}) {
    SCOPED_TRACE(d.what);
    fs::remove_all(dir_);
    {
      auto spool = MustOpen(Options({"a"}));
      ASSERT_NE(spool, nullptr);
      AppendUpTo(*spool, 1, 5);
      ASSERT_TRUE(spool->Ack("a", 1).ok());
    }
    std::string data = ReadFile(dir_ / SegName(1));
    data[2 * kRec + d.offset] ^= d.value;
    WriteFile(dir_ / SegName(1), data);
    {
      auto spool = MustOpen(Options({"a"}));
      ASSERT_NE(spool, nullptr);
      SpoolStats st = spool->stats();
      EXPECT_EQ(st.corrupt_records, 1u);
      EXPECT_EQ(st.corrupt_bytes, kRec);
      EXPECT_EQ(st.records, 3u);
      EXPECT_EQ(st.bytes, 4 * kRec);
      EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(2, 4, 5));
      AppendUpTo(*spool, 6, 6);
    }
    auto spool = MustOpen(Options({"a"}));
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(spool->stats().corrupt_records, 0u);
    EXPECT_EQ(fs::file_size(dir_ / SegName(1)), 4 * kRec);
    EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(2, 4, 5, 6));
  }
}

TEST_F(SpoolTest, DamageInAnOlderSegmentKeepsTheLaterOnes) {
  {
    auto spool = MustOpen(Options({"a"}, 1 << 20, 2 * kRec));
    ASSERT_NE(spool, nullptr);
    AppendUpTo(*spool, 1, 6);
  }
  std::string data = ReadFile(dir_ / SegName(3));
  data[kRec + kHeader] ^= 0x7f;  // record 4, the tail of segment 3
  WriteFile(dir_ / SegName(3), data);
  // A whole segment of garbage between good ones.
  WriteFile(dir_ / SegName(4), std::string(1000, '\xfe'));
  auto spool = MustOpen(Options({"a"}, 1 << 20, 2 * kRec));
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->stats().corrupt_records, 2u);
  EXPECT_EQ(spool->stats().corrupt_bytes, kRec + 1000);
  EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(1, 2, 3, 5, 6));
  EXPECT_THAT(Segments(), ElementsAre(SegName(1), SegName(3), SegName(5)));
  AppendUpTo(*spool, 7, 7);
}

TEST_F(SpoolTest, OddDirectoryEntriesAreIgnored) {
  {
    auto spool = MustOpen(Options({"a"}));
    ASSERT_NE(spool, nullptr);
    AppendUpTo(*spool, 1, 2);
  }
  fs::create_directory(dir_ / SegName(9));
  fs::create_symlink(dir_ / SegName(1), dir_ / SegName(10));
  WriteFile(dir_ / "seg-12.log", "junk");
  WriteFile(dir_ / "seg-99999999999999999999.log", "junk");  // beyond any seq
  WriteFile(dir_ / "cursor-Bad", "1\n");
  WriteFile(dir_ / "notes.txt", "hello");
  WriteFile(dir_ / "tmp-cursor-a", "2\n");  // a crash between write and rename
  auto spool = MustOpen(Options({"a"}));
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->stats().corrupt_records, 0u);
  EXPECT_EQ(spool->stats().last_seq, 2u);
  EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(1, 2));
  EXPECT_TRUE(fs::exists(dir_ / "notes.txt"));
  EXPECT_FALSE(fs::exists(dir_ / "tmp-cursor-a"));
}

TEST_F(SpoolTest, RandomDamageNeverCrashesAndKeepsOnlyIntactRecords) {
  std::mt19937 rng(20240611);
  auto uniform = [&rng](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  auto garbage = [&](size_t n) {
    std::string g(n, '\0');
    for (char& c : g) c = static_cast<char>(uniform(0, 255));
    // Sometimes lay a real magic into it, so resynchronization is exercised.
    if (n >= 4 && uniform(0, 1) == 0) {
      size_t at = uniform(0, n - 4);
      g.replace(at, 4, "\xfeSL\xff");
    }
    return g;
  };
  for (int iter = 0; iter < 150; ++iter) {
    SCOPED_TRACE(iter);
    fs::remove_all(dir_);
    std::map<uint64_t, std::string> written;
    const uint64_t segment_bytes = uniform(64, 600);
    {
      auto spool = MustOpen(Options({"a"}, 1 << 20, segment_bytes));
      ASSERT_NE(spool, nullptr);
      const uint64_t n = uniform(1, 40);
      for (uint64_t i = 1; i <= n; ++i) {
        std::string p = absl::StrCat("alert-", i, "-", std::string(uniform(0, 60), 'x'));
        ASSERT_EQ(*spool->Append(p), i);
        written[i] = p;
      }
      if (uniform(0, 2) == 0) {
        ASSERT_TRUE(spool->Ack("a", uniform(1, n)).ok());
      }
    }
    const int mutations = static_cast<int>(uniform(1, 5));
    for (int m = 0; m < mutations; ++m) {
      std::vector<std::string> segs = Segments();
      const uint64_t kind = uniform(0, 6);
      if (segs.empty() || kind >= 5) {
        if (kind == 6) {
          WriteFile(dir_ / "cursor-a", garbage(uniform(0, 30)));
        } else {
          WriteFile(dir_ / SegName(uniform(1, 60)), garbage(uniform(0, 400)));
        }
        continue;
      }
      const fs::path victim = dir_ / segs[uniform(0, segs.size() - 1)];
      std::string data = ReadFile(victim);
      switch (kind) {
        case 0:  // flip bytes
          for (uint64_t k = uniform(1, 4); k > 0 && !data.empty(); --k) {
            data[uniform(0, data.size() - 1)] ^= static_cast<char>(uniform(1, 255));
          }
          break;
        case 1:  // truncate
          data.resize(uniform(0, data.size()));
          break;
        case 2:  // insert garbage
          data.insert(uniform(0, data.size()), garbage(uniform(1, 80)));
          break;
        case 3:  // garbage at the end
          data += garbage(uniform(1, 80));
          break;
        case 4:  // replace entirely
          data = garbage(uniform(0, 300));
          break;
      }
      WriteFile(victim, data);
    }

    std::vector<SpoolRecord> first;
    uint64_t last_seq = 0;
    {
      absl::StatusOr<std::unique_ptr<Spool>> spool =
          Spool::Open(Options({"a"}, 1 << 20, segment_bytes));
      ASSERT_TRUE(spool.ok()) << spool.status();
      absl::StatusOr<std::vector<SpoolRecord>> r = (*spool)->Read("a", kAll, kAll);
      ASSERT_TRUE(r.ok()) << r.status();
      first = *std::move(r);
      uint64_t prev = 0;
      for (const SpoolRecord& rec : first) {
        // Nothing but intact records that were really written, in order.
        EXPECT_GT(rec.seq, prev);
        prev = rec.seq;
        ASSERT_EQ(written.count(rec.seq), 1u) << rec.seq;
        EXPECT_EQ(rec.payload, written[rec.seq]);
      }
      last_seq = (*spool)->stats().last_seq;
      EXPECT_GE(last_seq, prev);
    }
    // Recovery left the files clean: the next start finds no damage and the same records.
    auto spool = MustOpen(Options({"a"}, 1 << 20, segment_bytes));
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(spool->stats().corrupt_records, 0u);
    EXPECT_EQ(spool->stats().corrupt_bytes, 0u);
    absl::StatusOr<std::vector<SpoolRecord>> again = spool->Read("a", kAll, kAll);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(Seqs(*again), Seqs(first));
    absl::StatusOr<uint64_t> next = spool->Append("after");
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(*next, last_seq + 1);
    absl::StatusOr<std::vector<SpoolRecord>> after = spool->Read("a", kAll, kAll);
    ASSERT_TRUE(after.ok());
    ASSERT_FALSE(after->empty());
    EXPECT_EQ(after->back().seq, *next);
    EXPECT_EQ(after->back().payload, "after");
  }
}

TEST_F(SpoolTest, OverflowDropsOldestSegmentsAndCountsPerSink) {
  // 2 records per segment, room for 5.
  auto spool = MustOpen(Options({"a", "b"}, 5 * kRec, 2 * kRec));
  ASSERT_NE(spool, nullptr);
  AppendUpTo(*spool, 1, 2);
  ASSERT_TRUE(spool->Ack("a", 2).ok());
  AppendUpTo(*spool, 3, 5);
  EXPECT_EQ(spool->stats().bytes, 5 * kRec);
  EXPECT_EQ(spool->stats().sinks.at("a").overflow_dropped, 0u);

  AppendUpTo(*spool, 6, 6);  // segment 1 goes: a had it acknowledged, b loses 1 and 2
  EXPECT_THAT(Segments(), ElementsAre(SegName(3), SegName(5)));
  SpoolStats st = spool->stats();
  EXPECT_EQ(st.sinks.at("a").overflow_dropped, 0u);
  EXPECT_EQ(st.sinks.at("b").overflow_dropped, 2u);
  EXPECT_EQ(st.sinks.at("b").acked_seq, 2u);

  AppendUpTo(*spool, 7, 8);  // segment 3 goes: both lose 3 and 4
  EXPECT_THAT(Segments(), ElementsAre(SegName(5), SegName(7)));
  st = spool->stats();
  EXPECT_EQ(st.sinks.at("a").overflow_dropped, 2u);
  EXPECT_EQ(st.sinks.at("b").overflow_dropped, 4u);
  EXPECT_EQ(st.sinks.at("a").acked_seq, 4u);
  EXPECT_EQ(st.sinks.at("a").pending, 4u);
  EXPECT_EQ(st.bytes, 4 * kRec);
  EXPECT_EQ(st.records, 4u);
  EXPECT_EQ(st.appended, 8u);
  EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(5, 6, 7, 8));
  EXPECT_THAT(ReadSeqs(*spool, "b"), ElementsAre(5, 6, 7, 8));
  // An acknowledgement of records overflow already took is harmless.
  ASSERT_TRUE(spool->Ack("b", 3).ok());
  EXPECT_EQ(spool->stats().sinks.at("b").acked_seq, 4u);
}

TEST_F(SpoolTest, SegmentSizeIsCappedSoOverflowNeverEmptiesTheSpool) {
  // segment_bytes far above max_bytes: segments are cut at max_bytes / 4 = one record.
  auto spool = MustOpen(Options({"a"}, 4 * kRec, 1 << 20));
  ASSERT_NE(spool, nullptr);
  AppendUpTo(*spool, 1, 5);
  EXPECT_THAT(Segments(), ElementsAre(SegName(2), SegName(3), SegName(4), SegName(5)));
  EXPECT_EQ(spool->stats().sinks.at("a").overflow_dropped, 1u);
  EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(2, 3, 4, 5));
}

TEST_F(SpoolTest, RecordLargerThanTheSpoolIsRefused) {
  auto spool = MustOpen(Options({"a"}, 100, 1000));
  ASSERT_NE(spool, nullptr);
  AppendUpTo(*spool, 1, 1);
  absl::StatusOr<uint64_t> big = spool->Append(std::string(100 - kHeader + 1, 'x'));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  SpoolStats st = spool->stats();
  EXPECT_EQ(st.appended, 1u);
  EXPECT_EQ(st.last_seq, 1u);
  EXPECT_EQ(st.sinks.at("a").overflow_dropped, 0u);
  EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(1));
  // Exactly max_bytes fits, after dropping what was there.
  absl::StatusOr<uint64_t> full = spool->Append(std::string(100 - kHeader, 'y'));
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(*full, 2u);
  EXPECT_EQ(spool->stats().bytes, 100u);
  EXPECT_EQ(spool->stats().sinks.at("a").overflow_dropped, 1u);
}

TEST_F(SpoolTest, WaitForRecordsWakesOnAppend) {
  auto spool = MustOpen(Options({"a", "b"}));
  ASSERT_NE(spool, nullptr);
  EXPECT_FALSE(spool->WaitForRecords("a", absl::Milliseconds(1)));
  bool woke = false;
  absl::Duration waited;
  std::thread waiter([&] {
    const absl::Time start = absl::Now();
    woke = spool->WaitForRecords("a", absl::Seconds(120));
    waited = absl::Now() - start;
  });
  AppendUpTo(*spool, 1, 1);
  waiter.join();
  EXPECT_TRUE(woke);
  EXPECT_LT(waited, absl::Seconds(60));  // woken, not timed out
  EXPECT_TRUE(spool->WaitForRecords("b", absl::ZeroDuration()));
  ASSERT_TRUE(spool->Ack("a", 1).ok());
  EXPECT_FALSE(spool->WaitForRecords("a", absl::ZeroDuration()));
}

TEST_F(SpoolTest, CloseWakesWaitersAndRefusesAppends) {
  auto spool = MustOpen(Options({"a"}));
  ASSERT_NE(spool, nullptr);
  bool woke = true;
  absl::Duration waited;
  std::thread waiter([&] {
    const absl::Time start = absl::Now();
    woke = spool->WaitForRecords("a", absl::Seconds(120));
    waited = absl::Now() - start;
  });
  spool->Close();
  waiter.join();
  EXPECT_FALSE(woke);  // woken, with nothing to read
  EXPECT_LT(waited, absl::Seconds(60));
  EXPECT_EQ(spool->Append("late").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(spool->Sync().ok());
}

TEST_F(SpoolTest, DeliveryDrainsAfterClose) {
  auto spool = MustOpen(Options({"a"}));
  ASSERT_NE(spool, nullptr);
  AppendUpTo(*spool, 1, 3);
  spool->Close();
  EXPECT_TRUE(spool->WaitForRecords("a", absl::Seconds(120)));
  EXPECT_THAT(ReadSeqs(*spool, "a"), ElementsAre(1, 2, 3));
  ASSERT_TRUE(spool->Ack("a", 3).ok());
  EXPECT_THAT(Segments(), IsEmpty());  // the closed segment was the last one
  EXPECT_TRUE(spool->Sync().ok());
}

// Variable sizes so segments cut at different record counts.
std::string BigPayload(uint64_t seq) {
  return absl::StrCat("{\"seq\":", seq, ",\"pad\":\"", std::string(50 + (seq * 37) % 200, 'p'),
                      "\"}");
}

TEST_F(SpoolTest, TenThousandRecordsThroughSeveralSegments) {
  constexpr uint64_t kTotal = 10000;
  constexpr uint64_t kSegmentBytes = 64 << 10;
  // Where segments start, by the rule "closed once it reaches segment_bytes".
  std::vector<uint64_t> starts;
  uint64_t fill = kSegmentBytes;
  for (uint64_t seq = 1; seq <= kTotal; ++seq) {
    if (fill >= kSegmentBytes) {
      starts.push_back(seq);
      fill = 0;
    }
    fill += kHeader + BigPayload(seq).size();
  }
  ASSERT_GE(starts.size(), 10u);

  auto spool = MustOpen(Options({"a"}, 64 << 20, kSegmentBytes));
  ASSERT_NE(spool, nullptr);
  for (uint64_t seq = 1; seq <= kTotal / 2; ++seq) ASSERT_EQ(*spool->Append(BigPayload(seq)), seq);
  const size_t first_half =
      std::upper_bound(starts.begin(), starts.end(), kTotal / 2) - starts.begin();
  std::vector<std::string> expected;
  for (size_t i = 0; i < first_half; ++i) expected.push_back(SegName(starts[i]));
  EXPECT_EQ(Segments(), expected);

  // A producer keeps appending while the delivery thread reads and acknowledges.
  std::thread producer([&] {
    for (uint64_t seq = kTotal / 2 + 1; seq <= kTotal; ++seq) {
      absl::StatusOr<uint64_t> got = spool->Append(BigPayload(seq));
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(*got, seq);
    }
  });
  uint64_t next = 1;
  uint64_t batches = 0;
  while (next <= kTotal) {
    ASSERT_TRUE(spool->WaitForRecords("a", absl::Seconds(120))) << "stuck before " << next;
    absl::StatusOr<std::vector<SpoolRecord>> batch = spool->Read("a", 128, 16 << 10);
    ASSERT_TRUE(batch.ok()) << batch.status();
    ASSERT_FALSE(batch->empty());
    for (const SpoolRecord& r : *batch) {
      ASSERT_EQ(r.seq, next);
      ASSERT_EQ(r.payload, BigPayload(next));
      ++next;
    }
    ASSERT_TRUE(spool->Ack("a", batch->back().seq).ok());
    ++batches;
  }
  producer.join();
  EXPECT_GE(batches, kTotal / 128);
  ASSERT_TRUE(spool->Sync().ok());

  SpoolStats st = spool->stats();
  EXPECT_EQ(st.appended, kTotal);
  EXPECT_EQ(st.last_seq, kTotal);
  EXPECT_EQ(st.records, 0u);
  EXPECT_EQ(st.sinks.at("a").pending, 0u);
  EXPECT_EQ(st.sinks.at("a").acked_seq, kTotal);
  EXPECT_EQ(st.sinks.at("a").overflow_dropped, 0u);
  EXPECT_EQ(st.corrupt_records, 0u);
  // Every segment but the one still taking appends is gone.
  uint64_t last_fill = 0;
  for (uint64_t seq = starts.back(); seq <= kTotal; ++seq) {
    last_fill += kHeader + BigPayload(seq).size();
  }
  if (last_fill >= kSegmentBytes) {
    EXPECT_THAT(Segments(), IsEmpty());
  } else {
    EXPECT_THAT(Segments(), ElementsAre(SegName(starts.back())));
    EXPECT_EQ(st.bytes, last_fill);
  }
}

}  // namespace
}  // namespace sluice::output
