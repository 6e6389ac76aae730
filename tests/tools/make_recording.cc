// Writes a recording (docs/recording.md) from a readable scenario: one sluice.v1.Event per line
// in protobuf text format, '#' comments and blank lines ignored. The integration tests build the
// synthetic streams of tests/testdata/*.events.txt with it; every event passes the same
// validation as a recorded one (FromProto), so a scenario cannot hold what the agent would never
// write.
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/replay/event_codec.h"
#include "agent/replay/record_file.h"
#include "google/protobuf/text_format.h"
#include "sluice/v1/event.pb.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s SCENARIO.events.txt OUT.events\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    fprintf(stderr, "%s: cannot open\n", argv[1]);
    return 2;
  }
  auto writer = sluice::replay::RecordWriter::Open(argv[2], {"scenario", "testhost", 0});
  if (!writer.ok()) {
    fprintf(stderr, "%s: %s\n", argv[2], std::string(writer.status().message()).c_str());
    return 2;
  }
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    const std::string text(absl::StripAsciiWhitespace(line));
    if (text.empty() || text[0] == '#') continue;
    sluice::v1::Event event;
    if (!google::protobuf::TextFormat::ParseFromString(text, &event)) {
      fprintf(stderr, "%s:%d: not a sluice.v1.Event in text format\n", argv[1], lineno);
      return 2;
    }
    auto input = sluice::replay::FromProto(event);
    if (!input.ok()) {
      fprintf(stderr, "%s:%d: %s\n", argv[1], lineno, std::string(input.status().message()).c_str());
      return 2;
    }
    if (auto s = writer->Write(*input); !s.ok()) {
      fprintf(stderr, "%s: %s\n", argv[2], std::string(s.message()).c_str());
      return 1;
    }
  }
  if (auto s = writer->Close(); !s.ok()) {
    fprintf(stderr, "%s: %s\n", argv[2], std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
