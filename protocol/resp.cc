// protocol/resp.cc: RESP request parser and reply writer (see resp.h).
//
// The parser mirrors Redis 7's processMultibulkBuffer/processInlineBuffer (networking.c):
// same error texts, same integer rules (string2ll), same inline quoting (sdssplitargs), and
// "*0"/"*-1" are consumed without producing a command. Two deliberate differences: header
// lines must end in "\r\n" (Redis only looks for '\r') and the CRLF after bulk data is
// checked (Redis skips two bytes blindly), because a client that gets these wrong is out of
// sync and would otherwise have later bytes misread as commands.
//
// Every decision depends only on the bytes seen so far, never on how they were split into
// fragments, so feeding a stream whole or one byte at a time gives the same commands and the
// same error. Each byte is examined a bounded number of times (memchr for line ends, one
// append for bulk data), so big values parse in linear time.
#include "protocol/resp.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dynakv::protocol {

namespace {

// Redis's PROTO_INLINE_MAX_SIZE: the longest "*N" / "$N" header line buffered.
constexpr size_t kMaxHeaderLine = 64 * 1024;
// A declared bulk length is a claim, not a fact: reserve at most this much before the bytes
// arrive, so "$536870912\r\n" from a hostile client costs 1MB, not 512MB.
constexpr size_t kMaxBulkReserve = 1 << 20;
// Argument strings handed back by the caller are reused to avoid allocations, but not big
// ones: a connection that once sent a 100MB value must not keep 100MB forever.
constexpr size_t kMaxReusedArgCapacity = 64 * 1024;
constexpr size_t kMaxReusedArgs = 1024;

// isspace() in the C locale, without its UB on negative chars.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses the number in a header line "<type><digits>\r" (the '\n' already stripped).
bool HeaderNumber(std::string_view line, int64_t* out) {
  if (line.size() < 2 || line.back() != '\r') return false;
  return ParseRedisInt(line.substr(1, line.size() - 2), out);
}

}  // namespace

// INCRBYFLOAT works in long double, like Redis: parsing and adding in double and only then
// widening prints 10.5 + 0.1 as "10.59999999999999964" where Redis prints "10.6".
bool ParseRedisLongDouble(std::string_view s, long double* out) {
  // Redis's string2ld: at most 5119 bytes (MAX_LONG_DOUBLE_CHARS), no leading space, no NaN,
  // and neither an overflow to infinity nor an underflow to zero.
  if (s.empty() || s.size() >= 5 * 1024 || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  std::string tmp(s);
  char* end = nullptr;
  errno = 0;
  long double v = std::strtold(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size() || std::isnan(v)) return false;
  if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || std::fpclassify(v) == FP_ZERO)) return false;
  *out = v;
  return true;
}

std::string FormatRedisLongDouble(long double d) {
  // Redis's ld2string(LD_STR_HUMAN): "%.17Lf", trailing zeros (and a bare '.') removed.
  // Sized by a first snprintf: a large value prints hundreds (up to ~4950) of digits.
  int n = std::snprintf(nullptr, 0, "%.17Lf", d);
  if (n <= 0) return "0";
  std::string s(size_t(n) + 1, '\0');
  std::snprintf(s.data(), s.size(), "%.17Lf", d);
  s.resize(size_t(n));
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

bool ParseRedisInt(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-') {
    neg = true;
    i = 1;
    if (s.size() == 1) return false;
  }
  if (s[i] == '0') {
    if (s.size() == 1) {
      *out = 0;
      return true;
    }
    return false;
  }
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    unsigned d = static_cast<unsigned char>(s[i]) - '0';
    if (d > 9) return false;
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (neg) {
    if (v > static_cast<uint64_t>(INT64_MAX) + 1) return false;
    *out = static_cast<int64_t>(0 - v);  // well defined: C++20 integers are two's complement
  } else {
    if (v > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(v);
  }
  return true;
}

RespParser::RespParser(RespLimits limits) : limits_(limits) {}

void RespParser::Reset() {
  state_ = State::kStart;
  line_.clear();
  argc_ = 0;
  args_left_ = 0;
  bulk_left_ = 0;
  failed_ = ParseStatus::kOk;
  error_.clear();
}

RespParser::LineResult RespParser::NextLine(const char* data, size_t len, size_t* pos,
                                            size_t max, std::string_view* line) {
  const char* start = data + *pos;
  size_t avail = len - *pos;
  const char* nl = static_cast<const char*>(memchr(start, '\n', avail));
  if (nl == nullptr) {
    // Known too long once the content so far, less a "\r" that may yet start the line's
    // terminator, exceeds max. That rule looks only at the prefix, so any fragmentation
    // reaches the same verdict.
    size_t total = line_.size() + avail;
    char last = avail > 0 ? start[avail - 1] : (line_.empty() ? '\0' : line_.back());
    size_t content = total - (last == '\r' ? 1 : 0);
    if (content > max) return LineResult::kTooBig;
    line_.append(start, avail);
    *pos = len;
    return LineResult::kPending;
  }
  size_t n = static_cast<size_t>(nl - start);
  if (line_.empty()) {
    *line = std::string_view(start, n);  // fast path: no copy
  } else {
    line_.append(start, n);
    *line = line_;
  }
  *pos += n + 1;
  size_t content = line->size() - (!line->empty() && line->back() == '\r' ? 1 : 0);
  return content > max ? LineResult::kTooBig : LineResult::kLine;
}

std::string& RespParser::Slot() {
  if (argc_ == cur_.size()) return cur_.emplace_back();
  std::string& s = cur_[argc_];
  if (s.capacity() > kMaxReusedArgCapacity) {
    std::string().swap(s);
  } else {
    s.clear();
  }
  return s;
}

void RespParser::AppendBulk(std::string* dst, const char* p, size_t n) {
  if (dst->capacity() - dst->size() < n) {
    // Grow by 4x, never past the declared length, which a client may announce and never
    // send; allocate exactly (std::string::reserve on a non-empty string may round up to 2x).
    // Once an eighth of the bulk has come, reserve all of it: a 100 MB value is then copied
    // at most 12.5 MB on the way, not 64 MB in one loop turn, and a client that announces
    // 512 MB still holds memory in proportion to what it sent. A big argument gets 4 KB of
    // room beyond its end, so that it can be framed in its own buffer (the record header put
    // in front of a SET's value by EncodeRecord(Record&&)) instead of being copied.
    constexpr size_t kHeadroomFrom = 1 << 20, kHeadroom = 4096;
    size_t declared = dst->size() + (bulk_left_ - 2);
    size_t have = dst->size() + n;
    size_t want = have >= declared / 8
                      ? declared + (declared >= kHeadroomFrom ? kHeadroom : 0)
                      : std::min(declared, std::max(have, 4 * dst->capacity()));
    std::string grown;
    grown.reserve(want);
    grown.append(*dst);
    dst->swap(grown);
  }
  dst->append(p, n);
}

bool RespParser::SplitInline(std::string_view line) {
  // A direct port of sdssplitargs. Redis runs it on a C string, so a NUL byte ends the line.
  const size_t n = line.size();
  auto at = [&](size_t i) -> char { return i < n ? line[i] : '\0'; };
  size_t p = 0;
  argc_ = 0;
  for (;;) {
    while (p < n && IsSpace(line[p])) ++p;
    if (at(p) == '\0') return true;
    std::string& cur = Slot();
    bool inq = false;   // inside "double quotes"
    bool insq = false;  // inside 'single quotes'
    bool done = false;
    while (!done) {
      char c = at(p);
      if (inq) {
        if (c == '\\' && at(p + 1) == 'x' && HexValue(at(p + 2)) >= 0 &&
            HexValue(at(p + 3)) >= 0) {
          cur.push_back(static_cast<char>(HexValue(at(p + 2)) * 16 + HexValue(at(p + 3))));
          p += 3;
        } else if (c == '\\' && at(p + 1) != '\0') {
          ++p;
          switch (at(p)) {
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'b': c = '\b'; break;
            case 'a': c = '\a'; break;
            default: c = at(p); break;
          }
          cur.push_back(c);
        } else if (c == '"') {
          // The closing quote must be followed by a space or the end of the line.
          if (at(p + 1) != '\0' && !IsSpace(at(p + 1))) return false;
          done = true;
        } else if (c == '\0') {
          return false;  // unterminated quotes
        } else {
          cur.push_back(c);
        }
      } else if (insq) {
        if (c == '\\' && at(p + 1) == '\'') {
          ++p;
          cur.push_back('\'');
        } else if (c == '\'') {
          if (at(p + 1) != '\0' && !IsSpace(at(p + 1))) return false;
          done = true;
        } else if (c == '\0') {
          return false;
        } else {
          cur.push_back(c);
        }
      } else {
        switch (c) {
          case ' ':
          case '\n':
          case '\r':
          case '\t':
          case '\0':
            done = true;
            break;
          case '"':
            inq = true;
            break;
          case '\'':
            insq = true;
            break;
          default:
            cur.push_back(c);
            break;
        }
      }
      if (at(p) != '\0') ++p;
    }
    ++argc_;
  }
}

namespace {
// A header number in the fast path: 1-18 digits, no leading zero (string2ll's rule), then
// CRLF. Anything else, including a number that is merely incomplete, is left to the state
// machine, which gives the same result (or the error) whatever the fragmentation.
bool FastNumber(const char** p, const char* end, uint64_t* out) {
  const char* q = *p;
  const char* start = q;
  uint64_t v = 0;
  while (q < end && static_cast<unsigned>(*q - '0') <= 9) {
    if (q - start == 18) return false;
    v = v * 10 + static_cast<unsigned>(*q - '0');
    ++q;
  }
  if (q == start || (*start == '0' && q - start > 1)) return false;
  if (end - q < 2 || q[0] != '\r' || q[1] != '\n') return false;
  *p = q + 2;
  *out = v;
  return true;
}
}  // namespace

// Redis's processMultibulkBuffer, for the case nearly every client sends: the whole command
// in the buffer. One pass, no line search, no state changes; ~2x fewer instructions than
// the state machine for a SET. Everything it accepts the state machine accepts identically
// (same limits); everything else, errors included, goes to the state machine.
bool RespParser::ParseComplete(const char* data, size_t len, size_t* pos) {
  const char* p = data + *pos + 1;  // past '*'
  const char* end = data + len;
  uint64_t n = 0;
  if (!FastNumber(&p, end, &n) || n == 0 || n > limits_.max_args || n > INT_MAX) return false;
  if (cur_.capacity() < n) cur_.reserve(std::min<size_t>(static_cast<size_t>(n), kMaxReusedArgs));
  argc_ = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t blen = 0;
    if (p == end || *p != '$') break;
    ++p;
    if (!FastNumber(&p, end, &blen) || blen > limits_.max_bulk_len ||
        static_cast<uint64_t>(end - p) < blen + 2 || p[blen] != '\r' || p[blen + 1] != '\n') {
      break;
    }
    Slot().assign(p, static_cast<size_t>(blen));
    ++argc_;
    p += blen + 2;
  }
  if (argc_ != n) {
    argc_ = 0;  // the strings filled so far are spare slots again
    return false;
  }
  *pos = static_cast<size_t>(p - data);
  return true;
}

ParseStatus RespParser::Emit(std::vector<std::string>* args, size_t pos, size_t* consumed) {
  cur_.resize(argc_);
  args->swap(cur_);
  // cur_ now holds the caller's previous vector; its strings become spare slots.
  if (cur_.capacity() > kMaxReusedArgs) std::vector<std::string>().swap(cur_);
  argc_ = 0;
  state_ = State::kStart;
  *consumed = pos;
  return ParseStatus::kOk;
}

ParseStatus RespParser::Fail(ParseStatus status, std::string_view text, size_t pos,
                             size_t* consumed) {
  failed_ = status;
  error_.assign(text);
  line_.clear();
  *consumed = pos;
  return status;
}

ParseStatus RespParser::Parse(const char* data, size_t len, size_t* consumed,
                              std::vector<std::string>* args) {
  if (failed_ != ParseStatus::kOk) {
    *consumed = 0;
    return failed_;
  }
  size_t pos = 0;
  std::string_view line;
  for (;;) {
    switch (state_) {
      case State::kStart:
        if (pos == len) {
          *consumed = pos;
          return ParseStatus::kNeedMore;
        }
        if (data[pos] == '*' && ParseComplete(data, len, &pos)) return Emit(args, pos, consumed);
        state_ = data[pos] == '*' ? State::kMultibulkLen : State::kInline;
        break;

      case State::kInline: {
        LineResult r = NextLine(data, len, &pos, limits_.max_inline_len, &line);
        if (r == LineResult::kPending) {
          *consumed = pos;
          return ParseStatus::kNeedMore;
        }
        if (r == LineResult::kTooBig) {
          return Fail(ParseStatus::kBadInline, "Protocol error: too big inline request", pos,
                      consumed);
        }
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        bool ok = SplitInline(line);
        line_.clear();
        if (!ok) {
          return Fail(ParseStatus::kBadInline, "Protocol error: unbalanced quotes in request",
                      pos, consumed);
        }
        state_ = State::kStart;
        if (argc_ > 0) return Emit(args, pos, consumed);
        break;  // empty line: consumed silently
      }

      case State::kMultibulkLen: {
        LineResult r = NextLine(data, len, &pos, kMaxHeaderLine, &line);
        if (r == LineResult::kPending) {
          *consumed = pos;
          return ParseStatus::kNeedMore;
        }
        if (r == LineResult::kTooBig) {
          return Fail(ParseStatus::kBadMultibulk,
                      "Protocol error: too big mbulk count string", pos, consumed);
        }
        int64_t n = 0;
        bool ok = HeaderNumber(line, &n) && n <= INT_MAX &&
                  (n <= 0 || static_cast<uint64_t>(n) <= limits_.max_args);
        line_.clear();
        if (!ok) {
          return Fail(ParseStatus::kBadMultibulk, "Protocol error: invalid multibulk length",
                      pos, consumed);
        }
        if (n <= 0) {  // "*0" and "*-1": nothing to run, as in Redis
          state_ = State::kStart;
          break;
        }
        args_left_ = static_cast<uint64_t>(n);
        argc_ = 0;
        if (cur_.capacity() < static_cast<size_t>(n)) {
          cur_.reserve(std::min<size_t>(static_cast<size_t>(n), kMaxReusedArgs));
        }
        state_ = State::kBulkLen;
        break;
      }

      case State::kBulkLen: {
        LineResult r = NextLine(data, len, &pos, kMaxHeaderLine, &line);
        if (r == LineResult::kPending) {
          *consumed = pos;
          return ParseStatus::kNeedMore;
        }
        if (r == LineResult::kTooBig) {
          return Fail(ParseStatus::kBadBulk, "Protocol error: too big bulk count string", pos,
                      consumed);
        }
        if (line.empty() || line[0] != '$') {
          // Redis blanks CR/LF in error replies so the reply stays one line.
          char c = line.empty() ? '\n' : line[0];
          if (c == '\r' || c == '\n') c = ' ';
          std::string text = "Protocol error: expected '$', got '";
          text.push_back(c);
          text.push_back('\'');
          return Fail(ParseStatus::kExpectedDollar, text, pos, consumed);
        }
        int64_t n = 0;
        bool ok = HeaderNumber(line, &n) && n >= 0 &&
                  static_cast<uint64_t>(n) <= limits_.max_bulk_len;
        line_.clear();
        if (!ok) {
          return Fail(ParseStatus::kBadBulk, "Protocol error: invalid bulk length", pos,
                      consumed);
        }
        size_t blen = static_cast<size_t>(n);
        std::string& slot = Slot();
        if (len - pos >= blen + 2) {
          // Fast path: the whole bulk is in this fragment; one copy, exact size.
          if (data[pos + blen] != '\r' || data[pos + blen + 1] != '\n') {
            return Fail(ParseStatus::kBadFormat,
                        "Protocol error: bulk data not terminated by CRLF", pos + blen,
                        consumed);
          }
          slot.assign(data + pos, blen);
          pos += blen + 2;
          ++argc_;
          if (--args_left_ == 0) return Emit(args, pos, consumed);
          break;  // next header
        }
        slot.reserve(std::min(blen, kMaxBulkReserve));
        bulk_left_ = static_cast<uint64_t>(blen) + 2;
        state_ = State::kBulkData;
        break;
      }

      case State::kBulkData: {
        std::string& slot = cur_[argc_];
        if (bulk_left_ > 2) {
          size_t take = static_cast<size_t>(std::min<uint64_t>(len - pos, bulk_left_ - 2));
          AppendBulk(&slot, data + pos, take);
          pos += take;
          bulk_left_ -= take;
        }
        // The CRLF terminator, which may itself be split across fragments.
        while (bulk_left_ > 0 && pos < len) {
          if (data[pos] != (bulk_left_ == 2 ? '\r' : '\n')) {
            return Fail(ParseStatus::kBadFormat,
                        "Protocol error: bulk data not terminated by CRLF", pos, consumed);
          }
          ++pos;
          --bulk_left_;
        }
        if (bulk_left_ > 0) {
          *consumed = pos;
          return ParseStatus::kNeedMore;
        }
        ++argc_;
        if (--args_left_ == 0) return Emit(args, pos, consumed);
        state_ = State::kBulkLen;
        break;
      }
    }
  }
}

// ---- RespWriter ----

void RespWriter::Header(char type, int64_t n) {
  char buf[32];
  buf[0] = type;
  char* end = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n).ptr;
  end[0] = '\r';
  end[1] = '\n';
  out_->append(buf, static_cast<size_t>(end + 2 - buf));
}

void RespWriter::Line(char type, std::string_view s) {
  // A CR or LF inside a status or error line would end it early and desynchronise the
  // client (reply injection), so they become spaces, as Redis does for error replies.
  size_t at = out_->size();
  out_->push_back(type);
  out_->append(s);
  if (s.find_first_of("\r\n") != std::string_view::npos) {
    for (size_t i = at + 1; i < out_->size(); ++i) {
      char& c = (*out_)[i];
      if (c == '\r' || c == '\n') c = ' ';
    }
  }
  out_->append("\r\n", 2);
}

void RespWriter::Simple(std::string_view s) { Line('+', s); }

void RespWriter::Error(std::string_view s) { Line('-', s); }

void RespWriter::Int(int64_t v) { Header(':', v); }

void RespWriter::Bulk(std::string_view s) {
  Header('$', static_cast<int64_t>(s.size()));
  out_->append(s);
  out_->append("\r\n", 2);
}

void RespWriter::BulkOwned(std::string&& s) {
  if (s.size() < kBulkInPlace || !out_->empty()) return Bulk(std::string_view(s));
  char head[24];
  head[0] = '$';
  auto [end, ec] = std::to_chars(head + 1, head + sizeof(head) - 2, s.size());
  (void)ec;  // 22 digits always fit a size_t
  end[0] = '\r';
  end[1] = '\n';
  // In place when the buffer has room for the header and the CRLF (a decoded record's value
  // has: it is the record's buffer with the record's own header cut off); else one copy.
  s.insert(0, head, size_t(end + 2 - head));
  s.append("\r\n", 2);
  out_->swap(s);
}

void RespWriter::Null() {
  if (proto_ >= 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("$-1\r\n", 5);
  }
}

void RespWriter::NullArray() {
  if (proto_ >= 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("*-1\r\n", 5);
  }
}

void RespWriter::Array(size_t n) { Header('*', static_cast<int64_t>(n)); }

void RespWriter::Map(size_t n) {
  if (proto_ >= 3) {
    Header('%', static_cast<int64_t>(n));
  } else {
    Header('*', static_cast<int64_t>(2 * n));
  }
}

void RespWriter::Set(size_t n) { Header(proto_ >= 3 ? '~' : '*', static_cast<int64_t>(n)); }

void RespWriter::Push(size_t n) { Header(proto_ >= 3 ? '>' : '*', static_cast<int64_t>(n)); }

void RespWriter::Double(double d) {
  // The fewest digits that read back as the same double, laid out as "%.17g" lays them
  // out (exponent form only when the exponent is < -4 or >= 17), so 0.1 is "0.1" rather
  // than "0.10000000000000001" and 1e16 is "10000000000000000". inf/nan as Redis spells them.
  char buf[64];
  std::string_view text;
  if (std::isinf(d)) {
    text = d > 0 ? "inf" : "-inf";
  } else if (std::isnan(d)) {
    text = "nan";
  } else {
    char* end = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific).ptr;
    // Scientific output always has an exponent: "e", a sign, then at least two digits.
    const char* e = static_cast<const char*>(memchr(buf, 'e', static_cast<size_t>(end - buf)));
    int exp10 = 0;
    std::from_chars(e + 2, end, exp10);
    if (e[1] == '-') exp10 = -exp10;
    if (exp10 >= -4 && exp10 < 17) {
      end = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::fixed).ptr;
    }
    text = std::string_view(buf, static_cast<size_t>(end - buf));
  }
  DoubleText(text);
}

void RespWriter::Double17(double d) {
  char buf[64];
  int n = std::isinf(d) ? std::snprintf(buf, sizeof(buf), "%s", d > 0 ? "inf" : "-inf")
                        : std::snprintf(buf, sizeof(buf), "%.17g", d);
  DoubleText(std::string_view(buf, static_cast<size_t>(n)));
}

void RespWriter::DoubleText(std::string_view text) {
  if (proto_ >= 3) {
    out_->push_back(',');
    out_->append(text);
    out_->append("\r\n", 2);
  } else {
    Bulk(text);
  }
}

void RespWriter::Bool(bool b) {
  if (proto_ >= 3) {
    out_->append(b ? "#t\r\n" : "#f\r\n", 4);
  } else {
    out_->append(b ? ":1\r\n" : ":0\r\n", 4);
  }
}

void RespWriter::Verbatim(std::string_view s) {
  if (proto_ >= 3) {
    Header('=', static_cast<int64_t>(s.size() + 4));
    out_->append("txt:", 4);
    out_->append(s);
    out_->append("\r\n", 2);
  } else {
    Bulk(s);
  }
}

std::string EncodeCommand(const std::vector<std::string>& args) {
  size_t size = 16;
  for (const std::string& a : args) size += a.size() + 24;
  std::string out;
  out.reserve(size);
  RespWriter w(&out);
  w.Array(args.size());
  for (const std::string& a : args) w.Bulk(a);
  return out;
}

}  // namespace dynakv::protocol
