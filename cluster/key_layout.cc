// cluster/key_layout.cc: see key_layout.h.
#include "cluster/key_layout.h"

namespace dynakv::cluster {

std::string DataKey(std::string_view key) {
  std::string k = PartitionBegin(RecordPartition(key));
  k.append(key);
  return k;
}

std::string PlainRecordKey(std::string_view key) {
  std::string k;
  if (NeedsEscape(key)) k.push_back(kRecordEscape);
  k.append(key);
  return k;
}

std::string ElementPrefix(char type, std::string_view key) {
  std::string k;
  k.reserve(key.size() + 12);
  k.push_back(kRecordEscape);
  k.push_back(type);
  uint64_t n = key.size();
  do {  // LEB128
    uint8_t b = n & 0x7f;
    n >>= 7;
    k.push_back(static_cast<char>(n ? (b | 0x80) : b));
  } while (n);
  k.append(key);
  return k;
}

std::string ElementKey(char type, std::string_view key, std::string_view element) {
  std::string k = ElementPrefix(type, key);
  k.append(element);
  return k;
}

ParsedRecordKey ParseRecordKey(std::string_view rkey) {
  ParsedRecordKey out;
  if (rkey.empty() || rkey[0] != kRecordEscape) {
    out.kind = RecordKind::kPlain;
    out.key = rkey;
    return out;
  }
  if (rkey.size() < 2) return out;
  if (rkey[1] == kRecordEscape) {
    out.kind = RecordKind::kPlain;
    out.key = rkey.substr(1);
    return out;
  }
  uint64_t n = 0;
  size_t i = 2;
  for (int shift = 0;; shift += 7) {
    if (i >= rkey.size() || shift > 35) return out;  // truncated, or longer than any key
    uint8_t b = static_cast<uint8_t>(rkey[i++]);
    n |= uint64_t(b & 0x7f) << shift;
    if ((b & 0x80) == 0) break;
  }
  if (n > rkey.size() - i) return out;
  out.kind = RecordKind::kElement;
  out.type = rkey[1];
  out.key = rkey.substr(i, n);
  out.element = rkey.substr(i + n);
  return out;
}

namespace {
void AppendPartition(std::string* k, uint32_t p) {
  k->push_back(static_cast<char>(p >> 8));
  k->push_back(static_cast<char>(p & 0xff));
}
}  // namespace

std::string PartitionBegin(uint32_t p) {
  std::string k(kDataPrefix);
  AppendPartition(&k, p);
  return k;
}

std::string TransferKey(uint32_t p, std::string_view target) {
  std::string k(kXferPrefix);
  AppendPartition(&k, p);
  k.append(target);
  return k;
}

bool SplitTransferKey(std::string_view k, uint32_t* p, std::string* target) {
  if (k.substr(0, kXferPrefix.size()) != kXferPrefix || k.size() <= kXferPrefix.size() + 2) {
    return false;
  }
  *p = (uint32_t(uint8_t(k[kXferPrefix.size()])) << 8) | uint8_t(k[kXferPrefix.size() + 1]);
  target->assign(k.substr(kXferPrefix.size() + 2));
  return *p < kPartitions;
}

std::string PartitionEnd(uint32_t p) { return PartitionBegin(p + 1); }  // 16384 = 0x4000 fits

std::string HintKey(std::string_view owner, std::string_view key) {
  std::string k;
  k.reserve(kHintPrefix.size() + owner.size() + 1 + key.size());
  k.append(kHintPrefix);
  k.append(owner);
  k.push_back('\0');  // ids never hold NUL, so the owner ends unambiguously
  k.append(key);
  return k;
}

bool SplitHintKey(std::string_view hk, std::string* owner, std::string* key) {
  if (hk.substr(0, kHintPrefix.size()) != kHintPrefix) return false;
  hk.remove_prefix(kHintPrefix.size());
  size_t nul = hk.find('\0');
  if (nul == std::string_view::npos) return false;
  owner->assign(hk.substr(0, nul));
  key->assign(hk.substr(nul + 1));
  return true;
}

Status DeleteRange(storage::Engine* engine, std::string_view begin, std::string_view end) {
  while (true) {
    std::vector<storage::WriteOp> batch;
    Status s = engine->Scan(begin, end, 1024, [&](std::string_view k, std::string_view) {
      batch.push_back({storage::WriteOp::Kind::kDelete, std::string(k), {}});
      return true;
    });
    if (!s.ok()) return s;
    if (batch.empty()) return Status::OK();
    s = engine->Write(batch);
    if (!s.ok()) return s;
  }
}

}  // namespace dynakv::cluster
