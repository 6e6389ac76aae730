// Sends OCSF JSON lines from stdin through the syslog sink's transport, as the agent's delivery
// thread would: batches of up to 100 lines (fewer when stdin has nothing more ready), each
// answered on stdout with "SENT n" once Send returned OK. Without --retry-ms a failed batch ends
// the run with "ERROR <status>" (exit 1); with it the batch is sent again, reporting
// "RETRY <status>" each time, until it goes through or the deadline passes.
// The integration test (tests/integration/syslog_test.py) drives it against a real rsyslogd.
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/output/syslog_transport.h"

namespace {

constexpr size_t kBatch = 100;

// Lines of stdin, read with read(2) so that "nothing more is ready" can be asked of the fd.
class StdinLines {
 public:
  // Up to `max` lines; blocks only while it has none. Empty at end of input.
  std::vector<std::string> Next(size_t max) {
    std::vector<std::string> out;
    for (;;) {
      while (out.size() < max) {
        const size_t nl = buf_.find('\n');
        if (nl == std::string::npos) break;
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (!line.empty()) out.push_back(std::move(line));
      }
      if (out.size() == max) return out;
      if (eof_) {
        if (!buf_.empty()) out.push_back(std::exchange(buf_, ""));
        return out;
      }
      if (!out.empty() && !Ready()) return out;
      Fill();
    }
  }

 private:
  static bool Ready() {
    pollfd p = {STDIN_FILENO, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
  }
  void Fill() {
    char chunk[65536];
    ssize_t n;
    do {
      n = read(STDIN_FILENO, chunk, sizeof(chunk));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      eof_ = true;
      return;
    }
    buf_.append(chunk, static_cast<size_t>(n));
  }

  std::string buf_;
  bool eof_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  sluice::output::SyslogOptions options;
  options.tls = false;
  int64_t retry_ms = 0;
  int64_t retry_interval_ms = 100;
  int64_t connect_timeout_ms = 5000;
  int64_t io_timeout_ms = 10000;
  CLI::App app{"Send OCSF lines from stdin to a syslog receiver"};
  app.add_option("--host", options.host, "receiver host name or address")->required();
  app.add_option("--port", options.port, "receiver port")->required();
  app.add_flag("--tls", options.tls, "TLS (RFC 5425) instead of plain TCP");
  app.add_option("--ca", options.ca_file, "CA bundle that verifies the receiver");
  app.add_option("--cert", options.cert_file, "client certificate");
  app.add_option("--key", options.key_file, "client certificate's key");
  app.add_option("--server-name", options.server_name, "name to verify; default --host");
  app.add_option("--hostname", options.hostname, "RFC 5424 HOSTNAME");
  app.add_option("--app-name", options.app_name, "RFC 5424 APP-NAME");
  app.add_option("--facility", options.facility, "syslog facility");
  app.add_option("--connect-timeout-ms", connect_timeout_ms);
  app.add_option("--io-timeout-ms", io_timeout_ms);
  app.add_option("--retry-ms", retry_ms, "retry a failed batch for up to this long");
  app.add_option("--retry-interval-ms", retry_interval_ms, "pause between retries");
  CLI11_PARSE(app, argc, argv);
  options.connect_timeout = absl::Milliseconds(connect_timeout_ms);
  options.io_timeout = absl::Milliseconds(io_timeout_ms);

  auto transport = sluice::output::MakeSyslogTransport(std::move(options));
  if (!transport.ok()) {
    printf("ERROR %s\n", transport.status().ToString().c_str());
    return 2;
  }
  StdinLines input;
  for (;;) {
    const std::vector<std::string> batch = input.Next(kBatch);
    if (batch.empty()) break;
    const absl::Time give_up = absl::Now() + absl::Milliseconds(retry_ms);
    for (;;) {
      const absl::Status s = (*transport)->Send(batch);
      if (s.ok()) {
        printf("SENT %zu\n", batch.size());
        fflush(stdout);
        break;
      }
      if (absl::Now() >= give_up) {
        printf("ERROR %s\n", s.ToString().c_str());
        return 1;
      }
      printf("RETRY %s\n", s.ToString().c_str());
      fflush(stdout);
      absl::SleepFor(absl::Milliseconds(retry_interval_ms));
    }
  }
  return 0;
}
