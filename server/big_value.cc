// server/big_value.cc: see big_value.h.
#include "server/big_value.h"

#include <algorithm>

#include "cluster/key_layout.h"

namespace dynakv::server {
namespace {
using protocol::RespWriter;
uint64_t MaxValueBytes(Server* s) { return uint64_t(s->config().proto_max_bulk_len); }
}  // namespace

BigValue FindBigValue(Server* s, const std::string& rkey) {
  BigValue b;
  Status st = s->node()->ViewOnlyCopy(rkey, [&](std::string_view bytes) {
    if (bytes.size() < kBigValueBytes) return;
    cluster::Record rec;
    std::vector<std::string_view> values;
    if (!cluster::DecodeRecordViews(bytes, &rec, &values).ok()) return;
    const cluster::Sibling* win = cluster::Winner(rec, s->WallMs());
    if (win == nullptr || win->kind != cluster::ValueKind::kPlain) return;
    std::string_view v = values[size_t(win - rec.siblings.data())];
    b = BigValue{true, bytes.size(), cluster::RecordSeal(bytes), size_t(v.data() - bytes.data()), v.size(),
                 win->expiry_ms, win->flags};
  });
  if (!st.ok()) b.ok = false;
  return b;
}

void SlicedCopy(Server* s, const std::string& rkey, ReplyTo reply, const BigValue& b, size_t from,
                size_t count, std::shared_ptr<std::string> out, std::function<void(bool changed)> done) {
  auto changed = std::make_shared<bool>(false);
  size_t n = std::max<size_t>(1, (count + kGetSliceBytes - 1) / kGetSliceBytes);
  std::shared_ptr<Client> client = reply.shared_client();
  ForEachBounded(s, client, n, [s, reply, rkey, out, b, from, count, changed, n, done](size_t i) mutable {
    if (!*changed && reply.alive()) {
      Status vs = s->node()->ViewOnlyCopy(rkey, [&](std::string_view bytes) {
        if (bytes.size() != b.record_size || cluster::RecordSeal(bytes) != b.seal) {
          *changed = true;
          return;
        }
        size_t at = i * kGetSliceBytes;
        if (at < count) out->append(bytes.data() + b.offset + from + at, std::min(kGetSliceBytes, count - at));
      });
      if (!vs.ok()) *changed = true;
    }
    if (i + 1 == n) done(*changed);
  });
}

void SlicedReply(Server* s, const std::string& rkey, ReplyTo reply, const BigValue& b, size_t from,
                 size_t count, std::function<void()> again) {
  auto out = std::make_shared<std::string>();
  std::string head = "$" + std::to_string(count) + "\r\n";
  out->reserve(head.size() + count + 2);
  out->append(head);
  SlicedCopy(s, rkey, reply, b, from, count, out, [s, reply, out, again](bool changed) mutable {
    if (changed) return again();
    s->stats().keyspace_hits++;
    out->append("\r\n");
    reply.Complete([&](std::string* dst, int) {
      if (dst->empty()) dst->swap(*out);
      else dst->append(*out);
    });
  });
}

void SlicedModify(Server* s, const std::string& key, ReplyTo reply, const BigValue& b, size_t extra,
                  Edit edit, std::function<void()> again) {
  std::string buf;
  std::string rkey = cluster::PlainRecordKeyRef(key, &buf);
  auto out = std::make_shared<std::string>();
  out->reserve(b.len + extra + cluster::kEncodeInPlaceRoom);
  SlicedCopy(s, rkey, reply, b, 0, b.len, out, [s, key, reply, b, out, edit, again](bool changed) mutable {
    if (changed) return again();
    int64_t n = edit(out.get());
    if (out->size() > MaxValueBytes(s)) {
      return ReplyErr(reply, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    WriteValue(s, key, std::move(*out), b.expiry_ms, b.flags, nullptr, 0,
               [reply, n](Status st, cluster::WriteReply) mutable {
                 if (!st.ok()) return ReplyStatus(reply, st);
                 reply.Send([&](RespWriter& w) { w.Int(n); });
               }, /*want_context=*/false);
  });
}

}  // namespace dynakv::server
