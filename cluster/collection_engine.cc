// cluster/collection_engine.cc: see collection_engine.h. Moved from server/collections.cc
// unchanged but for the host (CollectionHost instead of the server).
#include "cluster/collection_engine.h"

#include <algorithm>
#include <map>
#include <random>
#include <tuple>
#include <utility>

#include "cluster/key_layout.h"
#include "protocol/resp.h"

namespace dynakv::cluster {

uint64_t CollectionHost::DrawGeneration() {
  static std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

void WriteTracked(CollectionHost* s, const std::string& key, WriteRequest req, WriteDone done,
                  bool record_key) {
  if (record_key) s->node()->WriteRecord(key, std::move(req), s->TrackedWrite(std::move(done)));
  else s->node()->Write(key, std::move(req), s->TrackedWrite(std::move(done)));
}

void DeleteValue(CollectionHost* s, const std::string& key, const VersionVector* ctx, int w,
                 WriteDone done) {
  WriteRequest req;
  req.op = OpKind::kDelete;
  req.value.kind = ValueKind::kTombstone;
  if (ctx) {
    req.has_context = true;
    req.context = *ctx;
  }
  req.w = w;
  s->node()->Write(key, std::move(req), s->TrackedWrite(std::move(done)));
}


namespace {


// Elements per range page: well under a loop turn's budget on the replicas that serve it.
constexpr size_t kPage = 1000;



cluster::WriteRequest HeaderWrite(char type, std::vector<uint64_t> gens, uint64_t expiry_ms,
                                  const cluster::VersionVector& ctx, uint64_t reach) {
  std::sort(gens.begin(), gens.end());
  gens.erase(std::unique(gens.begin(), gens.end()), gens.end());
  cluster::WriteRequest req;
  req.op = cluster::OpKind::kPut;
  req.value.kind = cluster::ValueKind::kCollection;
  req.value.value = cluster::EncodeHeader({type, std::move(gens), reach});
  req.value.expiry_ms = expiry_ms;
  req.has_context = true;
  req.context = ctx;
  req.want_record = false;
  req.want_context = false;
  return req;
}

}  // namespace

// One key's header write in flight from this server, and the follow-up the commands that
// came meanwhile wait for (CollectionHost::header_flights).
struct HeaderFlight {
  char type = 0;
  std::vector<uint64_t> gens;  // the generations the write in flight names
  uint64_t reach = 0;          // lists: the reach it names
  bool has_next = false;
  std::vector<uint64_t> next_gens;
  uint64_t next_reach = 0;
  cluster::VersionVector next_ctx;  // the merge of the waiting commands' read contexts
  uint64_t next_expiry = 0;
  std::vector<WriteDone> next_waiters;
  bool issuing = false;  // inside IssueHeader's call of the write: a callback now is at once
  bool held = false;     // the write completed and is held open (CollectionHost::hold_header_flights)
  cluster::WriteReply held_reply;  // what the held write answered (its context and record)
};

// The generation new elements go to. A collection that does not exist yet gets a fresh one,
// unless this server is creating it right now (a header write for the key in flight): then
// the commands of one burst share that creation's generation instead of each drawing one
// (50 clients adding to a new key at once made 50 generations, and every later read of an
// element read all 50).
uint64_t TargetGeneration(CollectionHost* s, const std::string& key, char type, const CollectionState& cs) {
  if (cs.exists() && !cs.view.gens.empty()) return cs.view.gens.back();
  auto it = s->header_flights.find(key);
  if (it != s->header_flights.end() && it->second->type == type && !it->second->gens.empty()) {
    return it->second->gens.back();
  }
  return cluster::NewGeneration(cs.view, [s] { return s->DrawGeneration(); });
}

namespace {

void IssueHeader(CollectionHost* s, const std::string& key, std::shared_ptr<HeaderFlight> f,
                 const cluster::VersionVector& ctx, uint64_t expiry, std::vector<WriteDone> waiters);

// The write `f` had in flight answered (st, wr) and commands wait for a follow-up: issue it.
void IssueFollowUp(CollectionHost* s, const std::string& key, const std::shared_ptr<HeaderFlight>& f,
                   const Status& st, const cluster::WriteReply& wr) {
  // The follow-up names every generation the write in flight named plus what the
  // waiting commands need, and supersedes the sibling just written (its context).
  // That context is the coordinator's whole record after the write: it also covers
  // header siblings that other coordinators wrote meanwhile, so the follow-up names
  // their generations (and reach) too, or it would drop them and hide their elements
  // (found by the simulator's collections.toml, seed 154: a HINCRBY into a concurrently
  // created generation was lost).
  std::vector<uint64_t> gens = f->gens;
  gens.insert(gens.end(), f->next_gens.begin(), f->next_gens.end());
  if (st.ok()) {
    HeaderView now_view;
    if (ViewHeader(wr.record, s->WallMs(), &now_view).ok() && now_view.kind == KeyType::kCollection &&
        now_view.type == f->type) {
      gens.insert(gens.end(), now_view.gens.begin(), now_view.gens.end());
      f->next_reach = std::max(f->next_reach, now_view.reach);
    }
  }
  std::sort(gens.begin(), gens.end());
  gens.erase(std::unique(gens.begin(), gens.end()), gens.end());
  cluster::VersionVector ctx2 = std::move(f->next_ctx);
  if (st.ok()) ctx2.Merge(wr.context);
  std::vector<WriteDone> next = std::move(f->next_waiters);
  uint64_t expiry2 = f->next_expiry;
  f->gens = std::move(gens);
  f->reach = std::max(f->reach, f->next_reach);
  f->next_reach = 0;
  f->has_next = false;
  f->next_gens.clear();
  f->next_ctx = cluster::VersionVector();
  f->next_waiters.clear();
  IssueHeader(s, key, f, ctx2, expiry2, std::move(next));
}

void IssueHeader(CollectionHost* s, const std::string& key, std::shared_ptr<HeaderFlight> f,
                 const cluster::VersionVector& ctx, uint64_t expiry, std::vector<WriteDone> waiters) {
  cluster::WriteRequest req = HeaderWrite(f->type, f->gens, expiry, ctx, f->reach);
  req.want_context = true;
  req.want_record = true;  // the follow-up needs what the context it supersedes names
  f->issuing = true;
  WriteTracked(s, key, std::move(req), [s, key, f, waiters = std::move(waiters)](Status st, cluster::WriteReply wr) {
    if (f->has_next) {
      IssueFollowUp(s, key, f, st, wr);
    } else if (st.ok() && f->issuing && s->hold_header_flights && f->type != static_cast<char>(CollectionType::kList)) {
      // Completed at once, inside an add the host lets hold (see CollectionHost): stay open
      // for the adds that follow; FlushHeldHeaders closes it or issues their follow-up.
      f->held = true;
      f->held_reply = std::move(wr);
      s->held_header_keys.push_back(key);
      for (const WriteDone& w : waiters) w(st, f->held_reply);
      return;
    } else {
      auto it = s->header_flights.find(key);
      if (it != s->header_flights.end() && it->second == f) s->header_flights.erase(it);
    }
    for (const WriteDone& w : waiters) w(st, wr);
  },
               /*record_key=*/false);
  f->issuing = false;
}

}  // namespace

// The header a command that adds must write: the type, the live generations it read plus
// `target`, with the context it read. Coalesced per key (HeaderFlight): while this server
// has a header write for the key in flight, the command waits for one follow-up write that
// names the union of what every waiting command needs, with the merge of their contexts
// and the context of the write in flight. Each command's header write is thus still issued
// after its element reads, so a DEL that did not see its add cannot hide it (add-wins);
// one coordinator no longer makes one header sibling per concurrent command.
void WriteHeaderFor(CollectionHost* s, const std::string& key, char type, const CollectionState& cs,
                    uint64_t target, uint64_t reach, WriteDone done) {
  std::vector<uint64_t> gens = cs.exists() ? cs.view.gens : std::vector<uint64_t>{};
  gens.push_back(target);
  uint64_t expiry = cs.exists() ? cs.view.expiry_ms : 0;
  auto it = s->header_flights.find(key);
  if (it != s->header_flights.end() && it->second->type == type) {
    HeaderFlight& f = *it->second;
    f.has_next = true;
    f.next_gens.insert(f.next_gens.end(), gens.begin(), gens.end());
    f.next_ctx.Merge(cs.context);
    f.next_expiry = expiry;
    f.next_reach = std::max(f.next_reach, reach);
    f.next_waiters.push_back(std::move(done));
    return;
  }
  if (it != s->header_flights.end()) {  // another type's write in flight: not coalesced
    return WriteTracked(s, key, HeaderWrite(type, std::move(gens), expiry, cs.context, reach), std::move(done),
                        /*record_key=*/false);
  }
  auto f = std::make_shared<HeaderFlight>();
  f->type = type;
  std::sort(gens.begin(), gens.end());
  gens.erase(std::unique(gens.begin(), gens.end()), gens.end());
  f->gens = std::move(gens);
  f->reach = reach;
  s->header_flights.emplace(key, f);
  IssueHeader(s, key, f, cs.context, expiry, {std::move(done)});
}

void FlushHeldHeaders(CollectionHost* s) {
  CloseHeldKeys(&s->hold_header_flights, &s->held_header_keys, [s](const std::string& key) {
    auto it = s->header_flights.find(key);
    if (it == s->header_flights.end() || !it->second->held) return;
    std::shared_ptr<HeaderFlight> f = it->second;
    f->held = false;
    cluster::WriteReply wr = std::move(f->held_reply);
    if (f->has_next) IssueFollowUp(s, key, f, Status::OK(), wr);
    else s->header_flights.erase(it);
  });
}

namespace {

using PageFn = std::function<void(const std::string& prefix, cluster::Node::RangeReply,
                                  std::function<void()> next)>;

// Pages through one generation's elements, calling `page` with each page; `page` calls its
// continuation to go on. done(status) at the end.
struct PageWalk : std::enable_shared_from_this<PageWalk> {
  CollectionHost* s;
  std::string prefix;
  std::function<void(const std::string& prefix, cluster::Node::RangeReply, std::function<void()> next)> page;
  std::function<void(Status)> done;
  std::string after;

  void Step() {
    auto self = shared_from_this();
    s->node()->ReadRange(prefix, after, kPage, 0, [self](Status st, cluster::Node::RangeReply rr) {
      if (!st.ok()) return self->done(st);
      bool last = rr.done || rr.elements.empty();
      if (!rr.elements.empty()) self->after = rr.elements.back().first;
      self->page(self->prefix, std::move(rr), [self, last]() {
        if (last) return self->done(Status::OK());
        self->Step();
      });
    });
  }
};

void WalkGeneration(CollectionHost* s, std::string prefix,
                    PageFn page,
                    std::function<void(Status)> done) {
  auto w = std::make_shared<PageWalk>();
  w->s = s;
  w->prefix = std::move(prefix);
  w->page = std::move(page);
  w->done = std::move(done);
  w->Step();
}

// Walks every live generation in turn.
void WalkGenerations(CollectionHost* s, const std::string& key, char type, std::vector<uint64_t> gens,
                     PageFn page,
                     std::function<void(Status)> done, size_t i = 0) {
  if (i >= gens.size()) return done(Status::OK());
  std::string prefix = GenElementPrefix(type, key, gens[i]);
  WalkGeneration(s, std::move(prefix), page,
                 [s, key, type, gens = std::move(gens), page, done, i](Status st) mutable {
                   if (!st.ok()) return done(st);
                   WalkGenerations(s, key, type, std::move(gens), std::move(page), std::move(done), i + 1);
                 });
}

// Whether any element of the collection is present (stops at the first one).
void AnyPresent(CollectionHost* s, const std::string& key, char type, std::vector<uint64_t> gens,
                std::function<void(Status, bool)> done) {
  uint64_t now = s->WallMs();
  WalkGenerations(
      s, key, type, std::move(gens),
      [now, done](const std::string&, cluster::Node::RangeReply rr, std::function<void()> next) {
        for (auto& [e, rec] : rr.elements) {
          ElementView ev;
          if (cluster::ResolveElement(rec, now, &ev).ok() && ev.present) {
            return done(Status::OK(), true);  // the walk ends here: `next` is not called
          }
        }
        next();
      },
      [done](Status st) { done(st, false); });
}

}  // namespace

void ReadCollection(CollectionHost* s, const std::string& key, char type,
                    std::function<void(Status, CollectionState)> done) {
  s->node()->Read(key, 0, s->TimedRead([s, type, done = std::move(done)](Status st, cluster::ReadReply rr) {
    if (!st.ok()) return done(st, {});
    CollectionState cs;
    Status vs = cluster::ViewHeader(rr.record, s->WallMs(), &cs.view);
    if (!vs.ok()) return done(vs, {});
    cs.view.decider = nullptr;
    cs.context = std::move(rr.record.context);
    if (cs.view.kind == cluster::KeyType::kString ||
        (cs.view.kind == cluster::KeyType::kCollection && cs.view.type != type)) {
      return done(Status::Invalid(kWrongTypeError), {});
    }
    if (cs.exists()) s->CountLookup(true);
    else s->CountLookup(false);
    done(Status::OK(), std::move(cs));
  }));
}

namespace {
// Reads elements x live generations of an existing collection: recs[i * G + j].
void ReadGrid(CollectionHost* s, const std::string& key, char type, const CollectionState& cs,
              const std::vector<std::string>& elements,
              std::function<void(Status, std::vector<cluster::Record>)> done) {
  const std::vector<uint64_t>& gens = cs.view.gens;
  size_t G = gens.size(), n = elements.size() * G;
  auto recs = std::make_shared<std::vector<cluster::Record>>(n);
  auto err = std::make_shared<FirstError>();
  auto g = Gather::Make(n, [recs, err, done]() { done(err->st, std::move(*recs)); });
  for (size_t i = 0; i < elements.size(); i++) {
    for (size_t j = 0; j < G; j++) {
      s->node()->ReadRecord(GenElementKey(type, key, gens[j], elements[i]), 0,
                            s->TimedRead([recs, err, g, k = i * G + j](Status st, cluster::ReadReply rr) {
                              if (!st.ok()) err->Note(st);
                              else (*recs)[k] = std::move(rr.record);
                              g->One();
                            }));
    }
  }
}

std::optional<std::string> ValueAcross(const std::vector<cluster::Record>& recs, size_t i, size_t G,
                                       uint64_t now, Status* err) {
  std::vector<ElementView> views(G);
  for (size_t j = 0; j < G; j++) {
    Status st = cluster::ResolveElement(recs[i * G + j], now, &views[j]);
    if (!st.ok()) *err = st;
  }
  ElementView v = cluster::ResolveAcross(views);
  if (!v.present) return std::nullopt;
  return std::move(v.value);
}
}  // namespace

void ReadElements(CollectionHost* s, const std::string& key, char type, std::vector<std::string> elements,
                  std::function<void(Status, bool, std::vector<std::optional<std::string>>)> done) {
  ReadCollection(s, key, type, [s, key, type, elements = std::move(elements), done = std::move(done)](
                                   Status st, CollectionState cs) mutable {
    size_t n = elements.size();
    if (!st.ok()) return done(st, false, {});
    if (!cs.exists()) return done(Status::OK(), false, std::vector<std::optional<std::string>>(n));
    size_t G = cs.view.gens.size();
    ReadGrid(s, key, type, cs, elements, [s, n, G, done](Status st2, std::vector<cluster::Record> recs) {
      if (!st2.ok()) return done(st2, true, {});
      std::vector<std::optional<std::string>> out(n);
      Status err;
      for (size_t i = 0; i < n; i++) out[i] = ValueAcross(recs, i, G, s->WallMs(), &err);
      if (!err.ok()) return done(err, true, {});
      done(Status::OK(), true, std::move(out));
    });
  });
}

void UpdateElements(CollectionHost* s, const std::string& key, char type, std::vector<std::string> elements,
                    ChangeFn change, std::function<void(Status, UpdateResult)> done) {
  ReadCollection(s, key, type, [s, key, type, elements = std::move(elements), change = std::move(change),
                                done = std::move(done)](Status st, CollectionState cs) mutable {
    if (!st.ok()) return done(st, {});
    auto csp = std::make_shared<CollectionState>(std::move(cs));
    auto elems = std::make_shared<std::vector<std::string>>(std::move(elements));
    auto decide = [s, key, type, csp, elems, change = std::move(change), done = std::move(done)](
                      Status st2, std::vector<cluster::Record> recs) mutable {
      if (!st2.ok()) return done(st2, {});
      const CollectionState& cs = *csp;
      const std::vector<std::string>& el = *elems;
      size_t G = cs.exists() ? cs.view.gens.size() : 0;
      uint64_t now = s->WallMs();
      UpdateResult res;
      res.existed = cs.exists();
      res.before.resize(el.size());
      // Each distinct element: its value as the decisions so far left it, and the last op.
      struct Slot {
        size_t first;  // index of its first occurrence (its records in recs)
        std::optional<std::string> now;
        bool present_before = false;
        int op = ElementChange::kKeep;
      };
      std::map<std::string, Slot> slots;
      Status err;
      for (size_t i = 0; i < el.size(); i++) {
        auto it = slots.find(el[i]);
        if (it == slots.end()) {
          Slot sl;
          sl.first = i;
          if (G > 0) sl.now = ValueAcross(recs, i, G, now, &err);
          sl.present_before = sl.now.has_value();
          it = slots.emplace(el[i], std::move(sl)).first;
        }
        Slot& sl = it->second;
        res.before[i] = sl.now;
        ElementChange c = change(i, sl.now);
        if (c.op == ElementChange::kSet) {
          sl.now = std::move(c.value);
          sl.op = ElementChange::kSet;
        } else if (c.op == ElementChange::kDelete) {
          if (sl.now.has_value() || sl.op != ElementChange::kKeep) sl.op = ElementChange::kDelete;
          sl.now.reset();
        }
      }
      if (!err.ok()) return done(err, {});
      bool adds = false, removes = false;
      for (auto& [e, sl] : slots) {
        if (sl.op == ElementChange::kSet) adds = true;
        if (sl.op == ElementChange::kDelete && sl.present_before) removes = true;
      }
      if (!adds && !removes) return done(Status::OK(), std::move(res));
      uint64_t target = adds ? TargetGeneration(s, key, type, cs) : 0;
      size_t writes = adds ? 1 : 0;
      for (auto& [e, sl] : slots) {
        if (sl.op == ElementChange::kSet) writes++;
        if (sl.op == ElementChange::kDelete && sl.present_before) {
          for (size_t j = 0; j < G; j++) writes += recs[sl.first * G + j].siblings.empty() ? 0 : 1;
        }
      }
      auto result = std::make_shared<UpdateResult>(std::move(res));
      auto ferr = std::make_shared<FirstError>();
      auto finish = [s, key, type, csp, result, ferr, done, adds, removes]() mutable {
        if (!ferr->st.ok()) return done(ferr->st, {});
        if (adds || !removes) return done(Status::OK(), std::move(*result));
        // Something was removed and nothing added: an emptied collection stops existing.
        AnyPresent(s, key, type, csp->view.gens,
                   [s, key, csp, result, done](Status st3, bool any) mutable {
                     if (!st3.ok() || any) return done(st3, std::move(*result));
                     DeleteValue(s, key, &csp->context, 0,
                                 [result, done](Status st4, cluster::WriteReply) mutable {
                                   done(st4, std::move(*result));
                                 });
                   });
      };
      auto g = Gather::Make(writes, finish);
      auto one = [g, ferr](Status ws, cluster::WriteReply) {
        ferr->Note(ws);
        g->One();
      };
      if (adds) WriteHeaderFor(s, key, type, cs, target, cs.view.reach, one);
      for (auto& [e, sl] : slots) {
        if (sl.op == ElementChange::kSet) {
          result->set++;
          cluster::WriteRequest req;
          req.op = cluster::OpKind::kPut;
          req.value.value = std::move(*sl.now);
          req.has_context = true;
          for (size_t j = 0; j < G; j++)
            if (cs.view.gens[j] == target) req.context = recs[sl.first * G + j].context;
          req.want_record = false;
          req.want_context = false;
          WriteTracked(s, GenElementKey(type, key, target, e), std::move(req), one, true);
        } else if (sl.op == ElementChange::kDelete && sl.present_before) {
          result->deleted++;
          for (size_t j = 0; j < G; j++) {
            if (recs[sl.first * G + j].siblings.empty()) continue;  // never written in gens[j]
            cluster::WriteRequest req;
            req.op = cluster::OpKind::kDelete;
            req.value.kind = cluster::ValueKind::kTombstone;
            req.has_context = true;
            req.context = recs[sl.first * G + j].context;
            req.want_record = false;
            req.want_context = false;
            WriteTracked(s, GenElementKey(type, key, cs.view.gens[j], e), std::move(req), one, true);
          }
        }
      }
    };
    if (!csp->exists()) return decide(Status::OK(), {});
    ReadGrid(s, key, type, *csp, *elems, std::move(decide));
  });
}

void ReadAllElements(CollectionHost* s, const std::string& key, char type,
                     std::function<void(Status, bool, ElementList)> done) {
  ReadCollection(s, key, type, [s, key, type, done = std::move(done)](Status st, CollectionState cs) mutable {
    if (!st.ok()) return done(st, false, {});
    if (!cs.exists()) return done(Status::OK(), false, {});
    auto acc = std::make_shared<std::map<std::string, ElementView>>();
    auto err = std::make_shared<FirstError>();
    uint64_t now = s->WallMs();
    WalkGenerations(
        s, key, type, cs.view.gens,
        [acc, err, now](const std::string&, cluster::Node::RangeReply rr, std::function<void()> next) {
          for (auto& [e, rec] : rr.elements) {
            ElementView ev;
            Status rs = cluster::ResolveElement(std::move(rec), now, &ev);  // the page is ours
            err->Note(rs);
            if (!ev.present) continue;
            auto it = acc->find(e);
            if (it == acc->end()) acc->emplace(std::move(e), std::move(ev));
            else it->second = cluster::ResolveAcross({it->second, ev});
          }
          next();
        },
        [acc, err, done](Status st2) {
          err->Note(st2);
          if (!err->st.ok()) return done(err->st, true, {});
          ElementList out;
          out.reserve(acc->size());
          for (auto& [e, ev] : *acc) out.emplace_back(e, std::move(ev.value));
          done(Status::OK(), true, std::move(out));
        });
  });
}

namespace {
// IncrementElement and IncrementScore: `req` (a counter op) on one element in generation
// `target`, with the header written so that generation is live; done gets the element as
// the coordinator left it.
void AddToElementIn(CollectionHost* s, const std::string& key, char type, const std::string& element,
                    cluster::WriteRequest req, const CollectionState& cs, uint64_t target,
                    std::function<void(Status, ElementView)> done) {
  auto ferr = std::make_shared<FirstError>();
  auto view = std::make_shared<ElementView>();
  auto g = Gather::Make(2, [ferr, view, done]() { done(ferr->st, std::move(*view)); });
  WriteHeaderFor(s, key, type, cs, target, cs.view.reach, [ferr, g](Status ws, cluster::WriteReply) {
    ferr->Note(ws);
    g->One();
  });
  WriteTracked(s, GenElementKey(type, key, target, element), std::move(req),
               [s, ferr, view, g](Status ws, cluster::WriteReply wr) {
                 if (ws.ok()) ws = cluster::ResolveElement(wr.record, s->WallMs(), view.get());
                 ferr->Note(ws);
                 g->One();
               },
               true);
}

// An increment of `element` (req: kCounterAdd or kScoreAdd). One live generation: it goes
// there. Several (a concurrent creation): the element may hold a value in any of them, and
// its value is ResolveAcross of them all (counters of every generation add up, a newer plain
// value wins). The increment then goes to the generation holding the newest value, and the
// coordinator gets a base (in the request's value, `encode`d) for a counter it starts
// there: the value minus the other generations' counters of this kind, so that afterwards
// the element reads as before plus the increment. `decode` reads an ElementView's value
// (false: not a number of this kind, answered as `not_number`); `is_counter` says whether
// a view is a counter of this kind; `set_base` puts a base into the request.
template <typename T>
void IncrementAcross(CollectionHost* s, const std::string& key, char type, std::string element, cluster::WriteRequest req,
                     bool (*decode)(const ElementView&, T*), std::function<void(WriteRequest*, T)> set_base,
                     bool (*is_counter)(const ElementView&), Status not_number,
                     std::function<void(Status, ElementView)> done) {
  ReadCollection(s, key, type, [=, element = std::move(element), req = std::move(req)](Status st, CollectionState cs) mutable {
    if (!st.ok()) return done(st, {});
    if (!cs.exists() || cs.view.gens.size() <= 1) {
      return AddToElementIn(s, key, type, element, std::move(req), cs, TargetGeneration(s, key, type, cs), done);
    }
    auto csp = std::make_shared<CollectionState>(std::move(cs));
    ReadGrid(s, key, type, *csp, {element}, [=, req = std::move(req)](Status st2, std::vector<cluster::Record> recs) mutable {
      if (!st2.ok()) return done(st2, {});
      const std::vector<uint64_t>& gens = csp->view.gens;
      uint64_t now = s->WallMs();
      std::vector<ElementView> views(gens.size());
      for (size_t j = 0; j < gens.size(); j++) {
        Status rs = cluster::ResolveElement(recs[j], now, &views[j]);
        if (!rs.ok()) return done(rs, {});
      }
      ElementView all = cluster::ResolveAcross(views);
      T value{};
      if (all.present && !decode(all, &value)) return done(not_number, {});
      size_t t = gens.size();
      for (size_t j = 0; j < gens.size(); j++) {
        const ElementView& v = views[j];
        if (!v.present) continue;
        if (t == gens.size() || std::tie(v.timestamp_ms, v.dot.actor, v.dot.counter) >
                                    std::tie(views[t].timestamp_ms, views[t].dot.actor, views[t].dot.counter)) {
          t = j;
        }
      }
      uint64_t target = t == gens.size() ? TargetGeneration(s, key, type, *csp) : gens[t];
      T others{};
      for (size_t j = 0; j < gens.size(); j++) {
        T d{};
        if (gens[j] != target && views[j].present && is_counter(views[j]) && decode(views[j], &d)) {
          others = static_cast<T>(others + d);
        }
      }
      set_base(&req, static_cast<T>(value - others));
      AddToElementIn(s, key, type, element, std::move(req), *csp, target, done);
    });
  });
}

bool DecodeInt(const ElementView& v, int64_t* out) { return protocol::ParseRedisInt(v.value, out); }
bool IsIntCounter(const ElementView& v) { return v.counter && !v.score_counter && !v.float_counter; }
bool DecodeScoreText(const ElementView& v, double* out) { return DecodeScore(v.value, out); }
bool IsScoreCounter(const ElementView& v) { return v.score_counter; }
// A float counter's exact number; any other value's text, as Redis parses it.
bool DecodeFloat(const ElementView& v, long double* out) {
  if (v.float_counter) {
    *out = v.number;
    return true;
  }
  return protocol::ParseRedisLongDouble(v.value, out);
}
bool IsFloatCounterView(const ElementView& v) { return v.float_counter; }

}  // namespace

void DeleteCollection(CollectionHost* s, const std::string& key, const CollectionState& st,
                      std::function<void(Status)> done) {
  auto err = std::make_shared<FirstError>();
  auto ctx = std::make_shared<cluster::VersionVector>(st.context);
  WalkGenerations(
      s, key, st.view.type, st.view.gens,
      [s, err](const std::string& prefix, cluster::Node::RangeReply rr, std::function<void()> next) {
        // Every element that holds anything but tombstones gets one covering what was read.
        std::vector<std::pair<std::string, cluster::VersionVector>> todo;
        for (auto& [e, rec] : rr.elements) {
          bool live = std::any_of(rec.siblings.begin(), rec.siblings.end(), [](const cluster::Sibling& sb) {
            return sb.kind != cluster::ValueKind::kTombstone;
          });
          if (live) todo.emplace_back(prefix + e, std::move(rec.context));
        }
        auto g = Gather::Make(todo.size(), std::move(next));
        for (auto& [rkey, c] : todo) {
          cluster::WriteRequest req;
          req.op = cluster::OpKind::kDelete;
          req.value.kind = cluster::ValueKind::kTombstone;
          req.has_context = true;
          req.context = std::move(c);
          req.want_record = false;
          req.want_context = false;
          WriteTracked(s, rkey, std::move(req), [err, g](Status ws, cluster::WriteReply) {
            err->Note(ws);
            g->One();
          }, true);
        }
      },
      [s, key, err, ctx, done](Status st2) {
        err->Note(st2);
        if (!err->st.ok()) return done(err->st);
        DeleteValue(s, key, ctx.get(), 0, [done](Status ws, cluster::WriteReply) { done(ws); });
      });
}

void CollectionBytes(CollectionHost* s, const std::string& key, char type, std::vector<uint64_t> gens,
                     std::function<void(Status, uint64_t)> done) {
  auto bytes = std::make_shared<uint64_t>(0);
  WalkGenerations(
      s, key, type, std::move(gens),
      [bytes](const std::string& prefix, cluster::Node::RangeReply rr, std::function<void()> next) {
        for (auto& [e, rec] : rr.elements) {
          *bytes += cluster::DataKey(prefix + e).size() + cluster::EncodeRecord(rec).size();
        }
        next();
      },
      [bytes, done](Status st) { done(st, *bytes); });
}

void SetCollectionExpiry(CollectionHost* s, const std::string& key, const CollectionState& st,
                         uint64_t expiry_ms, WriteDone done) {
  WriteTracked(s, key, HeaderWrite(st.view.type, st.view.gens, expiry_ms, st.context, st.view.reach), std::move(done),
               /*record_key=*/false);
}


void AddToCounter(CollectionHost* s, const std::string& key, char type, std::string element,
                  int64_t delta, Status not_int, std::function<void(Status, ElementView)> done) {
  WriteRequest req;
  req.op = OpKind::kCounterAdd;
  req.delta = delta;
  IncrementAcross<int64_t>(
      s, key, type, std::move(element), std::move(req), DecodeInt,
      [](WriteRequest* r, int64_t base) { r->value.value = std::to_string(base); }, IsIntCounter,
      std::move(not_int), std::move(done));
}

void AddToScore(CollectionHost* s, const std::string& key, std::string member, double delta,
                Status no_score, std::function<void(Status, ElementView)> done) {
  WriteRequest req;
  req.op = OpKind::kScoreAdd;
  req.delta = ScoreDeltaBits(delta);
  IncrementAcross<double>(
      s, key, static_cast<char>(CollectionType::kZset), std::move(member), std::move(req), DecodeScoreText,
      [](WriteRequest* r, double base) { r->value.value = EncodeScore(base); }, IsScoreCounter,
      std::move(no_score), std::move(done));
}

void AddToFloat(CollectionHost* s, const std::string& key, char type, std::string element, long double delta,
                Status not_float, std::function<void(Status, ElementView)> done) {
  WriteRequest req;
  req.op = OpKind::kFloatAdd;
  req.value.value = EncodeFloatAdd(delta, nullptr);
  IncrementAcross<long double>(
      s, key, type, std::move(element), std::move(req), DecodeFloat,
      [delta](WriteRequest* r, long double base) { r->value.value = EncodeFloatAdd(delta, &base); },
      IsFloatCounterView, std::move(not_float), std::move(done));
}

}  // namespace dynakv::cluster
