// cluster/list_engine.cc: see list_engine.h.
#include "cluster/list_engine.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <deque>
#include <map>
#include <random>
#include <unordered_map>
#include <utility>

#include "cluster/key_layout.h"
#include "protocol/resp.h"

namespace dynakv::cluster {

uint64_t ListHost::DrawListTag() {
  static std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

namespace {

// The length counter's element: one byte, never a position (those are 16n bytes), and
// before every position in byte order.
const std::string kLenElement(1, '\0');

// A command waiting in a key's queue. Pushes and pops are batched with their neighbours.
struct QueuedOp {
  enum Kind { kOther, kRead, kPush, kPop } kind = kOther;
  std::function<void(ListRelease)> run;  // kOther, kRead
  bool left = false;
  std::vector<std::string> values;  // kPush
  bool only_if_exists = false;
  std::function<void(Status, int64_t)> push_done;
  size_t count = 0;  // kPop
  std::function<void(Status, bool, std::vector<std::string>)> pop_done;
};

struct KeyQueue {
  std::deque<QueuedOp> ops;
  bool running = false;
  bool pumping = false;
  bool held = false;  // not started until FlushHeldLists (ListHost::hold_list_queues)
};

// Where this server's last left pop of a generation ended: every record up to `pos` was
// read as removed or removed by that pop, and positions below -reach were not given yet.
// A head read skips from the first record at or above -reach to after `pos`, so the
// tombstones pops leave at a queue's head (kept for storage.tombstone_grace_s) are not read
// again by every pop. An insert places its element after every record before its pivot, so
// it lands after `pos` while `pos`'s tombstone exists: hints are used for less than half the
// grace. A push through another server whose header read was older than the pop's, and
// whose clock is behind, can land below `pos` unseen by the pop: so a chain of hints (each
// made by a read that used the previous one) is used for at most kHintChainMs after its
// first unhinted read, and the next read scans the head in full and finds such an element.
struct HeadHint {
  uint64_t gen = 0;
  std::string pos;
  uint64_t reach = 0;
  uint64_t base_ms = 0;  // when the unhinted read that began this chain ran (NowMs)
};
constexpr uint64_t kHintChainMs = 5000;


}  // namespace

// ListHost::list_queues: the list engine's state on a host.
struct ListQueues {
  std::unordered_map<std::string, std::shared_ptr<KeyQueue>> queues;
  std::unordered_map<std::string, HeadHint> hints;
  int64_t clock = 0;  // the largest major this host gave
};

namespace {

constexpr size_t kMaxHints = 10000;

ListQueues& Engine(ListHost* s) {
  if (!s->list_queues) {
    s->list_queues = std::make_shared<ListQueues>();
  }
  return *s->list_queues;
}

// How long a chain of head hints is used (HeadHint above).
uint64_t HintLifeMs(ListHost* s) {
  return std::min<uint64_t>(kHintChainMs, s->TombstoneGraceMs() / 2);
}

void Pump(ListHost* s, const std::string& key, const std::shared_ptr<KeyQueue>& q);

void RunPushes(ListHost* s, const std::string& key, std::vector<QueuedOp> ops, ListRelease release);
void RunPops(ListHost* s, const std::string& key, std::vector<QueuedOp> ops, ListRelease release);

void Enqueue(ListHost* s, const std::string& key, QueuedOp op) {
  ListQueues& e = Engine(s);
  auto& q = e.queues[key];
  if (!q) q = std::make_shared<KeyQueue>();
  bool batchable = op.kind == QueuedOp::kPush || op.kind == QueuedOp::kPop;
  q->ops.push_back(std::move(op));
  if (s->hold_list_queues && batchable && (q->held || s->MayHoldList(key))) {
    if (q->held) return;  // joins the held batch
    if (!q->running && !q->pumping) {
      q->held = true;
      s->held_list_keys.push_back(key);
      return;
    }
  }
  q->held = false;  // anything else starts the queue (FlushHeldLists skips it then)
  Pump(s, key, q);
}

// Starts the next command (or batch) unless one runs; a release that comes back at once
// (a standalone node answers reads synchronously) continues this loop instead of recursing.
void Pump(ListHost* s, const std::string& key, const std::shared_ptr<KeyQueue>& q) {
  if (q->pumping || q->held) return;
  q->pumping = true;
  while (!q->running && !q->ops.empty()) {
    q->running = true;
    ListRelease release = [s, key, q]() {
      q->running = false;
      Pump(s, key, q);
    };
    QueuedOp::Kind kind = q->ops.front().kind;
    if (kind == QueuedOp::kRead) {
      // Consecutive reads run at once; the queue moves on when every one has released.
      std::vector<QueuedOp> reads;
      while (!q->ops.empty() && q->ops.front().kind == QueuedOp::kRead) {
        reads.push_back(std::move(q->ops.front()));
        q->ops.pop_front();
      }
      auto left = std::make_shared<size_t>(reads.size());
      for (QueuedOp& op : reads) {
        op.run([left, release]() {
          if (--*left == 0) release();
        });
      }
      continue;
    }
    if (kind == QueuedOp::kOther) {
      QueuedOp op = std::move(q->ops.front());
      q->ops.pop_front();
      op.run(std::move(release));
      continue;
    }
    std::vector<QueuedOp> batch;
    while (!q->ops.empty() && q->ops.front().kind == kind) {
      batch.push_back(std::move(q->ops.front()));
      q->ops.pop_front();
    }
    if (kind == QueuedOp::kPush) RunPushes(s, key, std::move(batch), std::move(release));
    else RunPops(s, key, std::move(batch), std::move(release));
  }
  q->pumping = false;
  if (!q->running && q->ops.empty()) {
    ListQueues& e = Engine(s);
    auto it = e.queues.find(key);
    if (it != e.queues.end() && it->second == q) e.queues.erase(it);
  }
}

// One generation's walk: pages of growing size until `want` present elements or the end.
struct GenWalk : std::enable_shared_from_this<GenWalk> {
  ListHost* s;
  uint64_t gen;
  std::string prefix, after;
  size_t want;
  size_t page;
  HeadHint hint_copy;
  bool use_hint = false, jumped = false, skipped = false;
  size_t hinted_page = 0;  // the page size after the jump; before it pages start small, as
                           // the first record at or above the floor usually ends that part
  std::string hint_floor;
  uint64_t now;
  std::vector<ListItem> items;
  std::string last_record;
  bool want_prev = false;  // fill ListItem::prev (LINSERT)
  bool exhausted = false;
  std::function<void(Status)> done;

  void Step() {
    auto self = shared_from_this();
    s->node()->ReadRange(prefix, after, page, 0, [self](Status st, Node::RangeReply rr) {
      if (!st.ok()) return self->done(st);
      bool last = rr.done || rr.elements.empty();
      std::string next_after = rr.elements.empty() ? self->after : rr.elements.back().first;
      for (auto& [e, rec] : rr.elements) {
        if (!IsListPosition(e)) continue;  // the length counter
        if (self->use_hint && !self->jumped && e >= self->hint_floor) {
          self->jumped = true;
          if (e <= self->hint_copy.pos) {
            self->skipped = true;
            next_after = self->hint_copy.pos;  // the rest of this page is read again past it
            self->last_record = self->hint_copy.pos;
            self->page = self->hinted_page;
            last = false;
            break;
          }
        }
        std::string prev;
        if (self->want_prev) {
          prev = std::move(self->last_record);
          self->last_record = e;
        }
        // The page is this walk's own: its positions, values and contexts move into the items.
        VersionVector ctx = std::move(rec.context);
        ElementView ev;
        Status rs = ResolveElement(std::move(rec), self->now, &ev);
        if (!rs.ok()) return self->done(rs);
        if (!ev.present) continue;
        self->items.push_back({std::move(e), std::move(ev.value), self->gen, std::move(ctx), std::move(prev)});
      }
      if (self->items.size() >= self->want) return self->done(Status::OK());
      if (last) {
        self->exhausted = true;
        return self->done(Status::OK());
      }
      self->after = std::move(next_after);
      self->page = std::min<size_t>(self->page * 2, 1000);
      self->Step();
    });
  }
};

// Reads the first `n` present elements of every generation of `cs` and merges them.
void ReadItems(ListHost* s, const std::string& key, CollectionState cs, size_t n, bool use_hint,
               std::function<void(Status, ListView)> done) {
  ListView view;
  view.cs = std::move(cs);
  if (!view.cs.exists() || n == 0) {
    view.complete = !view.cs.exists();
    return done(Status::OK(), std::move(view));
  }
  const std::vector<uint64_t> gens = view.cs.view.gens;
  // What each walk found, handed over when it is done. The walks are owned by their reads in
  // flight only: nothing here points back at them, so a read whose reply never comes (its
  // node stopped) frees its walk and this whole read instead of leaking a cycle.
  struct WalkOut {
    std::vector<ListItem> items;
    bool exhausted = false, skipped = false;
    uint64_t base_ms = 0;
  };
  auto outs = std::make_shared<std::vector<WalkOut>>(gens.size());
  auto err = std::make_shared<FirstError>();
  auto v = std::make_shared<ListView>(std::move(view));
  auto g = Gather::Make(gens.size(), [outs, err, v, n, done]() {
    if (!err->st.ok()) return done(err->st, {});
    bool complete = true;
    for (WalkOut& w : *outs) {
      complete = complete && w.exhausted;
      if (w.skipped) {
        v->hint_base_ms = w.base_ms;
        v->hinted = true;
      }
      if (v->items.empty()) {
        v->items = std::move(w.items);  // the usual one generation: no item moves
      } else {
        for (auto& it : w.items) v->items.push_back(std::move(it));
      }
    }
    if (outs->size() > 1) {  // one generation's walk is in order already
      std::sort(v->items.begin(), v->items.end(),
                [](const ListItem& a, const ListItem& b) { return a.pos < b.pos; });
    }
    if (v->items.size() > n) {
      v->items.resize(n);
      complete = false;
    }
    v->complete = complete;
    done(Status::OK(), std::move(*v));
  });
  ListQueues& e = Engine(s);
  uint64_t now = s->WallMs();
  std::vector<std::shared_ptr<GenWalk>> walks;
  for (size_t i = 0; i < gens.size(); i++) {
    const uint64_t gen = gens[i];
    auto w = std::make_shared<GenWalk>();
    w->s = s;
    w->gen = gen;
    w->prefix = GenElementPrefix(kListType, key, gen);
    w->want = n;
    w->page = n == SIZE_MAX ? 1000 : std::clamp<size_t>(n + 1, 4, 1000);
    w->now = now;
    w->want_prev = n == SIZE_MAX;
    auto h = e.hints.find(key);
    if (use_hint && h != e.hints.end() && h->second.gen == gen && h->second.reach < uint64_t(INT64_MAX) &&
        s->MonoMs() - h->second.base_ms < HintLifeMs(s)) {
      w->use_hint = true;
      w->hint_copy = h->second;
      w->hint_floor = ListPosition(-int64_t(h->second.reach), 0);
      w->hinted_page = w->page;
      w->page = 4;
    }
    GenWalk* raw = w.get();  // done runs inside the walk's own step: it is alive
    w->done = [err, g, outs, raw, i](Status st) {
      err->Note(st);
      WalkOut& o = (*outs)[i];
      o.items = std::move(raw->items);
      o.exhausted = raw->exhausted;
      o.skipped = raw->skipped;
      o.base_ms = raw->hint_copy.base_ms;
      g->One();
    };
    walks.push_back(std::move(w));
  }
  for (auto& w : walks) w->Step();
}

// The length: the sum of every generation's counter (ResolveAcross adds them up), never
// below 0.
int64_t LengthOf(const std::optional<std::string>& v) {
  int64_t n = 0;
  if (v && protocol::ParseRedisInt(*v, &n) && n > 0) return n;
  return 0;
}

WriteRequest CounterAdd(int64_t delta) {
  WriteRequest req;
  req.op = OpKind::kCounterAdd;
  req.delta = delta;
  req.want_context = false;
  return req;
}


void PushBody(ListHost* s, const std::string& key, const CollectionState& cs,
              const std::vector<std::pair<bool, const std::vector<std::string>*>>& groups,
              std::function<void(Status, int64_t)> done) {
  ListQueues& e = Engine(s);
  uint64_t target = TargetGeneration(s, key, kListType, cs);
  uint64_t reach = cs.exists() ? cs.view.reach : 0;
  int64_t now_us = int64_t(s->WallMs()) * 1000;
  std::vector<std::pair<std::string, std::string>> writes;
  for (auto& [left, values] : groups) {
    for (const std::string& v : *values) {
      int64_t m = ListPushMajor(reach, e.clock, now_us);
      e.clock = m;
      reach = uint64_t(m);
      writes.emplace_back(ListPosition(left ? -m : m, s->DrawListTag()), v);
    }
  }
  int64_t pushed = int64_t(writes.size());
  auto ferr = std::make_shared<FirstError>();
  auto len = std::make_shared<int64_t>(0);
  auto csp = std::make_shared<CollectionState>(cs);
  // The header goes last: a head read that saw its reach also sees these elements at R
  // (HeadHint), and a crash before it leaves no acknowledged push.
  auto header = [s, key, csp, target, reach, ferr, len, pushed, done]() {
    if (!ferr->st.ok()) return done(ferr->st, 0);
    WriteHeaderFor(s, key, kListType, *csp, target, reach, [s, key, csp, ferr, len, pushed, done](Status ws, WriteReply) {
      if (!ws.ok()) return done(ws, 0);
      if (csp->exists() && csp->view.gens.size() > 1) {
        return ListLength(s, key, [done](Status ls, int64_t n) { done(ls, n); });
      }
      done(Status::OK(), std::max<int64_t>(*len, pushed));
    });
  };
  auto g = Gather::Make(writes.size() + 1, header);
  for (auto& [pos, v] : writes) {
    WriteRequest req;
    req.op = OpKind::kPut;
    req.value.value = std::move(v);
    req.has_context = true;  // a new record key: nothing to supersede
    req.want_record = false;
    req.want_context = false;
    WriteTracked(s, GenElementKey(kListType, key, target, pos), std::move(req), [ferr, g](Status ws, WriteReply) {
      ferr->Note(ws);
      g->One();
    }, true);
  }
  WriteTracked(s, GenElementKey(kListType, key, target, kLenElement), CounterAdd(pushed),
               [s, ferr, len, g](Status ws, WriteReply wr) {
                 ElementView ev;
                 if (ws.ok()) ws = ResolveElement(wr.record, s->WallMs(), &ev);
                 if (ws.ok()) *len = LengthOf(ev.present ? std::optional<std::string>(ev.value) : std::nullopt);
                 ferr->Note(ws);
                 g->One();
               }, true);
}

void RunPushes(ListHost* s, const std::string& key, std::vector<QueuedOp> ops, ListRelease release) {
  auto opsp = std::make_shared<std::vector<QueuedOp>>(std::move(ops));
  ReadCollection(s, key, kListType, [s, key, opsp, release](Status st, CollectionState cs) {
    std::vector<QueuedOp>& ops = *opsp;
    auto fail = [&](Status e) {
      for (auto& op : ops) op.push_done(e, 0);
      release();
    };
    if (!st.ok()) return fail(st);
    std::vector<std::pair<bool, const std::vector<std::string>*>> groups;
    std::vector<int64_t> after;  // values pushed up to and including each op (-1: skipped)
    bool exists = cs.exists();
    int64_t total = 0;
    for (auto& op : ops) {
      if (op.only_if_exists && !exists) {
        after.push_back(-1);
        continue;
      }
      exists = true;
      groups.emplace_back(op.left, &op.values);
      total += int64_t(op.values.size());
      after.push_back(total);
    }
    if (groups.empty()) {
      for (auto& op : ops) op.push_done(Status::OK(), 0);
      return release();
    }
    PushBody(s, key, cs, groups, [s, key, opsp, after, total, release](Status ps, int64_t len) {
      for (size_t i = 0; i < opsp->size(); i++) {
        if (!ps.ok()) (*opsp)[i].push_done(ps, 0);
        else (*opsp)[i].push_done(Status::OK(), after[i] < 0 ? 0 : std::max<int64_t>(1, len - (total - after[i])));
      }
      if (ps.ok()) s->OnListPushed(key);
      release();
    });
  });
}

void RunPops(ListHost* s, const std::string& key, std::vector<QueuedOp> ops, ListRelease release) {
  size_t left = 0, right = 0;
  for (auto& op : ops) (op.left ? left : right) += op.count;
  // One more than the left pops take: a read that finds no more knows the list is emptied.
  size_t n = right > 0 ? SIZE_MAX : left + 1;
  auto opsp = std::make_shared<std::vector<QueuedOp>>(std::move(ops));
  ReadCollection(s, key, kListType, [s, key, opsp, n, release](Status st, CollectionState cs) {
    if (!st.ok()) {
      for (auto& op : *opsp) op.pop_done(st, false, {});
      return release();
    }
    ReadItems(s, key, std::move(cs), n, /*use_hint=*/true, [s, key, opsp, release](Status rs, ListView view) {
      std::vector<QueuedOp>& ops = *opsp;
      if (!rs.ok()) {
        for (auto& op : ops) op.pop_done(rs, false, {});
        return release();
      }
      size_t i = 0, j = view.items.size();
      std::vector<std::vector<std::string>> out(ops.size());
      // Whether the list existed when each pop of the batch ran: a counted pop after pops
      // that emptied it answers nil, as in Redis, not an empty array.
      std::vector<bool> existed(ops.size());
      bool more = view.cs.exists() && !view.complete;  // present elements beyond those read
      std::vector<ListItem> taken;
      std::string last_left;
      uint64_t last_left_gen = 0;
      for (size_t k = 0; k < ops.size(); k++) {
        existed[k] = i < j || more;
        for (size_t c = 0; c < ops[k].count && i < j; c++) {
          ListItem& it = ops[k].left ? view.items[i++] : view.items[--j];
          if (ops[k].left) {
            last_left = it.pos;
            last_left_gen = it.gen;
          }
          out[k].push_back(it.value);
          taken.push_back(it);
        }
      }
      uint64_t reach = view.cs.view.reach, base_ms = view.hint_base_ms;
      auto finish = [s, key, opsp, out = std::move(out), existed = std::move(existed), release, last_left,
                     last_left_gen, reach, base_ms](Status ws) mutable {
        if (ws.ok() && !last_left.empty() && HintLifeMs(s) > 0) {
          ListQueues& e = Engine(s);
          if (e.hints.size() >= kMaxHints && !e.hints.count(key)) e.hints.clear();
          e.hints[key] = HeadHint{last_left_gen, last_left, reach, base_ms != 0 ? base_ms : s->MonoMs()};
        }
        for (size_t k = 0; k < opsp->size(); k++) {
          if (!ws.ok()) (*opsp)[k].pop_done(ws, false, {});
          else (*opsp)[k].pop_done(Status::OK(), existed[k], std::move(out[k]));
        }
        release();
      };
      ListRemoveNow(s, key, view, std::move(taken), std::move(finish));
    });
  });
}

}  // namespace

void FlushHeldLists(ListHost* s) {
  CloseHeldKeys(&s->hold_list_queues, &s->held_list_keys, [s](const std::string& key) {
    ListQueues& e = Engine(s);
    auto it = e.queues.find(key);
    if (it == e.queues.end() || !it->second->held) return;
    std::shared_ptr<KeyQueue> q = it->second;
    q->held = false;
    Pump(s, key, q);
  });
}

void ListQueued(ListHost* s, const std::string& key, std::function<void(ListRelease)> op, bool read_only) {
  QueuedOp q;
  q.kind = read_only ? QueuedOp::kRead : QueuedOp::kOther;
  q.run = std::move(op);
  Enqueue(s, key, std::move(q));
}

void ListRead(ListHost* s, const std::string& key, size_t n, std::function<void(Status, ListView)> done) {
  ReadCollection(s, key, kListType, [s, key, n, done = std::move(done)](Status st, CollectionState cs) mutable {
    if (!st.ok()) return done(st, {});
    ReadItems(s, key, std::move(cs), n, /*use_hint=*/true, std::move(done));
  });
}

void ListPush(ListHost* s, const std::string& key, bool left, std::vector<std::string> values, bool only_if_exists,
              std::function<void(Status, int64_t)> done) {
  QueuedOp q;
  q.kind = QueuedOp::kPush;
  q.left = left;
  q.values = std::move(values);
  q.only_if_exists = only_if_exists;
  q.push_done = std::move(done);
  Enqueue(s, key, std::move(q));
}

void ListPop(ListHost* s, const std::string& key, bool left, size_t count,
             std::function<void(Status, bool, std::vector<std::string>)> done) {
  QueuedOp q;
  q.kind = QueuedOp::kPop;
  q.left = left;
  q.count = count;
  q.pop_done = std::move(done);
  Enqueue(s, key, std::move(q));
}

void ListPushNow(ListHost* s, const std::string& key, const CollectionState& cs, bool left,
                 std::vector<std::string> values, std::function<void(Status, int64_t)> done) {
  auto vals = std::make_shared<std::vector<std::string>>(std::move(values));
  PushBody(s, key, cs, {{left, vals.get()}}, [s, key, vals, done = std::move(done)](Status st, int64_t n) {
    if (st.ok()) s->OnListPushed(key);
    done(st, n);
  });
}

void ListInsertNow(ListHost* s, const std::string& key, const CollectionState& cs, std::string pos,
                   std::string value, std::function<void(Status, int64_t)> done) {
  uint64_t target = TargetGeneration(s, key, kListType, cs);
  int64_t major = ListMajor(pos);
  uint64_t reach = std::max<uint64_t>(cs.view.reach, major == INT64_MIN ? uint64_t(INT64_MAX) : uint64_t(std::abs(major)));
  auto ferr = std::make_shared<FirstError>();
  auto csp = std::make_shared<CollectionState>(cs);
  auto g = Gather::Make(2, [s, key, csp, target, reach, ferr, done]() {
    if (!ferr->st.ok()) return done(ferr->st, 0);
    WriteHeaderFor(s, key, kListType, *csp, target, reach, [s, key, done](Status ws, WriteReply) {
      if (!ws.ok()) return done(ws, 0);
      s->OnListPushed(key);
      ListLength(s, key, done);
    });
  });
  WriteRequest req;
  req.op = OpKind::kPut;
  req.value.value = std::move(value);
  req.has_context = true;
  req.want_record = false;
  req.want_context = false;
  auto one = [ferr, g](Status ws, WriteReply) {
    ferr->Note(ws);
    g->One();
  };
  WriteTracked(s, GenElementKey(kListType, key, target, pos), std::move(req), one, true);
  WriteTracked(s, GenElementKey(kListType, key, target, kLenElement), CounterAdd(1), one, true);
}

void ListRemoveNow(ListHost* s, const std::string& key, const ListView& view, std::vector<ListItem> items,
                   std::function<void(Status)> done) {
  std::map<uint64_t, int64_t> per_gen;
  for (const ListItem& it : items) per_gen[it.gen]++;
  bool emptied = view.complete && items.size() == view.items.size() && view.cs.exists();
  auto ferr = std::make_shared<FirstError>();
  auto cs = std::make_shared<CollectionState>(view.cs);
  // Emptied: the key goes, as in Redis. Only the header is deleted, with the context read: a
  // push through another server that this read did not see wrote its own header sibling,
  // which keeps the generation (and its counter, which counted this removal) live.
  // A read that skipped a head hint's span is confirmed first by one that does not (after
  // the removals above are acknowledged): an element a hint hid (HeadHint: a push through a
  // server whose clock is behind) must keep the list, not be hidden for good by the delete.
  const bool confirm = emptied && view.hinted;
  auto g = Gather::Make(items.size() + per_gen.size(), [s, key, cs, emptied, confirm, ferr, done]() {
    if (!ferr->st.ok() || !emptied) return done(ferr->st);
    auto del = [s, key, cs, done]() {
      DeleteValue(s, key, &cs->context, 0, [done](Status ds, WriteReply) { done(ds); });
    };
    if (!confirm) return del();
    ReadItems(s, key, *cs, 1, /*use_hint=*/false, [done, del](Status rs, ListView left) {
      if (!rs.ok()) return done(rs);
      if (!left.items.empty()) return done(Status::OK());  // not emptied after all
      del();
    });
  });
  auto one = [ferr, g](Status ws, WriteReply) {
    ferr->Note(ws);
    g->One();
  };
  for (ListItem& it : items) {
    WriteRequest req;
    req.op = OpKind::kDelete;
    req.value.kind = ValueKind::kTombstone;
    req.has_context = true;
    req.context = std::move(it.ctx);
    req.want_record = false;
    req.want_context = false;
    WriteTracked(s, GenElementKey(kListType, key, it.gen, it.pos), std::move(req), one, true);
  }
  for (auto& [gen, c] : per_gen) {
    WriteTracked(s, GenElementKey(kListType, key, gen, kLenElement), CounterAdd(-c), one, true);
  }
}

void ListLength(ListHost* s, const std::string& key, std::function<void(Status, int64_t)> done) {
  ReadElements(s, key, kListType, {kLenElement},
               [done = std::move(done)](Status st, bool, std::vector<std::optional<std::string>> v) {
                 if (!st.ok()) return done(st, 0);
                 done(Status::OK(), LengthOf(v[0]));
               });
}

}  // namespace dynakv::cluster
