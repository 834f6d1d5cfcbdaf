// storage/mem_engine.cc: the in-memory Engine (see mem_engine.h).
#include "storage/mem_engine.h"

#include <utility>

namespace dynakv::storage {

std::unique_ptr<MemEngine> NewMemEngine(SyncMode sync) {
  return std::make_unique<MemEngine>(sync);
}

std::optional<std::string_view> MemEngine::Lookup(std::string_view key) const {
  if (auto p = pending_.find(key); p != pending_.end()) {
    if (!p->second) return std::nullopt;
    return std::string_view(*p->second);
  }
  if (auto c = committed_.find(key); c != committed_.end()) return std::string_view(c->second);
  return std::nullopt;
}

Status MemEngine::Get(std::string_view key, std::string* value) {
  if (Status s = CheckKey(key); !s.ok()) return s;
  auto v = Lookup(key);
  if (!v) return Status::NotFound();
  value->assign(v->data(), v->size());
  return Status::OK();
}

Status MemEngine::View(std::string_view key, const std::function<void(std::string_view)>& see) {
  if (Status s = CheckKey(key); !s.ok()) return s;
  auto v = Lookup(key);
  if (!v) return Status::NotFound();
  see(*v);
  return Status::OK();
}

Status MemEngine::Write(const std::vector<WriteOp>& batch) {
  if (!fail_writes_.ok()) return fail_writes_;
  for (const WriteOp& op : batch) {
    if (Status s = CheckKey(op.key); !s.ok()) return s;
  }
  // Size the whole batch before touching anything so a NoSpace batch applies nothing. A
  // key may appear twice in one batch, so later ops see the sizes earlier ones left.
  std::map<std::string_view, uint64_t> batch_sizes;  // key -> live bytes after the op; 0 = absent
  int64_t delta = 0;
  for (const WriteOp& op : batch) {
    uint64_t before;
    if (auto it = batch_sizes.find(op.key); it != batch_sizes.end()) {
      before = it->second;
    } else {
      auto v = Lookup(op.key);
      before = v ? op.key.size() + v->size() : 0;
    }
    uint64_t after = op.kind == WriteOp::Kind::kPut ? op.key.size() + op.value.size() : 0;
    batch_sizes[op.key] = after;
    delta += static_cast<int64_t>(after) - static_cast<int64_t>(before);
  }
  if (budget_bytes_ != 0 && delta > 0 && live_bytes_ + delta > budget_bytes_) {
    return Status::NoSpace("memory engine byte budget of " + std::to_string(budget_bytes_) +
                           " bytes exhausted");
  }
  for (const WriteOp& op : batch) {
    if (op.kind == WriteOp::Kind::kPut) {
      pending_.insert_or_assign(op.key, std::optional<std::string>(op.value));
    } else {
      pending_.insert_or_assign(op.key, std::nullopt);
    }
  }
  live_bytes_ += delta;
  if (sync_ == SyncMode::kAlways) return Commit();
  return Status::OK();
}

Status MemEngine::Scan(std::string_view start, std::string_view end, size_t limit,
                       const std::function<bool(std::string_view, std::string_view)>& visit) {
  // Merge the committed map with the pending overlay; on equal keys the overlay wins and a
  // pending delete hides the committed entry.
  auto c = committed_.lower_bound(start);
  auto p = pending_.lower_bound(start);
  size_t seen = 0;
  while (c != committed_.end() || p != pending_.end()) {
    std::string_view key;
    std::optional<std::string_view> value;
    if (p == pending_.end() || (c != committed_.end() && c->first < p->first)) {
      key = c->first;
      value = c->second;
      ++c;
    } else {
      if (c != committed_.end() && c->first == p->first) ++c;
      key = p->first;
      if (p->second) value = *p->second;
      ++p;
    }
    if (!end.empty() && key >= end) break;
    if (!value) continue;
    if (!visit(key, *value)) break;
    if (limit != 0 && ++seen >= limit) break;
  }
  return Status::OK();
}

Status MemEngine::Commit() {
  if (pending_.empty()) return Status::OK();
  if (!fail_commits_.ok()) {
    SimulateCrash();  // a failed fsync leaves only what was durable before
    return fail_commits_;
  }
  for (auto& [key, value] : pending_) {
    if (value) {
      committed_.insert_or_assign(key, std::move(*value));
    } else {
      committed_.erase(key);
    }
  }
  pending_.clear();
  committed_bytes_ = live_bytes_;
  ++commits_;
  if (sync_ != SyncMode::kNone) ++syncs_;
  return Status::OK();
}

EngineStats MemEngine::Stats() const {
  EngineStats st;
  st.commits = commits_;
  st.syncs = syncs_;
  st.map_size = 0;
  st.used_bytes = live_bytes_;
  return st;
}

void MemEngine::SimulateCrash() {
  pending_.clear();
  live_bytes_ = committed_bytes_;
}

void MemEngine::Wipe() {
  pending_.clear();
  committed_.clear();
  live_bytes_ = committed_bytes_ = 0;
}

}  // namespace dynakv::storage
