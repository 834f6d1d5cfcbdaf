// server/pubsub.h: the pub/sub registry of one node: which client listens to which channel,
// pattern and shard channel, kept both ways (name -> subscribers, client -> names) so a
// publish touches only the channel's subscribers and the distinct patterns (never every
// client), and a disconnect only that client's subscriptions.
//
// Pure bookkeeping: it never dereferences a Client*, never writes to a socket. Delivery,
// the commands and the cluster fan-out are in server/commands_pubsub.cc; the semantics
// (Redis 7's, cluster: best effort, at most once, local receiver count) in the README,
// "Pub/Sub", and docs/ARCHITECTURE.md.
//
// Thread-safety: loop thread only.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace dynakv::server {

struct Client;

class PubSub {
 public:
  // Channels and shard channels are separate namespaces (PUBLISH never reaches an
  // SSUBSCRIBE); patterns match channels only, like Redis.
  enum class Kind { kChannel = 0, kPattern = 1, kShard = 2 };

  // True when the subscription is new (Redis replies to a repeated one all the same).
  bool Subscribe(Client* c, Kind kind, const std::string& name);
  // True when the client was subscribed.
  bool Unsubscribe(Client* c, Kind kind, const std::string& name);
  // The client's subscriptions of one kind, sorted (UNSUBSCRIBE without arguments).
  std::vector<std::string> SubscriptionsOf(const Client* c, Kind kind) const;
  size_t CountOf(const Client* c, Kind kind) const;
  // Everything the client listens to (the RESP2 "subscribed" state).
  size_t TotalOf(const Client* c) const;
  // Drops every subscription of the client (disconnect, RESET).
  void RemoveClient(const Client* c);

  // The receivers of a message on `channel`: its subscribers, then (for kChannel) one entry
  // per (client, matching pattern). `pattern` is null for a direct subscriber and points
  // into the registry otherwise: use it before the registry changes.
  struct Receiver {
    Client* client;
    const std::string* pattern;
  };
  void Receivers(Kind kind, std::string_view channel, std::vector<Receiver>* out) const;

  // PUBSUB: active channels (kChannel or kShard) matching `pattern` (null: all), unordered;
  // subscribers of one channel (patterns not counted); distinct patterns.
  std::vector<std::string> Channels(Kind kind, const std::string* pattern) const;
  size_t NumSub(Kind kind, const std::string& channel) const;
  size_t NumPat() const { return Active(Kind::kPattern); }
  size_t Active(Kind kind) const { return by_name_[size_t(kind)].size(); }  // INFO stats
  size_t clients() const { return by_client_.size(); }

 private:
  using Subscribers = std::unordered_set<Client*>;
  std::unordered_map<std::string, Subscribers> by_name_[3];
  struct ClientSubs {
    std::set<std::string> names[3];
    size_t total() const { return names[0].size() + names[1].size() + names[2].size(); }
  };
  std::unordered_map<const Client*, ClientSubs> by_client_;
};

class Server;

// Delivery (server/commands_pubsub.cc): sends `message` to this node's subscribers of
// `channel` and returns how many received it (a client counts once per matching pattern, as
// in Redis). The publisher's own copy, if it is a (RESP3) subscriber, is appended to
// *publisher_push instead, so it leads the publisher's reply as in Redis. A push goes behind
// every reply its client is still owed (docs/ARCHITECTURE.md, "Pub/Sub").
size_t PublishLocal(Server* server, PubSub::Kind kind, const std::string& channel,
                    const std::string& message, const Client* publisher = nullptr,
                    std::string* publisher_push = nullptr);

}  // namespace dynakv::server
