#include "agent/state/ledgers.h"

#include "gtest/gtest.h"

namespace sluice::state {
namespace {

ReadLedger::Update Read(uint32_t wl, uint32_t pid, uint64_t ino, uint64_t bytes, int64_t t) {
  ReadLedger::Update u;
  u.workload_id = wl;
  u.pid = pid;
  u.dev = 1;
  u.ino = ino;
  u.bytes_read = bytes;
  u.path = "/var/cache/llm/" + std::to_string(ino);
  u.file_class = "inference-cache";
  u.exe = "/usr/bin/python3";
  u.time_ms = t;
  return u;
}

TEST(ReadLedgerTest, KeepsCumulativeTotalsPerProcessAndFile) {
  ReadLedger l;
  EXPECT_EQ(l.Observe(Read(0, 10, 1, 100, 1000)), 100u);
  EXPECT_EQ(l.Observe(Read(0, 10, 1, 100, 2000)), 0u);  // no growth: last read time stays
  EXPECT_EQ(l.Observe(Read(0, 10, 1, 300, 3000)), 200u);
  EXPECT_EQ(l.Observe(Read(0, 10, 1, 200, 4000)), 0u);  // a stale read of the map
  auto reads = l.ForWorkload(0, ReadLedger::kAnyTree, 0);
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0].bytes(), 300u);
  EXPECT_EQ(reads[0].last_read_ms, 3000);
  EXPECT_TRUE(l.ForWorkload(0, ReadLedger::kAnyTree, 3001).empty());
  EXPECT_TRUE(l.ForWorkload(1, ReadLedger::kAnyTree, 0).empty());
}

TEST(ReadLedgerTest, RenumberFollowsReloadedIds) {
  ReadLedger l;
  l.Observe(Read(0, 10, 1, 100, 60000));  // workload 0 becomes 1
  l.Observe(Read(1, 11, 2, 50, 60000));   // workload 1 is removed
  l.Observe(Read(2, 12, 3, 70, 60000));   // workload 2 becomes 0
  l.Renumber({{0, 1}, {2, 0}});
  EXPECT_EQ(l.size(), 2u);
  ASSERT_EQ(l.ForWorkload(1, ReadLedger::kAnyTree, 0).size(), 1u);
  EXPECT_EQ(l.ForWorkload(1, ReadLedger::kAnyTree, 0)[0].pid, 10u);
  EXPECT_EQ(l.GrowthSince(1, ReadLedger::kAnyTree, {}, 60000), 100u);
  EXPECT_EQ(l.LastReadMs(1), 60000);
  ASSERT_EQ(l.ForWorkload(0, ReadLedger::kAnyTree, 0).size(), 1u);
  EXPECT_EQ(l.ForWorkload(0, ReadLedger::kAnyTree, 0)[0].pid, 12u);
  EXPECT_EQ(l.GrowthSince(0, ReadLedger::kAnyTree, {}, 60000), 70u);
  EXPECT_TRUE(l.ForWorkload(2, ReadLedger::kAnyTree, 0).empty());
  EXPECT_EQ(l.GrowthSince(2, ReadLedger::kAnyTree, {}, 0), 0u);
  EXPECT_EQ(l.LastReadMs(2), INT64_MIN);
  // Later totals of a moved entry grow it, not a second copy.
  EXPECT_EQ(l.Observe(Read(1, 10, 1, 150, 61000)), 50u);
  EXPECT_EQ(l.size(), 2u);
}

TEST(ReadLedgerTest, ForWorkloadFiltersClassesAndKeepsTheNewest) {
  ReadLedger l;
  for (uint64_t ino = 1; ino <= 10; ++ino) {
    ReadLedger::Update u = Read(0, 10, ino, 100, static_cast<int64_t>(ino) * 1000);
    if (ino % 2 == 0) u.file_class = "inference-log";
    l.Observe(u);
  }
  auto newest = l.ForWorkload(0, ReadLedger::kAnyTree, 0, {}, 3);
  ASSERT_EQ(newest.size(), 3u);
  EXPECT_EQ(newest[0].last_read_ms, 8000);  // oldest first among the newest three
  EXPECT_EQ(newest[2].last_read_ms, 10000);
  auto logs = l.ForWorkload(0, ReadLedger::kAnyTree, 0, {"inference-log"});
  ASSERT_EQ(logs.size(), 5u);
  for (const auto& r : logs) EXPECT_EQ(r.file_class, "inference-log");
  EXPECT_EQ(l.ForWorkload(0, ReadLedger::kAnyTree, 5000, {"inference-cache"}, 10).size(), 3u);  // 5, 7, 9
  EXPECT_TRUE(l.ForWorkload(0, ReadLedger::kAnyTree, 0, {}, 0).empty());
}

TEST(ReadLedgerTest, QueriesByProcessTree) {
  ReadLedger l;
  auto in_tree = [](ReadLedger::Update u, uint32_t tree) {
    u.tree = tree;
    return u;
  };
  l.Observe(in_tree(Read(1, 10, 1, 100, 60000), 10));  // tree 10
  l.Observe(in_tree(Read(1, 20, 2, 300, 61000), 20));  // tree 20
  l.Observe(in_tree(Read(1, 30, 3, 5, 62000), 0));     // lineage unknown: every tree's
  EXPECT_EQ(l.GrowthSince(1, 10, {}, 0), 105u);
  EXPECT_EQ(l.GrowthSince(1, 20, {}, 0), 305u);
  EXPECT_EQ(l.GrowthSince(1, 99, {}, 0), 5u);
  EXPECT_EQ(l.GrowthSince(1, ReadLedger::kAnyTree, {}, 0), 405u);
  EXPECT_EQ(l.LastReadMs(1, 10), 62000);  // the unknown-lineage read is the newest
  EXPECT_EQ(l.LastReadMs(2, 10), INT64_MIN);
  auto files = l.ForWorkload(1, 20, 0);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].pid, 20u);
  EXPECT_EQ(files[1].pid, 30u);
  EXPECT_EQ(l.ForWorkload(1, ReadLedger::kAnyTree, 0).size(), 3u);
  // Growth of an entry stays in its tree.
  l.Observe(in_tree(Read(1, 10, 1, 150, 63000), 10));
  EXPECT_EQ(l.GrowthSince(1, 10, {}, 0), 155u);
  EXPECT_EQ(l.GrowthSince(1, 20, {}, 0), 305u);
  // Renumbering keeps the trees.
  l.Renumber({{1, 4}});
  EXPECT_EQ(l.GrowthSince(4, 20, {}, 0), 305u);
  EXPECT_EQ(l.LastReadMs(4, 20), 62000);
}

TEST(ReadLedgerTest, ZeroTotalsAreNotReads) {
  ReadLedger l;
  EXPECT_EQ(l.Observe(Read(0, 10, 1, 0, 1000)), 0u);
  EXPECT_EQ(l.size(), 0u);
}

TEST(ReadLedgerTest, ForProcessAndExpire) {
  ReadLedger l;
  l.Observe(Read(0, 10, 1, 5, 1000));
  l.Observe(Read(0, 11, 2, 7, 2000));
  EXPECT_EQ(l.ForProcess(11).size(), 1u);
  EXPECT_EQ(l.ForProcess(11)[0].bytes(), 7u);
  l.Expire(1500);
  EXPECT_EQ(l.size(), 1u);
  EXPECT_TRUE(l.ForProcess(10).empty());
}

TEST(ReadLedgerTest, FullLedgerEvictsTheOldest) {
  ReadLedger l(2);
  l.Observe(Read(0, 1, 1, 5, 1000));
  l.Observe(Read(0, 2, 2, 5, 3000));
  l.Observe(Read(0, 3, 3, 5, 2000));
  EXPECT_EQ(l.size(), 2u);
  EXPECT_EQ(l.evicted(), 1u);
  EXPECT_TRUE(l.ForProcess(1).empty());
}

TEST(VolumeLedgerTest, SlidingWindowByMinute) {
  VolumeLedger v;
  EXPECT_EQ(v.Add("a", 100, 0, 120), 100u);
  EXPECT_EQ(v.Add("a", 50, 30'000, 120), 150u);   // same minute
  EXPECT_EQ(v.Add("a", 10, 61'000, 120), 160u);   // next minute, window 2 min
  EXPECT_EQ(v.Add("a", 1, 121'000, 120), 11u);    // minute 0 left the window
  EXPECT_EQ(v.Add("b", 7, 121'000, 120), 7u);     // keys are separate
}

TEST(VolumeLedgerTest, CapDropsTheStalestKey) {
  VolumeLedger v(2);
  v.Add("a", 1, 0, 60);
  v.Add("b", 1, 60'000, 60);
  v.Add("c", 1, 120'000, 60);
  EXPECT_EQ(v.size(), 2u);
  EXPECT_EQ(v.Add("a", 1, 120'000, 60), 1u);  // "a" was forgotten and starts over
}

TEST(NameRateTest, CountsDistinctNamesInTheLastMinute) {
  NameRate r;
  EXPECT_EQ(r.Observe("evil.test", "a.evil.test", 0), 1u);
  EXPECT_EQ(r.Observe("evil.test", "a.evil.test", 1000), 1u);
  EXPECT_EQ(r.Observe("evil.test", "b.evil.test", 2000), 2u);
  EXPECT_EQ(r.Observe("other.test", "b.other.test", 2000), 1u);
  // 61 s after the first: "a" at t=1000 is still inside the window (repeat kept it).
  EXPECT_EQ(r.Observe("evil.test", "c.evil.test", 61'000), 3u);
  EXPECT_EQ(r.Observe("evil.test", "d.evil.test", 62'500), 2u);  // a and b (t<=2000) left
}

TEST(TokenRegistryTest, ReportsAnotherFirstUser) {
  TokenRegistry t;
  detect::TokenOwner sync{"crm-sync", "/usr/bin/python3", 10};
  detect::TokenOwner thief{"llm-inference", "/usr/bin/curl", 20};
  EXPECT_FALSE(t.Use("fp1", sync));
  EXPECT_FALSE(t.Use("fp1", sync));
  auto first = t.Use("fp1", thief);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->workload, "crm-sync");
  EXPECT_EQ(first->pid, 10u);
  EXPECT_FALSE(t.Use("fp2", thief));
}

}  // namespace
}  // namespace sluice::state
