#include "agent/output/delivery.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sluice::output {

// ---- RotatingFile -----------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<RotatingFile>> RotatingFile::Open(const std::string& path,
                                                                 RotateOptions options) {
  if (path.empty()) return absl::InvalidArgumentError("file sink path is empty");
  if (options.keep < 1) options.keep = 1;
  std::unique_ptr<RotatingFile> f(new RotatingFile());  // private constructor
  f->path_ = path;
  f->options_ = options;
  absl::MutexLock lock(&f->mu_);
  if (auto s = f->OpenCurrent(); !s.ok()) return s;
  return f;
}

RotatingFile::~RotatingFile() {
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) close(fd_);
}

absl::Status RotatingFile::OpenCurrent() {
  fd_ = open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path_));
  struct stat st {};
  size_t existing = 0;
  if (fstat(fd_, &st) == 0) existing = static_cast<size_t>(st.st_size);
  size_ = existing;
  // A file carried over from before a restart is as old as its last change says, near enough.
  opened_ = existing > 0 ? absl::FromTimeT(st.st_mtime) : absl::Now();
  if (existing > 0 && st.st_ctime < st.st_mtime) opened_ = absl::FromTimeT(st.st_ctime);
  return absl::OkStatus();
}

absl::Status RotatingFile::Rotate() {
  if (fd_ >= 0) {
    fsync(fd_);
    close(fd_);
    fd_ = -1;
  }
  // PATH.(keep) goes, the others move up one, PATH becomes PATH.1.
  unlink(absl::StrCat(path_, ".", options_.keep).c_str());
  for (int i = options_.keep - 1; i >= 1; --i) {
    rename(absl::StrCat(path_, ".", i).c_str(), absl::StrCat(path_, ".", i + 1).c_str());
  }
  if (rename(path_.c_str(), absl::StrCat(path_, ".1").c_str()) != 0 && errno != ENOENT) {
    const int err = errno;
    (void)OpenCurrent();  // keep writing to the unrotated file rather than nowhere
    return absl::ErrnoToStatus(err, absl::StrCat("cannot rotate ", path_));
  }
  if (auto s = OpenCurrent(); !s.ok()) return s;
  opened_ = absl::Now();
  return absl::OkStatus();
}

absl::Status RotatingFile::WriteLine(absl::string_view line) {
  std::string buf(line);
  buf.push_back('\n');
  absl::MutexLock lock(&mu_);
  const bool too_big = options_.max_bytes > 0 && size_ > 0 &&
                       size_ + buf.size() > options_.max_bytes;
  const bool too_old = options_.max_age > absl::ZeroDuration() && size_ > 0 &&
                       absl::Now() - opened_ >= options_.max_age;
  absl::Status rotated = absl::OkStatus();
  if (too_big || too_old) rotated = Rotate();
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_, " is not open"));
  size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n = write(fd_, buf.data() + done, buf.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot write to ", path_));
    done += static_cast<size_t>(n);
  }
  size_ += buf.size();
  return rotated;
}

absl::Status RotatingFile::Sync() {
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0 && fsync(fd_) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot fsync ", path_));
  }
  return absl::OkStatus();
}

// ---- AlertPipeline ----------------------------------------------------------------------------

const std::vector<double>& DeliveryLatencyBounds() {
  static const std::vector<double> kBounds = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30};
  return kBounds;
}

struct AlertPipeline::Worker {
  NetworkSink sink;
  std::thread thread;
  mutable absl::Mutex mu;
  absl::CondVar wake;  // Stop() interrupts a backoff wait
  SinkStats stats ABSL_GUARDED_BY(mu);
};

AlertPipeline::AlertPipeline(Options options) : options_(std::move(options)) {
  for (NetworkSink& n : options_.network) {
    auto w = std::make_unique<Worker>();
    SinkStats st;
    st.name = n.name;
    st.kind = n.kind;
    st.target = n.transport->Describe();
    st.latency_bounds = DeliveryLatencyBounds();
    st.latency_counts.assign(st.latency_bounds.size(), 0);
    w->sink = std::move(n);
    {
      absl::MutexLock lock(&w->mu);
      w->stats = std::move(st);
    }
    workers_.push_back(std::move(w));
  }
  options_.network.clear();
  for (const FileSink& f : options_.files) {
    SinkStats st;
    st.name = f.name;
    st.kind = "file";
    st.target = f.file->path();
    file_stats_.push_back(std::move(st));
  }
}

AlertPipeline::~AlertPipeline() { Stop(); }

void AlertPipeline::Start() {
  for (auto& w : workers_) {
    Worker* raw = w.get();
    w->thread = std::thread([this, raw] { Run(raw); });
  }
}

void AlertPipeline::Stop() {
  if (stopping_.exchange(true)) return;
  if (options_.spool != nullptr) options_.spool->Close();
  for (auto& w : workers_) {
    {
      absl::MutexLock lock(&w->mu);
      w->wake.SignalAll();
    }
    if (w->thread.joinable()) w->thread.join();
  }
}

void AlertPipeline::Run(Worker* w) {
  Spool* spool = options_.spool;
  Transport* t = w->sink.transport.get();
  const std::string& name = w->sink.name;
  const bool confirms = t->SendConfirms();
  absl::Duration backoff = options_.min_backoff;
  // A transport whose Send does not confirm (syslog): the batches sent on the current connection
  // but not yet acknowledged in the spool. They are acknowledged once that connection carried a
  // later batch or is still up a moment later, and sent again otherwise.
  struct Unconfirmed {
    uint64_t upto = 0;  // highest seq sent; 0 = none
    uint64_t connection = 0;
    size_t records = 0;
    size_t bytes = 0;
    absl::Time since;
  } held;
  auto acknowledge = [&](uint64_t seq, size_t records) {
    if (absl::Status a = spool->Ack(name, seq); !a.ok()) {
      fprintf(stderr, "sluiced: sink %s: %s\n", name.c_str(), std::string(a.message()).c_str());
    }
    absl::MutexLock lock(&w->mu);
    w->stats.delivered += records;
  };
  while (!stopping_.load()) {
    // With batches held, only newer records (or the time to confirm them) are a reason to act.
    const absl::Duration wait =
        held.upto == 0 ? absl::Seconds(1)
                       : std::max(absl::ZeroDuration(),
                                  options_.confirm_after - (absl::Now() - held.since));
    const bool newer = spool->WaitForRecords(name, wait, held.upto);
    if (stopping_.load()) break;
    if (!newer && held.upto == 0) continue;
    auto batch = spool->Read(name, held.records + options_.batch_records,
                             held.bytes + options_.batch_bytes);
    if (!batch.ok()) continue;
    // What was sent already on this connection is not sent again while it may still confirm.
    std::vector<SpoolRecord> fresh;
    for (SpoolRecord& r : *batch) {
      if (r.seq > held.upto) fresh.push_back(std::move(r));
    }
    if (fresh.empty()) {
      if (held.upto == 0 || absl::Now() - held.since < options_.confirm_after) continue;
      if (t->Confirm().ok() && t->Connection() == held.connection) {
        acknowledge(held.upto, held.records);
      }  // else: the next Read returns them again, and they go on a new connection
      held = {};
      continue;
    }
    std::vector<std::string> lines;
    lines.reserve(fresh.size());
    size_t bytes = 0;
    for (SpoolRecord& r : fresh) {
      bytes += r.payload.size();
      lines.push_back(std::move(r.payload));
    }
    const absl::Time started = absl::Now();
    const absl::Status sent = t->Send(lines);
    const double seconds = absl::ToDoubleSeconds(absl::Now() - started);
    const uint64_t last = fresh.back().seq;
    if (sent.ok() && !confirms) {
      if (held.upto != 0 && t->Connection() != held.connection) {
        // The connection that carried the held batches is gone: send them (and this batch,
        // hence a few repeats) again on the new one.
        held = {};
      } else {
        if (held.upto != 0) acknowledge(held.upto, held.records);
        held = {last, t->Connection(), lines.size(), bytes, absl::Now()};
      }
    } else if (sent.ok() || absl::IsInvalidArgument(sent)) {
      // Delivered, or refused for good (retrying the same records cannot help): either way
      // this sink is done with them.
      if (absl::Status a = spool->Ack(name, last); !a.ok()) {
        fprintf(stderr, "sluiced: sink %s: %s\n", name.c_str(), std::string(a.message()).c_str());
      }
      absl::MutexLock lock(&w->mu);
      if (sent.ok()) {
        w->stats.delivered += lines.size();
      } else {
        w->stats.rejected += lines.size();
        w->stats.last_error = std::string(sent.message());
        fprintf(stderr, "sluiced: sink %s refused %zu alert(s) for good, skipped: %s\n",
                name.c_str(), lines.size(), std::string(sent.message()).c_str());
      }
    }
    if (sent.ok() || absl::IsInvalidArgument(sent)) {
      absl::MutexLock lock(&w->mu);
      if (sent.ok()) {
        w->stats.healthy = true;
        w->stats.latency_sum += seconds;
        ++w->stats.latency_count;
        for (size_t i = 0; i < w->stats.latency_bounds.size(); ++i) {
          if (seconds <= w->stats.latency_bounds[i]) ++w->stats.latency_counts[i];
        }
      }
      backoff = options_.min_backoff;
      continue;
    }
    held = {};  // everything not acknowledged goes again after the reconnect
    bool first_failure = false;
    {
      absl::MutexLock lock(&w->mu);
      ++w->stats.errors;
      first_failure = w->stats.healthy;
      w->stats.healthy = false;
      w->stats.last_error = std::string(sent.message());
      // Interruptible: Stop() must not wait out a 30 s backoff.
      if (!stopping_.load()) w->wake.WaitWithTimeout(&w->mu, backoff);
    }
    if (first_failure) {
      fprintf(stderr, "sluiced: sink %s (%s) failing, alerts kept in the spool and retried: %s\n",
              name.c_str(), t->Describe().c_str(), std::string(sent.message()).c_str());
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::Status AlertPipeline::Write(const detect::Alert& alert) {
  absl::Status first = absl::OkStatus();
  auto note = [&first](const absl::Status& s) {
    if (!s.ok() && first.ok()) first = s;
  };
  if (options_.primary) note(options_.primary->Write(alert));
  const std::string line = RenderLine(alert, options_.product);
  for (size_t i = 0; i < options_.files.size(); ++i) {
    absl::Status s = options_.files[i].file->WriteLine(line);
    absl::MutexLock lock(&file_mu_);
    if (s.ok()) {
      ++file_stats_[i].delivered;
      file_stats_[i].healthy = true;
    } else {
      ++file_stats_[i].errors;
      file_stats_[i].healthy = false;
      file_stats_[i].last_error = std::string(s.message());
    }
    note(s);
  }
  if (options_.evidence) note(options_.evidence(line));
  if (!workers_.empty() && options_.spool != nullptr) {
    auto seq = options_.spool->Append(line);
    if (!seq.ok()) note(seq.status());
  }
  return first;
}

absl::Status AlertPipeline::Flush() {
  absl::Status first = absl::OkStatus();
  auto note = [&first](const absl::Status& s) {
    if (!s.ok() && first.ok()) first = s;
  };
  if (options_.primary) note(options_.primary->Flush());
  for (FileSink& f : options_.files) note(f.file->Sync());
  if (options_.evidence_sync) note(options_.evidence_sync());
  if (options_.spool != nullptr) note(options_.spool->Sync());
  return first;
}

std::vector<SinkStats> AlertPipeline::stats() const {
  std::vector<SinkStats> out;
  {
    absl::MutexLock lock(&file_mu_);
    out = file_stats_;
  }
  SpoolStats spool;
  if (options_.spool != nullptr) spool = options_.spool->stats();
  for (const auto& w : workers_) {
    SinkStats st;
    {
      absl::MutexLock lock(&w->mu);
      st = w->stats;
    }
    if (auto it = spool.sinks.find(st.name); it != spool.sinks.end()) {
      st.pending = it->second.pending;
      st.overflow_dropped = it->second.overflow_dropped;
    }
    out.push_back(std::move(st));
  }
  return out;
}

}  // namespace sluice::output
