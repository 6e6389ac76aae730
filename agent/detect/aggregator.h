// Alert aggregation (DESIGN §5): a flood of identical findings must reach the SOC as one alert
// with a count, not as thousands of lines. Alerts with the same key — workload name, detector and
// destination — inside a window are folded together:
//
//   - the first alert of a key passes at once (count 1, first_seen = last_seen = its time) and
//     opens a window of `window_ms`;
//   - further alerts of the key inside the window are absorbed, not emitted;
//   - when the window ends, one summary alert carries the absorbed ones: their count, first and
//     last seen times and merged evidence (bytes, files, data matches), under a fresh uid;
//   - an absorbed alert that ranks higher than what the window already reported (Blocked over
//     Would block over Allowed, or a higher severity) passes at once and opens a new window: a
//     block or an escalation is never held back.
//
// The key's destination is the destination ip, port and first DNS name; an alert without a
// destination ip (archive_staging, dns_tunnel) adds the process exe and its files' classes, so
// that unrelated local activity of one workload is not lumped together.
//
// Pure logic: no threads, no clock (time comes in as epoch ms), not thread-safe — the engine
// thread owns it and calls Flush on its timer tick. `now_ms` should not run backwards: a small
// step back (events handed over slightly out of order) is harmless, a step back by more than a
// window closes the windows opened before it. Memory is bounded by `max_keys`; when full,
// the oldest window is closed early (its summary returned) rather than anything being dropped.
#ifndef SLUICE_AGENT_DETECT_AGGREGATOR_H_
#define SLUICE_AGENT_DETECT_AGGREGATOR_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/detect/alert.h"

namespace sluice::detect {

class AlertAggregator {
 public:
  struct Options {
    // Window length; 0 (or less) disables aggregation and every alert passes through.
    int64_t window_ms = 60'000;
    // Open windows at most; past it the oldest window is closed early.
    size_t max_keys = 65'536;
    // Caps on what one summary accumulates, so a long flood keeps a bounded alert size.
    size_t max_files = 64;        // distinct file paths
    size_t max_fingerprints = 8;  // per data kind
  };

  struct Stats {
    uint64_t offered = 0;      // alerts handed to Offer
    uint64_t passed = 0;       // emitted at once (first of a window, escalation, disabled)
    uint64_t absorbed = 0;     // folded into a pending summary
    uint64_t summaries = 0;    // summary alerts emitted
    uint64_t escalations = 0;  // passed at once because they outranked their window
    uint64_t evicted = 0;      // windows closed before their end because max_keys was reached
    uint64_t truncated = 0;    // file paths or fingerprints left out of a summary by the caps
    size_t open_windows = 0;   // windows open now
  };

  explicit AlertAggregator(Options options);

  // Takes one detector alert seen at `now_ms` and returns what to emit now, in order: possibly
  // the summary of a window this alert closes (expired, outranked or evicted) and then the alert
  // itself when it passes. An empty result means the alert was absorbed. Alerts that pass get
  // count >= 1 and first/last seen filled from time_ms when the detector left them 0.
  std::vector<Alert> Offer(Alert alert, int64_t now_ms);

  // Closes every window whose time is up (now_ms - start >= window_ms, or the clock went back
  // more than a window before its start) and returns the summaries of those that absorbed
  // alerts. Call it on a timer: a window only ends here or when its key is offered again.
  std::vector<Alert> Flush(int64_t now_ms);

  // Closes all windows (shutdown, rule reload) and returns every pending summary.
  std::vector<Alert> FlushAll();

  Stats stats() const;

 private:
  struct Window {
    std::string key;
    int64_t start_ms = 0;  // now_ms of the alert that opened it
    // What the SOC has already been told at once for this key: an absorbed alert above either
    // level passes instead of waiting for the summary.
    Severity severity = Severity::kInformational;
    Disposition disposition = Disposition::kAllowed;
    std::optional<Alert> pending;  // the absorbed alerts merged; empty when none
  };
  using WindowList = std::list<Window>;

  // Opens a window at the back of windows_; the levels are those already reported at once.
  void Open(std::string key, int64_t now_ms, Severity severity, Disposition disposition);
  // Removes `it`, appending its summary to `out` when it absorbed anything.
  void Close(WindowList::iterator it, std::vector<Alert>& out);
  bool Expired(const Window& w, int64_t now_ms) const;
  void Absorb(Window& w, Alert alert);
  Alert Summarize(Alert pending) const;

  Options options_;
  Stats stats_;
  // Open windows in the order they opened, oldest first: Flush and eviction take from the front.
  WindowList windows_;
  std::unordered_map<std::string, WindowList::iterator> by_key_;
};

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_AGGREGATOR_H_
