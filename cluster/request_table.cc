// cluster/request_table.cc: see request_table.h.
#include "cluster/request_table.h"

#include <algorithm>

namespace dynakv::cluster {

void RequestTable::ExpireDue(uint64_t now_ms) {
  // Each source is in order already; due ones are few per tick next to the table's size.
  std::vector<Timer> due;
  for (std::deque<Timer>& q : fifo_) {
    while (!q.empty() && q.front().deadline_ms <= now_ms) {
      due.push_back(q.front());
      q.pop_front();
    }
  }
  while (!early_.empty() && early_.begin()->deadline_ms <= now_ms) {
    due.push_back(*early_.begin());
    early_.erase(early_.begin());
  }
  if (due.empty()) return;
  size_ -= due.size();
  std::sort(due.begin(), due.end());
  for (const Timer& t : due) {
    if (auto& fn = handlers_[static_cast<size_t>(t.kind)]) fn(t.id);
  }
}

}  // namespace dynakv::cluster
