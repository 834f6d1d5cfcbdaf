// cluster/node.cc: Node composes the modules of one Dynamo node and routes to them: one
// line per message type, one per timer kind. It owns only the glue: start-up, gossip wiring
// (membership -> placement, persisted with the data), FLUSHALL and membership admin.
// Over 900 lines, still that one job: the rest is the inbound batch's handling (decode,
// prefetch, dispatch, and the acks it holds until the batch ends, sent per peer only as the
// peer's kLoad features allow), which is routing state, not a module's.
// The modules and the path of a request: docs/ARCHITECTURE.md.
#include "cluster/node.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "cluster/anti_entropy.h"
#include "cluster/forwarder.h"
#include "cluster/handoff.h"
#include "cluster/hints.h"
#include "cluster/key_layout.h"
#include "cluster/node_context.h"
#include "cluster/range_reader.h"
#include "cluster/read_coordinator.h"
#include "cluster/scanner.h"
#include "cluster/write_coordinator.h"

namespace dynakv::cluster {

struct Node::Impl {
  NodeContext ctx;
  uint64_t incarnation = 0;  // as persisted under kIncarnationKey
  uint64_t ring_epoch = 1;   // Node::RingEpoch
  Forwarder forwarder{&ctx};
  Hints hints{&ctx};
  ReadCoordinator reads{&ctx, &forwarder};
  WriteCoordinator writes{&ctx, &forwarder, &hints};
  AntiEntropy ae{&ctx};
  Scanner scanner{&ctx};
  RangeReader ranges{&ctx};
  Handoff handoff{&ctx, &hints};
  PublishHandler publish_handler;  // Node::SetPublishHandler
  // Members' load as they last reported it (kLoad): id -> (keys, bytes, when, NowMs).
  struct Load {
    uint64_t keys = 0, bytes = 0, at_ms = 0;
  };
  std::map<std::string, Load> loads;
  uint64_t next_load_ms = 0;
  // OnMessages' decoded frames. Kept between calls: a Message is 512 bytes, and a fresh
  // vector for a turn's few hundred frames was fresh memory to fault in and zero each time
  // (7.5% of a replica's CPU under SET load, perf). Emptied after each batch, so no record
  // outlives it; a nested call (a handler that delivers a frame in place) uses its own.
  std::vector<Message> batch_;
  bool in_batch_ = false;
  // The successful acks of replica writes that arrived together (OnMessages), with the
  // address each goes to: one kWriteAcks frame per peer when the batch has been handled
  // (FlushAcks), instead of a frame, an encode and a decode per write.
  std::vector<std::pair<std::string, uint64_t>> held_acks_;
  bool hold_acks_ = false;
  // Peers (by address) whose last kLoad said they understand kWriteAcks; the others (an older
  // release during a rolling upgrade, or one not heard from yet) get one kWriteAck each.
  std::set<std::string> acks_peers_;
  static constexpr size_t kKeptBatch = 2048;  // 1 MB of Message
  static constexpr uint64_t kLoadEveryMs = 5000;

  Impl(NodeConfig c, Transport* t, Clock* cl, Random* r, storage::Engine* e, Logger* l)
      : ctx(std::move(c), t, cl, r, e, l) {
    forwarder.Wire(&reads, &writes);
    writes.OnStored([this](const std::string& rkey) { handoff.NoteStored(rkey); });
    RequestTable& rt = ctx.requests;
    rt.OnExpire(RequestKind::kRead, [this](uint64_t id) { reads.Expire(id); });
    rt.OnExpire(RequestKind::kWrite, [this](uint64_t id) { writes.Expire(id); });
    rt.OnExpire(RequestKind::kForward, [this](uint64_t id) { forwarder.Expire(id); });
    rt.OnExpire(RequestKind::kHintDelivery, [this](uint64_t id) { hints.Expire(id); });
    rt.OnExpire(RequestKind::kAntiEntropy, [this](uint64_t id) { ae.Expire(id); });
    rt.OnExpire(RequestKind::kScan, [this](uint64_t id) { scanner.Expire(id); });
    rt.OnExpire(RequestKind::kHandoff, [this](uint64_t id) { handoff.Expire(id); });
    rt.OnExpire(RequestKind::kRange, [this](uint64_t id) { ranges.Expire(id); });
  }

  const NodeConfig& cfg() const { return ctx.cfg; }

  // ---- membership wiring -----------------------------------------------------------------

  Status PersistIncarnation() {
    uint64_t inc = ctx.membership.self().incarnation;
    if (inc == incarnation) return Status::OK();
    incarnation = inc;
    return ctx.engine->Put(kIncarnationKey, std::to_string(inc));
  }

  void SendGossip(const std::string& addr, bool reply_wanted) {
    Message m;
    m.type = MsgType::kGossip;
    m.reply_wanted = reply_wanted;
    m.members = ctx.membership.Digest();
    ctx.Send(addr, &m);
  }

  // plan_handoff: the ring changed while we ran, so the partitions we kept and that gained
  // owners must be streamed to them. Not at start: the ring we restored is not a change we
  // saw happen (partitions we hold but no longer own are found by the stray check anyway).
  void RebuildRing(bool plan_handoff = true) {
    if (ctx.standalone) return;
    std::optional<PartitionRing> old;
    if (plan_handoff) old = ctx.placement.ring();
    if (!ctx.placement.Rebuild(ctx.membership.RingMembers())) return;
    ++ring_epoch;
    PersistMembers();
    if (old) handoff.OnRingChanged(*old);
  }

  // Saved with the data (same group commit) whenever the ring changes; read back by Start().
  void PersistMembers() {
    Message mm;
    mm.type = MsgType::kGossip;
    mm.from_id = cfg().id;
    mm.from_addr = cfg().cluster_addr;
    for (const auto& st : ctx.membership.Digest()) {
      if (st.id != cfg().id) mm.members.push_back(st);
    }
    Status s = ctx.engine->Put(kMembersKey, EncodeFrame(mm, ""));
    if (!s.ok()) ctx.Log(Logger::Level::kWarn, "could not persist the member list: " + s.ToString());
  }

  // ---- inbound ---------------------------------------------------------------------------

  void OnMessage(std::string_view frame) {
    Message m;
    if (Decode(frame, &m)) Dispatch(m);
  }

  void OnFrameTaking(std::string buf, size_t at) {
    Message m;
    Status s = DecodeFrameTaking(&buf, at, cfg().cluster_secret, &m);
    OnDecoded(s, m);
  }

  void OnDecoded(const Status& s, Message& m) {
    if (!s.ok()) return ctx.Log(Logger::Level::kWarn, "dropped inter-node frame: " + s.ToString());
    Dispatch(m);
  }

  bool Decode(std::string_view frame, Message* m) {
    Status s = DecodeFrame(frame, cfg().cluster_secret, m);
    if (!s.ok()) ctx.Log(Logger::Level::kWarn, "dropped inter-node frame: " + s.ToString());
    return s.ok();
  }

  // Frames that arrived together: all decoded, the records their keys name loaded into the
  // CPU cache in passes (as the server does for a client's pipeline, Node::Prefetch),
  // then handled in order. A replica's record lookup for a random key was a quarter of its
  // loop's time, every step a cache miss; this way the misses of a batch overlap.
  void OnMessages(std::span<const std::string_view> frames) {
    if (frames.size() == 1) return OnMessage(frames[0]);
    std::vector<Message> own;
    std::vector<Message>& batch = in_batch_ ? own : batch_;
    bool outer = !in_batch_;
    in_batch_ = true;
    batch.reserve(frames.size());
    for (std::string_view f : frames) {
      if (!Decode(f, &batch.emplace_back())) batch.pop_back();
    }
    for (int stage = 1; stage <= Node::kPrefetchStages; ++stage) {
      for (const Message& m : batch) {
        if (m.type == MsgType::kWriteReq || m.type == MsgType::kReadReq) {
          ctx.store.Prefetch(m.key, stage);
        }
      }
    }
    bool hold = std::exchange(hold_acks_, true);
    for (Message& m : batch) Dispatch(m);
    hold_acks_ = hold;
    if (!hold) FlushAcks();
    batch.clear();
    if (batch.capacity() > kKeptBatch) std::vector<Message>().swap(batch);  // a rare flood
    if (outer) in_batch_ = false;
  }

  void FlushAcks() {
    if (held_acks_.empty()) return;
    std::vector<std::pair<std::string, uint64_t>> acks;
    acks.swap(held_acks_);
    std::vector<std::pair<const std::string*, Message>> out;  // one per peer, first-seen order
    for (const auto& ack : acks) {
      auto it = std::find_if(out.begin(), out.end(), [&](const auto& o) { return *o.first == ack.first; });
      if (it == out.end()) it = out.insert(out.end(), {&ack.first, Message()});
      it->second.hashes.push_back(ack.second);
    }
    for (auto& [addr, m] : out) {  // released by the owner only after engine Commit
      if (m.hashes.size() > 1 && acks_peers_.count(*addr)) {
        m.type = MsgType::kWriteAcks;
        ctx.Send(*addr, &m);
        continue;
      }
      Message ack;  // alone, or to a peer that would drop kWriteAcks: the plain ack each
      ack.type = MsgType::kWriteAck;
      for (uint64_t id : m.hashes) {
        ack.req_id = id;
        ctx.Send(*addr, &ack);
      }
    }
  }

  void Dispatch(Message& m) {
    if (ctx.standalone || m.from_addr.empty()) return;
    if (ctx.membership.self().status == MemberStatus::kRemoved && m.type != MsgType::kGossip) {
      return;
    }
    switch (m.type) {
      case MsgType::kGossip: return OnGossip(m);
      case MsgType::kReadReq: return reads.OnReadReq(m);
      case MsgType::kReadResp: return reads.OnReply(m.req_id, m.from_id, m.status(), std::move(m.record));
      case MsgType::kReadComing: return reads.OnComing(m.req_id, m.load_bytes);
      case MsgType::kWriteReq:
      case MsgType::kHintedWrite: return OnReplicaWrite(m);
      case MsgType::kWriteAck: return OnWriteAck(m);
      case MsgType::kWriteAcks:
        for (uint64_t id : m.hashes) {
          if (!hints.OnAck(id, Status::OK())) writes.OnAck(id, m.from_id, Status::OK());
        }
        return;
      case MsgType::kWriteBatch: return OnReplicaBatch(m);
      case MsgType::kReadRepair: return OnReadRepair(m);
      case MsgType::kForwardReq: return forwarder.OnForwardReq(m);
      case MsgType::kForwardResp: return forwarder.OnForwardResp(m);
      case MsgType::kScanReq: return scanner.OnScanReq(m);
      case MsgType::kScanResp: return scanner.OnScanResp(m);
      case MsgType::kAeTreeReq: return ae.OnTreeReq(m);
      case MsgType::kAeTreeResp: return ae.OnTreeResp(m);
      case MsgType::kAePartsReq: return ae.OnPartsReq(m);
      case MsgType::kAePartsResp: return ae.OnPartsResp(m);
      case MsgType::kAeDigestReq: return ae.OnDigestReq(m);
      case MsgType::kAeDigestResp: return ae.OnDigestResp(m);
      case MsgType::kAeKeysReq: return ae.OnKeysReq(m);
      case MsgType::kAeKeysResp: return ae.OnKeysResp(m);
      case MsgType::kHandoffChunk: return handoff.OnChunk(m);
      case MsgType::kHandoffAck: return handoff.OnAck(m);
      case MsgType::kLoad:
        loads[m.from_id] = {m.load_keys, m.load_bytes, ctx.clock->NowMs()};
        if (m.features & kFeatureWriteAcks) {
          acks_peers_.insert(m.from_addr);
        } else {
          acks_peers_.erase(m.from_addr);  // an older release (or one rolled back to it)
        }
        return;
      case MsgType::kRangeReq: return ranges.OnRangeReq(m);
      case MsgType::kRangeResp: return ranges.OnRangeResp(m);
      case MsgType::kPublish:
        if (publish_handler) publish_handler(m.key, m.value.value, m.sharded);
        return;
    }
  }

  // This node's load (live keys, storage bytes) to every reachable member: what DYNAMO
  // STATUS and the cluster page show for it elsewhere. A node of an older release drops the
  // frame (with a log line), so during a rolling upgrade its view shows "?" for the others.
  void ReportLoad() {
    Message m;
    m.type = MsgType::kLoad;
    m.load_keys = ctx.store.live_count();
    m.load_bytes = ctx.engine->Stats().used_bytes;
    m.features = kFeatureWriteAcks;
    for (const auto& st : ctx.membership.Digest()) {
      if (st.id != cfg().id && ctx.membership.IsReachable(st.id)) ctx.Send(st.cluster_addr, &m);
    }
  }

  // One frame, encoded (and authenticated) once, to every reachable peer.
  size_t Publish(const std::string& channel, const std::string& message, bool sharded) {
    if (ctx.standalone) return 0;
    std::vector<std::string> addrs;
    for (const auto& st : ctx.membership.Digest()) {
      if (st.id != cfg().id && ctx.membership.IsReachable(st.id)) addrs.push_back(st.cluster_addr);
    }
    if (addrs.empty()) return 0;
    // The server bounds both by proto-max-bulk-len; the frame has its own, larger bound.
    if (channel.size() + message.size() + 2 * kMaxIdBytes + 64 > kMaxPayloadBytes) {
      ctx.Log(Logger::Level::kWarn, "publish too large for an inter-node frame; delivered locally only");
      return 0;
    }
    Message m;
    m.type = MsgType::kPublish;
    m.from_id = cfg().id;
    m.from_addr = cfg().cluster_addr;
    m.key = channel;
    m.value.value = message;
    m.sharded = sharded;
    std::string frame = EncodeFrame(m, cfg().cluster_secret);
    for (size_t i = 0; i + 1 < addrs.size(); ++i) ctx.transport->Send(addrs[i], frame);
    ctx.transport->Send(addrs.back(), std::move(frame));
    return addrs.size();
  }

  // Logs the members whose status changed since the last line, as this node sees them: one
  // "failure detector:" line for members now suspect or down, one "membership:" line for
  // the rest (joining, up, leaving, removed, new members). Checked every 100 ms, and after a
  // line at most once a second, so every change of that second is in the next line (a
  // member that changed twice shows its latest status). Digest order: deterministic.
  void LogMemberChanges(uint64_t now) {
    if (now < next_member_log_ms) return;
    next_member_log_ms = now + 100;
    std::string failures, changes;
    for (const MemberState& m : ctx.membership.Digest()) {
      auto [it, fresh] = logged_status.try_emplace(m.id, m.status);
      if (!fresh && it->second == m.status) continue;
      MemberStatus was = it->second;
      it->second = m.status;
      if (m.id == cfg().id && fresh) continue;  // ourselves at start: the ready line says it
      // A member up (new, back, or first seen): our load, and the features it carries, go to
      // it at once rather than within kLoadEveryMs (it batches its acks to us only then).
      if (m.id != cfg().id && m.status == MemberStatus::kUp) next_load_ms = now;
      std::string item = m.id + (fresh ? " (" + m.cluster_addr + ") is " : " is now ") +
                         MemberStatusName(m.status) +
                         (fresh ? "" : std::string(" (was ") + MemberStatusName(was) + ")");
      bool failure = m.status == MemberStatus::kSuspect || m.status == MemberStatus::kDown;
      std::string& out = failure ? failures : changes;
      out += (out.empty() ? "" : ", ") + item;
    }
    if (!failures.empty()) ctx.Log(Logger::Level::kWarn, "failure detector: " + failures);
    if (!changes.empty()) ctx.Log(Logger::Level::kInfo, "membership: " + changes);
    if (!failures.empty() || !changes.empty()) next_member_log_ms = now + 1000;
  }
  std::map<std::string, MemberStatus> logged_status;  // LogMemberChanges
  uint64_t next_member_log_ms = 0;

  void OnGossip(const Message& m) {
    bool changed = ctx.membership.Merge(m.members, ctx.clock->NowMs());
    LogMemberChanges(ctx.clock->NowMs());
    if (changed) RebuildRing();
    (void)PersistIncarnation();
    if (m.reply_wanted) SendGossip(m.from_addr, /*reply_wanted=*/false);
  }

  // A replica's half of a write (or a hint for a node that is down).
  void OnReplicaWrite(Message& m) {
    Status ws = m.type == MsgType::kWriteReq ? ctx.store.JoinTaking(m.key, std::move(m.record), std::move(m.record_bytes))
                                              : hints.Store(m.hint_owner, m.key, m.record);
    if (ws.ok() && m.type == MsgType::kWriteReq) handoff.NoteStored(m.key);
    if (ws.ok() && hold_acks_) {
      held_acks_.emplace_back(m.from_addr, m.req_id);
      return;
    }
    Message ack;
    ack.type = MsgType::kWriteAck;
    ack.req_id = m.req_id;
    ack.set_status(ws);
    ctx.Send(m.from_addr, &ack);  // released by the owner only after engine Commit
  }

  // A one-slot transaction's records: all applied in this loop turn (so in one group commit),
  // then one ack, released only once that commit is durable.
  void OnReplicaBatch(const Message& m) {
    Status ws;
    for (const auto& [key, rec] : m.records) {
      Status s1 = m.hint_owner.empty() ? ctx.store.Join(key, rec) : hints.Store(m.hint_owner, key, rec);
      if (s1.ok() && m.hint_owner.empty()) handoff.NoteStored(key);
      if (!s1.ok() && ws.ok()) ws = s1;
    }
    Message ack;
    ack.type = MsgType::kWriteAck;
    ack.req_id = m.req_id;
    ack.set_status(ws);
    ctx.Send(m.from_addr, &ack);
  }

  void OnWriteAck(const Message& m) {
    if (hints.OnAck(m.req_id, m.status())) return;
    writes.OnAck(m.req_id, m.from_id, m.status());
  }

  void OnReadRepair(const Message& m) {
    Status rs = ctx.store.Join(m.key, m.record);
    if (!rs.ok()) ctx.Log(Logger::Level::kWarn, "read repair not applied: " + rs.ToString());
  }

  void OnTick() {
    uint64_t now = ctx.clock->NowMs();
    if (ctx.store.counting()) CountOn();
    if (!ctx.standalone) {
      std::vector<std::string> to;
      ctx.membership.Tick(now, &to);
      LogMemberChanges(now);  // suspect/down are decided here
      for (const auto& addr : to) SendGossip(addr, /*reply_wanted=*/true);
      hints.Deliver(now);
      ae.Tick(now);
      if (!replacing.empty()) AdvanceReplacements();
      MemberStatus before = ctx.membership.self().status;
      handoff.Tick(now);
      if (before != ctx.membership.self().status) AnnounceSelf();  // left: tell everyone
      if (now >= next_load_ms) {
        next_load_ms = now + kLoadEveryMs;
        ReportLoad();
      }
    }
    reads.OnTick(now);
    ranges.OnTick(now);
    ctx.requests.ExpireDue(now);
  }

  // A big store's startup count goes on a chunk per tick (ReplicaStore::Recount).
  static constexpr size_t kRecountTickRecords = 65536;
  static constexpr uint64_t kRecountTickMs = 4;
  void CountOn() {
    Status s = ctx.store.RecountStep(kRecountTickRecords, kRecountTickMs);
    if (!s.ok()) {
      ctx.Log(Logger::Level::kWarn, "counting the stored keys failed: " + s.ToString());
    } else if (!ctx.store.counting()) {
      ctx.Log(Logger::Level::kInfo, "counted the stored keys: " +
                                        std::to_string(ctx.store.key_count()) + " keys");
    }
  }

  // ---- life cycle and local views --------------------------------------------------------

  Status Start() {
    std::string bytes;
    uint64_t inc = 0;
    Status s = ctx.engine->Get(kIncarnationKey, &bytes);
    if (s.ok()) {
      auto [p, ec] = std::from_chars(bytes.data(), bytes.data() + bytes.size(), inc);
      if (ec != std::errc() || p != bytes.data() + bytes.size()) {
        return Status::Corruption("bad persisted incarnation");
      }
    } else if (!s.IsNotFound()) {
      return s;
    }
    ++inc;
    s = ctx.engine->Put(kIncarnationKey, std::to_string(inc));
    if (s.code() == Code::kNoSpace) {
      // A full store must still come up to serve reads (and deletes that free space). The
      // incarnation only orders our gossip; an unsaved one is refuted like any stale view.
      // Dots stay safe: the actor id below is fresh and random whatever is persisted.
      ctx.Log(Logger::Level::kWarn, "storage full: incarnation not persisted: " + s.ToString());
    } else if (!s.ok()) {
      return s;
    }
    incarnation = inc;
    ctx.actor = ctx.FreshActor();  // never reuse dots of a previous life (kv679)
    // Request ids start at a random point each life, so a late reply to the previous life's
    // request #k cannot complete this life's request #k.
    ctx.requests.Reset((ctx.random->Next() & 0x7fffffffffffull) + 1);
    s = ctx.store.Recount();
    if (!s.ok()) return s;
    // Partition hashes a clean stop saved (SaveForRestart): taken once, and deleted before
    // any data write of this life (only the incarnation comes first), so a crash later finds
    // none (the log replays in order).
    std::string trees;
    if (ctx.engine->Get(kAeHashesKey, &trees).ok() && ctx.engine->Delete(kAeHashesKey).ok() &&
        !ctx.standalone && !ae.RestoreHashes(trees)) {
      ctx.Log(Logger::Level::kWarn, "anti-entropy: saved partition hashes refused (damaged, or "
                                    "the tree layout or keyspaces changed): hashing the store");
    }
    s = hints.Recount();
    if (!s.ok()) return s;
    s = handoff.Load();
    if (!s.ok()) return s;
    if (!ctx.standalone) {
      ctx.membership.Start(ctx.clock->NowMs(), incarnation);
      // The members we knew before the restart: without them a restarted node would
      // coordinate with a ring of itself (or of whoever restarted with it) until gossip
      // arrives, and place writes on nodes that do not own them.
      std::string saved;
      if (ctx.engine->Get(kMembersKey, &saved).ok()) {
        Message mm;
        if (DecodeFrame(saved, "", &mm).ok() && mm.type == MsgType::kGossip) {
          ctx.membership.Restore(mm.members, ctx.clock->NowMs());
        }
      }
      // A node that was leaving when it stopped goes on leaving.
      std::string leaving;
      if (ctx.engine->Get(kLeavingKey, &leaving).ok()) ctx.membership.Leave(ctx.clock->NowMs());
      RebuildRing(/*plan_handoff=*/false);
    }
    return Status::OK();
  }

  Status FlushLocal() {
    ae.Reset();  // first: a delete that fails halfway leaves no hash of the rows it removed
    Status s = DeleteRange(ctx.engine, kDataPrefix, kDataEnd);
    if (!s.ok()) return s;
    s = DeleteRange(ctx.engine, kHintPrefix, kHintEnd);
    if (!s.ok()) return s;
    ctx.store.ResetAfterFlush();
    hints.ResetAfterFlush();
    handoff.Reset();
    // A new actor: dots we issued before the flush may live on at other replicas.
    ctx.actor = ctx.FreshActor();
    return Status::OK();
  }

  // Deletes the local record once every sibling has been dead (tombstone or expired) for
  // grace_ms. The grace period is what keeps a replica that missed the delete from handing
  // the old value back by read repair: it must have received the tombstone (by the write
  // itself, a hint, or read repair) within the grace period.
  Status ReapLocal(const std::string& key, uint64_t grace_ms, uint64_t expiry_grace_ms) {
    if (expiry_grace_ms == UINT64_MAX) expiry_grace_ms = grace_ms;
    Record rec;
    bool found = false;
    Status s = ctx.store.Load(key, &rec, &found);
    if (!s.ok()) return s;
    if (!found) return Status::NotFound();
    if (!DeadFor(rec, ctx.clock->WallMs(), grace_ms, expiry_grace_ms)) return Status::NotFound();
    // A hint we still hold for this key means a replica has not seen the latest write.
    if (hints.HeldFor(key)) return Status::NotFound();
    return ctx.store.Erase(key, rec);
  }

  Status ReapLocalIf(const std::string& key, const std::function<bool(const Record&)>& may_reap) {
    Record rec;
    bool found = false;
    Status s = ctx.store.Load(key, &rec, &found);
    if (!s.ok()) return s;
    if (!found || !may_reap(rec) || hints.HeldFor(key)) return Status::NotFound();
    return ctx.store.Erase(key, rec);
  }

  // ---- admin -----------------------------------------------------------------------------

  // A staged membership change (auto_commit = false).
  struct Change {
    enum Kind { kJoin, kLeave, kRemove, kReplace } kind;
    std::string a, b;  // join: addr; remove: id; replace: old id, new addr
    std::string Describe() const {
      switch (kind) {
        case kJoin: return "join " + a;
        case kLeave: return "leave (this node)";
        case kRemove: return "remove " + a;
        case kReplace: return "replace " + a + " with " + b;
      }
      return "?";
    }
  };
  std::vector<Change> staged;
  // Replacements under way: once the new node is up, the old one is removed.
  std::vector<std::pair<std::string, std::string>> replacing;  // (old id, new addr)

  Status Stage(Change c, bool* was_staged) {
    if (was_staged) *was_staged = !cfg().auto_commit;
    if (!cfg().auto_commit) {
      for (const auto& s : staged) {
        if (s.kind == c.kind && s.a == c.a && s.b == c.b) return Status::OK();
      }
      staged.push_back(std::move(c));
      return Status::OK();
    }
    return Apply(c);
  }

  Status Apply(const Change& c) {
    switch (c.kind) {
      case Change::kJoin: return JoinCluster(c.a);
      case Change::kLeave: return LeaveCluster();
      case Change::kRemove: return RemoveMember(c.a);
      case Change::kReplace: return StartReplace(c.a, c.b);
    }
    return Status::OK();
  }

  Status CheckJoin(const std::string& addr) const {
    if (ctx.standalone) {
      return Status::NotSupported("standalone node: set listen.cluster to join a cluster");
    }
    if (addr.empty()) return Status::Invalid("empty cluster address");
    return Status::OK();
  }
  Status CheckLeave() const {
    if (ctx.standalone) return Status::NotSupported("standalone node");
    if (ctx.membership.self().status == MemberStatus::kRemoved) {
      return Status::Invalid("this node has already left the cluster");
    }
    size_t owners = 0;
    for (const auto& m : ctx.membership.Digest()) {
      owners += m.id != cfg().id && OwnsRange(m.status) ? 1 : 0;
    }
    if (owners == 0) {
      return Status::Invalid("this is the last node of the cluster: nobody could take its data");
    }
    return Status::OK();
  }
  Status CheckRemove(const std::string& id) const {
    if (ctx.standalone) return Status::NotSupported("standalone node");
    if (id == cfg().id) return Status::Invalid("cannot remove this node; use DYNAMO LEAVE");
    const MemberState* m = ctx.membership.Find(id);
    if (m == nullptr) return Status::NotFound("unknown node id " + id);
    if (m->status == MemberStatus::kRemoved) {
      return Status::Invalid("node " + id + " is already removed");
    }
    return Status::OK();
  }
  Status CheckReplace(const std::string& old_id, const std::string& addr) const {
    Status s = CheckRemove(old_id);
    if (!s.ok()) return s;
    s = CheckJoin(addr);
    if (!s.ok()) return s;
    for (const auto& m : ctx.membership.Digest()) {
      if (m.cluster_addr == addr && m.status != MemberStatus::kRemoved) {
        return Status::Invalid(addr + " is already a member (" + m.id +
                               "): REPLACE takes a new node");
      }
    }
    if (ctx.membership.IsReachable(old_id)) {
      return Status::Invalid("node " + old_id +
                             " is not down: REPLACE is for a dead node; to retire a live one, "
                             "join the new node and DYNAMO LEAVE on the old one");
    }
    return Status::OK();
  }

  Status StartReplace(const std::string& old_id, const std::string& addr) {
    Status s = CheckReplace(old_id, addr);
    if (!s.ok()) return s;
    replacing.emplace_back(old_id, addr);
    return JoinCluster(addr);
  }

  // Once a replacement is up, the node it replaces goes.
  void AdvanceReplacements() {
    for (auto it = replacing.begin(); it != replacing.end();) {
      bool up = false;
      for (const auto& m : ctx.membership.Digest()) {
        up |= m.cluster_addr == it->second && m.status == MemberStatus::kUp;
      }
      if (!up) {
        ++it;
        continue;
      }
      Status s = RemoveMember(it->first);
      if (!s.ok() && !s.IsNotFound()) {
        ctx.Log(Logger::Level::kWarn, "replace: could not remove " + it->first + ": " + s.ToString());
      }
      it = replacing.erase(it);
    }
  }

  PlanInfo MakePlan() const {
    PlanInfo out;
    std::vector<PartitionRing::Member> members = ctx.membership.RingMembers();
    auto drop = [&](const std::string& id) {
      std::erase_if(members, [&](const PartitionRing::Member& m) { return m.id == id; });
    };
    for (const auto& c : staged) {
      out.changes.push_back(c.Describe());
      switch (c.kind) {
        case Change::kJoin: members.push_back({c.a, 100, ""}); break;  // id unknown yet: its address
        case Change::kLeave: drop(cfg().id); break;
        case Change::kRemove: drop(c.a); break;
        case Change::kReplace:
          drop(c.a);
          members.push_back({c.b, 100, ""});
          break;
      }
    }
    PartitionRing next;
    next.Build(members, ctx.placement.n());
    const PartitionRing& now = ctx.placement.ring();
    std::map<std::string, PlanInfo::NodeMoves> per;
    for (const auto& m : now.members()) per[m.id].id = m.id;
    for (const auto& m : next.members()) per[m.id].id = m.id;
    for (uint32_t p = 0; p < kPartitions; ++p) {
      std::vector<std::string> a, b;
      for (uint32_t i : now.Owners(p)) a.push_back(now.members()[i].id);
      for (uint32_t i : next.Owners(p)) b.push_back(next.members()[i].id);
      for (auto& id : a) ++per[id].before;
      for (auto& id : b) ++per[id].after;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      if (a != b) ++out.partitions_moving;
    }
    for (auto& [id, moves] : per) out.nodes.push_back(moves);
    return out;
  }

  Status CommitPlan() {
    if (staged.empty()) return Status::Invalid("nothing planned: stage JOIN, LEAVE, REMOVE or REPLACE first");
    std::vector<Change> todo;
    todo.swap(staged);
    for (const auto& c : todo) {
      Status s = Apply(c);
      if (!s.ok()) return Status(s.code(), c.Describe() + ": " + s.message());
    }
    return Status::OK();
  }

  std::vector<MemberInfo> Members() const {
    std::vector<MemberInfo> out;
    if (ctx.standalone) {
      out.push_back({cfg().id, cfg().cluster_addr, cfg().client_addr, "up", cfg().weight,
                     cfg().zone, 0, incarnation});
      return out;
    }
    for (const auto& m : ctx.membership.Digest()) {
      out.push_back({m.id, m.cluster_addr, m.client_addr, MemberStatusName(m.status),
                     m.weight, m.zone, m.heartbeat, m.incarnation});
    }
    return out;
  }

  Status JoinCluster(const std::string& addr) {
    Status s = CheckJoin(addr);
    if (!s.ok()) return s;
    ctx.membership.AddSeed(addr);
    SendGossip(addr, /*reply_wanted=*/true);
    return Status::OK();
  }

  Status LeaveCluster() {
    Status s = CheckLeave();
    if (!s.ok()) return s;
    s = ctx.engine->Put(kLeavingKey, "1");
    if (!s.ok()) return s;
    ctx.membership.Leave(ctx.clock->NowMs());
    RebuildRing();
    s = PersistIncarnation();
    AnnounceSelf();
    return s;
  }

  // Tell everyone our own state now rather than waiting for gossip to spread it.
  void AnnounceSelf() {
    for (const auto& m : ctx.membership.Digest()) {
      if (m.id != cfg().id && m.status != MemberStatus::kRemoved) {
        SendGossip(m.cluster_addr, /*reply_wanted=*/false);
      }
    }
  }

  Status RemoveMember(const std::string& id) {
    Status s = CheckRemove(id);
    if (!s.ok()) return s;
    s = ctx.membership.Remove(id, ctx.clock->NowMs());
    if (s.ok()) RebuildRing();
    return s;
  }
};

Node::Node(NodeConfig cfg, Transport* transport, Clock* clock, Random* random,
           storage::Engine* engine, Logger* logger)
    : impl_(std::make_unique<Impl>(std::move(cfg), transport, clock, random, engine, logger)) {}
Node::~Node() = default;

Status Node::Start() { return impl_->Start(); }
void Node::OnMessage(std::string_view frame) { impl_->OnMessage(frame); }
void Node::OnMessages(std::span<const std::string_view> frames) { impl_->OnMessages(frames); }
void Node::OnFrameTaking(std::string buf, size_t at) { impl_->OnFrameTaking(std::move(buf), at); }
void Node::OnDecoded(const Status& decoded, Message& m) { impl_->OnDecoded(decoded, m); }
void Node::OnTick() { impl_->OnTick(); }
void Node::Read(const std::string& key, int r, ReadCallback done) {
  std::string buf;
  impl_->reads.Read(PlainRecordKeyRef(key, &buf), r, std::move(done));
}
void Node::ReadLeavingBig(const std::string& rkey, size_t big_at, ReadCallback done) {
  impl_->reads.Read(rkey, 0, std::move(done), /*reaping=*/false, big_at);
}
Status Node::ViewOnlyCopy(const std::string& rkey, const std::function<void(std::string_view)>& see) {
  NodeContext& ctx = impl_->ctx;
  if (!ctx.standalone) {
    size_t n = size_t(ctx.PolicyOf(rkey).n);
    if (n != 1 && ctx.placement.node_count() != 1) return Status::NotSupported("other replicas hold the key");
    std::vector<std::string> pref = ctx.placement.Preference(rkey, n);
    if (pref.size() != 1 || pref.front() != ctx.cfg.id) return Status::NotSupported("other replicas hold the key");
  }
  if (ctx.store.Cached(rkey)) return Status::NotSupported("the row cache holds the key");
  return ctx.store.View(rkey, see);
}
void Node::ReadRecord(const std::string& rkey, int r, ReadCallback done) {
  impl_->reads.Read(rkey, r, std::move(done));
}
void Node::ReadForReap(const std::string& rkey, int r, ReadCallback done) {
  impl_->reads.Read(rkey, r, std::move(done), /*reaping=*/true);
}
void Node::ReadRange(const std::string& prefix, const std::string& after, size_t limit, int r,
                     RangeCallback done) {
  impl_->ranges.Read(prefix, after, limit, r, std::move(done));
}
void Node::Prefetch(std::string_view key, int stage) {
  if (key.empty() || key.size() > storage::kKeyBytesMax || NeedsEscape(key)) return;
  impl_->ctx.store.Prefetch(key, stage);
}
void Node::Write(const std::string& key, WriteRequest req, WriteCallback done) {
  std::string buf;
  impl_->writes.Write(PlainRecordKeyRef(key, &buf), std::move(req), std::move(done));
}
void Node::WriteRecord(const std::string& rkey, WriteRequest req, WriteCallback done) {
  impl_->writes.Write(rkey, std::move(req), std::move(done));
}
void Node::BeginBatch() { impl_->writes.BeginBatch(); }
void Node::EndBatch(WriteCallback done) { impl_->writes.EndBatch(std::move(done)); }
Status Node::ScanLocal(std::string_view start_after, size_t limit,
                       const std::function<bool(std::string_view, const Record&)>& visit,
                       bool values) {
  return impl_->ctx.store.Scan(start_after, limit, visit, /*plain_only=*/true, values);
}
Status Node::ScanRecords(std::string_view start_after, size_t limit,
                         const std::function<bool(std::string_view, const Record&)>& visit,
                         bool values) {
  return impl_->ctx.store.Scan(start_after, limit, visit, /*plain_only=*/false, values);
}
Status Node::LivePartitionKeys(uint32_t p, size_t limit, std::vector<std::string>* keys,
                               uint64_t* count) {
  *count = 0;
  if (p >= kPartitions) return Status::Invalid("partition out of range");
  uint64_t now_ms = impl_->ctx.clock->WallMs();
  // The engine sees the pending batch too, so a write this loop iteration made is counted.
  return impl_->ctx.engine->Scan(
      PartitionBegin(p), PartitionEnd(p), 0, [&](std::string_view k, std::string_view v) {
        Record rec;
        ParsedRecordKey parsed = ParseRecordKey(ClientKeyOf(k));
        if (parsed.kind != RecordKind::kPlain) return true;  // a collection's element
        if (!DecodeRecord(v, &rec).ok() || IsDeleted(rec, now_ms)) return true;
        ++*count;
        if (keys != nullptr && keys->size() < limit) keys->emplace_back(parsed.key);
        return true;
      });
}
uint64_t Node::LocalKeyCountEstimate() { return impl_->ctx.store.key_count(); }
uint64_t Node::LocalLiveKeyCount() const { return impl_->ctx.store.live_count(); }
uint64_t Node::ExpiringWrites() const { return impl_->ctx.store.expiring_writes(); }
Status Node::FlushLocal() { return impl_->FlushLocal(); }
void Node::DropCaches() {
  impl_->ctx.store.ClearCache();
  (void)impl_->ctx.store.Recount();
}
std::vector<std::string> Node::ScanMembers() const { return impl_->scanner.Members(); }
void Node::ScanNode(const std::string& node_id, const std::string& start_after, size_t limit,
                    ScanCallback done) {
  impl_->scanner.ScanNode(node_id, start_after, limit, std::move(done));
}
bool Node::OwnsForScan(const std::string& node_id, const std::string& key,
                       const std::vector<std::string>& snapshot) const {
  return impl_->scanner.OwnsForScan(node_id, key, snapshot);
}
Status Node::ReapLocal(const std::string& key, uint64_t grace_ms, uint64_t expiry_grace_ms) {
  return impl_->ReapLocal(key, grace_ms, expiry_grace_ms);
}
Status Node::ReapLocalIf(const std::string& key, const std::function<bool(const Record&)>& may_reap) {
  return impl_->ReapLocalIf(key, may_reap);
}
size_t Node::SyncNow() { return impl_->ae.SyncNow(); }
Status Node::SaveForRestart() {
  if (impl_->ctx.standalone) return Status::OK();
  return impl_->ctx.engine->Put(kAeHashesKey, impl_->ae.SaveHashes());
}
std::vector<MemberInfo> Node::Members() const { return impl_->Members(); }
Status Node::Join(const std::string& cluster_addr, bool* staged) {
  Status s = impl_->CheckJoin(cluster_addr);
  return s.ok() ? impl_->Stage({Impl::Change::kJoin, cluster_addr, {}}, staged) : s;
}
Status Node::Leave(bool* staged) {
  Status s = impl_->CheckLeave();
  return s.ok() ? impl_->Stage({Impl::Change::kLeave, {}, {}}, staged) : s;
}
Status Node::Remove(const std::string& node_id, bool* staged) {
  Status s = impl_->CheckRemove(node_id);
  return s.ok() ? impl_->Stage({Impl::Change::kRemove, node_id, {}}, staged) : s;
}
Status Node::Replace(const std::string& old_id, const std::string& new_cluster_addr,
                     bool* staged) {
  Status s = impl_->CheckReplace(old_id, new_cluster_addr);
  return s.ok() ? impl_->Stage({Impl::Change::kReplace, old_id, new_cluster_addr}, staged) : s;
}
Node::PlanInfo Node::Plan() const { return impl_->MakePlan(); }
Status Node::Commit() { return impl_->CommitPlan(); }
void Node::ClearPlan() { impl_->staged.clear(); }
std::vector<Node::PartitionRange> Node::RingRanges() const {
  const Placement& pl = impl_->ctx.placement;
  std::vector<PartitionRange> out;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto owners = pl.Owners(p);
    if (!out.empty() && out.back().last + 1 == p &&
        std::equal(owners.begin(), owners.end(), out.back().owners.begin(),
                   out.back().owners.end(),
                   [&](uint32_t i, const std::string& id) { return pl.IdAt(i) == id; })) {
      out.back().last = p;
      continue;
    }
    out.push_back({p, p, pl.OwnersOf(p)});
  }
  return out;
}
uint64_t Node::RingEpoch() const { return impl_->ring_epoch; }
const std::string& Node::FirstOwner(uint32_t p) const {
  static const std::string kNone;
  auto owners = impl_->ctx.placement.Owners(p);
  return owners.empty() ? kNone : impl_->ctx.placement.IdAt(owners[0]);
}
std::vector<Node::TransferInfo> Node::Transfers() const { return impl_->handoff.Transfers(); }
std::map<std::string, uint64_t> Node::PendingHints() const { return impl_->hints.by_owner(); }
uint32_t Node::PartitionsOwned() const {
  uint32_t n = 0;
  for (uint32_t p = 0; p < kPartitions; ++p) n += impl_->ctx.placement.Owns(p) ? 1 : 0;
  return n;
}
std::vector<std::string> Node::PreferenceList(const std::string& key) const {
  return impl_->ctx.placement.OwnersOf(KeyPartition(key), size_t(impl_->ctx.keyspaces.ForKey(key).n));
}
const Keyspaces& Node::keyspaces() const { return impl_->ctx.keyspaces; }
size_t Node::Publish(const std::string& channel, const std::string& message, bool sharded) {
  return impl_->Publish(channel, message, sharded);
}
void Node::SetPublishHandler(PublishHandler handler) {
  impl_->publish_handler = std::move(handler);
}
bool Node::MemberLoad(const std::string& id, uint64_t* keys, uint64_t* bytes) const {
  if (id == impl_->ctx.cfg.id) {
    *keys = impl_->ctx.store.live_count();
    *bytes = impl_->ctx.engine->Stats().used_bytes;
    return true;
  }
  auto it = impl_->loads.find(id);
  if (it == impl_->loads.end()) return false;
  if (impl_->ctx.clock->NowMs() > it->second.at_ms + 6 * Impl::kLoadEveryMs) return false;
  *keys = it->second.keys;
  *bytes = it->second.bytes;
  return true;
}
const NodeConfig& Node::config() const { return impl_->ctx.cfg; }
ActorId Node::actor() const { return impl_->ctx.actor; }
NodeStats Node::stats() const {
  NodeStats st = impl_->ctx.stats;
  st.cache_hits = impl_->ctx.store.cache_hits();
  st.cache_misses = impl_->ctx.store.cache_misses();
  return st;
}

}  // namespace dynakv::cluster
