// tests/fuzz/make_seeds.cc: writes the seed corpora of the fuzz targets from real encoded
// values (the encoders in cluster/, the sample configs in conf/), so the fuzzers start
// from valid inputs of every kind instead of from nothing.
// Usage: fuzz_make_seeds <repo>/tests/fuzz/corpus   (re-run after a format change; the
// seeds are committed, and each file's name says what it is).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cluster/key_layout.h"
#include "cluster/message.h"
#include "cluster/version.h"

namespace {

using namespace dynakv::cluster;
namespace fs = std::filesystem;

fs::path g_root;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(g_root / target);
  std::ofstream(g_root / target / name, std::ios::binary) << bytes;
}

std::string Byte(uint8_t b) { return std::string(1, static_cast<char>(b)); }
std::string U16(size_t n) { return Byte(n & 0xff) + Byte((n >> 8) & 0xff); }

VersionVector Vv(std::vector<std::tuple<uint64_t, uint64_t, uint64_t>> entries) {
  VersionVector vv;
  for (auto [a, c, t] : entries) vv.Raise(a, c, t);
  return vv;
}

std::vector<std::pair<std::string, Record>> SampleRecords() {
  const uint64_t now = 1'700'000'000'000ull;
  std::vector<std::pair<std::string, Record>> out;
  VersionLimits lim;
  Record plain;
  (void)ApplyWrite(&plain, {}, 11, NewValue{ValueKind::kPlain, "hello", 0, 0}, now, lim);
  out.emplace_back("plain", plain);
  Record ttl;
  (void)ApplyWrite(&ttl, {}, 12, NewValue{ValueKind::kPlain, "bye", now + 5000, 7}, now, lim);
  out.emplace_back("ttl_flags", ttl);
  Record tomb = plain;
  (void)ApplyWrite(&tomb, plain.context, 11, NewValue{ValueKind::kTombstone, "", 0, 0}, now + 1, lim);
  out.emplace_back("tombstone", tomb);
  Record sibs = plain;
  (void)ApplyWrite(&sibs, {}, 13, NewValue{ValueKind::kPlain, "concurrent", 0, 0}, now + 2, lim);
  (void)ApplyWrite(&sibs, {}, 14, NewValue{ValueKind::kPlain, std::string(40, 'x'), 0, 0}, now + 3, lim);
  out.emplace_back("siblings", sibs);
  PNCounter c;
  c.Add(21, 5);
  c.Add(22, -3);
  Record counter;
  (void)ApplyWrite(&counter, {}, 21, NewValue{ValueKind::kCounter, EncodeCounter(c), 0, 0}, now, lim);
  Record counter2 = counter;
  PNCounter c2;
  c2.base = -10;
  c2.Add(23, 1);
  (void)ApplyWrite(&counter2, {}, 23, NewValue{ValueKind::kCounter, EncodeCounter(c2), 0, 0}, now, lim);
  out.emplace_back("counters", counter2);
  Record wide;
  for (uint64_t a = 1; a <= 14; ++a) wide.context.Raise(a * 0x1000000000ull, a, now - a * 100000000);
  (void)ApplyWrite(&wide, wide.context, 99, NewValue{ValueKind::kPlain, "w", 0, 0}, now, lim);
  out.emplace_back("wide_context", wide);
  out.emplace_back("empty", Record{});
  return out;
}

void ContextSeeds() {
  std::vector<std::pair<std::string, VersionVector>> vvs = {
      {"one", Vv({{1, 1, 0}})},
      {"two", Vv({{7, 3, 1700000000000ull}, {0x8000000000000001ull, 300, 0}})},
      {"max", Vv({{UINT64_MAX, UINT64_MAX, UINT64_MAX}})},
  };
  VersionVector many;
  for (uint64_t a = 1; a <= 20; ++a) many.Raise(a * 977, a * a, a * 1000);
  vvs.emplace_back("many", many);
  for (auto& [name, vv] : vvs) {
    Write("context_fuzz", "token_" + name, Byte(0) + EncodeContext(vv, ""));
    Write("context_fuzz", "token_secret_" + name, Byte(0) + EncodeContext(vv, "fuzz-secret"));
    // The payload alone (odd modes wrap it): format byte + the vector's encoding, taken out
    // of a stored record, which encodes a vector the same way after its format byte.
    Record r;
    r.context = vv;
    std::string rec = EncodeRecord(r);
    std::string payload = Byte(1) + rec.substr(1, rec.size() - 1 - 1 - 8);  // drop "0 siblings" + seal
    Write("context_fuzz", "payload_" + name, Byte(1) + payload);
    Write("context_fuzz", "payload_secret_" + name, Byte(3) + payload);
  }
  Write("context_fuzz", "empty_token", Byte(0));
  Write("context_fuzz", "garbage_token", Byte(0) + "c1AAAA.BBBB");
}

void RecordSeeds() {
  for (auto& [name, rec] : SampleRecords()) {
    std::string bytes = EncodeRecord(rec);
    Write("record_fuzz", "stored_" + name, Byte(0) + bytes);
    Write("record_fuzz", "body_" + name, Byte(1) + bytes.substr(0, bytes.size() - 8));
    Write("record_fuzz", "body_late_" + name, Byte(7) + bytes.substr(0, bytes.size() - 8));
    std::string v1 = bytes.substr(0, bytes.size() - 8);
    v1[0] = 1;  // format 1 (XXH64 seal): still decoded
    Write("record_fuzz", "body_format1_" + name, Byte(1) + v1);
  }
}

void CounterSeeds() {
  PNCounter zero;
  Write("counter_fuzz", "zero", EncodeCounter(zero));
  PNCounter c;
  c.base = 100;
  c.Add(5, 10);
  c.Add(9, -4);
  Write("counter_fuzz", "two_slots", EncodeCounter(c));
  PNCounter big;
  big.base = INT64_MIN;
  big.Add(1, INT64_MAX);
  big.Add(UINT64_MAX, INT64_MIN);
  Write("counter_fuzz", "extremes", EncodeCounter(big));
  PNCounter many;
  for (uint64_t a = 1; a <= 12; ++a) many.Add(a << 40, static_cast<int64_t>(a) * (a % 2 ? 1 : -1000));
  Write("counter_fuzz", "many", EncodeCounter(many));
}

std::vector<Message> SampleMessages() {
  auto recs = SampleRecords();
  std::vector<Message> out;
  auto base = [](MsgType t) {
    Message m;
    m.type = t;
    m.from_id = "n2";
    m.from_addr = "127.0.0.1:7002";
    m.req_id = 77;
    return m;
  };
  Message g = base(MsgType::kGossip);
  g.reply_wanted = true;
  g.members = {{"n1", "127.0.0.1:7001", "127.0.0.1:6379", MemberStatus::kUp, 100, "a", 5, 1},
               {"n2", "127.0.0.1:7002", "127.0.0.1:6380", MemberStatus::kSuspect, 200, "b", 9, 2},
               {"n3", "127.0.0.1:7003", "", MemberStatus::kLeaving, 1, "", 1, 3}};
  out.push_back(g);
  Message rq = base(MsgType::kReadReq);
  rq.key = "user:1";
  out.push_back(rq);
  Message rr = base(MsgType::kReadResp);
  rr.found = true;
  rr.record = recs[3].second;
  out.push_back(rr);
  Message rn = base(MsgType::kReadResp);
  rn.set_status(dynakv::Status::Unavailable("not enough replicas"));
  out.push_back(rn);
  for (MsgType t : {MsgType::kWriteReq, MsgType::kReadRepair, MsgType::kHintedWrite}) {
    Message w = base(t);
    w.key = "k";
    w.record = recs[4].second;
    if (t == MsgType::kHintedWrite) w.hint_owner = "n3";
    out.push_back(w);
  }
  Message wa = base(MsgType::kWriteAck);
  out.push_back(wa);
  Message fq = base(MsgType::kForwardReq);
  fq.key = "ctr";
  fq.is_write = true;
  fq.w = 2;
  fq.op = OpKind::kCounterAdd;
  fq.delta = -5;
  fq.has_context = true;
  fq.context = recs[3].second.context;
  out.push_back(fq);
  Message fr = base(MsgType::kForwardReq);
  fr.key = "k";
  fr.r = 2;
  fr.value = NewValue{ValueKind::kPlain, "v", 123, 4};
  out.push_back(fr);
  Message fs_ = base(MsgType::kForwardResp);
  fs_.context = recs[0].second.context;
  fs_.record = recs[0].second;
  out.push_back(fs_);
  Message sq = base(MsgType::kScanReq);
  sq.key = "a";
  sq.r = 100;
  out.push_back(sq);
  Message sr = base(MsgType::kScanResp);
  sr.key = "c";
  sr.keys = {"a", "b", "c"};
  sr.found = true;
  out.push_back(sr);
  Message tq = base(MsgType::kAeTreeReq);
  tq.ring_hash = 0x1234;
  tq.hashes = {1, 2, 3, 4};
  out.push_back(tq);
  Message tr = base(MsgType::kAeTreeResp);
  tr.buckets = {0, 5, 1023};
  tr.hashes = {9, 8};
  out.push_back(tr);
  Message kq = base(MsgType::kAeKeysReq);
  kq.buckets = {3};
  kq.records = {recs[0], recs[2]};
  out.push_back(kq);
  Message kr = base(MsgType::kAeKeysResp);
  kr.records = {recs[1]};
  out.push_back(kr);
  Message pq = base(MsgType::kAePartsReq);
  pq.ring_hash = 0x5678;
  pq.buckets = {2, 1023};
  pq.hashes.assign(32, 0x42);
  out.push_back(pq);
  Message pr = base(MsgType::kAePartsResp);
  pr.buckets = {40};
  pr.hashes.assign(16, 0x43);
  out.push_back(pr);
  Message dq = base(MsgType::kAeDigestReq);
  dq.buckets = {641, 642};
  dq.keys = {"a", "b"};
  dq.hashes = {11, 12};
  out.push_back(dq);
  Message dr = base(MsgType::kAeDigestResp);
  dr.keys = {"a"};
  dr.records = {recs[1]};
  out.push_back(dr);
  Message hc = base(MsgType::kHandoffChunk);
  hc.records = {recs[0], recs[1], recs[4]};
  out.push_back(hc);
  Message ha = base(MsgType::kHandoffAck);
  out.push_back(ha);
  Message hn = base(MsgType::kHandoffAck);
  hn.set_status(dynakv::Status::NoSpace("disk full"));
  out.push_back(hn);
  Message pb = base(MsgType::kPublish);
  pb.key = "news";
  pb.value.value = "hello";
  pb.sharded = true;
  out.push_back(pb);
  Message rc = base(MsgType::kReadComing);
  rc.load_bytes = 100u << 20;
  out.push_back(rc);
  Message wa2 = base(MsgType::kWriteAcks);
  wa2.hashes = {77, 78, 79};
  out.push_back(wa2);
  return out;
}

void MessageSeeds() {
  int i = 0;
  std::string stream, stream_mac;
  for (const Message& m : SampleMessages()) {
    std::string name = std::to_string(static_cast<int>(m.type)) + "_" + std::to_string(i++);
    std::string f = EncodeFrame(m, "");
    std::string fm = EncodeFrame(m, "fuzz-secret");
    Write("message_fuzz", "frame_" + name, Byte(0) + f);
    Write("message_fuzz", "frame_mac_" + name, Byte(0) + fm);
    std::string payload = f.substr(kFrameHeaderBytes, f.size() - kFrameHeaderBytes - kChecksumBytes);
    Write("message_fuzz", "payload_" + name, Byte(1) + Byte(static_cast<uint8_t>(m.type)) + payload);
    Write("message_fuzz", "payload_mac_" + name, Byte(5) + Byte(static_cast<uint8_t>(m.type)) + payload);
    Write("message_fuzz", "payload_wrongkey_" + name, Byte(3) + Byte(static_cast<uint8_t>(m.type)) + payload);
    stream += f;
    stream_mac += fm;
  }
  Write("message_fuzz", "stream", Byte(2) + stream.substr(0, 4000));
  Write("message_fuzz", "stream_mac", Byte(6) + stream_mac.substr(0, 4000));
}

std::string Row(uint8_t tag, const std::string& key, const std::string& value) {
  return Byte(tag) + U16(key.size()) + key + U16(value.size()) + value;
}

void NodeStateSeeds() {
  auto recs = SampleRecords();
  Message g;
  g.type = MsgType::kGossip;
  g.from_id = "n1";
  g.from_addr = "127.0.0.1:7001";
  g.members = {{"n1", "127.0.0.1:7001", "", MemberStatus::kUp, 100, "", 5, 1},
               {"n2", "127.0.0.1:7002", "", MemberStatus::kUp, 100, "", 9, 2},
               {"n3", "127.0.0.1:7003", "", MemberStatus::kUp, 100, "", 1, 3}};
  std::string members = EncodeFrame(g, "");
  std::string gossip_payload =
      members.substr(kFrameHeaderBytes, members.size() - kFrameHeaderBytes - kChecksumBytes);
  std::string data;
  for (auto& [k, r] : recs) data += Row(7, k, EncodeRecord(r));
  std::string hints;
  for (auto& [k, r] : recs) hints += Row(1, std::string("n2") + '\0' + k, EncodeRecord(r));
  std::string body = EncodeRecord(recs[0].second);
  body.resize(body.size() - 8);
  std::string xfer;
  for (uint32_t p : {0u, 1u, 777u, 16383u}) {
    std::string key = TransferKey(p, "n2").substr(kXferPrefix.size());
    xfer += Row(5, key, p % 2 ? "plain" : "");
  }
  Write("node_state_fuzz", "incarnation", Row(2, "", "41"));
  Write("node_state_fuzz", "members", Row(2, "", "3") + Row(3, "", members));
  Write("node_state_fuzz", "members_payload", Row(11, "", gossip_payload));
  Write("node_state_fuzz", "data", Row(3, "", members) + data);
  Write("node_state_fuzz", "hints", Row(3, "", members) + hints);
  Write("node_state_fuzz", "hint_body", Row(3, "", members) + Row(9, std::string("n3") + '\0' + "k", body));
  Write("node_state_fuzz", "transfers", Row(3, "", members) + data + xfer);
  // Peers' frames (tag 0x80: key = type byte, value = payload) on a node that knows them.
  std::string frames;
  for (Message m : SampleMessages()) {
    m.from_id = "n2";
    m.from_addr = "127.0.0.1:7002";
    std::string f = EncodeFrame(m, "");
    frames += Row(0x80, Byte(static_cast<uint8_t>(m.type)),
                  f.substr(kFrameHeaderBytes, f.size() - kFrameHeaderBytes - kChecksumBytes));
  }
  Write("node_state_fuzz", "peer_frames", Row(3, "", members) + data + frames);
  Write("node_state_fuzz", "peer_frames_empty_store", frames);
  Write("node_state_fuzz", "leaving", Row(3, "", members) + Row(4, "", "1") + data + hints);
  // Saved anti-entropy hashes (tag 4 | 8, raw "\x01": the harness adds the header and the
  // checksum): partitions 0 and 777, the harness's 3 levels of 16 segment hashes each.
  std::string saved;
  for (uint32_t p : {0u, 777u}) {
    saved += std::string(reinterpret_cast<const char*>(&p), 4);
    for (int i = 0; i < 3 * 16; ++i) saved += std::string(8, char(i));
  }
  Write("node_state_fuzz", "ae_hashes", Row(3, "", members) + data + Row(12, "\x01", saved));
}

void ConfigSeeds(const fs::path& repo) {
  for (const char* f : {"conf/single.toml", "conf/cluster/n1.toml", "conf/cluster/n2.toml"}) {
    std::ifstream in(repo / f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string name = fs::path(f).stem().string();
    Write("config_fuzz", "toml_" + name, Byte(0) + ss.str());
  }
  Write("config_fuzz", "toml_types",
        Byte(0) + "[node]\nid = \"n9\"\nweight = 3\n[cluster]\nseeds = [\"a:1\", \"b:2\"]\n"
                  "auto_commit = false\n[limits]\ntimeout = 5\n[cluster]\ntokens = 3\n");
  Write("config_fuzz", "toml_keyspace",
        Byte(0) + "[listen]\ncluster = \"127.0.0.1:7001\"\n[replication]\nn = 3\nr = 2\nw = 2\n"
                  "[[keyspace]]\nprefix = \"cache:\"\nn = 1\nconflict = \"lww\"\n"
                  "[[keyspace]]\nprefix = \"audit:\"\nn = 5\nw = 4\n");
  auto argv = [](std::vector<std::string> a) {
    std::string s = Byte(1);
    for (size_t i = 0; i < a.size(); ++i) s += (i ? std::string(1, '\0') : "") + a[i];
    return s;
  };
  Write("config_fuzz", "argv_basic", argv({"--port", "7000", "--replication.n=1", "--node.id", "x"}));
  Write("config_fuzz", "argv_cluster",
        argv({"--listen.cluster=127.0.0.1:7001", "--replication.n", "3", "--replication.w=2",
              "--cluster.seeds=127.0.0.1:7002,127.0.0.1:7003", "--cluster.auto_commit", "no"}));
  Write("config_fuzz", "argv_help", argv({"--help"}));
}

void ProtocolSeeds() {
  Write("resp_fuzz", "set_get", std::string(9, '\0') +
                                    "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  Write("resp_fuzz", "inline_split", std::string("\x02\x01\x02\x03\x04\x05\x06\x07\x08", 9) +
                                         "PING\r\nECHO hi\r\n*1\r\n$4\r\nPING\r\n");
  Write("memcache_fuzz", "text", Byte(3) + "xyz" + "set k 0 0 1\r\nv\r\nget k\r\ndelete k\r\n");
  Write("memcache_fuzz", "meta", Byte(1) + "a" + "ms k 2 T0 F5\r\nhi\r\nmg k v f c\r\nmn\r\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <repo>/tests/fuzz/corpus\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  ContextSeeds();
  RecordSeeds();
  CounterSeeds();
  MessageSeeds();
  NodeStateSeeds();
  ConfigSeeds(g_root.parent_path().parent_path().parent_path());
  ProtocolSeeds();
  return 0;
}
