#include "agent/api/line_hub.h"

#include <algorithm>
#include <utility>

namespace sluice::api {

struct LineHub::Subscription::State {
  absl::flat_hash_set<std::string> types;  // empty: every type
  std::deque<Delivery> queue;
  uint64_t pending_dropped = 0;  // dropped since the last line queued
  absl::CondVar cv;
};

LineHub::LineHub(size_t backlog, size_t queue_limit)
    : backlog_limit_(backlog), queue_limit_(std::max<size_t>(queue_limit, 1)) {}

LineHub::~LineHub() { Close(); }

bool LineHub::Matches(const Subscription::State& s, const Line& line) const {
  return s.types.empty() || s.types.contains(line.type);
}

std::unique_ptr<LineHub::Subscription> LineHub::Subscribe(
    absl::flat_hash_set<std::string> types, bool follow, std::vector<LinePtr>* backlog) {
  auto state = std::make_unique<Subscription::State>();
  state->types = std::move(types);
  absl::MutexLock lock(&mu_);
  for (const LinePtr& line : backlog_) {
    if (Matches(*state, *line)) backlog->push_back(line);
  }
  if (!follow || closed_) return nullptr;
  subscribers_.push_back(state.get());
  return std::make_unique<Subscription>(Subscription::Key{}, this, std::move(state));
}

void LineHub::Publish(std::string type, std::string json) {
  auto line = std::make_shared<const Line>(Line{std::move(type), std::move(json)});
  absl::MutexLock lock(&mu_);
  ++published_;
  if (backlog_limit_ > 0) {
    if (backlog_.size() >= backlog_limit_) backlog_.pop_front();
    backlog_.push_back(line);
  }
  for (Subscription::State* s : subscribers_) {
    if (!Matches(*s, *line)) continue;
    if (s->queue.size() >= queue_limit_) {
      // Drop the newest: what the subscriber already has stays in order, and the gap is
      // reported exactly where it is (on the next line that fits).
      ++s->pending_dropped;
      ++dropped_;
      continue;
    }
    s->queue.push_back(Delivery{line, std::exchange(s->pending_dropped, 0)});
    s->cv.Signal();
  }
}

void LineHub::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (Subscription::State* s : subscribers_) s->cv.SignalAll();
}

size_t LineHub::subscribers() const {
  absl::MutexLock lock(&mu_);
  return subscribers_.size();
}

uint64_t LineHub::published() const {
  absl::MutexLock lock(&mu_);
  return published_;
}

uint64_t LineHub::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

LineHub::Subscription::Subscription(Key, LineHub* hub, std::unique_ptr<State> state)
    : hub_(hub), state_(std::move(state)) {}

LineHub::Subscription::~Subscription() {
  absl::MutexLock lock(&hub_->mu_);
  auto& subs = hub_->subscribers_;
  subs.erase(std::remove(subs.begin(), subs.end(), state_.get()), subs.end());
}

LineHub::Subscription::Result LineHub::Subscription::Next(absl::Duration timeout,
                                                          std::vector<Delivery>* out) {
  absl::MutexLock lock(&hub_->mu_);
  if (state_->queue.empty() && !hub_->closed_) state_->cv.WaitWithTimeout(&hub_->mu_, timeout);
  if (!state_->queue.empty()) {
    for (Delivery& d : state_->queue) out->push_back(std::move(d));
    state_->queue.clear();
    return Result::kLines;
  }
  return hub_->closed_ ? Result::kClosed : Result::kTimeout;
}

uint64_t LineHub::Subscription::TrailingDropped() const {
  absl::MutexLock lock(&hub_->mu_);
  return state_->pending_dropped;
}

}  // namespace sluice::api
