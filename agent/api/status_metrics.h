// The agent's Prometheus metrics (DESIGN §7), built from the same snapshot `sluicectl status`
// shows, so the two never disagree. Totals the agent keeps become counters with their absolute
// value (a restarted agent starts them from zero, which Prometheus' rate() understands).
#ifndef SLUICE_AGENT_API_STATUS_METRICS_H_
#define SLUICE_AGENT_API_STATUS_METRICS_H_

#include <mutex>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "sluice/v1/control.pb.h"

namespace sluice::api {

// Names, types and help of every family; empty families are left out.
std::vector<prometheus::MetricFamily> StatusMetrics(const sluice::v1::StatusResponse& status);

// A Collectable over the latest snapshot (Set from the agent's loop, Collect on the HTTP
// server's threads).
class StatusCollector : public prometheus::Collectable {
 public:
  void Set(sluice::v1::StatusResponse status) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = std::move(status);
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return StatusMetrics(status_);
  }

 private:
  mutable std::mutex mu_;
  sluice::v1::StatusResponse status_;
};

}  // namespace sluice::api

#endif  // SLUICE_AGENT_API_STATUS_METRICS_H_
