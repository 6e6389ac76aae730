#include "agent/api/status_metrics.h"

#include <deque>
#include <limits>
#include <map>
#include <string>

namespace sluice::api {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

class Builder {
 public:
  MetricFamily& Family(const std::string& name, const std::string& help, MetricType type) {
    families_.push_back({name, help, type, {}});
    return families_.back();
  }
  static void Add(MetricFamily& f, double value, std::vector<ClientMetric::Label> labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    switch (f.type) {
      case MetricType::Counter: m.counter.value = value; break;
      case MetricType::Gauge: m.gauge.value = value; break;
      default: m.untyped.value = value; break;
    }
    f.metric.push_back(std::move(m));
  }
  std::vector<MetricFamily> Take() {
    std::vector<MetricFamily> out;
    for (auto& f : families_) {
      if (!f.metric.empty()) out.push_back(std::move(f));
    }
    return out;
  }

 private:
  std::deque<MetricFamily> families_;  // stable references while families are filled
};

}  // namespace

std::vector<MetricFamily> StatusMetrics(const sluice::v1::StatusResponse& st) {
  Builder b;
  auto& info = b.Family("sluice_build_info", "The running agent: version and global mode.",
                        MetricType::Gauge);
  Builder::Add(info, 1, {{"version", st.version()}, {"mode", st.mode()}});
  auto& uptime = b.Family("sluice_uptime_seconds", "Seconds since the agent started.",
                          MetricType::Gauge);
  Builder::Add(uptime, static_cast<double>(st.uptime_seconds()));
  auto& workloads = b.Family("sluice_workloads", "Workloads of the loaded rule set.",
                             MetricType::Gauge);
  Builder::Add(workloads, st.workload_count());
  auto& disarmed = b.Family("sluice_enforcement_disarmed",
                            "1 while `sluicectl disarm` holds: nothing is denied.",
                            MetricType::Gauge);
  Builder::Add(disarmed, st.disarmed() ? 1 : 0);
  auto& quarantined = b.Family("sluice_quarantined_workloads", "Workloads under quarantine.",
                               MetricType::Gauge);
  Builder::Add(quarantined, st.quarantined_size());

  auto& probes = b.Family("sluice_probe_attached",
                          "1 when the probe is attached to its hook (feature probe at start); "
                          "fallback names the preferred hook it stands in for.",
                          MetricType::Gauge);
  for (const auto& p : st.probes()) {
    Builder::Add(probes, p.attached() ? 1 : 0,
                 {{"probe", p.name()},
                  {"hook", p.hook()},
                  {"fallback", p.fallback_used() ? p.preferred_hook() : ""}});
  }

  auto& events = b.Family("sluice_events_total", "Sensor records decoded, by event type.",
                          MetricType::Counter);
  auto& lost = b.Family("sluice_events_lost_total",
                        "Sensor records lost in the kernel because the ring buffer was full.",
                        MetricType::Counter);
  auto& map_full = b.Family("sluice_map_full_total",
                            "Kernel map updates lost because a bounded map was full.",
                            MetricType::Counter);
  for (const auto& t : st.event_types()) {
    if (t.type().empty()) continue;
    Builder::Add(events, static_cast<double>(t.received()), {{"type", t.type()}});
    Builder::Add(lost, static_cast<double>(t.ring_full()), {{"type", t.type()}});
    Builder::Add(map_full, static_cast<double>(t.map_full()), {{"type", t.type()}});
  }
  auto& decode = b.Family("sluice_decode_errors_total", "Ring records the agent could not decode.",
                          MetricType::Counter);
  Builder::Add(decode, static_cast<double>(st.decode_errors()));

  auto& alerts = b.Family("sluice_alerts_total", "Alerts delivered, by detector and disposition.",
                          MetricType::Counter);
  double blocks = 0;
  for (const auto& a : st.alert_counts()) {
    Builder::Add(alerts, static_cast<double>(a.count()),
                 {{"detector", a.detector()}, {"disposition", a.disposition()}});
    if (a.disposition() == "Blocked" && a.detector() != "enforcement") {
      blocks += static_cast<double>(a.count());
    }
  }
  auto& blocked = b.Family("sluice_blocks_total",
                           "Connections, datagrams and flows the kernel denied or severed, as "
                           "reported by Blocked alerts.",
                           MetricType::Counter);
  Builder::Add(blocked, blocks);

  auto& flows = b.Family("sluice_flows_active", "Flows open now (kernel flow map).",
                         MetricType::Gauge);
  if (auto it = st.gauges().find("flows_live"); it != st.gauges().end()) {
    Builder::Add(flows, static_cast<double>(it->second));
  }
  // Every other gauge and counter of the status, by name (sorted: stable output).
  auto& state = b.Family("sluice_state", "Sizes of the agent's bounded state, by name.",
                         MetricType::Gauge);
  for (const auto& [k, v] : std::map<std::string, uint64_t>(st.gauges().begin(), st.gauges().end())) {
    Builder::Add(state, static_cast<double>(v), {{"name", k}});
  }
  auto& counters = b.Family("sluice_agent_activity_total",
                            "The agent's other monotonic counters, by name.",
                            MetricType::Counter);
  for (const auto& [k, v] :
       std::map<std::string, uint64_t>(st.counters().begin(), st.counters().end())) {
    Builder::Add(counters, static_cast<double>(v), {{"name", k}});
  }

  auto& delivered = b.Family("sluice_sink_delivered_total", "Alerts each sink accepted.",
                             MetricType::Counter);
  auto& errors = b.Family("sluice_sink_errors_total",
                          "Failed delivery attempts per sink (each retried).",
                          MetricType::Counter);
  auto& rejected = b.Family("sluice_sink_rejected_total",
                            "Alerts a sink's receiver refused for good (skipped).",
                            MetricType::Counter);
  auto& pending = b.Family("sluice_sink_pending", "Alerts in the spool not yet delivered, per sink.",
                           MetricType::Gauge);
  auto& overflow = b.Family("sluice_sink_overflow_dropped_total",
                            "Alerts lost to the spool's bound before a sink got them.",
                            MetricType::Counter);
  auto& healthy = b.Family("sluice_sink_up", "1 when the sink's last delivery attempt succeeded.",
                           MetricType::Gauge);
  MetricFamily latency{"sluice_sink_delivery_seconds", "Time to deliver one batch, per sink.",
                       MetricType::Histogram, {}};
  for (const auto& s : st.sinks()) {
    const std::vector<ClientMetric::Label> l = {{"sink", s.name()}, {"kind", s.kind()}};
    Builder::Add(delivered, static_cast<double>(s.delivered()), l);
    Builder::Add(errors, static_cast<double>(s.errors()), l);
    Builder::Add(rejected, static_cast<double>(s.rejected()), l);
    Builder::Add(pending, static_cast<double>(s.pending()), l);
    Builder::Add(overflow, static_cast<double>(s.overflow_dropped()), l);
    Builder::Add(healthy, s.healthy() ? 1 : 0, l);
    if (s.latency_bounds_size() > 0 && s.latency_bounds_size() == s.latency_counts_size()) {
      ClientMetric m;
      m.label = l;
      m.histogram.sample_count = s.latency_count();
      m.histogram.sample_sum = s.latency_sum();
      for (int i = 0; i < s.latency_bounds_size(); ++i) {
        m.histogram.bucket.push_back({s.latency_counts(i), s.latency_bounds(i)});
      }
      m.histogram.bucket.push_back({s.latency_count(), std::numeric_limits<double>::infinity()});
      latency.metric.push_back(std::move(m));
    }
  }
  auto& spool_bytes = b.Family("sluice_spool_bytes", "Size of the delivery spool on disk.",
                               MetricType::Gauge);
  auto& spool_records = b.Family("sluice_spool_records",
                                 "Alerts held in the spool (not yet delivered to every sink).",
                                 MetricType::Gauge);
  auto& spool_corrupt = b.Family("sluice_spool_corrupt_records_total",
                                 "Spool records found damaged at start and dropped.",
                                 MetricType::Counter);
  if (st.spool().enabled()) {
    Builder::Add(spool_bytes, static_cast<double>(st.spool().bytes()));
    Builder::Add(spool_records, static_cast<double>(st.spool().records()));
    Builder::Add(spool_corrupt, static_cast<double>(st.spool().corrupt_records()));
  } else {
    Builder::Add(spool_bytes, 0);
  }
  std::vector<MetricFamily> out = b.Take();
  if (!latency.metric.empty()) out.push_back(std::move(latency));
  return out;
}

}  // namespace sluice::api
