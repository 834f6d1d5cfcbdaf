// tests/fuzz/memcache_binary_fuzz.cc: libFuzzer target for protocol::McBinParser.
//
// Checks, for any input: no crash or out-of-bounds read; every call keeps the contract
// (consumed <= len; kNeedMore consumes everything; a failed parser stays failed); feeding the
// same bytes in fragments (sizes chosen from the input) yields the same requests, statuses and
// errors as feeding them whole; and every request decoded is re-encoded by
// EncodeMcBinRequest into bytes that decode to the same request (encoder/decoder agree).
// Run: build with clang (-DCMAKE_CXX_COMPILER=clang++), then
//   build/tests/fuzz/memcache_binary_fuzz -max_len=4096 tests/fuzz/corpus/memcache_binary
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/memcache_binary.h"

namespace {

using dynakv::protocol::EncodeMcBinRequest;
using dynakv::protocol::McBinLimits;
using dynakv::protocol::McBinParse;
using dynakv::protocol::McBinParser;
using dynakv::protocol::McBinRequest;

void Check(bool ok) {
  if (!ok) std::abort();
}

struct Step {
  McBinParse status;
  McBinRequest req;
  int error;
  bool operator==(const Step&) const = default;
};

void CheckRoundTrip(const McBinRequest& req, const McBinLimits& limits) {
  std::string wire = EncodeMcBinRequest(req);
  McBinParser p(limits);
  McBinRequest again;
  size_t consumed = 0;
  Check(p.Parse(wire.data(), wire.size(), &consumed, &again) == McBinParse::kOk);
  Check(consumed == wire.size());
  Check(again == req);
}

std::vector<Step> Feed(std::string_view data, std::string_view sizes, const McBinLimits& limits) {
  McBinParser p(limits);
  std::vector<Step> out;
  size_t i = 0, k = 0;
  while (i < data.size()) {
    size_t n = sizes.empty() ? 0 : static_cast<unsigned char>(sizes[k++ % sizes.size()]) % 29;
    if (n == 0 || n > data.size() - i) n = data.size() - i;
    std::string_view chunk = data.substr(i, n);
    i += n;
    size_t off = 0;
    while (off < chunk.size()) {
      size_t consumed = 0;
      McBinRequest req;
      McBinParse st = p.Parse(chunk.data() + off, chunk.size() - off, &consumed, &req);
      Check(consumed <= chunk.size() - off);
      if (st == McBinParse::kNeedMore) {
        Check(consumed == chunk.size() - off);
        break;
      }
      if (st == McBinParse::kOk) {
        Check(req.value.size() <= limits.max_item_bytes + limits.max_sasl_bytes);
        if (sizes.empty()) CheckRoundTrip(req, limits);
      }
      out.push_back({st, st == McBinParse::kOk ? req : McBinRequest{req.header, {}, req.key, {}},
                     st == McBinParse::kOk ? 0 : int(p.error()) + (p.has_reply() ? 1000 : 0)});
      if (st == McBinParse::kFatal) {
        size_t c2 = 0;
        McBinRequest r2;
        Check(p.Parse(chunk.data(), chunk.size(), &c2, &r2) == McBinParse::kFatal);
        return out;
      }
      off += consumed;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(bytes), size);
  // The first byte (if any) picks fragment sizes; the rest is the stream.
  std::string_view sizes = in.substr(0, in.empty() ? 0 : 1 + static_cast<unsigned char>(in[0]) % 8);
  std::string_view data = in.substr(sizes.size());
  McBinLimits limits;
  limits.max_item_bytes = 256;  // small, so the too-large path is reachable
  limits.max_sasl_bytes = 64;
  auto whole = Feed(data, {}, limits);
  auto pieces = Feed(data, sizes, limits);
  Check(whole == pieces);
  return 0;
}
