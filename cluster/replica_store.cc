// cluster/replica_store.cc: see replica_store.h.
#include "cluster/replica_store.h"

#include <algorithm>
#include <vector>

#include <xxhash.h>

namespace dynakv::cluster {

namespace {
constexpr size_t kScanChunk = 256;  // Scan visits in chunks (see there)
}  // namespace

Status ReplicaStore::Load(std::string_view key, Record* rec, bool* found, bool take) {
  return LoadImpl(key, rec, found, take, nullptr);
}

Status ReplicaStore::LoadVersions(std::string_view key, Record* rec, bool* found, bool* without_values) {
  *without_values = false;
  return LoadImpl(key, rec, found, /*take=*/true, without_values);
}

// The record is decoded straight from the engine's bytes (Engine::View): each value is copied
// once, into its own buffer, and none when `without_values` allows leaving them out.
Status ReplicaStore::LoadLeavingBig(std::string_view key, Record* rec, bool* found, size_t big_at, bool* big,
                                    size_t* stored_bytes) {
  *big = false;
  return LoadImpl(key, rec, found, /*take=*/false, big, big_at, stored_bytes);
}

Status ReplicaStore::LoadImpl(std::string_view key, Record* rec, bool* found, bool take,
                              bool* without_values, size_t skip_values_at, size_t* stored_bytes) {
  if (take) {
    if (cache_.Take(key, rec, found)) return Status::OK();
  } else if (const Record* hit = cache_.Find(key, found)) {
    size_t value_bytes = 0;
    for (const Sibling& x : hit->siblings) value_bytes += x.value.size();
    if (without_values == nullptr || value_bytes < skip_values_at) {
      *rec = *hit;
      return Status::OK();
    }
    // As from the engine: a big record's versions only, not a copy of its values.
    rec->context = hit->context;
    rec->siblings.clear();
    for (const Sibling& x : hit->siblings) {
      Sibling& y = rec->siblings.emplace_back();
      y.dot = x.dot;
      y.timestamp_ms = x.timestamp_ms;
      y.kind = x.kind;
      y.expiry_ms = x.expiry_ms;
      y.flags = x.flags;
      y.lww = x.lww;
    }
    *without_values = true;
    if (stored_bytes != nullptr) *stored_bytes = value_bytes;
    return Status::OK();
  }
  *rec = Record();
  *found = false;
  // One captured pointer: the viewer fits std::function's inline buffer (no allocation per read).
  struct Decode {
    Record* rec;
    size_t skip_values_at;  // SIZE_MAX: never
    bool versions_only = false;
    Status status;
    size_t bytes = 0;
  } d{rec, without_values != nullptr ? skip_values_at : SIZE_MAX, false, Status::OK()};
  Status s = engine_->View(data_key_.Of(key), [p = &d](std::string_view bytes) {
    p->bytes = bytes.size();
    p->versions_only = bytes.size() >= p->skip_values_at;
    p->status = DecodeRecord(bytes, p->rec, /*values=*/!p->versions_only);
  });
  if (s.IsNotFound()) {
    cache_.Put(key, *rec, false);
    return Status::OK();
  }
  if (!s.ok()) return s;
  if (!d.status.ok()) {
    Log(Logger::Level::kError, "corrupt local record for a key, treated as absent: " +
                                   d.status.ToString());
    *rec = Record();
    return Status::OK();
  }
  *found = true;
  if (stored_bytes != nullptr) *stored_bytes = d.bytes;
  if (d.versions_only) {
    *without_values = true;  // never cached: its values are missing
    return Status::OK();
  }
  cache_.Put(key, *rec, true);
  return Status::OK();
}

Status ReplicaStore::Peek(std::string_view key, const Record** rec, bool* found) {
  if (const Record* hit = cache_.Find(key, found)) {
    *rec = hit;
    return Status::OK();
  }
  Status s = Load(key, &scratch_, found);
  *rec = &scratch_;
  return s;
}

Status ReplicaStore::PeekOrShare(std::string_view key, const Record** rec, bool* found,
                                 std::shared_ptr<const std::string>* big) {
  big->reset();
  if (const Record* hit = cache_.Find(key, found)) {
    *rec = hit;
    return Status::OK();
  }
  bool versions_only = false;
  Status s = LoadImpl(key, &scratch_, found, /*take=*/false, &versions_only, kEncodeInPlaceBytes);
  *rec = &scratch_;
  if (!s.ok() || !versions_only) return s;
  // Verified by that load; the bytes are the engine's shared buffer, or copied once.
  *big = SharedBytes(key);
  if (*big == nullptr) {
    s = engine_->View(data_key_.Of(key), [big](std::string_view bytes) {
      *big = std::make_shared<const std::string>(bytes);
    });
  }
  return s;
}

Status ReplicaStore::Join(std::string_view key, const Record& incoming, bool* changed,
                          Record* merged_out) {
  if (changed) *changed = false;
  const Record* local = nullptr;
  bool found = false;
  Status s = Peek(key, &local, &found);
  if (!s.ok()) return s;
  Record merged = cluster::Join(*local, incoming);
  if (found && merged == *local) {
    if (merged_out) *merged_out = std::move(merged);
    return Status::OK();
  }
  bool was_live = found && !IsDeleted(*local, clock_->WallMs());  // local dies with the Store
  if (merged_out) {
    s = Store(key, merged, found, was_live);
    *merged_out = std::move(merged);
  } else {
    s = Store(key, std::move(merged), found, was_live);  // the cache takes it: no copy
  }
  if (s.ok() && changed) *changed = true;
  return s;
}

Status ReplicaStore::JoinTaking(std::string_view key, Record&& incoming, std::string encoded) {
  bool has_bytes = !encoded.empty();
  size_t big = BiggestValue(incoming);
  // The whole record, for the joins below that need every value.
  auto whole = [&]() -> Status {
    if (!has_bytes) return Status::OK();
    has_bytes = false;
    return DecodeRecord(encoded, &incoming);
  };
  if (incoming.siblings.empty() || !JoinKeeps(incoming) || !OnlyPlain(incoming) ||
      (!has_bytes && incoming.siblings[big].value.size() < kEncodeInPlaceBytes)) {
    if (Status s = whole(); !s.ok()) return s;
    return Join(key, incoming);
  }
  Record local;
  bool found = false, without_values = false;
  Status s = LoadVersions(key, &local, &found, &without_values);
  if (!s.ok()) return s;
  // The join's versions, with the big value set aside (Join would copy it).
  std::string value;
  if (!has_bytes) {
    value = std::move(incoming.siblings[big].value);
    incoming.siblings[big].value.clear();
  }
  bool keeps = OnlyPlain(local) && SameVersions(cluster::Join(local, incoming), incoming);
  if (!has_bytes) incoming.siblings[big].value = std::move(value);
  bool was_live = found && !IsDeleted(local, clock_->WallMs());
  // Local siblings survive the join, or it merges values: the whole join, from the record as
  // stored (LoadVersions may have taken it out of the row cache, which only costs a load).
  if (!keeps) {
    if (s = whole(); !s.ok()) return s;
    return Join(key, incoming);
  }
  // Every sibling of the join is one of incoming's, by dot: the same writes, the same values.
  if (found && SameVersions(local, incoming)) return Status::OK();  // a retried delivery
  if (has_bytes) return StoreEncoded(key, incoming, std::move(encoded), found, was_live);
  return Store(key, std::move(incoming), found, was_live);
}

Status ReplicaStore::StoreEncoded(std::string_view key, const Record& versions, std::string bytes,
                                  bool existed, bool was_live) {
  if (versions.siblings.size() >= limits_->warn_siblings) WarnSiblings(key, versions.siblings.size());
  Status s = Persist(key, versions, std::move(bytes), existed, was_live);
  cache_.Erase(key);
  return s;
}

Status ReplicaStore::Persist(std::string_view key, const Record& rec, std::string bytes, bool existed,
                             bool was_live) {
  std::string_view dkey = data_key_.Of(key);
  Status s = engine_->PutOwned(dkey, std::move(bytes));
  ++part_changes_[data_key_.partition()];  // also on failure: the engine may have part of it
  if (!s.ok()) return s;
  uint32_t part = data_key_.partition();
  ++part_writes_[part];
  if (Counted(dkey)) {
    if (!existed) ++part_count_[part];
    bool plain = IsPlainRecordKey(key);  // DBSIZE and INFO count client keys, not elements
    if (!existed && plain) ++key_count_;
    bool live = plain && !IsDeleted(rec, clock_->WallMs());
    if (live && !was_live) ++live_count_;
    if (plain && !live && was_live && live_count_ > 0) --live_count_;
  }
  for (const Sibling& sib : rec.siblings) {
    if (sib.expiry_ms != 0 || sib.kind == ValueKind::kTombstone) {
      ++expiring_writes_;
      break;
    }
  }
  return s;
}

Status ReplicaStore::Erase(std::string_view key, const Record& rec) {
  std::string_view dkey = data_key_.Of(key);
  bool counted = Counted(dkey);
  Status s = engine_->Delete(dkey);
  uint32_t part = data_key_.partition();
  ++part_changes_[part];
  cache_.Erase(key);
  bool plain = IsPlainRecordKey(key) && counted;
  if (s.ok() && plain && key_count_ > 0) --key_count_;
  if (s.ok() && counted && part_count_[part] > 0) --part_count_[part];
  if (s.ok()) {
    if (forgotten_.size() >= kMaxForgotten) {
      forgot_all_ = true;
    } else {
      forgotten_.insert(XXH3_64bits(key.data(), key.size()));
    }
  }
  // A record that died by expiry (not all tombstones) was counted live when last stored.
  bool expired_value = std::any_of(rec.siblings.begin(), rec.siblings.end(), [](const Sibling& sib) {
    return sib.kind != ValueKind::kTombstone;
  });
  if (s.ok() && plain && expired_value && live_count_ > 0) --live_count_;
  return s;
}

// Many siblings mean clients write without merging (or without a context). At most one
// warning a second, so a hot key cannot flood the log.
void ReplicaStore::WarnSiblings(std::string_view key, size_t n) {
  uint64_t now = clock_->NowMs();
  if (now < next_sibling_warn_ms_) return;
  next_sibling_warn_ms_ = now + 1000;
  std::string shown(key.substr(0, 64));
  for (char& ch : shown) {
    if (ch < ' ' || ch > '~') ch = '?';
  }
  Log(Logger::Level::kWarn, "key '" + shown + "' has " + std::to_string(n) +
                                " siblings (limit " + std::to_string(limits_->max_siblings) +
                                "): clients should DGET and DPUT with the merged context");
}

Status ReplicaStore::Recount() {
  key_count_ = 0;
  live_count_ = 0;
  std::fill(part_count_.begin(), part_count_.end(), 0);
  for (uint32_t& c : part_changes_) ++c;  // the engine may have taken back writes: rehash all
  counting_ = true;
  count_cursor_.assign(kDataPrefix);
  return RecountStep(kRecountInline);
}

Status ReplicaStore::RecountStep(size_t budget, uint64_t max_ms) {
  const uint64_t t0 = clock_->NowMs();
  const uint64_t now_ms = clock_->WallMs();
  size_t seen = 0;
  // Chunks of kRecountChunk records, so the time limit is looked at now and then.
  constexpr size_t kRecountChunk = 1024;
  while (counting_ && seen < budget && clock_->NowMs() - t0 < max_ms) {
    size_t chunk = std::min(kRecountChunk, budget - seen), in_chunk = 0;
    bool more = false;
    std::string last;
    Status s = engine_->Scan(count_cursor_, kDataEnd, 0, [&](std::string_view k, std::string_view bytes) {
      if (in_chunk == chunk) {
        more = true;
        return false;
      }
      ++in_chunk;
      last.assign(k);
      if (!IsDataKey(k)) return true;
      ++part_count_[PartitionOfDataKey(k)];
      if (!IsPlainRecordKey(ClientKeyOf(k))) return true;  // an element
      ++key_count_;
      Record rec;
      if (DecodeRecord(bytes, &rec).ok() && !IsDeleted(rec, now_ms)) ++live_count_;
      return true;
    });
    if (!s.ok()) return s;
    seen += in_chunk;
    if (more) {
      count_cursor_ = std::move(last);
      count_cursor_.push_back('\0');  // the next key after it
    } else {
      counting_ = false;
      count_cursor_.clear();
    }
  }
  return Status::OK();
}

bool ReplicaStore::Forgot(std::string_view key) {
  if (!forgot_all_ &&
      (forgotten_.empty() || !forgotten_.count(XXH3_64bits(key.data(), key.size())))) {
    return false;
  }
  forgotten_.clear();
  forgot_all_ = false;
  return true;
}

void ReplicaStore::ResetAfterFlush() {
  cache_.Clear();
  counting_ = false;  // nothing is left to count
  count_cursor_.clear();
  key_count_ = 0;
  live_count_ = 0;
  std::fill(part_count_.begin(), part_count_.end(), 0);
  for (uint32_t& c : part_changes_) ++c;
}

Status ReplicaStore::ReadPartition(uint32_t p, const std::string& after, size_t max_records,
                                   size_t max_bytes,
                                   std::vector<std::pair<std::string, Record>>* out, bool* end) {
  std::string from = PartitionBegin(p);
  if (!after.empty()) {
    from.append(after);
    from.push_back('\0');
  }
  size_t bytes = 0;
  *end = true;
  std::vector<std::pair<std::string, std::string>> raw;
  Status s = engine_->Scan(from, PartitionEnd(p), 0, [&](std::string_view k, std::string_view v) {
    if (raw.size() >= max_records || (bytes >= max_bytes && !raw.empty())) {
      *end = false;
      return false;
    }
    bytes += k.size() + v.size();
    raw.emplace_back(std::string(ClientKeyOf(k)), std::string(v));
    return true;
  });
  if (!s.ok()) return s;
  for (auto& [k, v] : raw) {
    Record rec;
    if (!DecodeRecord(v, &rec).ok()) {
      Log(Logger::Level::kError, "corrupt local record skipped by handoff");
      rec = Record();
    }
    out->emplace_back(std::move(k), std::move(rec));
  }
  return Status::OK();
}

Status ReplicaStore::DropPartition(uint32_t p, uint64_t* dropped) {
  *dropped = 0;
  uint64_t now_ms = clock_->WallMs();
  std::vector<std::string> keys;
  uint64_t live = 0;
  uint64_t plain = 0;
  Status s = engine_->Scan(PartitionBegin(p), PartitionEnd(p), 0,
                           [&](std::string_view k, std::string_view v) {
                             keys.emplace_back(k);
                             // Not counted yet: the recount will not meet it (see Recount).
                             if (!Counted(k) || !IsPlainRecordKey(ClientKeyOf(k))) return true;
                             ++plain;
                             Record rec;
                             if (DecodeRecord(v, &rec).ok() && !IsDeleted(rec, now_ms)) ++live;
                             return true;
                           });
  if (!s.ok()) return s;
  ++part_changes_[p];
  std::vector<storage::WriteOp> batch;
  batch.reserve(keys.size());
  for (auto& k : keys) batch.push_back({storage::WriteOp::Kind::kDelete, k, {}});
  if (!batch.empty()) {
    s = engine_->Write(batch);
    if (!s.ok()) return s;
  }
  for (auto& k : keys) cache_.Erase(ClientKeyOf(k));
  key_count_ -= std::min<uint64_t>(key_count_, plain);
  live_count_ -= std::min(live_count_, live);
  part_count_[p] = 0;
  *dropped = keys.size();
  return Status::OK();
}

Status ReplicaStore::Scan(std::string_view start_after, size_t limit,
                          const std::function<bool(std::string_view, const Record&)>& visit,
                          bool plain_only, bool values) {
  // The engine forbids re-entering it from a scan visitor, and `visit` is the caller's
  // code; so copy a chunk out, then visit it.
  // Keys come in (partition, record key) order; a cursor key names its place in that order.
  std::string from = start_after.empty() ? std::string(kDataPrefix)
                     : plain_only        ? DataKey(PlainRecordKey(start_after))
                                         : DataKey(start_after);
  if (!start_after.empty()) from.push_back('\0');  // first key after start_after
  size_t visited = 0;
  while (limit == 0 || visited < limit) {
    size_t want = limit == 0 ? kScanChunk : std::min(kScanChunk, limit - visited);
    // Decoded in the engine's visitor (which only must not re-enter the engine), so a record
    // is copied out once, and without its values when they are not wanted.
    std::vector<std::pair<std::string, Record>> chunk;
    std::string skip_to;  // plain_only: past a partition's element records
    size_t rows = 0;      // rows the engine gave, corrupt ones included
    std::string last_row;
    Status s = engine_->Scan(from, kDataEnd, want, [&](std::string_view k, std::string_view v) {
      if (plain_only && IsDataKey(k) && !IsPlainRecordKey(ClientKeyOf(k))) {
        // Element records sort together in their partition, after every plain key that
        // does not start with 0xFF and before the escaped ones ("\xff\xff..."): seek there.
        skip_to.assign(k.substr(0, kDataKeyHead));
        skip_to.append(2, kRecordEscape);
        if (skip_to <= k) {  // a malformed key past the escaped ones: step over it
          skip_to.assign(k);
          skip_to.push_back('\0');
        }
        return false;
      }
      ++rows;
      last_row.assign(k);
      Record rec;
      // A corrupt row (no client key in it, or a record that does not decode) is skipped:
      // reads log it.
      // Without values, a big record's checksum is left to whoever loads it to act on it.
      Status ds = !IsDataKey(k) ? Status::Corruption("") : values ? DecodeRecord(v, &rec) : DecodeRecordVersions(v, &rec);
      if (ds.ok()) chunk.emplace_back(std::string(k), std::move(rec));
      return true;
    });
    if (!s.ok()) return s;
    for (auto& [k, rec] : chunk) {
      ++visited;
      std::string_view rkey = ClientKeyOf(k);
      if (!visit(plain_only ? ParseRecordKey(rkey).key : rkey, rec)) return Status::OK();
    }
    if (!skip_to.empty()) {
      from = std::move(skip_to);
      continue;
    }
    if (rows < want) break;
    from = std::move(last_row);
    from.push_back('\0');
  }
  return Status::OK();
}

Status ReplicaStore::ScanElements(std::string_view prefix, std::string_view after,
                                  size_t limit,
                                  std::vector<std::pair<std::string, Record>>* out, bool* end) {
  std::string begin = DataKey(prefix);
  std::string stop = begin;
  // The prefix's successor: the last byte that is not 0xFF, plus one.
  while (!stop.empty() && static_cast<uint8_t>(stop.back()) == 0xff) stop.pop_back();
  if (stop.size() <= kDataKeyHead) {
    stop = PartitionEnd(PartitionOfDataKey(begin));
  } else {
    stop.back() = static_cast<char>(static_cast<uint8_t>(stop.back()) + 1);
  }
  if (!after.empty()) {
    begin.append(after);
    begin.push_back('\0');
  }
  *end = true;
  // Records are decoded as the scan hands them over: no copy of the encoded bytes first.
  size_t taken = 0, corrupt = 0, first = out->size();
  Status s = engine_->Scan(begin, stop, 0, [&](std::string_view k, std::string_view v) {
    if (limit != 0 && taken >= limit) {
      *end = false;
      return false;
    }
    ++taken;
    Record rec;
    if (!DecodeRecord(v, &rec).ok()) {
      ++corrupt;
      return true;
    }
    out->emplace_back(std::string(k.substr(kDataKeyHead + prefix.size())), std::move(rec));
    return true;
  });
  if (corrupt > 0) {
    Log(Logger::Level::kError, std::to_string(corrupt) + " corrupt local element record(s) treated as absent");
  }
  if (!s.ok()) out->erase(out->begin() + ptrdiff_t(first), out->end());  // nothing from a failed scan
  return s;
}

}  // namespace dynakv::cluster
