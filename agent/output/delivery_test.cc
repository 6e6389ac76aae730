#include "agent/output/delivery.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::output {
namespace {

using ::testing::ElementsAre;
using ::testing::SizeIs;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sluice-delivery-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Fails the first `failures` sends (transiently, or for good with `refuse`), then accepts.
class FakeTransport : public Transport {
 public:
  FakeTransport(int failures, bool refuse) : failures_(failures), refuse_(refuse) {}
  absl::Status Send(absl::Span<const std::string> lines) override {
    absl::MutexLock lock(&mu_);
    ++attempts_;
    if (failures_ > 0) {
      --failures_;
      return refuse_ ? absl::InvalidArgumentError("HTTP 400: bad event")
                     : absl::UnavailableError("connection refused");
    }
    for (const auto& l : lines) got_.push_back(l);
    return absl::OkStatus();
  }
  std::string Describe() const override { return "fake://sink"; }
  std::vector<std::string> got() const {
    absl::MutexLock lock(&mu_);
    return got_;
  }
  bool WaitFor(size_t n) const {
    auto ready = [&] { return got_.size() >= n; };
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(20));
  }
  int attempts() const {
    absl::MutexLock lock(&mu_);
    return attempts_;
  }

 private:
  mutable absl::Mutex mu_;
  int failures_;
  bool refuse_;
  int attempts_ = 0;
  std::vector<std::string> got_;
};

detect::Alert MakeAlert(int i) {
  detect::Alert a;
  a.uid = "uid-" + std::to_string(i);
  a.detector = "unexpected_egress";
  a.title = "t";
  a.time_ms = 1764400000000 + i;
  return a;
}

std::unique_ptr<Spool> OpenSpool(const std::string& dir) {
  SpoolOptions o;
  o.dir = dir + "/spool";
  o.sinks = {"siem"};
  auto s = Spool::Open(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

TEST(AlertPipelineTest, RetriesATransientFailureThenDeliversInOrder) {
  TempDir dir;
  auto spool = OpenSpool(dir.path());
  auto transport = std::make_unique<FakeTransport>(2, false);
  FakeTransport* fake = transport.get();
  AlertPipeline::Options o;
  o.network.push_back({"siem", "syslog", std::move(transport)});
  o.spool = spool.get();
  o.min_backoff = absl::Milliseconds(1);
  AlertPipeline p(std::move(o));
  p.Start();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(p.Write(MakeAlert(i)).ok());
  ASSERT_TRUE(fake->WaitFor(5));
  const auto got = fake->got();
  ASSERT_THAT(got, SizeIs(5));
  for (int i = 0; i < 5; ++i) {
    EXPECT_NE(got[i].find("\"uid\":\"uid-" + std::to_string(i) + "\""), std::string::npos);
  }
  p.Stop();
  const auto st = p.stats();
  ASSERT_THAT(st, SizeIs(1));
  EXPECT_EQ(st[0].delivered, 5u);
  EXPECT_EQ(st[0].errors, 2u);
  EXPECT_EQ(st[0].pending, 0u);
  EXPECT_EQ(st[0].latency_count, st[0].latency_counts.back());
  EXPECT_TRUE(st[0].healthy);
  EXPECT_EQ(st[0].target, "fake://sink");
}

TEST(AlertPipelineTest, RefusedRecordsAreCountedAndSkipped) {
  TempDir dir;
  auto spool = OpenSpool(dir.path());
  auto transport = std::make_unique<FakeTransport>(1, true);
  FakeTransport* fake = transport.get();
  AlertPipeline::Options o;
  o.network.push_back({"siem", "webhook", std::move(transport)});
  o.spool = spool.get();
  AlertPipeline p(std::move(o));
  ASSERT_TRUE(p.Write(MakeAlert(0)).ok());  // written before the worker starts: one batch
  p.Start();
  while (p.stats()[0].rejected == 0) usleep(1000);
  ASSERT_TRUE(p.Write(MakeAlert(1)).ok());
  ASSERT_TRUE(fake->WaitFor(1));
  p.Stop();
  EXPECT_EQ(p.stats()[0].rejected, 1u);
  EXPECT_EQ(p.stats()[0].delivered, 1u);
  EXPECT_EQ(p.stats()[0].last_error, "HTTP 400: bad event");
  EXPECT_THAT(fake->got(), SizeIs(1));
}

TEST(AlertPipelineTest, WhatASinkDidNotTakeIsSentAfterARestart) {
  TempDir dir;
  {
    auto spool = OpenSpool(dir.path());
    AlertPipeline::Options o;
    o.network.push_back({"siem", "syslog", std::make_unique<FakeTransport>(1000000, false)});
    o.spool = spool.get();
    o.min_backoff = absl::Seconds(30);  // Stop must interrupt this wait
    AlertPipeline p(std::move(o));
    p.Start();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(p.Write(MakeAlert(i)).ok());
    ASSERT_TRUE(p.Flush().ok());
    p.Stop();
    EXPECT_EQ(p.stats()[0].delivered, 0u);
  }
  auto spool = OpenSpool(dir.path());
  auto transport = std::make_unique<FakeTransport>(0, false);
  FakeTransport* fake = transport.get();
  AlertPipeline::Options o;
  o.network.push_back({"siem", "syslog", std::move(transport)});
  o.spool = spool.get();
  AlertPipeline p(std::move(o));
  p.Start();
  ASSERT_TRUE(fake->WaitFor(3));
  p.Stop();
  EXPECT_THAT(fake->got(), SizeIs(3));
}

// Like syslog: Send does not confirm; the connection can be "lost" between batches.
class UnconfirmedTransport : public Transport {
 public:
  absl::Status Send(absl::Span<const std::string> lines) override {
    absl::MutexLock lock(&mu_);
    if (drop_next_connection_) {
      // The receiver died after taking the previous batch: a new connection, the old batch gone.
      drop_next_connection_ = false;
      ++connection_;
      lost_ += static_cast<int>(got_.size() - kept_);
      got_.resize(kept_);
    }
    for (const auto& l : lines) got_.push_back(l);
    return absl::OkStatus();
  }
  std::string Describe() const override { return "unconfirmed://sink"; }
  bool SendConfirms() const override { return false; }
  uint64_t Connection() const override {
    absl::MutexLock lock(&mu_);
    return connection_;
  }
  absl::Status Confirm() override { return absl::OkStatus(); }
  // The next Send finds the connection replaced, and loses what arrived since `keep` lines.
  void LoseAfter(size_t keep) {
    absl::MutexLock lock(&mu_);
    kept_ = keep;
    drop_next_connection_ = true;
  }
  std::vector<std::string> got() const {
    absl::MutexLock lock(&mu_);
    return got_;
  }

 private:
  mutable absl::Mutex mu_;
  uint64_t connection_ = 1;
  bool drop_next_connection_ = false;
  size_t kept_ = 0;
  int lost_ = 0;
  std::vector<std::string> got_;
};

TEST(AlertPipelineTest, UnconfirmedBatchesAreSentAgainWhenTheirConnectionDied) {
  TempDir dir;
  auto spool = OpenSpool(dir.path());
  auto transport = std::make_unique<UnconfirmedTransport>();
  UnconfirmedTransport* fake = transport.get();
  AlertPipeline::Options o;
  o.network.push_back({"siem", "syslog", std::move(transport)});
  o.spool = spool.get();
  o.confirm_after = absl::Seconds(30);  // only a later batch on the same connection confirms
  AlertPipeline p(std::move(o));
  p.Start();
  ASSERT_TRUE(p.Write(MakeAlert(0)).ok());
  while (fake->got().size() < 1) usleep(1000);
  EXPECT_EQ(p.stats()[0].delivered, 0u);  // sent, not confirmed
  EXPECT_EQ(p.stats()[0].pending, 1u);
  // The receiver dies having taken alert 0 into its kernel only: the next batch goes on a new
  // connection, so alert 0 must go again.
  fake->LoseAfter(0);
  ASSERT_TRUE(p.Write(MakeAlert(1)).ok());
  auto has = [&](int i) {
    for (const auto& l : fake->got()) {
      if (l.find("\"uid-" + std::to_string(i) + "\"") != std::string::npos) return true;
    }
    return false;
  };
  for (int spin = 0; spin < 20000 && !(has(0) && has(1)); ++spin) usleep(1000);
  EXPECT_TRUE(has(0));
  EXPECT_TRUE(has(1));
  // A later batch on the same connection confirms the ones before it.
  ASSERT_TRUE(p.Write(MakeAlert(2)).ok());
  for (int spin = 0; spin < 20000 && p.stats()[0].delivered < 2; ++spin) usleep(1000);
  EXPECT_EQ(p.stats()[0].delivered, 2u);
  EXPECT_EQ(p.stats()[0].pending, 1u);  // alert 2 waits for its own confirmation
  p.Stop();
}

TEST(AlertPipelineTest, AnIdleConnectionThatStayedUpConfirms) {
  TempDir dir;
  auto spool = OpenSpool(dir.path());
  AlertPipeline::Options o;
  o.network.push_back({"siem", "syslog", std::make_unique<UnconfirmedTransport>()});
  o.spool = spool.get();
  o.confirm_after = absl::Milliseconds(50);
  AlertPipeline p(std::move(o));
  p.Start();
  ASSERT_TRUE(p.Write(MakeAlert(0)).ok());
  for (int spin = 0; spin < 20000 && p.stats()[0].delivered < 1; ++spin) usleep(1000);
  EXPECT_EQ(p.stats()[0].delivered, 1u);
  EXPECT_EQ(p.stats()[0].pending, 0u);
  p.Stop();
}

TEST(AlertPipelineTest, FilesAndEvidenceGetEveryAlert) {
  TempDir dir;
  auto file = RotatingFile::Open(dir.path() + "/alerts.jsonl", {});
  ASSERT_TRUE(file.ok());
  std::vector<std::string> evidence;
  AlertPipeline::Options o;
  o.files.push_back({"archive", *std::move(file)});
  o.evidence = [&](absl::string_view line) {
    evidence.emplace_back(line);
    return absl::OkStatus();
  };
  AlertPipeline p(std::move(o));
  ASSERT_TRUE(p.Write(MakeAlert(7)).ok());
  ASSERT_TRUE(p.Flush().ok());
  std::ifstream in(dir.path() + "/alerts.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_NE(line.find("uid-7"), std::string::npos);
  ASSERT_THAT(evidence, SizeIs(1));
  EXPECT_EQ(evidence[0], line);
  EXPECT_EQ(p.stats()[0].delivered, 1u);
  EXPECT_EQ(p.stats()[0].kind, "file");
}

TEST(RotatingFileTest, RotatesBySizeKeepingN) {
  TempDir dir;
  const std::string path = dir.path() + "/a.jsonl";
  RotateOptions r;
  r.max_bytes = 25;
  r.keep = 2;
  auto f = RotatingFile::Open(path, r);
  ASSERT_TRUE(f.ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*f)->WriteLine("line-" + std::to_string(i) + "-xxxxxxx").ok());
  auto read = [](const std::string& p) {
    std::ifstream in(p);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  };
  // 15 bytes per line: a second line would pass 25, so each file holds one.
  EXPECT_THAT(read(path), ElementsAre("line-4-xxxxxxx"));
  EXPECT_THAT(read(path + ".1"), ElementsAre("line-3-xxxxxxx"));
  EXPECT_THAT(read(path + ".2"), ElementsAre("line-2-xxxxxxx"));
  EXPECT_FALSE(std::filesystem::exists(path + ".3"));
}

TEST(RotatingFileTest, RotatesByAge) {
  TempDir dir;
  const std::string path = dir.path() + "/a.jsonl";
  RotateOptions r;
  r.max_age = absl::Nanoseconds(1);
  auto f = RotatingFile::Open(path, r);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->WriteLine("one").ok());
  usleep(2000);
  ASSERT_TRUE((*f)->WriteLine("two").ok());
  EXPECT_TRUE(std::filesystem::exists(path + ".1"));
}

}  // namespace
}  // namespace sluice::output
