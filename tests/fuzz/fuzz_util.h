// tests/fuzz/fuzz_util.h: helpers shared by the libFuzzer targets of the cluster codecs.
//
// Most persisted and inter-node formats end in a checksum or a MAC, which a mutating fuzzer
// almost never gets right, so it would only ever test the checksum comparison. The Seal*
// helpers let a harness take the fuzzer's bytes as the body and append the correct trailer,
// so the structure behind the checksum is what gets fuzzed. Each mirrors the encoder in
// cluster/; SelfTest-style checks in the harnesses abort if they drift apart.
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <xxhash.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace dynakv::fuzz {

inline void Check(bool ok) {
  if (!ok) std::abort();
}

inline void PutFixed(std::string* out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A stored record (cluster/version.cc, "record codec"): body + 64-bit seal, XXH64 for
// format 1, XXH3 for every other first byte.
inline std::string SealRecord(std::string_view body) {
  std::string out(body);
  uint64_t h = (!body.empty() && static_cast<uint8_t>(body[0]) == 1)
                   ? XXH64(body.data(), body.size(), 0)
                   : XXH3_64bits_withSeed(body.data(), body.size(), 0);
  PutFixed(&out, h, 8);
  return out;
}

// An inter-node frame (cluster/message.h): header + payload + checksum or MAC.
inline std::string SealFrame(uint8_t type, std::string_view payload, std::string_view secret,
                             uint8_t version = 2) {
  std::string out;
  PutFixed(&out, 0x4B44, 2);
  out.push_back(static_cast<char>(version));
  out.push_back(static_cast<char>(type));
  PutFixed(&out, payload.size(), 4);
  out.append(payload);
  if (secret.empty()) {
    PutFixed(&out, XXH64(out.data(), out.size(), 0), 8);
  } else {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(out.data()), out.size(), md, &len);
    out.append(reinterpret_cast<const char*>(md), 16);
  }
  return out;
}

// Reads the next length-prefixed piece of a fuzz input: [u16 len][bytes]; stops at the end.
class Pieces {
 public:
  explicit Pieces(std::string_view in) : in_(in) {}
  bool empty() const { return in_.empty(); }
  uint8_t Byte() {
    if (in_.empty()) return 0;
    uint8_t b = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return b;
  }
  std::string_view Take() {
    size_t n = Byte();
    n |= static_cast<size_t>(Byte()) << 8;
    if (n > in_.size()) n = in_.size();
    std::string_view s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  std::string_view Rest() {
    std::string_view s = in_;
    in_ = {};
    return s;
  }

 private:
  std::string_view in_;
};

}  // namespace dynakv::fuzz
