// tests/fuzz/record_fuzz.cc: libFuzzer target for the stored record codec
// (cluster/version.h DecodeRecord / EncodeRecord) and for what the node does with a record
// it decoded (Join, Winner, ResolveValue, Prune, ApplyWrite).
//
// Input: [mode][rest]. Even mode: rest is the record's bytes as stored. Odd mode: rest is
// the body and the harness appends the right seal (XXH3, or XXH64 for format 1), so the
// structure behind the checksum is what gets fuzzed. mode >> 1 picks the clock.
// Checks: no crash; decode ok => encode => decode equal, and for the current format the
// encoding is byte-identical to the input (one encoding per record); a failed decode leaves
// the output untouched; Join is idempotent and commutative on what was decoded; reading,
// pruning and writing on a decoded record never crash and keep it decodable; read as a
// collection header or element (cluster/collection.h) it never crashes either.
// Run: scripts/fuzz.sh record_fuzz (seeds: tests/fuzz/corpus/record_fuzz).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cluster/collection.h"
#include "cluster/version.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace dynakv::cluster;
using dynakv::Status;
using dynakv::fuzz::Check;

Record RoundTrip(const Record& rec) {
  Record back;
  Check(DecodeRecord(EncodeRecord(rec), &back).ok());
  Check(back == rec);
  return back;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(bytes), size);
  uint8_t mode = static_cast<uint8_t>(in[0]);
  std::string sealed;
  std::string_view stored = in.substr(1);
  if (mode & 1) {
    sealed = dynakv::fuzz::SealRecord(stored);
    stored = sealed;
  }
  static const uint64_t kClocks[] = {0, 1, 1000, 1700000000000ull, UINT64_MAX / 2, UINT64_MAX};
  uint64_t now = kClocks[(mode >> 1) % 6];

  Record rec;
  rec.siblings.resize(1);
  rec.siblings[0].value = "sentinel";
  const Record sentinel = rec;
  Status s = DecodeRecord(stored, &rec);
  if (!s.ok()) {
    Check(s.code() == dynakv::Code::kCorruption);
    Check(rec == sentinel);
    return 0;
  }
  // The decoders that take the bytes, or skip the values, agree with this one.
  Record stolen, meta;
  Check(DecodeRecord(std::string(stored), &stolen).ok() && stolen == rec);
  Check(DecodeRecord(stored, &meta, /*values=*/false).ok() && meta.siblings.size() == rec.siblings.size());
  for (size_t i = 0; i < meta.siblings.size(); ++i) {
    Check(meta.siblings[i].value.empty() && meta.siblings[i].dot == rec.siblings[i].dot &&
          meta.siblings[i].kind == rec.siblings[i].kind);
  }
  // Canonical: the current format re-encodes to the same bytes.
  if (static_cast<uint8_t>(stored[0]) == 2) Check(EncodeRecord(rec) == stored);
  RoundTrip(rec);

  // What a replica does with a record read from disk or from a peer.
  Record j = Join(rec, rec);
  Check(Join(j, j) == j);
  (void)LiveSiblings(rec, now);
  (void)IsDeleted(rec, now);
  (void)DeadFor(rec, now, 600000, 600000);
  const Sibling* w = Winner(rec, now);
  std::string value;
  Status rs = ResolveValue(rec, now, &value);
  Check(rs.ok() || rs.IsNotFound() || rs.code() == dynakv::Code::kCorruption);
  if (w == nullptr) Check(rs.IsNotFound());

  // The same record read as a collection's header and as an element (cluster/collection.h):
  // a header that decodes re-encodes to the same bytes; the views never crash.
  HeaderView hv;
  Status hs = ViewHeader(rec, now, &hv);
  Check(hs.ok() || hs.code() == dynakv::Code::kCorruption);
  if (hs.ok() && hv.kind == KeyType::kCollection) Check(IsCollectionType(hv.type));
  for (const Sibling& sib : rec.siblings) {
    CollectionHeader h;
    if (DecodeHeader(sib.value, &h).ok()) Check(EncodeHeader(h) == sib.value);
  }
  ElementView ev;
  Status es = ResolveElement(rec, now, &ev);
  Check(es.ok() || es.code() == dynakv::Code::kCorruption);

  VersionLimits limits;
  limits.max_siblings = 8;
  Record pruned = rec;
  Prune(&pruned, now, limits);
  RoundTrip(pruned);

  // A write with the record's own context, and one with an empty context: both keep the
  // record encodable; Join with the original is commutative.
  for (bool own : {true, false}) {
    Record written = rec;
    NewValue v;
    v.kind = own ? ValueKind::kPlain : ValueKind::kCounter;
    v.value = own ? "v" : EncodeCounter(PNCounter{1, {{5, 1, 0}}});
    Dot dot;
    Status ws = ApplyWrite(&written, own ? rec.context : VersionVector(), 5, v, now, limits, &dot);
    if (!ws.ok()) {
      Check(ws.code() == dynakv::Code::kLimit || ws.code() == dynakv::Code::kInvalidArgument);
      continue;
    }
    RoundTrip(written);
    Check(Join(rec, written) == Join(written, rec));
    std::string got;
    (void)ResolveValue(written, now, &got);
  }
  return 0;
}
