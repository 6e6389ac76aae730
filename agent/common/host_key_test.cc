#include "agent/common/host_key.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace sluice {
namespace {

class HostKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-hostkey-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(HostKeyTest, CreatedOnceThenReadBack) {
  const std::string state = dir_ + "/state";
  auto first = LoadOrCreateHostKey(state);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->size(), kHostKeyBytes);
  struct stat st;
  ASSERT_EQ(stat((state + "/fingerprint.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = LoadOrCreateHostKey(state);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *first);
}

TEST_F(HostKeyTest, ShortKeyIsAnError) {
  {
    std::ofstream f(dir_ + "/fingerprint.key");
    f << "short";
  }
  chmod((dir_ + "/fingerprint.key").c_str(), 0600);
  auto key = LoadOrCreateHostKey(dir_);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("5 bytes, expected 32"), std::string::npos);
}

TEST_F(HostKeyTest, WorldReadableKeyIsRefused) {
  ASSERT_TRUE(LoadOrCreateHostKey(dir_).ok());
  chmod((dir_ + "/fingerprint.key").c_str(), 0644);
  auto key = LoadOrCreateHostKey(dir_);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("chmod 600"), std::string::npos);
}

TEST(EphemeralHostKeyTest, RandomEachTime) {
  auto a = EphemeralHostKey();
  auto b = EphemeralHostKey();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

}  // namespace
}  // namespace sluice
