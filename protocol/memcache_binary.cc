// protocol/memcache_binary.cc: the memcached binary protocol codec (protocol/memcache_binary.h).
#include "protocol/memcache_binary.h"

#include <algorithm>
#include <utility>

namespace dynakv::protocol {

bool McBinKnownOp(uint8_t opcode) {
  return opcode <= 0x1a || (opcode >= 0x1c && opcode <= 0x24 && opcode != 0x1f);
}

McBinOp McBinLoudOp(McBinOp op) {
  switch (op) {
    case McBinOp::kGetQ: return McBinOp::kGet;
    case McBinOp::kGetKQ: return McBinOp::kGetK;
    case McBinOp::kSetQ: return McBinOp::kSet;
    case McBinOp::kAddQ: return McBinOp::kAdd;
    case McBinOp::kReplaceQ: return McBinOp::kReplace;
    case McBinOp::kDeleteQ: return McBinOp::kDelete;
    case McBinOp::kIncrementQ: return McBinOp::kIncrement;
    case McBinOp::kDecrementQ: return McBinOp::kDecrement;
    case McBinOp::kQuitQ: return McBinOp::kQuit;
    case McBinOp::kFlushQ: return McBinOp::kFlush;
    case McBinOp::kAppendQ: return McBinOp::kAppend;
    case McBinOp::kPrependQ: return McBinOp::kPrepend;
    case McBinOp::kGatQ: return McBinOp::kGat;
    case McBinOp::kGatKQ: return McBinOp::kGatK;
    default: return op;
  }
}

bool McBinQuiet(McBinOp op) { return McBinLoudOp(op) != op; }

const char* McBinOpName(uint8_t opcode) {
  static const char* const kNames[] = {
      "get", "set", "add", "replace", "delete", "incr", "decr", "quit", "flush", "getq",
      "noop", "version", "getk", "getkq", "append", "prepend", "stat", "setq", "addq",
      "replaceq", "deleteq", "incrq", "decrq", "quitq", "flushq", "appendq", "prependq",
      "unknown", "touch", "gat", "gatq", "unknown", "sasl_list_mechs", "sasl_auth",
      "sasl_step", "gatk", "gatkq"};
  if (!McBinKnownOp(opcode)) return "unknown";
  return kNames[opcode];
}

const char* McBinStatusText(McBinStatus status) {
  // memcached 1.6's write_bin_error texts.
  switch (status) {
    case McBinStatus::kOk: return "";
    case McBinStatus::kKeyNotFound: return "Not found";
    case McBinStatus::kKeyExists: return "Data exists for key.";
    case McBinStatus::kValueTooLarge: return "Too large.";
    case McBinStatus::kInvalidArguments: return "Invalid arguments";
    case McBinStatus::kNotStored: return "Not stored.";
    case McBinStatus::kNonNumeric: return "Non-numeric server-side value for incr or decr";
    case McBinStatus::kAuthError: return "Auth failure.";
    case McBinStatus::kAuthContinue: return "Auth continue";
    case McBinStatus::kUnknownCommand: return "Unknown command";
    case McBinStatus::kOutOfMemory: return "Out of memory";
    case McBinStatus::kNotSupported: return "Not supported";
    case McBinStatus::kInternalError: return "Internal error";
    case McBinStatus::kBusy: return "Busy";
    case McBinStatus::kTemporaryFailure: return "Temporary failure";
  }
  return "Unknown error";
}

void McBinPut16(std::string* out, uint16_t v) {
  out->push_back(char(v >> 8));
  out->push_back(char(v));
}
void McBinPut32(std::string* out, uint32_t v) {
  McBinPut16(out, uint16_t(v >> 16));
  McBinPut16(out, uint16_t(v));
}
void McBinPut64(std::string* out, uint64_t v) {
  McBinPut32(out, uint32_t(v >> 32));
  McBinPut32(out, uint32_t(v));
}
static uint16_t Get16(const char* p) {
  return uint16_t(uint16_t(uint8_t(p[0])) << 8 | uint8_t(p[1]));
}
uint32_t McBinGet32(const char* p) { return uint32_t(Get16(p)) << 16 | Get16(p + 2); }
uint64_t McBinGet64(const char* p) { return uint64_t(McBinGet32(p)) << 32 | McBinGet32(p + 4); }

McBinHeader DecodeMcBinHeader(const char* p) {
  McBinHeader h;
  h.magic = uint8_t(p[0]);
  h.opcode = uint8_t(p[1]);
  h.key_len = Get16(p + 2);
  h.extras_len = uint8_t(p[4]);
  h.data_type = uint8_t(p[5]);
  h.vbucket_or_status = Get16(p + 6);
  h.body_len = McBinGet32(p + 8);
  h.opaque = McBinGet32(p + 12);
  h.cas = McBinGet64(p + 16);
  return h;
}

void AppendMcBinHeader(std::string* out, const McBinHeader& h) {
  out->push_back(char(h.magic));
  out->push_back(char(h.opcode));
  McBinPut16(out, h.key_len);
  out->push_back(char(h.extras_len));
  out->push_back(char(h.data_type));
  McBinPut16(out, h.vbucket_or_status);
  McBinPut32(out, h.body_len);
  McBinPut32(out, h.opaque);
  McBinPut64(out, h.cas);
}

// ---- decoder --------------------------------------------------------------------------------

McBinParser::McBinParser(McBinLimits limits) : limits_(limits) {}

McBinParse McBinParser::Fail(McBinStatus st, bool reply, McBinRequest* req) {
  state_ = State::kFailed;
  error_ = st;
  has_reply_ = reply;
  if (reply) {
    McBinRequest r;
    r.header = header_;
    *req = std::move(r);
  }
  std::string().swap(buf_);
  return McBinParse::kFatal;
}

McBinParse McBinParser::Validate(McBinRequest* req) {
  const McBinHeader& h = header_;
  const uint64_t kl = h.key_len, el = h.extras_len, bl = h.body_len;
  // The order of memcached's dispatch_bin_command: lengths, key size, then the opcode.
  if (kl + el > bl) return Fail(McBinStatus::kUnknownCommand, true, req);
  if (kl > limits_.max_key_bytes) return Fail(McBinStatus::kInvalidArguments, true, req);
  if (!McBinKnownOp(h.opcode)) {
    McBinRequest r;
    r.header = h;
    *req = std::move(r);
    error_ = McBinStatus::kUnknownCommand;
    has_reply_ = true;
    state_ = State::kSwallow;
    skip_left_ = bl;
    return McBinParse::kError;
  }
  const uint64_t vl = bl - kl - el;
  bool ok = false, storage = false;
  switch (McBinLoudOp(McBinOp(h.opcode))) {
    case McBinOp::kVersion:
    case McBinOp::kNoop:
    case McBinOp::kQuit:
    case McBinOp::kSaslListMechs:
      ok = bl == 0;
      break;
    case McBinOp::kFlush:
      ok = kl == 0 && vl == 0 && (el == 0 || el == 4);
      break;
    case McBinOp::kSet:
    case McBinOp::kAdd:
    case McBinOp::kReplace:
      ok = el == 8 && kl > 0;
      storage = true;
      break;
    case McBinOp::kAppend:
    case McBinOp::kPrepend:
      ok = el == 0 && kl > 0;
      storage = true;
      break;
    case McBinOp::kGet:
    case McBinOp::kGetK:
    case McBinOp::kDelete:
      ok = el == 0 && kl > 0 && vl == 0;
      break;
    case McBinOp::kIncrement:
    case McBinOp::kDecrement:
      ok = el == 20 && kl > 0 && vl == 0;
      break;
    case McBinOp::kStat:
      ok = el == 0 && vl == 0;
      break;
    case McBinOp::kSaslAuth:
    case McBinOp::kSaslStep:
      ok = el == 0 && kl > 0 && vl <= limits_.max_sasl_bytes;
      break;
    case McBinOp::kTouch:
    case McBinOp::kGat:
    case McBinOp::kGatK:
      ok = el == 4 && kl > 0 && vl == 0;
      break;
    default:
      break;
  }
  if (!ok) return Fail(McBinStatus::kInvalidArguments, true, req);
  too_large_ = storage && vl > limits_.max_item_bytes;
  // Bounded: extras + key <= 505 bytes; a value only when it is within max_item_bytes.
  body_want_ = size_t(too_large_ ? el + kl : bl);
  state_ = State::kBody;
  return McBinParse::kNeedMore;
}

McBinParse McBinParser::Complete(McBinRequest* req) {
  McBinRequest r;
  r.header = header_;
  const size_t el = header_.extras_len, kl = header_.key_len;
  r.extras.assign(buf_, 0, el);
  r.key.assign(buf_, el, kl);
  const char* x = r.extras.data();
  switch (el) {
    case 8:  // set/add/replace
      r.flags = McBinGet32(x);
      r.exptime = McBinGet32(x + 4);
      break;
    case 20:  // incr/decr
      r.delta = McBinGet64(x);
      r.initial = McBinGet64(x + 8);
      r.exptime = McBinGet32(x + 16);
      break;
    case 4:  // touch/gat/flush
      r.exptime = McBinGet32(x);
      break;
    default:
      break;
  }
  if (too_large_) {
    too_large_ = false;
    buf_.clear();
    *req = std::move(r);
    error_ = McBinStatus::kValueTooLarge;
    has_reply_ = true;
    state_ = State::kSwallow;
    skip_left_ = uint64_t(header_.body_len) - el - kl;
    return McBinParse::kError;
  }
  r.value.assign(buf_, el + kl, std::string::npos);
  buf_.clear();
  if (buf_.capacity() > 4096) std::string().swap(buf_);  // do not keep a big value's buffer
  *req = std::move(r);
  state_ = State::kHeader;
  return McBinParse::kOk;
}

McBinParse McBinParser::Parse(const char* data, size_t len, size_t* consumed, McBinRequest* req) {
  size_t off = 0;
  *consumed = 0;
  for (;;) {
    switch (state_) {
      case State::kFailed:
        return McBinParse::kFatal;
      case State::kHeader: {
        if (off == len) {
          *consumed = off;
          return McBinParse::kNeedMore;
        }
        if (buf_.empty() && uint8_t(data[off]) != kMcBinRequestMagic) {
          header_ = McBinHeader{};
          *consumed = off;
          return Fail(McBinStatus::kInvalidArguments, false, req);
        }
        size_t take = std::min(kMcBinHeaderBytes - buf_.size(), len - off);
        buf_.append(data + off, take);
        off += take;
        if (buf_.size() < kMcBinHeaderBytes) continue;
        header_ = DecodeMcBinHeader(buf_.data());
        buf_.clear();
        McBinParse r = Validate(req);
        if (r != McBinParse::kNeedMore) {
          *consumed = off;
          return r;
        }
        continue;
      }
      case State::kBody: {
        if (buf_.size() >= body_want_) {
          *consumed = off;
          return Complete(req);
        }
        if (off == len) {
          *consumed = off;
          return McBinParse::kNeedMore;
        }
        size_t take = std::min(body_want_ - buf_.size(), len - off);
        buf_.append(data + off, take);
        off += take;
        continue;
      }
      case State::kSwallow: {
        if (skip_left_ == 0) {
          state_ = State::kHeader;
          continue;
        }
        if (off == len) {
          *consumed = off;
          return McBinParse::kNeedMore;
        }
        size_t take = size_t(std::min<uint64_t>(skip_left_, len - off));
        off += take;
        skip_left_ -= take;
        continue;
      }
    }
  }
}

// ---- encoders -------------------------------------------------------------------------------

void AppendMcBinResponse(std::string* out, uint8_t opcode, McBinStatus status, uint32_t opaque,
                         uint64_t cas, std::string_view extras, std::string_view key,
                         std::string_view value) {
  McBinHeader h;
  h.magic = kMcBinResponseMagic;
  h.opcode = opcode;
  h.key_len = uint16_t(key.size());
  h.extras_len = uint8_t(extras.size());
  h.vbucket_or_status = uint16_t(status);
  h.body_len = uint32_t(extras.size() + key.size() + value.size());
  h.opaque = opaque;
  h.cas = cas;
  AppendMcBinHeader(out, h);
  out->append(extras);
  out->append(key);
  out->append(value);
}

void AppendMcBinError(std::string* out, uint8_t opcode, McBinStatus status, uint32_t opaque) {
  AppendMcBinResponse(out, opcode, status, opaque, 0, {}, {}, McBinStatusText(status));
}

std::string EncodeMcBinRequest(const McBinRequest& req) {
  McBinHeader h = req.header;
  h.magic = kMcBinRequestMagic;
  h.key_len = uint16_t(req.key.size());
  h.extras_len = uint8_t(req.extras.size());
  h.body_len = uint32_t(req.extras.size() + req.key.size() + req.value.size());
  std::string out;
  AppendMcBinHeader(&out, h);
  out += req.extras;
  out += req.key;
  out += req.value;
  return out;
}

std::string McBinStoreExtras(uint32_t flags, uint32_t exptime) {
  std::string out;
  McBinPut32(&out, flags);
  McBinPut32(&out, exptime);
  return out;
}

std::string McBinArithExtras(uint64_t delta, uint64_t initial, uint32_t exptime) {
  std::string out;
  McBinPut64(&out, delta);
  McBinPut64(&out, initial);
  McBinPut32(&out, exptime);
  return out;
}

std::string McBinExptimeExtras(uint32_t exptime) {
  std::string out;
  McBinPut32(&out, exptime);
  return out;
}

}  // namespace dynakv::protocol
