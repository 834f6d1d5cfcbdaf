// protocol/memcache.cc: memcached text + meta request parser (see memcache.h).
#include "protocol/memcache.h"

#include <algorithm>
#include <climits>
#include <cstring>

namespace dynakv::protocol {
namespace {

constexpr const char* kBadFormat = "CLIENT_ERROR bad command line format";
constexpr const char* kBadChunk = "CLIENT_ERROR bad data chunk";
constexpr const char* kTooLargeText = "SERVER_ERROR object too large for cache";
constexpr const char* kBadExptime = "CLIENT_ERROR invalid exptime argument";
constexpr const char* kBadDelta = "CLIENT_ERROR invalid numeric delta argument";
constexpr const char* kBadToken = "CLIENT_ERROR bad token in command line format";
constexpr const char* kInvalidFlag = "CLIENT_ERROR invalid flag";
constexpr const char* kDupFlag = "CLIENT_ERROR duplicate flag";
constexpr const char* kInvalidOrDup = "CLIENT_ERROR invalid or duplicate flag";

// memcached splits command lines on spaces only.
std::vector<std::string_view> Tokenize(std::string_view line) {
  std::vector<std::string_view> t;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') i++;
    size_t start = i;
    while (i < line.size() && line[i] != ' ') i++;
    if (i > start) t.push_back(line.substr(start, i - start));
  }
  return t;
}

bool ParseI64(std::string_view s, int64_t* out) {
  bool neg = !s.empty() && s[0] == '-';
  uint64_t v;
  if (!McParseU64(neg ? s.substr(1) : s, &v)) return false;
  if (neg) {
    if (v > uint64_t(INT64_MAX) + 1) return false;
    *out = v == uint64_t(INT64_MAX) + 1 ? INT64_MIN : -int64_t(v);
  } else {
    if (v > uint64_t(INT64_MAX)) return false;
    *out = int64_t(v);
  }
  return true;
}

// memcached reads data lengths as 32-bit signed (safe_strtol). Exptimes are parsed as 64-bit:
// an absolute time past 2038 is legitimate (the server clamps what it cannot represent).
bool ParseI32(std::string_view s, int64_t* out) {
  int64_t v;
  if (!ParseI64(s, &v) || v < INT32_MIN || v > INT32_MAX) return false;
  *out = v;
  return true;
}

bool ParseU32(std::string_view s, uint32_t* out) {
  uint64_t v;
  if (!McParseU64(s, &v) || v > UINT32_MAX) return false;
  *out = uint32_t(v);
  return true;
}

bool IsStorage(McOp op) {
  return op == McOp::kSet || op == McOp::kAdd || op == McOp::kReplace || op == McOp::kAppend ||
         op == McOp::kPrepend || op == McOp::kCas;
}

struct NameOp {
  const char* name;
  McOp op;
};
constexpr NameOp kOps[] = {
    {"get", McOp::kGet},         {"gets", McOp::kGets},
    {"gat", McOp::kGat},         {"gats", McOp::kGats},
    {"set", McOp::kSet},         {"add", McOp::kAdd},
    {"replace", McOp::kReplace}, {"append", McOp::kAppend},
    {"prepend", McOp::kPrepend}, {"cas", McOp::kCas},
    {"delete", McOp::kDelete},   {"incr", McOp::kIncr},
    {"decr", McOp::kDecr},       {"touch", McOp::kTouch},
    {"flush_all", McOp::kFlushAll}, {"version", McOp::kVersion},
    {"verbosity", McOp::kVerbosity}, {"quit", McOp::kQuit},
    {"stats", McOp::kStats},     {"mg", McOp::kMetaGet},
    {"ms", McOp::kMetaSet},      {"md", McOp::kMetaDelete},
    {"ma", McOp::kMetaArithmetic}, {"mn", McOp::kMetaNoop},
};

}  // namespace

const char* McOpName(McOp op) {
  for (const auto& e : kOps) {
    if (e.op == op) return e.name;
  }
  return "?";
}

bool McCommand::HasFlag(char f) const {
  return std::any_of(meta.begin(), meta.end(), [f](const McFlag& m) { return m.flag == f; });
}

bool McParseU64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    uint64_t d = uint64_t(ch - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

McParser::McParser(McLimits limits) : limits_(limits) {}

bool McParser::ValidKey(std::string_view key) const {
  if (key.empty() || key.size() > limits_.max_key_bytes) return false;
  // Spaces cannot occur (they split tokens); control characters would corrupt the
  // "VALUE <key> ..." reply line for other clients, so refuse them up front.
  for (char ch : key) {
    auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

McStatus McParser::Fail(std::string text, McCommand* cmd) {
  (void)cmd;
  error_ = std::move(text);
  return McStatus::kError;
}

McStatus McParser::ExpectData(uint64_t bytes, McCommand* cmd) {
  if (bytes > limits_.max_item_bytes) {
    // memcached answers at once and then skips the block, so the stream stays in sync.
    state_ = State::kSwallow;
    data_left_ = bytes + 2;
    error_ = kTooLargeText;
    return McStatus::kTooLarge;
  }
  pending_ = std::move(*cmd);
  pending_.data.clear();
  pending_.data.reserve(size_t(bytes) + 2);
  state_ = State::kData;
  data_left_ = bytes + 2;
  *cmd = McCommand{};
  cmd->op = pending_.op;
  cmd->keys = pending_.keys;
  cmd->noreply = pending_.noreply;
  return McStatus::kNeedMore;
}

McStatus McParser::Parse(const char* data, size_t len, size_t* consumed, McCommand* cmd) {
  size_t pos = 0;
  if (fatal_) {
    *consumed = 0;
    return McStatus::kFatal;
  }
  for (;;) {
    switch (state_) {
      case State::kSwallow: {
        size_t n = size_t(std::min<uint64_t>(len - pos, data_left_));
        pos += n;
        data_left_ -= n;
        if (data_left_ > 0) {
          *consumed = pos;
          return McStatus::kNeedMore;
        }
        state_ = State::kLine;
        break;
      }
      case State::kData: {
        size_t n = size_t(std::min<uint64_t>(len - pos, data_left_));
        pending_.data.append(data + pos, n);
        pos += n;
        data_left_ -= n;
        if (data_left_ > 0) {
          *consumed = pos;
          return McStatus::kNeedMore;
        }
        state_ = State::kLine;
        *consumed = pos;
        std::string& d = pending_.data;
        if (d.size() < 2 || d[d.size() - 2] != '\r' || d.back() != '\n') {
          // memcached reads exactly <bytes>+2 and checks the last two; the rest of the
          // stream is parsed as commands again.
          *cmd = McCommand{};
          cmd->op = pending_.op;
          cmd->keys = std::move(pending_.keys);
          // ms: "metaset mode always returns errors" (memcached); text noreply hides it.
          cmd->noreply = IsStorage(pending_.op) && pending_.noreply;
          pending_ = McCommand{};
          error_ = kBadChunk;
          return McStatus::kError;
        }
        d.resize(d.size() - 2);
        *cmd = std::move(pending_);
        pending_ = McCommand{};
        return McStatus::kOk;
      }
      case State::kLine: {
        const char* start = data + pos;
        const char* nl = static_cast<const char*>(std::memchr(start, '\n', len - pos));
        if (nl == nullptr) {
          line_.append(start, len - pos);
          pos = len;
          *consumed = pos;
          if (line_.size() > limits_.max_line_bytes) {
            fatal_ = true;
            error_ = "CLIENT_ERROR line too long";
            return McStatus::kFatal;
          }
          return McStatus::kNeedMore;
        }
        size_t n = size_t(nl - start);
        pos += n + 1;
        std::string_view line;
        if (line_.empty()) {
          line = std::string_view(start, n);
        } else {
          line_.append(start, n);
          line = line_;
        }
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > limits_.max_line_bytes) {
          fatal_ = true;
          *consumed = pos;
          error_ = "CLIENT_ERROR line too long";
          return McStatus::kFatal;
        }
        McStatus st = ParseLine(line, cmd);
        line_.clear();
        if (st == McStatus::kNeedMore) break;  // now in kData: read the block
        *consumed = pos;
        return st;
      }
    }
  }
}

McStatus McParser::ParseLine(std::string_view line, McCommand* cmd) {
  *cmd = McCommand{};
  std::vector<std::string_view> tok = Tokenize(line);
  if (tok.empty()) return Fail("ERROR", cmd);  // memcached answers an empty line with ERROR
  const NameOp* found = nullptr;
  for (const auto& e : kOps) {
    if (tok[0] == e.name) found = &e;  // case-sensitive, like memcached
  }
  if (found == nullptr) return Fail("ERROR", cmd);
  cmd->op = found->op;
  size_t nt = tok.size();
  auto last_is_noreply = [&] { return nt > 1 && tok[nt - 1] == "noreply"; };

  switch (cmd->op) {
    case McOp::kGet:
    case McOp::kGets:
    case McOp::kGat:
    case McOp::kGats: {
      bool touch = cmd->op == McOp::kGat || cmd->op == McOp::kGats;
      size_t first = touch ? 2 : 1;
      if (nt <= first) return Fail("ERROR", cmd);
      if (touch && !ParseI64(tok[1], &cmd->exptime)) return Fail(kBadExptime, cmd);
      cmd->has_exptime = touch;
      for (size_t i = first; i < nt; i++) {
        if (!ValidKey(tok[i])) return Fail(kBadFormat, cmd);
        cmd->keys.emplace_back(tok[i]);
      }
      return McStatus::kOk;
    }
    case McOp::kSet:
    case McOp::kAdd:
    case McOp::kReplace:
    case McOp::kAppend:
    case McOp::kPrepend:
    case McOp::kCas:
      return ParseStorage(tok, cmd);
    case McOp::kDelete: {
      if (nt < 2 || nt > 4) return Fail("ERROR", cmd);
      if (nt > 2) {
        // "delete <key> 0" is the legacy zero hold time; anything else is an error.
        bool hold_zero = tok[2] == "0";
        cmd->noreply = last_is_noreply();
        bool valid = (nt == 3 && (hold_zero || cmd->noreply)) || (nt == 4 && hold_zero && cmd->noreply);
        if (!valid) return Fail(std::string(kBadFormat) + ".  Usage: delete <key> [noreply]", cmd);
      }
      if (!ValidKey(tok[1])) return Fail(kBadFormat, cmd);
      cmd->keys.emplace_back(tok[1]);
      return McStatus::kOk;
    }
    case McOp::kIncr:
    case McOp::kDecr: {
      if (nt != 3 && nt != 4) return Fail("ERROR", cmd);
      cmd->noreply = last_is_noreply();
      if (!ValidKey(tok[1])) return Fail(kBadFormat, cmd);
      cmd->keys.emplace_back(tok[1]);
      if (!McParseU64(tok[2], &cmd->delta)) return Fail(kBadDelta, cmd);
      return McStatus::kOk;
    }
    case McOp::kTouch: {
      if (nt != 3 && nt != 4) return Fail("ERROR", cmd);
      cmd->noreply = last_is_noreply();
      if (!ValidKey(tok[1])) return Fail(kBadFormat, cmd);
      cmd->keys.emplace_back(tok[1]);
      if (!ParseI64(tok[2], &cmd->exptime)) return Fail(kBadExptime, cmd);
      cmd->has_exptime = true;
      return McStatus::kOk;
    }
    case McOp::kFlushAll: {
      if (nt > 3) return Fail("ERROR", cmd);
      cmd->noreply = last_is_noreply();
      size_t args = nt - 1 - (cmd->noreply ? 1 : 0);
      if (args == 1) {
        if (!ParseI32(tok[1], &cmd->exptime)) return Fail(kBadExptime, cmd);
        cmd->has_exptime = true;
      } else if (args > 1) {
        return Fail("ERROR", cmd);
      }
      return McStatus::kOk;
    }
    case McOp::kVerbosity: {
      if (nt != 2 && nt != 3) return Fail("ERROR", cmd);
      cmd->noreply = last_is_noreply();
      cmd->args.emplace_back(tok[1]);
      return McStatus::kOk;
    }
    case McOp::kStats:
      for (size_t i = 1; i < nt; i++) cmd->args.emplace_back(tok[i]);
      return McStatus::kOk;
    case McOp::kVersion:
    case McOp::kQuit:
    case McOp::kMetaNoop:
      return McStatus::kOk;
    case McOp::kMetaGet:
    case McOp::kMetaSet:
    case McOp::kMetaDelete:
    case McOp::kMetaArithmetic:
      return ParseMeta(tok, cmd);
  }
  return Fail("ERROR", cmd);
}

McStatus McParser::ParseStorage(const std::vector<std::string_view>& tok, McCommand* cmd) {
  size_t nt = tok.size();
  bool is_cas = cmd->op == McOp::kCas;
  size_t base = is_cas ? 6 : 5;  // tokens without noreply
  if (nt != base && nt != base + 1) return Fail("ERROR", cmd);
  // memcached honours noreply (even for the error replies) before validating the line.
  cmd->noreply = tok[nt - 1] == "noreply";
  if (!ValidKey(tok[1])) return Fail(kBadFormat, cmd);
  cmd->keys.emplace_back(tok[1]);
  int64_t bytes = 0;
  if (!ParseU32(tok[2], &cmd->flags) || !ParseI64(tok[3], &cmd->exptime) || !ParseI32(tok[4], &bytes)) {
    return Fail(kBadFormat, cmd);
  }
  cmd->has_exptime = true;
  if (is_cas) {
    if (!McParseU64(tok[5], &cmd->cas)) return Fail(kBadFormat, cmd);
    cmd->has_cas = true;
  }
  if (bytes < 0) return Fail(kBadFormat, cmd);
  return ExpectData(uint64_t(bytes), cmd);
}

McStatus McParser::ParseMeta(const std::vector<std::string_view>& tok, McCommand* cmd) {
  size_t nt = tok.size();
  if (nt < 2) return Fail("ERROR", cmd);
  if (!ValidKey(tok[1])) return Fail(kBadFormat, cmd);
  cmd->keys.emplace_back(tok[1]);
  bool ms = cmd->op == McOp::kMetaSet;
  bool md = cmd->op == McOp::kMetaDelete;
  bool ma = cmd->op == McOp::kMetaArithmetic;
  size_t first = 2;
  int64_t bytes = 0;
  if (ms) {
    if (nt < 3 || !ParseI32(tok[2], &bytes) || bytes < 0) return Fail(kBadFormat, cmd);
    first = 3;
  }
  // md and ma report every flag problem with one text, mg and ms distinguish (memcached).
  const char* invalid = (md || ma) ? kInvalidOrDup : kInvalidFlag;
  const char* dup = (md || ma) ? kInvalidOrDup : kDupFlag;
  const char* allowed = cmd->op == McOp::kMetaGet ? "vftcksqOTuPL"
                        : ms                      ? "cCFkOqTMPL"
                        : md                      ? "qCOkPL"
                                                  : "NJDTMCqOvtckPL";
  if (ma) cmd->mode = 'I';
  if (ms) cmd->mode = 'S';
  bool seen[256] = {};
  std::string err;
  for (size_t i = first; i < nt && err.empty(); i++) {
    char f = tok[i][0];
    std::string_view v = tok[i].substr(1);
    auto u = static_cast<unsigned char>(f);
    if (std::strchr(allowed, f) == nullptr || f == '\0') {
      err = invalid;
      break;
    }
    if (seen[u]) {
      err = dup;
      break;
    }
    seen[u] = true;
    switch (f) {
      case 'q':
        cmd->noreply = true;
        break;
      case 'O':
        if (v.size() > limits_.max_opaque_bytes) err = "CLIENT_ERROR opaque token too long";
        break;
      case 'T':
        if (!ParseI64(v, &cmd->exptime)) err = (md || ma) ? kInvalidOrDup : kBadToken;
        cmd->has_exptime = true;
        break;
      case 'C':
        if (!McParseU64(v, &cmd->cas)) err = (md || ma) ? kInvalidOrDup : kBadToken;
        cmd->has_cas = true;
        break;
      case 'F':
        if (!ParseU32(v, &cmd->flags)) err = kBadFormat;
        break;
      case 'N':
        if (!ParseI64(v, &cmd->vivify_exptime)) err = kInvalidOrDup;
        cmd->has_vivify = true;
        break;
      case 'J':
        if (!McParseU64(v, &cmd->initial)) err = kInvalidOrDup;
        break;
      case 'D':
        if (!McParseU64(v, &cmd->delta)) err = kInvalidOrDup;
        break;
      case 'M': {
        char m = v.size() == 1 ? v[0] : '?';  // case-sensitive, like memcached 1.6.18
        if (ms) {
          if (m != 'S' && m != 'E' && m != 'A' && m != 'P' && m != 'R') err = "CLIENT_ERROR invalid mode for ms M token";
          cmd->mode = m;
        } else {
          if (m == '+') m = 'I';
          if (m == '-') m = 'D';
          if (m != 'I' && m != 'D') err = "CLIENT_ERROR invalid mode for ma M token";
          cmd->mode = m;
        }
        break;
      }
      default:
        break;
    }
    if (err.empty()) cmd->meta.push_back({f, std::string(v)});
  }
  if (!err.empty()) {
    cmd->noreply = false;  // meta errors are always returned
    if (ms) {
      // Once the length is known memcached skips the data block of a refused ms.
      state_ = State::kSwallow;
      data_left_ = uint64_t(bytes) + 2;
    }
    return Fail(err, cmd);
  }
  if (ms) {
    McStatus st = ExpectData(uint64_t(bytes), cmd);
    if (st == McStatus::kTooLarge) cmd->noreply = false;
    return st;
  }
  return McStatus::kOk;
}

// ---- encoders ---------------------------------------------------------------------------

std::string EncodeMcCommand(const McCommand& c) {
  std::string out = McOpName(c.op);
  auto add = [&out](std::string_view s) {
    out += ' ';
    out.append(s);
  };
  switch (c.op) {
    case McOp::kGet:
    case McOp::kGets:
      for (const auto& k : c.keys) add(k);
      break;
    case McOp::kGat:
    case McOp::kGats:
      add(std::to_string(c.exptime));
      for (const auto& k : c.keys) add(k);
      break;
    case McOp::kSet:
    case McOp::kAdd:
    case McOp::kReplace:
    case McOp::kAppend:
    case McOp::kPrepend:
    case McOp::kCas:
      add(c.key());
      add(std::to_string(c.flags));
      add(std::to_string(c.exptime));
      add(std::to_string(c.data.size()));
      if (c.op == McOp::kCas) add(std::to_string(c.cas));
      if (c.noreply) add("noreply");
      out += "\r\n";
      out += c.data;
      break;
    case McOp::kDelete:
      add(c.key());
      if (c.noreply) add("noreply");
      break;
    case McOp::kIncr:
    case McOp::kDecr:
      add(c.key());
      add(std::to_string(c.delta));
      if (c.noreply) add("noreply");
      break;
    case McOp::kTouch:
      add(c.key());
      add(std::to_string(c.exptime));
      if (c.noreply) add("noreply");
      break;
    case McOp::kFlushAll:
      if (c.has_exptime) add(std::to_string(c.exptime));
      if (c.noreply) add("noreply");
      break;
    case McOp::kVerbosity:
    case McOp::kStats:
      for (const auto& a : c.args) add(a);
      if (c.op == McOp::kVerbosity && c.noreply) add("noreply");
      break;
    case McOp::kVersion:
    case McOp::kQuit:
    case McOp::kMetaNoop:
      break;
    case McOp::kMetaGet:
    case McOp::kMetaSet:
    case McOp::kMetaDelete:
    case McOp::kMetaArithmetic:
      add(c.key());
      if (c.op == McOp::kMetaSet) add(std::to_string(c.data.size()));
      for (const auto& f : c.meta) {
        out += ' ';
        out += f.flag;
        out += f.token;
      }
      if (c.op == McOp::kMetaSet) {
        out += "\r\n";
        out += c.data;
      }
      break;
  }
  out += "\r\n";
  return out;
}

void McAppendValue(std::string* out, std::string_view key, uint32_t flags, std::string_view data,
                   const uint64_t* cas) {
  out->append("VALUE ");
  out->append(key);
  out->push_back(' ');
  out->append(std::to_string(flags));
  out->push_back(' ');
  out->append(std::to_string(data.size()));
  if (cas != nullptr) {
    out->push_back(' ');
    out->append(std::to_string(*cas));
  }
  out->append("\r\n");
  out->append(data);
  out->append("\r\n");
}

}  // namespace dynakv::protocol
