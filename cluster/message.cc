// cluster/message.cc: see message.h.
#include "cluster/message.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <xxhash.h>

#include <cstring>

namespace dynakv::cluster {

const char* MemberStatusName(MemberStatus s) {
  switch (s) {
    case MemberStatus::kJoining: return "joining";
    case MemberStatus::kUp: return "up";
    case MemberStatus::kSuspect: return "suspect";
    case MemberStatus::kDown: return "down";
    case MemberStatus::kLeaving: return "leaving";
    case MemberStatus::kRemoved: return "removed";
  }
  return "unknown";
}

namespace {

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  // Split mode (EncodeSplitFrame): the one record the payload carries is written as its
  // length only, its bytes being `split_bytes`; split_at() is where they belong.
  Writer(std::string* out, std::string_view split_bytes) : out_(out), split_(split_bytes), splitting_(true) {}
  size_t split_at() const { return split_at_; }
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Fixed(v, 2); }
  void U32(uint32_t v) { Fixed(v, 4); }
  void U64(uint64_t v) { Fixed(v, 8); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_->append(s);
  }
  // A record as a length-prefixed string, encoded in place (the same bytes as
  // Str(EncodeRecord(rec))).
  void Rec(const Record& rec) {
    if (splitting_) {
      DKV_ASSERT(split_at_ == SIZE_MAX);
      U32(static_cast<uint32_t>(split_.size()));
      split_at_ = out_->size();
      return;
    }
    size_t at = out_->size();
    U32(0);
    AppendRecord(rec, out_);
    uint32_t len = static_cast<uint32_t>(out_->size() - at - 4);
    for (int i = 0; i < 4; ++i) (*out_)[at + i] = static_cast<char>((len >> (8 * i)) & 0xff);
  }
  void Vv(const VersionVector& vv) {
    U32(static_cast<uint32_t>(vv.size()));
    for (const auto& e : vv.entries()) {
      U64(e.actor);
      U64(e.counter);
      U64(e.timestamp_ms);
    }
  }

 private:
  void Fixed(uint64_t v, int n) {
    char b[8];
    for (int i = 0; i < n; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    out_->append(b, static_cast<size_t>(n));
  }
  std::string* out_;
  std::string_view split_;
  bool splitting_ = false;
  size_t split_at_ = SIZE_MAX;
};

// Bounds-checked reader: every accessor fails (sticky) instead of reading past the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  uint8_t U8() { return static_cast<uint8_t>(Fixed(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Fixed(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Fixed(4)); }
  uint64_t U64() { return Fixed(8); }
  std::string_view View(size_t max_len) {
    uint32_t n = U32();
    if (!ok_ || n > max_len || n > in_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string Str(size_t max_len = kMaxPayloadBytes) { return std::string(View(max_len)); }
  bool Vv(VersionVector* vv) {
    uint32_t n = U32();
    if (!ok_ || n > (in_.size() - pos_) / 24) return ok_ = false;
    *vv = VersionVector();
    uint64_t prev = 0;
    for (uint32_t i = 0; i < n; ++i) {
      uint64_t actor = U64(), counter = U64(), ts = U64();
      // Entries must be sorted, distinct and positive, as VersionVector keeps them.
      if (!ok_ || counter == 0 || (i > 0 && actor <= prev)) return ok_ = false;
      prev = actor;
      vv->Raise(actor, counter, ts);
    }
    return ok_;
  }
  void Fail() { ok_ = false; }

 private:
  uint64_t Fixed(int n) {
    if (!ok_ || in_.size() - pos_ < static_cast<size_t>(n)) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
    pos_ += n;
    return v;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void EncodeRecords(Writer* w, const std::vector<std::pair<std::string, Record>>& records) {
  w->U32(static_cast<uint32_t>(records.size()));
  for (const auto& [k, rec] : records) {
    w->Str(k);
    w->Rec(rec);
  }
}

void EncodePayloadWith(const Message& m, Writer& w) {
  w.Str(m.from_id);
  w.Str(m.from_addr);
  switch (m.type) {
    case MsgType::kGossip:
      w.U8(m.reply_wanted ? 1 : 0);
      w.U32(static_cast<uint32_t>(m.members.size()));
      for (const auto& ms : m.members) {
        w.Str(ms.id);
        w.Str(ms.cluster_addr);
        w.Str(ms.client_addr);
        w.U8(static_cast<uint8_t>(ms.status));
        w.U32(ms.weight);
        w.Str(ms.zone);
        w.U64(ms.heartbeat);
        w.U64(ms.incarnation);
      }
      break;
    case MsgType::kReadReq:
      w.U64(m.req_id);
      w.Str(m.key);
      break;
    case MsgType::kReadResp:
      w.U64(m.req_id);
      w.U8(static_cast<uint8_t>(m.code));
      w.Str(m.error);
      w.U8(m.found ? 1 : 0);
      if (m.found) {
        w.Rec(m.rec());
      } else {
        w.Str("");
      }
      break;
    case MsgType::kWriteReq:
    case MsgType::kReadRepair:
    case MsgType::kHintedWrite:
      w.U64(m.req_id);
      w.Str(m.key);
      w.Rec(m.rec());
      w.Str(m.hint_owner);
      break;
    case MsgType::kWriteAck:
      w.U64(m.req_id);
      w.U8(static_cast<uint8_t>(m.code));
      w.Str(m.error);
      break;
    case MsgType::kForwardReq:
      w.U64(m.req_id);
      w.Str(m.key);
      w.U8(m.is_write ? 1 : 0);
      w.U32(static_cast<uint32_t>(m.r));
      w.U32(static_cast<uint32_t>(m.w));
      w.U8(static_cast<uint8_t>(m.op));
      w.U8(static_cast<uint8_t>(m.value.kind));
      w.Str(m.value.value);
      w.U64(m.value.expiry_ms);
      w.U32(m.value.flags);
      w.U64(static_cast<uint64_t>(m.delta));
      w.U8(m.has_context ? 1 : 0);
      w.Vv(m.context);
      break;
    case MsgType::kForwardResp:
      w.U64(m.req_id);
      w.U8(static_cast<uint8_t>(m.code));
      w.Str(m.error);
      w.Vv(m.context);
      w.Rec(m.rec());
      break;
    case MsgType::kScanReq:
      w.U64(m.req_id);
      w.Str(m.key);
      w.U32(static_cast<uint32_t>(m.r));
      break;
    case MsgType::kScanResp:
      w.U64(m.req_id);
      w.U8(static_cast<uint8_t>(m.code));
      w.Str(m.error);
      w.U8(m.found ? 1 : 0);
      w.Str(m.key);
      w.U32(static_cast<uint32_t>(m.keys.size()));
      for (const auto& k : m.keys) w.Str(k);
      break;
    case MsgType::kAeTreeReq:
      w.U64(m.req_id);
      w.U64(m.ring_hash);
      w.U32(static_cast<uint32_t>(m.hashes.size()));
      for (uint64_t h : m.hashes) w.U64(h);
      break;
    case MsgType::kAeTreeResp:
      w.U64(m.req_id);
      w.U8(static_cast<uint8_t>(m.code));
      w.Str(m.error);
      w.U32(static_cast<uint32_t>(m.buckets.size()));
      for (uint32_t b : m.buckets) w.U32(b);
      w.U32(static_cast<uint32_t>(m.hashes.size()));
      for (uint64_t h : m.hashes) w.U64(h);
      break;
    case MsgType::kAeKeysReq:
    case MsgType::kAeKeysResp:
      w.U64(m.req_id);
      if (m.type == MsgType::kAeKeysResp) {
        w.U8(static_cast<uint8_t>(m.code));
        w.Str(m.error);
      } else {
        w.U32(static_cast<uint32_t>(m.buckets.size()));
        for (uint32_t b : m.buckets) w.U32(b);
      }
      EncodeRecords(&w, m.records);
      break;
    case MsgType::kAePartsReq:
    case MsgType::kAePartsResp:
    case MsgType::kAeDigestReq:
    case MsgType::kAeDigestResp:
      w.U64(m.req_id);
      if (m.type == MsgType::kAePartsReq) w.U64(m.ring_hash);
      if (m.type == MsgType::kAePartsResp || m.type == MsgType::kAeDigestResp) {
        w.U8(static_cast<uint8_t>(m.code));
        w.Str(m.error);
      }
      if (m.type != MsgType::kAeDigestResp) {
        w.U32(static_cast<uint32_t>(m.buckets.size()));
        for (uint32_t b : m.buckets) w.U32(b);
      }
      if (m.type == MsgType::kAeDigestReq || m.type == MsgType::kAeDigestResp) {
        w.U32(static_cast<uint32_t>(m.keys.size()));
        for (const auto& k : m.keys) w.Str(k);
      }
      if (m.type != MsgType::kAeDigestResp) {
        w.U32(static_cast<uint32_t>(m.hashes.size()));
        for (uint64_t h : m.hashes) w.U64(h);
      }
      if (m.type == MsgType::kAeDigestResp) EncodeRecords(&w, m.records);
      break;
    case MsgType::kHandoffChunk:
      w.U64(m.req_id);
      EncodeRecords(&w, m.records);
      break;
    case MsgType::kWriteBatch:
      w.U64(m.req_id);
      w.Str(m.hint_owner);
      EncodeRecords(&w, m.records);
      break;
    case MsgType::kHandoffAck:
      w.U64(m.req_id);
      w.U8(static_cast<uint8_t>(m.code));
      w.Str(m.error);
      break;
    case MsgType::kLoad:
      w.U64(m.load_keys);
      w.U64(m.load_bytes);
      w.U64(m.features);
      break;
    case MsgType::kReadComing:
      w.U64(m.req_id);
      w.U64(m.load_bytes);
      break;
    case MsgType::kWriteAcks:
      w.U32(static_cast<uint32_t>(m.hashes.size()));
      for (uint64_t id : m.hashes) w.U64(id);
      break;
    case MsgType::kRangeReq:
      w.U64(m.req_id);
      w.Str(m.key);
      w.Str(m.value.value);
      w.U32(static_cast<uint32_t>(m.r));
      break;
    case MsgType::kRangeResp:
      w.U64(m.req_id);
      w.U8(static_cast<uint8_t>(m.code));
      w.Str(m.error);
      w.U8(m.found ? 1 : 0);
      EncodeRecords(&w, m.records);
      break;
    case MsgType::kPublish:
      w.Str(m.key);
      w.Str(m.value.value);
      w.U8(m.sharded ? 1 : 0);
      break;
  }
}

void EncodePayload(const Message& m, std::string* out) {
  Writer w(out);
  EncodePayloadWith(m, w);
}

bool DecodeRecordField(Reader* r, Record* rec, std::string* adopt = nullptr, std::string* encoded = nullptr);

// (key, record) pairs: anti-entropy key messages and handoff chunks.
bool DecodeRecords(Reader* r, std::vector<std::pair<std::string, Record>>* out) {
  uint32_t n = r->U32();
  if (!r->ok() || n > kMaxAeRecords) return false;
  out->clear();
  for (uint32_t i = 0; i < n && r->ok(); ++i) {
    std::string key = r->Str();
    Record rec;
    if (!DecodeRecordField(r, &rec)) return false;
    out->emplace_back(std::move(key), std::move(rec));
  }
  return true;
}

bool DecodeBuckets(Reader* r, std::vector<uint32_t>* out) {
  uint32_t n = r->U32();
  if (!r->ok() || n > kMaxAeHashes) return false;
  out->clear();
  for (uint32_t i = 0; i < n && r->ok(); ++i) {
    uint32_t b = r->U32();
    if (b >= kMaxAeBucket) return false;
    out->push_back(b);
  }
  return r->ok();
}

bool DecodeHashes(Reader* r, std::vector<uint64_t>* out) {
  uint32_t n = r->U32();
  if (!r->ok() || n > kMaxAeHashes) return false;
  out->clear();
  for (uint32_t i = 0; i < n && r->ok(); ++i) out->push_back(r->U64());
  return r->ok();
}

bool DecodeCode(Reader* r, Message* m) {
  uint8_t c = r->U8();
  if (c > static_cast<uint8_t>(Code::kNotSupported)) return false;
  m->code = static_cast<Code>(c);
  m->error = r->Str(kMaxIdBytes * 64);
  return r->ok();
}

// adopt: the buffer that holds the frame (DecodeFrameTaking), given to a big value, or with
// `encoded`, made the record's bytes (Message::record_bytes).
bool DecodeRecordField(Reader* r, Record* rec, std::string* adopt, std::string* encoded) {
  std::string_view bytes = r->View(kMaxPayloadBytes);
  if (!r->ok()) return false;
  if (adopt != nullptr && bytes.size() >= kEncodeInPlaceBytes) {
    bool kept = false;
    if (!DecodeRecordTaking(bytes, adopt, rec, encoded != nullptr, &kept).ok()) return false;
    if (kept) *encoded = std::move(*adopt);
    return true;
  }
  return DecodeRecord(bytes, rec).ok();
}

bool DecodePayload(std::string_view payload, Message* m, std::string* adopt) {
  Reader r(payload);
  m->from_id = r.Str(kMaxIdBytes);
  m->from_addr = r.Str(kMaxIdBytes);
  switch (m->type) {
    case MsgType::kGossip: {
      uint8_t rw = r.U8();
      if (rw > 1) return false;
      m->reply_wanted = rw == 1;
      uint32_t n = r.U32();
      if (!r.ok() || n > kMaxGossipMembers) return false;
      m->members.clear();
      m->members.reserve(n);
      for (uint32_t i = 0; i < n && r.ok(); ++i) {
        MemberState ms;
        ms.id = r.Str(kMaxIdBytes);
        ms.cluster_addr = r.Str(kMaxIdBytes);
        ms.client_addr = r.Str(kMaxIdBytes);
        uint8_t st = r.U8();
        if (st > kMaxMemberStatus) return false;
        ms.status = static_cast<MemberStatus>(st);
        ms.weight = r.U32();
        ms.zone = r.Str(kMaxIdBytes);
        ms.heartbeat = r.U64();
        ms.incarnation = r.U64();
        if (ms.id.empty() || ms.cluster_addr.empty()) return false;
        m->members.push_back(std::move(ms));
      }
      break;
    }
    case MsgType::kReadReq:
      m->req_id = r.U64();
      m->key = r.Str();
      break;
    case MsgType::kReadResp: {
      m->req_id = r.U64();
      if (!DecodeCode(&r, m)) return false;
      uint8_t f = r.U8();
      if (f > 1) return false;
      m->found = f == 1;
      if (m->found) {
        if (!DecodeRecordField(&r, &m->record, adopt)) return false;
      } else {
        if (!r.View(0).empty() || !r.ok()) return false;
        m->record = Record();
      }
      break;
    }
    case MsgType::kWriteReq:
    case MsgType::kReadRepair:
    case MsgType::kHintedWrite:
      m->req_id = r.U64();
      m->key = r.Str();
      if (!DecodeRecordField(&r, &m->record, adopt,
                             m->type == MsgType::kWriteReq ? &m->record_bytes : nullptr)) {
        return false;
      }
      m->hint_owner = r.Str(kMaxIdBytes);
      break;
    case MsgType::kWriteAck:
      m->req_id = r.U64();
      if (!DecodeCode(&r, m)) return false;
      break;
    case MsgType::kForwardReq: {
      m->req_id = r.U64();
      m->key = r.Str();
      uint8_t iw = r.U8();
      m->r = static_cast<int32_t>(r.U32());
      m->w = static_cast<int32_t>(r.U32());
      uint8_t op = r.U8();
      uint8_t kind = r.U8();
      if (iw > 1 || op > static_cast<uint8_t>(OpKind::kFloatAdd) ||
          kind > static_cast<uint8_t>(ValueKind::kCollection)) {
        return false;
      }
      m->is_write = iw == 1;
      m->op = static_cast<OpKind>(op);
      m->value.kind = static_cast<ValueKind>(kind);
      m->value.value = r.Str();
      m->value.expiry_ms = r.U64();
      m->value.flags = r.U32();
      m->delta = static_cast<int64_t>(r.U64());
      uint8_t hc = r.U8();
      if (hc > 1) return false;
      m->has_context = hc == 1;
      if (!r.Vv(&m->context)) return false;
      break;
    }
    case MsgType::kForwardResp:
      m->req_id = r.U64();
      if (!DecodeCode(&r, m)) return false;
      if (!r.Vv(&m->context)) return false;
      if (!DecodeRecordField(&r, &m->record, adopt)) return false;
      break;
    case MsgType::kScanReq:
      m->req_id = r.U64();
      m->key = r.Str();
      m->r = static_cast<int32_t>(r.U32());
      if (m->r < 1 || static_cast<size_t>(m->r) > kMaxScanKeys) return false;
      break;
    case MsgType::kScanResp: {
      m->req_id = r.U64();
      if (!DecodeCode(&r, m)) return false;
      uint8_t done = r.U8();
      m->key = r.Str();
      uint32_t n = r.U32();
      if (!r.ok() || done > 1 || n > kMaxScanKeys) return false;
      m->found = done == 1;
      m->keys.clear();
      for (uint32_t i = 0; i < n && r.ok(); ++i) m->keys.push_back(r.Str());
      break;
    }
    case MsgType::kAeTreeReq:
      m->req_id = r.U64();
      m->ring_hash = r.U64();
      if (!DecodeHashes(&r, &m->hashes)) return false;
      break;
    case MsgType::kAeTreeResp:
      m->req_id = r.U64();
      if (!DecodeCode(&r, m)) return false;
      if (!DecodeBuckets(&r, &m->buckets)) return false;
      if (!DecodeHashes(&r, &m->hashes)) return false;
      break;
    case MsgType::kAeKeysReq:
    case MsgType::kAeKeysResp: {
      m->req_id = r.U64();
      if (m->type == MsgType::kAeKeysResp) {
        if (!DecodeCode(&r, m)) return false;
      } else if (!DecodeBuckets(&r, &m->buckets)) {
        return false;
      }
      if (!DecodeRecords(&r, &m->records)) return false;
      break;
    }
    case MsgType::kAePartsReq:
    case MsgType::kAePartsResp:
    case MsgType::kAeDigestReq:
    case MsgType::kAeDigestResp: {
      m->req_id = r.U64();
      if (m->type == MsgType::kAePartsReq) m->ring_hash = r.U64();
      if (m->type == MsgType::kAePartsResp || m->type == MsgType::kAeDigestResp) {
        if (!DecodeCode(&r, m)) return false;
      }
      if (m->type != MsgType::kAeDigestResp && !DecodeBuckets(&r, &m->buckets)) return false;
      if (m->type == MsgType::kAeDigestReq || m->type == MsgType::kAeDigestResp) {
        uint32_t n = r.U32();
        if (!r.ok() || n > kMaxAeDigests) return false;
        m->keys.clear();
        for (uint32_t i = 0; i < n && r.ok(); ++i) m->keys.push_back(r.Str());
      }
      if (m->type != MsgType::kAeDigestResp && !DecodeHashes(&r, &m->hashes)) return false;
      if (m->type == MsgType::kAeDigestResp && !DecodeRecords(&r, &m->records)) return false;
      break;
    }
    case MsgType::kHandoffChunk:
      m->req_id = r.U64();
      if (!DecodeRecords(&r, &m->records)) return false;
      break;
    case MsgType::kWriteBatch:
      m->req_id = r.U64();
      m->hint_owner = r.Str(kMaxIdBytes);
      if (!DecodeRecords(&r, &m->records)) return false;
      break;
    case MsgType::kHandoffAck:
      m->req_id = r.U64();
      if (!DecodeCode(&r, m)) return false;
      break;
    case MsgType::kLoad:
      m->load_keys = r.U64();
      m->load_bytes = r.U64();
      if (!r.done()) m->features = r.U64();  // absent from an older release's
      break;
    case MsgType::kReadComing:
      m->req_id = r.U64();
      m->load_bytes = r.U64();
      break;
    case MsgType::kWriteAcks:
      if (!DecodeHashes(&r, &m->hashes)) return false;
      break;
    case MsgType::kRangeReq:
      m->req_id = r.U64();
      m->key = r.Str();
      m->value.value = r.Str();
      m->r = static_cast<int32_t>(r.U32());
      if (m->r < 1 || static_cast<size_t>(m->r) > kMaxScanKeys) return false;
      break;
    case MsgType::kRangeResp: {
      m->req_id = r.U64();
      if (!DecodeCode(&r, m)) return false;
      uint8_t end = r.U8();
      if (!r.ok() || end > 1) return false;
      m->found = end == 1;
      if (!DecodeRecords(&r, &m->records)) return false;
      break;
    }
    case MsgType::kPublish: {
      m->key = r.Str();
      m->value.value = r.Str();
      uint8_t sharded = r.U8();
      if (sharded > 1) return false;
      m->sharded = sharded == 1;
      break;
    }
  }
  return r.done();
}

void Mac(std::string_view secret, std::string_view data, unsigned char out[kMacBytes]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &md_len);
  std::memcpy(out, md, kMacBytes);
}

uint32_t LoadU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

}  // namespace

namespace {
// The frame header, over the kFrameHeaderBytes *out starts with.
void PutFrameHeader(MsgType type, size_t payload_len, std::string* out) {
  DKV_ASSERT(payload_len <= kMaxPayloadBytes);
  std::string header;
  header.reserve(kFrameHeaderBytes);
  Writer w(&header);
  w.U16(kFrameMagic);
  w.U8(kFrameVersion);
  w.U8(static_cast<uint8_t>(type));
  w.U32(static_cast<uint32_t>(payload_len));
  std::memcpy(out->data(), header.data(), kFrameHeaderBytes);
}
}  // namespace

std::string EncodeFrame(const Message& msg, std::string_view secret) {
  std::string out;
  // Room for the common messages in one allocation (a guess: larger ones grow as before).
  size_t hint = 160 + msg.from_id.size() + msg.from_addr.size() + msg.key.size() +
                msg.error.size() + msg.hint_owner.size();
  const Record& rec = msg.rec();
  hint += rec.context.size() * 28;
  for (const Sibling& s : rec.siblings) hint += 60 + s.value.size();
  out.reserve(hint);
  out.resize(kFrameHeaderBytes);
  EncodePayload(msg, &out);
  PutFrameHeader(msg.type, out.size() - kFrameHeaderBytes, &out);
  if (!secret.empty()) {
    unsigned char mac[kMacBytes];
    Mac(secret, out, mac);
    out.append(reinterpret_cast<const char*>(mac), kMacBytes);
  } else {
    Writer(&out).U64(XXH64(out.data(), out.size(), 0));
  }
  return out;
}

namespace {
// The trailer over a split frame's three pieces as they follow each other: what EncodeFrame
// computes over the joined bytes.
std::string SplitTrailer(const SplitFrame& f, std::string_view secret) {
  std::string out;
  if (!secret.empty()) {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t md_len = 0;
    bool ok = ctx != nullptr &&
              EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), params) == 1;
    for (std::string_view piece : {std::string_view(f.head), std::string_view(*f.middle), std::string_view(f.tail)}) {
      ok = ok && EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(piece.data()), piece.size()) == 1;
    }
    ok = ok && EVP_MAC_final(ctx, md, &md_len, sizeof(md)) == 1;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    DKV_ASSERT(ok && md_len >= kMacBytes);
    out.assign(reinterpret_cast<const char*>(md), kMacBytes);
  } else {
    XXH64_state_t* st = XXH64_createState();
    DKV_ASSERT(st != nullptr);
    XXH64_reset(st, 0);
    XXH64_update(st, f.head.data(), f.head.size());
    XXH64_update(st, f.middle->data(), f.middle->size());
    XXH64_update(st, f.tail.data(), f.tail.size());
    uint64_t sum = XXH64_digest(st);
    XXH64_freeState(st);
    Writer(&out).U64(sum);
  }
  return out;
}
}  // namespace

SplitFrame EncodeSplitFrame(const Message& msg, std::string_view secret,
                            std::shared_ptr<const std::string> record_bytes) {
  std::string out;
  out.resize(kFrameHeaderBytes);
  Writer w(&out, *record_bytes);
  EncodePayloadWith(msg, w);
  DKV_ASSERT(w.split_at() != SIZE_MAX);
  PutFrameHeader(msg.type, out.size() - kFrameHeaderBytes + record_bytes->size(), &out);
  SplitFrame f;
  f.tail.assign(out, w.split_at());
  out.resize(w.split_at());
  f.head = std::move(out);
  f.middle = std::move(record_bytes);
  f.trailer = [key = std::string(secret)](const SplitFrame& frame) { return SplitTrailer(frame, key); };
  f.trailer_bytes = TrailerBytes(!secret.empty());
  return f;
}

namespace {
Status DecodeFrameImpl(std::string_view frame, std::string_view secret, Message* out, std::string* adopt);
}  // namespace

Status DecodeFrame(std::string_view frame, std::string_view secret, Message* out) {
  return DecodeFrameImpl(frame, secret, out, nullptr);
}

Status DecodeFrameTaking(std::string* buf, size_t at, std::string_view secret, Message* out) {
  return DecodeFrameImpl(std::string_view(*buf).substr(at), secret, out, buf);
}

namespace {
Status DecodeFrameImpl(std::string_view frame, std::string_view secret, Message* out, std::string* adopt) {
  size_t trailer = TrailerBytes(!secret.empty());
  if (frame.size() < kFrameHeaderBytes + trailer) return Status::Corruption("frame truncated");
  Reader h(frame.substr(0, kFrameHeaderBytes));
  uint16_t magic = h.U16();
  uint8_t version = h.U8();
  uint8_t type = h.U8();
  uint32_t len = h.U32();
  if (magic != kFrameMagic) return Status::Corruption("bad frame magic");
  if (version != kFrameVersion) return Status::Corruption("unsupported frame version");
  if (type == 0 || type > kMaxMsgType) return Status::Corruption("unknown message type");
  if (len > kMaxPayloadBytes) return Status::Corruption("frame too large");
  if (frame.size() != kFrameHeaderBytes + len + trailer) {
    return Status::Corruption("frame length mismatch");
  }
  std::string_view body = frame.substr(0, kFrameHeaderBytes + len);
  std::string_view tail = frame.substr(kFrameHeaderBytes + len);
  if (!secret.empty()) {
    unsigned char mac[kMacBytes];
    Mac(secret, body, mac);
    if (CRYPTO_memcmp(mac, tail.data(), kMacBytes) != 0) {
      return Status::Invalid("frame authentication failed (cluster_secret mismatch?)");
    }
  } else {
    Reader t(tail);
    if (t.U64() != XXH64(body.data(), body.size(), 0)) {
      return Status::Corruption("frame checksum mismatch");
    }
  }
  *out = Message();
  out->type = static_cast<MsgType>(type);
  if (!DecodePayload(body.substr(kFrameHeaderBytes), out, adopt)) {
    return Status::Corruption("malformed message payload");
  }
  return Status::OK();
}
}  // namespace

void FrameSplitter::Feed(std::string_view bytes) {
  // Compact lazily so a long-lived connection does not grow its buffer without bound and
  // small frames do not cost a memmove each.
  if (pos_ > 0 && pos_ * 2 >= buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

FrameSplitter::Result FrameSplitter::Next(std::string* frame) {
  if (!error_.ok()) return Result::kError;
  size_t avail = buf_.size() - pos_;
  if (avail < kFrameHeaderBytes) return Result::kNeedMore;
  const char* p = buf_.data() + pos_;
  uint16_t magic = static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | (static_cast<uint8_t>(p[1]) << 8));
  if (magic != kFrameMagic) {
    error_ = Status::Corruption("bad frame magic");
    return Result::kError;
  }
  uint32_t len = LoadU32(p + 4);
  if (len > max_payload_bytes_) {
    error_ = Status::Limit("frame too large");
    return Result::kError;
  }
  size_t total = kFrameHeaderBytes + len + trailer_bytes_;
  if (avail < total) return Result::kNeedMore;
  frame->assign(p, total);
  pos_ += total;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return Result::kFrame;
}

}  // namespace dynakv::cluster
