// server/commands_keyspace.cc: keyspace commands that move or describe whole keys: RENAME,
// RENAMENX, COPY, RANDOMKEY, OBJECT, MEMORY USAGE, DUMP, RESTORE, and WAIT.
//
// Every key is its own causal object. RENAME and COPY read the source (with its context),
// write the destination superseding what was read there, and (RENAME) then delete the source
// covering exactly the context read: two causal writes, in that order. A crash of the
// coordinator between them leaves both keys holding the value, never neither; a concurrent
// write to the source elsewhere survives as a sibling of the source. On a standalone node
// both writes land in the same group commit. See README "Keyspace commands". A hash or set
// is moved element by element (CopyCollection, server/collections.h).
//
// DUMP's payload is dynakv's own: a type byte, the value, a format version and an XXH64
// checksum (RESTORE refuses a payload whose checksum or version is wrong, with Redis's text).
#include <xxhash.h>

#include <climits>
#include <cstring>
#include <random>

#include "cluster/key_layout.h"
#include "server/collections.h"
#include "server/lists.h"
#include "server/commands.h"

namespace dynakv::server {
namespace {

using protocol::RespWriter;

constexpr const char* kNotInt = "ERR value is not an integer or out of range";
constexpr const char* kSyntax = "ERR syntax error";
constexpr const char* kNoSuchKey = "ERR no such key";

// RENAME / RENAMENX / COPY: read both keys, then write dst (and for a move, delete src).
struct MoveOp {
  bool nx = false;       // RENAMENX, COPY without REPLACE: do nothing if dst exists
  bool remove_src = true;  // RENAME(NX); false for COPY
  bool reply_int = false;  // RENAMENX and COPY answer 1/0; RENAME answers OK
};

void MoveKey(CommandCtx& ctx, const std::string& src, const std::string& dst, MoveOp op) {
  Server* s = ctx.server;
  ReplyTo reply = ctx.reply;
  auto views = std::make_shared<std::pair<KeyView, KeyView>>();
  auto err = std::make_shared<Status>();
  auto finish = [s, reply, src, dst, op, views, err]() mutable {
    if (!err->ok()) return ReplyStatus(reply, *err);
    KeyView& from = views->first;
    KeyView& to = views->second;
    if (!from.exists) return ReplyErr(reply, kNoSuchKey);
    if (src == dst) {
      // Redis: RENAME of a key to itself is OK; RENAMENX answers 0; COPY refuses.
      if (!op.remove_src) return ReplyErr(reply, "ERR source and destination objects are the same");
      return reply.Send([&](RespWriter& w) {
        if (op.reply_int) w.Int(0);
        else w.Ok();
      });
    }
    if (op.nx && to.exists) return reply.Send([](RespWriter& w) { w.Int(0); });
    auto ok = [reply, op]() mutable {
      reply.Send([&](RespWriter& w) {
        if (op.reply_int) w.Int(1);
        else w.Ok();
      });
    };
    if (from.kind == cluster::ValueKind::kCollection) {
      return CopyCollection(s, src, from, dst, to, op.remove_src, [reply, ok](Status st) mutable {
        if (!st.ok()) return ReplyStatus(reply, st);
        ok();
      });
    }
    // A string: written over dst with the context read there, then (a move) src deleted
    // covering exactly what was read of it.
    auto value = std::make_shared<KeyView>(std::move(from));
    auto write = [s, reply, src, dst, op, value, ok](const cluster::VersionVector& dst_ctx) mutable {
      auto src_ctx = std::make_shared<cluster::VersionVector>(std::move(value->context));
      WriteValue(s, dst, std::move(value->value), value->expiry_ms, value->flags, &dst_ctx, 0,
                 [s, reply, src, op, src_ctx, ok](Status st, cluster::WriteReply) mutable {
                   if (!st.ok()) return ReplyStatus(reply, st);
                   if (!op.remove_src) return ok();
                   DeleteValue(s, src, src_ctx.get(), 0, [reply, ok](Status st2, cluster::WriteReply) mutable {
                     if (!st2.ok()) return ReplyStatus(reply, st2);
                     ok();
                   });
                 },
                 /*want_context=*/false);
    };
    if (to.kind != cluster::ValueKind::kCollection) return write(to.context);
    // Over a collection: it is deleted first, as DEL deletes it, so none of its elements
    // outlives it; the header is read again for the context that covers that delete.
    DeleteCollection(s, dst, CollectionState{to.header, to.context}, [s, reply, dst, write](Status ds) mutable {
      if (!ds.ok()) return ReplyStatus(reply, ds);
      ReadAnyKey(s, dst, 0, [reply, write](Status rs, KeyView now) mutable {
        if (!rs.ok()) return ReplyStatus(reply, rs);
        write(now.context);
      });
    });
  };
  auto g = Gather::Make(2, std::move(finish));
  auto read = [&](const std::string& key, KeyView* into) {
    ReadAnyKey(s, key, 0, [g, err, into](Status st, KeyView v) {
      if (!st.ok() && err->ok()) *err = st;
      *into = std::move(v);
      g->One();
    });
  };
  read(src, &views->first);
  read(dst, &views->second);
}

void CmdRename(CommandCtx& ctx) { MoveKey(ctx, ctx.args[1], ctx.args[2], MoveOp{}); }

void CmdRenamenx(CommandCtx& ctx) {
  MoveOp op;
  op.nx = true;
  op.reply_int = true;
  MoveKey(ctx, ctx.args[1], ctx.args[2], op);
}

// COPY source destination [DB destination-db] [REPLACE]
void CmdCopy(CommandCtx& ctx) {
  MoveOp op;
  op.nx = true;
  op.remove_src = false;
  op.reply_int = true;
  for (size_t i = 3; i < ctx.args.size(); i++) {
    std::string o = Lower(ctx.args[i]);
    if (o == "replace") {
      op.nx = false;
    } else if (o == "db" && i + 1 < ctx.args.size()) {
      int64_t db;
      if (!ParseInt64(ctx.args[++i], &db)) return ReplyErr(ctx, kNotInt);
      if (db != 0) return ReplyErr(ctx, "ERR DB index is out of range");
    } else {
      return ReplyErr(ctx, kSyntax);
    }
  }
  // COPY of a missing source answers 0, not an error.
  Server* s = ctx.server;
  ReplyTo reply = ctx.reply;
  std::string src = ctx.args[1];
  if (src == ctx.args[2]) return ReplyErr(ctx, "ERR source and destination objects are the same");
  auto c2 = std::make_shared<CommandCtx>(CommandCtx{s, ctx.client, ctx.args, ctx.reply});
  ReadAnyKey(s, src, 0, [c2, reply, op](Status st, KeyView v) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    if (!v.exists) return reply.Send([](RespWriter& w) { w.Int(0); });
    MoveKey(*c2, c2->args[1], c2->args[2], op);
  });
}

uint64_t RandomU64() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

// RANDOMKEY: a live key of this node's replica, found by starting a bounded scan at a random
// place in the (partition, key) order; falls back to the beginning. Bounded work per call.
void CmdRandomkey(CommandCtx& ctx) {
  Server* s = ctx.server;
  uint64_t now = s->WallMs();
  std::string found;
  auto try_from = [&](std::string_view start, size_t limit) {
    Status st = s->node()->ScanLocal(start, limit, [&](std::string_view key, const cluster::Record& rec) {
      if (cluster::Winner(rec, now) == nullptr) return true;
      found.assign(key);
      return false;
    }, /*values=*/false);
    return st;
  };
  for (int attempt = 0; attempt < 4 && found.empty(); attempt++) {
    char start[3];
    uint64_t r = RandomU64();
    std::memcpy(start, &r, sizeof start);
    Status st = try_from(std::string_view(start, sizeof start), 128);
    if (!st.ok()) return ReplyStatus(ctx.reply, st);
  }
  if (found.empty()) {
    Status st = try_from("", 4096);
    if (!st.ok()) return ReplyStatus(ctx.reply, st);
  }
  ctx.reply.Send([&](RespWriter& w) {
    if (found.empty()) w.Null();
    else w.Bulk(found);
  });
}

// Redis's string encodings: "int" for a value that is a 64-bit integer of at most 20
// characters, "embstr" up to 44 bytes, else "raw".
const char* StringEncoding(const std::string& v) {
  int64_t n;
  if (v.size() <= 20 && ParseInt64(v, &n)) return "int";
  return v.size() <= 44 ? "embstr" : "raw";
}

// Redis 7.0's encodings of a collection of this size under its default thresholds: a hash
// or sorted set is "listpack" up to 128 elements of at most 64 bytes, else "hashtable" /
// "skiplist"; a set of at most 512 integers is "intset", else "hashtable"; a list is
// "quicklist". dynakv stores
// every collection one record per element; this answers what Redis would, for tools that
// ask.
const char* CollectionEncoding(char type, const ElementList& all) {
  auto small = [&](bool check_values) {
    if (all.size() > 128) return false;
    for (const auto& [e, v] : all) {
      if (e.size() > 64 || (check_values && v.size() > 64)) return false;
    }
    return true;
  };
  switch (type) {
    case 'h': return small(true) ? "listpack" : "hashtable";
    case 'z': return small(false) ? "listpack" : "skiplist";
    case 's': {
      if (all.size() > 512) return "hashtable";
      for (const auto& [e, v] : all) {
        int64_t n;
        if (!ParseInt64(e, &n)) return "hashtable";
      }
      return "intset";
    }
    case 'l': return "quicklist";  // every list in Redis 7.0, however small
    default: return "listpack";
  }
}

void CmdObject(CommandCtx& ctx) {
  std::string sub = Lower(ctx.args[1]);
  if (sub == "help") {
    static const char* kHelp[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last write to the <key> (dynakv tracks writes only).",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Print this help.",
    };
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(std::size(kHelp));
      for (const char* line : kHelp) w.Simple(line);
    });
  }
  if (sub != "encoding" && sub != "freq" && sub != "idletime" && sub != "refcount") {
    return ReplyErr(ctx, "ERR unknown subcommand '" + ctx.args[1] + "'. Try OBJECT HELP.");
  }
  if (ctx.args.size() != 3) return ReplyErr(ctx, "ERR wrong number of arguments for 'object|" + sub + "' command");
  if (sub == "freq") {
    // As in Redis under any non-LFU eviction policy (dynakv does not evict).
    return ReplyErr(ctx, "ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
                         "Please note that when switching between policies at runtime LRU and LFU data "
                         "will take some time to adjust.");
  }
  Server* s = ctx.server;
  ReplyTo reply = ctx.reply;
  std::string key = ctx.args[2];
  s->node()->Read(key, 0, [s, reply, sub, key](Status st, cluster::ReadReply rr) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    uint64_t now = s->WallMs();
    const cluster::Sibling* win = cluster::Winner(rr.record, now);
    if (win == nullptr) return reply.Send([](RespWriter& w) { w.Null(); });
    if (sub == "idletime") {
      uint64_t idle = now > win->timestamp_ms ? (now - win->timestamp_ms) / 1000 : 0;
      return reply.Send([&](RespWriter& w) { w.Int(int64_t(idle)); });
    }
    if (win->kind == cluster::ValueKind::kCollection) {
      if (sub == "refcount") return reply.Send([](RespWriter& w) { w.Int(1); });
      cluster::HeaderView view;
      Status vs = cluster::ViewHeader(rr.record, now, &view);
      if (!vs.ok()) return ReplyStatus(reply, vs);
      char type = view.type;
      return ReadAllElements(s, key, type, [reply, type](Status st2, bool, ElementList all) mutable {
        if (!st2.ok()) return ReplyStatus(reply, st2);
        reply.Send([&](RespWriter& w) { w.Bulk(CollectionEncoding(type, all)); });
      });
    }
    std::string v;
    Status rs = cluster::ResolveValue(rr.record, now, &v);
    if (!rs.ok()) return ReplyStatus(reply, rs);
    const char* enc = win->kind == cluster::ValueKind::kCounter ? "int" : StringEncoding(v);
    if (sub == "refcount") {
      // Redis shares the integers 0..9999 (refcount INT_MAX); every other value has one owner.
      int64_t n = -1;
      bool shared = std::strcmp(enc, "int") == 0 && ParseInt64(v, &n) && n >= 0 && n < 10000;
      return reply.Send([&](RespWriter& w) { w.Int(shared ? INT_MAX : 1); });
    }
    reply.Send([&](RespWriter& w) { w.Bulk(enc); });
  });
}

// MEMORY USAGE key [SAMPLES n]: the bytes the key's record takes in this replica's store
// (key, every sibling's value and metadata, the causal context), as Redis reports its
// allocation for the key; for a collection, its header record plus every element record.
void CmdMemory(CommandCtx& ctx) {
  std::string sub = Lower(ctx.args[1]);
  if (sub == "help") {
    static const char* kHelp[] = {
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value.",
        "HELP",
        "    Print this help.",
    };
    return ctx.reply.Send([&](RespWriter& w) {
      w.Array(std::size(kHelp));
      for (const char* line : kHelp) w.Simple(line);
    });
  }
  if (sub != "usage") return ReplyErr(ctx, "ERR unknown subcommand '" + ctx.args[1] + "'. Try MEMORY HELP.");
  if (ctx.args.size() < 3) return ReplyErr(ctx, "ERR wrong number of arguments for 'memory|usage' command");
  for (size_t i = 3; i < ctx.args.size(); i++) {
    int64_t n;
    if (Lower(ctx.args[i]) == "samples" && i + 1 < ctx.args.size()) {
      if (!ParseInt64(ctx.args[++i], &n) || n < 0) return ReplyErr(ctx, kNotInt);
    } else {
      return ReplyErr(ctx, kSyntax);
    }
  }
  Server* s = ctx.server;
  ReplyTo reply = ctx.reply;
  std::string key = ctx.args[2];
  s->node()->Read(key, 0, [s, reply, key](Status st, cluster::ReadReply rr) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    const cluster::Sibling* win = cluster::Winner(rr.record, s->WallMs());
    if (win == nullptr) return reply.Send([](RespWriter& w) { w.Null(); });
    uint64_t bytes = cluster::DataKey(cluster::PlainRecordKey(key)).size() + cluster::EncodeRecord(rr.record).size();
    if (win->kind != cluster::ValueKind::kCollection) return reply.Send([&](RespWriter& w) { w.Int(int64_t(bytes)); });
    // A collection: its header plus every element record (SAMPLES is accepted, and every
    // element is counted).
    cluster::HeaderView view;
    Status vs = cluster::ViewHeader(rr.record, s->WallMs(), &view);
    if (!vs.ok()) return ReplyStatus(reply, vs);
    CollectionBytes(s, key, view.type, view.gens, [reply, bytes](Status st2, uint64_t elems) mutable {
      if (!st2.ok()) return ReplyStatus(reply, st2);
      reply.Send([&](RespWriter& w) { w.Int(int64_t(bytes + elems)); });
    });
  });
}

// ---- DUMP / RESTORE ----
//
// Payload: type (1 byte) | body | format version (2 bytes, LE) | XXH64 of all before it (8
// bytes, LE). Type 0: a string, the body is its value. Type 'h', 's' or 'z': a hash, set or
// sorted set, the body is LEB128 count, then per element LEB128 length + element, LEB128
// length + value (a hash field's value, nothing for a set member, the 8-byte score of a
// sorted-set member). Redis's DUMP payloads (RDB) are refused with its error text.
constexpr uint16_t kDumpVersion = 1;
constexpr uint64_t kDumpSeed = 0x64756d70646b7631ULL;  // "dumpdkv1"
constexpr const char* kBadPayload = "ERR DUMP payload version or checksum are wrong";

void PutLeb(std::string* out, uint64_t n) {
  do {
    uint8_t b = n & 0x7f;
    n >>= 7;
    out->push_back(static_cast<char>(n ? (b | 0x80) : b));
  } while (n);
}

bool GetLeb(std::string_view* in, uint64_t* n) {
  *n = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    uint8_t b = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    *n |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

std::string SealPayload(std::string out) {
  out.push_back(char(kDumpVersion & 0xff));
  out.push_back(char(kDumpVersion >> 8));
  uint64_t h = XXH64(out.data(), out.size(), kDumpSeed);
  for (int i = 0; i < 8; i++) out.push_back(char((h >> (8 * i)) & 0xff));
  return out;
}

std::string DumpPayload(const std::string& value) {
  std::string out;
  out.reserve(value.size() + 11);
  out.push_back('\0');
  out.append(value);
  return SealPayload(std::move(out));
}

std::string DumpCollectionPayload(char type, const ElementList& all) {
  std::string out(1, type);
  PutLeb(&out, all.size());
  for (const auto& [e, v] : all) {
    PutLeb(&out, e.size());
    out.append(e);
    PutLeb(&out, v.size());
    out.append(v);
  }
  return SealPayload(std::move(out));
}

struct DumpContent {
  char type = 0;       // 0: a string; else a collection type
  std::string value;   // a string's value
  ElementList elements;  // a collection's, in element order, no duplicates
};

// Checked throughout: a payload whose checksum holds but whose body does not parse (a
// collection's count or lengths past its end, a duplicate or unordered element, a score
// that is not 8 bytes of a number, a set member with a value) is refused like a bad one.
bool ParseDumpPayload(std::string_view p, DumpContent* out) {
  if (p.size() < 11) return false;
  uint64_t h = 0;
  for (int i = 0; i < 8; i++) h |= uint64_t(uint8_t(p[p.size() - 8 + i])) << (8 * i);
  std::string_view body = p.substr(0, p.size() - 8);
  if (XXH64(body.data(), body.size(), kDumpSeed) != h) return false;
  uint16_t ver = uint16_t(uint8_t(body[body.size() - 2]) | (uint8_t(body[body.size() - 1]) << 8));
  if (ver != kDumpVersion) return false;
  char type = body[0];
  std::string_view in = body.substr(1, body.size() - 3);
  if (type == '\0') {
    out->type = 0;
    out->value.assign(in);
    return true;
  }
  if (type != 'h' && type != 's' && type != 'z' && type != 'l') return false;
  uint64_t n;
  if (!GetLeb(&in, &n) || n > in.size() / 2) return false;
  ElementList elements;
  elements.reserve(n);
  for (uint64_t i = 0; i < n; i++) {
    uint64_t elen, vlen;
    if (!GetLeb(&in, &elen) || elen > in.size()) return false;
    std::string e(in.substr(0, elen));
    in.remove_prefix(elen);
    if (!GetLeb(&in, &vlen) || vlen > in.size()) return false;
    std::string v(in.substr(0, vlen));
    in.remove_prefix(vlen);
    double score;
    if (type == 's' && !v.empty()) return false;
    if (type == 'z' && !cluster::DecodeScore(v, &score)) return false;
    if (type == 'l' && !e.empty()) return false;  // a list's values, in order, no positions
    if (type != 'l' && !elements.empty() && e <= elements.back().first) return false;
    elements.emplace_back(std::move(e), std::move(v));
  }
  if (!in.empty()) return false;
  out->type = type;
  out->elements = std::move(elements);
  return true;
}

void CmdDump(CommandCtx& ctx) {
  ReplyTo reply = ctx.reply;
  Server* s = ctx.server;
  std::string key = ctx.args[1];
  ReadAnyKey(s, key, 0, [s, reply, key](Status st, KeyView cur) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    if (!cur.exists) return reply.Send([](RespWriter& w) { w.Null(); });
    if (cur.kind == cluster::ValueKind::kCollection && cur.header.type == kList) {
      // A list's payload holds its values in order; RESTORE gives them new positions.
      return ListRead(s, key, SIZE_MAX, [reply](Status st2, ListView view) mutable {
        if (!st2.ok()) return ReplyStatus(reply, st2);
        ElementList all;
        for (auto& it : view.items) all.emplace_back(std::string(), std::move(it.value));
        std::string payload = DumpCollectionPayload(kList, all);
        reply.Send([&](RespWriter& w) { w.Bulk(payload); });
      });
    }
    if (cur.kind == cluster::ValueKind::kCollection) {
      char type = cur.header.type;
      return ReadAllElements(s, key, type, [reply, type](Status st2, bool, ElementList all) mutable {
        if (!st2.ok()) return ReplyStatus(reply, st2);
        std::string payload = DumpCollectionPayload(type, all);
        reply.Send([&](RespWriter& w) { w.Bulk(payload); });
      });
    }
    std::string payload = DumpPayload(cur.value);
    reply.Send([&](RespWriter& w) { w.Bulk(payload); });
  });
}

// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
// Checks in Redis's order: options, BUSYKEY, the TTL, then the payload. A collection is
// restored as StoreCollection stores one (what REPLACE overwrites is deleted first), then
// given its TTL.
void CmdRestore(CommandCtx& ctx) {
  bool replace = false, absttl = false;
  for (size_t i = 4; i < ctx.args.size(); i++) {
    std::string o = Lower(ctx.args[i]);
    int64_t v;
    if (o == "replace") {
      replace = true;
    } else if (o == "absttl") {
      absttl = true;
    } else if (o == "idletime" && i + 1 < ctx.args.size()) {
      if (!ParseInt64(ctx.args[++i], &v)) return ReplyErr(ctx, kNotInt);
      if (v < 0) return ReplyErr(ctx, "ERR Invalid IDLETIME value, must be >= 0");
    } else if (o == "freq" && i + 1 < ctx.args.size()) {
      if (!ParseInt64(ctx.args[++i], &v)) return ReplyErr(ctx, kNotInt);
      if (v < 0 || v > 255) return ReplyErr(ctx, "ERR Invalid FREQ value, must be >= 0 and <= 255");
    } else {
      return ReplyErr(ctx, kSyntax);
    }
  }
  Server* s = ctx.server;
  ReplyTo reply = ctx.reply;
  auto c2 = std::make_shared<std::vector<std::string>>(std::move(ctx.args));
  ReadAnyKey(s, (*c2)[1], 0, [s, reply, c2, absttl, replace](Status st, KeyView cur) mutable {
    if (!st.ok()) return ReplyStatus(reply, st);
    const std::vector<std::string>& a = *c2;
    const std::string& key = a[1];
    if (cur.exists && !replace) return ReplyErr(reply, "BUSYKEY Target key name already exists.");
    int64_t ttl;
    if (!ParseInt64(a[2], &ttl)) return ReplyErr(reply, kNotInt);
    if (ttl < 0) return ReplyErr(reply, "ERR Invalid TTL value, must be >= 0");
    auto content = std::make_shared<DumpContent>();
    if (!ParseDumpPayload(a[3], content.get())) return ReplyErr(reply, kBadPayload);
    uint64_t expiry = 0;
    if (ttl > 0) {
      __int128 at = absttl ? __int128(ttl) : __int128(s->WallMs()) + ttl;
      if (at > __int128(INT64_MAX)) return ReplyErr(reply, "ERR Invalid TTL value, must be >= 0");
      expiry = uint64_t(at);
    }
    auto ok = [reply](Status st2) mutable {
      if (!st2.ok()) return ReplyStatus(reply, st2);
      reply.Send([](RespWriter& w) { w.Ok(); });
    };
    if (expiry != 0 && expiry <= s->WallMs()) {
      // Already expired: Redis stores nothing (and deletes what REPLACE would overwrite).
      return DeleteAny(s, key, cur, ok);
    }
    if (content->type == kList) {
      std::vector<std::string> values;
      for (auto& [e, v] : content->elements) values.push_back(std::move(v));
      auto after = [s, key, expiry, ok](Status st2, int64_t) mutable {
        if (!st2.ok() || expiry == 0) return ok(st2);
        ReadCollection(s, key, kList, [s, key, expiry, ok](Status st3, CollectionState cs) mutable {
          if (!st3.ok() || !cs.exists()) return ok(st3);
          SetCollectionExpiry(s, key, cs, expiry, [ok](Status st4, cluster::WriteReply) mutable { ok(st4); });
        });
      };
      return ListStore(s, key, std::move(values), std::move(after));
    }
    if (content->type != 0) {
      char type = content->type;
      return StoreCollection(s, key, type, std::move(content->elements),
                             [s, key, type, expiry, ok](Status st2, int64_t) mutable {
                               if (!st2.ok() || expiry == 0) return ok(st2);
                               ReadCollection(s, key, type, [s, key, expiry, ok](Status st3, CollectionState cs) mutable {
                                 if (!st3.ok() || !cs.exists()) return ok(st3);
                                 SetCollectionExpiry(s, key, cs, expiry, [ok](Status st4, cluster::WriteReply) mutable { ok(st4); });
                               });
                             });
    }
    auto write = [s, key, content, expiry, ok](const cluster::VersionVector* ctx) mutable {
      WriteValue(s, key, std::move(content->value), expiry, 0, ctx, 0,
                 [ok](Status st2, cluster::WriteReply) mutable { ok(st2); },
                 /*want_context=*/false);
    };
    if (cur.exists && cur.kind == cluster::ValueKind::kCollection) {
      // A string over a collection: its elements go first, as DEL deletes them.
      return DeleteAny(s, key, cur, [write, ok](Status st2) mutable {
        if (!st2.ok()) return ok(st2);
        write(nullptr);
      });
    }
    write(&cur.context);
  });
}

// WAIT numreplicas timeout: blocks until the connection's last write is durable on at least
// numreplicas copies (the coordinator's own counted: with N=3 W=1, `WAIT 2 0` waits for a
// second replica), or the timeout (ms; 0 = no limit) passes, and answers the number of
// copies. It never waits past the point where the count is final: every replica answered,
// or the write request's deadline (cluster.request_timeout_ms) passed. Writes still in
// flight on the connection (pipelined before WAIT) are waited for first. A standalone node
// answers 1 after a write; a connection that wrote nothing answers 0 at once. Through a
// forwarding node (one outside the key's preference list) the count is the W the write
// reached.
void CmdWait(CommandCtx& ctx) {
  int64_t want, timeout;
  if (!ParseInt64(ctx.args[1], &want) || !ParseInt64(ctx.args[2], &timeout)) return ReplyErr(ctx, kNotInt);
  if (timeout < 0) return ReplyErr(ctx, "ERR timeout is negative");
  Server* s = ctx.server;
  uint64_t deadline = timeout > 0 ? s->NowMs() + uint64_t(timeout) : 0;
  std::shared_ptr<Client> c = ctx.client;
  ReplyTo reply = ctx.reply;
  auto check = [s, c, reply, want, deadline]() mutable {
    if (c->closing) return true;
    bool expired = deadline != 0 && s->NowMs() >= deadline;
    if (c->pending_writes > 0 && !expired) return false;
    int64_t copies = c->last_write_copies;
    bool final = true;
    if (c->last_write_progress) {
      copies = c->last_write_progress->copies;
      final = c->last_write_progress->final;
    }
    if (copies < want && !final && !expired) return false;
    reply.Send([&](RespWriter& w) { w.Int(copies); });
    return true;
  };
  if (!check()) s->AddPoller(std::move(check));
}

}  // namespace

void RegisterKeyspace(std::vector<CommandSpec>* t) {
  t->insert(t->end(), {
                          {"rename", 3, kCmdWrite, CmdRename, 1, 2, 1},
                          {"renamenx", 3, kCmdWrite | kCmdFast, CmdRenamenx, 1, 2, 1},
                          {"copy", -3, kCmdWrite, CmdCopy, 1, 2, 1},
                          {"randomkey", 1, kCmdReadonly, CmdRandomkey, 0, 0, 0},
                          {"object", -2, kCmdReadonly, CmdObject, 2, 2, 1},
                          {"memory", -2, kCmdReadonly, CmdMemory, 2, 2, 1},
                          {"dump", 2, kCmdReadonly, CmdDump, 1, 1, 1},
                          {"restore", -4, kCmdWrite, CmdRestore, 1, 1, 1},
                          {"wait", 3, 0, CmdWait, 0, 0, 0},
                      });
}

}  // namespace dynakv::server
