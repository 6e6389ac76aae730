// The control API of sluiced (DESIGN §7): gRPC service sluice.v1.Control on a unix socket,
// root only. `sluicectl status|events|alerts` talk to it.
//
// Access control, two layers:
//  - the socket file is mode 0600 (owned by the agent's user, root), so connect(2) by anyone
//    else fails with EACCES;
//  - every RPC checks the caller's uid with SO_PEERCRED and answers PERMISSION_DENIED to anyone
//    not allowed (a socket whose mode was loosened, a caller with CAP_DAC_OVERRIDE but not root).
// gRPC exposes neither the socket nor the peer's credentials of a connection it accepted itself,
// so the server accepts connections on its own listening socket and hands each one to gRPC
// (grpc::AddInsecureChannelFromFd); gRPC then names the peer "fd:<n>", the descriptor the RPC
// handler asks SO_PEERCRED about.
#ifndef SLUICE_AGENT_API_CONTROL_SERVER_H_
#define SLUICE_AGENT_API_CONTROL_SERVER_H_

#include <sys/types.h>

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/api/line_hub.h"
#include "agent/common/unique_fd.h"
#include "sluice/v1/control.pb.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace sluice::api {

inline constexpr char kDefaultSocketPath[] = "/run/sluice/sluiced.sock";

class ControlServer {
 public:
  struct Options {
    std::string socket_path = kDefaultSocketPath;
    size_t backlog = 1024;            // recent lines kept per stream kind (events, alerts)
    size_t subscriber_queue = 4096;   // lines a follower may lag behind before lines drop
    // Callers allowed in; empty means root and the uid the agent runs as.
    std::vector<uid_t> allowed_uids;
  };
  // Builds the Status answer. Called on gRPC threads, concurrently with the agent's own
  // threads: it must only read state that is safe to read from there (e.g. a snapshot taken
  // under a lock). Empty version, zero pid and zero start time / uptime are filled in by the
  // server.
  using StatusFn = std::function<sluice::v1::StatusResponse()>;
  // Builds the Learn answer; same threading rules as StatusFn. Unset: no workload is learning.
  using LearnFn = std::function<sluice::v1::LearnResponse()>;
  // Applies an enforcement change for the caller `uid`; called on a gRPC thread (the agent hands
  // it to its main loop and waits). Unset: UNAVAILABLE.
  using EnforceFn = std::function<absl::StatusOr<sluice::v1::EnforceResponse>(
      const sluice::v1::EnforceRequest&, uid_t caller)>;
  // Answers Flows; same threading as EnforceFn. Unset: UNAVAILABLE.
  using FlowsFn =
      std::function<absl::StatusOr<sluice::v1::FlowsResponse>(const sluice::v1::FlowsRequest&)>;

  // Creates the socket's parent directory (0755) if missing, replaces a stale socket file,
  // refuses (FAILED_PRECONDITION) when a server already answers on the path or the path is not
  // a socket, binds with mode 0600 and starts serving.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Start(const Options& options,
                                                              StatusFn status);

  // Use Start(); the key keeps the constructor to it.
  class Key {
    friend class ControlServer;
    Key() = default;
  };
  ControlServer(Key, const Options& options, StatusFn status);

  // Stops accepting, removes the socket file (if it is still ours), ends every stream (each
  // follower gets what was already queued for it, then the end of the stream) and stops gRPC.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Both take one rendered JSON object without a trailing newline. They never wait for a
  // client: a follower that lags more than `subscriber_queue` lines loses lines, counted and
  // reported to it.
  void PublishEvent(absl::string_view type, std::string json_line);
  void PublishAlert(std::string json_line);
  // One serialized sluice.v1.Event for `sluicectl record` clients.
  void PublishRecord(std::string serialized_event);
  // Record clients connected now, and how many ever subscribed: the agent records only while
  // someone listens, and starts every new listener's stream with the tables (a change of the
  // count means a newcomer that needs them).
  size_t record_subscribers() const { return records_.subscribers(); }
  uint64_t record_subscriptions() const { return record_subscriptions_.load(); }
  void SetLearnFn(LearnFn learn) { learn_fn_ = std::move(learn); }
  // Set before clients can call Enforce (at start, like SetLearnFn).
  void SetEnforceFn(EnforceFn enforce) { enforce_fn_ = std::move(enforce); }
  void SetFlowsFn(FlowsFn flows) { flows_fn_ = std::move(flows); }

  const std::string& socket_path() const { return options_.socket_path; }
  const LineHub& events() const { return events_; }
  const LineHub& alerts() const { return alerts_; }

 private:
  class Service;
  absl::Status Listen();
  void AcceptLoop();

  Options options_;
  std::vector<uid_t> allowed_uids_;
  StatusFn status_fn_;
  LineHub events_;
  LineHub alerts_;
  LineHub records_;
  std::atomic<uint64_t> record_subscriptions_{0};
  LearnFn learn_fn_;
  EnforceFn enforce_fn_;
  FlowsFn flows_fn_;
  int64_t start_unix_ms_ = 0;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd that ends AcceptLoop
  dev_t socket_dev_ = 0;
  ino_t socket_ino_ = 0;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::thread accept_thread_;
};

}  // namespace sluice::api

#endif  // SLUICE_AGENT_API_CONTROL_SERVER_H_
