#include "agent/replay/record_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <istream>
#include <ostream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/common/unique_fd.h"
#include "agent/replay/event_codec.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/io/coded_stream.h"

namespace sluice::replay {
namespace {

namespace v1 = ::sluice::v1;

// Large enough that a write(2) or read(2) per buffer is noise next to encoding the records in it.
constexpr size_t kBufferBytes = size_t{64} << 10;

// ---- output ----

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual absl::Status Write(absl::string_view bytes) = 0;
  // Hands written bytes to the OS (streams); files are written through.
  virtual absl::Status Flush() = 0;
  virtual absl::Status Close() = 0;
};

class FdSink : public ByteSink {
 public:
  FdSink(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  absl::Status Write(absl::string_view bytes) override {
    while (!bytes.empty()) {
      const ssize_t n = write(fd_.get(), bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return absl::ErrnoToStatus(errno, absl::StrCat("cannot write recording ", path_));
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  absl::Status Flush() override { return absl::OkStatus(); }

  absl::Status Close() override {
    // A full disk or a failing device may only show at fsync or close, not at write.
    absl::Status status;
    if (fsync(fd_.get()) != 0 && errno != EINVAL) {  // EINVAL: a pipe or a character device
      status = absl::ErrnoToStatus(errno, absl::StrCat("cannot fsync recording ", path_));
    }
    // The fd is gone after close(2) whatever it returns (EINTR included): never retry.
    if (close(fd_.release()) != 0 && errno != EINTR && status.ok()) {
      status = absl::ErrnoToStatus(errno, absl::StrCat("cannot close recording ", path_));
    }
    return status;
  }

 private:
  UniqueFd fd_;
  std::string path_;
};

class StreamSink : public ByteSink {
 public:
  explicit StreamSink(std::ostream& out) : out_(out) {}

  absl::Status Write(absl::string_view bytes) override {
    out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return Check();
  }
  absl::Status Flush() override {
    out_.flush();
    return Check();
  }
  absl::Status Close() override { return Flush(); }

 private:
  absl::Status Check() const {
    return out_.good() ? absl::OkStatus()
                       : absl::InternalError("cannot write recording: output stream failed");
  }

  std::ostream& out_;
};

// ---- input ----

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Up to `n` bytes into `buf`; 0 only at the end of the input.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
};

class FdSource : public ByteSource {
 public:
  FdSource(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    for (;;) {
      const ssize_t got = read(fd_.get(), buf, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) {
        return absl::ErrnoToStatus(errno, absl::StrCat("cannot read recording ", path_));
      }
    }
  }

 private:
  UniqueFd fd_;
  std::string path_;
};

class StreamSource : public ByteSource {
 public:
  explicit StreamSource(std::istream& in) : in_(in) {}

  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    // read() sets failbit with eofbit on a short read: only badbit is an error.
    in_.read(buf, static_cast<std::streamsize>(n));
    if (in_.bad()) return absl::InternalError("cannot read recording: input stream failed");
    return static_cast<size_t>(in_.gcount());
  }

 private:
  std::istream& in_;
};

class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string bytes) : bytes_(std::move(bytes)) {}

  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    const size_t take = std::min(n, bytes_.size() - pos_);
    std::memcpy(buf, bytes_.data() + pos_, take);
    pos_ += take;
    return take;
  }

 private:
  std::string bytes_;
  size_t pos_ = 0;
};

absl::Status AtRecord(uint64_t number, uint64_t offset, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat("record ", number, " at byte offset ", offset,
                                                  ": ", status.message()));
}

absl::Status NotARecording(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("not a sluice recording: ", why));
}

}  // namespace

// ---- RecordWriter ----

class RecordWriter::Impl {
 public:
  explicit Impl(std::unique_ptr<ByteSink> sink) : sink_(std::move(sink)) {
    pending_.reserve(kBufferBytes + 4096);
  }

  ~Impl() { (void)Close(); }

  absl::Status WriteHeader(const RecordingInfo& info) {
    v1::RecordingHeader header;
    header.set_magic(kRecordingMagic.data(), kRecordingMagic.size());
    header.set_format_version(kFormatVersion);
    header.set_agent_version(info.agent_version);
    header.set_hostname(info.hostname);
    header.set_started_epoch_ms(info.started_epoch_ms);
    if (absl::Status s = Append(header, kMaxHeaderBytes); !s.ok()) return s;
    // Written through: a recorder killed before its first event still leaves a valid file.
    return Flush();
  }

  absl::Status Write(const engine::Input& input) {
    if (closed_) return absl::FailedPreconditionError("recording is closed");
    if (!status_.ok()) return status_;
    ToProto(input, &event_);
    if (absl::Status s = Append(event_, kMaxRecordBytes); !s.ok()) return s;
    ++records_;
    if (pending_.size() >= kBufferBytes) return Flush();
    return absl::OkStatus();
  }

  absl::Status Flush() {
    if (closed_ || !status_.ok()) return status_;
    if (!pending_.empty()) {
      status_ = sink_->Write(pending_);
      pending_.clear();
    }
    if (status_.ok()) status_ = sink_->Flush();
    return status_;
  }

  absl::Status Close() {
    if (closed_) return status_;
    (void)Flush();
    closed_ = true;
    absl::Status s = sink_->Close();
    if (status_.ok()) status_ = std::move(s);
    return status_;
  }

  const absl::Status& status() const { return status_; }
  uint64_t records() const { return records_; }
  uint64_t bytes() const { return bytes_; }

 private:
  // Frames `message` into the buffer: its length as a varint, then the message.
  absl::Status Append(const google::protobuf::MessageLite& message, size_t max) {
    const size_t size = message.ByteSizeLong();
    if (size > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("record of ", size, " bytes exceeds the ", max, "-byte limit"));
    }
    uint8_t prefix[5];  // a varint of 32 bits takes at most 5 bytes
    const uint8_t* prefix_end = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
        static_cast<uint32_t>(size), prefix);
    const size_t prefix_len = static_cast<size_t>(prefix_end - prefix);
    const size_t at = pending_.size();
    pending_.resize(at + prefix_len + size);
    uint8_t* out = reinterpret_cast<uint8_t*>(pending_.data() + at);
    std::memcpy(out, prefix, prefix_len);
    // ByteSizeLong() above cached the sizes this relies on.
    message.SerializeWithCachedSizesToArray(out + prefix_len);
    bytes_ += prefix_len + size;
    return absl::OkStatus();
  }

  std::unique_ptr<ByteSink> sink_;
  std::string pending_;
  v1::Event event_;  // reused: its submessages keep their allocations between records
  absl::Status status_;
  bool closed_ = false;
  uint64_t records_ = 0;
  uint64_t bytes_ = 0;
};

RecordWriter::RecordWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RecordWriter::RecordWriter(RecordWriter&&) noexcept = default;
RecordWriter& RecordWriter::operator=(RecordWriter&&) noexcept = default;
RecordWriter::~RecordWriter() = default;

absl::StatusOr<RecordWriter> RecordWriter::Open(const std::string& path,
                                                const RecordingInfo& info) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create recording ", path));
  }
  auto impl = std::make_unique<Impl>(std::make_unique<FdSink>(std::move(fd), path));
  if (absl::Status s = impl->WriteHeader(info); !s.ok()) return s;
  return RecordWriter(std::move(impl));
}

absl::StatusOr<RecordWriter> RecordWriter::ToStream(std::ostream& out, const RecordingInfo& info) {
  auto impl = std::make_unique<Impl>(std::make_unique<StreamSink>(out));
  if (absl::Status s = impl->WriteHeader(info); !s.ok()) return s;
  return RecordWriter(std::move(impl));
}

absl::Status RecordWriter::Write(const engine::Input& input) {
  if (impl_ == nullptr) return absl::FailedPreconditionError("recording writer was moved from");
  return impl_->Write(input);
}

absl::Status RecordWriter::Flush() {
  if (impl_ == nullptr) return absl::FailedPreconditionError("recording writer was moved from");
  return impl_->Flush();
}

absl::Status RecordWriter::Close() {
  if (impl_ == nullptr) return absl::FailedPreconditionError("recording writer was moved from");
  return impl_->Close();
}

absl::Status RecordWriter::status() const {
  if (impl_ == nullptr) return absl::FailedPreconditionError("recording writer was moved from");
  return impl_->status();
}

uint64_t RecordWriter::records_written() const { return impl_ ? impl_->records() : 0; }
uint64_t RecordWriter::bytes_written() const { return impl_ ? impl_->bytes() : 0; }

// ---- RecordReader ----

class RecordReader::Impl {
 public:
  explicit Impl(std::unique_ptr<ByteSource> source)
      : source_(std::move(source)),
        buf_(kBufferBytes),
        arena_block_(new char[kArenaBlockBytes]),
        arena_(ArenaOptionsFor(arena_block_.get())) {}

  absl::Status ReadHeader() {
    absl::string_view bytes;
    absl::StatusOr<bool> got = ReadRecord(kMaxHeaderBytes, &bytes);
    if (!got.ok()) {
      switch (fault_) {
        case Fault::kTruncated:
          return NotARecording("the input ends inside its first record");
        case Fault::kTooLarge:
        case Fault::kMalformed:
          return NotARecording(got.status().message());
        case Fault::kNone:
        case Fault::kIo:
          break;
      }
      return absl::Status(got.status().code(),
                          absl::StrCat("reading the header: ", got.status().message()));
    }
    if (!*got) return NotARecording("the input is empty");
    if (!header_.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return NotARecording("its first record is not a recording header");
    }
    if (header_.magic() != kRecordingMagic) return NotARecording("bad magic");
    if (header_.format_version() != kFormatVersion) {
      return absl::InvalidArgumentError(absl::StrCat("format version ", header_.format_version(),
                                                     ", this sluice reads ", kFormatVersion));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<engine::Input>> Next() {
    if (!sticky_.ok()) return sticky_;
    const uint64_t number = records_ + 1;
    const uint64_t offset = offset_;
    absl::string_view bytes;
    absl::StatusOr<bool> got = ReadRecord(kMaxRecordBytes, &bytes);
    if (!got.ok()) {
      // The framing is lost: nothing after this point can be read reliably.
      sticky_ = AtRecord(number, offset, got.status());
      return sticky_;
    }
    if (!*got) return std::nullopt;
    records_ = number;
    // Every message of the previous record goes at once; the first block is reused.
    arena_.Reset();
    auto* event = google::protobuf::Arena::CreateMessage<v1::Event>(&arena_);
    if (!event->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return AtRecord(number, offset, absl::InvalidArgumentError("malformed event"));
    }
    absl::StatusOr<engine::Input> input = FromProto(*event);
    if (!input.ok()) return AtRecord(number, offset, input.status());
    return std::optional<engine::Input>(*std::move(input));
  }

  const v1::RecordingHeader& header() const { return header_; }
  uint64_t records() const { return records_; }
  uint64_t offset() const { return offset_; }
  bool truncated() const { return fault_ == Fault::kTruncated; }

 private:
  enum class Fault { kNone, kIo, kTruncated, kTooLarge, kMalformed };

  // Most records are a few hundred bytes: a first block of this size holds the largest usual
  // event, so that parsing allocates nothing.
  static constexpr size_t kArenaBlockBytes = size_t{16} << 10;

  static google::protobuf::ArenaOptions ArenaOptionsFor(char* block) {
    google::protobuf::ArenaOptions options;
    options.initial_block = block;
    options.initial_block_size = kArenaBlockBytes;
    return options;
  }

  // Makes at least one unread byte available; false at the end of the input.
  absl::StatusOr<bool> Fill() {
    if (pos_ < end_) return true;
    if (eof_) return false;
    absl::StatusOr<size_t> n = source_->Read(buf_.data(), buf_.size());
    if (!n.ok()) {
      fault_ = Fault::kIo;
      return n.status();
    }
    pos_ = 0;
    end_ = *n;
    if (end_ == 0) eof_ = true;
    return end_ > 0;
  }

  // Reads one length-delimited record of at most `max` bytes into `*bytes` (valid until the next
  // call). false: the input ended cleanly before the record. On error `fault_` says which kind.
  absl::StatusOr<bool> ReadRecord(size_t max, absl::string_view* bytes) {
    // The length: a base-128 varint of at most 10 bytes (64 bits). It is decoded in full, not
    // cut at `max`, so that the error can say how large the record claims to be.
    uint64_t len = 0;
    for (int i = 0;; ++i) {
      absl::StatusOr<bool> more = Fill();
      if (!more.ok()) return more.status();
      if (!*more) {
        if (i == 0) return false;
        fault_ = Fault::kTruncated;
        return absl::DataLossError("truncated: the input ends inside the length prefix");
      }
      const uint8_t b = static_cast<uint8_t>(buf_[pos_++]);
      ++offset_;
      if (i == 9 && b > 1) {
        fault_ = Fault::kMalformed;
        return absl::InvalidArgumentError("malformed length prefix (more than 64 bits)");
      }
      len |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) break;
    }
    if (len > max) {
      fault_ = Fault::kTooLarge;
      return absl::InvalidArgumentError(
          absl::StrCat("record of ", len, " bytes exceeds the ", max, "-byte limit"));
    }
    // Usually the whole record is in the buffer: parse it in place.
    if (end_ - pos_ >= len) {
      *bytes = absl::string_view(buf_.data() + pos_, len);
      pos_ += len;
      offset_ += len;
      return true;
    }
    // Grown as bytes arrive, so that a length prefix that lies costs no more than the input.
    scratch_.clear();
    while (scratch_.size() < len) {
      absl::StatusOr<bool> more = Fill();
      if (!more.ok()) return more.status();
      if (!*more) {
        fault_ = Fault::kTruncated;
        return absl::DataLossError(
            absl::StrCat("truncated: ", scratch_.size(), " of ", len, " bytes"));
      }
      const size_t take = std::min<size_t>(len - scratch_.size(), end_ - pos_);
      scratch_.append(buf_.data() + pos_, take);
      pos_ += take;
      offset_ += take;
    }
    *bytes = scratch_;
    return true;
  }

  std::unique_ptr<ByteSource> source_;
  std::vector<char> buf_;
  size_t pos_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
  uint64_t offset_ = 0;
  uint64_t records_ = 0;
  Fault fault_ = Fault::kNone;
  absl::Status sticky_;
  std::string scratch_;
  v1::RecordingHeader header_;
  std::unique_ptr<char[]> arena_block_;
  google::protobuf::Arena arena_;
};

RecordReader::RecordReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RecordReader::RecordReader(RecordReader&&) noexcept = default;
RecordReader& RecordReader::operator=(RecordReader&&) noexcept = default;
RecordReader::~RecordReader() = default;

absl::StatusOr<RecordReader> RecordReader::Open(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
  auto impl = std::make_unique<Impl>(std::make_unique<FdSource>(std::move(fd), path));
  if (absl::Status s = impl->ReadHeader(); !s.ok()) return s;
  return RecordReader(std::move(impl));
}

absl::StatusOr<RecordReader> RecordReader::FromStream(std::istream& in) {
  auto impl = std::make_unique<Impl>(std::make_unique<StreamSource>(in));
  if (absl::Status s = impl->ReadHeader(); !s.ok()) return s;
  return RecordReader(std::move(impl));
}

absl::StatusOr<RecordReader> RecordReader::FromBytes(std::string bytes) {
  auto impl = std::make_unique<Impl>(std::make_unique<StringSource>(std::move(bytes)));
  if (absl::Status s = impl->ReadHeader(); !s.ok()) return s;
  return RecordReader(std::move(impl));
}

const v1::RecordingHeader& RecordReader::header() const { return impl_->header(); }

absl::StatusOr<std::optional<engine::Input>> RecordReader::Next() {
  if (impl_ == nullptr) return absl::FailedPreconditionError("recording reader was moved from");
  return impl_->Next();
}

uint64_t RecordReader::records_read() const { return impl_ ? impl_->records() : 0; }
uint64_t RecordReader::offset() const { return impl_ ? impl_->offset() : 0; }
bool RecordReader::truncated() const { return impl_ != nullptr && impl_->truncated(); }

}  // namespace sluice::replay
