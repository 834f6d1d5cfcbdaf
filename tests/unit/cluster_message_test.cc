// Inter-node message codec: round trips, truncation, garbage, authentication, splitting.
#include "cluster/message.h"
#include "cluster/key_layout.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include "cluster/env.h"

namespace dynakv::cluster {
namespace {

Record SampleRecord() {
  Record rec;
  NewValue v;
  v.value = "hello";
  v.flags = 7;
  EXPECT_TRUE(ApplyWrite(&rec, {}, 11, v, 1000, VersionLimits{}).ok());
  VersionVector stale;
  v.value = "world";
  EXPECT_TRUE(ApplyWrite(&rec, stale, 22, v, 2000, VersionLimits{}).ok());  // a sibling
  return rec;
}

std::vector<Message> AllTypes() {
  std::vector<Message> out;
  Message g;
  g.type = MsgType::kGossip;
  g.reply_wanted = true;
  g.members.push_back({"n1", "127.0.0.1:7001", "127.0.0.1:6001", MemberStatus::kUp, 256, "az-1", 5, 2});
  g.members.push_back({"n2", "127.0.0.1:7002", "", MemberStatus::kRemoved, 128, "", 9, 1});
  out.push_back(g);

  Message rq;
  rq.type = MsgType::kReadReq;
  rq.req_id = 42;
  rq.key = std::string("k\0ey", 4);
  out.push_back(rq);

  Message rr;
  rr.type = MsgType::kReadResp;
  rr.req_id = 43;
  rr.found = true;
  rr.record = SampleRecord();
  out.push_back(rr);
  Message rr_miss = rr;
  rr_miss.found = false;
  rr_miss.record = Record();
  rr_miss.set_status(Status::Corruption("bad"));
  out.push_back(rr_miss);

  for (MsgType t : {MsgType::kWriteReq, MsgType::kReadRepair, MsgType::kHintedWrite}) {
    Message w;
    w.type = t;
    w.req_id = 44;
    w.key = "key";
    w.record = SampleRecord();
    if (t == MsgType::kHintedWrite) w.hint_owner = "n3";
    out.push_back(w);
  }

  Message ack;
  ack.type = MsgType::kWriteAck;
  ack.req_id = 45;
  ack.set_status(Status::NoSpace("disk full"));
  out.push_back(ack);

  Message fw;
  fw.type = MsgType::kForwardReq;
  fw.req_id = 46;
  fw.key = "fk";
  fw.is_write = true;
  fw.w = 2;
  fw.op = OpKind::kCounterAdd;
  fw.value.kind = ValueKind::kPlain;
  fw.value.value = "v";
  fw.value.expiry_ms = 123;
  fw.value.flags = 9;
  fw.delta = -5;
  fw.has_context = true;
  fw.context = SampleRecord().context;
  out.push_back(fw);
  Message fr = fw;
  fr.is_write = false;
  fr.r = 3;
  fr.has_context = false;
  fr.context = VersionVector();
  out.push_back(fr);
  Message fz = fw;  // ZINCRBY forwarded: the increment's bits ride in delta
  fz.op = OpKind::kScoreAdd;
  fz.delta = ScoreDeltaBits(-2.75);
  out.push_back(fz);
  Message ff = fw;  // HINCRBYFLOAT forwarded: the long double increment rides in the value
  ff.op = OpKind::kFloatAdd;
  ff.value.kind = ValueKind::kCounter;
  ff.value.value = EncodeFloatAdd(0.1L, nullptr);
  out.push_back(ff);

  Message fresp;
  fresp.type = MsgType::kForwardResp;
  fresp.req_id = 47;
  fresp.record = SampleRecord();
  fresp.context = fresp.record.context;
  out.push_back(fresp);

  Message atq;
  atq.type = MsgType::kAeTreeReq;
  atq.req_id = 48;
  atq.ring_hash = 0xfeedfacecafebeefull;
  for (uint64_t i = 0; i < 32; ++i) atq.hashes.push_back(i * 0x9E3779B97F4A7C15ull);
  out.push_back(atq);
  Message atr;
  atr.type = MsgType::kAeTreeResp;
  atr.req_id = 49;
  atr.buckets = {3, 31};
  for (uint64_t i = 0; i < 64; ++i) atr.hashes.push_back(~i);
  out.push_back(atr);
  Message atr_err;
  atr_err.type = MsgType::kAeTreeResp;
  atr_err.req_id = 50;
  atr_err.set_status(Status::Unavailable("not ready"));
  out.push_back(atr_err);
  Message akq;
  akq.type = MsgType::kAeKeysReq;
  akq.req_id = 51;
  akq.buckets = {7, 1023};
  akq.records.emplace_back("a", SampleRecord());
  akq.records.emplace_back(std::string("b\0c", 3), Record());
  out.push_back(akq);
  Message akr = akq;
  akr.type = MsgType::kAeKeysResp;
  akr.buckets.clear();
  akr.req_id = 52;
  out.push_back(akr);
  Message apq;
  apq.type = MsgType::kAePartsReq;
  apq.req_id = 60;
  apq.ring_hash = 0x1234567890abcdefull;
  apq.buckets = {5, 1023};
  for (uint64_t i = 0; i < 32; ++i) apq.hashes.push_back(i * 77);
  out.push_back(apq);
  Message apr;
  apr.type = MsgType::kAePartsResp;
  apr.req_id = 61;
  apr.buckets = {16383};
  for (uint64_t i = 0; i < 16; ++i) apr.hashes.push_back(~(i * 5));
  out.push_back(apr);
  Message apr_err;
  apr_err.type = MsgType::kAePartsResp;
  apr_err.req_id = 62;
  apr_err.set_status(Status::Unavailable("rings differ"));
  out.push_back(apr_err);
  Message adq;
  adq.type = MsgType::kAeDigestReq;
  adq.req_id = 63;
  adq.buckets = {16383 * 16 + 15, 4};
  adq.keys = {"k1", std::string("k\0two", 5)};
  adq.hashes = {0x55, 0xaaaaaaaaaaaaaaaaull};
  out.push_back(adq);
  Message adr;
  adr.type = MsgType::kAeDigestResp;
  adr.req_id = 64;
  adr.keys = {"k1"};
  adr.records.emplace_back("k3", SampleRecord());
  out.push_back(adr);
  Message hc;
  hc.type = MsgType::kHandoffChunk;
  hc.req_id = 53;
  hc.records.emplace_back("{t}a", SampleRecord());
  hc.records.emplace_back("other", SampleRecord());
  out.push_back(hc);
  Message ha;
  ha.type = MsgType::kHandoffAck;
  ha.req_id = 54;
  out.push_back(ha);
  Message ha_err = ha;
  ha_err.set_status(Status::NoSpace("disk full"));
  out.push_back(ha_err);
  Message pub;
  pub.type = MsgType::kPublish;
  pub.key = "news.{eu}";
  pub.value.value = std::string("binary\0\r\npayload", 17);
  out.push_back(pub);
  Message spub = pub;
  spub.sharded = true;
  spub.value.value.clear();  // an empty message is a message
  out.push_back(spub);
  Message range_rq;
  range_rq.type = MsgType::kRangeReq;
  range_rq.req_id = 55;
  range_rq.key = ElementPrefix('s', "{t}set");
  range_rq.value.value = std::string("after\0\xff", 7);
  range_rq.r = 100;
  out.push_back(range_rq);
  Message load;
  load.type = MsgType::kLoad;
  load.load_keys = 123456789;
  load.load_bytes = 1ull << 40;
  load.features = kFeatureWriteAcks;
  out.push_back(load);
  Message coming;
  coming.type = MsgType::kReadComing;
  coming.req_id = 57;
  coming.load_bytes = 300ull << 20;
  out.push_back(coming);
  Message acks;
  acks.type = MsgType::kWriteAcks;
  acks.hashes = {1, 2, 1ull << 63, 77};
  out.push_back(acks);
  Message rs;
  rs.type = MsgType::kRangeResp;
  rs.req_id = 56;
  rs.found = true;
  rs.records.emplace_back("m1", SampleRecord());
  rs.records.emplace_back(std::string("\0m2", 3), SampleRecord());
  out.push_back(rs);
  Message rs_err = rs;
  rs_err.records.clear();
  rs_err.found = false;
  rs_err.set_status(Status::IOError("disk"));
  out.push_back(rs_err);
  for (auto& m : out) {
    m.from_id = "n9";
    m.from_addr = "10.0.0.9:7379";
  }
  return out;
}

void ExpectSame(const Message& a, const Message& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.from_id, b.from_id);
  EXPECT_EQ(a.from_addr, b.from_addr);
  EXPECT_EQ(a.req_id, b.req_id);
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.reply_wanted, b.reply_wanted);
  EXPECT_EQ(a.members, b.members);
  EXPECT_EQ(a.code, b.code);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.found, b.found);
  EXPECT_EQ(a.record, b.record);
  EXPECT_EQ(a.context, b.context);
  EXPECT_EQ(a.hint_owner, b.hint_owner);
  EXPECT_EQ(a.ring_hash, b.ring_hash);
  EXPECT_EQ(a.buckets, b.buckets);
  EXPECT_EQ(a.hashes, b.hashes);
  EXPECT_EQ(a.records, b.records);
  EXPECT_EQ(a.load_keys, b.load_keys);
  EXPECT_EQ(a.load_bytes, b.load_bytes);
  EXPECT_EQ(a.features, b.features);
  if (a.type == MsgType::kRangeReq) {
    EXPECT_EQ(a.value.value, b.value.value);
    EXPECT_EQ(a.r, b.r);
  }
  if (a.type == MsgType::kPublish) {
    EXPECT_EQ(a.value.value, b.value.value);
    EXPECT_EQ(a.sharded, b.sharded);
  }
  if (a.type == MsgType::kForwardReq) {
    EXPECT_EQ(a.is_write, b.is_write);
    EXPECT_EQ(a.r, b.r);
    EXPECT_EQ(a.w, b.w);
    EXPECT_EQ(a.op, b.op);
    EXPECT_EQ(a.value.kind, b.value.kind);
    EXPECT_EQ(a.value.value, b.value.value);
    EXPECT_EQ(a.value.expiry_ms, b.value.expiry_ms);
    EXPECT_EQ(a.value.flags, b.value.flags);
    EXPECT_EQ(a.delta, b.delta);
    EXPECT_EQ(a.has_context, b.has_context);
  }
}

TEST(MessageTest, RoundTripEveryTypeWithAndWithoutSecret) {
  for (std::string secret : {"", "s3cret"}) {
    for (const auto& m : AllTypes()) {
      std::string f = EncodeFrame(m, secret);
      Message out;
      ASSERT_TRUE(DecodeFrame(f, secret, &out).ok()) << static_cast<int>(m.type);
      ExpectSame(m, out);
    }
  }
}

TEST(MessageTest, AntiEntropyBoundsAreEnforced) {
  Message m;
  m.type = MsgType::kAeTreeReq;
  m.from_id = "n1";
  m.from_addr = "a:1";
  m.hashes.assign(kMaxAeHashes + 1, 7);
  Message out;
  EXPECT_FALSE(DecodeFrame(EncodeFrame(m, ""), "", &out).ok());
  m.hashes.assign(kMaxAeHashes, 7);
  EXPECT_TRUE(DecodeFrame(EncodeFrame(m, ""), "", &out).ok());
  Message k;
  k.type = MsgType::kAeKeysReq;
  k.from_id = "n1";
  k.from_addr = "a:1";
  k.buckets = {static_cast<uint32_t>(kMaxAeBucket)};  // no such tree node or segment
  EXPECT_FALSE(DecodeFrame(EncodeFrame(k, ""), "", &out).ok());
  Message d;
  d.type = MsgType::kAeDigestReq;
  d.from_id = "n1";
  d.from_addr = "a:1";
  d.keys.assign(kMaxAeDigests + 1, "k");
  EXPECT_FALSE(DecodeFrame(EncodeFrame(d, ""), "", &out).ok());
  d.keys.assign(kMaxAeDigests, "k");
  EXPECT_TRUE(DecodeFrame(EncodeFrame(d, ""), "", &out).ok());
}

TEST(MessageTest, EveryTruncationAndExtensionIsRejected) {
  for (std::string secret : {"", "k"}) {
    for (const auto& m : AllTypes()) {
      std::string f = EncodeFrame(m, secret);
      for (size_t len = 0; len < f.size(); ++len) {
        Message out;
        EXPECT_FALSE(DecodeFrame(std::string_view(f).substr(0, len), secret, &out).ok());
      }
      Message out;
      EXPECT_FALSE(DecodeFrame(f + "x", secret, &out).ok());
    }
  }
}

TEST(MessageTest, EveryBitFlipIsRejected) {
  for (std::string secret : {"", "k"}) {
    std::string f = EncodeFrame(AllTypes()[2], secret);
    for (size_t i = 0; i < f.size(); ++i) {
      for (int bit = 0; bit < 8; bit += 3) {
        std::string g = f;
        g[i] = static_cast<char>(g[i] ^ (1 << bit));
        Message out;
        EXPECT_FALSE(DecodeFrame(g, secret, &out).ok()) << i;
      }
    }
  }
}

TEST(MessageTest, RandomGarbageNeverCrashes) {
  SeededRandom rnd(7);
  for (int i = 0; i < 20000; ++i) {
    std::string g(rnd.Uniform(200), '\0');
    for (auto& c : g) c = static_cast<char>(rnd.Next());
    if (i % 2 && g.size() >= 4) {  // a plausible header to reach deeper code
      g[0] = 0x44;
      g[1] = 0x4B;
      g[2] = 1;
      g[3] = static_cast<char>(1 + rnd.Uniform(kMaxMsgType));
    }
    Message out;
    (void)DecodeFrame(g, i % 3 ? "" : "k", &out);
  }
}

// A checksum-valid frame whose payload is garbage: the payload decoder must bound itself.
TEST(MessageTest, ValidFrameWithGarbagePayloadIsRejected) {
  SeededRandom rnd(9);
  auto msgs = AllTypes();
  int rejected = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string f = EncodeFrame(msgs[rnd.Uniform(msgs.size())], "");
    std::string body = f.substr(0, f.size() - kChecksumBytes);
    for (int j = 0; j < 1 + static_cast<int>(rnd.Uniform(4)); ++j) {
      size_t pos = kFrameHeaderBytes + rnd.Uniform(body.size() - kFrameHeaderBytes);
      body[pos] = static_cast<char>(rnd.Next());
    }
    uint64_t sum = XXH64(body.data(), body.size(), 0);
    std::string frame = body;
    for (int b = 0; b < 8; ++b) frame.push_back(static_cast<char>(sum >> (8 * b)));
    Message out;
    if (!DecodeFrame(frame, "", &out).ok()) ++rejected;
  }
  EXPECT_GT(rejected, 0);
}

TEST(MessageTest, WrongOrMissingSecretIsRejected) {
  std::string f = EncodeFrame(AllTypes()[4], "right");
  Message out;
  Status s = DecodeFrame(f, "wrong", &out);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_FALSE(DecodeFrame(f, "", &out).ok());
  EXPECT_FALSE(DecodeFrame(EncodeFrame(AllTypes()[4], ""), "right", &out).ok());
}

TEST(FrameSplitterTest, ByteByByteAndCoalesced) {
  auto msgs = AllTypes();
  std::string stream;
  for (auto& m : msgs) stream += EncodeFrame(m, "k");
  FrameSplitter sp(/*has_secret=*/true);
  std::vector<std::string> frames;
  std::string f;
  for (char c : stream) {
    sp.Feed(std::string_view(&c, 1));
    while (sp.Next(&f) == FrameSplitter::Result::kFrame) frames.push_back(f);
  }
  ASSERT_EQ(frames.size(), msgs.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    Message out;
    ASSERT_TRUE(DecodeFrame(frames[i], "k", &out).ok());
    ExpectSame(msgs[i], out);
  }
  FrameSplitter all(true);
  all.Feed(stream);
  size_t n = 0;
  while (all.Next(&f) == FrameSplitter::Result::kFrame) ++n;
  EXPECT_EQ(n, msgs.size());
  EXPECT_EQ(all.buffered_bytes(), 0u);
}

TEST(FrameSplitterTest, RejectsBadMagicAndOversize) {
  FrameSplitter sp(false);
  sp.Feed("GET / HTTP/1.1\r\n");
  std::string f;
  EXPECT_EQ(sp.Next(&f), FrameSplitter::Result::kError);
  EXPECT_FALSE(sp.error().ok());

  FrameSplitter small(false, /*max_payload_bytes=*/100);
  small.Feed(EncodeFrame(AllTypes()[2], ""));  // > 100 payload bytes
  EXPECT_EQ(small.Next(&f), FrameSplitter::Result::kError);
  EXPECT_EQ(small.error().code(), Code::kLimit);

  FrameSplitter huge(false);
  std::string hdr = "\x44\x4B\x01\x01\xff\xff\xff\xff";  // 4 GB payload claimed
  huge.Feed(hdr);
  EXPECT_EQ(huge.Next(&f), FrameSplitter::Result::kError);
}

}  // namespace
}  // namespace dynakv::cluster

namespace dynakv::cluster {
namespace {

// The publish frame's flag byte is 0 or 1, and its two strings are length-checked.
TEST(MessageTest, PublishFrameRejectsBadFlagAndTruncation) {
  Message m;
  m.type = MsgType::kPublish;
  m.from_id = "n1";
  m.from_addr = "a:1";
  m.key = "ch";
  m.value.value = "msg";
  std::string f = EncodeFrame(m, "");
  std::string body = f.substr(0, f.size() - kChecksumBytes);
  auto reseal = [](std::string b) {
    std::string out = b;
    uint64_t h = XXH64(b.data(), b.size(), 0);
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((h >> (8 * i)) & 0xff));
    return out;
  };
  Message out;
  ASSERT_TRUE(DecodeFrame(reseal(body), "", &out).ok());
  EXPECT_EQ(out.key, "ch");
  EXPECT_FALSE(out.sharded);
  std::string bad_flag = body;
  bad_flag.back() = 2;  // the flag is the last payload byte
  EXPECT_FALSE(DecodeFrame(reseal(bad_flag), "", &out).ok());
  // A payload cut short (header length fixed up to match) is malformed, not a crash.
  std::string cut = body.substr(0, body.size() - 3);
  uint32_t len = static_cast<uint32_t>(cut.size() - kFrameHeaderBytes);
  for (int i = 0; i < 4; ++i) cut[4 + i] = static_cast<char>((len >> (8 * i)) & 0xff);
  EXPECT_FALSE(DecodeFrame(reseal(cut), "", &out).ok());
}

// A record with a value of kEncodeInPlaceBytes or more next to a small sibling.
Record BigRecord() {
  Record rec = SampleRecord();
  NewValue v;
  v.value.assign(kEncodeInPlaceBytes + 123, 'b');
  v.value[77] = 'q';
  VersionVector stale;
  EXPECT_TRUE(ApplyWrite(&rec, stale, 33, v, 3000, VersionLimits{}).ok());  // a third sibling
  return rec;
}

// A message of type t that carries rec (a write, hinted write, read repair or read reply).
Message Carrying(MsgType t, Record rec) {
  Message m;
  m.type = t;
  m.from_id = "n1";
  m.from_addr = "10.0.0.1:7379";
  m.req_id = 99;
  m.key = "some key";
  m.found = true;
  if (t == MsgType::kHintedWrite) m.hint_owner = "n3";
  m.record = std::move(rec);
  return m;
}

// The frame around a record's stored bytes (EncodeSplitFrame) is EncodeFrame's, byte for
// byte, with the bytes shared rather than copied.
TEST(MessageTest, SplitFrameIsTheFrameEncodeFrameMakes) {
  for (std::string secret : {"", "s3cret"}) {
    for (Record rec : {SampleRecord(), BigRecord()}) {
      for (MsgType t : {MsgType::kWriteReq, MsgType::kHintedWrite, MsgType::kReadRepair, MsgType::kReadResp}) {
        Message m = Carrying(t, Record());
        auto bytes = std::make_shared<const std::string>(EncodeRecord(rec));
        SplitFrame split = EncodeSplitFrame(m, secret, bytes);
        EXPECT_EQ(split.middle.get(), bytes.get());
        m.record = rec;
        std::string whole = EncodeFrame(m, secret);
        ASSERT_EQ(split.size(), whole.size());
        EXPECT_TRUE(split.Join() == whole) << static_cast<int>(t) << " secret=" << secret;
        Message out;
        ASSERT_TRUE(DecodeFrame(split.Join(), secret, &out).ok());
        EXPECT_EQ(out.record, rec);
      }
    }
  }
}

// DecodeFrameTaking: a big value takes the frame's buffer (no copy); a write request keeps
// its record's bytes as they came instead. Damage is still refused.
TEST(MessageTest, TakingDecodeMovesTheBigValueInsteadOfCopyingIt) {
  for (std::string secret : {"", "k"}) {
    Record rec = BigRecord();
    for (MsgType t : {MsgType::kReadResp, MsgType::kWriteReq, MsgType::kHintedWrite}) {
      Message m = Carrying(t, rec);
      std::string buf = "pfx:" + EncodeFrame(m, secret);
      const char* memory = buf.data();
      Message out;
      ASSERT_TRUE(DecodeFrameTaking(&buf, 4, secret, &out).ok());
      EXPECT_EQ(out.req_id, 99u);
      if (t == MsgType::kWriteReq) {
        EXPECT_EQ(out.record_bytes, EncodeRecord(rec));
        EXPECT_EQ(out.record_bytes.data(), memory);
        Record versions = rec;
        for (Sibling& s : versions.siblings) {
          if (s.value.size() >= kEncodeInPlaceBytes) s.value.clear();
        }
        EXPECT_EQ(out.record, versions);
      } else {
        EXPECT_TRUE(out.record_bytes.empty());
        EXPECT_EQ(out.record, rec);
        bool moved = false;
        for (const Sibling& s : out.record.siblings) moved |= s.value.data() == memory;
        EXPECT_TRUE(moved);
      }
      // One flipped byte inside the big value: refused, by the frame's trailer.
      std::string bad = "pfx:" + EncodeFrame(m, secret);
      bad[bad.size() / 2] ^= 1;
      EXPECT_FALSE(DecodeFrameTaking(&bad, 4, secret, &out).ok());
    }
    // A small record decodes as DecodeFrame decodes it, copied.
    Message w;
    w.type = MsgType::kWriteReq;
    w.from_id = "n2";
    w.from_addr = "a:1";
    w.key = "small";
    w.record = SampleRecord();
    std::string buf = EncodeFrame(w, secret);
    Message out;
    ASSERT_TRUE(DecodeFrameTaking(&buf, 0, secret, &out).ok());
    EXPECT_TRUE(out.record_bytes.empty());
    EXPECT_EQ(out.record, w.record);
  }
}

}  // namespace
}  // namespace dynakv::cluster
