#include "agent/api/line_hub.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::api {
namespace {

using ::testing::ElementsAre;
using Result = LineHub::Subscription::Result;

std::vector<std::string> Jsons(const std::vector<LinePtr>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) out.push_back(l->json);
  return out;
}

std::vector<Delivery> Drain(LineHub::Subscription* sub) {
  std::vector<Delivery> out;
  while (sub->Next(absl::ZeroDuration(), &out) == Result::kLines) {
  }
  return out;
}

TEST(LineHubTest, BacklogKeepsTheNewestLines) {
  LineHub hub(/*backlog=*/3, /*queue_limit=*/8);
  for (int i = 0; i < 5; ++i) hub.Publish("exec", std::to_string(i));
  std::vector<LinePtr> backlog;
  EXPECT_EQ(hub.Subscribe({}, /*follow=*/false, &backlog), nullptr);
  EXPECT_THAT(Jsons(backlog), ElementsAre("2", "3", "4"));
  EXPECT_EQ(hub.published(), 5u);
}

TEST(LineHubTest, ZeroBacklogKeepsNothing) {
  LineHub hub(0, 8);
  hub.Publish("exec", "1");
  std::vector<LinePtr> backlog;
  hub.Subscribe({}, false, &backlog);
  EXPECT_TRUE(backlog.empty());
}

TEST(LineHubTest, TypeFilterAppliesToBacklogAndLiveLines) {
  LineHub hub(8, 8);
  hub.Publish("exec", "e1");
  hub.Publish("connect", "c1");
  std::vector<LinePtr> backlog;
  auto sub = hub.Subscribe({"connect", "flow"}, true, &backlog);
  ASSERT_NE(sub, nullptr);
  EXPECT_THAT(Jsons(backlog), ElementsAre("c1"));
  hub.Publish("exec", "e2");
  hub.Publish("flow", "f1");
  hub.Publish("connect", "c2");
  auto got = Drain(sub.get());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].line->json, "f1");
  EXPECT_EQ(got[1].line->json, "c2");
  EXPECT_EQ(got[1].line->type, "connect");
}

TEST(LineHubTest, FollowSeesEveryLineAfterTheBacklogExactlyOnce) {
  LineHub hub(2, 8);
  hub.Publish("a", "1");
  hub.Publish("a", "2");
  std::vector<LinePtr> backlog;
  auto sub = hub.Subscribe({}, true, &backlog);
  hub.Publish("a", "3");
  EXPECT_THAT(Jsons(backlog), ElementsAre("1", "2"));
  auto got = Drain(sub.get());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].line->json, "3");
  EXPECT_EQ(got[0].dropped_before, 0u);
}

TEST(LineHubTest, FullQueueDropsNewestAndReportsTheGapOnTheNextLine) {
  LineHub hub(0, /*queue_limit=*/2);
  std::vector<LinePtr> backlog;
  auto sub = hub.Subscribe({}, true, &backlog);
  for (int i = 0; i < 5; ++i) hub.Publish("a", std::to_string(i));  // 2 fit, 3 dropped
  EXPECT_EQ(hub.dropped(), 3u);
  auto got = Drain(sub.get());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].line->json, "0");
  EXPECT_EQ(got[1].line->json, "1");
  EXPECT_EQ(got[1].dropped_before, 0u);
  EXPECT_EQ(sub->TrailingDropped(), 3u);
  hub.Publish("a", "5");
  got = Drain(sub.get());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].line->json, "5");
  EXPECT_EQ(got[0].dropped_before, 3u);
  EXPECT_EQ(sub->TrailingDropped(), 0u);
}

TEST(LineHubTest, SlowSubscriberDoesNotAffectAnother) {
  LineHub hub(0, 2);
  std::vector<LinePtr> backlog;
  auto slow = hub.Subscribe({}, true, &backlog);
  auto fast = hub.Subscribe({}, true, &backlog);
  for (int i = 0; i < 10; ++i) {
    hub.Publish("a", std::to_string(i));
    EXPECT_EQ(Drain(fast.get()).size(), 1u);
  }
  EXPECT_EQ(Drain(slow.get()).size(), 2u);
  EXPECT_EQ(slow->TrailingDropped(), 8u);
  EXPECT_EQ(fast->TrailingDropped(), 0u);
}

TEST(LineHubTest, NextTimesOutWithoutLines) {
  LineHub hub(0, 2);
  std::vector<LinePtr> backlog;
  auto sub = hub.Subscribe({}, true, &backlog);
  std::vector<Delivery> out;
  EXPECT_EQ(sub->Next(absl::Milliseconds(5), &out), Result::kTimeout);
  EXPECT_TRUE(out.empty());
}

TEST(LineHubTest, CloseDrainsQueuedLinesThenEnds) {
  LineHub hub(4, 4);
  std::vector<LinePtr> backlog;
  auto sub = hub.Subscribe({}, true, &backlog);
  hub.Publish("a", "1");
  hub.Close();
  std::vector<Delivery> out;
  EXPECT_EQ(sub->Next(absl::Seconds(5), &out), Result::kLines);
  EXPECT_EQ(sub->Next(absl::Seconds(5), &out), Result::kClosed);
  ASSERT_EQ(out.size(), 1u);
  // After close a follower only gets the backlog.
  backlog.clear();
  EXPECT_EQ(hub.Subscribe({}, true, &backlog), nullptr);
  EXPECT_EQ(backlog.size(), 1u);
}

TEST(LineHubTest, DestroyingASubscriptionUnsubscribes) {
  LineHub hub(0, 4);
  std::vector<LinePtr> backlog;
  auto a = hub.Subscribe({}, true, &backlog);
  auto b = hub.Subscribe({}, true, &backlog);
  EXPECT_EQ(hub.subscribers(), 2u);
  a.reset();
  EXPECT_EQ(hub.subscribers(), 1u);
  hub.Publish("a", "1");
  EXPECT_EQ(Drain(b.get()).size(), 1u);
}

}  // namespace
}  // namespace sluice::api
