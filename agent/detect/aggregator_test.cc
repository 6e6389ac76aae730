#include "agent/detect/aggregator.h"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::detect {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

constexpr int64_t kT0 = 1717171700000;
constexpr int64_t kWindow = 60'000;

AlertAggregator::Options Opts(int64_t window_ms = kWindow, size_t max_keys = 65'536) {
  AlertAggregator::Options o;
  o.window_ms = window_ms;
  o.max_keys = max_keys;
  return o;
}

Alert Egress(int64_t time_ms, const std::string& ip = "203.0.113.9", uint16_t port = 443) {
  Alert a;
  a.uid = "uid-" + std::to_string(time_ms);
  a.detector = "unexpected_egress";
  a.title = "sync connected to 203.0.113.9:443 outside its allowlist";
  a.description = "python3 (pid 42) in workload sync connected to 203.0.113.9:443.";
  a.severity = Severity::kMedium;
  a.disposition = Disposition::kAllowed;
  a.rule_mode = "monitor";
  a.time_ms = time_ms;
  a.workload.name = "sync";
  a.process.pid = 42;
  a.process.exe = "/usr/bin/python3";
  a.destination.ip = ip;
  a.destination.port = port;
  a.destination.protocol = "tcp";
  a.destination.names = {"paste.evil.test"};
  a.attack_techniques = {"T1041"};
  a.bytes_out = 100;
  a.bytes_in = 10;
  return a;
}

Alert Archive(int64_t time_ms, const std::string& exe, std::vector<std::string> classes) {
  Alert a;
  a.detector = "archive_staging";
  a.title = "Sensitive files archived";
  a.time_ms = time_ms;
  a.workload.name = "inference";
  a.process.exe = exe;
  for (size_t i = 0; i < classes.size(); ++i) {
    a.files.push_back({"/var/cache/f" + std::to_string(i), classes[i], 4096, 0});
  }
  return a;
}

uint64_t TotalCount(const std::vector<Alert>& alerts) {
  uint64_t n = 0;
  for (const Alert& a : alerts) n += a.count;
  return n;
}

void Append(std::vector<Alert>& into, std::vector<Alert> more) {
  for (Alert& a : more) into.push_back(std::move(a));
}

TEST(AggregatorTest, FloodBecomesOneImmediateAlertAndOneSummary) {
  AlertAggregator agg(Opts());
  std::vector<Alert> emitted;
  for (int i = 0; i < 10'000; ++i) Append(emitted, agg.Offer(Egress(kT0 + i), kT0 + i));
  ASSERT_THAT(emitted, SizeIs(1));
  EXPECT_EQ(emitted[0].uid, "uid-" + std::to_string(kT0));
  EXPECT_EQ(emitted[0].count, 1u);
  EXPECT_EQ(emitted[0].first_seen_ms, kT0);
  EXPECT_EQ(emitted[0].last_seen_ms, kT0);
  EXPECT_EQ(emitted[0].title, Egress(kT0).title);

  EXPECT_THAT(agg.Flush(kT0 + kWindow - 1), IsEmpty());
  const std::vector<Alert> summary = agg.Flush(kT0 + kWindow);
  ASSERT_THAT(summary, SizeIs(1));
  const Alert& s = summary[0];
  EXPECT_EQ(s.count, 9'999u);
  EXPECT_EQ(s.first_seen_ms, kT0 + 1);
  EXPECT_EQ(s.last_seen_ms, kT0 + 9'999);
  EXPECT_EQ(s.time_ms, kT0 + 9'999);
  EXPECT_EQ(s.bytes_out, 9'999u * 100);
  EXPECT_EQ(s.bytes_in, 9'999u * 10);
  EXPECT_EQ(s.detector, "unexpected_egress");
  EXPECT_EQ(s.destination.ip, "203.0.113.9");
  EXPECT_EQ(s.workload.name, "sync");
  EXPECT_EQ(s.title, Egress(kT0).title + " (9999 more in 60 s)");
  EXPECT_THAT(s.description, HasSubstr("Aggregate of 9999 further alerts"));
  EXPECT_THAT(s.description, HasSubstr(Egress(kT0).description));
  // A fresh uid: neither the immediate alert's nor any absorbed one's.
  EXPECT_FALSE(s.uid.empty());
  EXPECT_THAT(s.uid, Not(HasSubstr("uid-")));

  const AlertAggregator::Stats st = agg.stats();
  EXPECT_EQ(st.offered, 10'000u);
  EXPECT_EQ(st.passed, 1u);
  EXPECT_EQ(st.absorbed, 9'999u);
  EXPECT_EQ(st.summaries, 1u);
  EXPECT_EQ(st.escalations, 0u);
  EXPECT_EQ(st.evicted, 0u);
  EXPECT_EQ(st.open_windows, 0u);
}

TEST(AggregatorTest, SummariesHaveDistinctUids) {
  AlertAggregator agg(Opts());
  std::set<std::string> uids;
  for (int w = 0; w < 3; ++w) {
    const int64_t start = kT0 + w * kWindow;
    for (int i = 0; i < 3; ++i) {
      for (const Alert& a : agg.Offer(Egress(start + i), start + i)) uids.insert(a.uid);
    }
    for (const Alert& a : agg.Flush(start + kWindow)) uids.insert(a.uid);
  }
  EXPECT_EQ(uids.size(), 6u);  // 3 immediate + 3 summaries
}

TEST(AggregatorTest, DifferentKeysAreNotMerged) {
  AlertAggregator agg(Opts());
  std::vector<Alert> variants;
  variants.push_back(Egress(kT0));
  variants.push_back(Egress(kT0, "203.0.113.10"));
  variants.push_back(Egress(kT0, "203.0.113.9", 8443));
  variants.push_back(Egress(kT0));
  variants.back().destination.names = {"other.evil.test"};
  variants.push_back(Egress(kT0));
  variants.back().destination.names.clear();
  variants.push_back(Egress(kT0));
  variants.back().workload.name = "inference";
  variants.push_back(Egress(kT0));
  variants.back().detector = "exfil_chain";
  for (const Alert& v : variants) EXPECT_THAT(agg.Offer(v, kT0), SizeIs(1));
  EXPECT_EQ(agg.stats().open_windows, variants.size());
  // The same set again is absorbed, each into its own window.
  for (const Alert& v : variants) EXPECT_THAT(agg.Offer(v, kT0 + 1), IsEmpty());
  const std::vector<Alert> summaries = agg.Flush(kT0 + kWindow);
  ASSERT_THAT(summaries, SizeIs(variants.size()));
  for (const Alert& s : summaries) EXPECT_EQ(s.count, 1u);
}

TEST(AggregatorTest, OnlyTheFirstNameIsPartOfTheKey) {
  AlertAggregator agg(Opts());
  ASSERT_THAT(agg.Offer(Egress(kT0), kT0), SizeIs(1));
  Alert more_names = Egress(kT0 + 1);
  more_names.destination.names.push_back("cdn.evil.test");
  more_names.process.pid = 43;  // another process of the same workload
  EXPECT_THAT(agg.Offer(more_names, kT0 + 1), IsEmpty());
}

TEST(AggregatorTest, HigherDispositionPassesAtOnceAndOpensANewWindow) {
  AlertAggregator agg(Opts());
  ASSERT_THAT(agg.Offer(Egress(kT0), kT0), SizeIs(1));
  for (int i = 1; i <= 3; ++i) ASSERT_THAT(agg.Offer(Egress(kT0 + i), kT0 + i), IsEmpty());

  Alert would_block = Egress(kT0 + 10);
  would_block.disposition = Disposition::kWouldBlock;
  std::vector<Alert> out = agg.Offer(would_block, kT0 + 10);
  // What the old window absorbed comes out first, then the escalation itself.
  ASSERT_THAT(out, SizeIs(2));
  EXPECT_EQ(out[0].count, 3u);
  EXPECT_EQ(out[0].disposition, Disposition::kAllowed);
  EXPECT_EQ(out[1].uid, would_block.uid);
  EXPECT_EQ(out[1].count, 1u);
  EXPECT_EQ(out[1].disposition, Disposition::kWouldBlock);

  // Nothing absorbed yet in the new window: the block passes alone.
  Alert blocked = Egress(kT0 + 20);
  blocked.disposition = Disposition::kBlocked;
  out = agg.Offer(blocked, kT0 + 20);
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].disposition, Disposition::kBlocked);

  // Lower ranks are absorbed into the Blocked window, and the new window runs from the block.
  Alert lower = Egress(kT0 + 30);
  EXPECT_THAT(agg.Offer(lower, kT0 + 30), IsEmpty());
  lower.disposition = Disposition::kWouldBlock;
  EXPECT_THAT(agg.Offer(lower, kT0 + 40), IsEmpty());
  EXPECT_THAT(agg.Flush(kT0 + 20 + kWindow - 1), IsEmpty());
  out = agg.Flush(kT0 + 20 + kWindow);
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].count, 2u);
  // The summary states the worst of what it absorbed, not of what passed before it.
  EXPECT_EQ(out[0].disposition, Disposition::kWouldBlock);
  EXPECT_EQ(agg.stats().escalations, 2u);
}

TEST(AggregatorTest, HigherSeverityPassesAtOnce) {
  AlertAggregator agg(Opts());
  ASSERT_THAT(agg.Offer(Egress(kT0), kT0), SizeIs(1));
  Alert high = Egress(kT0 + 1);
  high.severity = Severity::kHigh;
  std::vector<Alert> out = agg.Offer(high, kT0 + 1);
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].severity, Severity::kHigh);

  Alert low = Egress(kT0 + 2);
  low.severity = Severity::kLow;
  EXPECT_THAT(agg.Offer(low, kT0 + 2), IsEmpty());
  EXPECT_THAT(agg.Offer(Egress(kT0 + 3), kT0 + 3), IsEmpty());  // Medium < High
  out = agg.FlushAll();
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].count, 2u);
  EXPECT_EQ(out[0].severity, Severity::kMedium);
}

TEST(AggregatorTest, AlternatingLevelsDoNotPassInTurn) {
  AlertAggregator agg(Opts());
  Alert high_allowed = Egress(kT0);
  high_allowed.severity = Severity::kHigh;
  Alert medium_blocked = Egress(kT0);
  medium_blocked.disposition = Disposition::kBlocked;
  ASSERT_THAT(agg.Offer(high_allowed, kT0), SizeIs(1));
  ASSERT_THAT(agg.Offer(medium_blocked, kT0 + 1), SizeIs(1));  // Blocked is new
  // Both levels have now been reported at once: further alternation is absorbed.
  for (int i = 2; i < 100; ++i) {
    EXPECT_THAT(agg.Offer(i % 2 ? medium_blocked : high_allowed, kT0 + i), IsEmpty()) << i;
  }
  const std::vector<Alert> out = agg.FlushAll();
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].count, 98u);
  EXPECT_EQ(out[0].severity, Severity::kHigh);
  EXPECT_EQ(out[0].disposition, Disposition::kBlocked);
}

TEST(AggregatorTest, WindowBoundaries) {
  AlertAggregator agg(Opts());
  ASSERT_THAT(agg.Offer(Egress(kT0), kT0), SizeIs(1));
  // Last millisecond of the window: absorbed.
  EXPECT_THAT(agg.Offer(Egress(kT0 + kWindow - 1), kT0 + kWindow - 1), IsEmpty());
  // First millisecond after it, before any Flush: the old window's summary, then a new first.
  std::vector<Alert> out = agg.Offer(Egress(kT0 + kWindow), kT0 + kWindow);
  ASSERT_THAT(out, SizeIs(2));
  EXPECT_EQ(out[0].count, 1u);
  EXPECT_EQ(out[0].first_seen_ms, kT0 + kWindow - 1);
  EXPECT_EQ(out[0].last_seen_ms, kT0 + kWindow - 1);
  EXPECT_EQ(out[1].count, 1u);
  EXPECT_EQ(out[1].first_seen_ms, kT0 + kWindow);

  // The new window ends a full window after it opened.
  EXPECT_THAT(agg.Offer(Egress(kT0 + kWindow + 5), kT0 + kWindow + 5), IsEmpty());
  EXPECT_THAT(agg.Flush(kT0 + 2 * kWindow - 1), IsEmpty());
  EXPECT_THAT(agg.Flush(kT0 + 2 * kWindow), SizeIs(1));
  EXPECT_EQ(agg.stats().open_windows, 0u);
  // After the window: a first occurrence again.
  out = agg.Offer(Egress(kT0 + 2 * kWindow + 1), kT0 + 2 * kWindow + 1);
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].count, 1u);
}

TEST(AggregatorTest, WindowWithoutAbsorbedAlertsEndsSilently) {
  AlertAggregator agg(Opts());
  ASSERT_THAT(agg.Offer(Egress(kT0), kT0), SizeIs(1));
  EXPECT_THAT(agg.Flush(kT0 + kWindow), IsEmpty());
  EXPECT_EQ(agg.stats().open_windows, 0u);
  EXPECT_EQ(agg.stats().summaries, 0u);
}

TEST(AggregatorTest, FlushClosesOnlyExpiredWindows) {
  AlertAggregator agg(Opts());
  agg.Offer(Egress(kT0, "198.51.100.1"), kT0);
  agg.Offer(Egress(kT0 + 1, "198.51.100.1"), kT0 + 1);
  agg.Offer(Egress(kT0 + 1000, "198.51.100.2"), kT0 + 1000);
  agg.Offer(Egress(kT0 + 1001, "198.51.100.2"), kT0 + 1001);
  std::vector<Alert> out = agg.Flush(kT0 + kWindow);
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].destination.ip, "198.51.100.1");
  out = agg.Flush(kT0 + 1000 + kWindow);
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].destination.ip, "198.51.100.2");
}

TEST(AggregatorTest, ClockSteppingFarBackClosesWindows) {
  AlertAggregator agg(Opts());
  agg.Offer(Egress(kT0), kT0);
  agg.Offer(Egress(kT0 + 1), kT0 + 1);
  // Slightly out of order: still the same window.
  EXPECT_THAT(agg.Offer(Egress(kT0 - 5), kT0 - 5), IsEmpty());
  EXPECT_THAT(agg.Flush(kT0 - 5), IsEmpty());
  // Stepped back by more than a window: the summary is not held until the clock catches up.
  const std::vector<Alert> out = agg.Flush(kT0 - 2 * kWindow);
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].count, 2u);
  EXPECT_EQ(out[0].first_seen_ms, kT0 - 5);
  EXPECT_EQ(out[0].last_seen_ms, kT0 + 1);
}

TEST(AggregatorTest, FullTableClosesTheOldestWindowEarly) {
  AlertAggregator agg(Opts(kWindow, 3));
  const std::vector<std::string> ips = {"198.51.100.1", "198.51.100.2", "198.51.100.3"};
  for (size_t i = 0; i < ips.size(); ++i) {
    const int64_t t = kT0 + static_cast<int64_t>(i);
    ASSERT_THAT(agg.Offer(Egress(t, ips[i]), t), SizeIs(1));
    ASSERT_THAT(agg.Offer(Egress(t + 10, ips[i]), t + 10), IsEmpty());
  }
  // A fourth key: the oldest window's summary comes out with the new alert, not dropped.
  std::vector<Alert> out = agg.Offer(Egress(kT0 + 100, "198.51.100.4"), kT0 + 100);
  ASSERT_THAT(out, SizeIs(2));
  EXPECT_EQ(out[0].destination.ip, "198.51.100.1");
  EXPECT_EQ(out[0].count, 1u);
  EXPECT_EQ(out[1].destination.ip, "198.51.100.4");
  EXPECT_EQ(agg.stats().evicted, 1u);
  EXPECT_EQ(agg.stats().open_windows, 3u);

  // The evicted key is new again: its next alert passes (and evicts the next oldest).
  out = agg.Offer(Egress(kT0 + 200, "198.51.100.1"), kT0 + 200);
  ASSERT_THAT(out, SizeIs(2));
  EXPECT_EQ(out[0].destination.ip, "198.51.100.2");
  EXPECT_EQ(out[1].destination.ip, "198.51.100.1");
  EXPECT_EQ(out[1].count, 1u);

  // An evicted window that absorbed nothing emits nothing, but is still counted.
  out = agg.Offer(Egress(kT0 + 300, "198.51.100.5"), kT0 + 300);  // evicts .3 (absorbed 1)
  ASSERT_THAT(out, SizeIs(2));
  out = agg.Offer(Egress(kT0 + 400, "198.51.100.6"), kT0 + 400);  // evicts .4 (absorbed 0)
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].destination.ip, "198.51.100.6");
  EXPECT_EQ(agg.stats().evicted, 4u);
  EXPECT_EQ(agg.stats().open_windows, 3u);
}

TEST(AggregatorTest, FlushAllAtShutdownLosesNothing) {
  AlertAggregator agg(Opts(kWindow, 16));
  std::vector<Alert> emitted;
  uint64_t offered = 0;
  // 4 busy keys and 40 occasional ones over a 16-window table, with escalations, evictions and
  // expiries mixed in.
  for (int i = 0; i < 5'000; ++i) {
    const int64_t t = kT0 + i * 37;
    const int host = i % 3 == 0 ? 100 + i % 40 : i % 4;
    Alert a = Egress(t, "198.51.100." + std::to_string(host));
    if (i % 97 == 0) a.disposition = Disposition::kWouldBlock;
    if (i % 389 == 0) a.severity = Severity::kCritical;
    Append(emitted, agg.Offer(std::move(a), t));
    ++offered;
    if (i % 500 == 0) Append(emitted, agg.Flush(t));
  }
  Append(emitted, agg.FlushAll());
  EXPECT_EQ(TotalCount(emitted), offered);
  const AlertAggregator::Stats st = agg.stats();
  EXPECT_EQ(st.open_windows, 0u);
  EXPECT_EQ(st.offered, offered);
  EXPECT_EQ(st.passed + st.absorbed, offered);
  EXPECT_EQ(st.passed + st.summaries, emitted.size());
  EXPECT_GT(st.evicted, 0u);
  EXPECT_GT(st.escalations, 0u);
  EXPECT_THAT(agg.FlushAll(), IsEmpty());
}

TEST(AggregatorTest, WindowZeroPassesEverything) {
  AlertAggregator agg(Opts(0));
  for (int i = 0; i < 5; ++i) {
    Alert a = Egress(0);  // no event time: the caller's clock stands in
    std::vector<Alert> out = agg.Offer(a, kT0 + i);
    ASSERT_THAT(out, SizeIs(1));
    EXPECT_EQ(out[0].uid, a.uid);
    EXPECT_EQ(out[0].count, 1u);
    EXPECT_EQ(out[0].time_ms, kT0 + i);
    EXPECT_EQ(out[0].first_seen_ms, kT0 + i);
    EXPECT_EQ(out[0].last_seen_ms, kT0 + i);
  }
  EXPECT_THAT(agg.FlushAll(), IsEmpty());
  EXPECT_EQ(agg.stats().passed, 5u);
  EXPECT_EQ(agg.stats().open_windows, 0u);
}

TEST(AggregatorTest, MergesFilesDataAndTechniques) {
  AlertAggregator::Options o = Opts();
  o.max_files = 2;
  o.max_fingerprints = 3;
  AlertAggregator agg(o);
  Alert a = Egress(kT0);
  a.detector = "cache_dump";
  ASSERT_THAT(agg.Offer(a, kT0), SizeIs(1));

  Alert b = a;
  b.files = {{"/var/cache/kv/0.bin", "inference-cache", 1000, 0}};
  b.data = {{"email", 2, {"aa", "bb"}}};
  b.app_protocol = "http";
  b.sni = "paste.evil.test";
  b.encrypted = true;
  ASSERT_THAT(agg.Offer(b, kT0 + 1), IsEmpty());

  Alert c = a;
  c.files = {{"/var/cache/kv/0.bin", "inference-cache", 5000, 4096},  // running total grew
             {"/var/cache/kv/1.bin", "inference-cache", 700, 0},
             {"/var/cache/kv/2.bin", "inference-cache", 9, 0}};  // over max_files
  c.data = {{"email", 3, {"bb", "cc", "dd"}}, {"phone", 1, {"pp"}}};
  c.attack_techniques = {"T1041", "T1005"};
  c.process.pid = 77;
  ASSERT_THAT(agg.Offer(c, kT0 + 2), IsEmpty());

  const std::vector<Alert> out = agg.Flush(kT0 + kWindow);
  ASSERT_THAT(out, SizeIs(1));
  const Alert& s = out[0];
  EXPECT_EQ(s.count, 2u);
  EXPECT_EQ(s.bytes_out, 200u);
  EXPECT_THAT(s.files, ElementsAre(FileAccess{"/var/cache/kv/0.bin", "inference-cache", 5000, 4096},
                                   FileAccess{"/var/cache/kv/1.bin", "inference-cache", 700, 0}));
  EXPECT_THAT(s.data, ElementsAre(DataMatch{"email", 5, {"aa", "bb", "cc"}},
                                  DataMatch{"phone", 1, {"pp"}}));
  EXPECT_EQ(agg.stats().truncated, 2u);  // one file path, one fingerprint
  EXPECT_THAT(s.attack_techniques, UnorderedElementsAre("T1041", "T1005"));
  // The latest alert describes the summary; details it lacks come from earlier ones.
  EXPECT_EQ(s.process.pid, 77u);
  EXPECT_EQ(s.app_protocol, "http");
  EXPECT_EQ(s.sni, "paste.evil.test");
}

TEST(AggregatorTest, LocalFindingsKeyOnExeAndFileClasses) {
  AlertAggregator agg(Opts());
  ASSERT_THAT(agg.Offer(Archive(kT0, "/usr/bin/tar", {"inference-cache", "vector-index"}), kT0),
              SizeIs(1));
  // Same program, same classes in another order: the same activity.
  EXPECT_THAT(
      agg.Offer(Archive(kT0 + 1, "/usr/bin/tar", {"vector-index", "inference-cache"}), kT0 + 1),
      IsEmpty());
  // Another program, or another set of classes: reported at once.
  EXPECT_THAT(
      agg.Offer(Archive(kT0 + 2, "/usr/bin/zip", {"inference-cache", "vector-index"}), kT0 + 2),
      SizeIs(1));
  EXPECT_THAT(agg.Offer(Archive(kT0 + 3, "/usr/bin/tar", {"inference-log"}), kT0 + 3), SizeIs(1));
  EXPECT_EQ(agg.stats().open_windows, 3u);
}

TEST(AggregatorTest, DnsTunnelDomainsAreSeparateKeys) {
  AlertAggregator agg(Opts());
  auto tunnel = [](int64_t t, const std::string& domain) {
    Alert a;
    a.detector = "dns_tunnel";
    a.time_ms = t;
    a.workload.name = "inference";
    a.process.exe = "/usr/bin/python3";
    a.dns_domain = domain;
    a.destination.names = {domain};
    a.destination.port = 53;
    a.destination.protocol = "udp";
    return a;
  };
  ASSERT_THAT(agg.Offer(tunnel(kT0, "evil.test"), kT0), SizeIs(1));
  EXPECT_THAT(agg.Offer(tunnel(kT0 + 1, "evil.test"), kT0 + 1), IsEmpty());
  EXPECT_THAT(agg.Offer(tunnel(kT0 + 2, "other.test"), kT0 + 2), SizeIs(1));
}

TEST(AggregatorTest, PreAggregatedInputKeepsItsCount) {
  // Alerts replayed from a recording may already carry a count: it adds up, not 1 per alert.
  AlertAggregator agg(Opts());
  Alert a = Egress(kT0);
  ASSERT_THAT(agg.Offer(a, kT0), SizeIs(1));
  Alert b = Egress(kT0 + 1);
  b.count = 40;
  b.first_seen_ms = kT0 - 100;
  b.last_seen_ms = kT0 + 1;
  ASSERT_THAT(agg.Offer(b, kT0 + 1), IsEmpty());
  const std::vector<Alert> out = agg.FlushAll();
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].count, 40u);
  EXPECT_EQ(out[0].first_seen_ms, kT0 - 100);
  EXPECT_THAT(out[0].title, HasSubstr("(40 more in 60 s)"));
}

TEST(AggregatorTest, SubSecondWindowIsWrittenInSeconds) {
  AlertAggregator agg(Opts(1500));
  agg.Offer(Egress(kT0), kT0);
  agg.Offer(Egress(kT0 + 1), kT0 + 1);
  const std::vector<Alert> out = agg.Flush(kT0 + 1500);
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_THAT(out[0].title, HasSubstr("(1 more in 1.5 s)"));
  EXPECT_THAT(out[0].description, HasSubstr("Aggregate of 1 further alert "));
}

}  // namespace
}  // namespace sluice::detect
