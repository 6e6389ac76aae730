// A stand-in for sluiced in the control API tests: serves the real ControlServer on --socket with
// a fixed status, and publishes what the test tells it on stdin, one command per line:
//   event TYPE JSON            publish an event line
//   alert JSON                 publish an alert line
//   wait-subscribers events|alerts N
//                              answer "ok" on stdout once N followers are subscribed
// Prints "ready" once serving. Stops on SIGTERM/SIGINT or end of stdin, removing the socket.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "agent/api/control_server.h"

namespace {

sluice::v1::StatusResponse FakeStatus() {
  sluice::v1::StatusResponse r;
  r.set_mode("monitor");
  r.set_rules_path("/etc/sluice/rules");
  r.set_workload_count(2);
  auto* p = r.add_probes();
  p->set_name("sluice_connect4");
  p->set_hook("cgroup/connect4");
  p->set_attached(true);
  p = r.add_probes();
  p->set_name("sluice_openat");
  p->set_hook("tracepoint/syscalls/sys_enter_openat");
  p->set_attached(true);
  p->set_preferred_hook("lsm/file_open");
  p->set_fallback_used(true);
  p = r.add_probes();
  p->set_name("sluice_ssl_write");
  p->set_hook("uprobe/SSL_write");
  p->set_attached(false);
  p->set_error("libssl not found");
  auto* t = r.add_event_types();
  t->set_type("connect");
  t->set_received(5);
  t->set_ring_full(1);
  t->set_map_full(0);
  r.set_alerts_total(3);
  (*r.mutable_gauges())["processes"] = 7;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"control API test agent"};
  std::string socket_path;
  std::string mode;
  app.add_option("--socket", socket_path)->required();
  app.add_option("--socket-mode", mode,
                 "chmod the socket after start (octal), to reach the per-call uid check");
  CLI11_PARSE(app, argc, argv);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  sluice::api::ControlServer::Options opt;
  opt.socket_path = socket_path;
  auto started = sluice::api::ControlServer::Start(opt, FakeStatus);
  if (!started.ok()) {
    fprintf(stderr, "api_fake_agent: %s\n", std::string(started.status().message()).c_str());
    return 1;
  }
  if (!mode.empty()) {
    chmod(socket_path.c_str(), static_cast<mode_t>(strtoul(mode.c_str(), nullptr, 8)));
  }
  absl::Mutex mu;
  std::unique_ptr<sluice::api::ControlServer> server = std::move(*started);
  printf("ready\n");
  fflush(stdout);

  // Subscribers of "events" or "alerts"; -1 once the server is gone.
  auto subscribers = [&](const std::string& which) -> long {
    absl::MutexLock lock(&mu);
    if (server == nullptr) return -1;
    return static_cast<long>(which == "alerts" ? server->alerts().subscribers()
                                               : server->events().subscribers());
  };
  std::thread commands([&] {
    std::string line;
    while (std::getline(std::cin, line)) {
      std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(' ', 2));
      if (f.size() == 3 && f[0] == "wait-subscribers") {
        long n = 0;
        (void)absl::SimpleAtoi(f[2], &n);
        for (int i = 0; i < 1000 && subscribers(f[1]) >= 0 && subscribers(f[1]) < n; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        printf("%s\n", subscribers(f[1]) >= n ? "ok" : "timeout");
        fflush(stdout);
        continue;
      }
      absl::MutexLock lock(&mu);
      if (server == nullptr) break;
      if (f.size() == 3 && f[0] == "event") {
        server->PublishEvent(f[1], f[2]);
      } else if (f.size() >= 2 && f[0] == "alert") {
        server->PublishAlert(line.substr(6));
      } else {
        fprintf(stderr, "api_fake_agent: unknown command: %s\n", line.c_str());
      }
    }
    kill(getpid(), SIGUSR1);  // end of stdin: stop
  });

  int sig = 0;
  sigwait(&set, &sig);
  {
    absl::MutexLock lock(&mu);
    server.reset();
  }
  printf("stopped\n");
  fflush(stdout);
  // The command thread may sit in a read of stdin; nothing of it needs unwinding.
  std::_Exit(0);
}
