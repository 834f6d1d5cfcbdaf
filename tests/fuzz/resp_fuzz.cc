// tests/fuzz/resp_fuzz.cc: libFuzzer target for protocol::RespParser.
//
// Checks, for any input: the parser never crashes or reads out of bounds; every call keeps
// the contract (consumed <= len, kNeedMore consumes everything, kOk yields arguments);
// splitting the input into fragments (chosen from the input itself) never changes the
// commands or the final error; and every command parsed re-encodes and parses back equal.
// Run: build with clang (-DCMAKE_CXX_COMPILER=clang++), then
//   build/tests/fuzz/resp_fuzz -max_len=4096 corpus_dir
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp.h"

namespace {

using dynakv::protocol::EncodeCommand;
using dynakv::protocol::ParseStatus;
using dynakv::protocol::RespLimits;
using dynakv::protocol::RespParser;

struct Outcome {
  std::vector<std::vector<std::string>> commands;
  ParseStatus status = ParseStatus::kNeedMore;
  std::string error;
};

void Check(bool ok) {
  if (!ok) std::abort();
}

// Feeds data in pieces whose sizes come from `sizes` (cycled); 0 means "all the rest".
Outcome Feed(std::string_view data, std::string_view sizes, const RespLimits& limits) {
  RespParser p(limits);
  Outcome out;
  std::vector<std::string> args;
  size_t i = 0, k = 0;
  while (i < data.size()) {
    size_t n = sizes.empty() ? 0 : static_cast<unsigned char>(sizes[k++ % sizes.size()]) % 17;
    if (n == 0 || n > data.size() - i) n = data.size() - i;
    std::string_view chunk = data.substr(i, n);
    i += n;
    size_t off = 0;
    for (;;) {
      size_t consumed = 0;
      ParseStatus st = p.Parse(chunk.data() + off, chunk.size() - off, &consumed, &args);
      Check(consumed <= chunk.size() - off);
      if (st == ParseStatus::kOk) {
        Check(!args.empty());
        out.commands.push_back(args);
        off += consumed;
        continue;
      }
      out.status = st;
      if (st == ParseStatus::kNeedMore) {
        Check(consumed == chunk.size() - off);
        break;
      }
      out.error = p.error();
      Check(!out.error.empty());
      return out;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  // Layout: [flags][split sizes: 8 bytes][stream...]. Small limits on odd flags, so the
  // limit paths are reached with short inputs.
  if (size < 9) return 0;
  std::string_view all(reinterpret_cast<const char*>(bytes), size);
  RespLimits limits;
  if (all[0] & 1) {
    limits.max_bulk_len = static_cast<unsigned char>(all[1]) % 64;
    limits.max_args = static_cast<unsigned char>(all[2]) % 8;
    limits.max_inline_len = static_cast<unsigned char>(all[3]) % 32;
  }
  std::string_view sizes = all.substr(1, 8);
  std::string_view data = all.substr(9);

  Outcome whole = Feed(data, {}, limits);
  Outcome split = Feed(data, sizes, limits);
  Check(whole.commands == split.commands);
  Check(whole.status == split.status);
  Check(whole.error == split.error);

  // Round trip: what was parsed re-encodes to a stream that parses to the same commands.
  // Default limits here: an inline command may legitimately exceed the small multibulk
  // limits chosen above.
  std::string encoded;
  for (const auto& c : whole.commands) encoded += EncodeCommand(c);
  Outcome again = Feed(encoded, sizes, RespLimits{});
  Check(again.commands == whole.commands);
  Check(again.status == ParseStatus::kNeedMore);
  return 0;
}
