// protocol/memcache.h: memcached 1.6 text and meta protocol request parser, plus the few
// reply and request encoders the server and tests share. Pure codec, no I/O.
//
// McParser is an incremental state machine over a byte stream (like RespParser): feed it any
// fragment; it returns kOk with one complete command (including the data block of storage
// commands), kNeedMore after consuming everything given, or an error. Unlike RESP, a
// memcached client error does not end the stream: memcached answers "ERROR",
// "CLIENT_ERROR ..." or "SERVER_ERROR ..." and reads the next line, so after kError and
// kTooLarge the parser is ready for the next command. Only kFatal (a line longer than the
// limit, where memcached drops the connection) leaves the stream unusable.
//
// Replies follow memcached 1.6.18 byte for byte where that is observable (error texts,
// which errors swallow a data block, token-count rules), because clients match on them.
// Deliberate differences, each stricter than memcached: keys with control characters are
// refused (memcached only splits on spaces); client flags above 2^32-1 are refused (memcached
// silently truncates them); the meta 'b' (base64 key), 'I' (invalidate), 'N'/'R' on mg and
// 'h'/'l' flags are not supported and answer "CLIENT_ERROR invalid flag".
//
// Thread-safety: instances are not shared; no global state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynakv::protocol {

struct McLimits {
  size_t max_key_bytes = 250;            // memcached's KEY_MAX_LENGTH
  uint64_t max_item_bytes = 1ull << 20;  // larger data blocks: SERVER_ERROR, block swallowed
  size_t max_line_bytes = 1ull << 20;    // a command line (a long multi-get); beyond: kFatal
  size_t max_opaque_bytes = 32;          // meta O(opaque) tokens
};

enum class McOp : uint8_t {
  kGet, kGets, kGat, kGats,                            // retrieval (keys: one or more)
  kSet, kAdd, kReplace, kAppend, kPrepend, kCas,       // storage (data block)
  kDelete, kIncr, kDecr, kTouch,                       // one key
  kFlushAll, kVersion, kVerbosity, kQuit, kStats,      // no key
  kMetaGet, kMetaSet, kMetaDelete, kMetaArithmetic, kMetaNoop,
};

// The wire name of an op ("get", "ms", ...).
const char* McOpName(McOp op);

// One meta flag as sent: its letter and the token glued to it ("T30" -> {'T', "30"}).
struct McFlag {
  char flag = 0;
  std::string token;
  bool operator==(const McFlag&) const = default;
};

struct McCommand {
  McOp op = McOp::kGet;
  std::vector<std::string> keys;  // retrieval: 1..n keys; keyed commands: exactly one
  std::string data;               // storage commands and ms: the data block, without CRLF
  uint32_t flags = 0;             // client flags (storage; ms F)
  int64_t exptime = 0;            // storage/touch/gat exptime, flush_all delay, meta T
  bool has_exptime = false;       // meta: T was given; flush_all: a delay was given
  uint64_t cas = 0;               // cas unique (cas; meta C)
  bool has_cas = false;           // meta: C was given
  uint64_t delta = 1;             // incr/decr delta; ma D (default 1)
  uint64_t initial = 0;           // ma J: the value created on a miss
  int64_t vivify_exptime = 0;     // ma N: create on a miss with this exptime
  bool has_vivify = false;
  char mode = 0;                  // ms M: one of S E A P R; ma M: I or D ('+'/'-' normalised)
  bool noreply = false;           // text "noreply"; meta q
  std::vector<std::string> args;  // stats sub-command words; verbosity level
  std::vector<McFlag> meta;       // meta flags in request order (return flags follow it)

  const std::string& key() const { return keys.front(); }
  bool HasFlag(char f) const;
  bool operator==(const McCommand&) const = default;
};

enum class McStatus {
  kOk,        // *cmd holds one complete command
  kNeedMore,  // all input consumed; the command is incomplete
  kError,     // reply error() unless cmd->noreply; the stream continues
  kTooLarge,  // data block over max_item_bytes: reply error() ("SERVER_ERROR object too large
              // for cache") unless cmd->noreply; *cmd holds op and key; the parser swallows
              // the block as memcached does
  kFatal,     // the stream is unusable (line too long): reply error() and close
};

class McParser {
 public:
  explicit McParser(McLimits limits = {});
  // Parse from data[0..len). *consumed receives the bytes used (< len possible on any status
  // but kNeedMore; call again with the rest). On kOk *cmd is replaced by the command; on
  // kError/kTooLarge *cmd carries what was understood (op, key, noreply) so the caller can
  // suppress the reply for noreply and keep per-command statistics.
  McStatus Parse(const char* data, size_t len, size_t* consumed, McCommand* cmd);
  // The reply line for the last error, without CRLF, e.g. "CLIENT_ERROR bad data chunk".
  const std::string& error() const { return error_; }
  const McLimits& limits() const { return limits_; }

 private:
  enum class State { kLine, kData, kSwallow };

  McStatus ParseLine(std::string_view line, McCommand* cmd);
  McStatus ParseStorage(const std::vector<std::string_view>& tok, McCommand* cmd);
  McStatus ParseMeta(const std::vector<std::string_view>& tok, McCommand* cmd);
  McStatus Fail(std::string text, McCommand* cmd);
  // Enters kData for a block of `bytes` (+ CRLF); or kTooLarge and swallow it when too big.
  McStatus ExpectData(uint64_t bytes, McCommand* cmd);
  bool ValidKey(std::string_view key) const;

  McLimits limits_;
  State state_ = State::kLine;
  std::string line_;        // a command line that spans fragments
  McCommand pending_;       // the storage command waiting for its data block
  uint64_t data_left_ = 0;  // kData: block bytes + CRLF still expected; kSwallow: to skip
  bool fatal_ = false;
  std::string error_;
};

// ---- encoders ---------------------------------------------------------------------------

// A request on the wire (client side: tests, benchmarks). The inverse of McParser::Parse for
// every well-formed command: meta commands are written from cmd.meta, text commands from the
// typed fields.
std::string EncodeMcCommand(const McCommand& cmd);

// "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n"
void McAppendValue(std::string* out, std::string_view key, uint32_t flags, std::string_view data,
                   const uint64_t* cas);

// Parses the decimal digits of a uint64 (no sign, no spaces). False on anything else.
bool McParseU64(std::string_view s, uint64_t* out);

}  // namespace dynakv::protocol
