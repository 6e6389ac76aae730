#include "agent/api/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "agent/api/status_metrics.h"
#include "agent/common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::api {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A plain HTTP/1.0 GET on loopback: the whole answer, headers included.
std::string Get(int port, const std::string& path) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return "";
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd.get(), req.data(), req.size()) != static_cast<ssize_t>(req.size())) return "";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

TEST(MetricsServerTest, ServesMetricsHealthAndReadiness) {
  auto collector = std::make_shared<StatusCollector>();
  sluice::v1::StatusResponse st;
  st.set_workload_count(4);
  collector->Set(st);
  MetricsServer::Options opt;
  opt.listen = "127.0.0.1:0";
  auto server = MetricsServer::Start(opt, {collector});
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);

  const std::string metrics = Get(port, "/metrics");
  EXPECT_THAT(metrics, HasSubstr(" 200 OK\r\n"));
  EXPECT_THAT(metrics, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(metrics, HasSubstr("\nsluice_workloads 4\n"));

  EXPECT_THAT(Get(port, "/readyz"), HasSubstr(" 503 Service Unavailable\r\n"));
  (*server)->SetReady(true);
  EXPECT_THAT(Get(port, "/readyz"), HasSubstr(" 200 OK\r\n"));
  EXPECT_THAT(Get(port, "/healthz"), HasSubstr(" 200 OK\r\n"));
  EXPECT_THAT(Get(port, "/nothing-here"), HasSubstr(" 404 Not Found\r\n"));
}

TEST(MetricsServerTest, AStalledLoopIsUnhealthy) {
  MetricsServer::Options opt;
  opt.listen = "127.0.0.1:0";
  opt.stall = absl::Nanoseconds(-1);  // any time since the last heartbeat is too long
  auto server = MetricsServer::Start(opt, {});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string health = Get((*server)->port(), "/healthz");
  EXPECT_THAT(health, HasSubstr(" 503 Service Unavailable\r\n"));
  EXPECT_THAT(health, HasSubstr("main loop stalled"));
}

TEST(MetricsServerTest, BadAddressesAreClearErrors) {
  EXPECT_EQ(CivetListenSpec("9464").status().message(),
            "--metrics-listen \"9464\": expected HOST:PORT (e.g. 127.0.0.1:9464)");
  EXPECT_FALSE(CivetListenSpec("localhost:9464").ok());
  EXPECT_FALSE(CivetListenSpec("127.0.0.1:99999").ok());
  EXPECT_EQ(*CivetListenSpec("[::1]:9464"), "[::1]:9464");
  EXPECT_EQ(*CivetListenSpec("0.0.0.0:9464"), "0.0.0.0:9464");
  // The port is taken: Unavailable, with the address.
  MetricsServer::Options opt;
  opt.listen = "127.0.0.1:0";
  auto first = MetricsServer::Start(opt, {});
  ASSERT_TRUE(first.ok());
  opt.listen = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = MetricsServer::Start(opt, {});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(opt.listen));
}

}  // namespace
}  // namespace sluice::api
