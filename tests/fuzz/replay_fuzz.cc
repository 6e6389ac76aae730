// libFuzzer target: a recording (agent/replay/record_file.h, docs/recording.md) read from
// arbitrary bytes through the stream reader, as `sluicectl replay` reads a corrupt or hostile
// file. Checked beyond ASan/UBSan:
// - errors are InvalidArgument or DataLoss (DataLoss exactly when the reader says truncated);
// - every input the reader accepts encodes back to itself (ToProto then FromProto);
// - the accepted inputs, written by RecordWriter, read back identically and end cleanly.
// The first byte chooses whether the rest follows a valid header, so that most runs exercise the
// records instead of the magic check. Built with -DSLUICE_BUILD_FUZZ=ON (clang).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "agent/replay/event_codec.h"
#include "agent/replay/record_file.h"

namespace {

using sluice::engine::Input;
namespace replay = sluice::replay;

[[noreturn]] void Fail(const char* what) {
  fprintf(stderr, "replay_fuzz: %s\n", what);
  abort();
}

const std::string& ValidHeader() {
  static const std::string* header = [] {
    std::ostringstream out;
    auto w = replay::RecordWriter::ToStream(out, {"fuzz", "fuzz-host", 1});
    if (!w.ok() || !w->Close().ok()) Fail("cannot write a header");
    return new std::string(out.str());
  }();
  return *header;
}

void CheckError(const absl::Status& s) {
  if (s.code() != absl::StatusCode::kInvalidArgument && s.code() != absl::StatusCode::kDataLoss) {
    Fail("error is neither InvalidArgument nor DataLoss");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string bytes = (data[0] & 1) != 0 ? ValidHeader() : std::string();
  bytes.append(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::istringstream stream(bytes);
  auto reader = replay::RecordReader::FromStream(stream);
  if (!reader.ok()) {
    CheckError(reader.status());
    return 0;
  }

  std::vector<Input> accepted;
  for (;;) {
    const uint64_t before = reader->offset();
    absl::StatusOr<std::optional<Input>> next = reader->Next();
    if (!next.ok()) {
      CheckError(next.status());
      if ((next.status().code() == absl::StatusCode::kDataLoss) != reader->truncated()) {
        Fail("DataLoss and truncated() disagree");
      }
      // A bad record is skipped; a framing error consumes nothing more and ends the recording.
      if (reader->offset() == before) break;
      continue;
    }
    if (!next->has_value()) break;
    const Input& in = **next;
    absl::StatusOr<Input> again = replay::FromProto(replay::ToProto(in));
    if (!again.ok()) Fail("an accepted input does not re-encode");
    if (!(*again == in)) Fail("an accepted input re-encodes to another one");
    accepted.push_back(in);
  }

  std::ostringstream out;
  auto writer = replay::RecordWriter::ToStream(out, {"fuzz", "fuzz-host", 1});
  if (!writer.ok()) Fail("cannot write");
  for (const Input& in : accepted) {
    if (!writer->Write(in).ok()) Fail("cannot write an accepted input");
  }
  if (!writer->Close().ok()) Fail("cannot close");
  auto back = replay::RecordReader::FromBytes(out.str());
  if (!back.ok()) Fail("cannot read back");
  for (const Input& in : accepted) {
    absl::StatusOr<std::optional<Input>> next = back->Next();
    if (!next.ok() || !next->has_value() || !(**next == in)) Fail("read back differs");
  }
  absl::StatusOr<std::optional<Input>> end = back->Next();
  if (!end.ok() || end->has_value()) Fail("read back does not end cleanly");
  return 0;
}
