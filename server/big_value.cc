// server/big_value.cc: see big_value.h.
#include "server/big_value.h"

#include <algorithm>

#include "cluster/key_layout.h"

namespace dynakv::server {
namespace {
using protocol::RespWriter;
uint64_t MaxValueBytes(Server* s) { return uint64_t(s->config().proto_max_bulk_len); }
}  // namespace

BigValue FindBigValue(Server* s, const std::string& rkey, const std::function<void(std::string_view value)>& see) {
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
    if (see) see(v);
  });
  if (!st.ok()) b.ok = false;
  return b;
}

void SlicedCopy(Server* s, const std::string& rkey, ReplyTo reply, const BigValue& b, size_t from,
                size_t count, size_t fill, std::shared_ptr<std::string> out,
                std::function<void(bool changed)> done) {
  auto changed = std::make_shared<bool>(false);
  size_t total = count + fill;
  size_t n = std::max<size_t>(1, (total + kGetSliceBytes - 1) / kGetSliceBytes);
  std::shared_ptr<Client> client = reply.shared_client();
  ForEachBounded(s, client, n, [s, reply, rkey, out, b, from, count, total, changed, n, done](size_t i) mutable {
    if (!*changed && reply.alive()) {
      size_t at = i * kGetSliceBytes, end = std::min(total, at + kGetSliceBytes);
      Status vs = s->node()->ViewOnlyCopy(rkey, [&](std::string_view bytes) {
        if (bytes.size() != b.record_size || cluster::RecordSeal(bytes) != b.seal) {
          *changed = true;
          return;
        }
        if (at < count) out->append(bytes.data() + b.offset + from + at, std::min(end, count) - at);
      });
      if (!vs.ok()) *changed = true;
      if (!*changed && end > count) out->append(end - std::max(at, count), '\0');
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
  SlicedCopy(s, rkey, reply, b, from, count, 0, out, [s, reply, out, again](bool changed) mutable {
    if (changed) return again();
    s->stats().keyspace_hits++;
    out->append("\r\n");
    reply.Complete([&](std::string* dst, int) {
      if (dst->empty()) dst->swap(*out);
      else dst->append(*out);
    });
  });
}

void SlicedModify(Server* s, const std::string& key, ReplyTo reply, const BigValue& b, size_t fill, size_t extra,
                  Edit edit, std::function<void()> again) {
  std::string buf;
  std::string rkey = cluster::PlainRecordKeyRef(key, &buf);
  auto out = std::make_shared<std::string>();
  out->reserve(b.len + fill + extra + cluster::kEncodeInPlaceRoom);
  SlicedCopy(s, rkey, reply, b, 0, b.len, fill, out, [s, key, reply, b, out, edit, again](bool changed) mutable {
    if (changed) return again();
    Edited e = edit(out.get());
    if (!e.write) return reply.Send(e.reply);
    if (out->size() > MaxValueBytes(s)) {
      return ReplyErr(reply, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    WriteValue(s, key, std::move(*out), b.expiry_ms, b.flags, nullptr, 0,
               [reply, e](Status st, cluster::WriteReply) mutable {
                 if (!st.ok()) return ReplyStatus(reply, st);
                 reply.Send(e.reply);
               }, /*want_context=*/false);
  });
}

void SlicedBulks(Server* s, const std::string& rkey, ReplyTo reply, size_t record_size, uint64_t seal,
                 std::string head, std::vector<std::pair<size_t, size_t>> parts, std::function<void()> again) {
  // One step per slice of each part (one for an empty part), in reply order.
  struct Step {
    size_t part, at;
  };
  auto steps = std::make_shared<std::vector<Step>>();
  size_t bytes = head.size();
  for (size_t p = 0; p < parts.size(); p++) {
    for (size_t at = 0; at == 0 || at < parts[p].second; at += kGetSliceBytes) steps->push_back({p, at});
    bytes += parts[p].second + 24;
  }
  auto out = std::make_shared<std::string>();
  out->reserve(bytes);
  out->append(head);
  auto changed = std::make_shared<bool>(false);
  auto shared_parts = std::make_shared<const std::vector<std::pair<size_t, size_t>>>(std::move(parts));
  size_t n = steps->size();
  std::shared_ptr<Client> client = reply.shared_client();
  ForEachBounded(s, client, std::max<size_t>(n, 1), [s, reply, rkey, record_size, seal, steps, shared_parts, out,
                                                     changed, n, again](size_t i) mutable {
    if (n > 0 && !*changed && reply.alive()) {
      const Step& st = (*steps)[i];
      const size_t offset = (*shared_parts)[st.part].first, len = (*shared_parts)[st.part].second;
      Status vs = s->node()->ViewOnlyCopy(rkey, [&](std::string_view bytes) {
        if (bytes.size() != record_size || cluster::RecordSeal(bytes) != seal) {
          *changed = true;
          return;
        }
        if (st.at == 0) out->append("$" + std::to_string(len) + "\r\n");
        out->append(bytes.data() + offset + st.at, std::min(kGetSliceBytes, len - std::min(len, st.at)));
        if (st.at + kGetSliceBytes >= len) out->append("\r\n");
      });
      if (!vs.ok()) *changed = true;
    }
    if (i + 1 < std::max<size_t>(n, 1)) return;
    if (*changed) return again();
    reply.Complete([&](std::string* dst, int) {
      if (dst->empty()) dst->swap(*out);
      else dst->append(*out);
    });
  });
}

bool ViewBigValue(Server* s, const std::string& rkey, const std::function<void(std::string_view value)>& see) {
  return FindBigValue(s, rkey, see).ok;
}

}  // namespace dynakv::server
