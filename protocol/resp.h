// protocol/resp.h: RESP2/RESP3 request parser and reply writer. Pure codec, no I/O.
//
// RespParser is an incremental state machine (after Dragonfly's RedisParser): feed it any
// fragment of the byte stream; it consumes what it can and returns kOk with one complete
// command, kNeedMore after consuming everything given, or a specific error. It accepts
// multibulk requests ("*2\r\n$3\r\nGET\r\n...") and inline commands ("GET k\r\n", as telnet
// and redis-cli's inline mode send), with Redis's quoting rules for inline ("..." and '...').
// Limits come from the constructor. After an error the stream is unusable (Redis closes the
// connection after replying with the error text error()).
//
// RespWriter appends replies to a std::string, in RESP2 or RESP3 (after HELLO 3).
// Thread-safety: instances are not shared; no global state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynakv::protocol {

struct RespLimits {
  uint64_t max_bulk_len = 512ull * 1024 * 1024;  // proto_max_bulk_len
  uint64_t max_args = 1024 * 1024;               // elements in one multibulk
  size_t max_inline_len = 64 * 1024;             // an inline command line
};

enum class ParseStatus {
  kOk,             // *args holds one command
  kNeedMore,       // all input consumed, command incomplete
  kBadMultibulk,   // "Protocol error: invalid multibulk length"
  kBadBulk,        // "Protocol error: invalid bulk length"
  kExpectedDollar, // "Protocol error: expected '$', got 'X'"
  kBadInline,      // "Protocol error: unbalanced quotes in request" / too big inline
  kBadFormat,      // other framing errors (missing CRLF after bulk)
};

class RespParser {
 public:
  explicit RespParser(RespLimits limits = {});
  // Parse from data[0..len). Sets *consumed to the bytes used (may be < len on kOk; call
  // again with the rest). On kOk, *args is replaced with the command's arguments. Empty
  // inline lines are skipped (consumed) without producing a command.
  ParseStatus Parse(const char* data, size_t len, size_t* consumed,
                    std::vector<std::string>* args);
  // Redis's text for the last error, e.g. "Protocol error: invalid bulk length".
  const std::string& error() const { return error_; }
  void Reset();

 private:
  enum class State { kStart, kMultibulkLen, kBulkLen, kBulkData, kInline };
  enum class LineResult { kLine, kPending, kTooBig };

  // Finds the next '\n'-terminated line starting at data[*pos]. On kLine, *line is the
  // line without its '\n' (a view into data, or into line_ when it spanned fragments; the
  // caller clears line_ once done with it). On kPending the fragment was buffered in line_.
  // kTooBig when the line's content (not counting a final "\r") is known to exceed max.
  LineResult NextLine(const char* data, size_t len, size_t* pos, size_t max,
                      std::string_view* line);
  // The common case in one pass: a complete multibulk command at data[*pos] with short,
  // well-formed headers. False (nothing consumed) otherwise; the state machine then parses.
  bool ParseComplete(const char* data, size_t len, size_t* pos);
  // The string for argument argc_, emptied; reuses the string the caller handed back.
  std::string& Slot();
  // Redis's sdssplitargs over one inline line, into cur_[0..argc_). False on bad quotes.
  bool SplitInline(std::string_view line);
  void AppendBulk(std::string* dst, const char* p, size_t n);
  ParseStatus Emit(std::vector<std::string>* args, size_t pos, size_t* consumed);
  ParseStatus Fail(ParseStatus status, std::string_view text, size_t pos, size_t* consumed);

  RespLimits limits_;
  State state_ = State::kStart;
  std::string line_;                // partial header / inline line
  std::vector<std::string> cur_;    // args parsed so far: cur_[0..argc_); the rest are spare
  size_t argc_ = 0;
  uint64_t args_left_ = 0;
  uint64_t bulk_left_ = 0;          // bytes of bulk data (+2 for CRLF) still expected
  ParseStatus failed_ = ParseStatus::kOk;  // sticky: the stream is unusable after an error
  std::string error_;
};

class RespWriter {
 public:
  explicit RespWriter(std::string* out, int proto = 2) : out_(out), proto_(proto) {}
  void set_proto(int proto) { proto_ = proto; }
  int proto() const { return proto_; }

  void Simple(std::string_view s);        // +s
  void Error(std::string_view s);         // -s (s must start with the code, e.g. "ERR ...")
  void Int(int64_t v);                    // :v
  void Bulk(std::string_view s);          // $len s
  // The same reply from a value the caller gives up. A big value (kBulkInPlace and more)
  // written first into an empty output becomes the output: its header is moved in front of
  // it inside its own buffer, instead of the value being copied (a 100 MB GET would copy
  // 100 MB into fresh memory in one loop turn). Otherwise as Bulk(string_view).
  void BulkOwned(std::string&& s);
  static constexpr size_t kBulkInPlace = 64 << 10;
  void Null();                            // RESP2 $-1, RESP3 _
  void NullArray();                       // RESP2 *-1, RESP3 _
  void Array(size_t n);                   // *n
  void Map(size_t n);                     // RESP3 %n ; RESP2 *2n
  void Set(size_t n);                     // RESP3 ~n ; RESP2 *n
  void Push(size_t n);                    // RESP3 >n ; RESP2 *n (pub/sub messages)
  void Double(double d);                  // RESP3 ,d ; RESP2 bulk string
  // As Double, in Redis 7.0's addReplyDouble layout: "%.17g" (0.1 is "0.10000000000000001",
  // 1e20 is "1e+20"), inf as "inf"/"-inf". Sorted-set scores are answered this way.
  void Double17(double d);
  void Bool(bool b);                      // RESP3 #t/#f ; RESP2 :1/:0
  void Verbatim(std::string_view s);      // RESP3 =len txt:s ; RESP2 bulk
  void Ok() { Simple("OK"); }

 private:
  void Header(char type, int64_t n);       // e.g. "*3\r\n", formatted in one append
  void Line(char type, std::string_view s);  // type, s with CR/LF blanked out, CRLF
  void DoubleText(std::string_view text);    // a formatted double: RESP3 ",text", RESP2 bulk

  std::string* out_;
  int proto_;
};

// Redis's string2ll: optional '-', no '+', no leading zeros, no "-0", no spaces, no overflow.
// The one integer syntax of the Redis side: headers, command arguments, INCR on a value.
bool ParseRedisInt(std::string_view s, int64_t* out);
// Redis's string2ld (INCRBYFLOAT, HINCRBYFLOAT): long double, at most 5119 bytes, no leading
// space, no NaN, no overflow to infinity or underflow to zero.
bool ParseRedisLongDouble(std::string_view s, long double* out);
// Redis's ld2string(LD_STR_HUMAN): "%.17Lf" with trailing zeros (and a bare '.') removed.
std::string FormatRedisLongDouble(long double d);

// Encode a command as a multibulk request (for clients, tests and round trips).
std::string EncodeCommand(const std::vector<std::string>& args);

}  // namespace dynakv::protocol
