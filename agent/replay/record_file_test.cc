#include "agent/replay/record_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <streambuf>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/replay/event_codec.h"
#include "agent/replay/test_inputs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::replay {
namespace {

namespace v1 = ::sluice::v1;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}

std::string Delimited(const std::string& message) { return Varint(message.size()) + message; }

std::string HeaderRecord(std::string magic = std::string(kRecordingMagic),
                         uint32_t version = kFormatVersion) {
  v1::RecordingHeader h;
  h.set_magic(magic);
  h.set_format_version(version);
  return Delimited(h.SerializeAsString());
}

std::string EventRecord(const engine::Input& in) {
  return Delimited(ToProto(in).SerializeAsString());
}

const RecordingInfo kInfo{"0.1.0-test", "host-\xff", 1'700'000'000'123};

// A recording of `inputs` made by RecordWriter, in memory.
std::string Record(const std::vector<engine::Input>& inputs) {
  std::ostringstream out;
  auto w = RecordWriter::ToStream(out, kInfo);
  EXPECT_TRUE(w.ok()) << w.status();
  for (const auto& in : inputs) EXPECT_TRUE(w->Write(in).ok());
  EXPECT_TRUE(w->Close().ok());
  return out.str();
}

// Reads every input; `end` receives the status that ended the loop (OK at a clean end).
std::vector<engine::Input> ReadAll(RecordReader& r, absl::Status* end) {
  std::vector<engine::Input> out;
  for (;;) {
    absl::StatusOr<std::optional<engine::Input>> next = r.Next();
    if (!next.ok()) {
      *end = next.status();
      return out;
    }
    if (!next->has_value()) {
      *end = absl::OkStatus();
      return out;
    }
    out.push_back(**next);
  }
}

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/", name, ".", getpid());
}

TEST(RecordFileTest, StreamRoundTripOfEveryKind) {
  const std::vector<engine::Input> inputs = testing::AllKinds();
  const std::string bytes = Record(inputs);
  std::istringstream in(bytes);
  auto r = RecordReader::FromStream(in);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->header().magic(), kRecordingMagic);
  EXPECT_EQ(r->header().format_version(), 1u);
  EXPECT_EQ(r->header().agent_version(), kInfo.agent_version);
  EXPECT_EQ(r->header().hostname(), kInfo.hostname);
  EXPECT_EQ(r->header().started_epoch_ms(), kInfo.started_epoch_ms);
  absl::Status end;
  EXPECT_TRUE(ReadAll(*r, &end) == inputs);
  EXPECT_TRUE(end.ok()) << end;
  EXPECT_EQ(r->records_read(), inputs.size());
  EXPECT_EQ(r->offset(), bytes.size());
  EXPECT_FALSE(r->truncated());
  // The end stays the end.
  auto again = r->Next();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
}

TEST(RecordFileTest, FileOfTenThousandMixedRecords) {
  std::vector<engine::Input> inputs;
  std::vector<engine::Input> kinds;
  for (size_t i = 0; i < 10000; ++i) {
    if (i % std::variant_size_v<engine::Input> == 0) kinds = testing::AllKinds(i);
    inputs.push_back(kinds[(i * 5) % kinds.size()]);  // 5 is coprime to 14: every kind, mixed
  }
  const std::string path = TempPath("replay_10k.rec");
  {
    auto w = RecordWriter::Open(path, kInfo);
    ASSERT_TRUE(w.ok()) << w.status();
    for (const auto& in : inputs) ASSERT_TRUE(w->Write(in).ok());
    ASSERT_TRUE(w->Close().ok());
    EXPECT_EQ(w->records_written(), inputs.size());
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), w->bytes_written());
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  auto r = RecordReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status();
  absl::Status end;
  const std::vector<engine::Input> back = ReadAll(*r, &end);
  EXPECT_TRUE(end.ok()) << end;
  ASSERT_EQ(back.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_TRUE(back[i] == inputs[i]) << "record " << i + 1;
  }
  std::remove(path.c_str());
}

TEST(RecordFileTest, HeaderOnlyRecordingIsEmpty) {
  auto r = RecordReader::FromBytes(Record({}));
  ASSERT_TRUE(r.ok()) << r.status();
  auto next = r->Next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
  EXPECT_EQ(r->records_read(), 0u);
}

TEST(RecordFileTest, WriterLeavesAValidFileBeforeTheFirstEvent) {
  // The header is written through at Open: a recorder killed right away leaves a valid file.
  const std::string path = TempPath("replay_header_only.rec");
  auto w = RecordWriter::Open(path, kInfo);
  ASSERT_TRUE(w.ok()) << w.status();
  auto r = RecordReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->header().hostname(), kInfo.hostname);
  std::remove(path.c_str());
}

// Cut a recording at every byte: the reader returns exactly the complete records, then either a
// clean end (cut between records) or a truncation error naming the cut record; never anything
// else, never a crash.
TEST(RecordFileTest, TruncatedAtEveryCutPoint) {
  const std::vector<engine::Input> inputs = testing::AllKinds();
  const std::string bytes = Record(inputs);
  std::vector<size_t> ends;  // end offset of the header, then of every record
  ends.push_back(Record({}).size());
  for (const auto& in : inputs) ends.push_back(ends.back() + EventRecord(in).size());
  ASSERT_EQ(ends.back(), bytes.size());

  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    SCOPED_TRACE(cut);
    const std::string prefix = bytes.substr(0, cut);
    std::istringstream stream(prefix);
    auto from_stream = RecordReader::FromStream(stream);
    auto r = RecordReader::FromBytes(prefix);
    ASSERT_EQ(r.ok(), from_stream.ok());
    if (cut < ends[0]) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(r.status().message()), StartsWith("not a sluice recording: "));
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.status();
    // Records wholly before the cut.
    size_t complete = 0;
    while (complete + 1 < ends.size() && ends[complete + 1] <= cut) ++complete;
    for (RecordReader* reader : {&*r, &*from_stream}) {
      absl::Status end;
      const std::vector<engine::Input> got = ReadAll(*reader, &end);
      ASSERT_EQ(got.size(), complete);
      EXPECT_TRUE(std::equal(got.begin(), got.end(), inputs.begin()));
      if (cut == ends[complete]) {
        EXPECT_TRUE(end.ok()) << end;
        EXPECT_FALSE(reader->truncated());
        continue;
      }
      EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss);
      EXPECT_THAT(std::string(end.message()),
                  StartsWith(absl::StrCat("record ", complete + 1, " at byte offset ",
                                          ends[complete], ": truncated")));
      EXPECT_TRUE(reader->truncated());
      EXPECT_EQ(reader->records_read(), complete);
      // The error stays.
      EXPECT_EQ(reader->Next().status(), end);
    }
  }
}

TEST(RecordFileTest, NotARecording) {
  struct Case {
    std::string bytes;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"", "not a sluice recording: the input is empty"},
      {"hello, world\n", "not a sluice recording: the input ends inside its first record"},
      {HeaderRecord("sluice-recordinX"), "not a sluice recording: bad magic"},
      {HeaderRecord(""), "not a sluice recording: bad magic"},
      {Delimited("\xff\xff\xff"),
       "not a sluice recording: its first record is not a recording header"},
      {Varint(kMaxHeaderBytes + 1) + "x",
       "not a sluice recording: record of 65537 bytes exceeds the 65536-byte limit"},
      {std::string(10, '\xff') + "\x01", "not a sluice recording: malformed length prefix"},
      {"\x80", "not a sluice recording: the input ends inside its first record"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error);
    auto r = RecordReader::FromBytes(c.bytes);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), StartsWith(c.error));
  }
}

TEST(RecordFileTest, OtherFormatVersion) {
  for (uint32_t version : {0u, 2u, 77u}) {
    auto r = RecordReader::FromBytes(HeaderRecord(std::string(kRecordingMagic), version) +
                                     EventRecord(testing::AllKinds()[0]));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(),
              absl::StrCat("format version ", version, ", this sluice reads 1"));
  }
}

TEST(RecordFileTest, OversizedRecordIsRejectedWithoutReadingIt) {
  const std::string header = HeaderRecord();
  for (uint64_t claim : {uint64_t{kMaxRecordBytes} + 1, uint64_t{1} << 63, ~uint64_t{0}}) {
    SCOPED_TRACE(claim);
    auto r = RecordReader::FromBytes(header + EventRecord(testing::AllKinds()[1]) +
                                     Varint(claim) + "abc");
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->Next().ok());
    const size_t offset = header.size() + EventRecord(testing::AllKinds()[1]).size();
    auto next = r->Next();
    ASSERT_FALSE(next.ok());
    EXPECT_EQ(next.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(next.status().message(),
              absl::StrCat("record 2 at byte offset ", offset, ": record of ", claim,
                           " bytes exceeds the 1048576-byte limit"));
    EXPECT_FALSE(r->truncated());
    EXPECT_EQ(r->Next().status(), next.status());  // the framing is lost
  }
}

TEST(RecordFileTest, RecordOfExactlyTheLimitIsRead) {
  // The limit itself is allowed: a valid event padded with an unknown bytes field to the cap.
  v1::Event e = ToProto(testing::AllKinds()[2]);
  std::string wire = e.SerializeAsString();
  const std::string tag_and_len_guess = "\xfa\x3e";  // field 1007, length-delimited
  const size_t fill = kMaxRecordBytes - wire.size() - tag_and_len_guess.size() - 3;
  wire += tag_and_len_guess + Varint(fill) + std::string(fill, 'z');
  ASSERT_EQ(wire.size(), kMaxRecordBytes);
  auto r = RecordReader::FromBytes(HeaderRecord() + Delimited(wire));
  ASSERT_TRUE(r.ok());
  auto next = r->Next();
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->has_value());
  EXPECT_TRUE(**next == testing::AllKinds()[2]);
}

TEST(RecordFileTest, MalformedLengthPrefix) {
  const std::string header = HeaderRecord();
  auto r = RecordReader::FromBytes(header + std::string(10, '\xff') + "\x01");
  ASSERT_TRUE(r.ok());
  auto next = r->Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().message(),
            absl::StrCat("record 1 at byte offset ", header.size(),
                         ": malformed length prefix (more than 64 bits)"));
}

TEST(RecordFileTest, BadRecordsAreReportedAndSkippable) {
  const std::string header = HeaderRecord();
  v1::Event invalid = ToProto(testing::AllKinds()[4]);
  invalid.mutable_connect()->set_daddr("1234");
  const std::string malformed = Delimited("\xff\xff\xff");
  const std::string bad_field = Delimited(invalid.SerializeAsString());
  const std::string empty = Delimited("");
  const engine::Input good = testing::AllKinds()[5];
  auto r = RecordReader::FromBytes(header + malformed + bad_field + empty + EventRecord(good));
  ASSERT_TRUE(r.ok());

  auto next = r->Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().message(),
            absl::StrCat("record 1 at byte offset ", header.size(), ": malformed event"));
  next = r->Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().message(),
            absl::StrCat("record 2 at byte offset ", header.size() + malformed.size(),
                         ": connect.daddr: 4 bytes, expected 16"));
  next = r->Next();
  ASSERT_FALSE(next.ok());
  EXPECT_THAT(std::string(next.status().message()),
              StartsWith(absl::StrCat("record 3 at byte offset ",
                                      header.size() + malformed.size() + bad_field.size(),
                                      ": event: no kind set")));
  // The framing is intact: the next record reads.
  next = r->Next();
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->has_value());
  EXPECT_TRUE(**next == good);
  EXPECT_EQ(r->records_read(), 4u);
  EXPECT_FALSE(r->truncated());
}

TEST(RecordFileTest, WriterRejectsAnOversizedInputAndStaysUsable) {
  events::ExecEvent huge;
  huge.argv.assign(300, std::string(kMaxArgBytes, 'a'));  // ~1.2 MB encoded
  std::ostringstream out;
  auto w = RecordWriter::ToStream(out, kInfo);
  ASSERT_TRUE(w.ok());
  absl::Status s = w->Write(huge);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("exceeds the 1048576-byte limit"));
  const engine::Input ok = testing::AllKinds()[0];
  ASSERT_TRUE(w->Write(ok).ok());
  ASSERT_TRUE(w->Close().ok());
  EXPECT_EQ(w->records_written(), 1u);

  auto r = RecordReader::FromBytes(out.str());
  ASSERT_TRUE(r.ok());
  absl::Status end;
  EXPECT_TRUE(ReadAll(*r, &end) == std::vector<engine::Input>{ok});
  EXPECT_TRUE(end.ok());
}

// A stream buffer that accepts `limit` bytes, then fails like a full disk.
class FailingBuf : public std::streambuf {
 public:
  explicit FailingBuf(size_t limit) : left_(limit) {}

 protected:
  std::streamsize xsputn(const char*, std::streamsize n) override {
    const std::streamsize take = std::min<std::streamsize>(n, left_);
    left_ -= static_cast<size_t>(take);
    return take;
  }
  int_type overflow(int_type c) override {
    if (left_ == 0 || traits_type::eq_int_type(c, traits_type::eof())) return traits_type::eof();
    --left_;
    return c;
  }

 private:
  size_t left_;
};

TEST(RecordFileTest, WriteErrorsAreReportedAndLatched) {
  FailingBuf buf(100 << 10);
  std::ostream out(&buf);
  auto w = RecordWriter::ToStream(out, kInfo);
  ASSERT_TRUE(w.ok()) << w.status();
  absl::Status first;
  for (int i = 0; i < 100000 && first.ok(); ++i) first = w->Write(testing::AllKinds()[i % 14]);
  ASSERT_FALSE(first.ok());
  EXPECT_THAT(std::string(first.message()), HasSubstr("cannot write recording"));
  EXPECT_EQ(w->Write(testing::AllKinds()[0]), first);
  EXPECT_EQ(w->Flush(), first);
  EXPECT_EQ(w->status(), first);
  EXPECT_EQ(w->Close(), first);
}

TEST(RecordFileTest, WriterOpenFailsOnAFullDevice) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  // The header is written through at Open, so the error shows there.
  auto w = RecordWriter::Open("/dev/full", kInfo);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("cannot write recording /dev/full"));
}

TEST(RecordFileTest, WriterOpenAndCloseErrors) {
  auto w = RecordWriter::Open("/nonexistent-dir/x.rec", kInfo);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);

  std::ostringstream out;
  auto ok = RecordWriter::ToStream(out, kInfo);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->Close().ok());
  EXPECT_TRUE(ok->Close().ok());  // idempotent
  EXPECT_EQ(ok->Write(testing::AllKinds()[0]).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(RecordFileTest, ReaderOpenErrors) {
  auto r = RecordReader::Open("/nonexistent-dir/x.rec");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  // A directory opens but cannot be read.
  r = RecordReader::Open(::testing::TempDir());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("reading the header"));
}

}  // namespace
}  // namespace sluice::replay
