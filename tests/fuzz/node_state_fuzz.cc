// tests/fuzz/node_state_fuzz.cc: libFuzzer target for a node restarting on whatever its
// storage holds: the persisted hints ("h/" owner NUL key -> record), the transfer cursors
// ("m/xfer/" P target -> cursor), the incarnation, the saved member list (a gossip frame),
// the leaving flag and the replica records (cluster/key_layout.h lists the layout).
//
// Input: rows [tag][u16 len][key][u16 len][value] until the input ends. tag & 0x80: the row
// is a frame a peer sends once the node runs (key[0] = message type, value = payload; the
// harness adds header and checksum), so the node's handling of every decoded message
// (gossip, writes, hinted writes, handoff chunks and acks, anti-entropy, scans, publish) is
// fuzzed against the stored state too. Otherwise tag % 8 picks the
// key space (0 "d/" + raw, 1 "h/" + raw, 2 m/incarnation, 3 m/members, 4 m/leaving, or
// m/ae-hashes when raw starts with an odd byte, 5 "m/xfer/" + raw, 6 raw, 7 DataKey(raw));
// tag & 8 seals the value as a record (or, for m/members, wraps it into a checksummed
// gossip frame; for m/ae-hashes, puts this node's header in front and the checksum after)
// so the decoders behind the checksums are reached. The harness then starts a Node on that state and runs it for a few seconds
// of fake time: hint delivery, handoff and gossip passes, each frame it sends answered with
// an ack from its target; then reads, scans, reaps and flushes.
// Checks: no crash, hang or unbounded allocation whatever the disk holds and whatever peers
// send (Start may refuse
// with a Status); every frame the node sends decodes; the key-layout splitters invert
// their builders (SplitHintKey(HintKey(o, k)), SplitTransferKey(TransferKey(p, t))).
// Run: scripts/fuzz.sh node_state_fuzz (seeds: tests/fuzz/corpus/node_state_fuzz).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>

#include "cluster/key_layout.h"
#include "cluster/message.h"
#include "cluster/node.h"
#include "storage/mem_engine.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace dynakv::cluster;
using dynakv::Status;
using dynakv::fuzz::Check;

class FakeClock final : public Clock {
 public:
  uint64_t NowMs() override { return now_ms; }
  uint64_t WallMs() override { return 1'700'000'000'000ull + now_ms; }
  uint64_t now_ms = 1000;
};

class Outbox final : public Transport {
 public:
  void Send(const std::string& to, std::string frame) override {
    if (frames.size() < 1000) frames.emplace_back(to, std::move(frame));
  }
  std::deque<std::pair<std::string, std::string>> frames;
};

constexpr char kSelfAddr[] = "127.0.0.1:7001";

void CheckKeyLayout(std::string_view raw) {
  size_t cut = raw.find('\0');
  std::string owner(raw.substr(0, cut == std::string_view::npos ? raw.size() : cut));
  std::string o, k;
  Check(SplitHintKey(HintKey(owner, raw), &o, &k));
  Check(o == owner && k == raw);
  uint32_t p = raw.empty() ? 0 : static_cast<uint8_t>(raw[0]) * 64u;
  std::string target;
  if (SplitTransferKey(TransferKey(p, raw), &p, &target)) Check(target == raw);
  std::string data = DataKey(raw);
  Check(ClientKeyOf(data) == raw);
  Check(PartitionOfDataKey(data) == RecordPartition(raw));
  // Record keys: parsing never reads out of bounds, and what it names maps back.
  ParsedRecordKey parsed = ParseRecordKey(raw);
  if (parsed.kind == RecordKind::kPlain) {
    Check(PlainRecordKey(parsed.key) == raw);
    Check(RecordPartition(raw) == KeyPartition(parsed.key));
  } else if (parsed.kind == RecordKind::kElement) {
    Check(RecordPartition(raw) == KeyPartition(parsed.key));
    Check(parsed.type != kRecordEscape);
  }
}

// Answers a frame the node sent as its target would: an ack for writes and handoff chunks.
void Answer(Node* node, const std::string& to, const std::string& frame) {
  Message m;
  Check(DecodeFrame(frame, "", &m).ok());
  Message reply;
  reply.req_id = m.req_id;
  reply.from_addr = to;
  for (const auto& mi : node->Members()) {
    if (mi.cluster_addr == to) reply.from_id = mi.id;
  }
  if (reply.from_id.empty()) return;
  switch (m.type) {
    case MsgType::kWriteReq:
    case MsgType::kHintedWrite:
      reply.type = MsgType::kWriteAck;
      break;
    case MsgType::kHandoffChunk:
      reply.type = MsgType::kHandoffAck;
      break;
    default:
      return;
  }
  node->OnMessage(EncodeFrame(reply, ""));
}

NodeConfig HarnessConfig() {
  NodeConfig cfg;
  cfg.id = "n1";
  cfg.cluster_addr = kSelfAddr;
  cfg.n = 2;
  // Keyspace policies of other widths (n = 1 last-writer-wins, n = 3), so the per-level
  // paths of placement, handoff and the write path meet the stored state too.
  cfg.keyspaces = {{"k", 1, 1, 1, true}, {"x", 3, 2, 2, false}};
  cfg.ae_interval_ms = 0;
  cfg.record_cache_bytes = 1 << 20;
  return cfg;
}

// What a clean stop of this harness's node writes to m/ae-hashes before its partitions
// ("AEH2", tree tag, partitions, segments, level count; AntiEntropy::SaveHashes), so sealed rows get past them.
const std::string& AeHashesHeader() {
  static const std::string header = [] {
    dynakv::storage::MemEngine engine;
    FakeClock clock;
    SeededRandom rnd(7);
    Outbox net;
    Node node(HarnessConfig(), &net, &clock, &rnd, &engine, nullptr);
    std::string saved;
    Check(node.Start().ok() && node.SaveForRestart().ok() && engine.Get(kAeHashesKey, &saved).ok());
    Check(saved.size() == 32);  // header, no partition, checksum
    return saved.substr(0, 24);
  }();
  return header;
}

std::string SealAeHashes(std::string_view body) {
  std::string out = AeHashesHeader() + std::string(body);
  uint64_t h = XXH3_64bits(out.data(), out.size());
  out.append(reinterpret_cast<const char*>(&h), sizeof h);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  dynakv::fuzz::Pieces in(std::string_view(reinterpret_cast<const char*>(bytes), size));
  dynakv::storage::MemEngine engine;
  std::vector<dynakv::storage::WriteOp> rows;
  std::vector<std::string> keys;
  std::vector<std::string> inbound;  // frames peers send once the node runs
  while (!in.empty() && rows.size() < 256) {
    uint8_t tag = in.Byte();
    std::string raw(in.Take());
    std::string value(in.Take());
    if (tag & 0x80) {
      // A frame from a peer: raw[0] is the message type, value the payload.
      if (inbound.size() < 64) {
        inbound.push_back(dynakv::fuzz::SealFrame(raw.empty() ? 0 : uint8_t(raw[0]), value, ""));
      }
      continue;
    }
    CheckKeyLayout(raw);
    bool seal = tag & 8;
    std::string key;
    switch (tag % 8) {
      case 0: key = std::string(kDataPrefix) + raw; break;
      case 1: key = std::string(kHintPrefix) + raw; break;
      case 2: key = std::string(kIncarnationKey); break;
      case 3:
        key = std::string(kMembersKey);
        if (seal) value = dynakv::fuzz::SealFrame(uint8_t(MsgType::kGossip), value, "");
        seal = false;
        break;
      case 4:
        if (!raw.empty() && (uint8_t(raw[0]) & 1)) {
          key = std::string(kAeHashesKey);
          if (seal) value = SealAeHashes(value);
          seal = false;
        } else {
          key = std::string(kLeavingKey);
        }
        break;
      case 5: key = std::string(kXferPrefix) + raw; break;
      case 6: key = raw; break;
      case 7: key = DataKey(raw); break;
    }
    if (seal) value = dynakv::fuzz::SealRecord(value);
    if (key.empty() || key.size() > dynakv::storage::kKeyBytesMax) continue;
    keys.push_back(raw);
    rows.push_back({dynakv::storage::WriteOp::Kind::kPut, std::move(key), std::move(value)});
  }
  if (!engine.Write(rows).ok()) return 0;
  Check(engine.Commit().ok());

  FakeClock clock;
  SeededRandom rnd(7);
  Outbox net;
  Node node(HarnessConfig(), &net, &clock, &rnd, &engine, nullptr);
  if (!node.Start().ok()) return 0;

  // A few seconds of node life: gossip, hint delivery, handoff ticks; acks come back.
  for (int step = 0; step < 8; ++step) {
    clock.now_ms += 600;
    node.OnTick();
    for (size_t f = step; f < inbound.size(); f += 8) node.OnMessage(inbound[f]);
    Check(engine.Commit().ok());
    size_t budget = 200;
    while (!net.frames.empty() && budget-- > 0) {
      auto [to, frame] = std::move(net.frames.front());
      net.frames.pop_front();
      Answer(&node, to, frame);
      Check(engine.Commit().ok());
    }
    net.frames.clear();
  }
  (void)node.Members();
  (void)node.Transfers();
  size_t seen = 0;
  (void)node.ScanLocal("", 0, [&](std::string_view, const Record&) { return ++seen < 1000; });
  for (size_t i = 0; i < keys.size() && i < 16; ++i) {
    node.Read(keys[i], 1, [](Status, ReadReply) {});
    (void)node.ReapLocal(keys[i], 0, 0);
  }
  Check(node.FlushLocal().ok());
  return 0;
}
