// cluster/request_table.cc: see request_table.h.
#include "cluster/request_table.h"

namespace dynakv::cluster {

void RequestTable::ExpireDue(uint64_t now_ms) {
  std::vector<std::pair<uint64_t, RequestKind>> due;
  while (!timers_.empty() && timers_.begin()->first <= now_ms) {
    due.push_back(timers_.begin()->second);
    timers_.erase(timers_.begin());
  }
  for (auto [id, kind] : due) {
    if (auto& fn = handlers_[static_cast<size_t>(kind)]) fn(id);
  }
}

}  // namespace dynakv::cluster
