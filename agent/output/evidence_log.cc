#include "agent/output/evidence_log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sluice::output {

namespace {

using json = nlohmann::json;

constexpr char kZeroHash[] = "0000000000000000000000000000000000000000000000000000000000000000";
constexpr char kHeadTmpName[] = "evidence.head.tmp";
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxHeadBytes = 4096;  // a head is ~200 bytes; more is not a head we wrote

absl::Status Errno(absl::string_view what, const std::string& path, int err) {
  std::string msg = absl::StrCat(what, " ", path, ": ", strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(strerror(errno));
    if (n == 0) return absl::InternalError("write wrote nothing");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status PreadAll(int fd, char* buf, size_t len, off_t off) {
  while (len > 0) {
    const ssize_t n = pread(fd, buf, len, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(strerror(errno));
    if (n == 0) return absl::DataLossError("file shrank while being read");
    buf += n;
    len -= static_cast<size_t>(n);
    off += n;
  }
  return absl::OkStatus();
}

// Calls fn(line, terminated) for every line of the file, the line without its '\n';
// `terminated` is false only for a last line with no line end. Streams: memory is one line.
absl::Status ForEachLine(int fd, const std::function<void(absl::string_view, bool)>& fn) {
  std::string pending;
  char buf[kReadChunk];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(strerror(errno));
    if (n == 0) break;
    absl::string_view chunk(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = chunk.find('\n')) != absl::string_view::npos;) {
      if (pending.empty()) {
        fn(chunk.substr(0, nl), true);
      } else {
        pending.append(chunk.data(), nl);
        fn(pending, true);
        pending.clear();
      }
      chunk.remove_prefix(nl + 1);
    }
    pending.append(chunk.data(), chunk.size());
  }
  if (!pending.empty()) fn(pending, false);
  return absl::OkStatus();
}

bool IsHex64(const json& v) {
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::optional<uint64_t> Unsigned(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer() && it->get<int64_t>() >= 0) {
    return static_cast<uint64_t>(it->get<int64_t>());
  }
  return std::nullopt;
}

// One log line, parsed as far as the chain needs it.
struct ParsedRecord {
  enum Kind { kOk, kNotJson, kNotRecord } kind = kNotJson;
  uint64_t seq = 0;
  std::string prev;
  std::string missing;  // for kNotRecord: which field is missing or mistyped
};

ParsedRecord ParseRecord(absl::string_view line) {
  ParsedRecord r;
  const json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return r;
  r.kind = ParsedRecord::kNotRecord;
  if (!j.is_object()) {
    r.missing = "not an object";
    return r;
  }
  const std::optional<uint64_t> seq = Unsigned(j, "seq");
  if (!seq.has_value() || *seq == 0) {
    r.missing = "no seq";
    return r;
  }
  auto time = j.find("time_ms");
  if (time == j.end() || !time->is_number_integer()) {
    r.missing = "no time_ms";
    return r;
  }
  auto prev = j.find("prev");
  if (prev == j.end() || !IsHex64(*prev)) {
    r.missing = "no prev hash";
    return r;
  }
  auto alert = j.find("alert");
  if (alert == j.end() || !alert->is_object()) {
    r.missing = "no alert object";
    return r;
  }
  r.kind = ParsedRecord::kOk;
  r.seq = *seq;
  r.prev = prev->get<std::string>();
  return r;
}

std::string HeadCheck(uint64_t seq, const std::string& sha256_hex) {
  return Sha256Hex(absl::StrCat("sluice evidence head ", seq, " ", sha256_hex));
}

std::string HeadText(uint64_t seq, const std::string& sha256_hex) {
  return absl::StrCat("{\"seq\":", seq, ",\"sha256\":\"", sha256_hex, "\",\"check\":\"",
                      HeadCheck(seq, sha256_hex), "\"}\n");
}

struct Head {
  uint64_t seq = 0;
  std::string sha256;
};

// The head file: nullopt when it does not exist; a head that does not parse or whose check does
// not match comes back as an "edited" problem.
struct HeadRead {
  bool exists = false;
  std::optional<Head> head;  // exists but empty = edited
  std::string problem;
};

absl::StatusOr<HeadRead> ReadHead(int dir_fd, const std::string& path) {
  HeadRead out;
  UniqueFd fd(dir_fd >= 0 ? openat(dir_fd, kEvidenceHeadName, O_RDONLY | O_CLOEXEC)
                          : open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return out;
    return Errno("cannot open", path, errno);
  }
  out.exists = true;
  std::string text;
  char buf[1024];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot read", path, errno);
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxHeadBytes) {
      out.problem = "head edited (evidence.head is not a head)";
      return out;
    }
  }
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    out.problem = "head edited (evidence.head is not JSON)";
    return out;
  }
  const std::optional<uint64_t> seq = Unsigned(j, "seq");
  auto sha = j.find("sha256");
  auto check = j.find("check");
  if (!seq.has_value() || sha == j.end() || !IsHex64(*sha) || check == j.end() ||
      !check->is_string()) {
    out.problem = "head edited (evidence.head lacks seq, sha256 or check)";
    return out;
  }
  if (check->get<std::string>() != HeadCheck(*seq, sha->get<std::string>())) {
    out.problem = "head edited (evidence.head does not match its own check)";
    return out;
  }
  out.head = Head{*seq, sha->get<std::string>()};
  return out;
}

// The last line of a non-empty file that ends in '\n', without it.
absl::StatusOr<std::string> ReadLastLine(int fd, off_t size) {
  std::string line;
  off_t end = size - 1;  // the final '\n'
  std::string chunk;
  while (end > 0) {
    const off_t start = std::max<off_t>(0, end - static_cast<off_t>(kReadChunk));
    chunk.resize(static_cast<size_t>(end - start));
    if (absl::Status s = PreadAll(fd, chunk.data(), chunk.size(), start); !s.ok()) return s;
    const size_t nl = chunk.rfind('\n');
    if (nl != std::string::npos) {
      line.insert(0, chunk, nl + 1, std::string::npos);
      return line;
    }
    line.insert(0, chunk);
    end = start;
  }
  return line;
}

// The log and head paths for a directory or a log file. `dir_mode`: the head must exist once the
// log has records; for a file given alone it may be absent.
struct EvidencePaths {
  std::string log;
  std::string head;
  bool dir_mode = false;
};

absl::StatusOr<EvidencePaths> PathsFor(const std::string& dir_or_file) {
  struct stat st{};
  if (stat(dir_or_file.c_str(), &st) != 0) return Errno("cannot read", dir_or_file, errno);
  EvidencePaths p;
  if (S_ISDIR(st.st_mode)) {
    p.log = absl::StrCat(dir_or_file, "/", kEvidenceLogName);
    p.head = absl::StrCat(dir_or_file, "/", kEvidenceHeadName);
    p.dir_mode = true;
    return p;
  }
  p.log = dir_or_file;
  if (absl::EndsWith(dir_or_file, ".jsonl")) {
    p.head = absl::StrCat(dir_or_file.substr(0, dir_or_file.size() - 6), ".head");
  } else {
    p.head = absl::StrCat(dir_or_file, ".head");
  }
  return p;
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace

std::string Sha256Hex(absl::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1 || len != 32) {
    // Only a broken libcrypto gets here; a hash that can match nothing keeps the chain failing
    // closed rather than passing.
    return std::string(64, 'x');
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(64, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 0xf];
  }
  return out;
}

std::string EvidenceLogPath(const std::string& dir_or_file) {
  auto p = PathsFor(dir_or_file);
  return p.ok() ? p->log : dir_or_file;
}

// --- EvidenceLog -----------------------------------------------------------------------------

EvidenceLog::EvidenceLog(Token, std::string dir, UniqueFd dir_fd, UniqueFd log_fd, uint64_t size,
                         uint64_t seq, std::string prev_hex)
    : dir_(std::move(dir)),
      log_path_(absl::StrCat(dir_, "/", kEvidenceLogName)),
      dir_fd_(std::move(dir_fd)),
      log_fd_(std::move(log_fd)),
      size_(size),
      seq_(seq),
      prev_hex_(std::move(prev_hex)) {}

absl::StatusOr<std::unique_ptr<EvidenceLog>> EvidenceLog::Open(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Errno("cannot create", dir, errno);
  }
  UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) return Errno("cannot open", dir, errno);
  const std::string log_path = absl::StrCat(dir, "/", kEvidenceLogName);
  const std::string head_path = absl::StrCat(dir, "/", kEvidenceHeadName);
  auto refuse = [&](const std::string& problem) {
    return absl::DataLossError(absl::StrCat(
        log_path, ": the evidence log does not match its head: ", problem,
        ". It is left as it is, and no record is chained onto it; run `sluicectl verify`, then "
        "move it and ", kEvidenceHeadName, " aside to start a new chain"));
  };

  absl::StatusOr<HeadRead> head = ReadHead(dir_fd.get(), head_path);
  if (!head.ok()) return head.status();

  struct stat st{};
  if (fstatat(dir_fd.get(), kEvidenceLogName, &st, 0) != 0) {
    if (errno != ENOENT) return Errno("cannot stat", log_path, errno);
    // Created only when no head says records existed: a deleted log is not started afresh.
    if (head->exists) {
      return refuse(head->head.has_value()
                        ? absl::StrCat("log missing (head says ", head->head->seq, " records)")
                        : std::string("log missing"));
    }
  }
  UniqueFd log_fd(openat(dir_fd.get(), kEvidenceLogName,
                         O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!log_fd.valid()) return Errno("cannot open", log_path, errno);
  if (flock(log_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat(log_path, ": the evidence log is already open for writing"));
    }
    return Errno("cannot lock", log_path, errno);
  }
  if (fstat(log_fd.get(), &st) != 0) return Errno("cannot stat", log_path, errno);
  const off_t size = st.st_size;

  uint64_t seq = 0;
  std::string prev_hex = kZeroHash;
  if (size == 0) {
    if (head->exists) {
      return refuse(head->head.has_value()
                        ? absl::StrCat("tail truncated (head says ", head->head->seq,
                                       " records, log has 0)")
                        : head->problem);
    }
  } else {
    char last = 0;
    if (absl::Status s = PreadAll(log_fd.get(), &last, 1, size - 1); !s.ok()) {
      return absl::InternalError(absl::StrCat("cannot read ", log_path, ": ", s.message()));
    }
    if (last != '\n') {
      return refuse("torn last record (the log ends without a line end: a write was cut short, "
                    "by a crash or a full disk)");
    }
    absl::StatusOr<std::string> line = ReadLastLine(log_fd.get(), size);
    if (!line.ok()) {
      return absl::InternalError(absl::StrCat("cannot read ", log_path, ": ",
                                              line.status().message()));
    }
    const ParsedRecord rec = ParseRecord(*line);
    if (rec.kind == ParsedRecord::kNotJson) return refuse("last record not JSON");
    if (rec.kind == ParsedRecord::kNotRecord) {
      return refuse(absl::StrCat("last record is not a record (", rec.missing, ")"));
    }
    const std::string hash = Sha256Hex(*line);
    if (!head->exists) {
      // Only the very first append can have stopped before any head was written.
      if (rec.seq != 1 || rec.prev != kZeroHash) return refuse("head missing");
    } else if (!head->head.has_value()) {
      return refuse(head->problem);
    } else if (const Head& h = *head->head; h.seq == rec.seq && h.sha256 == hash) {
      // The chain continues.
    } else if (h.seq + 1 == rec.seq && rec.prev == h.sha256) {
      // The last append wrote its record and stopped before the head: the record chains onto
      // the one the head vouches for, so it is kept and the head caught up below.
    } else if (h.seq > rec.seq) {
      return refuse(absl::StrCat("tail truncated (head says ", h.seq, " records, log ends at seq ",
                                 rec.seq, ")"));
    } else if (h.seq == rec.seq) {
      return refuse(absl::StrCat("record ", rec.seq, " edited (its hash does not match the head)"));
    } else {
      return refuse(absl::StrCat("head behind (head says ", h.seq, " records, log ends at seq ",
                                 rec.seq, ")"));
    }
    seq = rec.seq;
    prev_hex = hash;
  }
  auto log = std::make_unique<EvidenceLog>(Token(), dir, std::move(dir_fd), std::move(log_fd),
                                           static_cast<uint64_t>(size), seq, std::move(prev_hex));
  if (seq > 0 && (!head->head.has_value() || head->head->seq != seq)) {
    absl::MutexLock lock(&log->mu_);
    if (absl::Status s = log->WriteHead(seq, log->prev_hex_); !s.ok()) return s;
  }
  return log;
}

uint64_t EvidenceLog::records() const {
  absl::MutexLock lock(&mu_);
  return seq_;
}

absl::Status EvidenceLog::WriteHead(uint64_t seq, const std::string& sha256_hex) {
  const std::string head_path = absl::StrCat(dir_, "/", kEvidenceHeadName);
  UniqueFd fd(openat(dir_fd_.get(), kHeadTmpName, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return Errno("cannot create", absl::StrCat(dir_, "/", kHeadTmpName), errno);
  if (absl::Status s = WriteAll(fd.get(), HeadText(seq, sha256_hex)); !s.ok()) {
    return absl::InternalError(absl::StrCat("cannot write ", head_path, ": ", s.message()));
  }
  if (close(fd.release()) != 0) return Errno("cannot write", head_path, errno);
  // rename(2) replaces the head whole: a reader sees the old head or the new one, never half.
  if (renameat(dir_fd_.get(), kHeadTmpName, dir_fd_.get(), kEvidenceHeadName) != 0) {
    return Errno("cannot replace", head_path, errno);
  }
  return absl::OkStatus();
}

absl::Status EvidenceLog::Append(absl::string_view ocsf_line) {
  const json alert =
      json::parse(ocsf_line.begin(), ocsf_line.end(), nullptr, /*allow_exceptions=*/false);
  if (alert.is_discarded() || !alert.is_object()) {
    return absl::InvalidArgumentError("evidence log: an alert must be one JSON object");
  }
  // Re-serialised compact: a pretty-printed alert would otherwise span lines and break the
  // one-record-per-line framing the chain is verified by.
  const std::string alert_text =
      alert.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);

  absl::MutexLock lock(&mu_);
  if (!broken_.ok()) return broken_;
  const uint64_t seq = seq_ + 1;
  std::string line = absl::StrCat("{\"seq\":", seq, ",\"time_ms\":", NowMs(), ",\"prev\":\"",
                                  prev_hex_, "\",\"alert\":", alert_text, "}");
  const std::string hash = Sha256Hex(line);
  line.push_back('\n');
  if (absl::Status s = WriteAll(log_fd_.get(), line); !s.ok()) {
    const absl::Status err =
        absl::InternalError(absl::StrCat("cannot append to ", log_path_, ": ", s.message()));
    // Cut a partial record back off, so that the log never holds a torn line we made.
    if (ftruncate(log_fd_.get(), static_cast<off_t>(size_)) != 0) {
      broken_ = absl::DataLossError(absl::StrCat(
          log_path_, ": a failed append left a partial record that could not be removed (",
          strerror(errno), "); nothing more is chained onto it"));
      return broken_;
    }
    return err;
  }
  size_ += line.size();
  seq_ = seq;
  prev_hex_ = hash;
  // A failed head update leaves the record in the chain and the head one behind: the next
  // successful append (or the next Open) brings the head up to date.
  return WriteHead(seq_, prev_hex_);
}

absl::Status EvidenceLog::Sync() {
  absl::MutexLock lock(&mu_);
  if (fdatasync(log_fd_.get()) != 0) return Errno("cannot sync", log_path_, errno);
  const std::string head_path = absl::StrCat(dir_, "/", kEvidenceHeadName);
  UniqueFd head(openat(dir_fd_.get(), kEvidenceHeadName, O_RDONLY | O_CLOEXEC));
  if (head.valid()) {
    if (fsync(head.get()) != 0) return Errno("cannot sync", head_path, errno);
  } else if (errno != ENOENT) {
    return Errno("cannot open", head_path, errno);
  }
  if (fsync(dir_fd_.get()) != 0) return Errno("cannot sync", dir_, errno);
  return absl::OkStatus();
}

// --- Verification ----------------------------------------------------------------------------

absl::StatusOr<VerifyResult> VerifyEvidence(const std::string& dir_or_file) {
  absl::StatusOr<EvidencePaths> paths = PathsFor(dir_or_file);
  if (!paths.ok()) return paths.status();
  VerifyResult result;
  result.log_path = paths->log;

  absl::StatusOr<HeadRead> head = ReadHead(-1, paths->head);
  if (!head.ok()) return head.status();

  UniqueFd fd(open(paths->log.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT && paths->dir_mode && head->exists) {
      // The head says there was a log: its deletion is tampering, not a missing input.
      result.head_checked = true;
      result.bad_record = 1;
      result.problem = head->head.has_value()
                           ? absl::StrCat("log missing (head says ", head->head->seq, " records)")
                           : std::string("log missing");
      return result;
    }
    return Errno("cannot open", paths->log, errno);
  }

  uint64_t lines = 0;
  uint64_t last_seq = 0;
  std::string last_hash = kZeroHash;
  bool failed = false;
  // A record whose seq jumps ahead: missing records, or out of order if the expected one comes
  // later. Settled by reading on.
  bool jump = false;
  bool jump_found_later = false;
  uint64_t jump_expected = 0, jump_seq = 0;
  auto fail = [&](uint64_t record, std::string problem) {
    failed = true;
    result.bad_record = record;
    result.problem = std::move(problem);
  };

  absl::Status read = ForEachLine(fd.get(), [&](absl::string_view line, bool terminated) {
    ++lines;
    if (failed) {
      if (jump && !jump_found_later && terminated) {
        const ParsedRecord rec = ParseRecord(line);
        if (rec.kind == ParsedRecord::kOk && rec.seq == jump_expected) jump_found_later = true;
      }
      return;
    }
    const uint64_t expected = last_seq + 1;
    if (!terminated) {
      fail(expected, "torn (the last line has no line end: a write cut short by a crash, or the "
                     "file cut inside a record)");
      return;
    }
    const ParsedRecord rec = ParseRecord(line);
    if (rec.kind == ParsedRecord::kNotJson) return fail(expected, "not JSON");
    if (rec.kind == ParsedRecord::kNotRecord) {
      return fail(expected, absl::StrCat("not a record (", rec.missing, ")"));
    }
    if (rec.seq > expected) {
      jump = true;
      jump_expected = expected;
      jump_seq = rec.seq;
      return fail(expected, "");  // worded once the rest of the log has been read
    }
    if (rec.seq < expected) {
      return fail(expected, absl::StrCat("out of order (seq ", rec.seq, " follows seq ", last_seq,
                                         ")"));
    }
    if (rec.prev != last_hash) {
      if (expected == 1) return fail(1, "edited (the first record's prev is not 64 zeros)");
      return fail(last_seq, "edited (its hash does not match the next record's prev)");
    }
    last_seq = rec.seq;
    last_hash = Sha256Hex(line);
  });
  if (!read.ok()) {
    return absl::InternalError(absl::StrCat("cannot read ", paths->log, ": ", read.message()));
  }
  result.records = lines;
  if (jump) {
    if (jump_found_later) {
      result.problem =
          absl::StrCat("out of order (seq ", jump_seq, " comes before seq ", jump_expected, ")");
    } else if (jump_expected == 1) {
      result.problem = absl::StrCat("missing (the log starts at seq ", jump_seq, ")");
    } else {
      result.problem =
          absl::StrCat("missing (seq ", jump_seq, " follows seq ", jump_expected - 1, ")");
    }
  }
  if (failed) return result;

  // The chain holds; the head says whether it is all of it.
  if (!head->exists) {
    result.head_checked = paths->dir_mode;
    if (paths->dir_mode && lines > 0) {
      result.bad_record = lines;
      result.problem = "head missing";
      return result;
    }
    result.ok = true;
    return result;
  }
  result.head_checked = true;
  if (!head->head.has_value()) {
    result.bad_record = std::max<uint64_t>(lines, 1);
    result.problem = head->problem;
    return result;
  }
  const Head& h = *head->head;
  if (h.seq > lines) {
    result.bad_record = lines + 1;
    result.problem =
        absl::StrCat("tail truncated (head says ", h.seq, " records, log has ", lines, ")");
  } else if (h.seq < lines) {
    result.bad_record = h.seq + 1;
    result.problem = absl::StrCat("head behind (head says ", h.seq, " records, log has ", lines,
                                  "; records after ", h.seq,
                                  " are not covered by the head)");
  } else if (h.sha256 != last_hash) {
    result.bad_record = lines;
    result.problem = "edited (its hash does not match the head)";
  } else {
    result.ok = true;
  }
  return result;
}

absl::StatusOr<std::vector<json>> ReadEvidenceAlerts(const std::string& dir_or_file,
                                                     int64_t since_ms, int64_t until_ms) {
  absl::StatusOr<EvidencePaths> paths = PathsFor(dir_or_file);
  if (!paths.ok()) return paths.status();
  UniqueFd fd(open(paths->log.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Errno("cannot open", paths->log, errno);
  std::vector<json> alerts;
  absl::Status read = ForEachLine(fd.get(), [&](absl::string_view line, bool terminated) {
    if (!terminated) return;
    json rec = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (rec.is_discarded() || !rec.is_object()) return;
    auto alert = rec.find("alert");
    if (alert == rec.end() || !alert->is_object()) return;
    auto time = alert->find("time");
    if (time == alert->end() || !time->is_number_integer()) return;
    const int64_t t = time->get<int64_t>();
    if (t < since_ms || t > until_ms) return;
    alerts.push_back(std::move(*alert));
  });
  if (!read.ok()) {
    return absl::InternalError(absl::StrCat("cannot read ", paths->log, ": ", read.message()));
  }
  return alerts;
}

}  // namespace sluice::output
