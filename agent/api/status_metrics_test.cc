#include "agent/api/status_metrics.h"

#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace sluice::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Render(const sluice::v1::StatusResponse& st) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, StatusMetrics(st));
  return out.str();
}

sluice::v1::StatusResponse Sample() {
  sluice::v1::StatusResponse st;
  st.set_version("0.5.0");
  st.set_mode("enforce");
  st.set_uptime_seconds(42);
  st.set_workload_count(3);
  auto* p = st.add_probes();
  p->set_name("sluice_connect4");
  p->set_hook("cgroup/connect4");
  p->set_attached(true);
  auto* q = st.add_probes();
  q->set_name("sluice_exec");
  q->set_hook("tracepoint/sched/sched_process_exec");
  q->set_attached(true);
  q->set_fallback_used(true);
  q->set_preferred_hook("tp_btf/sched_process_exec");
  auto* e = st.add_event_types();
  e->set_type("connect");
  e->set_received(1000);
  e->set_ring_full(7);
  auto* a = st.add_alert_counts();
  a->set_detector("unexpected_egress");
  a->set_disposition("Blocked");
  a->set_count(5);
  auto* w = st.add_alert_counts();
  w->set_detector("enforcement");
  w->set_disposition("Blocked");
  w->set_count(1);
  (*st.mutable_gauges())["flows_live"] = 12;
  (*st.mutable_counters())["dns_answers"] = 9;
  auto* s = st.add_sinks();
  s->set_name("siem");
  s->set_kind("syslog");
  s->set_delivered(100);
  s->set_errors(2);
  s->set_pending(3);
  s->set_healthy(true);
  s->add_latency_bounds(0.01);
  s->add_latency_counts(4);
  s->add_latency_bounds(0.1);
  s->add_latency_counts(9);
  s->set_latency_count(10);
  s->set_latency_sum(0.5);
  st.mutable_spool()->set_enabled(true);
  st.mutable_spool()->set_bytes(4096);
  return st;
}

TEST(StatusMetricsTest, TheFamiliesDesignNames) {
  const std::string text = Render(Sample());
  EXPECT_THAT(text, HasSubstr("# TYPE sluice_events_total counter\n"
                              "sluice_events_total{type=\"connect\"} 1000\n"));
  EXPECT_THAT(text, HasSubstr("sluice_events_lost_total{type=\"connect\"} 7\n"));
  EXPECT_THAT(text, HasSubstr(
      "sluice_alerts_total{detector=\"unexpected_egress\",disposition=\"Blocked\"} 5\n"));
  // Enforcement changes are alerts, not blocks.
  EXPECT_THAT(text, HasSubstr("sluice_blocks_total 5\n"));
  EXPECT_THAT(text, HasSubstr("sluice_flows_active 12\n"));
  EXPECT_THAT(text, HasSubstr(
      "sluice_probe_attached{probe=\"sluice_connect4\",hook=\"cgroup/connect4\",fallback=\"\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("sluice_probe_attached{probe=\"sluice_exec\",hook=\"tracepoint/"
                              "sched/sched_process_exec\",fallback=\"tp_btf/sched_process_exec\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("sluice_sink_delivered_total{sink=\"siem\",kind=\"syslog\"} 100\n"));
  EXPECT_THAT(text, HasSubstr("sluice_sink_pending{sink=\"siem\",kind=\"syslog\"} 3\n"));
  EXPECT_THAT(text, HasSubstr(
      "sluice_sink_delivery_seconds_bucket{sink=\"siem\",kind=\"syslog\",le=\"0.1\"} 9\n"));
  EXPECT_THAT(text, HasSubstr(
      "sluice_sink_delivery_seconds_bucket{sink=\"siem\",kind=\"syslog\",le=\"+Inf\"} 10\n"));
  EXPECT_THAT(text, HasSubstr("sluice_spool_bytes 4096\n"));
  EXPECT_THAT(text, HasSubstr("sluice_agent_activity_total{name=\"dns_answers\"} 9\n"));
  EXPECT_THAT(text, HasSubstr("sluice_build_info{version=\"0.5.0\",mode=\"enforce\"} 1\n"));
}

TEST(StatusMetricsTest, EmptyStatusStillRendersTheScalars) {
  const std::string text = Render(sluice::v1::StatusResponse());
  EXPECT_THAT(text, HasSubstr("sluice_blocks_total 0\n"));
  EXPECT_THAT(text, HasSubstr("sluice_spool_bytes 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("sluice_sink_delivery_seconds")));
}

}  // namespace
}  // namespace sluice::api
