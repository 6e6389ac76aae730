// The evidence log (DESIGN §7): every alert, as the sinks emitted it, appended to a hash-chained
// JSON-lines file, so that an incident can later be shown from a record nobody has quietly
// changed. Each record carries the SHA-256 of the previous record's line; a head file carries the
// count and the hash of the last line, so that cutting records off the end shows too.
//
//   DIR/evidence.jsonl  {"seq":N,"time_ms":<append time>,"prev":"<64 hex>","alert":{...OCSF...}}
//   DIR/evidence.head   {"seq":N,"sha256":"<hash of line N>","check":"<hash of the two>"}
//
// A record's hash is the SHA-256 of its line without the line end; the first record's prev is 64
// zeros. The head's check lets verification tell an edited head from an edited last record.
//
// What this detects: any edit, deletion, insertion or reordering of records and a cut tail, made
// by anything that does not recompute the hashes. What it cannot: someone who rewrites the log
// and head with recomputed hashes (there is no key); sending the head's hash off-host (a SIEM
// keeps every alert line too) is what anchors the chain against that.
#ifndef SLUICE_AGENT_OUTPUT_EVIDENCE_LOG_H_
#define SLUICE_AGENT_OUTPUT_EVIDENCE_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "agent/common/unique_fd.h"
#include "nlohmann/json.hpp"

namespace sluice::output {

inline constexpr char kEvidenceLogName[] = "evidence.jsonl";
inline constexpr char kEvidenceHeadName[] = "evidence.head";

// Appends alerts to DIR/evidence.jsonl and keeps DIR/evidence.head in step. Thread-safe. One
// writer per directory: a second Open of the same directory, in this process or another, fails
// while the first is alive.
class EvidenceLog {
 public:
  // Opens (creating DIR mode 0700 and both files mode 0600 when missing) and continues the chain
  // after checking the last record against the head. Refuses, with DataLoss naming the damage,
  // to chain over a log whose tail does not match its head: a torn last line left by a crash, a
  // cut or edited tail, an edited or missing head. Such a log is evidence as it stands; moving it
  // aside (after `sluicectl verify`) starts a new chain. A last record whose head update a crash
  // prevented (it chains onto the record the head names) is kept, and the head brought up to it.
  static absl::StatusOr<std::unique_ptr<EvidenceLog>> Open(const std::string& dir);

  EvidenceLog(const EvidenceLog&) = delete;
  EvidenceLog& operator=(const EvidenceLog&) = delete;

  // Only Open constructs one (the token is private); public for std::make_unique.
  struct Token {
   private:
    friend class EvidenceLog;
    Token() = default;
  };
  EvidenceLog(Token, std::string dir, UniqueFd dir_fd, UniqueFd log_fd, uint64_t size,
              uint64_t seq, std::string prev_hex);

  // Appends one alert (an OCSF JSON object, as RenderLine makes it; stored compact) as the next
  // record, then replaces the head (write, rename). InvalidArgument if it is not a JSON object.
  // A write that fails part way is cut back off the log, so a full disk leaves no torn record.
  absl::Status Append(absl::string_view ocsf_line);

  // Makes every appended record and the head durable (fdatasync, fsync of the head and of DIR).
  absl::Status Sync();

  uint64_t records() const;          // records in the log, = the last seq
  const std::string& path() const { return log_path_; }

 private:
  absl::Status WriteHead(uint64_t seq, const std::string& sha256_hex)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  const std::string log_path_;
  const UniqueFd dir_fd_;
  const UniqueFd log_fd_;  // O_APPEND, flock(LOCK_EX) held for the writer's lifetime
  mutable absl::Mutex mu_;
  uint64_t size_ ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_);
  std::string prev_hex_ ABSL_GUARDED_BY(mu_);
  // Set when a failed write could not be cut back: nothing more is chained after it.
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
};

struct VerifyResult {
  bool ok = false;
  uint64_t records = 0;     // lines in the log (a torn last line included)
  uint64_t bad_record = 0;  // the first bad record, 1-based (= the seq expected there); 0 if ok
  std::string problem;      // what is wrong with it; "" if ok
  std::string log_path;     // the log that was read
  // False when a log given as a file has no head beside it: then a cut tail cannot be seen.
  bool head_checked = false;
};

// Reads the whole log and its head and names the first problem:
//   "edited (its hash does not match the next record's prev)"  (or "... the head" for the last)
//   "missing (seq 4 follows seq 2)", "out of order (seq 21 comes before seq 20)",
//   "not JSON", "not a record (...)", "torn (...)", "tail truncated (head says 120 records, log
//   has 118)", "head behind (...)", "head edited (...)", "head missing".
// `dir_or_file`: a state directory (DIR/evidence.jsonl + DIR/evidence.head) or a log file (its
// head is the same name with .head for .jsonl, and is optional). Errors only when the files
// cannot be read.
absl::StatusOr<VerifyResult> VerifyEvidence(const std::string& dir_or_file);

// The log file `dir_or_file` names (see VerifyEvidence).
std::string EvidenceLogPath(const std::string& dir_or_file);

// The alerts of every record that parses, in log order, whose OCSF `time` lies in
// [since_ms, until_ms]; whatever the chain says (VerifyEvidence says that).
absl::StatusOr<std::vector<nlohmann::json>> ReadEvidenceAlerts(const std::string& dir_or_file,
                                                               int64_t since_ms,
                                                               int64_t until_ms);

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

}  // namespace sluice::output

#endif  // SLUICE_AGENT_OUTPUT_EVIDENCE_LOG_H_
