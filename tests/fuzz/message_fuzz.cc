// tests/fuzz/message_fuzz.cc: libFuzzer target for the inter-node frame codec
// (cluster/message.h: DecodeFrame, EncodeFrame, FrameSplitter), every message type.
//
// Input: [mode][rest].
//   mode % 4 == 0: rest is a frame as received, decoded without and with a secret.
//   mode % 4 == 1: rest = [type][payload]; the harness wraps it in a correct header and
//                  checksum (mode & 4: a correct MAC under a secret), so every message
//                  type's payload decoder is what gets fuzzed (gossip, reads, writes,
//                  hinted writes, forwards, scans, anti-entropy, handoff chunk and ack,
//                  publish). mode & 8 also sets a wrong frame version.
//   mode % 4 == 2: rest is a byte stream for FrameSplitter, fed in pieces whose sizes come
//                  from the stream itself; every frame it cuts is decoded.
//   mode % 4 == 3: as 1, then the frame is checked under the wrong secret (must fail).
// Checks: no crash, no read out of bounds, no huge allocation from a forged count; decode
// ok => EncodeFrame => DecodeFrame ok and re-encodes to the same bytes (encoder and decoder
// agree); FrameSplitter keeps its contract (frames are whole; after kError it stays failed).
// Run: scripts/fuzz.sh message_fuzz (seeds: tests/fuzz/corpus/message_fuzz).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cluster/message.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace dynakv::cluster;
using dynakv::Status;
using dynakv::fuzz::Check;

constexpr std::string_view kSecret = "fuzz-secret";

// Decodes; on success checks the encoder reproduces a frame that decodes to the same bytes.
bool DecodeAndCheck(std::string_view frame, std::string_view secret) {
  Message m;
  Status s = DecodeFrame(frame, secret, &m);
  if (!s.ok()) {
    Check(s.code() == dynakv::Code::kCorruption || s.code() == dynakv::Code::kInvalidArgument);
    Check(!s.message().empty());
    return false;
  }
  Check(static_cast<uint8_t>(m.type) >= 1 && static_cast<uint8_t>(m.type) <= kMaxMsgType);
  std::string enc = EncodeFrame(m, secret);
  Message again;
  Check(DecodeFrame(enc, secret, &again).ok());
  Check(EncodeFrame(again, secret) == enc);
  Check(again.type == m.type && again.req_id == m.req_id && again.key == m.key &&
        again.records.size() == m.records.size() && again.members.size() == m.members.size());
  return true;
}

void Split(std::string_view stream, bool has_secret) {
  FrameSplitter sp(has_secret, 1 << 20);
  size_t i = 0, k = 0;
  bool failed = false;
  while (i < stream.size()) {
    size_t n = 1 + static_cast<uint8_t>(stream[k++ % stream.size()]) % 61;
    if (n > stream.size() - i) n = stream.size() - i;
    sp.Feed(stream.substr(i, n));
    i += n;
    for (int guard = 0; guard < 100000; ++guard) {
      std::string frame;
      FrameSplitter::Result r = sp.Next(&frame);
      if (r == FrameSplitter::Result::kNeedMore) break;
      if (r == FrameSplitter::Result::kError) {
        Check(!sp.error().ok());
        failed = true;
        break;
      }
      Check(frame.size() >= kFrameHeaderBytes + TrailerBytes(has_secret));
      DecodeAndCheck(frame, has_secret ? kSecret : "");
    }
    if (failed) {
      std::string frame;
      Check(sp.Next(&frame) == FrameSplitter::Result::kError);
      return;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(bytes), size);
  uint8_t mode = static_cast<uint8_t>(in[0]);
  std::string_view rest = in.substr(1);
  switch (mode % 4) {
    case 0:
      DecodeAndCheck(rest, "");
      DecodeAndCheck(rest, kSecret);
      break;
    case 1:
    case 3: {
      if (rest.empty()) return 0;
      std::string_view secret = (mode & 4) ? kSecret : "";
      uint8_t version = (mode & 8) ? static_cast<uint8_t>(mode >> 4) : kFrameVersion;
      std::string frame = dynakv::fuzz::SealFrame(static_cast<uint8_t>(rest[0]), rest.substr(1),
                                                  secret, version);
      bool ok = DecodeAndCheck(frame, secret);
      if (mode % 4 == 3 && ok) {
        Message m;
        Check(!DecodeFrame(frame, secret.empty() ? kSecret : "", &m).ok());
      }
      break;
    }
    case 2:
      Split(rest, (mode & 4) != 0);
      break;
  }
  return 0;
}
