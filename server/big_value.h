// server/big_value.h: big values (2 MB and more) that this node alone holds, read and
// changed over several loop turns instead of being copied in one (docs/ARCHITECTURE.md,
// "Big values"). The string and bit commands use these; a key held by other replicas too is
// read the usual way.
// Thread-safety: loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/commands.h"

namespace dynakv::server {

// A big value this node alone holds (a standalone node, or N=1): where its bytes lie in the
// stored record of record key `rkey`, found without copying them (Node::ViewOnlyCopy).
// ok = false: the key is read the usual way (other replicas, no record, a small one, or a
// winner that is not a plain value).
struct BigValue {
  bool ok = false;
  size_t record_size = 0;
  uint64_t seal = 0;  // the record's checksum: the same record while it and the size hold
  size_t offset = 0, len = 0;
  uint64_t expiry_ms = 0;  // the winner's
  uint32_t flags = 0;
};
constexpr size_t kBigValueBytes = 2 << 20;
// `see`, if given, sees the value's bytes in place during the call (the record is decoded,
// and its checksum checked, once for both).
BigValue FindBigValue(Server* s, const std::string& rkey,
                      const std::function<void(std::string_view value)>& see = nullptr);

// GET of a big value: the reply ($len, the value, CRLF) is built a slice at a time, one
// step of ForEachBounded each, so a 100 MB value is copied over many loop turns (a copy
// into memory the process has not used yet costs ~2.5 ms per MB on our VMs) while other
// clients are served, and this client's later commands wait in order. Each slice reads the
// record again and checks it is the same one; if a write replaced it meanwhile, the key is
// read again, and answered as it is then (docs/ARCHITECTURE.md, "Big values").
constexpr size_t kGetSliceBytes = 128 << 10;
// Copies the value's bytes [from, from + count), then `fill` zero bytes, onto *out a slice
// per step, over as many loop turns as it takes, then calls done(changed): changed when the
// record is not the one b was found in any more (each slice reads it again and checks).
// done runs in the same turn as the last slice's check.
void SlicedCopy(Server* s, const std::string& rkey, ReplyTo reply, const BigValue& b, size_t from,
                size_t count, size_t fill, std::shared_ptr<std::string> out,
                std::function<void(bool changed)> done);

// The reply `$count`, the value's bytes [from, from + count), CRLF, built a slice per step;
// `again` answers instead when the record changed meanwhile (it reads the key afresh).
void SlicedReply(Server* s, const std::string& rkey, ReplyTo reply, const BigValue& b, size_t from,
                 size_t count, std::function<void()> again);

// APPEND, SETRANGE, SETBIT and BITFIELD of a big value this node alone holds: the new value
// is the old one copied a slice per step (SlicedCopy, over several turns) and grown by `fill`
// zero bytes the same way, then changed by `edit` and written in the turn of the last check
// that the record is still the one read. The write supersedes what this node holds (no
// context: it holds the only copy, and it is the one read), so the old value is not loaded
// again. A record changed meanwhile makes the command start over (`again`). `extra`: the
// bytes the edit adds, reserved up front. The edit says whether to write (SETBIT of a bit
// already so does not) and what to reply once written.
struct Edited {
  bool write = true;
  std::function<void(protocol::RespWriter&)> reply;
};
using Edit = std::function<Edited(std::string* v)>;
void SlicedModify(Server* s, const std::string& key, ReplyTo reply, const BigValue& b, size_t fill, size_t extra,
                  Edit edit, std::function<void()> again);

// DGET of a big record this node alone holds: the reply `head` (the array headers and the
// context token, built by the caller), then each part [offset, offset + len) of the stored
// record as a bulk string, copied a slice per step over as many turns as it takes; each
// slice checks the record is still the one of `record_size` bytes and checksum `seal`.
// `again` answers instead when it changed meanwhile (it reads the key afresh).
void SlicedBulks(Server* s, const std::string& rkey, ReplyTo reply, size_t record_size, uint64_t seal,
                 std::string head, std::vector<std::pair<size_t, size_t>> parts, std::function<void()> again);

// Where record key `rkey` holds a big value this node alone holds: calls `see` with the
// value's bytes in place, during the call (no copy), and returns true. For the commands that
// read a few bytes of it (GETBIT, BITFIELD's GETs) or one pass over it (BITCOUNT, BITPOS).
bool ViewBigValue(Server* s, const std::string& rkey, const std::function<void(std::string_view value)>& see);

}  // namespace dynakv::server
