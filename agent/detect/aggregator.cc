#include "agent/detect/aggregator.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/detect/alert_uid.h"

namespace sluice::detect {
namespace {

uint64_t SatAdd(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

// Blocked > Would block > Allowed: what enforcement did or would do matters more to the SOC
// than the enum's declaration order.
int Rank(Disposition d) {
  switch (d) {
    case Disposition::kAllowed:
      return 0;
    case Disposition::kWouldBlock:
      return 1;
    case Disposition::kBlocked:
      return 2;
  }
  return 0;
}

Disposition Higher(Disposition a, Disposition b) { return Rank(b) > Rank(a) ? b : a; }

// Length-prefixed so that no field value can be mistaken for a separator.
void AppendKeyField(std::string& key, std::string_view field) {
  absl::StrAppend(&key, field.size(), ":");
  key.append(field);
  key.push_back(';');
}

std::string KeyOf(const Alert& a) {
  std::string key;
  AppendKeyField(key, a.workload.name);
  AppendKeyField(key, a.detector);
  const Endpoint& dst = a.destination;
  AppendKeyField(key, dst.ip);
  AppendKeyField(key, absl::StrCat(dst.port));
  AppendKeyField(key, dst.names.empty() ? std::string_view() : dst.names.front());
  if (dst.ip.empty()) {
    // Local findings (archiving, DNS) have no peer address: the program and what it touched
    // tell one activity from another.
    AppendKeyField(key, a.dns_domain);
    AppendKeyField(key, a.process.Image());
    std::vector<std::string_view> classes;
    for (const FileAccess& f : a.files) classes.push_back(f.file_class);
    std::sort(classes.begin(), classes.end());
    classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
    for (std::string_view c : classes) AppendKeyField(key, c);
  }
  return key;
}

// Fills what a detector may leave at its default, so that every emitted alert states its count
// and time span.
void Normalize(Alert& a, int64_t now_ms) {
  if (a.time_ms <= 0) a.time_ms = now_ms;
  if (a.count == 0) a.count = 1;
  if (a.first_seen_ms <= 0) a.first_seen_ms = a.time_ms;
  if (a.last_seen_ms <= 0) a.last_seen_ms = std::max(a.time_ms, a.first_seen_ms);
}

// File byte counts are the kernel's running totals for the workload, so the same file reported
// by successive alerts is one file read once: the largest total is the truth, a sum would count
// the same bytes again with every alert.
void MergeFiles(std::vector<FileAccess>& into, std::vector<FileAccess> more, size_t cap,
                uint64_t& truncated) {
  for (FileAccess& f : more) {
    auto same = std::find_if(into.begin(), into.end(), [&](const FileAccess& g) {
      return g.path == f.path && g.file_class == f.file_class;
    });
    if (same != into.end()) {
      same->bytes_read = std::max(same->bytes_read, f.bytes_read);
      same->bytes_mapped = std::max(same->bytes_mapped, f.bytes_mapped);
    } else if (into.size() < cap) {
      into.push_back(std::move(f));
    } else {
      ++truncated;
    }
  }
}

// Match counts are per payload, so they add up; fingerprints are a sample to recognise values
// across alerts and stay few.
void MergeData(std::vector<DataMatch>& into, std::vector<DataMatch> more, size_t cap,
               uint64_t& truncated) {
  for (DataMatch& d : more) {
    auto same = std::find_if(into.begin(), into.end(),
                             [&](const DataMatch& e) { return e.kind == d.kind; });
    if (same == into.end()) {
      into.push_back({std::move(d.kind), 0, {}});
      same = std::prev(into.end());
    }
    same->count = SatAdd(same->count, d.count);
    for (std::string& fp : d.fingerprints) {
      auto& fps = same->fingerprints;
      if (std::find(fps.begin(), fps.end(), fp) != fps.end()) continue;
      if (fps.size() < cap) {
        fps.push_back(std::move(fp));
      } else {
        ++truncated;
      }
    }
  }
}

std::string WindowText(int64_t window_ms) {
  if (window_ms % 1000 == 0) return absl::StrCat(window_ms / 1000, " s");
  return absl::StrFormat("%.3g s", static_cast<double>(window_ms) / 1000.0);
}

}  // namespace

AlertAggregator::AlertAggregator(Options options) : options_(options) {
  // A zero cap would evict the window an alert is about to open; one window is the least.
  options_.max_keys = std::max<size_t>(options_.max_keys, 1);
}

std::vector<Alert> AlertAggregator::Offer(Alert alert, int64_t now_ms) {
  std::vector<Alert> out;
  ++stats_.offered;
  Normalize(alert, now_ms);
  if (options_.window_ms <= 0) {
    ++stats_.passed;
    out.push_back(std::move(alert));
    return out;
  }

  std::string key = KeyOf(alert);
  Severity severity = alert.severity;
  Disposition disposition = alert.disposition;
  if (auto found = by_key_.find(key); found != by_key_.end()) {
    const WindowList::iterator it = found->second;
    if (Expired(*it, now_ms)) {
      Close(it, out);
    } else if (alert.severity > it->severity || Rank(alert.disposition) > Rank(it->disposition)) {
      // The new window remembers everything reported at once so far, so that alerts that
      // alternate between two levels do not each pass in turn.
      severity = std::max(severity, it->severity);
      disposition = Higher(disposition, it->disposition);
      ++stats_.escalations;
      Close(it, out);
    } else {
      Absorb(*it, std::move(alert));
      return out;
    }
  }
  if (by_key_.size() >= options_.max_keys) {
    ++stats_.evicted;
    Close(windows_.begin(), out);
  }
  Open(std::move(key), now_ms, severity, disposition);
  ++stats_.passed;
  out.push_back(std::move(alert));
  return out;
}

std::vector<Alert> AlertAggregator::Flush(int64_t now_ms) {
  std::vector<Alert> out;
  // Windows are listed in the order they opened, so with a clock that does not run backwards the
  // first one still open ends the walk.
  while (!windows_.empty() && Expired(windows_.front(), now_ms)) Close(windows_.begin(), out);
  return out;
}

std::vector<Alert> AlertAggregator::FlushAll() {
  std::vector<Alert> out;
  while (!windows_.empty()) Close(windows_.begin(), out);
  return out;
}

AlertAggregator::Stats AlertAggregator::stats() const {
  Stats s = stats_;
  s.open_windows = by_key_.size();
  return s;
}

void AlertAggregator::Open(std::string key, int64_t now_ms, Severity severity,
                           Disposition disposition) {
  Window w;
  w.key = key;
  w.start_ms = now_ms;
  w.severity = severity;
  w.disposition = disposition;
  windows_.push_back(std::move(w));
  by_key_.emplace(std::move(key), std::prev(windows_.end()));
}

void AlertAggregator::Close(WindowList::iterator it, std::vector<Alert>& out) {
  if (it->pending.has_value()) {
    out.push_back(Summarize(std::move(*it->pending)));
    ++stats_.summaries;
  }
  by_key_.erase(it->key);
  windows_.erase(it);
}

bool AlertAggregator::Expired(const Window& w, int64_t now_ms) const {
  // A clock stepped back by more than a window would otherwise hold the summary until it caught
  // up; smaller steps back (events handed over slightly out of order) keep the window open.
  return now_ms - w.start_ms >= options_.window_ms || w.start_ms - now_ms > options_.window_ms;
}

void AlertAggregator::Absorb(Window& w, Alert alert) {
  ++stats_.absorbed;
  std::vector<FileAccess> files = std::move(alert.files);
  std::vector<DataMatch> data = std::move(alert.data);
  alert.files.clear();
  alert.data.clear();
  if (!w.pending.has_value()) {
    // The first absorbed alert goes through the same merge as the rest so the caps apply to it.
    MergeFiles(alert.files, std::move(files), options_.max_files, stats_.truncated);
    MergeData(alert.data, std::move(data), options_.max_fingerprints, stats_.truncated);
    w.pending = std::move(alert);
    return;
  }
  // Counters accumulate over the window; the latest alert's identity (process, title, endpoint
  // details) describes the summary, as the most recent state is what a responder acts on.
  Alert& acc = *w.pending;
  alert.count = SatAdd(acc.count, alert.count);
  alert.first_seen_ms = std::min(acc.first_seen_ms, alert.first_seen_ms);
  alert.last_seen_ms = std::max(acc.last_seen_ms, alert.last_seen_ms);
  alert.bytes_out = SatAdd(acc.bytes_out, alert.bytes_out);
  alert.bytes_in = SatAdd(acc.bytes_in, alert.bytes_in);
  alert.severity = std::max(acc.severity, alert.severity);
  alert.disposition = Higher(acc.disposition, alert.disposition);
  if (alert.app_protocol.empty()) alert.app_protocol = std::move(acc.app_protocol);
  if (alert.sni.empty()) alert.sni = std::move(acc.sni);
  if (alert.dns_domain.empty()) alert.dns_domain = std::move(acc.dns_domain);
  for (std::string& t : acc.attack_techniques) {
    if (std::find(alert.attack_techniques.begin(), alert.attack_techniques.end(), t) ==
        alert.attack_techniques.end()) {
      alert.attack_techniques.push_back(std::move(t));
    }
  }
  alert.files = std::move(acc.files);
  alert.data = std::move(acc.data);
  MergeFiles(alert.files, std::move(files), options_.max_files, stats_.truncated);
  MergeData(alert.data, std::move(data), options_.max_fingerprints, stats_.truncated);
  acc = std::move(alert);
}

Alert AlertAggregator::Summarize(Alert pending) const {
  Alert s = std::move(pending);
  // A new finding, not a re-delivery of the one reported at once: it needs its own uid.
  s.uid = NewAlertUid();
  s.time_ms = s.last_seen_ms;
  const std::string window = WindowText(options_.window_ms);
  s.title = absl::StrCat(s.title, " (", s.count, " more in ", window, ")");
  s.description = absl::StrCat(
      "Aggregate of ", s.count, s.count == 1 ? " further alert" : " further alerts",
      " for the same workload, detector and destination within ", window,
      " of one reported at once; byte and match counts are summed over them, file byte counts are "
      "the largest totals seen. The latest: ",
      s.description);
  return s;
}

}  // namespace sluice::detect
