// protocol/memcache_binary.h: memcached binary protocol (the 24-byte header framing that
// memcached 1.6 still speaks, and memjs, spymemcached and libmemcached's binary mode use):
// an incremental request decoder and the response/request encoders. Pure codec, no I/O.
//
// McBinParser takes any fragment of the stream (a header split across reads, a value
// arriving in pieces). It buffers at most one request's extras + key (<= 255 + 250 bytes)
// and value (<= limits.max_item_bytes), never the body length a header merely declares: a
// value over the limit and the body of an unknown opcode are skipped as they arrive.
//
// Errors follow memcached 1.6.18 (checked against a real one, tests/integration/
// memcache_binary_transcript.py):
//   - first byte not 0x80                      -> close, no reply (kFatal, has_reply() false)
//   - key + extras longer than the body        -> 0x81 Unknown command, then close (kFatal)
//   - key over 250 bytes; extras, key or body
//     length wrong for the opcode              -> 0x04 Invalid arguments, then close (kFatal)
//   - unknown opcode                           -> 0x81 Unknown command, body skipped (kError)
//   - value over max_item_bytes (storage ops)  -> 0x03 Too large., value skipped (kError)
// After kError the parser is ready for the next request; after kFatal it stays failed.
//
// Thread-safety: instances are not shared; no global state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dynakv::protocol {

constexpr uint8_t kMcBinRequestMagic = 0x80;
constexpr uint8_t kMcBinResponseMagic = 0x81;
constexpr size_t kMcBinHeaderBytes = 24;

// Opcodes (memcached's protocol_binary.h). The Q forms are quiet: no reply on success (for
// the gets: no reply on a miss).
enum class McBinOp : uint8_t {
  kGet = 0x00, kSet = 0x01, kAdd = 0x02, kReplace = 0x03, kDelete = 0x04,
  kIncrement = 0x05, kDecrement = 0x06, kQuit = 0x07, kFlush = 0x08, kGetQ = 0x09,
  kNoop = 0x0a, kVersion = 0x0b, kGetK = 0x0c, kGetKQ = 0x0d, kAppend = 0x0e,
  kPrepend = 0x0f, kStat = 0x10, kSetQ = 0x11, kAddQ = 0x12, kReplaceQ = 0x13,
  kDeleteQ = 0x14, kIncrementQ = 0x15, kDecrementQ = 0x16, kQuitQ = 0x17, kFlushQ = 0x18,
  kAppendQ = 0x19, kPrependQ = 0x1a, kTouch = 0x1c, kGat = 0x1d, kGatQ = 0x1e,
  kSaslListMechs = 0x20, kSaslAuth = 0x21, kSaslStep = 0x22, kGatK = 0x23, kGatKQ = 0x24,
};

// True for the opcodes above.
bool McBinKnownOp(uint8_t opcode);
// The loud form of a quiet opcode (kSetQ -> kSet, kGetKQ -> kGetK); others unchanged.
McBinOp McBinLoudOp(McBinOp op);
bool McBinQuiet(McBinOp op);
// The opcode's name as memcached's docs spell it ("get", "setq", "sasl_auth"); "unknown".
const char* McBinOpName(uint8_t opcode);

enum class McBinStatus : uint16_t {
  kOk = 0x00,
  kKeyNotFound = 0x01,
  kKeyExists = 0x02,
  kValueTooLarge = 0x03,
  kInvalidArguments = 0x04,
  kNotStored = 0x05,
  kNonNumeric = 0x06,
  kAuthError = 0x20,
  kAuthContinue = 0x21,
  kUnknownCommand = 0x81,
  kOutOfMemory = 0x82,
  kNotSupported = 0x83,
  kInternalError = 0x84,
  kBusy = 0x85,
  kTemporaryFailure = 0x86,
};

// memcached's error body for a status ("Not found", "Data exists for key.", ...).
const char* McBinStatusText(McBinStatus status);

struct McBinHeader {
  uint8_t magic = kMcBinRequestMagic;
  uint8_t opcode = 0;
  uint16_t key_len = 0;
  uint8_t extras_len = 0;
  uint8_t data_type = 0;
  uint16_t vbucket_or_status = 0;  // request: vbucket id; response: status
  uint32_t body_len = 0;           // extras + key + value
  uint32_t opaque = 0;             // echoed in the response
  uint64_t cas = 0;
  bool operator==(const McBinHeader&) const = default;
};

// Big-endian header <-> struct. Decode reads exactly kMcBinHeaderBytes from p.
McBinHeader DecodeMcBinHeader(const char* p);
void AppendMcBinHeader(std::string* out, const McBinHeader& h);

struct McBinLimits {
  size_t max_key_bytes = 250;            // memcached's KEY_MAX_LENGTH
  uint64_t max_item_bytes = 1ull << 20;  // larger values: 0x03, value skipped
  size_t max_sasl_bytes = 1024;          // SASL auth/step payload
};

struct McBinRequest {
  McBinHeader header;  // as received
  std::string extras, key, value;
  // Decoded extras (those the opcode has; zero otherwise).
  uint32_t flags = 0;    // set/add/replace
  uint32_t exptime = 0;  // set/add/replace, incr/decr, touch/gat, flush
  uint64_t delta = 0;    // incr/decr
  uint64_t initial = 0;  // incr/decr: the value created on a miss (unless exptime 0xffffffff)

  McBinOp op() const { return McBinOp(header.opcode); }
  bool operator==(const McBinRequest&) const = default;
};

enum class McBinParse {
  kOk,        // *req holds one complete request
  kNeedMore,  // all input consumed; the request is incomplete
  kError,     // reply error() to *req (opcode, opaque; key for a too-large value); stream goes on
  kFatal,     // reply error() if has_reply(), then close: the stream is unusable
};

class McBinParser {
 public:
  explicit McBinParser(McBinLimits limits = {});
  // Parse from data[0..len). *consumed receives the bytes used (< len possible on kOk and
  // kError; call again with the rest). On kOk, kError and a kFatal with a reply, *req is
  // replaced by the request (complete on kOk; header, and key for too-large, on kError).
  McBinParse Parse(const char* data, size_t len, size_t* consumed, McBinRequest* req);
  McBinStatus error() const { return error_; }
  bool has_reply() const { return has_reply_; }
  const McBinLimits& limits() const { return limits_; }

 private:
  enum class State { kHeader, kBody, kSwallow, kFailed };

  // Checks a complete header; sets the next state. Returns kNeedMore to go on reading.
  McBinParse Validate(McBinRequest* req);
  McBinParse Fail(McBinStatus st, bool reply, McBinRequest* req);
  McBinParse Complete(McBinRequest* req);

  McBinLimits limits_;
  State state_ = State::kHeader;
  std::string buf_;         // header bytes, then extras + key (+ value) of the current request
  McBinHeader header_;
  size_t body_want_ = 0;    // kBody: bytes of the body to buffer
  bool too_large_ = false;  // kBody: only extras + key are buffered; the value is skipped
  uint64_t skip_left_ = 0;  // kSwallow: bytes still to skip
  McBinStatus error_ = McBinStatus::kOk;
  bool has_reply_ = false;
};

// ---- encoders ---------------------------------------------------------------------------

// One response: header (magic 0x81, the request's opcode and opaque) + extras + key + value.
void AppendMcBinResponse(std::string* out, uint8_t opcode, McBinStatus status, uint32_t opaque,
                         uint64_t cas, std::string_view extras, std::string_view key,
                         std::string_view value);
// An error response whose body is memcached's text for the status.
void AppendMcBinError(std::string* out, uint8_t opcode, McBinStatus status, uint32_t opaque);

// A request on the wire (client side: tests, fuzz seeds): req.header's opcode, opaque, cas,
// vbucket and data type with lengths taken from extras, key and value.
std::string EncodeMcBinRequest(const McBinRequest& req);

// Extras helpers (big-endian): set/add/replace; incr/decr; touch/gat/flush.
std::string McBinStoreExtras(uint32_t flags, uint32_t exptime);
std::string McBinArithExtras(uint64_t delta, uint64_t initial, uint32_t exptime);
std::string McBinExptimeExtras(uint32_t exptime);

// Big-endian integers.
void McBinPut16(std::string* out, uint16_t v);
void McBinPut32(std::string* out, uint32_t v);
void McBinPut64(std::string* out, uint64_t v);
uint32_t McBinGet32(const char* p);
uint64_t McBinGet64(const char* p);

}  // namespace dynakv::protocol
