// The agent's HTTP endpoints for monitoring (DESIGN §7), on --metrics-listen:
//   /metrics  Prometheus text format (0.0.4) of the collectables given;
//   /healthz  200 while the agent's main loop is alive (it calls Heartbeat), 503 once it has not
//             for `stall` (a wedged agent is not a healthy one);
//   /readyz   200 once SetReady(true): rules loaded, probes attached; 503 before.
// Served by civetweb's C API with prometheus-cpp's text serializer. prometheus-cpp's own pull
// Exposer is not used because it cannot serve other paths nor answer 503.
#ifndef SLUICE_AGENT_API_METRICS_SERVER_H_
#define SLUICE_AGENT_API_METRICS_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"

struct mg_context;
struct mg_connection;

namespace sluice::api {

class MetricsServer {
 public:
  struct Options {
    std::string listen = "127.0.0.1:9464";  // HOST:PORT or [V6]:PORT; port 0 picks a free one
    absl::Duration stall = absl::Seconds(30);
  };
  // InvalidArgument for a malformed address; Unavailable when it cannot listen (in use).
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const Options& options, std::vector<std::weak_ptr<prometheus::Collectable>> collectables);
  ~MetricsServer();
  // Starts stopping the server in the background: civetweb's stop waits out its poll quantum
  // (up to ~2 s), which the agent's other shutdown work (detaching the probes) can hide. The
  // destructor waits for it. Requests in progress complete; no new ones are served.
  void BeginStop();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  void SetReady(bool ready) { ready_.store(ready); }
  void Heartbeat();
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  static int OnMetrics(mg_connection* conn, void* self);
  static int OnHealth(mg_connection* conn, void* self);
  static int OnReady(mg_connection* conn, void* self);

  mg_context* ctx_ = nullptr;
  std::thread stopper_;  // BeginStop's mg_stop
  int port_ = 0;
  absl::Duration stall_;
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables_;
  std::atomic<bool> ready_{false};
  std::atomic<int64_t> last_beat_ns_{0};
};

// "127.0.0.1:9464" -> civetweb's listening_ports value; InvalidArgument otherwise.
absl::StatusOr<std::string> CivetListenSpec(const std::string& listen);

}  // namespace sluice::api

#endif  // SLUICE_AGENT_API_METRICS_SERVER_H_
