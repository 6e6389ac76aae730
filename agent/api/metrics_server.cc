#include "agent/api/metrics_server.h"

#include <arpa/inet.h>

#include <cstring>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "civetweb.h"
#include "prometheus/text_serializer.h"

namespace sluice::api {
namespace {

int Reply(mg_connection* conn, int status, const char* type, const std::string& body) {
  if (status == 200) {
    mg_send_http_ok(conn, type, static_cast<long long>(body.size()));
    mg_write(conn, body.data(), body.size());
  } else {
    mg_send_http_error(conn, status, "%s", body.c_str());
  }
  return status;
}

}  // namespace

absl::StatusOr<std::string> CivetListenSpec(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen \"", listen, "\": expected HOST:PORT (e.g. 127.0.0.1:9464)"));
  }
  std::string host = listen.substr(0, colon);
  uint32_t port = 0;
  if (!absl::SimpleAtoi(listen.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen \"", listen, "\": invalid port"));
  }
  unsigned char buf[16];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--metrics-listen \"", listen, "\": invalid IPv6 address"));
    }
    return absl::StrCat(host, ":", port);
  }
  if (inet_pton(AF_INET, host.c_str(), buf) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics-listen \"", listen, "\": HOST must be an IPv4 address or [IPv6] address"));
  }
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const Options& options, std::vector<std::weak_ptr<prometheus::Collectable>> collectables) {
  auto spec = CivetListenSpec(options.listen);
  if (!spec.ok()) return spec.status();
  std::unique_ptr<MetricsServer> server(new MetricsServer());  // private constructor
  server->stall_ = options.stall;
  server->collectables_ = std::move(collectables);
  server->Heartbeat();
  mg_init_library(0);
  const char* config[] = {"listening_ports", spec->c_str(), "num_threads", "2", nullptr};
  char error_text[256] = {};
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  mg_callbacks callbacks{};
  mg_init_data init{&callbacks, server.get(), config};
  server->ctx_ = mg_start2(&init, &error);
  if (server->ctx_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", options.listen, ": ",
                                               error_text[0] ? error_text : "unknown error"));
  }
  mg_set_request_handler(server->ctx_, "/metrics$", &MetricsServer::OnMetrics, server.get());
  mg_set_request_handler(server->ctx_, "/healthz$", &MetricsServer::OnHealth, server.get());
  mg_set_request_handler(server->ctx_, "/readyz$", &MetricsServer::OnReady, server.get());
  mg_server_port ports[4] = {};
  if (mg_get_server_ports(server->ctx_, 4, ports) > 0) server->port_ = ports[0].port;
  return server;
}

MetricsServer::~MetricsServer() {
  if (stopper_.joinable()) {
    stopper_.join();
  } else if (ctx_ != nullptr) {
    mg_stop(ctx_);  // waits for the handlers in progress
  }
  mg_exit_library();
}

void MetricsServer::BeginStop() {
  if (ctx_ == nullptr || stopper_.joinable()) return;
  stopper_ = std::thread([ctx = ctx_] { mg_stop(ctx); });
}

void MetricsServer::Heartbeat() {
  last_beat_ns_.store(absl::GetCurrentTimeNanos());
}

int MetricsServer::OnMetrics(mg_connection* conn, void* self) {
  auto* s = static_cast<MetricsServer*>(self);
  std::vector<prometheus::MetricFamily> families;
  for (const auto& weak : s->collectables_) {
    if (auto c = weak.lock()) {
      auto more = c->Collect();
      families.insert(families.end(), std::make_move_iterator(more.begin()),
                      std::make_move_iterator(more.end()));
    }
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return Reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", out.str());
}

int MetricsServer::OnHealth(mg_connection* conn, void* self) {
  auto* s = static_cast<MetricsServer*>(self);
  const absl::Duration since =
      absl::Nanoseconds(absl::GetCurrentTimeNanos() - s->last_beat_ns_.load());
  if (since > s->stall_) {
    return Reply(conn, 503, "text/plain",
                 absl::StrCat("main loop stalled for ", absl::FormatDuration(since), "\n"));
  }
  return Reply(conn, 200, "text/plain", "ok\n");
}

int MetricsServer::OnReady(mg_connection* conn, void* self) {
  auto* s = static_cast<MetricsServer*>(self);
  if (!s->ready_.load()) return Reply(conn, 503, "text/plain", "starting\n");
  return Reply(conn, 200, "text/plain", "ready\n");
}

}  // namespace sluice::api
