// tests/fuzz/memcache_fuzz.cc: libFuzzer target for protocol::McParser.
//
// Checks, for any input: no crash or out-of-bounds read; every call keeps the contract
// (consumed <= len; kNeedMore consumes everything; progress is always made, so a loop over
// the input ends); and feeding the same bytes in fragments (sizes chosen from the input)
// yields the same sequence of statuses and error texts as feeding them whole.
// Run: build with clang (-DCMAKE_CXX_COMPILER=clang++), then
//   build/tests/fuzz/memcache_fuzz -max_len=4096 corpus_dir
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/memcache.h"

namespace {

using dynakv::protocol::McCommand;
using dynakv::protocol::McLimits;
using dynakv::protocol::McParser;
using dynakv::protocol::McStatus;

void Check(bool ok) {
  if (!ok) std::abort();
}

// One entry per completed step: the status and, for errors, the reply text.
std::vector<std::string> Feed(std::string_view data, std::string_view sizes, const McLimits& limits) {
  McParser p(limits);
  McCommand cmd;
  std::vector<std::string> out;
  size_t i = 0, k = 0;
  while (i < data.size()) {
    size_t n = sizes.empty() ? 0 : static_cast<unsigned char>(sizes[k++ % sizes.size()]) % 19;
    if (n == 0 || n > data.size() - i) n = data.size() - i;
    std::string_view chunk = data.substr(i, n);
    i += n;
    size_t off = 0;
    while (off < chunk.size()) {
      size_t consumed = 0;
      McStatus st = p.Parse(chunk.data() + off, chunk.size() - off, &consumed, &cmd);
      Check(consumed <= chunk.size() - off);
      if (st == McStatus::kNeedMore) {
        Check(consumed == chunk.size() - off);
        break;
      }
      out.push_back(std::to_string(static_cast<int>(st)) + (st == McStatus::kOk ? "" : ":" + p.error()));
      if (st == McStatus::kFatal) return out;
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
  McLimits limits;
  limits.max_item_bytes = 256;  // small, so the too-large path is reachable
  auto whole = Feed(data, {}, limits);
  auto pieces = Feed(data, sizes, limits);
  Check(whole == pieces);
  return 0;
}
