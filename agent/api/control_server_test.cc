#include "agent/api/control_server.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sluice/v1/control.grpc.pb.h"

namespace sluice::api {
namespace {

using ::testing::HasSubstr;

// Polls `cond` for up to 10 s (no wall-clock assertion: only an upper bound against hangs).
bool WaitFor(const std::function<bool()>& cond) {
  for (int i = 0; i < 1000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

std::chrono::system_clock::time_point In(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-api-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // A directory that does not exist yet: the server creates it.
    path_ = dir_ + "/run/sluiced.sock";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<ControlServer> StartOrDie(ControlServer::Options opt = {},
                                            ControlServer::StatusFn fn = nullptr) {
    opt.socket_path = path_;
    auto server = ControlServer::Start(opt, std::move(fn));
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  std::unique_ptr<v1::Control::Stub> Stub() {
    return v1::Control::NewStub(
        grpc::CreateChannel("unix:" + path_, grpc::InsecureChannelCredentials()));
  }

  std::string dir_;
  std::string path_;
};

// Reads a stream on its own thread, recording every line.
template <typename Msg>
class Reader {
 public:
  using Open = std::function<std::unique_ptr<grpc::ClientReader<Msg>>(grpc::ClientContext*)>;
  explicit Reader(Open open) {
    ctx_.set_deadline(In(60));
    stream_ = open(&ctx_);
    thread_ = std::thread([this] {
      Msg m;
      while (stream_->Read(&m)) {
        absl::MutexLock l(&mu_);
        lines_.push_back(m);
      }
      grpc::Status s = stream_->Finish();
      absl::MutexLock l(&mu_);
      status_ = s;
      done_ = true;
    });
  }
  ~Reader() {
    ctx_.TryCancel();
    thread_.join();
  }
  std::vector<Msg> lines() {
    absl::MutexLock l(&mu_);
    return lines_;
  }
  size_t count() {
    absl::MutexLock l(&mu_);
    return lines_.size();
  }
  bool done() {
    absl::MutexLock l(&mu_);
    return done_;
  }
  grpc::Status status() {
    absl::MutexLock l(&mu_);
    return status_;
  }
  void Cancel() { ctx_.TryCancel(); }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<Msg>> stream_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<Msg> lines_;
  grpc::Status status_;
  bool done_ = false;
};

std::vector<std::string> Jsons(const std::vector<v1::EventLine>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) out.push_back(l.json());
  return out;
}

TEST_F(ControlServerTest, StatusThroughARealStub) {
  auto server = StartOrDie({}, [] {
    v1::StatusResponse r;
    r.set_mode("enforce");
    r.set_rules_path("/etc/sluice/rules");
    r.set_workload_count(3);
    auto* p = r.add_probes();
    p->set_name("sluice_openat");
    p->set_hook("tracepoint/syscalls/sys_enter_openat");
    p->set_attached(true);
    p->set_preferred_hook("lsm/file_open");
    p->set_fallback_used(true);
    auto* t = r.add_event_types();
    t->set_type("connect");
    t->set_received(10);
    t->set_ring_full(2);
    (*r.mutable_gauges())["processes"] = 42;
    return r;
  });
  ASSERT_NE(server, nullptr);
  grpc::ClientContext ctx;
  ctx.set_deadline(In(10));
  v1::StatusResponse resp;
  grpc::Status s = Stub()->Status(&ctx, v1::StatusRequest(), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.mode(), "enforce");
  EXPECT_EQ(resp.rules_path(), "/etc/sluice/rules");
  EXPECT_EQ(resp.workload_count(), 3u);
  ASSERT_EQ(resp.probes_size(), 1);
  EXPECT_EQ(resp.probes(0).hook(), "tracepoint/syscalls/sys_enter_openat");
  EXPECT_TRUE(resp.probes(0).fallback_used());
  ASSERT_EQ(resp.event_types_size(), 1);
  EXPECT_EQ(resp.event_types(0).ring_full(), 2u);
  EXPECT_EQ(resp.gauges().at("processes"), 42u);
  // Filled in by the server.
  EXPECT_EQ(resp.version(), SLUICE_VERSION);
  EXPECT_EQ(resp.pid(), static_cast<uint32_t>(getpid()));
  EXPECT_GT(resp.start_time_unix_ms(), 0);
  EXPECT_EQ(resp.gauges().at("api_event_subscribers"), 0u);
  EXPECT_EQ(resp.counters().at("api_event_lines_dropped"), 0u);
}

TEST_F(ControlServerTest, SocketIsRootOnlyAndItsDirectoryIsCreated) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  struct stat st {};
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());  // root when sluiced runs it
  struct stat dst {};
  ASSERT_EQ(stat((dir_ + "/run").c_str(), &dst), 0);
  EXPECT_EQ(dst.st_mode & 07777, 0755u);
}

TEST_F(ControlServerTest, CallerOutsideTheAllowedUidsIsDenied) {
  ControlServer::Options opt;
  opt.allowed_uids = {geteuid() + 4242};  // not us: the same path as a non-root caller
  auto server = StartOrDie(opt);
  ASSERT_NE(server, nullptr);
  grpc::ClientContext ctx;
  ctx.set_deadline(In(10));
  v1::StatusResponse resp;
  grpc::Status s = Stub()->Status(&ctx, v1::StatusRequest(), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("root-only"));
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("uid ", geteuid())));

  grpc::ClientContext ectx;
  ectx.set_deadline(In(10));
  v1::EventsRequest req;
  auto stream = Stub()->Events(&ectx, req);
  v1::EventLine line;
  EXPECT_FALSE(stream->Read(&line));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(ControlServerTest, SecondServerOnTheSamePathIsRefused) {
  auto first = StartOrDie();
  ASSERT_NE(first, nullptr);
  ControlServer::Options opt;
  opt.socket_path = path_;
  auto second = ControlServer::Start(opt, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("already answering"));
  EXPECT_THAT(second.status().message(), HasSubstr(path_));
  // The first one still serves.
  grpc::ClientContext ctx;
  ctx.set_deadline(In(10));
  v1::StatusResponse resp;
  EXPECT_TRUE(Stub()->Status(&ctx, v1::StatusRequest(), &resp).ok());
}

TEST_F(ControlServerTest, StaleSocketFileIsReplaced) {
  ASSERT_EQ(mkdir((dir_ + "/run").c_str(), 0755), 0);
  {
    // A socket file whose server is gone: bound, never listening, closed.
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    close(fd);
  }
  ASSERT_EQ(chmod(path_.c_str(), 0666), 0);  // tells the old file from the new one
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  struct stat after {};
  ASSERT_EQ(lstat(path_.c_str(), &after), 0);
  EXPECT_EQ(after.st_mode & 07777, 0600u);
  grpc::ClientContext ctx;
  ctx.set_deadline(In(10));
  v1::StatusResponse resp;
  EXPECT_TRUE(Stub()->Status(&ctx, v1::StatusRequest(), &resp).ok());
}

TEST_F(ControlServerTest, PathThatIsNotASocketIsLeftAlone) {
  ASSERT_EQ(mkdir((dir_ + "/run").c_str(), 0755), 0);
  FILE* f = fopen(path_.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("keep me", f);
  fclose(f);
  ControlServer::Options opt;
  opt.socket_path = path_;
  auto server = ControlServer::Start(opt, nullptr);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr("not a socket"));
  struct stat st {};
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(ControlServerTest, TooLongPathIsRejected) {
  ControlServer::Options opt;
  opt.socket_path = "/tmp/" + std::string(200, 'x');
  auto server = ControlServer::Start(opt, nullptr);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ControlServerTest, DestructorRemovesTheSocketFile) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  server.reset();
  struct stat st {};
  EXPECT_NE(lstat(path_.c_str(), &st), 0);
  // And the path can be served again.
  EXPECT_NE(StartOrDie(), nullptr);
}

TEST_F(ControlServerTest, EventsWithoutFollowReturnTheBoundedBacklogAndEnd) {
  ControlServer::Options opt;
  opt.backlog = 3;
  auto server = StartOrDie(opt);
  ASSERT_NE(server, nullptr);
  for (int i = 0; i < 5; ++i) server->PublishEvent("exec", absl::StrCat("{\"n\":", i, "}"));
  grpc::ClientContext ctx;
  ctx.set_deadline(In(10));
  auto stream = Stub()->Events(&ctx, v1::EventsRequest());
  std::vector<v1::EventLine> lines;
  v1::EventLine line;
  while (stream->Read(&line)) lines.push_back(line);
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_THAT(Jsons(lines), ::testing::ElementsAre("{\"n\":2}", "{\"n\":3}", "{\"n\":4}"));
  EXPECT_EQ(lines[0].type(), "exec");
}

TEST_F(ControlServerTest, FollowGetsBacklogThenLiveLinesUntilCancelled) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  server->PublishEvent("exec", "{\"old\":1}");
  server->PublishEvent("exec", "{\"old\":2}");
  auto stub = Stub();
  v1::EventsRequest req;
  req.set_follow(true);
  Reader<v1::EventLine> reader(
      [&](grpc::ClientContext* ctx) { return stub->Events(ctx, req); });
  ASSERT_TRUE(WaitFor([&] { return server->events().subscribers() == 1; }));
  server->PublishEvent("connect", "{\"live\":1}");
  ASSERT_TRUE(WaitFor([&] { return reader.count() == 3; }));
  const auto lines = reader.lines();
  EXPECT_EQ(lines[0].json(), "{\"old\":1}");
  EXPECT_EQ(lines[2].json(), "{\"live\":1}");
  EXPECT_EQ(lines[2].type(), "connect");
  EXPECT_FALSE(reader.done());

  reader.Cancel();
  ASSERT_TRUE(WaitFor([&] { return reader.done(); }));
  EXPECT_EQ(reader.status().error_code(), grpc::StatusCode::CANCELLED);
  // The server notices and lets go of the subscription.
  EXPECT_TRUE(WaitFor([&] { return server->events().subscribers() == 0; }));
}

TEST_F(ControlServerTest, TypeFilter) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  server->PublishEvent("exec", "{\"e\":1}");
  server->PublishEvent("connect", "{\"c\":1}");
  auto stub = Stub();
  v1::EventsRequest req;
  req.set_follow(true);
  req.add_types("connect");
  req.add_types("flow");
  Reader<v1::EventLine> reader(
      [&](grpc::ClientContext* ctx) { return stub->Events(ctx, req); });
  ASSERT_TRUE(WaitFor([&] { return server->events().subscribers() == 1; }));
  server->PublishEvent("exec", "{\"e\":2}");
  server->PublishEvent("flow", "{\"f\":1}");
  server->PublishEvent("file_open", "{\"o\":1}");
  server->PublishEvent("connect", "{\"c\":2}");
  ASSERT_TRUE(WaitFor([&] { return reader.count() == 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // nothing else comes
  EXPECT_THAT(Jsons(reader.lines()),
              ::testing::ElementsAre("{\"c\":1}", "{\"f\":1}", "{\"c\":2}"));
}

TEST_F(ControlServerTest, AlertsBacklogAndFollow) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  server->PublishAlert("{\"class_uid\":2004,\"n\":1}");
  server->PublishEvent("exec", "{\"not\":\"an alert\"}");
  auto stub = Stub();
  v1::AlertsRequest req;
  req.set_follow(true);
  Reader<v1::AlertLine> reader(
      [&](grpc::ClientContext* ctx) { return stub->Alerts(ctx, req); });
  ASSERT_TRUE(WaitFor([&] { return server->alerts().subscribers() == 1; }));
  server->PublishAlert("{\"class_uid\":2004,\"n\":2}");
  ASSERT_TRUE(WaitFor([&] { return reader.count() == 2; }));
  EXPECT_EQ(reader.lines()[1].json(), "{\"class_uid\":2004,\"n\":2}");
}

// A follower that does not read: the publisher never waits, lines are dropped for that follower
// only, and every line is either delivered or counted in a later `dropped_before`.
TEST_F(ControlServerTest, SlowSubscriberLosesCountedLinesAndNeverBlocksThePublisher) {
  ControlServer::Options opt;
  opt.backlog = 0;
  opt.subscriber_queue = 16;
  auto server = StartOrDie(opt);
  ASSERT_NE(server, nullptr);
  auto stub = Stub();

  grpc::ClientContext ctx;
  ctx.set_deadline(In(120));
  v1::EventsRequest req;
  req.set_follow(true);
  auto stream = stub->Events(&ctx, req);
  ASSERT_TRUE(WaitFor([&] { return server->events().subscribers() == 1; }));

  // Far more than the HTTP/2 windows and socket buffers hold while the client reads nothing.
  constexpr int kLines = 4000;
  const std::string pad(8192, 'x');
  for (int i = 0; i < kLines; ++i) {
    server->PublishEvent("data", absl::StrCat("{\"n\":", i, ",\"pad\":\"", pad, "\"}"));
  }
  EXPECT_GT(server->events().dropped(), 0u);

  // Now read. Markers published after the burst tell the reader where the burst ends: every
  // line published before the first marker it sees was delivered or counted before it.
  std::atomic<bool> seen_marker{false};
  std::thread marker([&] {
    for (int k = 0; !seen_marker.load() && k < 2000; ++k) {
      server->PublishEvent("data", absl::StrCat("{\"marker\":", k, "}"));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  uint64_t data = 0;
  uint64_t dropped = 0;
  int64_t marker_k = -1;
  v1::EventLine line;
  while (stream->Read(&line)) {
    dropped += line.dropped_before();
    absl::string_view json = line.json();
    if (absl::ConsumePrefix(&json, "{\"marker\":")) {
      ASSERT_TRUE(absl::ConsumeSuffix(&json, "}"));
      ASSERT_TRUE(absl::SimpleAtoi(json, &marker_k));
      break;
    }
    ++data;
  }
  seen_marker = true;
  marker.join();
  ASSERT_GE(marker_k, 0);
  EXPECT_GT(dropped, 0u);
  EXPECT_LT(data, static_cast<uint64_t>(kLines));
  EXPECT_EQ(data + dropped, static_cast<uint64_t>(kLines + marker_k));
  ctx.TryCancel();
  stream->Finish();
}

// A follower that stopped reading (a suspended `sluicectl events -f`) holds its stream's
// thread in a blocked write; stopping the agent must not wait on it for more than the grace time.
TEST_F(ControlServerTest, ShutdownDoesNotWaitForAStalledFollower) {
  ControlServer::Options opt;
  opt.subscriber_queue = 64;
  auto server = StartOrDie(opt);
  ASSERT_NE(server, nullptr);
  auto stub = Stub();
  grpc::ClientContext ctx;
  ctx.set_deadline(In(60));
  v1::EventsRequest req;
  req.set_follow(true);
  auto stream = stub->Events(&ctx, req);
  ASSERT_TRUE(WaitFor([&] { return server->events().subscribers() == 1; }));
  // 40 MiB in bursts, so the stream fills every buffer up to gRPC's flow control window and
  // then blocks in a write; the publisher goes on regardless.
  const std::string pad(65536, 'x');
  for (int burst = 0; burst < 20; ++burst) {
    for (int i = 0; i < 32; ++i) {
      server->PublishEvent("data", absl::StrCat("{\"pad\":\"", pad, "\"}"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(server->events().dropped(), 0u);
  server.reset();  // returns: the blocked write is cancelled after the grace time
  v1::EventLine line;
  while (stream->Read(&line)) {
  }
  EXPECT_NE(stream->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(ControlServerTest, ShutdownEndsFollowingStreams) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  auto stub = Stub();
  v1::EventsRequest ereq;
  ereq.set_follow(true);
  v1::AlertsRequest areq;
  areq.set_follow(true);
  Reader<v1::EventLine> events(
      [&](grpc::ClientContext* ctx) { return stub->Events(ctx, ereq); });
  Reader<v1::AlertLine> alerts(
      [&](grpc::ClientContext* ctx) { return stub->Alerts(ctx, areq); });
  ASSERT_TRUE(WaitFor([&] {
    return server->events().subscribers() == 1 && server->alerts().subscribers() == 1;
  }));
  server->PublishEvent("exec", "{\"last\":1}");
  server.reset();
  ASSERT_TRUE(WaitFor([&] { return events.done() && alerts.done(); }));
  EXPECT_TRUE(events.status().ok()) << events.status().error_message();
  EXPECT_TRUE(alerts.status().ok()) << alerts.status().error_message();
  ASSERT_EQ(events.count(), 1u);  // what was queued is delivered before the end
  struct stat st {};
  EXPECT_NE(lstat(path_.c_str(), &st), 0);
}

}  // namespace
}  // namespace sluice::api
