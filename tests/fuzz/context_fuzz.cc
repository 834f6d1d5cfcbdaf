// tests/fuzz/context_fuzz.cc: libFuzzer target for the client's context token
// (cluster/version.h DecodeContext / EncodeContext).
//
// Input: [mode][rest]. Even mode: rest is a token as a client would send it. Odd mode: rest
// is the token's payload, which the harness wraps into a well-formed token with the right
// checksum (mode & 2: HMAC with a secret), so the version-vector decoder behind the check
// is what gets fuzzed. Checks: no crash; a failed decode says "invalid context" and leaves
// the output untouched; a decoded vector is sorted with counters > 0, re-encodes to the very
// same token (the text form is canonical) and decodes back equal; a token decodes only under
// the secret it was made with.
// Run: scripts/fuzz.sh context_fuzz (seeds: tests/fuzz/corpus/context_fuzz).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cluster/version.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using dynakv::cluster::DecodeContext;
using dynakv::cluster::EncodeContext;
using dynakv::cluster::VersionVector;
using dynakv::fuzz::Check;

constexpr std::string_view kSecret = "fuzz-secret";
constexpr size_t kMaxBytes = 16 * 1024;

std::string B64(std::string_view in) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    acc = (acc << 8) | static_cast<uint8_t>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(t[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(t[(acc << (6 - bits)) & 63]);
  return out;
}

// The token check as cluster/version.cc computes it (TokenMac).
std::string Mac(std::string_view payload, std::string_view secret) {
  std::string mac;
  if (secret.empty()) {
    dynakv::fuzz::PutFixed(&mac, XXH64(payload.data(), payload.size(), 0x64796e616b760001ull), 8);
    dynakv::fuzz::PutFixed(&mac, XXH64(payload.data(), payload.size(), 0x64796e616b760002ull), 8);
  } else {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), md, &len);
    mac.assign(reinterpret_cast<const char*>(md), 16);
  }
  return mac;
}

std::string Wrap(std::string_view payload, std::string_view secret) {
  return "c1" + B64(payload) + "." + B64(Mac(payload, secret));
}

// The harness's token builder must agree with EncodeContext, or odd modes test nothing.
bool SelfTest() {
  VersionVector vv;
  vv.Raise(7, 3, 1000);
  vv.Raise(0x8000000000000001ull, 300, 0);
  std::string payload("\x01\x02", 2);
  dynakv::fuzz::PutFixed(&payload, 7, 8);
  payload += std::string("\x03\xe8\x07", 3);
  dynakv::fuzz::PutFixed(&payload, 0x8000000000000001ull, 8);
  payload += std::string("\xac\x02\x00", 3);
  Check(EncodeContext(vv, "") == Wrap(payload, ""));
  Check(EncodeContext(vv, kSecret) == Wrap(payload, kSecret));
  return true;
}

void CheckDecoded(std::string_view token, std::string_view secret) {
  VersionVector sentinel;
  sentinel.Raise(42, 42, 42);
  VersionVector vv = sentinel;
  dynakv::Status s = DecodeContext(token, secret, kMaxBytes, &vv);
  if (!s.ok()) {
    Check(s.message() == "invalid context");
    Check(vv == sentinel);
    return;
  }
  const auto& e = vv.entries();
  for (size_t i = 0; i < e.size(); ++i) {
    Check(e[i].counter > 0);
    if (i > 0) Check(e[i - 1].actor < e[i].actor);
  }
  std::string again = EncodeContext(vv, secret);
  if (!vv.empty()) Check(again == token);
  VersionVector back;
  Check(DecodeContext(again, secret, kMaxBytes, &back).ok());
  Check(back == vv);
  // Only the secret it was made with opens a non-empty token.
  if (!token.empty()) {
    VersionVector other;
    Check(!DecodeContext(token, secret.empty() ? kSecret : "", kMaxBytes, &other).ok());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  static bool self_test = SelfTest();
  (void)self_test;
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(bytes), size);
  uint8_t mode = static_cast<uint8_t>(in[0]);
  std::string_view rest = in.substr(1);
  if (mode & 1) {
    std::string_view secret = (mode & 2) ? kSecret : "";
    CheckDecoded(Wrap(rest, secret), secret);
  } else {
    CheckDecoded(rest, "");
    CheckDecoded(rest, kSecret);
  }
  return 0;
}
