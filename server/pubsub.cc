// server/pubsub.cc: see pubsub.h.
#include "server/pubsub.h"

#include "server/commands.h"  // StringMatch

namespace dynakv::server {

bool PubSub::Subscribe(Client* c, Kind kind, const std::string& name) {
  size_t k = size_t(kind);
  if (!by_client_[c].names[k].insert(name).second) return false;
  by_name_[k][name].insert(c);
  return true;
}

bool PubSub::Unsubscribe(Client* c, Kind kind, const std::string& name) {
  size_t k = size_t(kind);
  auto it = by_client_.find(c);
  if (it == by_client_.end() || it->second.names[k].erase(name) == 0) return false;
  if (it->second.total() == 0) by_client_.erase(it);
  auto ch = by_name_[k].find(name);
  if (ch != by_name_[k].end()) {
    ch->second.erase(c);
    if (ch->second.empty()) by_name_[k].erase(ch);  // PUBSUB CHANNELS lists active ones only
  }
  return true;
}

std::vector<std::string> PubSub::SubscriptionsOf(const Client* c, Kind kind) const {
  auto it = by_client_.find(c);
  if (it == by_client_.end()) return {};
  const auto& names = it->second.names[size_t(kind)];
  return {names.begin(), names.end()};
}

size_t PubSub::CountOf(const Client* c, Kind kind) const {
  auto it = by_client_.find(c);
  return it == by_client_.end() ? 0 : it->second.names[size_t(kind)].size();
}

size_t PubSub::TotalOf(const Client* c) const {
  auto it = by_client_.find(c);
  return it == by_client_.end() ? 0 : it->second.total();
}

void PubSub::RemoveClient(const Client* c) {
  auto it = by_client_.find(c);
  if (it == by_client_.end()) return;
  for (size_t k = 0; k < 3; ++k) {
    for (const std::string& name : it->second.names[k]) {
      auto ch = by_name_[k].find(name);
      if (ch == by_name_[k].end()) continue;
      ch->second.erase(const_cast<Client*>(c));
      if (ch->second.empty()) by_name_[k].erase(ch);
    }
  }
  by_client_.erase(it);
}

void PubSub::Receivers(Kind kind, std::string_view channel, std::vector<Receiver>* out) const {
  out->clear();
  size_t k = size_t(kind);
  // Heterogeneous lookup is C++20 for unordered containers only with a transparent hash;
  // one copy of the channel name per publish is cheap next to delivering it.
  auto it = by_name_[k].find(std::string(channel));
  if (it != by_name_[k].end()) {
    for (Client* c : it->second) out->push_back({c, nullptr});
  }
  if (kind != Kind::kChannel) return;
  // Every distinct pattern is tried once (StringMatch is linear-time; commands.cc).
  for (const auto& [pattern, subs] : by_name_[size_t(Kind::kPattern)]) {
    if (!StringMatch(pattern, channel)) continue;
    for (Client* c : subs) out->push_back({c, &pattern});
  }
}

std::vector<std::string> PubSub::Channels(Kind kind, const std::string* pattern) const {
  std::vector<std::string> out;
  for (const auto& [name, subs] : by_name_[size_t(kind)]) {
    if (pattern == nullptr || StringMatch(*pattern, name)) out.push_back(name);
  }
  return out;
}

size_t PubSub::NumSub(Kind kind, const std::string& channel) const {
  auto it = by_name_[size_t(kind)].find(channel);
  return it == by_name_[size_t(kind)].end() ? 0 : it->second.size();
}

}  // namespace dynakv::server
