// server/memcache_binary.cc: the memcached binary protocol front end. A memcached-port
// connection whose first byte is 0x80 speaks binary for its whole life (as in memcached);
// requests are decoded by protocol::McBinParser and run on the operations the text protocol
// uses (server/memcache_ops.h), so both protocols see the same keyspace, cas values
// (cluster::ContextCas of the causal context read or written), flags, expiry and `stats`.
//
// Opcodes: get/getq/getk/getkq, gat/gatq/gatk/gatkq, touch, set/add/replace/append/prepend
// (+q), delete(q), increment/decrement(q), flush(q), noop, version, quit(q), stat, and SASL
// (list mechs, auth PLAIN, step). Replies follow memcached 1.6.18 (status, body, key and
// extras; tests/integration/memcache_binary_transcript.py compares them). Differences:
// - A set/add/replace with a non-zero cas is a cas (as memcached), with the causal-overwrite
//   semantics described in server/memcache.cc.
// - Authentication: with security.requirepass set, every command but SASL, version, noop and
//   quit answers 0x20 "Auth failure." until SASL PLAIN auth (user ignored, password =
//   requirepass) succeeds; the connection stays open (memcached closes it). SASL list mechs
//   answers "PLAIN". Without requirepass the SASL opcodes answer 0x81, as memcached without -S.
// - A request the cluster cannot serve (too few replicas) answers 0x86 "Temporary failure"
//   with the RESP error text as body; other internal errors 0x84.
// - incr caps at 2^63-1 and decr stops at 0 as in the text protocol (memcached wraps incr).
// Quiet commands take a reply slot and complete it with no bytes, so replies stay in order;
// noop answers, which ends a quiet batch as it does in memcached.
// Thread-safety: loop thread only.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/commands.h"
#include "server/memcache_ops.h"

namespace dynakv::server {
namespace {

using namespace mcops;  // NOLINT: the shared operations
using protocol::AppendMcBinError;
using protocol::AppendMcBinResponse;
using protocol::McBinOp;
using protocol::McBinRequest;
using protocol::McBinStatus;

constexpr size_t kMcBinMaxWaitingReplies = 4096;  // as the text protocol

using Req = std::shared_ptr<McBinRequest>;

void SendError(ReplyTo& r, const McBinRequest& q, McBinStatus st) {
  std::string out;
  AppendMcBinError(&out, q.header.opcode, st, q.header.opaque);
  r.SendRaw(out);
}

// A cluster error: the same text the RESP side shows (ErrorText), under a binary status.
void SendServerError(ReplyTo& r, const McBinRequest& q, const Status& st) {
  McBinStatus code = st.code() == Code::kUnavailable || st.code() == Code::kTimeout
                         ? McBinStatus::kTemporaryFailure
                         : McBinStatus::kInternalError;
  std::string out;
  AppendMcBinResponse(&out, q.header.opcode, code, q.header.opaque, 0, {}, {}, ErrorText(st));
  r.SendRaw(out);
}

// A success reply, or nothing for a quiet command.
void SendOk(ReplyTo& r, const McBinRequest& q, uint64_t cas, std::string_view extras = {},
            std::string_view key = {}, std::string_view value = {}) {
  if (protocol::McBinQuiet(q.op())) return r.SendRaw("");
  std::string out;
  AppendMcBinResponse(&out, q.header.opcode, McBinStatus::kOk, q.header.opaque, cas, extras, key, value);
  r.SendRaw(out);
}

std::string FlagsExtras(uint32_t flags) {
  std::string x;
  protocol::McBinPut32(&x, flags);
  return x;
}

// get, getq, getk, getkq, gat, gatq, gatk, gatkq.
void BinGet(Server* s, Req q, ReplyTo r) {
  McBinOp loud = protocol::McBinLoudOp(q->op());
  bool touch = loud == McBinOp::kGat || loud == McBinOp::kGatK;
  bool with_key = loud == McBinOp::kGetK || loud == McBinOp::kGatK;
  McStats& ms = StatsFor(s);
  ms.cmd_get++;
  if (touch) ms.cmd_touch++;
  uint64_t expiry = touch ? ExpiryMs(s, int64_t(q->exptime)) : 0;
  ReadKey(s, q->key, 0, [s, q, r, touch, with_key, expiry, &ms](Status st, KeyView v) mutable {
    if (!st.ok()) return SendServerError(r, *q, st);
    if (!v.exists) {
      ms.get_misses++;
      if (touch) ms.touch_misses++;
      if (protocol::McBinQuiet(q->op())) return r.SendRaw("");  // a quiet get hides misses
      if (!with_key) return SendError(r, *q, McBinStatus::kKeyNotFound);
      std::string out;  // getk: the key instead of the "Not found" text, as memcached
      AppendMcBinResponse(&out, q->header.opcode, McBinStatus::kKeyNotFound, q->header.opaque, 0, {}, q->key, {});
      return r.SendRaw(out);
    }
    ms.get_hits++;
    auto view = std::make_shared<KeyView>(std::move(v));
    auto hit = [q, view, with_key](ReplyTo& r, uint64_t cas) {
      std::string out;  // a hit is sent even for the quiet forms
      AppendMcBinResponse(&out, q->header.opcode, McBinStatus::kOk, q->header.opaque, cas,
                          FlagsExtras(view->flags), with_key ? std::string_view(q->key) : std::string_view(),
                          view->value);
      r.SendRaw(out);
    };
    if (!touch) return hit(r, cluster::ContextCas(view->context));
    ms.touch_hits++;
    DoTouch(s, q->key, *view, expiry, [r, q, hit](Status st2, cluster::WriteReply wr) mutable {
      if (!st2.ok()) return SendServerError(r, *q, st2);
      hit(r, cluster::ContextCas(wr.context));
    });
  });
}

void BinTouch(Server* s, Req q, ReplyTo r) {
  McStats& ms = StatsFor(s);
  ms.cmd_touch++;
  uint64_t expiry = ExpiryMs(s, int64_t(q->exptime));
  ReadKey(s, q->key, 0, [s, q, r, expiry, &ms](Status st, KeyView cur) mutable {
    if (!st.ok()) return SendServerError(r, *q, st);
    if (!cur.exists) {
      ms.touch_misses++;
      return SendError(r, *q, McBinStatus::kKeyNotFound);
    }
    ms.touch_hits++;
    uint32_t flags = cur.flags;
    DoTouch(s, q->key, cur, expiry, [r, q, flags](Status st2, cluster::WriteReply wr) mutable {
      if (!st2.ok()) return SendServerError(r, *q, st2);
      SendOk(r, *q, cluster::ContextCas(wr.context), FlagsExtras(flags));  // flags, no value
    });
  });
}

// set, add, replace, append, prepend (+q).
void BinStore(Server* s, Req q, ReplyTo r) {
  McStats& ms = StatsFor(s);
  ms.cmd_set++;
  McBinOp loud = protocol::McBinLoudOp(q->op());
  char mode = 'S';
  switch (loud) {
    case McBinOp::kAdd: mode = 'E'; break;
    case McBinOp::kReplace: mode = 'R'; break;
    case McBinOp::kAppend: mode = 'A'; break;
    case McBinOp::kPrepend: mode = 'P'; break;
    default: break;
  }
  std::optional<uint64_t> cas;
  if (q->header.cas != 0) cas = q->header.cas;
  if (cas && (mode == 'E' || mode == 'R')) mode = 'S';  // memcached: a store with a cas is a cas
  // append/prepend have no extras: DoStore keeps the item's flags and expiry.
  uint64_t expiry = ExpiryMs(s, int64_t(q->exptime));
  DoStore(s, q->key, std::move(q->value), q->flags, expiry, mode, cas,
          [r, q, mode, cas, &ms](Status st, StoreResult res, uint64_t new_cas) mutable {
            if (!st.ok()) return SendServerError(r, *q, st);
            switch (res) {
              case StoreResult::kStored:
                ms.total_items++;
                if (cas) ms.cas_hits++;
                return SendOk(r, *q, new_cas);
              case StoreResult::kNotStored:
                // memcached's complete_update_bin: add -> exists, replace -> not found.
                if (mode == 'E') return SendError(r, *q, McBinStatus::kKeyExists);
                if (mode == 'R') return SendError(r, *q, McBinStatus::kKeyNotFound);
                return SendError(r, *q, McBinStatus::kNotStored);
              case StoreResult::kExists:
                ms.cas_badval++;
                return SendError(r, *q, McBinStatus::kKeyExists);
              case StoreResult::kNotFound:
                ms.cas_misses++;
                return SendError(r, *q, McBinStatus::kKeyNotFound);
              case StoreResult::kNoMemory:  // append/prepend past the item size
                return SendError(r, *q, McBinStatus::kNotStored);
            }
          });
}

void BinDelete(Server* s, Req q, ReplyTo r) {
  McStats& ms = StatsFor(s);
  std::optional<uint64_t> cas;
  if (q->header.cas != 0) cas = q->header.cas;
  DoDelete(s, q->key, cas, [r, q, &ms](Status st, DelResult res) mutable {
    if (!st.ok()) return SendServerError(r, *q, st);
    switch (res) {
      case DelResult::kDeleted:
        ms.delete_hits++;
        return SendOk(r, *q, 0);
      case DelResult::kNotFound:
        ms.delete_misses++;
        return SendError(r, *q, McBinStatus::kKeyNotFound);
      case DelResult::kExists:
        return SendError(r, *q, McBinStatus::kKeyExists);
    }
  });
}

// increment/decrement (+q): a miss creates `initial` unless the expiration is 0xffffffff.
void BinArith(Server* s, Req q, ReplyTo r) {
  McStats& ms = StatsFor(s);
  ArithArgs a;
  a.incr = protocol::McBinLoudOp(q->op()) == McBinOp::kIncrement;
  a.delta = q->delta;
  if (q->header.cas != 0) a.cas = q->header.cas;
  a.vivify = q->exptime != 0xffffffffu;
  a.initial = q->initial;
  a.vivify_expiry_ms = a.vivify ? ExpiryMs(s, int64_t(q->exptime)) : 0;
  DoArith(s, q->key, a, [r, q, &ms, incr = a.incr](Status st, ArithResult res) mutable {
    if (!st.ok()) return SendServerError(r, *q, st);
    switch (res.code) {
      case ArithResult::kOk: {
        (incr ? ms.incr_hits : ms.decr_hits)++;
        std::string v;
        protocol::McBinPut64(&v, res.value);
        return SendOk(r, *q, res.cas, {}, {}, v);
      }
      case ArithResult::kNotFound:
        (incr ? ms.incr_misses : ms.decr_misses)++;
        return SendError(r, *q, McBinStatus::kKeyNotFound);
      case ArithResult::kNonNumeric:
        return SendError(r, *q, McBinStatus::kNonNumeric);
      case ArithResult::kExists:
        return SendError(r, *q, McBinStatus::kKeyExists);
    }
  });
}

// One response per statistic (key = name, value = value), then an empty one.
void BinStat(Server* s, const McBinRequest& q, ReplyTo r) {
  std::vector<std::pair<std::string, std::string>> stats;
  StatsGroup g = CollectStats(s, q.key, &stats);
  if (g == StatsGroup::kUnknown) return SendError(r, q, McBinStatus::kKeyNotFound);
  std::string out;
  for (const auto& [name, value] : stats) {
    AppendMcBinResponse(&out, q.header.opcode, McBinStatus::kOk, q.header.opaque, 0, {}, name, value);
  }
  AppendMcBinResponse(&out, q.header.opcode, McBinStatus::kOk, q.header.opaque, 0, {}, {}, {});
  r.SendRaw(out);
}

// SASL PLAIN: the payload is "[authzid] NUL authcid NUL password"; the user is ignored (as
// with the text protocol's `set` auth) and the password must be security.requirepass.
void BinSaslAuth(Server* s, Client* c, const McBinRequest& q, ReplyTo r) {
  McStats& ms = StatsFor(s);
  ms.auth_cmds++;
  bool ok = false;
  if (q.op() == McBinOp::kSaslAuth && q.key == "PLAIN") {
    size_t first = q.value.find('\0');
    size_t second = first == std::string::npos ? first : q.value.find('\0', first + 1);
    if (second != std::string::npos) ok = q.value.compare(second + 1, std::string::npos, s->config().requirepass) == 0;
  }
  if (!ok) {
    ms.auth_errors++;
    return SendError(r, q, McBinStatus::kAuthError);
  }
  c->authed = true;
  std::string out;
  AppendMcBinResponse(&out, q.header.opcode, McBinStatus::kOk, q.header.opaque, 0, {}, {}, "Authenticated");
  r.SendRaw(out);
}

bool AllowedBeforeAuth(McBinOp op) {
  switch (op) {
    case McBinOp::kSaslListMechs:
    case McBinOp::kSaslAuth:
    case McBinOp::kSaslStep:
    case McBinOp::kVersion:
    case McBinOp::kNoop:
    case McBinOp::kQuit:
    case McBinOp::kQuitQ:
      return true;
    default:
      return false;
  }
}

}  // namespace

void Server::HandleMemcacheBinaryInput(const std::shared_ptr<Client>& c, const char* data, size_t len) {
  McStats& mstats = StatsFor(this);
  size_t off = 0;
  while (off < len && !c->closing && !c->close_after_flush) {
    if (ParkIfBusy(c.get(), data + off, len - off, kMcBinMaxWaitingReplies)) return;
    size_t used = 0;
    auto q = std::make_shared<McBinRequest>();
    protocol::McBinParse st = c->mc_bin->Parse(data + off, len - off, &used, q.get());
    off += used;
    if (st == protocol::McBinParse::kNeedMore) break;
    stats_.total_commands++;
    c->waiting.emplace_back();
    ReplyTo r(c, &c->waiting.back());
    c->last_cmd = protocol::McBinOpName(q->header.opcode);
    if (st == protocol::McBinParse::kFatal) {
      // Bad magic closes without a word; malformed lengths get their status first.
      if (c->mc_bin->has_reply()) SendError(r, *q, c->mc_bin->error());
      else r.SendRaw("");
      c->close_after_flush = true;
      continue;
    }
    if (st == protocol::McBinParse::kError) {
      if (c->mc_bin->error() == McBinStatus::kValueTooLarge) {
        mstats.store_too_large++;
        // memcached unlinks the old item so a failed set leaves no stale value behind.
        if (protocol::McBinLoudOp(q->op()) == McBinOp::kSet && c->authed) {
          DeleteValue(this, q->key, nullptr, 0, [](Status, cluster::WriteReply) {});
        }
      }
      SendError(r, *q, c->mc_bin->error());  // errors are sent for quiet commands too
      continue;
    }
    McBinOp op = q->op();
    if (!c->authed && !AllowedBeforeAuth(op)) {
      SendError(r, *q, McBinStatus::kAuthError);
      continue;
    }
    switch (protocol::McBinLoudOp(op)) {
      case McBinOp::kGet:
      case McBinOp::kGetK:
      case McBinOp::kGat:
      case McBinOp::kGatK:
        BinGet(this, q, r);
        break;
      case McBinOp::kTouch:
        BinTouch(this, q, r);
        break;
      case McBinOp::kSet:
      case McBinOp::kAdd:
      case McBinOp::kReplace:
      case McBinOp::kAppend:
      case McBinOp::kPrepend:
        BinStore(this, q, r);
        break;
      case McBinOp::kDelete:
        BinDelete(this, q, r);
        break;
      case McBinOp::kIncrement:
      case McBinOp::kDecrement:
        BinArith(this, q, r);
        break;
      case McBinOp::kFlush: {
        mstats.cmd_flush++;
        Status fs = MemcacheFlush(q->header.extras_len == 4, int64_t(q->exptime));
        if (!fs.ok()) SendServerError(r, *q, fs);
        else SendOk(r, *q, 0);
        break;
      }
      case McBinOp::kNoop:
        SendOk(r, *q, 0);
        break;
      case McBinOp::kVersion:
        SendOk(r, *q, 0, {}, {}, kMcVersion);
        break;
      case McBinOp::kQuit:
        SendOk(r, *q, 0);  // nothing for quitq
        c->close_after_flush = true;
        break;
      case McBinOp::kStat:
        BinStat(this, *q, r);
        break;
      case McBinOp::kSaslListMechs:
      case McBinOp::kSaslAuth:
      case McBinOp::kSaslStep:
        if (cfg_.requirepass.empty()) {
          SendError(r, *q, McBinStatus::kUnknownCommand);  // memcached without SASL (-S)
        } else if (op == McBinOp::kSaslListMechs) {
          SendOk(r, *q, 0, {}, {}, "PLAIN");
        } else {
          BinSaslAuth(this, c.get(), *q, r);
        }
        break;
      default:  // the parser answers unknown opcodes itself
        SendError(r, *q, McBinStatus::kUnknownCommand);
        break;
    }
  }
}

}  // namespace dynakv::server
