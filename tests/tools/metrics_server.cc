// Test driver: serves the metrics of a fixed, realistic status snapshot through the agent's own
// MetricsServer and StatusMetrics, so promtool and a real Prometheus can check them without a
// privileged agent. Prints "LISTENING <port>" and serves until stdin closes.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "agent/api/metrics_server.h"
#include "agent/api/status_metrics.h"

int main() {
  sluice::v1::StatusResponse st;
  st.set_version("test");
  st.set_mode("enforce");
  st.set_uptime_seconds(60);
  st.set_workload_count(2);
  for (const char* type : {"exec", "connect", "flow", "dns"}) {
    auto* e = st.add_event_types();
    e->set_type(type);
    e->set_received(100);
    e->set_ring_full(type[0] == 'f' ? 3 : 0);
  }
  auto* p = st.add_probes();
  p->set_name("sluice_connect4");
  p->set_hook("cgroup/connect4");
  p->set_attached(true);
  auto* a = st.add_alert_counts();
  a->set_detector("unexpected_egress");
  a->set_disposition("Blocked");
  a->set_count(7);
  (*st.mutable_gauges())["flows_live"] = 5;
  (*st.mutable_counters())["dns_answers"] = 11;
  auto* s = st.add_sinks();
  s->set_name("siem");
  s->set_kind("syslog");
  s->set_delivered(40);
  s->set_healthy(true);
  for (double b : {0.005, 0.05, 0.5, 5.0}) s->add_latency_bounds(b);
  for (uint64_t c : {1u, 3u, 4u, 4u}) s->add_latency_counts(c);
  s->set_latency_count(4);
  s->set_latency_sum(0.2);
  st.mutable_spool()->set_enabled(true);
  st.mutable_spool()->set_bytes(1234);
  auto collector = std::make_shared<sluice::api::StatusCollector>();
  collector->Set(st);
  sluice::api::MetricsServer::Options opt;
  opt.listen = "127.0.0.1:0";
  auto server = sluice::api::MetricsServer::Start(opt, {collector});
  if (!server.ok()) {
    fprintf(stderr, "%s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  (*server)->SetReady(true);
  printf("LISTENING %d\n", (*server)->port());
  fflush(stdout);
  char buf[256];
  while (read(0, buf, sizeof(buf)) > 0) (*server)->Heartbeat();
  return 0;
}
