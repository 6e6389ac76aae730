#include "agent/state/process_table.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
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
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Pids above PID_MAX_LIMIT (2^22): never a real process, so no /proc lookup can find them.
constexpr uint32_t kFake = 5000000;

events::ExecEvent Exec(uint32_t pid, uint32_t ppid, std::string filename = "/bin/true") {
  events::ExecEvent e;
  e.hdr = {SLUICE_EV_EXEC, 1000, pid, pid, 42};
  e.ppid = ppid;
  e.uid = 1000;
  e.comm = "comm";
  e.filename = std::move(filename);
  return e;
}

// A string literal with its embedded NULs (but not the terminating one).
template <size_t N>
std::string Lit(const char (&s)[N]) {
  return std::string(s, N - 1);
}

events::ExitEvent Exit(uint32_t pid) { return {{SLUICE_EV_EXIT, 2000, pid, pid, 42}, 0}; }

class FakeProcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "fake_proc_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    base_ = tmpl;
    proc_ = base_ / "proc";
    fs::create_directories(proc_);
    fs::create_directories(base_ / "bin");
    Write(base_ / "bin" / "init", "ELF");
    Write(base_ / "bin" / "python3", "ELF");

    AddProcess(1, "systemd", Lit("/sbin/init\0splash\0"), "Name:\tsystemd\nPPid:\t0\n"
               "Uid:\t0\t0\t0\t0\n", base_ / "bin" / "init");
    AddProcess(100, "python3", Lit("python3\0serve.py\0--port\0008080\0"),
               "Name:\tpython3\nUmask:\t0022\nPPid:\t1\nTracerPid:\t0\nUid:\t1000\t0\t0\t0\n",
               base_ / "bin" / "python3");
    Write(proc_ / "100" / "stat",
          "100 (py (x) y) S 1 100 100 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 12345 1 2 3\n");
    // A kernel thread: no exe link, empty cmdline.
    AddProcess(2, "kthreadd", "", "Name:\tkthreadd\nPPid:\t0\nUid:\t0\t0\t0\t0\n", "");
    // A process whose binary was deleted: the link reads "... (deleted)".
    AddProcess(200, "old", "old", "PPid:\t100\nUid:\t7\t7\t7\t7\n", "");
    fs::create_symlink(base_ / "bin" / "old (deleted)", proc_ / "200" / "exe");
    // A process that vanished mid-scan (its directory is still listed), and non-processes.
    fs::create_directories(proc_ / "300");
    fs::create_directories(proc_ / "sys");
    fs::create_directories(proc_ / "12ab");
    fs::create_directory_symlink(proc_ / "100", proc_ / "self");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  static void Write(const fs::path& p, const std::string& content) {
    std::ofstream out(p, std::ios::binary);
    out << content;
  }

  void AddProcess(uint32_t pid, const std::string& comm, const std::string& cmdline,
                  const std::string& status, const fs::path& exe) {
    fs::path dir = proc_ / std::to_string(pid);
    fs::create_directories(dir);
    Write(dir / "comm", comm + "\n");
    Write(dir / "cmdline", cmdline);
    Write(dir / "status", status);
    if (!exe.empty()) fs::create_symlink(exe, dir / "exe");
  }

  fs::path base_, proc_;
};

TEST_F(FakeProcTest, SeedReadsEveryProcess) {
  ProcessTable table;
  ASSERT_TRUE(table.SeedFromProc(proc_.string()).ok());
  EXPECT_THAT(table.Pids(), ElementsAre(1, 2, 100, 200));

  auto init = table.Get(1);
  ASSERT_TRUE(init.has_value());
  EXPECT_EQ(init->ppid, 0u);
  EXPECT_EQ(init->uid, 0u);
  EXPECT_EQ(init->comm, "systemd");
  EXPECT_EQ(init->cmdline, "/sbin/init splash");
  EXPECT_EQ(init->exe, (base_ / "bin" / "init").string());

  auto py = table.Get(100);
  ASSERT_TRUE(py.has_value());
  EXPECT_EQ(py->ppid, 1u);
  EXPECT_EQ(py->uid, 1000u);  // real uid, not the effective one
  EXPECT_EQ(py->comm, "python3");
  EXPECT_EQ(py->cmdline, "python3 serve.py --port 8080");
  EXPECT_EQ(py->exe, (base_ / "bin" / "python3").string());
  EXPECT_EQ(py->cgroup_id, 0u);
  struct stat st;
  ASSERT_EQ(stat((base_ / "bin" / "python3").c_str(), &st), 0);
  EXPECT_EQ(py->exe_ino, st.st_ino);
  const uint32_t maj = major(st.st_dev), min = minor(st.st_dev);
  EXPECT_EQ(py->exe_dev, (min & 0xff) | (maj << 8) | ((min & ~0xffu) << 12));
  EXPECT_EQ(py->start_ns, 12345 * (1000000000LL / sysconf(_SC_CLK_TCK)));

  auto kthread = table.Get(2);
  ASSERT_TRUE(kthread.has_value());
  EXPECT_EQ(kthread->exe, "");
  EXPECT_EQ(kthread->cmdline, "");
  EXPECT_EQ(kthread->exe_ino, 0u);

  auto deleted = table.Get(200);
  ASSERT_TRUE(deleted.has_value());
  EXPECT_EQ(deleted->exe, (base_ / "bin" / "old").string());
  EXPECT_EQ(deleted->comm, "old");
  EXPECT_EQ(deleted->uid, 7u);
}

TEST_F(FakeProcTest, CmdlineIsBounded) {
  Write(proc_ / "100" / "cmdline", std::string(2000, 'a') + '\0');
  ProcessTable table;
  ASSERT_TRUE(table.SeedFromProc(proc_.string()).ok());
  EXPECT_EQ(table.Get(100)->cmdline, std::string(ProcessTable::kMaxCmdline, 'a'));
}

TEST_F(FakeProcTest, MissingProcRootIsAnError) {
  ProcessTable table;
  absl::Status s = table.SeedFromProc((base_ / "nope").string());
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("nope"));
}

TEST_F(FakeProcTest, GetLooksUpAProcessStartedAfterTheSeed) {
  ProcessTable table;
  ASSERT_TRUE(table.SeedFromProc(proc_.string()).ok());
  EXPECT_EQ(table.size(), 4u);
  EXPECT_EQ(table.Get(400), std::nullopt);
  AddProcess(400, "late", Lit("late\0"), "PPid:\t100\nUid:\t5\t5\t5\t5\n", "");
  auto late = table.Get(400);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->comm, "late");
  EXPECT_EQ(late->ppid, 100u);
  EXPECT_EQ(table.size(), 5u);  // cached
  fs::remove_all(proc_ / "400");
  EXPECT_TRUE(table.Get(400).has_value());
}

TEST_F(FakeProcTest, ExecTakesExeAndCmdlineFromProcWhenTheImageMatches) {
  ProcessTable table;
  ASSERT_TRUE(table.SeedFromProc(proc_.string()).ok());
  struct stat st;
  ASSERT_EQ(stat((base_ / "bin" / "python3").c_str(), &st), 0);
  auto e = Exec(100, 1, "python3");  // relative, as execvp may pass it
  e.exe_ino = st.st_ino;
  e.comm = "python3";
  table.OnExec(e);
  auto p = table.Get(100);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->exe, (base_ / "bin" / "python3").string());
  EXPECT_EQ(p->cmdline, "python3 serve.py --port 8080");
  EXPECT_EQ(p->cgroup_id, 42u);
  EXPECT_EQ(p->start_ns, 1000);
}

TEST_F(FakeProcTest, ExecIgnoresProcWhenItShowsAnotherImage) {
  ProcessTable table;
  ASSERT_TRUE(table.SeedFromProc(proc_.string()).ok());
  auto e = Exec(100, 1, "/opt/tools/exfil");
  e.exe_ino = 1;  // not the inode /proc/100/exe points at: pid reused or exec'd again
  table.OnExec(e);
  auto p = table.Get(100);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->exe, "/opt/tools/exfil");
  EXPECT_EQ(p->cmdline, "");
  EXPECT_EQ(p->exe_ino, 1u);
}

TEST(ProcessTableTest, ExecOfAGoneProcessUsesTheEvent) {
  ProcessTable table;
  auto e = Exec(kFake, 1, "/usr/bin/curl");
  e.uid = 33;
  e.exe_ino = 77;
  e.exe_dev = 0x801;
  e.comm = "curl";
  table.OnExec(e);
  auto p = table.Get(kFake);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->pid, kFake);
  EXPECT_EQ(p->ppid, 1u);
  EXPECT_EQ(p->uid, 33u);
  EXPECT_EQ(p->exe, "/usr/bin/curl");
  EXPECT_EQ(p->comm, "curl");
  EXPECT_EQ(p->exe_ino, 77u);
  EXPECT_EQ(p->exe_dev, 0x801u);
  EXPECT_EQ(p->cgroup_id, 42u);
}

TEST(ProcessTableTest, ProcessTreesFollowTheCgroup) {
  ProcessTable table;
  table.DisableProcLookup();
  // A shell started into cgroup 42 by a parent elsewhere (cgroup 7) roots a tree.
  auto runner = Exec(kFake, 1, "/bin/bash");
  runner.hdr.cgroup_id = 7;
  table.OnExec(runner);
  events::ForkEvent fork{{SLUICE_EV_FORK, 1100, kFake, kFake, 7}, kFake + 1, 0};
  table.OnFork(fork);
  EXPECT_EQ(table.Find(kFake + 1)->tree, kFake);  // a fork copy is its parent's
  auto sh = Exec(kFake + 1, kFake, "/bin/sh");    // moved itself into 42, then exec'd
  table.OnExec(sh);
  EXPECT_EQ(table.Find(kFake + 1)->tree, kFake + 1);
  // Its children in the same cgroup join its tree, across their own execs.
  table.OnFork({{SLUICE_EV_FORK, 1200, kFake + 1, kFake + 1, 42}, kFake + 2, 0});
  table.OnExec(Exec(kFake + 2, kFake + 1, "/bin/nc"));
  EXPECT_EQ(table.Find(kFake + 2)->tree, kFake + 1);
  table.OnExec(Exec(kFake + 2, kFake + 1, "/bin/nc.openbsd"));
  EXPECT_EQ(table.Find(kFake + 2)->tree, kFake + 1);
  // Another shell started into the same cgroup is another tree.
  table.OnFork({{SLUICE_EV_FORK, 1300, kFake, kFake, 7}, kFake + 3, 0});
  table.OnExec(Exec(kFake + 3, kFake, "/bin/sh"));
  EXPECT_EQ(table.Find(kFake + 3)->tree, kFake + 3);
  // Lineage unknown: a process whose parent the table never saw roots its own tree; one seeded
  // as a snapshot has none (0: it may belong to any tree of its workload).
  table.OnExec(Exec(kFake + 4, kFake + 99, "/bin/true"));
  EXPECT_EQ(table.Find(kFake + 4)->tree, kFake + 4);
  ProcessEntry seeded;
  seeded.pid = kFake + 5;
  seeded.cgroup_id = 42;
  table.Upsert(seeded);
  EXPECT_EQ(table.Find(kFake + 5)->tree, 0u);
}

TEST(ProcessTableTest, ExecReplacesAndAnExitedProcessLingers) {
  ProcessTable table;
  table.OnExec(Exec(kFake, 1, "/bin/sh"));
  table.OnExec(Exec(kFake, 1, "/usr/bin/curl"));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.Get(kFake)->exe, "/usr/bin/curl");
  table.OnExit(Exit(kFake + 1));  // unknown: nothing happens
  EXPECT_EQ(table.size(), 1u);
  table.OnExit(Exit(kFake));
  // What it did still reaches the agent after its exit (totals read from kernel maps): it stays
  // known, marked exited, for kExitLingerNs.
  ASSERT_TRUE(table.Get(kFake).has_value());
  EXPECT_EQ(table.Get(kFake)->exe, "/usr/bin/curl");
  EXPECT_EQ(table.Get(kFake)->exited_ns, 2000u);
  events::ExitEvent later = Exit(kFake + 2);
  later.hdr.ts_ns = 2000 + kExitLingerNs - 1;
  table.OnExit(later);
  EXPECT_TRUE(table.Get(kFake).has_value());
  later.hdr.ts_ns = 2000 + kExitLingerNs;
  table.OnExit(later);
  EXPECT_EQ(table.Get(kFake), std::nullopt);
  EXPECT_EQ(table.evictions(), 0u);
}

TEST(ProcessTableTest, AReusedPidIsNotRemovedWithTheProcessThatHadIt) {
  ProcessTable table;
  table.OnExec(Exec(kFake, 1, "/usr/bin/tar"));
  table.OnExit(Exit(kFake));
  table.OnExec(Exec(kFake, 1, "/usr/bin/curl"));  // the pid, reused
  events::ExitEvent later = Exit(kFake + 2);
  later.hdr.ts_ns = 2000 + kExitLingerNs;
  table.OnExit(later);
  ASSERT_TRUE(table.Get(kFake).has_value());
  EXPECT_EQ(table.Get(kFake)->exe, "/usr/bin/curl");
  EXPECT_EQ(table.Get(kFake)->exited_ns, 0u);
}

TEST(ProcessTableTest, FullTableEvictsTheLeastRecentlyUsed) {
  ProcessTable table(3);
  table.OnExec(Exec(kFake + 1, 1));
  table.OnExec(Exec(kFake + 2, 1));
  table.OnExec(Exec(kFake + 3, 1));
  EXPECT_TRUE(table.Get(kFake + 1).has_value());  // now the most recently used
  table.OnExec(Exec(kFake + 4, 1));
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.evictions(), 1u);
  EXPECT_EQ(table.Get(kFake + 2), std::nullopt);
  EXPECT_THAT(table.Pids(), ElementsAre(kFake + 1, kFake + 3, kFake + 4));

  for (uint32_t i = 10; i < 110; ++i) table.OnExec(Exec(kFake + i, 1));
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.evictions(), 101u);
  EXPECT_THAT(table.Pids(), ElementsAre(kFake + 107, kFake + 108, kFake + 109));
}

TEST(ProcessTableTest, ReplacingAnEntryDoesNotEvict) {
  ProcessTable table(2);
  table.OnExec(Exec(kFake + 1, 1));
  table.OnExec(Exec(kFake + 2, 1));
  table.OnExec(Exec(kFake + 1, 1, "/bin/again"));
  EXPECT_EQ(table.evictions(), 0u);
  EXPECT_EQ(table.size(), 2u);
}

TEST(ProcessTableTest, AncestorsFollowTheParentChain) {
  ProcessTable table;
  table.OnExec(Exec(kFake + 1, 0));
  table.OnExec(Exec(kFake + 2, kFake + 1));
  table.OnExec(Exec(kFake + 3, kFake + 2));
  EXPECT_THAT(table.Ancestors(kFake + 3), ElementsAre(kFake + 2, kFake + 1));
  EXPECT_THAT(table.Ancestors(kFake + 3, 1), ElementsAre(kFake + 2));
  EXPECT_THAT(table.Ancestors(kFake + 1), IsEmpty());
  EXPECT_THAT(table.Ancestors(kFake + 99), IsEmpty());  // unknown process
}

TEST(ProcessTableTest, AncestorsEndAfterAnUnknownParent) {
  ProcessTable table;
  table.OnExec(Exec(kFake + 1, kFake + 50));
  EXPECT_THAT(table.Ancestors(kFake + 1), ElementsAre(kFake + 50));
}

TEST(ProcessTableTest, AncestorsSurviveCycles) {
  // Lost exit events plus pid reuse can leave entries pointing at each other.
  ProcessTable table;
  table.OnExec(Exec(kFake + 1, kFake + 2));
  table.OnExec(Exec(kFake + 2, kFake + 3));
  table.OnExec(Exec(kFake + 3, kFake + 1));
  EXPECT_THAT(table.Ancestors(kFake + 1), ElementsAre(kFake + 2, kFake + 3));
  table.OnExec(Exec(kFake + 4, kFake + 4));  // its own parent
  EXPECT_THAT(table.Ancestors(kFake + 4), IsEmpty());
}

TEST(ProcessTableTest, SeedsFromTheRealProc) {
  ProcessTable table;
  ASSERT_TRUE(table.SeedFromProc().ok());
  auto self = table.Get(static_cast<uint32_t>(getpid()));
  ASSERT_TRUE(self.has_value());
  EXPECT_EQ(self->uid, getuid());
  EXPECT_FALSE(self->exe.empty());
  EXPECT_GT(self->exe_ino, 0u);
  EXPECT_GT(self->start_ns, 0);
}

}  // namespace
}  // namespace sluice::state
