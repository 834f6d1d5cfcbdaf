// cluster/byte_codec.h: the varint and fixed-width writers and the bounded Reader that the
// record codec (version.cc) and the counter codecs (counter.cc) share. Internal to cluster/:
// the inter-node frame codec (message.cc) has its own fixed-width Reader and Writer.
//
// Thread-safety: pure functions; a Reader belongs to one decode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dynakv::cluster::codec {

// ---- byte helpers -------------------------------------------------------------------------

// Both build the bytes in a local buffer and append once: byte-at-a-time push_back was a
// visible share of every write's CPU (each push_back re-checks capacity).
inline void PutVarint(std::string* out, uint64_t v) {
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

inline void PutFixed64(std::string* out, uint64_t v) {
  // Actors are random 64-bit ids; a varint would spend 10 bytes on most of them.
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(buf, 8);
}

// A cursor over untrusted bytes. Every read checks what is left first; after the first
// failure all reads fail, so decoders can check once at the end of a group of fields.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  size_t left() const { return in_.size(); }

  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return Fail();
      uint8_t b = static_cast<uint8_t>(in_[0]);
      in_.remove_prefix(1);
      // The 10th byte may carry only the top bit of a uint64; anything more is overflow.
      if (shift == 63 && b > 1) return Fail();
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        // Refuse non-minimal encodings (a trailing zero group) so every value has exactly
        // one encoding; the checksum and the cas hash rely on canonical bytes.
        if (b == 0 && shift != 0) return Fail();
        *v = result;
        return true;
      }
    }
    return Fail();
  }

  bool Fixed64(uint64_t* v) {
    if (in_.size() < 8) return Fail();
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r |= static_cast<uint64_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(8);
    *v = r;
    return true;
  }

  bool Byte(uint8_t* v) {
    if (in_.empty()) return Fail();
    *v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }

  bool Bytes(size_t n, std::string_view* v) {
    if (in_.size() < n) return Fail();
    *v = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }

  // A count of items each at least `min_item_bytes` long, bounded by `max` and by the input
  // that is left, so reserving `count` items is always justified by the input.
  bool Count(uint64_t max, size_t min_item_bytes, uint64_t* n) {
    if (!Varint(n)) return false;
    if (*n > max || *n > in_.size() / min_item_bytes) return Fail();
    return true;
  }

 private:
  bool Fail() {
    ok_ = false;
    in_ = {};
    return false;
  }
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace dynakv::cluster::codec
