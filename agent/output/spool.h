// The disk spool network alert sinks deliver from (DESIGN §7). Every alert bound for a network
// sink is appended here first; one delivery thread per sink reads what that sink has not
// acknowledged, sends it, and acknowledges it. A sink that is down for a while therefore loses
// nothing: its alerts wait on disk, also across an agent restart, until it is back.
//
// On disk, in options.dir:
//  - segment files `seg-<seq of their first record, 20 digits>.log`, append-only, each record
//      magic u32 | payload length u32 | seq u64 | CRC-32 of seq+payload u32 | payload
//    (integers little-endian). The magic's bytes (FE 'S' 'L' FF) never occur in UTF-8 text, so
//    recovery can resynchronize on it after a damaged region of JSON alerts.
//  - one cursor file `cursor-<sink>` per sink: the highest sequence number the sink acknowledged,
//    as decimal text, replaced atomically (temporary file + rename).
// The directory is locked (flock) while a Spool has it open: two agents sharing a state
// directory would otherwise corrupt each other's segments.
//
// Delivery is at least once: records acknowledged shortly before a crash may be sent again.
// Durability is what Sync() made durable; Append alone only reaches the page cache, which
// survives an agent crash but not a power loss.
#ifndef SLUICE_AGENT_OUTPUT_SPOOL_H_
#define SLUICE_AGENT_OUTPUT_SPOOL_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/common/unique_fd.h"

namespace sluice::output {

struct SpoolRecord {
  uint64_t seq = 0;
  std::string payload;
};

struct SpoolOptions {
  // Created (mode 0700) when missing; its parent must exist.
  std::string dir;
  // Consumer names: [a-z0-9_.-]+ (at most 128), unique; InvalidArgument otherwise.
  std::vector<std::string> sinks;
  // Bound on the spool's size on disk.
  uint64_t max_bytes = 256ull << 20;
  // A segment file is closed once it reaches this size (or max_bytes / 4, when smaller: overflow
  // deletes whole segments, and must never empty the spool to make room for one record).
  uint64_t segment_bytes = 8ull << 20;
};

struct SinkSpoolStats {
  uint64_t acked_seq = 0;
  uint64_t pending = 0;           // records held that this sink has not acknowledged
  uint64_t overflow_dropped = 0;  // its unacknowledged records the overflow policy deleted
};

struct SpoolStats {
  uint64_t bytes = 0;            // on disk now
  uint64_t records = 0;          // held now (not yet acked by every sink)
  uint64_t appended = 0;         // by this process
  uint64_t last_seq = 0;
  // Found and dropped by recovery at Open, or by a Read that met a record damaged since.
  uint64_t corrupt_records = 0;
  uint64_t corrupt_bytes = 0;
  uint64_t segments = 0;         // segment files now
  std::map<std::string, SinkSpoolStats> sinks;
};

class Spool {
 public:
  // Bytes a record takes on disk besides its payload.
  static constexpr size_t kRecordHeaderBytes = 20;

  // Opens (creating when missing) and recovers the spool: damaged records are dropped and
  // counted, sequence numbers continue after the highest one seen, each sink resumes after its
  // cursor. FailedPrecondition when another Spool holds the directory.
  static absl::StatusOr<std::unique_ptr<Spool>> Open(SpoolOptions options);

  // Assigns the next sequence number (1-based; continues after a restart) and writes the record
  // with one write(2). Never blocks on a consumer. When the record would take the spool over
  // max_bytes, the oldest segments are deleted first (overflow, counted per sink).
  // InvalidArgument for a record larger than max_bytes; FailedPrecondition after Close().
  absl::StatusOr<uint64_t> Append(absl::string_view payload);

  // fdatasync of what was appended and of the cursors (and fsync of the directory).
  absl::Status Sync();

  // The records after `sink`'s acknowledged seq, in order, at most max_records and (beyond the
  // first record) max_bytes of payload. NotFound for an unknown sink.
  absl::StatusOr<std::vector<SpoolRecord>> Read(const std::string& sink, size_t max_records,
                                                size_t max_bytes);

  // Everything up to `seq` is delivered for `sink`: persisted atomically (temporary file +
  // rename); segments every sink has acknowledged are deleted. Acknowledging less than before
  // is a no-op. NotFound for an unknown sink, InvalidArgument for a seq never assigned.
  absl::Status Ack(const std::string& sink, uint64_t seq);

  // Waits until Read(sink) would return something (with `after_seq`: something newer than it),
  // Close() was called, or timeout; returns whether records are there. False at once for an
  // unknown sink.
  bool WaitForRecords(const std::string& sink, absl::Duration timeout, uint64_t after_seq = 0);

  // Wakes every waiter; later Appends fail with FailedPrecondition. Read, Ack and Sync keep
  // working so delivery threads can drain.
  void Close();

  SpoolStats stats() const;

 private:
  // Keeps construction to Open() while letting it use make_unique.
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  Spool(PrivateTag, SpoolOptions options, UniqueFd dir_fd);
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

 private:
  struct RecordRef {
    uint64_t seq = 0;
    uint64_t offset = 0;  // of the record's header in its segment file
    uint32_t size = 0;    // header + payload
  };
  struct Segment {
    std::string name;
    uint64_t bytes = 0;               // file size
    std::vector<RecordRef> records;   // live records, ascending seq
  };
  struct SinkState {
    // The fields below are guarded by Spool::mu_.
    uint64_t acked = 0;
    uint64_t persisted = 0;       // value in the cursor file as this process last wrote it
    uint64_t overflow_dropped = 0;
    bool dirty = false;           // cursor file replaced since the last Sync
    // Serializes writes of this sink's cursor file so an older value never lands last.
    absl::Mutex file_mu;
  };

  absl::Status Recover();
  // Deletes (from memory; returns the file names to unlink) the oldest segments every sink
  // has acknowledged, except the one taking appends.
  std::vector<std::string> CollectAckedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Overflow: deletes the oldest segment, counting and skipping its unacknowledged records.
  void DropOldestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t NewestSeqLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t CountAfterLocked(uint64_t seq) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteCursor(const std::string& sink, uint64_t seq);

  const SpoolOptions options_;
  const uint64_t segment_limit_;  // options_.segment_bytes, capped
  const UniqueFd dir_fd_;  // flock'ed; every file is opened relative to it
  // Keys fixed at Open; each SinkState's counters are guarded by mu_.
  std::map<std::string, std::unique_ptr<SinkState>> sinks_;

  mutable absl::Mutex mu_;
  std::deque<Segment> segments_ ABSL_GUARDED_BY(mu_);  // oldest first
  // Valid while segments_.back() takes appends.
  UniqueFd active_fd_ ABSL_GUARDED_BY(mu_);
  // Closed segments whose data the next Sync must still fdatasync.
  std::vector<std::string> unsynced_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t appended_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t corrupt_records_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t corrupt_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sluice::output

#endif  // SLUICE_AGENT_OUTPUT_SPOOL_H_
