// server/lists.cc: see lists.h. The list engine itself is cluster/list_engine.cc.
#include "server/lists.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace dynakv::server {

namespace {

// The channel members announce pushes on (Node::Publish; a client's PUBLISH to it only wakes
// blocked pops for a re-check).
const char kPushChannel[] = "__dynakv:list-pushed";

struct Blocked {
  std::shared_ptr<Client> client;
  std::vector<std::string> keys;
  uint64_t deadline_ms = 0;
  uint64_t next_try_ms = 0;
  std::function<void(std::function<void(bool)>)> attempt;
  std::function<void()> timeout;
  bool trying = false, again = false, finished = false;
};

}  // namespace

// Server::lists: the blocked pops and the pushes to announce on this server.
struct ListEngine {
  std::unordered_map<std::string, std::vector<std::shared_ptr<Blocked>>> blocked;
  size_t blocked_count = 0;
  bool poller = false;
  std::unordered_set<std::string> to_announce;
};

namespace {

ListEngine& Engine(Server* s) {
  if (!s->lists) {
    s->lists = std::make_shared<ListEngine>();
  }
  return *s->lists;
}

}  // namespace

void ListStore(Server* s, const std::string& dest, std::vector<std::string> values,
               std::function<void(Status, int64_t)> done) {
  ReadAnyKey(s, dest, 0, [s, dest, values = std::move(values), done = std::move(done)](Status st, KeyView cur) mutable {
    if (!st.ok()) return done(st, 0);
    auto fill = [s, dest, values = std::move(values), done](Status ds) mutable {
      if (!ds.ok() || values.empty()) return done(ds, 0);
      ListPushNow(s, dest, CollectionState{}, /*left=*/false, std::move(values), done);
    };
    DeleteAny(s, dest, cur, std::move(fill));
  });
}

namespace {

void Try(Server* s, const std::shared_ptr<Blocked>& b);

void Unblock(Server* s, const std::shared_ptr<Blocked>& b) {
  if (b->finished) return;
  b->finished = true;
  ListEngine& e = Engine(s);
  e.blocked_count--;
  for (const std::string& k : b->keys) {
    auto it = e.blocked.find(k);
    if (it == e.blocked.end()) continue;
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), b), v.end());
    if (v.empty()) e.blocked.erase(it);
  }
}

void Try(Server* s, const std::shared_ptr<Blocked>& b) {
  if (b->finished) return;
  if (b->trying) {
    b->again = true;
    return;
  }
  b->trying = true;
  b->again = false;
  b->next_try_ms = s->NowMs() + 1000;
  b->attempt([s, b](bool answered) {
    b->trying = false;
    if (b->finished) return;
    if (answered) return Unblock(s, b);
    if (b->again) Try(s, b);
  });
}

// Every tick while anything is blocked or announced: timeouts, closed clients, the
// once-a-second retry, and the announcements of this tick's pushes.
bool Tick(Server* s) {
  ListEngine& e = Engine(s);
  if (!e.to_announce.empty()) {
    std::string msg;
    for (const std::string& k : e.to_announce) {
      uint32_t n = uint32_t(k.size());
      for (int i = 3; i >= 0; i--) msg.push_back(char((n >> (8 * i)) & 0xff));
      msg += k;
    }
    e.to_announce.clear();
    s->node()->Publish(kPushChannel, msg, false);
  }
  uint64_t now = s->NowMs();
  std::vector<std::shared_ptr<Blocked>> all;
  for (auto& [k, v] : e.blocked)
    for (auto& b : v) all.push_back(b);
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  for (auto& b : all) {
    if (b->finished) continue;
    if (b->client->closing) {
      Unblock(s, b);
    } else if (b->deadline_ms != 0 && now >= b->deadline_ms && !b->trying) {
      Unblock(s, b);
      b->timeout();
    } else if (now >= b->next_try_ms) {
      Try(s, b);
    }
  }
  if (e.blocked_count == 0 && e.to_announce.empty()) {
    e.poller = false;
    return true;
  }
  return false;
}

void EnsurePoller(Server* s) {
  ListEngine& e = Engine(s);
  if (e.poller) return;
  e.poller = true;
  s->AddPoller([s]() { return Tick(s); });
}

}  // namespace

void ListBlock(Server* s, std::shared_ptr<Client> c, std::vector<std::string> keys, uint64_t deadline_ms,
               std::function<void(std::function<void(bool)>)> attempt, std::function<void()> timeout) {
  auto b = std::make_shared<Blocked>();
  b->client = std::move(c);
  b->keys = std::move(keys);
  b->deadline_ms = deadline_ms;
  b->next_try_ms = s->NowMs() + 1000;
  b->attempt = std::move(attempt);
  b->timeout = std::move(timeout);
  ListEngine& e = Engine(s);
  std::vector<std::string> uniq = b->keys;
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
  for (const std::string& k : uniq) e.blocked[k].push_back(b);
  e.blocked_count++;
  EnsurePoller(s);
}

void ListPushed(Server* s, const std::string& key, bool announce) {
  ListEngine& e = Engine(s);
  if (announce && !s->config().cluster_addr.empty()) {
    e.to_announce.insert(key);
    EnsurePoller(s);
  }
  auto it = e.blocked.find(key);
  if (it == e.blocked.end()) return;
  std::vector<std::shared_ptr<Blocked>> waiting = it->second;  // oldest first
  for (auto& b : waiting) Try(s, b);
}

void Server::OnListPushed(const std::string& key) { ListPushed(this, key, true); }
bool Server::MayHoldList(const std::string& key) { return !ListHasBlocked(this, key); }

bool ListHasBlocked(Server* s, const std::string& key) {
  ListEngine& e = Engine(s);
  auto it = e.blocked.find(key);
  return it != e.blocked.end() && !it->second.empty();
}

// A member announced pushes (kPushChannel): wake what waits here for those keys.
bool ListAnnouncement(Server* s, const std::string& channel, const std::string& message) {
  if (channel != kPushChannel) return false;
  size_t i = 0;
  while (i + 4 <= message.size()) {
    uint32_t n = 0;
    for (int j = 0; j < 4; j++) n = (n << 8) | uint8_t(message[i + j]);
    i += 4;
    if (n > message.size() - i) break;
    ListPushed(s, message.substr(i, n), false);
    i += n;
  }
  return true;
}

}  // namespace dynakv::server
