#include "agent/state/cgroup_index.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::state {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Pair;

TEST(FindCgroup2MountTest, HybridLayout) {
  constexpr char kMounts[] =
      "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n"
      "tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0\n"
      "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n"
      "cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,xattr,name=systemd 0 0\n"
      "cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0\n";
  auto m = FindCgroup2Mount(kMounts);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m, "/sys/fs/cgroup/unified");
}

TEST(FindCgroup2MountTest, PureV2FirstOneWins) {
  constexpr char kMounts[] =
      "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
      "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n"
      "cgroup2 /run/other cgroup2 rw 0 0";  // no trailing newline
  auto m = FindCgroup2Mount(kMounts);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, "/sys/fs/cgroup");
}

TEST(FindCgroup2MountTest, DecodesOctalEscapes) {
  auto m = FindCgroup2Mount("none /mnt/my\\040cgroup\\134x cgroup2 rw 0 0\n");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, "/mnt/my cgroup\\x");
}

TEST(FindCgroup2MountTest, NoneIsNotFound) {
  constexpr char kMounts[] =
      "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n"
      "tmpfs /cgroup2 tmpfs rw 0 0\n"  // a mount point named like it is not the fs type
      "garbage\n\n";
  EXPECT_EQ(FindCgroup2Mount(kMounts).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FindCgroup2Mount("").status().code(), absl::StatusCode::kNotFound);
}

TEST(Cgroup2PathFromProcCgroupTest, HybridAndPure) {
  constexpr char kHybrid[] =
      "12:memory:/user.slice\n"
      "1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n"
      "0::/user.slice/user-1000.slice/session-2.scope\n";
  auto p = Cgroup2PathFromProcCgroup(kHybrid);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, "/user.slice/user-1000.slice/session-2.scope");

  auto root = Cgroup2PathFromProcCgroup("0::/\n");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, "/");

  auto colon = Cgroup2PathFromProcCgroup("0::/pod:abc/x");
  ASSERT_TRUE(colon.ok());
  EXPECT_EQ(*colon, "/pod:abc/x");
}

TEST(Cgroup2PathFromProcCgroupTest, StripsDeletedSuffix) {
  auto p = Cgroup2PathFromProcCgroup("0::/gone.scope (deleted)\n");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "/gone.scope");
}

TEST(Cgroup2PathFromProcCgroupTest, V1OnlyIsNotFound) {
  EXPECT_EQ(Cgroup2PathFromProcCgroup("4:cpu,cpuacct:/\n1:name=systemd:/init.scope\n")
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Cgroup2PathFromProcCgroup("").status().code(), absl::StatusCode::kNotFound);
}

// A plain directory tree stands in for cgroupfs: cgroup ids are directory inode numbers there.
class CgroupIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "cgroup_index_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    // Restore permissions first so the tree can be removed.
    for (auto& e : fs::recursive_directory_iterator(
             root_, fs::directory_options::skip_permission_denied, ec)) {
      if (e.is_directory(ec) && !e.is_symlink(ec)) chmod(e.path().c_str(), 0755);
    }
    chmod((root_ / "locked").c_str(), 0755);
    fs::remove_all(root_, ec);
  }

  uint64_t Id(const std::string& rel) {
    auto id = CgroupIndex::IdOf((root_ / rel).string());
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or(0);
  }

  fs::path root_;
};

TEST_F(CgroupIndexTest, ScanIndexesDirectoriesOnly) {
  fs::create_directories(root_ / "a" / "b");
  fs::create_directories(root_ / "system.slice" / "crm.service");
  std::ofstream(root_ / "a" / "cgroup.procs") << "1\n";
  fs::create_directory_symlink(root_ / "a", root_ / "link-to-a");

  CgroupIndex index(root_.string());
  ASSERT_TRUE(index.Scan().ok());
  EXPECT_THAT(index.All(),
              ElementsAre(Pair(Id("."), "/"), Pair(Id("a"), "/a"), Pair(Id("a/b"), "/a/b"),
                          Pair(Id("system.slice"), "/system.slice"),
                          Pair(Id("system.slice/crm.service"), "/system.slice/crm.service")));
  EXPECT_EQ(index.PathOf(Id("a/b")), "/a/b");
  EXPECT_EQ(index.PathOf(Id(".")), "/");
}

TEST_F(CgroupIndexTest, UnreadableDirectoryIsIndexedButNotDescended) {
  fs::create_directories(root_ / "locked" / "inner");
  const uint64_t inner = Id("locked/inner");
  ASSERT_EQ(chmod((root_ / "locked").c_str(), 0), 0);
  CgroupIndex index(root_.string());
  ASSERT_TRUE(index.Scan().ok());
  EXPECT_THAT(index.All(), Contains(Pair(Id("locked"), "/locked")));
  if (geteuid() != 0) {  // root reads it anyway
    EXPECT_EQ(index.size(), 2u);
    const uint64_t scans = index.scans();
    EXPECT_EQ(index.PathOf(inner), std::nullopt);
    EXPECT_EQ(index.scans(), scans + 1);  // one rescan, then give up
  }
}

TEST_F(CgroupIndexTest, MissRescansOnceAndFindsNewCgroups) {
  CgroupIndex index(root_.string());
  ASSERT_TRUE(index.Scan().ok());
  EXPECT_EQ(index.scans(), 1u);
  fs::create_directories(root_ / "late" / "child");
  EXPECT_EQ(index.PathOf(Id("late/child")), "/late/child");
  EXPECT_EQ(index.scans(), 2u);
  EXPECT_EQ(index.PathOf(Id("late")), "/late");  // found by the same rescan
  EXPECT_EQ(index.scans(), 2u);
  EXPECT_EQ(index.PathOf(987654321987ull), std::nullopt);
  EXPECT_EQ(index.scans(), 3u);
  EXPECT_EQ(index.PathOf(0), std::nullopt);  // never a cgroup id: no rescan
  EXPECT_EQ(index.scans(), 3u);
}

TEST_F(CgroupIndexTest, ScanDropsRemovedCgroups) {
  fs::create_directories(root_ / "gone");
  const uint64_t gone = Id("gone");
  CgroupIndex index(root_.string());
  ASSERT_TRUE(index.Scan().ok());
  EXPECT_EQ(index.size(), 2u);
  fs::remove(root_ / "gone");
  ASSERT_TRUE(index.Scan().ok());
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.PathOf(gone), std::nullopt);
}

TEST(CgroupIndexNoRootTest, AddWorksWithoutAReadableRoot) {
  CgroupIndex index("/nonexistent-cgroup-root");
  absl::Status s = index.Scan();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("/nonexistent-cgroup-root"));
  index.Add(77, "/crm");
  index.Add(78, "relative");
  EXPECT_EQ(index.PathOf(77), "/crm");
  EXPECT_EQ(index.PathOf(78), "/relative");
  EXPECT_EQ(index.PathOf(79), std::nullopt);  // the failed rescan keeps what was added
  EXPECT_EQ(index.PathOf(77), "/crm");
  EXPECT_THAT(index.All(), ElementsAre(Pair(77u, "/crm"), Pair(78u, "/relative")));
}

TEST(CgroupIndexIdOfTest, ErrorsNameThePath) {
  auto id = CgroupIndex::IdOf("/nonexistent/cg");
  EXPECT_FALSE(id.ok());
  EXPECT_THAT(std::string(id.status().message()), ::testing::HasSubstr("/nonexistent/cg"));
}

}  // namespace
}  // namespace sluice::state
