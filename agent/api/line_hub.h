// Fan-out of rendered JSON lines (events, alerts) from the agent to control API streams.
//
// The publisher is the engine thread: it must never wait for a client. Each line is stored once
// (shared by the backlog and every subscriber queue); each subscriber has its own bounded queue,
// and a line that does not fit is dropped for that subscriber only and counted, so a stalled
// `sluicectl events --follow` costs the agent one mutex acquisition per line and nothing else.
#ifndef SLUICE_AGENT_API_LINE_HUB_H_
#define SLUICE_AGENT_API_LINE_HUB_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sluice::api {

// One published line. `type` is the event type ("connect", "flow", ...); empty for alerts.
struct Line {
  std::string type;
  std::string json;
};
using LinePtr = std::shared_ptr<const Line>;

// A line as one subscriber receives it: `dropped_before` lines were dropped for this subscriber
// between the previous delivery and this one.
struct Delivery {
  LinePtr line;
  uint64_t dropped_before = 0;
};

class LineHub {
 public:
  // `backlog`: how many recent lines a new subscriber gets first. `queue_limit`: lines a
  // subscriber may have waiting before further lines are dropped for it (at least 1).
  LineHub(size_t backlog, size_t queue_limit);
  ~LineHub();
  LineHub(const LineHub&) = delete;
  LineHub& operator=(const LineHub&) = delete;

  // A live feed of lines published after it was created. Destroying it unsubscribes. Must not
  // outlive the hub.
  class Subscription {
    struct State;
    struct Key {};  // only the hub creates subscriptions

   public:
    enum class Result { kLines, kTimeout, kClosed };
    Subscription(Key, LineHub* hub, std::unique_ptr<State> state);
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // Waits up to `timeout` for lines and appends every queued one to `out` (kLines). kClosed
    // once the hub is closed and the queue is empty; kTimeout otherwise.
    Result Next(absl::Duration timeout, std::vector<Delivery>* out);
    // Lines dropped after the last one queued (reported by the stream's final message).
    uint64_t TrailingDropped() const;

   private:
    friend class LineHub;
    LineHub* hub_;
    std::unique_ptr<State> state_;
  };

  // Appends the backlog lines whose type is in `types` (empty: every type) to `backlog`,
  // oldest first. With `follow`, also returns a subscription that receives exactly the matching
  // lines published after that copy: nothing is missed or repeated in between. Without
  // `follow` (or once the hub is closed) returns null.
  std::unique_ptr<Subscription> Subscribe(absl::flat_hash_set<std::string> types, bool follow,
                                          std::vector<LinePtr>* backlog);

  // Never waits for a subscriber.
  void Publish(std::string type, std::string json);

  // Ends every subscription (each drains what it has queued, then sees kClosed). Later
  // subscriptions get the backlog only. Publish() still fills the backlog.
  void Close();

  size_t subscribers() const;
  uint64_t published() const;
  uint64_t dropped() const;  // over all subscribers, since start

 private:
  bool Matches(const Subscription::State& s, const Line& line) const;

  const size_t backlog_limit_;
  const size_t queue_limit_;
  mutable absl::Mutex mu_;
  std::deque<LinePtr> backlog_ ABSL_GUARDED_BY(mu_);
  std::vector<Subscription::State*> subscribers_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t published_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sluice::api

#endif  // SLUICE_AGENT_API_LINE_HUB_H_
