// server/commands_pubsub.cc: Pub/Sub: SUBSCRIBE PSUBSCRIBE SSUBSCRIBE UNSUBSCRIBE
// PUNSUBSCRIBE SUNSUBSCRIBE PUBLISH SPUBLISH PUBSUB RESET, and the delivery of messages to
// this node's subscribers (PublishLocal, also called for publishes from other nodes).
//
// Replies are Redis 7's, byte for byte: arrays on RESP2, push ('>') frames on RESP3. The
// registry is server/pubsub.h; the cluster fan-out is cluster::Node::Publish (README,
// "Pub/Sub": best effort, at most once, the reply counts local receivers only).
//
// Ordering: a message is a complete frame appended to its subscriber's output behind every
// reply the subscriber is still owed: straight to Client::out when no reply is waiting,
// else as an already-completed entry at the back of Client::waiting, which ReplyTo releases
// in order once the replies before it complete. So a push never splits or overtakes a reply
// (a RESP2 client reading a pipelined reply never sees a message in its place). A publisher
// subscribed to its own channel (RESP3) gets the message just before PUBLISH's integer, as
// from Redis. docs/ARCHITECTURE.md, "Pub/Sub".
#include <algorithm>

#include "server/commands.h"
#include "server/pubsub.h"

namespace dynakv::server {

namespace {

using protocol::RespWriter;
using Kind = PubSub::Kind;

// Bytes queued for the client and not yet written to its socket (the pushes waiting behind
// a slow reply are left out: they are bounded by that reply's timeout).
uint64_t Unread(const Client& c) {
  uint64_t n = c.out.size() + c.ready.size() + c.bytes_in_libuv;
  for (const auto& [batch, bytes] : c.held) n += bytes.size();
  return n;
}

// Appends one complete push frame to c's output, behind any reply it is still owed.
void Push(Server* s, Client* c, std::string_view bytes, std::vector<Client*>* over_limit) {
  if (c->closing) return;
  if (c->waiting.empty()) {
    c->out.append(bytes);
    c->out_shows_data = true;  // pushes keep the commit wait they always had
    s->MarkForFlush(c);
  } else {
    c->waiting.emplace_back();  // deque: the ReplyTo slots before it stay where they are
    c->waiting.back().buf.assign(bytes);
    c->waiting.back().done = true;
  }
  uint64_t limit = s->OutputLimit(*c);
  if (limit > 0 && Unread(*c) > limit) over_limit->push_back(c);
}

// The count a (un)subscribe reply carries: channels + patterns, or shard channels.
size_t CountFor(const PubSub& ps, const Client* c, Kind kind) {
  if (kind == Kind::kShard) return ps.CountOf(c, Kind::kShard);
  return ps.CountOf(c, Kind::kChannel) + ps.CountOf(c, Kind::kPattern);
}

void Subscribe(CommandCtx& ctx, Kind kind, const char* verb) {
  Client* c = ctx.client.get();
  PubSub& ps = ctx.server->pubsub();
  // Inside the writer: it does not run for a closing client, which must not be registered.
  ctx.reply.Send([&](RespWriter& w) {
    for (size_t i = 1; i < ctx.args.size(); ++i) {
      ps.Subscribe(c, kind, ctx.args[i]);
      w.Push(3);
      w.Bulk(verb);
      w.Bulk(ctx.args[i]);
      w.Int(int64_t(CountFor(ps, c, kind)));
    }
    c->subscriptions = ps.TotalOf(c);
  });
}

void Unsubscribe(CommandCtx& ctx, Kind kind, const char* verb) {
  Client* c = ctx.client.get();
  PubSub& ps = ctx.server->pubsub();
  ctx.reply.Send([&](RespWriter& w) {
    std::vector<std::string> names;
    if (ctx.args.size() > 1) names.assign(ctx.args.begin() + 1, ctx.args.end());
    else names = ps.SubscriptionsOf(c, kind);
    if (names.empty()) {  // nothing to leave: one reply with a nil channel
      w.Push(3);
      w.Bulk(verb);
      w.Null();
      w.Int(int64_t(CountFor(ps, c, kind)));
    }
    for (const std::string& name : names) {
      ps.Unsubscribe(c, kind, name);
      w.Push(3);
      w.Bulk(verb);
      w.Bulk(name);
      w.Int(int64_t(CountFor(ps, c, kind)));
    }
    c->subscriptions = ps.TotalOf(c);
  });
}

void CmdSubscribe(CommandCtx& ctx) { Subscribe(ctx, Kind::kChannel, "subscribe"); }
void CmdPsubscribe(CommandCtx& ctx) { Subscribe(ctx, Kind::kPattern, "psubscribe"); }
void CmdSsubscribe(CommandCtx& ctx) { Subscribe(ctx, Kind::kShard, "ssubscribe"); }
void CmdUnsubscribe(CommandCtx& ctx) { Unsubscribe(ctx, Kind::kChannel, "unsubscribe"); }
void CmdPunsubscribe(CommandCtx& ctx) { Unsubscribe(ctx, Kind::kPattern, "punsubscribe"); }
void CmdSunsubscribe(CommandCtx& ctx) { Unsubscribe(ctx, Kind::kShard, "sunsubscribe"); }

// PUBLISH / SPUBLISH: deliver here, send one frame to every other reachable node, reply
// with the local receiver count (Redis Cluster does the same).
void Publish(CommandCtx& ctx, Kind kind) {
  std::string own;
  size_t n = PublishLocal(ctx.server, kind, ctx.args[1], ctx.args[2], ctx.client.get(), &own);
  ctx.node()->Publish(ctx.args[1], ctx.args[2], kind == Kind::kShard);
  ctx.reply.Complete([&](std::string* out, int proto) {
    out->append(own);
    RespWriter(out, proto).Int(int64_t(n));
  });
}

void CmdPublish(CommandCtx& ctx) { Publish(ctx, Kind::kChannel); }
void CmdSpublish(CommandCtx& ctx) { Publish(ctx, Kind::kShard); }

void CmdPubsub(CommandCtx& ctx) {
  const PubSub& ps = ctx.server->pubsub();
  const auto& args = ctx.args;
  std::string sub = Lower(args[1]);
  if (sub == "channels" || sub == "shardchannels") {
    if (args.size() > 3) {
      return ReplyErr(ctx, "ERR unknown subcommand or wrong number of arguments for '" +
                               args[1].substr(0, 128) + "'. Try PUBSUB HELP.");
    }
    Kind kind = sub == "channels" ? Kind::kChannel : Kind::kShard;
    std::vector<std::string> names = ps.Channels(kind, args.size() == 3 ? &args[2] : nullptr);
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(names.size());
      for (const auto& name : names) w.Bulk(name);
    });
  }
  if (sub == "numsub" || sub == "shardnumsub") {
    Kind kind = sub == "numsub" ? Kind::kChannel : Kind::kShard;
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array((args.size() - 2) * 2);
      for (size_t i = 2; i < args.size(); ++i) {
        w.Bulk(args[i]);
        w.Int(int64_t(ps.NumSub(kind, args[i])));
      }
    });
  }
  if (sub == "numpat" || sub == "help") {
    if (args.size() != 2) return ReplyErr(ctx, "ERR wrong number of arguments for 'pubsub|" + sub + "' command");
    if (sub == "numpat") return ctx.reply.Send([&](RespWriter& w) { w.Int(int64_t(ps.NumPat())); });
    return ctx.reply.Send([](RespWriter& w) {
      static const char* const kLines[] = {
          "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
          "CHANNELS [<pattern>]",
          "    Return the currently active channels matching a <pattern> (default: '*').",
          "NUMPAT",
          "    Return number of subscriptions to patterns.",
          "NUMSUB [<channel> ...]",
          "    Return the number of subscribers for the specified channels, excluding",
          "    pattern subscriptions(default: no channels).",
          "SHARDCHANNELS [<pattern>]",
          "    Return the currently active shard level channels matching a <pattern> (default: '*').",
          "SHARDNUMSUB [<shardchannel> ...]",
          "    Return the number of subscribers for the specified shard level channel(s)",
          "HELP",
          "    Prints this help.",
      };
      w.Array(std::size(kLines));
      for (const char* line : kLines) w.Simple(line);
    });
  }
  ReplyErr(ctx, "ERR unknown subcommand '" + args[1].substr(0, 128) + "'. Try PUBSUB HELP.");
}

// RESET: the connection's state back to a fresh one: no subscriptions, no transaction or
// watched keys, RESP2, no name, and unauthenticated when a password is set.
void CmdReset(CommandCtx& ctx) {
  Client* c = ctx.client.get();
  Server* s = ctx.server;
  ctx.reply.Send([&](RespWriter& w) {
    s->pubsub().RemoveClient(c);
    c->subscriptions = 0;
    ClearTransaction(c);
    c->proto = 2;
    c->name.clear();
    c->authed = s->config().requirepass.empty();
    w.Simple("RESET");
  });
}

}  // namespace

size_t PublishLocal(Server* s, Kind kind, const std::string& channel, const std::string& message,
                    const Client* publisher, std::string* publisher_push) {
  std::vector<PubSub::Receiver> receivers;
  s->pubsub().Receivers(kind, channel, &receivers);
  if (receivers.empty()) return 0;
  const char* verb = kind == Kind::kShard ? "smessage" : "message";
  std::string direct[2];  // the plain message, RESP2 and RESP3, encoded on first use
  std::string scratch;
  std::vector<Client*> over_limit;
  for (const PubSub::Receiver& r : receivers) {
    Client* c = r.client;
    int p = c->proto >= 3 ? 1 : 0;
    std::string* bytes = &direct[p];
    if (r.pattern != nullptr) {
      scratch.clear();
      RespWriter w(&scratch, c->proto);
      w.Push(4);
      w.Bulk("pmessage");
      w.Bulk(*r.pattern);
      w.Bulk(channel);
      w.Bulk(message);
      bytes = &scratch;
    } else if (bytes->empty()) {
      RespWriter w(bytes, c->proto);
      w.Push(3);
      w.Bulk(verb);
      w.Bulk(channel);
      w.Bulk(message);
    }
    if (c == publisher && publisher_push != nullptr) publisher_push->append(*bytes);
    else Push(s, c, *bytes, &over_limit);
  }
  // Closed only now: closing edits the registry the receivers point into.
  for (Client* c : over_limit) {
    if (c->closing) continue;
    s->stats().output_limit_disconnects++;
    s->Log(cluster::Logger::Level::kWarn, "client " + std::to_string(c->id) + " " + c->peer +
                                              " closed for overcoming of output buffer limits");
    s->CloseClient(c);
  }
  return receivers.size();
}

void RegisterPubSub(std::vector<CommandSpec>* t) {
  t->insert(t->end(), {
                          {"subscribe", -2, kCmdPubSubOk, CmdSubscribe, 0, 0, 0},
                          {"psubscribe", -2, kCmdPubSubOk, CmdPsubscribe, 0, 0, 0},
                          {"ssubscribe", -2, kCmdPubSubOk, CmdSsubscribe, 1, -1, 1},
                          {"unsubscribe", -1, kCmdPubSubOk, CmdUnsubscribe, 0, 0, 0},
                          {"punsubscribe", -1, kCmdPubSubOk, CmdPunsubscribe, 0, 0, 0},
                          {"sunsubscribe", -1, kCmdPubSubOk, CmdSunsubscribe, 1, -1, 1},
                          {"publish", 3, kCmdFast, CmdPublish, 0, 0, 0},
                          {"spublish", 3, kCmdFast, CmdSpublish, 1, 1, 1},
                          {"pubsub", -2, 0, CmdPubsub, 0, 0, 0},
                          {"reset", 1, kCmdNoAuth | kCmdFast | kCmdPubSubOk, CmdReset, 0, 0, 0},
                      });
}

}  // namespace dynakv::server
