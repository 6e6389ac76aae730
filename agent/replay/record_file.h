// Recordings of the engine's inputs (`sluicectl record FILE`, `sluicectl replay FILE`): the
// framing of docs/recording.md. A recording is a RecordingHeader followed by one sluice.v1.Event
// per engine::Input, each message preceded by its length as a base-128 varint (the framing of
// protobuf's writeDelimitedTo / parseDelimitedFrom).
//
// The reader treats its input as untrusted: no record larger than kMaxRecordBytes is ever
// allocated, every error carries the record number and byte offset, and a recording cut short
// (the recorder was killed, the disk filled up) is told apart from a corrupt one so that replay
// can count it and stop cleanly.
#ifndef SLUICE_AGENT_REPLAY_RECORD_FILE_H_
#define SLUICE_AGENT_REPLAY_RECORD_FILE_H_

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/engine/inputs.h"
#include "sluice/v1/event.pb.h"

namespace sluice::replay {

inline constexpr absl::string_view kRecordingMagic = "sluice-recording";
// The format this sluice writes and the only one it reads (docs/recording.md, compatibility).
inline constexpr uint32_t kFormatVersion = 1;
// No record (header or event) may be larger. The largest event FromProto accepts is far smaller;
// the cap bounds what a corrupt length prefix can make the reader allocate.
inline constexpr size_t kMaxRecordBytes = size_t{1} << 20;
// The header is small (magic, version, two short strings, a time); a first record larger than
// this is not a header.
inline constexpr size_t kMaxHeaderBytes = size_t{64} << 10;

// What the writer puts in the RecordingHeader besides the magic and the format version.
struct RecordingInfo {
  std::string agent_version;  // e.g. SLUICE_VERSION
  std::string hostname;
  int64_t started_epoch_ms = 0;
};

// Appends inputs to a recording. Not thread-safe. Records are buffered (64 KiB) and written when
// the buffer fills, on Flush() and on Close(); the header is written through at Open(), so even a
// recording with no event is a valid file. After the first write error every call returns that
// error: the file then ends in a truncated record, which the reader reports as such.
class RecordWriter {
 public:
  // Creates `path` (mode 0600: a recording holds command lines and paths) or truncates it.
  static absl::StatusOr<RecordWriter> Open(const std::string& path, const RecordingInfo& info);
  // Writes to `out`, which must outlive the writer (tests, pipes).
  static absl::StatusOr<RecordWriter> ToStream(std::ostream& out, const RecordingInfo& info);

  RecordWriter(RecordWriter&&) noexcept;
  RecordWriter& operator=(RecordWriter&&) noexcept;
  // Closes if Close() was not called; an error on that path is lost, so call Close().
  ~RecordWriter();

  // InvalidArgument if the input's encoding exceeds kMaxRecordBytes (nothing is written, the
  // writer stays usable); otherwise the latched write error, if any.
  absl::Status Write(const engine::Input& input);
  // Writes the buffered records to the file (no fsync).
  absl::Status Flush();
  // Flushes, syncs (files) and closes. Further calls return the first error, or OK.
  absl::Status Close();

  // The first write error, or OK.
  absl::Status status() const;
  uint64_t records_written() const;  // events, the header excluded
  uint64_t bytes_written() const;    // header included, buffered bytes included

 private:
  class Impl;
  explicit RecordWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads a recording one input at a time. Not thread-safe.
//
// Errors:
// - Open / FromStream / FromBytes: InvalidArgument "not a sluice recording: ..." (no header, bad
//   magic) or "format version N, this sluice reads 1"; I/O errors from the OS.
// - Next(): "record N at byte offset O: ..." where N counts events from 1 (the header is not
//   counted) and O is the offset of the record's length prefix:
//   * DataLoss "...: truncated: ..." when the input ends inside a record (its length prefix or
//     its message). truncated() is then true. Everything before it was read: replay counts the
//     cut record and stops cleanly.
//   * InvalidArgument "...: record of N bytes exceeds the 1048576-byte limit" or a malformed
//     length prefix; I/O errors.
//   These leave the framing lost: every later call returns the same error.
//   * InvalidArgument "...: malformed event" (not a parseable sluice.v1.Event) or
//     "...: <field>: <why>" (FromProto). The record is consumed and the framing is intact:
//     Next() may be called again and continues with the following record.
class RecordReader {
 public:
  static absl::StatusOr<RecordReader> Open(const std::string& path);
  // Reads from `in`, which must outlive the reader.
  static absl::StatusOr<RecordReader> FromStream(std::istream& in);
  static absl::StatusOr<RecordReader> FromBytes(std::string bytes);

  RecordReader(RecordReader&&) noexcept;
  RecordReader& operator=(RecordReader&&) noexcept;
  ~RecordReader();

  const sluice::v1::RecordingHeader& header() const;

  // The next input, std::nullopt at the end of a recording that ends between two records.
  absl::StatusOr<std::optional<engine::Input>> Next();

  // Records consumed so far (valid or not), the header excluded.
  uint64_t records_read() const;
  // Bytes consumed so far: the offset of the next record.
  uint64_t offset() const;
  // The input ended inside a record (see Next()).
  bool truncated() const;

 private:
  class Impl;
  explicit RecordReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::replay

#endif  // SLUICE_AGENT_REPLAY_RECORD_FILE_H_
