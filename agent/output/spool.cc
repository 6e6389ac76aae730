#include "agent/output/spool.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace sluice::output {
namespace {

// On disk FE 'S' 'L' FF: bytes that never occur in UTF-8, so never inside a JSON alert.
constexpr uint32_t kMagic = 0xFF4C53FEu;
constexpr size_t kHeaderBytes = Spool::kRecordHeaderBytes;
static_assert(kHeaderBytes == 4 + 4 + 8 + 4);
// Sequence numbers at or above this are taken for damage: a real spool never gets near it, and
// refusing them keeps a forged cursor or record from running the counter into overflow.
constexpr uint64_t kSeqLimit = uint64_t{1} << 62;
constexpr absl::string_view kSegmentPrefix = "seg-";
constexpr absl::string_view kSegmentSuffix = ".log";
constexpr absl::string_view kCursorPrefix = "cursor-";
// Temporary files (cursor replacement, segment rewrite at recovery) start with this; a sink
// name cannot make a cursor file look like one.
constexpr absl::string_view kTempPrefix = "tmp-";
constexpr size_t kMaxSinkName = 128;

absl::Status Errno(absl::string_view what) { return absl::ErrnoToStatus(errno, what); }

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

uint32_t RecordCrc(uint64_t seq, absl::string_view payload) {
  char seq_bytes[8];
  PutU64(seq_bytes, seq);
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(seq_bytes), sizeof(seq_bytes));
  crc = crc32(crc, reinterpret_cast<const Bytef*>(payload.data()),
              static_cast<uInt>(payload.size()));
  return static_cast<uint32_t>(crc);
}

std::string EncodeRecord(uint64_t seq, absl::string_view payload) {
  std::string rec(kHeaderBytes + payload.size(), '\0');
  PutU32(rec.data(), kMagic);
  PutU32(rec.data() + 4, static_cast<uint32_t>(payload.size()));
  PutU64(rec.data() + 8, seq);
  PutU32(rec.data() + 16, RecordCrc(seq, payload));
  std::memcpy(rec.data() + kHeaderBytes, payload.data(), payload.size());
  return rec;
}

// A well-formed record at `pos` whose seq is above `after`: size (header + payload) and seq.
struct Parsed {
  uint64_t seq = 0;
  uint32_t size = 0;
};
bool ParseAt(absl::string_view data, size_t pos, uint64_t after, Parsed* out) {
  if (pos > data.size() || data.size() - pos < kHeaderBytes) return false;
  const char* p = data.data() + pos;
  if (GetU32(p) != kMagic) return false;
  const uint32_t len = GetU32(p + 4);
  const uint64_t seq = GetU64(p + 8);
  if (len > data.size() - pos - kHeaderBytes) return false;
  if (len > std::numeric_limits<uint32_t>::max() - kHeaderBytes) return false;
  if (seq <= after || seq >= kSeqLimit) return false;
  if (RecordCrc(seq, data.substr(pos + kHeaderBytes, len)) != GetU32(p + 16)) return false;
  out->seq = seq;
  out->size = static_cast<uint32_t>(kHeaderBytes + len);
  return true;
}

struct ScanResult {
  std::vector<std::pair<Parsed, uint64_t>> records;  // record and its offset
  uint64_t bad_records = 0;
  uint64_t bad_bytes = 0;
  uint64_t good_end = 0;   // end of the last good record
  bool only_tail_bad = true;  // every damaged byte lies after the last good record
};

// Walks a segment: good records are taken in order; a damaged region (a record that does not
// parse, or garbage) is skipped up to the next magic that starts a good record. Each damaged
// region counts as many records as record starts (magics) it holds, and at least one.
ScanResult ScanSegment(absl::string_view data, uint64_t after) {
  const std::string magic = [] {
    std::string m(4, '\0');
    PutU32(m.data(), kMagic);
    return m;
  }();
  ScanResult r;
  size_t pos = 0;
  size_t bad_start = absl::string_view::npos;
  uint64_t bad_starts = 0;  // magics seen in the current damaged region
  auto close_bad = [&](size_t end) {
    r.bad_records += std::max<uint64_t>(1, bad_starts);
    r.bad_bytes += end - bad_start;
    bad_start = absl::string_view::npos;
    bad_starts = 0;
  };
  while (pos < data.size()) {
    Parsed p;
    if (ParseAt(data, pos, after, &p)) {
      if (bad_start != absl::string_view::npos) {
        close_bad(pos);
        r.only_tail_bad = false;
      }
      r.records.emplace_back(p, pos);
      after = p.seq;
      pos += p.size;
      r.good_end = pos;
      continue;
    }
    if (bad_start == absl::string_view::npos) bad_start = pos;
    if (data.substr(pos, 4) == magic) ++bad_starts;
    const size_t next = data.find(magic, pos + 1);
    pos = next == absl::string_view::npos ? data.size() : next;
  }
  if (bad_start != absl::string_view::npos) close_bad(data.size());
  return r;
}

bool ValidSinkName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxSinkName) return false;
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '.' || c == '-')) {
      return false;
    }
  }
  return true;
}

bool AllDigits(absl::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
}

std::string SegmentName(uint64_t first_seq) {
  return absl::StrFormat("%s%020u%s", kSegmentPrefix, first_seq, kSegmentSuffix);
}

// The first seq a segment file name carries; 0 when `name` is no segment of ours.
uint64_t ParseSegmentName(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, kSegmentPrefix) || !absl::ConsumeSuffix(&name, kSegmentSuffix)) {
    return 0;
  }
  uint64_t seq = 0;
  if (name.size() != 20 || !AllDigits(name) || !absl::SimpleAtoi(name, &seq)) return 0;
  return seq < kSeqLimit ? seq : 0;
}

absl::Status WriteAll(int fd, absl::string_view data, absl::string_view what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(what);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Reads up to `len` bytes at `offset`; fewer only at end of file.
absl::StatusOr<std::string> PreadUpTo(int fd, uint64_t offset, size_t len, absl::string_view what) {
  std::string buf(len, '\0');
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, buf.data() + got, len - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(what);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  buf.resize(got);
  return buf;
}

absl::StatusOr<std::string> ReadWhole(int fd, absl::string_view what) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Errno(what);
  std::string data;
  uint64_t offset = 0;
  // Sized from fstat, but read to EOF: the size is only a hint for the first read.
  size_t chunk = std::max<size_t>(static_cast<size_t>(st.st_size), 4096);
  for (;;) {
    absl::StatusOr<std::string> part = PreadUpTo(fd, offset, chunk, what);
    if (!part.ok()) return part.status();
    data.append(*part);
    offset += part->size();
    if (part->size() < chunk) return data;
    chunk = 1 << 20;
  }
}

// A cursor file's value. False when it is missing or does not hold a cursor (e.g. left empty by
// a power loss): the sink then starts from the oldest record held, resending rather than losing.
bool ReadCursor(int dir_fd, const std::string& file, uint64_t* value) {
  UniqueFd fd(openat(dir_fd, file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return false;
  absl::StatusOr<std::string> text = PreadUpTo(fd.get(), 0, 64, file);
  if (!text.ok() || text->size() >= 64) return false;
  absl::string_view v = *text;
  absl::ConsumeSuffix(&v, "\n");
  uint64_t seq = 0;
  if (v.size() > 20 || !AllDigits(v) || !absl::SimpleAtoi(v, &seq) || seq >= kSeqLimit) {
    return false;
  }
  *value = seq;
  return true;
}

bool IsRegularFile(int dir_fd, const char* name) {
  struct stat st;
  return fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

Spool::Spool(PrivateTag, SpoolOptions options, UniqueFd dir_fd)
    : options_(std::move(options)),
      segment_limit_(std::max<uint64_t>(1, std::min(options_.segment_bytes,
                                                    options_.max_bytes / 4))),
      dir_fd_(std::move(dir_fd)) {
  for (const std::string& sink : options_.sinks) {
    sinks_.emplace(sink, std::make_unique<SinkState>());
  }
}

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(SpoolOptions options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("spool directory is empty");
  if (options.max_bytes == 0 || options.segment_bytes == 0) {
    return absl::InvalidArgumentError("spool max_bytes and segment_bytes must be positive");
  }
  std::set<std::string> seen;
  for (const std::string& sink : options.sinks) {
    if (!ValidSinkName(sink)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "spool sink name \"", absl::CHexEscape(sink), "\": expected 1-", kMaxSinkName,
          " characters of [a-z0-9_.-]"));
    }
    if (!seen.insert(sink).second) {
      return absl::InvalidArgumentError(absl::StrCat("spool sink \"", sink, "\" listed twice"));
    }
  }
  if (mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Errno(absl::StrCat("spool directory ", options.dir));
  }
  UniqueFd dir_fd(open(options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) return Errno(absl::StrCat("spool directory ", options.dir));
  if (flock(dir_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("spool directory ", options.dir, " is in use by another spool"));
    }
    return Errno(absl::StrCat("lock spool directory ", options.dir));
  }
  auto spool = std::make_unique<Spool>(PrivateTag(), std::move(options), std::move(dir_fd));
  if (absl::Status s = spool->Recover(); !s.ok()) return s;
  return spool;
}

absl::Status Spool::Recover() {
  absl::MutexLock lock(&mu_);
  const std::string& dir = options_.dir;
  std::vector<std::pair<uint64_t, std::string>> segment_files;
  std::map<std::string, uint64_t> cursors;  // every valid cursor file, configured sink or not
  {
    UniqueFd dup(fcntl(dir_fd_.get(), F_DUPFD_CLOEXEC, 0));
    if (!dup.valid()) return Errno(absl::StrCat("spool directory ", dir));
    UniqueDir d(fdopendir(dup.get()));
    if (d == nullptr) return Errno(absl::StrCat("spool directory ", dir));
    dup.release();  // closedir closes it now
    for (;;) {
      errno = 0;
      struct dirent* e = readdir(d.get());
      if (e == nullptr) {
        if (errno != 0) return Errno(absl::StrCat("list spool directory ", dir));
        break;
      }
      const std::string name = e->d_name;
      if (!IsRegularFile(dir_fd_.get(), name.c_str())) continue;
      if (absl::StartsWith(name, kTempPrefix)) {
        // Left by a crash between writing a temporary file and renaming it: never the live copy.
        unlinkat(dir_fd_.get(), name.c_str(), 0);
        continue;
      }
      if (uint64_t seq = ParseSegmentName(name); seq != 0) {
        segment_files.emplace_back(seq, name);
        continue;
      }
      absl::string_view sink = name;
      uint64_t value = 0;
      if (absl::ConsumePrefix(&sink, kCursorPrefix) && ValidSinkName(sink) &&
          ReadCursor(dir_fd_.get(), name, &value)) {
        cursors[std::string(sink)] = value;
      }
    }
  }
  std::sort(segment_files.begin(), segment_files.end());

  uint64_t last = 0;  // highest valid seq so far: records must ascend across the whole spool
  bool fixed = false;
  for (const auto& [name_seq, name] : segment_files) {
    const std::string what = absl::StrCat(dir, "/", name);
    UniqueFd fd(openat(dir_fd_.get(), name.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) return Errno(what);
    absl::StatusOr<std::string> data = ReadWhole(fd.get(), what);
    if (!data.ok()) return data.status();
    ScanResult scan = ScanSegment(*data, last);
    corrupt_records_ += scan.bad_records;
    corrupt_bytes_ += scan.bad_bytes;

    Segment seg;
    seg.name = name;
    if (scan.records.empty()) {
      // Nothing to deliver in it (empty, torn first record, or garbage): the file goes.
      fd.reset();
      if (unlinkat(dir_fd_.get(), name.c_str(), 0) != 0) return Errno(what);
      fixed = true;
      continue;
    }
    if (scan.bad_bytes == 0) {
      for (const auto& [p, offset] : scan.records) {
        seg.records.push_back({p.seq, offset, p.size});
      }
      seg.bytes = data->size();
    } else if (scan.only_tail_bad) {
      // A torn or damaged tail (power loss mid-write): cut at the last good record, so appends
      // after it never sit behind garbage.
      if (ftruncate(fd.get(), static_cast<off_t>(scan.good_end)) != 0 ||
          fdatasync(fd.get()) != 0) {
        return Errno(what);
      }
      for (const auto& [p, offset] : scan.records) {
        seg.records.push_back({p.seq, offset, p.size});
      }
      seg.bytes = scan.good_end;
      fixed = true;
    } else {
      // Damage in the middle: rewrite the segment with its good records only, so the loss is
      // counted once, not again at every start.
      std::string good;
      for (const auto& [p, offset] : scan.records) {
        seg.records.push_back({p.seq, good.size(), p.size});
        good.append(*data, offset, p.size);
      }
      const std::string tmp = absl::StrCat(kTempPrefix, name);
      UniqueFd out(openat(dir_fd_.get(), tmp.c_str(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
      if (!out.valid()) return Errno(absl::StrCat(dir, "/", tmp));
      absl::Status s = WriteAll(out.get(), good, tmp);
      if (s.ok() && fdatasync(out.get()) != 0) s = Errno(tmp);
      if (s.ok() && renameat(dir_fd_.get(), tmp.c_str(), dir_fd_.get(), name.c_str()) != 0) {
        s = Errno(what);
      }
      if (!s.ok()) {
        unlinkat(dir_fd_.get(), tmp.c_str(), 0);
        return s;
      }
      seg.bytes = good.size();
      fixed = true;
    }
    last = seg.records.back().seq;
    // A kept segment's name is a seq already handed out; the next segment must not reuse it.
    last = std::max(last, name_seq);
    bytes_ += seg.bytes;
    segments_.push_back(std::move(seg));
  }
  if (fixed && fsync(dir_fd_.get()) != 0) return Errno(absl::StrCat("fsync ", dir));

  // A cursor can be ahead of every record left: the sink acknowledged records that were then
  // deleted, or that a power loss tore. Sequence numbers continue above it, or new records
  // would look acknowledged already.
  for (const auto& [sink, value] : cursors) last = std::max(last, value);
  last_seq_ = last;
  for (auto& [sink, state] : sinks_) {
    if (auto it = cursors.find(sink); it != cursors.end()) {
      state->acked = state->persisted = it->second;
    }
  }
  std::vector<std::string> doomed = CollectAckedLocked();
  for (const std::string& name : doomed) {
    if (unlinkat(dir_fd_.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      return Errno(absl::StrCat(dir, "/", name));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> Spool::CollectAckedLocked() {
  std::vector<std::string> doomed;
  if (sinks_.empty()) return doomed;  // without consumers only overflow frees space
  uint64_t min_acked = std::numeric_limits<uint64_t>::max();
  for (const auto& [name, state] : sinks_) min_acked = std::min(min_acked, state->acked);
  while (!segments_.empty()) {
    const bool active = active_fd_.valid() && segments_.size() == 1;
    const Segment& front = segments_.front();
    if (active || (!front.records.empty() && front.records.back().seq > min_acked)) break;
    bytes_ -= front.bytes;
    doomed.push_back(front.name);
    segments_.pop_front();
  }
  return doomed;
}

void Spool::DropOldestLocked() {
  Segment& front = segments_.front();
  if (!front.records.empty()) {
    const uint64_t last = front.records.back().seq;
    for (auto& [name, state] : sinks_) {
      if (state->acked >= last) continue;
      auto first_unacked = std::upper_bound(
          front.records.begin(), front.records.end(), state->acked,
          [](uint64_t seq, const RecordRef& r) { return seq < r.seq; });
      state->overflow_dropped += static_cast<uint64_t>(front.records.end() - first_unacked);
      // In memory only: a restart finds the cursor behind the oldest record, which means the
      // same thing, and the next Ack persists it.
      state->acked = last;
    }
  }
  if (segments_.size() == 1) active_fd_.reset();
  bytes_ -= front.bytes;
  // Unlink failure leaves a stale file that the next Open re-reads; the append that needs the
  // room must not fail over it.
  unlinkat(dir_fd_.get(), front.name.c_str(), 0);
  segments_.pop_front();
}

uint64_t Spool::NewestSeqLocked() const {
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    if (!it->records.empty()) return it->records.back().seq;
  }
  return 0;
}

uint64_t Spool::CountAfterLocked(uint64_t seq) const {
  uint64_t n = 0;
  for (const Segment& seg : segments_) {
    if (seg.records.empty() || seg.records.back().seq <= seq) continue;
    auto it = std::upper_bound(seg.records.begin(), seg.records.end(), seq,
                               [](uint64_t s, const RecordRef& r) { return s < r.seq; });
    n += static_cast<uint64_t>(seg.records.end() - it);
  }
  return n;
}

absl::StatusOr<uint64_t> Spool::Append(absl::string_view payload) {
  if (payload.size() > std::numeric_limits<uint32_t>::max() - kHeaderBytes ||
      kHeaderBytes + payload.size() > options_.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("alert of ", payload.size(),
                                                   " bytes exceeds the spool bound of ",
                                                   options_.max_bytes, " bytes"));
  }
  const uint64_t size = kHeaderBytes + payload.size();
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::FailedPreconditionError("spool is closed");
  if (last_seq_ + 1 >= kSeqLimit) return absl::ResourceExhaustedError("spool sequence exhausted");
  const uint64_t seq = last_seq_ + 1;
  const std::string record = EncodeRecord(seq, payload);

  // Overflow: the oldest alerts go first; the newest matter most to an incident under way.
  while (!segments_.empty() && bytes_ + size > options_.max_bytes) DropOldestLocked();

  if (!active_fd_.valid()) {
    const std::string name = SegmentName(seq);
    UniqueFd fd(openat(dir_fd_.get(), name.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) return Errno(absl::StrCat(options_.dir, "/", name));
    active_fd_ = std::move(fd);
    segments_.push_back(Segment{name, 0, {}});
  }
  Segment& seg = segments_.back();
  absl::Status s = WriteAll(active_fd_.get(), record, absl::StrCat(options_.dir, "/", seg.name));
  if (!s.ok()) {
    // Take back a partial record (e.g. a full disk) so later records do not follow garbage;
    // when that fails too, leave the segment to recovery and start a fresh one.
    if (ftruncate(active_fd_.get(), static_cast<off_t>(seg.bytes)) != 0 ||
        lseek(active_fd_.get(), static_cast<off_t>(seg.bytes), SEEK_SET) < 0) {
      active_fd_.reset();
      unsynced_.push_back(seg.name);
    }
    return s;
  }
  seg.records.push_back({seq, seg.bytes, static_cast<uint32_t>(size)});
  seg.bytes += size;
  bytes_ += size;
  last_seq_ = seq;
  ++appended_;
  if (seg.bytes >= segment_limit_) {
    active_fd_.reset();
    unsynced_.push_back(seg.name);
  }
  return seq;
}

absl::Status Spool::Sync() {
  std::vector<std::string> files;
  {
    absl::MutexLock lock(&mu_);
    files.swap(unsynced_);
    if (active_fd_.valid()) files.push_back(segments_.back().name);
    for (auto& [name, state] : sinks_) {
      if (state->dirty) files.push_back(absl::StrCat(kCursorPrefix, name));
      state->dirty = false;
    }
  }
  // Without the lock: an fdatasync must not stall Append. Reopening by name syncs the same
  // inode; a file deleted meanwhile needs no syncing.
  absl::Status result;
  for (const std::string& name : files) {
    UniqueFd fd(openat(dir_fd_.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) {
      if (errno != ENOENT) result.Update(Errno(absl::StrCat(options_.dir, "/", name)));
      continue;
    }
    if (fdatasync(fd.get()) != 0) {
      result.Update(Errno(absl::StrCat("fdatasync ", options_.dir, "/", name)));
    }
  }
  // New segments, replaced cursors and deleted segments are directory entries.
  if (fsync(dir_fd_.get()) != 0) result.Update(Errno(absl::StrCat("fsync ", options_.dir)));
  return result;
}

absl::StatusOr<std::vector<SpoolRecord>> Spool::Read(const std::string& sink, size_t max_records,
                                                     size_t max_bytes) {
  auto sink_it = sinks_.find(sink);
  if (sink_it == sinks_.end()) return absl::NotFoundError(absl::StrCat("no spool sink ", sink));
  const SinkState& state = *sink_it->second;
  struct Chunk {
    std::string name;
    uint64_t begin = 0;
    uint64_t end = 0;
    std::vector<RecordRef> refs;
  };
  // Each pass either returns or removes damaged records from the index, so this ends.
  for (;;) {
    std::vector<Chunk> chunks;
    {
      absl::MutexLock lock(&mu_);
      size_t n = 0;
      uint64_t payload_bytes = 0;
      bool full = max_records == 0;
      for (const Segment& seg : segments_) {
        if (full) break;
        if (seg.records.empty() || seg.records.back().seq <= state.acked) continue;
        auto it = std::upper_bound(seg.records.begin(), seg.records.end(), state.acked,
                                   [](uint64_t s, const RecordRef& r) { return s < r.seq; });
        for (; it != seg.records.end(); ++it) {
          const uint64_t len = it->size - kHeaderBytes;
          if (n == max_records || (n > 0 && payload_bytes + len > max_bytes)) {
            full = true;
            break;
          }
          if (chunks.empty() || chunks.back().name != seg.name) {
            chunks.push_back(Chunk{seg.name, it->offset, it->offset, {}});
          }
          chunks.back().refs.push_back(*it);
          chunks.back().end = it->offset + it->size;
          ++n;
          payload_bytes += len;
        }
      }
    }
    if (chunks.empty()) return std::vector<SpoolRecord>();

    // File I/O without the lock: Append must not wait for a reader. A segment deleted meanwhile
    // (overflow) stays readable through an fd opened before, and reads as missing otherwise.
    std::vector<SpoolRecord> out;
    std::vector<std::pair<std::string, RecordRef>> bad;
    for (const Chunk& chunk : chunks) {
      const std::string what = absl::StrCat(options_.dir, "/", chunk.name);
      UniqueFd fd(openat(dir_fd_.get(), chunk.name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      std::string data;
      if (!fd.valid()) {
        if (errno != ENOENT) return Errno(what);
      } else {
        absl::StatusOr<std::string> got =
            PreadUpTo(fd.get(), chunk.begin, chunk.end - chunk.begin, what);
        if (!got.ok()) return got.status();
        data = *std::move(got);
      }
      for (const RecordRef& ref : chunk.refs) {
        Parsed p;
        const size_t pos = ref.offset - chunk.begin;
        if (ParseAt(data, pos, ref.seq - 1, &p) && p.seq == ref.seq && p.size == ref.size) {
          out.push_back(SpoolRecord{ref.seq, data.substr(pos + kHeaderBytes,
                                                         ref.size - kHeaderBytes)});
        } else {
          bad.emplace_back(chunk.name, ref);
        }
      }
    }
    if (bad.empty()) return out;
    {
      // Damaged (or removed behind the spool's back) since Open: dropped and counted once, by
      // whichever reader met them first; records overflow deleted meanwhile are not damage.
      absl::MutexLock lock(&mu_);
      for (const auto& [name, ref] : bad) {
        auto seg = std::find_if(segments_.begin(), segments_.end(),
                                [&](const Segment& s) { return s.name == name; });
        if (seg == segments_.end()) continue;
        auto r = std::lower_bound(seg->records.begin(), seg->records.end(), ref.seq,
                                  [](const RecordRef& r, uint64_t s) { return r.seq < s; });
        if (r == seg->records.end() || r->seq != ref.seq) continue;
        seg->records.erase(r);
        ++corrupt_records_;
        corrupt_bytes_ += ref.size;
      }
    }
    if (!out.empty()) return out;
  }
}

absl::Status Spool::WriteCursor(const std::string& sink, uint64_t seq) {
  const std::string name = absl::StrCat(kCursorPrefix, sink);
  const std::string tmp = absl::StrCat(kTempPrefix, name);
  const std::string what = absl::StrCat(options_.dir, "/", tmp);
  UniqueFd fd(openat(dir_fd_.get(), tmp.c_str(),
                     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return Errno(what);
  absl::Status s = WriteAll(fd.get(), absl::StrCat(seq, "\n"), what);
  fd.reset();
  if (s.ok() && renameat(dir_fd_.get(), tmp.c_str(), dir_fd_.get(), name.c_str()) != 0) {
    s = Errno(absl::StrCat(options_.dir, "/", name));
  }
  if (!s.ok()) unlinkat(dir_fd_.get(), tmp.c_str(), 0);
  return s;
}

absl::Status Spool::Ack(const std::string& sink, uint64_t seq) {
  auto it = sinks_.find(sink);
  if (it == sinks_.end()) return absl::NotFoundError(absl::StrCat("no spool sink ", sink));
  SinkState& state = *it->second;
  absl::MutexLock file_lock(&state.file_mu);
  uint64_t value = 0;
  {
    absl::MutexLock lock(&mu_);
    if (seq > last_seq_) {
      return absl::InvalidArgumentError(
          absl::StrCat("ack of seq ", seq, " beyond the last one appended, ", last_seq_));
    }
    state.acked = std::max(state.acked, seq);
    if (state.acked == state.persisted) return absl::OkStatus();
    value = state.acked;
  }
  // No fsync here: Sync() makes cursors durable. A cursor lost to a power loss only means
  // records are sent again.
  absl::Status s = WriteCursor(sink, value);
  std::vector<std::string> doomed;
  {
    absl::MutexLock lock(&mu_);
    if (s.ok()) {
      state.persisted = value;
      state.dirty = true;
    }
    doomed = CollectAckedLocked();
  }
  for (const std::string& name : doomed) {
    if (unlinkat(dir_fd_.get(), name.c_str(), 0) != 0 && errno != ENOENT && s.ok()) {
      s = Errno(absl::StrCat(options_.dir, "/", name));
    }
  }
  return s;
}

bool Spool::WaitForRecords(const std::string& sink, absl::Duration timeout, uint64_t after_seq) {
  auto it = sinks_.find(sink);
  if (it == sinks_.end()) return false;
  const SinkState* state = it->second.get();
  absl::MutexLock lock(&mu_);
  auto ready = [this, state, after_seq]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return closed_ || NewestSeqLocked() > std::max(state->acked, after_seq);
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  return NewestSeqLocked() > std::max(state->acked, after_seq);
}

void Spool::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  if (active_fd_.valid()) {
    active_fd_.reset();
    unsynced_.push_back(segments_.back().name);
  }
}

SpoolStats Spool::stats() const {
  absl::MutexLock lock(&mu_);
  SpoolStats st;
  st.bytes = bytes_;
  st.appended = appended_;
  st.last_seq = last_seq_;
  st.corrupt_records = corrupt_records_;
  st.corrupt_bytes = corrupt_bytes_;
  st.segments = segments_.size();
  uint64_t min_acked = std::numeric_limits<uint64_t>::max();
  for (const auto& [name, state] : sinks_) {
    min_acked = std::min(min_acked, state->acked);
    SinkSpoolStats& s = st.sinks[name];
    s.acked_seq = state->acked;
    s.pending = CountAfterLocked(state->acked);
    s.overflow_dropped = state->overflow_dropped;
  }
  st.records = CountAfterLocked(sinks_.empty() ? 0 : min_acked);
  return st;
}

}  // namespace sluice::output
