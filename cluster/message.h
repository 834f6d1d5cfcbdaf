// cluster/message.h: framed, versioned inter-node messages and their codec.
//
// Wire format of one frame (all integers little-endian):
//   [magic u16 = 0x4B44 "DK"][version u8 = 1][type u8][len u32][payload: len bytes][trailer]
// trailer = truncated HMAC-SHA256 (16 bytes) over header+payload when the cluster has a
// secret (peer authentication: a node without the secret can neither join nor write), else
// an xxh64 checksum (8 bytes) that only catches corruption.
//
// Decoding never trusts a length: every count and string is checked against the bytes
// left, and the payload against kMaxPayloadBytes (a 512 MB value plus its record fits),
// so garbage, truncation or a forged frame yield a Status, never a crash.
//
// One flat Message struct serves every type; the comment on each field says which types
// carry it. (Flat instead of a variant: the node fills replies from requests field by field.)
//
// FrameSplitter cuts a TCP byte stream into whole frames for the server.
// Thread-safety: pure functions; a FrameSplitter belongs to one connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/env.h"
#include "cluster/member_state.h"
#include "cluster/node.h"
#include "cluster/version.h"
#include "storage/status.h"

namespace dynakv::cluster {

enum class MsgType : uint8_t {
  kGossip = 1,        // members: the sender's view; reply_wanted: push-pull
  kReadReq = 2,       // req_id, key
  kReadResp = 3,      // req_id, code/error, found, record
  kWriteReq = 4,      // req_id, key, record: replicate (replica Joins, persists, acks)
  kWriteAck = 5,      // req_id, code/error
  kForwardReq = 6,    // req_id, key, is_write, r | (w, op, value, delta, has_context, context)
  kForwardResp = 7,   // req_id, code/error, context, record
  kReadRepair = 8,    // key, record: Join into the local copy; no reply
  kHintedWrite = 9,   // req_id, key, record, hint_owner: hold for hint_owner, then ack
  kScanReq = 10,      // req_id, key (= start after), r (= page size): list live local keys
  kScanResp = 11,     // req_id, code/error, key (= last visited), keys, found (= done)
  // Merkle anti-entropy (Dynamo §4.7; node.cc "anti-entropy", merkle.h):
  kAeTreeReq = 12,    // req_id, ring_hash, hashes (= the sender's interior level)
  kAeTreeResp = 13,   // req_id, code/error, buckets (= interior nodes that differ),
                      //   hashes (= the replier's kFanout leaf hashes under each of them)
  kAeKeysReq = 14,    // req_id, buckets (= leaves sent whole), records (the sender's)
  kAeKeysResp = 15,   // req_id, code/error, records (the replier's, after joining)
  // Ownership handoff (handoff.h):
  kHandoffChunk = 16, // req_id, records (of one or more partitions): Join, then ack durably
  kHandoffAck = 17,   // req_id, code/error
  // Pub/sub fan-out (Node::Publish): no reply, no retry: best effort, at most once.
  kPublish = 18,      // key (= channel), value.value (= message), sharded
  // A one-slot transaction's writes (WriteCoordinator::EndBatch): applied together, one ack.
  kWriteBatch = 19,   // req_id, hint_owner (empty: Join; else hold as hints), records
  // A page of one collection's elements (range_reader.h):
  kRangeReq = 20,     // req_id, key (= ElementPrefix), value.value (= after), r (= limit)
  kRangeResp = 21,    // req_id, code/error, found (= end), records (element, record)
  // The sender's load for DYNAMO STATUS and the cluster page, every 5 s; no reply.
  kLoad = 22,         // load_keys, load_bytes
  // Anti-entropy below the leaves (anti_entropy.h): partitions, then segments, then keys.
  kAePartsReq = 23,   // req_id, ring_hash, buckets (= differing leaves), hashes (= the
                      //   sender's partition hashes, kPartsPerLeaf per leaf)
  kAePartsResp = 24,  // req_id, code/error, buckets (= partitions that differ; | 1 << 20:
                      //   small, compared key by key), hashes (= the replier's segment
                      //   hashes, kAeSegments per partition not flagged small)
  kAeDigestReq = 25,  // req_id, buckets (= cells: (partition * kAeSegments + segment) << 5
                      //   | (16: the whole segment, 0-15: one sixteenth of it, or 17 on
                      //   segment 0: the whole partition)), keys and
                      //   hashes (= the sender's keys in those cells, their item hashes)
  kAeDigestResp = 26, // req_id, code/error, records (= the replier's, where they differ or
                      //   the sender lacks them), keys (= the sender's records wanted)
  // A replica answering a read with a big record (kEncodeInPlaceBytes or more) says so first,
  // so the reader gives it time to cross (ReadCoordinator::OnComing). No reply.
  kReadComing = 27,   // req_id, load_bytes (= the coming record's size)
  // The successful acks of writes that arrived from one peer together (Node::OnMessages),
  // one frame for all: the same as a kWriteAck with code OK for each.
  kWriteAcks = 28,    // hashes (= the req_ids)
};
constexpr uint8_t kMaxMsgType = 28;
// kLoad's features: message types a node of an older release would drop, sent to a peer only
// once its kLoad says it understands them (a rolling upgrade mixes releases).
constexpr uint64_t kFeatureWriteAcks = 1;  // kWriteAcks
constexpr size_t kMaxScanKeys = 100000;
constexpr size_t kMaxAeHashes = 1u << 18;  // tree, partition and segment hashes per message
constexpr size_t kMaxAeBucket = 1u << 23;  // any tree node, partition or cell index
constexpr size_t kMaxAeRecords = 100000;   // per anti-entropy message (senders cap far lower)
constexpr size_t kMaxAeDigests = 100000;   // keys per digest message (senders cap lower)

constexpr uint16_t kFrameMagic = 0x4B44;
constexpr uint8_t kFrameVersion = 2;  // 2: weight and zone in gossip; handoff messages
constexpr size_t kFrameHeaderBytes = 8;
constexpr size_t kMacBytes = 16;
constexpr size_t kChecksumBytes = 8;
constexpr uint32_t kMaxPayloadBytes = 600u * 1024 * 1024;
constexpr size_t kMaxGossipMembers = 4096;
constexpr size_t kMaxIdBytes = 1024;  // node ids, addresses

struct Message {
  MsgType type = MsgType::kGossip;
  std::string from_id;    // all: sender's node id
  std::string from_addr;  // all: sender's cluster address (where replies go)
  uint64_t req_id = 0;    // all but gossip / read repair
  std::string key;        // requests, read repair, hinted write

  bool reply_wanted = false;         // gossip
  std::vector<MemberState> members;  // gossip

  Code code = Code::kOk;  // responses and acks
  std::string error;      // responses and acks, when code != kOk

  bool found = false;      // read response: the replica had the key
  Record record;           // read response, write, read repair, hinted write, forward resp
  // Encoding only: when set, encoded in place of `record`, so a replica answers a read from
  // its cached record without copying it. Must stay valid until the message is encoded.
  const Record* record_ref = nullptr;
  // Decoding only (DecodeFrameTaking, a write of a big value): the record's bytes as they
  // came, moved to the front of the frame's buffer; `record` then lacks its biggest value
  // (empty), which only these bytes hold. Empty otherwise.
  std::string record_bytes;
  VersionVector context;   // forward request (has_context) and forward response
  std::string hint_owner;  // hinted write: the node the record is meant for
  std::vector<std::string> keys;  // scan response: one page of live keys, in order; ae
                                  //   digest request and response
  uint64_t ring_hash = 0;          // ae tree request: the sender's ring (trees compare only
                                   //   when both sides place keys alike)
  std::vector<uint32_t> buckets;   // ae messages: tree node, partition or segment indexes
  std::vector<uint64_t> hashes;    // ae messages: tree node, partition, segment or item hashes
  std::vector<std::pair<std::string, Record>> records;  // ae keys messages, handoff chunk

  // Forward request: the client request to coordinate on the sender's behalf.
  bool is_write = false;
  int32_t r = 0;
  int32_t w = 0;
  OpKind op = OpKind::kPut;
  NewValue value;
  int64_t delta = 0;
  bool has_context = false;

  bool sharded = false;  // publish: SPUBLISH (shard channel) rather than PUBLISH
  uint64_t load_keys = 0, load_bytes = 0;  // load: live keys, storage bytes
  uint64_t features = 0;  // load: what the sender understands (kFeature*); 0 from older releases

  const Record& rec() const { return record_ref ? *record_ref : record; }
  Status status() const { return code == Code::kOk ? Status::OK() : Status(code, error); }
  void set_status(const Status& s) {
    code = s.code();
    error = s.ok() ? std::string() : s.message();
  }
};

// The trailer size for a cluster with (or without) a secret.
inline size_t TrailerBytes(bool has_secret) { return has_secret ? kMacBytes : kChecksumBytes; }

std::string EncodeFrame(const Message& msg, std::string_view secret);

// EncodeFrame's bytes for a message that carries one record (a write, hinted write, read
// repair or read response), with `record_bytes` (that record's EncodeRecord bytes, as the
// engine holds them) as the frame's middle piece instead of being copied into it. The
// message's own record is not read. The trailer, over the pieces in order, is left to the
// sender (SplitFrame::trailer).
SplitFrame EncodeSplitFrame(const Message& msg, std::string_view secret,
                            std::shared_ptr<const std::string> record_bytes);

// Corruption on bad magic/version/type/length/checksum/payload; InvalidArgument when the
// MAC does not match (wrong or missing secret). *out is unspecified on error.
Status DecodeFrame(std::string_view frame, std::string_view secret, Message* out);
// DecodeFrame of the frame at (*buf)[at, end), where a big record value (kEncodeInPlaceBytes
// or more) takes *buf's memory instead of being copied out of it (DecodeRecordTaking): a
// 100 MB write that arrived is not copied again. A write request's record stays encoded
// instead (Message::record_bytes), for the replica to store as it came. *buf is unspecified
// afterwards.
Status DecodeFrameTaking(std::string* buf, size_t at, std::string_view secret, Message* out);

// Cuts a byte stream into frames. Feed() bytes as they arrive; call Next() until it returns
// kNeedMore. After kError the stream is unusable (close the connection); error() says why.
class FrameSplitter {
 public:
  enum class Result { kFrame, kNeedMore, kError };
  explicit FrameSplitter(bool has_secret, uint32_t max_payload_bytes = kMaxPayloadBytes)
      : trailer_bytes_(TrailerBytes(has_secret)), max_payload_bytes_(max_payload_bytes) {}

  void Feed(std::string_view bytes);
  Result Next(std::string* frame);
  const Status& error() const { return error_; }
  size_t buffered_bytes() const { return buf_.size() - pos_; }

 private:
  size_t trailer_bytes_;
  uint32_t max_payload_bytes_;
  std::string buf_;
  size_t pos_ = 0;  // start of the unconsumed bytes in buf_
  Status error_;
};

}  // namespace dynakv::cluster
