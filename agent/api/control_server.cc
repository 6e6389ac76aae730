#include "agent/api/control_server.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/server_posix.h"
#include "sluice/v1/control.grpc.pb.h"

namespace sluice::api {
namespace {

// How often a following stream checks whether its client went away while no line arrives.
constexpr absl::Duration kCancelCheck = absl::Milliseconds(100);
// How long a stream that is stuck writing to a stalled client may delay shutdown.
constexpr auto kShutdownGrace = std::chrono::seconds(1);
// One thread per open stream (sync gRPC); a bound keeps a flood of clients from costing the
// agent more than this.
constexpr int kMaxThreads = 32;

std::string Errno(int err) { return std::strerror(err); }

absl::Status SocketError(const std::string& path, const std::string& what) {
  return absl::FailedPreconditionError(absl::StrCat("control socket ", path, ": ", what));
}

bool MakeAddr(const std::string& path, sockaddr_un* addr, socklen_t* len) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) return false;
  std::memcpy(addr->sun_path, path.data(), path.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

// mkdir -p of the socket's directory; directories created here get mode 0755 whatever the umask.
absl::Status MakeParentDirs(const std::string& socket_path) {
  const size_t slash = socket_path.rfind('/');
  if (slash == std::string::npos || slash == 0) return absl::OkStatus();
  const std::string dir = socket_path.substr(0, slash);
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    const std::string part = dir.substr(0, pos);
    if (mkdir(part.c_str(), 0755) == 0) {
      if (chmod(part.c_str(), 0755) != 0) {
        return SocketError(socket_path, absl::StrCat("chmod ", part, ": ", Errno(errno)));
      }
    } else if (errno != EEXIST) {
      return SocketError(socket_path, absl::StrCat("mkdir ", part, ": ", Errno(errno)));
    }
  }
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return SocketError(socket_path, absl::StrCat(dir, " is not a directory"));
  }
  return absl::OkStatus();
}

// A socket file left by a server that is gone is removed; a live server, or a file that is not
// a socket, is left alone and refuses the start.
absl::Status ClearStaleSocket(const std::string& path, const sockaddr_un& addr, socklen_t len) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return SocketError(path, Errno(errno));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return SocketError(path, "exists and is not a socket; refusing to replace it");
  }
  // Non-blocking: a live server with a full accept queue answers EAGAIN instead of stalling us.
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe.valid()) return SocketError(path, absl::StrCat("socket: ", Errno(errno)));
  if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), len) == 0 ||
      errno == EAGAIN || errno == EINPROGRESS) {
    return SocketError(path, "a server is already answering on it (is another sluiced running?)");
  }
  if (errno != ECONNREFUSED) {
    return SocketError(path, absl::StrCat("cannot tell whether it is in use: ", Errno(errno)));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return SocketError(path, absl::StrCat("cannot remove the stale socket: ", Errno(errno)));
  }
  return absl::OkStatus();
}

void Fill(v1::EventLine* msg, const Line& line, uint64_t dropped_before) {
  msg->set_json(line.json);
  msg->set_type(line.type);
  msg->set_dropped_before(dropped_before);
}

void Fill(v1::AlertLine* msg, const Line& line, uint64_t dropped_before) {
  msg->set_json(line.json);
  msg->set_dropped_before(dropped_before);
}

// Backlog, then (with `follow`) live lines until the client cancels or the hub closes.
template <typename Msg>
grpc::Status StreamLines(grpc::ServerContext* ctx, LineHub* hub,
                         absl::flat_hash_set<std::string> types, bool follow,
                         grpc::ServerWriter<Msg>* writer) {
  const grpc::Status gone(grpc::StatusCode::CANCELLED, "the client went away");
  std::vector<LinePtr> backlog;
  std::unique_ptr<LineHub::Subscription> sub = hub->Subscribe(std::move(types), follow, &backlog);
  // Headers now: a following client knows it is subscribed even before the first line.
  writer->SendInitialMetadata();
  Msg msg;
  for (const LinePtr& line : backlog) {
    Fill(&msg, *line, 0);
    if (!writer->Write(msg)) return gone;
  }
  if (sub == nullptr) return grpc::Status::OK;
  std::vector<Delivery> batch;
  while (!ctx->IsCancelled()) {
    batch.clear();
    const auto result = sub->Next(kCancelCheck, &batch);
    for (const Delivery& d : batch) {
      Fill(&msg, *d.line, d.dropped_before);
      if (!writer->Write(msg)) return gone;
    }
    if (result == LineHub::Subscription::Result::kClosed) {
      if (const uint64_t dropped = sub->TrailingDropped(); dropped > 0) {
        msg.Clear();
        msg.set_dropped_before(dropped);
        writer->Write(msg);
      }
      return grpc::Status::OK;
    }
  }
  return gone;
}

}  // namespace

class ControlServer::Service final : public v1::Control::Service {
 public:
  explicit Service(ControlServer* owner) : owner_(owner) {}

  grpc::Status Status(grpc::ServerContext* ctx, const v1::StatusRequest*,
                      v1::StatusResponse* resp) override {
    if (grpc::Status s = Authorize(*ctx); !s.ok()) return s;
    if (owner_->status_fn_) *resp = owner_->status_fn_();
    if (resp->version().empty()) resp->set_version(SLUICE_VERSION);
    if (resp->pid() == 0) resp->set_pid(static_cast<uint32_t>(getpid()));
    if (resp->start_time_unix_ms() == 0) resp->set_start_time_unix_ms(owner_->start_unix_ms_);
    if (resp->uptime_seconds() == 0) {
      const int64_t now_ms = absl::ToUnixMillis(absl::Now());
      resp->set_uptime_seconds(
          static_cast<uint64_t>(std::max<int64_t>(0, now_ms - resp->start_time_unix_ms()) / 1000));
    }
    auto& gauges = *resp->mutable_gauges();
    gauges["api_event_subscribers"] = owner_->events_.subscribers();
    gauges["api_alert_subscribers"] = owner_->alerts_.subscribers();
    auto& counters = *resp->mutable_counters();
    counters["api_event_lines_dropped"] = owner_->events_.dropped();
    counters["api_alert_lines_dropped"] = owner_->alerts_.dropped();
    return grpc::Status::OK;
  }

  grpc::Status Events(grpc::ServerContext* ctx, const v1::EventsRequest* req,
                      grpc::ServerWriter<v1::EventLine>* writer) override {
    if (grpc::Status s = Authorize(*ctx); !s.ok()) return s;
    absl::flat_hash_set<std::string> types(req->types().begin(), req->types().end());
    return StreamLines(ctx, &owner_->events_, std::move(types), req->follow(), writer);
  }

  grpc::Status Alerts(grpc::ServerContext* ctx, const v1::AlertsRequest* req,
                      grpc::ServerWriter<v1::AlertLine>* writer) override {
    if (grpc::Status s = Authorize(*ctx); !s.ok()) return s;
    return StreamLines(ctx, &owner_->alerts_, {}, req->follow(), writer);
  }

  grpc::Status Record(grpc::ServerContext* ctx, const v1::RecordRequest*,
                      grpc::ServerWriter<v1::RecordChunk>* writer) override {
    if (grpc::Status s = Authorize(*ctx); !s.ok()) return s;
    const grpc::Status gone(grpc::StatusCode::CANCELLED, "the client went away");
    std::vector<LinePtr> no_backlog;
    std::unique_ptr<LineHub::Subscription> sub =
        owner_->records_.Subscribe({}, /*follow=*/true, &no_backlog);
    if (sub == nullptr) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the agent is stopping");
    }
    owner_->record_subscriptions_.fetch_add(1);
    writer->SendInitialMetadata();
    std::vector<Delivery> batch;
    v1::RecordChunk chunk;
    while (!ctx->IsCancelled()) {
      batch.clear();
      const auto result = sub->Next(kCancelCheck, &batch);
      if (!batch.empty()) {
        // Many small events per message: a busy host publishes thousands a second.
        chunk.Clear();
        uint64_t dropped = 0;
        for (const Delivery& d : batch) {
          dropped += d.dropped_before;
          chunk.add_events(d.line->json);
        }
        chunk.set_dropped_before(dropped);
        if (!writer->Write(chunk)) return gone;
      }
      if (result == LineHub::Subscription::Result::kClosed) {
        if (const uint64_t dropped = sub->TrailingDropped(); dropped > 0) {
          chunk.Clear();
          chunk.set_dropped_before(dropped);
          writer->Write(chunk);
        }
        return grpc::Status::OK;
      }
    }
    return gone;
  }

  grpc::Status Learn(grpc::ServerContext* ctx, const v1::LearnRequest*,
                     v1::LearnResponse* resp) override {
    if (grpc::Status s = Authorize(*ctx); !s.ok()) return s;
    if (owner_->learn_fn_) *resp = owner_->learn_fn_();
    return grpc::Status::OK;
  }

  grpc::Status Enforce(grpc::ServerContext* ctx, const v1::EnforceRequest* req,
                       v1::EnforceResponse* resp) override {
    uid_t caller = 0;
    if (grpc::Status s = Authorize(*ctx, &caller); !s.ok()) return s;
    if (!owner_->enforce_fn_) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this agent takes no enforcement changes");
    }
    absl::StatusOr<v1::EnforceResponse> r = owner_->enforce_fn_(*req, caller);
    if (!r.ok()) {
      return grpc::Status(static_cast<grpc::StatusCode>(r.status().code()),
                          std::string(r.status().message()));
    }
    *resp = *std::move(r);
    return grpc::Status::OK;
  }

  grpc::Status Flows(grpc::ServerContext* ctx, const v1::FlowsRequest* req,
                     v1::FlowsResponse* resp) override {
    if (grpc::Status s = Authorize(*ctx); !s.ok()) return s;
    if (!owner_->flows_fn_) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this agent does not list flows");
    }
    absl::StatusOr<v1::FlowsResponse> r = owner_->flows_fn_(*req);
    if (!r.ok()) {
      return grpc::Status(static_cast<grpc::StatusCode>(r.status().code()),
                          std::string(r.status().message()));
    }
    *resp = *std::move(r);
    return grpc::Status::OK;
  }

 private:
  // Every connection was accepted by AcceptLoop and handed to gRPC by descriptor, which gRPC
  // reports as the peer "fd:<n>"; the kernel knows who connected on it (SO_PEERCRED). A call
  // outlives its connection's descriptor only once the connection is gone, and then nothing it
  // answers reaches anybody.
  grpc::Status Authorize(const grpc::ServerContext& ctx, uid_t* caller = nullptr) const {
    const std::string peer = ctx.peer();
    absl::string_view rest = peer;
    int fd = -1;
    if (!absl::ConsumePrefix(&rest, "fd:") || !absl::SimpleAtoi(rest, &fd) || fd < 0) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          absl::StrCat("cannot identify the caller (peer \"", peer, "\")"));
    }
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          absl::StrCat("cannot read the caller's credentials: ", Errno(errno)));
    }
    for (uid_t uid : owner_->allowed_uids_) {
      if (cred.uid == uid) {
        if (caller != nullptr) *caller = cred.uid;
        return grpc::Status::OK;
      }
    }
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("the sluice control API is root-only; caller uid ", cred.uid,
                                     " (pid ", cred.pid, ") is not allowed"));
  }

  ControlServer* owner_;
};

ControlServer::ControlServer(Key, const Options& options, StatusFn status)
    : options_(options),
      allowed_uids_(options.allowed_uids),
      status_fn_(std::move(status)),
      events_(options.backlog, options.subscriber_queue),
      alerts_(options.backlog, options.subscriber_queue),
      // No backlog: a recording starts when it is asked for. A deep queue: events come in
      // bursts and a recording that drops them is worth less.
      records_(0, 65536),
      start_unix_ms_(absl::ToUnixMillis(absl::Now())) {
  if (allowed_uids_.empty()) allowed_uids_ = {0, geteuid()};
}

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Start(const Options& options,
                                                                    StatusFn status) {
  auto server = std::make_unique<ControlServer>(Key{}, options, std::move(status));
  if (auto s = server->Listen(); !s.ok()) return s;

  server->service_ = std::make_unique<Service>(server.get());
  grpc::ServerBuilder builder;
  builder.RegisterService(server->service_.get());
  grpc::ResourceQuota quota("sluice-control");
  quota.SetMaxThreads(kMaxThreads);
  builder.SetResourceQuota(quota);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 2);
  // No listening port of gRPC's own: connections arrive through AcceptLoop.
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr) {
    return absl::InternalError(
        absl::StrCat("control socket ", options.socket_path, ": gRPC server did not start"));
  }

  server->wake_fd_ = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!server->wake_fd_.valid()) {
    return absl::InternalError(absl::StrCat("eventfd: ", Errno(errno)));
  }
  server->accept_thread_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

absl::Status ControlServer::Listen() {
  const std::string& path = options_.socket_path;
  sockaddr_un addr;
  socklen_t len = 0;
  if (!MakeAddr(path, &addr, &len)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "control socket path must be 1..", sizeof(addr.sun_path) - 1, " bytes: \"", path, "\""));
  }
  if (auto s = MakeParentDirs(path); !s.ok()) return s;
  if (auto s = ClearStaleSocket(path, addr, len); !s.ok()) return s;

  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return SocketError(path, absl::StrCat("socket: ", Errno(errno)));
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    return SocketError(path, absl::StrCat("bind: ", Errno(errno)));
  }
  // Restrict the file before listen(): until then a connect is refused, so nobody gets in
  // through the window in which bind's umask-derived mode applies.
  struct stat st {};
  if (chmod(path.c_str(), 0600) != 0 || lstat(path.c_str(), &st) != 0) {
    const int err = errno;
    unlink(path.c_str());
    return SocketError(path, absl::StrCat("chmod 0600: ", Errno(err)));
  }
  socket_dev_ = st.st_dev;
  socket_ino_ = st.st_ino;
  if (listen(fd.get(), 64) != 0) {
    const int err = errno;
    unlink(path.c_str());
    return SocketError(path, absl::StrCat("listen: ", Errno(err)));
  }
  listen_fd_ = std::move(fd);
  return absl::OkStatus();
}

void ControlServer::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "sluiced: control API: poll: %s; no longer accepting\n",
              Errno(errno).c_str());
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int conn = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
      // Out of descriptors or memory: back off instead of spinning; the client waits queued.
      fprintf(stderr, "sluiced: control API: accept: %s\n", Errno(errno).c_str());
      pollfd wake = {wake_fd_.get(), POLLIN, 0};
      if (poll(&wake, 1, 100) > 0) return;
      continue;
    }
    grpc::AddInsecureChannelFromFd(server_.get(), conn);  // gRPC owns `conn` from here
  }
}

void ControlServer::PublishEvent(absl::string_view type, std::string json_line) {
  events_.Publish(std::string(type), std::move(json_line));
}

void ControlServer::PublishAlert(std::string json_line) {
  alerts_.Publish(std::string(), std::move(json_line));
}

void ControlServer::PublishRecord(std::string serialized_event) {
  records_.Publish(std::string(), std::move(serialized_event));
}

ControlServer::~ControlServer() {
  if (accept_thread_.joinable()) {
    const uint64_t one = 1;
    if (write(wake_fd_.get(), &one, sizeof(one)) < 0) {
      // An eventfd counter cannot overflow from one write; nothing else can fail here.
    }
    accept_thread_.join();
  }
  if (listen_fd_.valid()) {
    listen_fd_.reset();
    // Only our own socket: a server started after us on the same path keeps its file.
    struct stat st {};
    const std::string& path = options_.socket_path;
    if (lstat(path.c_str(), &st) == 0 && st.st_dev == socket_dev_ && st.st_ino == socket_ino_) {
      unlink(path.c_str());
    }
  }
  events_.Close();
  alerts_.Close();
  records_.Close();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
    server_->Wait();
  }
}

}  // namespace sluice::api
