// The pub/sub registry (server/pubsub.h): subscriptions both ways, patterns, shard channels,
// the counts the replies carry, PUBSUB's views and the clean-up on disconnect. The replies
// and delivery are tested against real servers (tests/integration/pubsub_test.cc).
#include "server/pubsub.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "server/config.h"
#include "server/server.h"

namespace dynakv::server {
namespace {

using Kind = PubSub::Kind;

std::unique_ptr<Client> NewClient() { return std::make_unique<Client>(protocol::RespLimits{}); }

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// "client:pattern" per receiver ("-" for a direct subscriber), sorted.
std::vector<std::string> Receivers(const PubSub& ps, Kind kind, const std::string& channel,
                                   const std::vector<std::pair<const Client*, std::string>>& names) {
  std::vector<PubSub::Receiver> rs;
  ps.Receivers(kind, channel, &rs);
  std::vector<std::string> out;
  for (const auto& r : rs) {
    std::string who = "?";
    for (const auto& [c, n] : names) {
      if (c == r.client) who = n;
    }
    out.push_back(who + ":" + (r.pattern ? *r.pattern : "-"));
  }
  return Sorted(out);
}

TEST(PubSubRegistry, SubscribeAndUnsubscribeCountPerKind) {
  PubSub ps;
  auto a = NewClient();
  EXPECT_TRUE(ps.Subscribe(a.get(), Kind::kChannel, "c1"));
  EXPECT_TRUE(ps.Subscribe(a.get(), Kind::kChannel, "c2"));
  EXPECT_FALSE(ps.Subscribe(a.get(), Kind::kChannel, "c1"));  // already subscribed
  EXPECT_TRUE(ps.Subscribe(a.get(), Kind::kPattern, "c*"));
  EXPECT_TRUE(ps.Subscribe(a.get(), Kind::kShard, "c1"));  // a separate namespace
  EXPECT_EQ(ps.CountOf(a.get(), Kind::kChannel), 2u);
  EXPECT_EQ(ps.CountOf(a.get(), Kind::kPattern), 1u);
  EXPECT_EQ(ps.CountOf(a.get(), Kind::kShard), 1u);
  EXPECT_EQ(ps.TotalOf(a.get()), 4u);
  EXPECT_EQ(ps.SubscriptionsOf(a.get(), Kind::kChannel), (std::vector<std::string>{"c1", "c2"}));
  EXPECT_FALSE(ps.Unsubscribe(a.get(), Kind::kChannel, "nope"));
  EXPECT_FALSE(ps.Unsubscribe(a.get(), Kind::kPattern, "c1"));  // not a pattern of a
  EXPECT_TRUE(ps.Unsubscribe(a.get(), Kind::kChannel, "c1"));
  EXPECT_FALSE(ps.Unsubscribe(a.get(), Kind::kChannel, "c1"));
  EXPECT_EQ(ps.TotalOf(a.get()), 3u);
  EXPECT_EQ(ps.NumSub(Kind::kChannel, "c1"), 0u);
  EXPECT_EQ(ps.NumSub(Kind::kShard, "c1"), 1u);
  for (const auto& n : ps.SubscriptionsOf(a.get(), Kind::kChannel)) ps.Unsubscribe(a.get(), Kind::kChannel, n);
  ps.Unsubscribe(a.get(), Kind::kPattern, "c*");
  ps.Unsubscribe(a.get(), Kind::kShard, "c1");
  EXPECT_EQ(ps.TotalOf(a.get()), 0u);
  EXPECT_EQ(ps.clients(), 0u);  // nothing left behind
  EXPECT_TRUE(ps.Channels(Kind::kChannel, nullptr).empty());
  EXPECT_EQ(ps.NumPat(), 0u);
}

TEST(PubSubRegistry, ReceiversAreChannelSubscribersThenOnePerMatchingPattern) {
  PubSub ps;
  auto a = NewClient(), b = NewClient(), c = NewClient();
  std::vector<std::pair<const Client*, std::string>> names = {{a.get(), "a"}, {b.get(), "b"}, {c.get(), "c"}};
  ps.Subscribe(a.get(), Kind::kChannel, "news.eu");
  ps.Subscribe(a.get(), Kind::kPattern, "news.*");
  ps.Subscribe(a.get(), Kind::kPattern, "*");
  ps.Subscribe(b.get(), Kind::kPattern, "news.*");
  ps.Subscribe(b.get(), Kind::kPattern, "news.[a-e]?");
  ps.Subscribe(c.get(), Kind::kShard, "news.eu");
  EXPECT_EQ(Receivers(ps, Kind::kChannel, "news.eu", names),
            (std::vector<std::string>{"a:*", "a:-", "a:news.*", "b:news.*", "b:news.[a-e]?"}));
  EXPECT_EQ(Receivers(ps, Kind::kChannel, "news.us", names), (std::vector<std::string>{"a:*", "a:news.*", "b:news.*"}));
  EXPECT_EQ(Receivers(ps, Kind::kChannel, "sport", names), (std::vector<std::string>{"a:*"}));
  // Shard channels: only their own subscribers, patterns never match them.
  EXPECT_EQ(Receivers(ps, Kind::kShard, "news.eu", names), (std::vector<std::string>{"c:-"}));
  EXPECT_TRUE(Receivers(ps, Kind::kShard, "news.us", names).empty());
  EXPECT_EQ(ps.NumPat(), 3u);  // distinct patterns, as Redis counts them
}

TEST(PubSubRegistry, PubsubChannelsAndNumsub) {
  PubSub ps;
  auto a = NewClient(), b = NewClient();
  ps.Subscribe(a.get(), Kind::kChannel, "alpha");
  ps.Subscribe(b.get(), Kind::kChannel, "alpha");
  ps.Subscribe(b.get(), Kind::kChannel, "beta");
  ps.Subscribe(b.get(), Kind::kChannel, "");
  ps.Subscribe(b.get(), Kind::kPattern, "al*");
  ps.Subscribe(a.get(), Kind::kShard, "s1");
  EXPECT_EQ(Sorted(ps.Channels(Kind::kChannel, nullptr)), (std::vector<std::string>{"", "alpha", "beta"}));
  std::string pat = "a*", empty;
  EXPECT_EQ(ps.Channels(Kind::kChannel, &pat), (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(ps.Channels(Kind::kChannel, &empty), (std::vector<std::string>{""}));  // "" matches only ""
  EXPECT_EQ(ps.Channels(Kind::kShard, nullptr), (std::vector<std::string>{"s1"}));
  EXPECT_EQ(ps.NumSub(Kind::kChannel, "alpha"), 2u);  // the pattern does not count
  EXPECT_EQ(ps.NumSub(Kind::kChannel, "beta"), 1u);
  EXPECT_EQ(ps.NumSub(Kind::kChannel, "gamma"), 0u);
  ps.Unsubscribe(b.get(), Kind::kChannel, "beta");
  EXPECT_EQ(Sorted(ps.Channels(Kind::kChannel, nullptr)), (std::vector<std::string>{"", "alpha"}));
}

TEST(PubSubRegistry, RemoveClientDropsEverySubscriptionOfThatClientOnly) {
  PubSub ps;
  auto a = NewClient(), b = NewClient();
  for (int i = 0; i < 100; ++i) ps.Subscribe(a.get(), Kind::kChannel, "ch" + std::to_string(i));
  ps.Subscribe(a.get(), Kind::kPattern, "ch*");
  ps.Subscribe(a.get(), Kind::kShard, "s");
  ps.Subscribe(b.get(), Kind::kChannel, "ch1");
  ps.Subscribe(b.get(), Kind::kPattern, "ch*");
  ps.RemoveClient(a.get());
  ps.RemoveClient(a.get());  // twice is harmless
  EXPECT_EQ(ps.TotalOf(a.get()), 0u);
  EXPECT_EQ(ps.Channels(Kind::kChannel, nullptr), (std::vector<std::string>{"ch1"}));
  EXPECT_TRUE(ps.Channels(Kind::kShard, nullptr).empty());
  EXPECT_EQ(ps.NumPat(), 1u);
  std::vector<PubSub::Receiver> rs;
  ps.Receivers(Kind::kChannel, "ch1", &rs);
  ASSERT_EQ(rs.size(), 2u);
  for (const auto& r : rs) EXPECT_EQ(r.client, b.get());
  EXPECT_EQ(ps.clients(), 1u);
}

// Glob patterns go through StringMatch, which is linear-time: a pathological pattern against
// a long channel name must not stall a publish.
TEST(PubSubRegistry, PathologicalPatternStaysFast) {
  PubSub ps;
  auto a = NewClient();
  std::string pattern;
  for (int i = 0; i < 30; ++i) pattern += "a*";
  pattern += "b";
  ps.Subscribe(a.get(), Kind::kPattern, pattern);
  std::string channel(5000, 'a');
  std::vector<PubSub::Receiver> rs;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) ps.Receivers(Kind::kChannel, channel, &rs);
  EXPECT_TRUE(rs.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

// limits.client_output_buffer_limit_pubsub: Redis's hard pubsub limit by default, 0 = none,
// negative refused with the key's name.
TEST(PubSubConfig, OutputLimitKey) {
  Config c;
  EXPECT_EQ(c.client_output_buffer_limit_pubsub, 32ll << 20);
  ASSERT_TRUE(ApplyToml("[limits]\nclient_output_buffer_limit_pubsub = 0\n", "ps.toml", &c).ok());
  EXPECT_EQ(c.client_output_buffer_limit_pubsub, 0);
  EXPECT_TRUE(Validate(c).ok());
  c.client_output_buffer_limit_pubsub = -1;
  EXPECT_NE(Validate(c).message().find("limits.client_output_buffer_limit_pubsub"), std::string::npos);
}

}  // namespace
}  // namespace dynakv::server
