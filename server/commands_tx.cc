// server/commands_tx.cc: transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//
// MULTI queues the connection's commands (Dispatch checks name, arity and auth first; a
// refused command aborts the transaction, as in Redis). EXEC runs the queue in order through
// the coordinator, each command starting when the one before it has replied, and answers
// with the array of their replies; commands the client sent after EXEC wait until it is done
// (Client::after_exec). A command that fails at run time (a wrong-type INCR) leaves its error
// in the array and the others still run, as in Redis.
//
// Atomicity: on a standalone node every command completes within the loop turn that EXEC
// runs in, so no other client's command runs in between and the group commit makes the
// transaction's writes durable together: it is atomic and isolated. In a cluster, a
// transaction whose keys share one hash slot and that reaches a node replicating that slot
// runs as one batch (OneSlotBatch): isolated on that node, applied as one message in one
// commit on every replica. Any other cluster transaction runs command by command through
// the coordinator: in order, but other clients' writes may interleave and a coordinator
// crash part-way leaves a prefix applied. README "Transactions" says so.
//
// WATCH is causal, like memcached's cas: it records each key's causal context (the version
// vector covering every sibling the read saw, tombstones included). EXEC reads the watched
// keys again and answers null, running nothing, if any context or existence differs: a write
// to the key through any node that reached the quorum read in between aborts the transaction.
// A collection's context is its header's: every add, expiry change and deletion writes the
// header, a removal that leaves elements (HDEL, SREM, ZREM, pops, LREM, LTRIM) and LSET do
// not (README "Transactions").
#include <algorithm>

#include "cluster/partition_ring.h"
#include "server/commands.h"

namespace dynakv::server {
namespace {

using protocol::RespWriter;

void CmdMulti(CommandCtx& ctx) {
  Client* c = ctx.client.get();
  if (c->in_multi) return ReplyErr(ctx, "ERR MULTI calls can not be nested");
  c->in_multi = true;
  c->multi_dirty = false;
  c->multi_queue.clear();
  ctx.reply.Send([](RespWriter& w) { w.Ok(); });
}

void CmdDiscard(CommandCtx& ctx) {
  Client* c = ctx.client.get();
  if (!c->in_multi) return ReplyErr(ctx, "ERR DISCARD without MULTI");
  ClearTransaction(c);
  ctx.reply.Send([](RespWriter& w) { w.Ok(); });
}

void CmdUnwatch(CommandCtx& ctx) {
  ctx.client->watched.clear();
  ctx.reply.Send([](RespWriter& w) { w.Ok(); });
}

void CmdWatch(CommandCtx& ctx) {
  if (ctx.client->in_multi) return ReplyErr(ctx, "ERR WATCH inside MULTI is not allowed");
  size_t n = ctx.args.size() - 1;
  auto seen = std::make_shared<std::vector<WatchedKey>>(n);
  auto err = std::make_shared<Status>();
  ReplyTo reply = ctx.reply;
  std::shared_ptr<Client> client = ctx.client;
  auto g = Gather::Make(n, [reply, client, seen, err]() mutable {
    if (!err->ok()) return ReplyStatus(reply, *err);
    for (auto& wk : *seen) {
      bool already = false;
      for (const auto& have : client->watched) already = already || have.key == wk.key;
      if (!already) client->watched.push_back(std::move(wk));
    }
    reply.Send([](RespWriter& w) { w.Ok(); });
  });
  for (size_t i = 0; i < n; i++) {
    (*seen)[i].key = ctx.args[i + 1];
    ReadAnyKey(ctx.server, ctx.args[i + 1], 0, [seen, err, g, i](Status st, KeyView cur) {
      if (!st.ok()) {
        if (err->ok()) *err = st;
      } else {
        (*seen)[i].existed = cur.exists;
        (*seen)[i].context = std::move(cur.context);
      }
      g->One();
    });
  }
}

// One EXEC in progress: the queue, the replies so far, and where the array goes.
struct ExecRun {
  Server* server = nullptr;
  std::shared_ptr<Client> client;
  std::vector<std::pair<const CommandSpec*, std::vector<std::string>>> queue;
  size_t next = 0;
  std::string replies;
  ReplyTo reply;
  bool running_sync = false;  // Step's loop is on the stack (see Step)
  bool finished_sync = false;
  // One-slot batch (see OneSlotBatch): open while the commands run synchronously.
  bool batching = false;
  size_t batches_pending = 0;  // EndBatch calls not yet answered
  Status batch_status;
  bool commands_done = false;
};

void ResumeAfterExec(Server* s, const std::shared_ptr<Client>& c) {
  c->in_exec = false;
  while (!c->in_exec && c->yielding == 0 && !c->after_exec.empty() && !c->closing) {
    c->args = std::move(c->after_exec.front());
    c->after_exec.pop_front();
    s->Dispatch(c);
    c->args.clear();
  }
}

// A cluster transaction whose keys all fall in one slot, which this node replicates, runs
// as one batch (Node::BeginBatch): its reads are this replica's copy, so every command
// completes within this loop turn (isolated here), and its writes reach each replica as one
// message applied in one commit (atomic there). Anything else runs command by command.
bool OneSlotBatch(Server* s, const std::vector<std::pair<const CommandSpec*, std::vector<std::string>>>& q) {
  if (s->config().cluster_addr.empty()) return false;  // standalone: atomic anyway
  const std::string* first = nullptr;
  uint32_t slot = 0;
  for (const auto& [spec, args] : q) {
    if (spec->first_key <= 0) continue;
    int argc = int(args.size());
    int last = spec->last_key < 0 ? argc + spec->last_key : spec->last_key;
    for (int i = spec->first_key; i <= last && i < argc; i += std::max(1, spec->step)) {
      uint32_t p = cluster::KeyPartition(args[size_t(i)]);
      if (first == nullptr) {
        first = &args[size_t(i)];
        slot = p;
      } else if (p != slot) {
        return false;
      }
    }
  }
  if (first == nullptr) return false;
  auto pref = s->node()->PreferenceList(*first);
  return std::find(pref.begin(), pref.end(), s->config().node_id) != pref.end();
}

void Finish(const std::shared_ptr<ExecRun>& run) {
  if (!run->commands_done || run->batches_pending > 0) return;
  size_t n = run->queue.size();
  if (!run->batch_status.ok()) {
    // Applied on this replica, but fewer than W replicas acknowledged the batch in time:
    // indeterminate, as a failed single write is (hinted handoff and anti-entropy carry it on).
    ReplyStatus(run->reply, run->batch_status);
  } else {
    run->reply.Complete([&](std::string* dst, int proto) {
      RespWriter w(dst, proto);
      w.Array(n);
      dst->append(run->replies);
    });
  }
  ResumeAfterExec(run->server, run->client);
}

void CloseBatch(const std::shared_ptr<ExecRun>& run) {
  if (!run->batching) return;
  run->batching = false;
  run->batches_pending++;
  run->server->node()->EndBatch([run](Status st, cluster::WriteReply wr) {
    run->batches_pending--;
    if (!st.ok() && run->batch_status.ok()) run->batch_status = st;
    if (st.ok()) {  // WAIT after EXEC counts the batch's copies
      run->client->last_write_copies = wr.copies;
      run->client->last_write_progress = wr.progress;
    }
    Finish(run);
  });
}

// Runs the queued commands one after another. A command that replies at once (always, on a
// standalone node or in a batch) continues the loop; one that replies later resumes it from
// its reply, so the stack does not grow with the length of the queue.
void Step(const std::shared_ptr<ExecRun>& run) {
  while (run->next < run->queue.size()) {
    auto& [spec, args] = run->queue[run->next];
    auto sink = std::make_shared<ReplySink>();
    sink->proto = run->client->proto;
    run->running_sync = true;
    run->finished_sync = false;
    sink->done = [run](std::string& bytes) {
      run->replies.append(bytes);
      run->next++;
      if (run->running_sync) run->finished_sync = true;
      else Step(run);
    };
    CommandCtx ctx{run->server, run->client, std::move(args), ReplyTo(run->client, sink)};
    if (run->client->closing) {
      ctx.reply.Send([](RespWriter& w) { w.Error("ERR connection closed"); });
    } else {
      CloseHeld(run->server);
      OwnerScope owner(run->server, run->client);
      spec->handler(ctx);
    }
    run->running_sync = false;
    if (!run->finished_sync) {
      // A command went asynchronous (a cluster-wide KEYS, say): the batch must not stay
      // open while the loop serves other clients, so what it holds goes out now.
      CloseBatch(run);
      return;  // resumes from that command's reply
    }
  }
  CloseBatch(run);
  run->commands_done = true;
  Finish(run);
}

void RunQueue(Server* s, const std::shared_ptr<Client>& c, ReplyTo reply,
              std::vector<std::pair<const CommandSpec*, std::vector<std::string>>> queue) {
  auto run = std::make_shared<ExecRun>();
  run->server = s;
  run->client = c;
  run->queue = std::move(queue);
  run->reply = std::move(reply);
  if (OneSlotBatch(s, run->queue)) {
    run->batching = true;
    s->node()->BeginBatch();
  }
  Step(run);
}

void CmdExec(CommandCtx& ctx) {
  std::shared_ptr<Client> c = ctx.client;
  if (!c->in_multi) return ReplyErr(ctx, "ERR EXEC without MULTI");
  bool dirty = c->multi_dirty;
  auto queue = std::move(c->multi_queue);
  auto watched = std::move(c->watched);
  ClearTransaction(c.get());
  if (dirty) return ReplyErr(ctx, "EXECABORT Transaction discarded because of previous errors.");
  Server* s = ctx.server;
  c->in_exec = true;  // from here on, the client's next commands wait (Dispatch)
  if (watched.empty()) return RunQueue(s, c, ctx.reply, std::move(queue));
  // Check every watched key's causal context, then run (or answer null).
  auto changed = std::make_shared<bool>(false);
  auto err = std::make_shared<Status>();
  auto keys = std::make_shared<std::vector<WatchedKey>>(std::move(watched));
  auto q = std::make_shared<decltype(queue)>(std::move(queue));
  ReplyTo reply = ctx.reply;
  auto g = Gather::Make(keys->size(), [s, c, reply, changed, err, q]() mutable {
    if (!err->ok()) {
      ReplyStatus(reply, *err);
    } else if (*changed) {
      reply.Send([](RespWriter& w) { w.NullArray(); });
    } else {
      return RunQueue(s, c, reply, std::move(*q));
    }
    ResumeAfterExec(s, c);
  });
  for (size_t i = 0; i < keys->size(); i++) {
    ReadAnyKey(s, (*keys)[i].key, 0, [keys, changed, err, g, i](Status st, KeyView cur) {
      const WatchedKey& wk = (*keys)[i];
      if (!st.ok()) {
        if (err->ok()) *err = st;
      } else if (cur.exists != wk.existed ||
                 cur.context.Compare(wk.context) != cluster::Ordering::kEqual) {
        *changed = true;
      }
      g->One();
    });
  }
}

}  // namespace

void ClearTransaction(Client* c) {
  c->in_multi = false;
  c->multi_dirty = false;
  c->multi_queue.clear();
  c->watched.clear();
}

void FlagTransactionError(Client* c) {
  if (c->in_multi) c->multi_dirty = true;
}

bool QueueIfInMulti(CommandCtx& ctx, const CommandSpec* spec) {
  Client* c = ctx.client.get();
  if (!c->in_multi || (spec->flags & kCmdTxControl)) return false;
  std::string_view name = spec->name;
  if (name == "quit" || name == "reset") return false;  // act at once, as in Redis
  c->multi_queue.emplace_back(spec, std::move(ctx.args));
  ctx.reply.Send([](RespWriter& w) { w.Simple("QUEUED"); });
  return true;
}

void RegisterTx(std::vector<CommandSpec>* t) {
  t->insert(t->end(), {
                          {"multi", 1, kCmdTxControl | kCmdFast, CmdMulti, 0, 0, 0},
                          {"exec", 1, kCmdTxControl, CmdExec, 0, 0, 0},
                          {"discard", 1, kCmdTxControl | kCmdFast, CmdDiscard, 0, 0, 0},
                          {"watch", -2, kCmdTxControl | kCmdFast, CmdWatch, 1, -1, 1},
                          {"unwatch", 1, kCmdFast, CmdUnwatch, 0, 0, 0},
                      });
}

}  // namespace dynakv::server
