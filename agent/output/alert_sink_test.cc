#include "agent/output/alert_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sluice::output {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::HasSubstr;

detect::Alert MakeAlert(int i) {
  detect::Alert a;
  a.uid = absl::StrCat("uid-", i);
  a.detector = "unexpected_egress";
  a.title = absl::StrCat("alert ", i);
  a.severity = detect::Severity::kMedium;
  a.disposition = detect::Disposition::kWouldBlock;
  a.time_ms = 1700000000000 + i;
  a.process.pid = 100 + i;
  a.process.exe = "/usr/bin/curl";
  a.destination.ip = "198.51.100.7";
  a.destination.port = 443;
  return a;
}

std::vector<std::string> Lines(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  EXPECT_TRUE(all.empty() || all.back() == '\n') << "last line is incomplete";
  std::vector<std::string> lines = absl::StrSplit(all, '\n', absl::SkipEmpty());
  return lines;
}

class AlertSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "alert_sink_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ / "alerts.jsonl";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_, path_;
};

TEST_F(AlertSinkTest, WritesOneParseableLinePerAlert) {
  auto sink = OpenJsonLinesSink(path_.string(), ProductInfo{});
  ASSERT_TRUE(sink.ok()) << sink.status();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*sink)->Write(MakeAlert(i)).ok());
  ASSERT_TRUE((*sink)->Flush().ok());

  auto lines = Lines(path_);
  ASSERT_EQ(lines.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    json f = json::parse(lines[i]);
    EXPECT_EQ(f["class_uid"], 2004);
    EXPECT_EQ(f["finding_info"]["uid"], absl::StrCat("uid-", i));
    EXPECT_EQ(f["finding_info"]["title"], absl::StrCat("alert ", i));
    EXPECT_EQ(f["time"], 1700000000000 + i);
    EXPECT_EQ(f["disposition"], "Would block");
    EXPECT_EQ(f["dst_endpoint"]["ip"], "198.51.100.7");
    EXPECT_EQ(f["metadata"]["product"]["name"], "sluice");
    EXPECT_FALSE(f["device"]["hostname"].get<std::string>().empty());
    EXPECT_EQ(f, RenderDetectionFinding(MakeAlert(i), ProductInfo{}));
  }
}

TEST_F(AlertSinkTest, CreatesTheFileOwnerOnly) {
  auto sink = OpenJsonLinesSink(path_.string(), ProductInfo{});
  ASSERT_TRUE(sink.ok());
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AlertSinkTest, AppendsToExistingContent) {
  { std::ofstream(path_) << "{\"earlier\":true}\n"; }
  {
    auto sink = OpenJsonLinesSink(path_.string(), ProductInfo{});
    ASSERT_TRUE(sink.ok());
    ASSERT_TRUE((*sink)->Write(MakeAlert(1)).ok());
  }
  {
    auto sink = OpenJsonLinesSink(path_.string(), ProductInfo{});  // a restarted agent
    ASSERT_TRUE(sink.ok());
    ASSERT_TRUE((*sink)->Write(MakeAlert(2)).ok());
  }
  auto lines = Lines(path_);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "{\"earlier\":true}");
  EXPECT_EQ(json::parse(lines[1])["finding_info"]["uid"], "uid-1");
  EXPECT_EQ(json::parse(lines[2])["finding_info"]["uid"], "uid-2");
}

TEST_F(AlertSinkTest, UnwritablePathIsAnErrorNamingThePath) {
  const std::string missing = (dir_ / "no-such-dir" / "alerts.jsonl").string();
  auto sink = OpenJsonLinesSink(missing, ProductInfo{});
  ASSERT_FALSE(sink.ok());
  EXPECT_THAT(std::string(sink.status().message()), HasSubstr(missing));

  auto dir = OpenJsonLinesSink(dir_.string(), ProductInfo{});  // a directory
  ASSERT_FALSE(dir.ok());
  EXPECT_THAT(std::string(dir.status().message()), HasSubstr(dir_.string()));

  EXPECT_FALSE(OpenJsonLinesSink("", ProductInfo{}).ok());
}

TEST_F(AlertSinkTest, ConcurrentWritersNeverInterleave) {
  auto sink = OpenJsonLinesSink(path_.string(), ProductInfo{});
  ASSERT_TRUE(sink.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) EXPECT_TRUE((*sink)->Write(MakeAlert(t * 1000 + i)).ok());
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE((*sink)->Flush().ok());
  auto lines = Lines(path_);
  ASSERT_EQ(lines.size(), 200u);
  for (const auto& l : lines) {
    EXPECT_TRUE(json::accept(l)) << l;
  }
}

TEST(AlertSinkStdoutTest, DashIsStdout) {
  auto sink = OpenJsonLinesSink("-", ProductInfo{});
  ASSERT_TRUE(sink.ok()) << sink.status();
  ::testing::internal::CaptureStdout();
  absl::Status s = (*sink)->Write(MakeAlert(7));
  std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE((*sink)->Flush().ok());
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(json::parse(out)["finding_info"]["uid"], "uid-7");
  // The sink must not close fd 1 when destroyed.
  sink->reset();
  EXPECT_NE(fcntl(STDOUT_FILENO, F_GETFD), -1);
}

}  // namespace
}  // namespace sluice::output
