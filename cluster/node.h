// cluster/node.h: one Dynamo node, sans-I/O. The server (and the simulator) drive it with
// OnMessage / OnTick and client requests; it acts only through Transport, Clock, Random,
// Logger and storage::Engine.
//
// It owns: the partitioned ring, membership + failure detection (gossip), the request
// coordinators (N/R/W, forwarding to a preference-list node, read repair), ownership
// handoff and the local replica's storage of Records. Client-visible semantics: README.
//
// Callbacks may run synchronously inside the call (e.g. N=R=W=1, all local) or later from
// OnMessage/OnTick. Every request completes exactly once, at the latest after
// request_timeout_ms, with Unavailable if too few replicas answered.
//
// Durability rule for the owner of the loop (server and simulator alike): the node writes
// to the engine's pending state and may call Transport::Send and reply callbacks in the same
// call. The owner must call engine->Commit() before it releases the frames handed to
// Transport::Send and the client replies of that loop iteration; so a replica's write ack
// and a coordinator's "stored" reply are never seen before the write is durable.
//
// Storage layout in the engine: cluster/key_layout.h. The modules this composes (replica
// store, placement, coordinators, forwarding, hints, ownership handoff, anti-entropy, scans)
// each have a header of their own; docs/ARCHITECTURE.md describes them, the path of a
// request and the invariants. Tombstones and expired values are reaped by cluster/reaper.h
// through ReapLocal, once dead for tombstone_grace_ms and no hint for the key is held here.
//
// Thread-safety: single-threaded; all calls from the owning loop.
#pragma once

#include <bit>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/env.h"
#include "cluster/keyspace.h"
#include "cluster/version.h"
#include "storage/engine.h"

namespace dynakv::cluster {

struct Message;

struct NodeConfig {
  std::string id = "n1";             // stable node identity
  std::string cluster_addr;          // "host:port" peers reach us on; "" = standalone
  std::string client_addr;           // RESP address shown in DYNAMO MEMBERS
  std::vector<std::string> seeds;    // cluster addresses to join through
  uint32_t weight = 100;             // capacity: share of the partitions (1..10000)
  std::string zone;                  // failure domain; replicas go to distinct zones
  int n = 1, r = 1, w = 1;
  // [[keyspace]] policies (keyspace.h), n, r and w filled in; a key none matches takes n/r/w.
  std::vector<KeyspacePolicy> keyspaces;
  uint64_t request_timeout_ms = 1000;
  // A read asks R replicas; the other N-R are asked when one of those fails or has not
  // answered after this long (speculative retry). 0: every read asks all N (read_coordinator.h).
  uint64_t read_retry_ms = 50;
  uint64_t gossip_interval_ms = 200;
  uint64_t suspect_after_ms = 2000;  // or phi threshold; see membership.h
  uint64_t down_after_ms = 5000;
  std::string cluster_secret;        // HMAC key for peer auth and context tokens; "" = none
  VersionLimits limits;
  size_t max_hints = 100000;         // hinted records held for others, at most (hints.h)
  uint64_t tombstone_grace_ms = 10ull * 60 * 1000;  // keep tombstones at least this long
  size_t record_cache_bytes = 64ull << 20;  // LRU row cache of decoded records; 0 = off
  uint64_t ae_interval_ms = 10000;   // Merkle anti-entropy round period; 0 = off
  // Keys one anti-entropy digest message lists, at most (anti_entropy.h); not in the TOML:
  // tests lower it to reach the path of a segment bigger than a message.
  size_t ae_digest_keys = 20000;
  // Ownership handoff (handoff.h): partition transfers in flight at once, and the byte
  // rate all of them together may send.
  int handoff_concurrency = 2;
  // false: JOIN, LEAVE, REMOVE and REPLACE issued here wait for Commit() (Riak's staging).
  bool auto_commit = true;
  uint64_t handoff_bytes_per_s = 32ull << 20;
};

enum class OpKind : uint8_t {
  kPut,         // store value (with the client's or the local context)
  kDelete,      // tombstone
  kCounterAdd,  // PN-counter add of `delta` in the coordinator's slot; value.value, when
                // it is a decimal integer, is the base a new counter starts from (HINCRBY)
  kScoreAdd,    // FloatCounter add (a sorted-set score, ZINCRBY) of the double whose bits
                // `delta` holds (ScoreDeltaBits), so frames carry it as they carry delta;
                // value.value, when it is an EncodeScore, is the base a new counter starts from
  kFloatAdd,    // LongFloatCounter add (HINCRBYFLOAT): value.value is EncodeFloatAdd (the
                // increment, and optionally the base a new counter starts from)
};

inline int64_t ScoreDeltaBits(double d) { return std::bit_cast<int64_t>(d); }
inline double ScoreDelta(int64_t bits) { return std::bit_cast<double>(bits); }

struct WriteRequest {
  OpKind op = OpKind::kPut;
  // kPut: payload; kDelete: ignored; kCounterAdd: the counter keeps its TTL, unless
  // value.kind is kCounter, which sets it to value.expiry_ms (EXPIRE/PERSIST on a counter).
  NewValue value;
  int64_t delta = 0;             // kCounterAdd; kScoreAdd: ScoreDeltaBits(the increment)
  bool has_context = false;      // false: supersede what the coordinator's replica knows
  VersionVector context;         // DPUT/DDEL context from the client
  int w = 0;                     // 0 = config default
  bool want_record = true;       // false: WriteReply::record may be left empty (saves a copy)
  bool want_context = true;      // false: WriteReply::context may be left empty (saves a copy)
};

struct ReadReply {
  Record record;        // reconciled (Join of the replies); context = record.context
  bool big = false;     // ReadLeavingBig: the record is big, and its values were left out
  std::string rkey;     // with big: the record key read (for ViewOnlyCopy)
};

// Durable copies of one write as acknowledgements keep arriving after the reply (WAIT).
struct WriteProgress {
  uint32_t copies = 0;  // durable copies so far (the coordinator's own and hints included)
  bool final = false;   // every replica asked has answered, or the request's deadline passed
};

struct WriteReply {
  VersionVector context;  // causal context after the write (what DPUT returns)
  Record record;          // the coordinator's record after the write
  // Durable copies when the reply was made (W or more; through a forwarding node, the W it
  // asked for). `progress` is set when more copies may still be acknowledged: the
  // coordinator updates it until `final`.
  uint32_t copies = 0;
  std::shared_ptr<WriteProgress> progress;
};

struct MemberInfo {
  std::string id, cluster_addr, client_addr, status;  // status: joining up suspect down leaving removed
  uint32_t weight = 0;
  std::string zone;
  uint64_t heartbeat = 0, incarnation = 0;
};

struct NodeStats {
  uint64_t read_retries = 0;  // spare replicas asked: a replica failed or was slow
  // Reads of a big record answered by a peer's copy with the same versions, this node's own
  // copy not loaded whole (ReadCoordinator, Pending::own).
  uint64_t big_reads_from_peer = 0;
  uint64_t reads = 0, writes = 0, read_repairs = 0, coordinator_timeouts = 0,
           forwarded = 0, hints_stored = 0, hints_delivered = 0, cache_hits = 0,
           cache_misses = 0;
  uint64_t ae_rounds = 0;          // anti-entropy exchanges this node started and finished
  uint64_t ae_keys_repaired = 0;   // local records anti-entropy changed (either side)
  uint64_t ae_records_hashed = 0;  // records hashed into the Merkle trees (changed partitions)
  uint64_t ae_bytes_sent = 0;      // anti-entropy frames this node sent, in bytes
  uint64_t handoff_transfers_done = 0, handoff_records_sent = 0, handoff_bytes_sent = 0,
           handoff_records_received = 0, handoff_partitions_dropped = 0;
  // coordinator_timeouts split by kind (the rest are forwarded requests and scans).
  uint64_t read_timeouts = 0, write_timeouts = 0;
};

class Node {
 public:
  using ReadCallback = std::function<void(Status, ReadReply)>;
  using WriteCallback = std::function<void(Status, WriteReply)>;

  // The engine holds this node's replica data and metadata (under distinct key prefixes).
  Node(NodeConfig cfg, Transport* transport, Clock* clock, Random* random,
       storage::Engine* engine, Logger* logger);
  ~Node();

  // Loads persisted state, takes a fresh ActorId (new incarnation), starts gossip to seeds.
  Status Start();

  void OnMessage(std::string_view frame);  // a frame from any peer
  // Frames from one peer, in order; the same as OnMessage on each, faster (prefetching).
  void OnMessages(std::span<const std::string_view> frames);
  // A frame that fills `buf` from `at` to its end, handed over whole: a big record value in
  // it takes the buffer instead of being copied (DecodeFrameTaking). Else as OnMessage.
  void OnFrameTaking(std::string buf, size_t at);
  // The same in two halves, so the decode (the frame's checksum, the record's, moving the
  // value: tens of ms for 100 MB) can run off the node's thread: the transport calls
  // DecodeFrameTaking (cluster/message.h; a pure function) with config().cluster_secret on
  // any thread, then OnDecoded with what it returned on the node's own. A transport may
  // deliver frames out of order, so the ones behind a big frame need not wait for it.
  void OnDecoded(const Status& decoded, Message& m);
  void OnTick();                           // call every few ms; drives timeouts + gossip

  // Client requests. r/w 0 = the key's default (its keyspace policy's, else the config's);
  // values outside [1, n] (the key's n) give InvalidArgument.
  // Read and Write take a client key (a plain record: a string, a counter, a collection's
  // header); ReadRecord and WriteRecord take a record key (cluster/key_layout.h), e.g. a
  // collection element's ElementKey().
  void Read(const std::string& key, int r, ReadCallback done);
  void ReadRecord(const std::string& rkey, int r, ReadCallback done);
  // The reaper's all-replica read (read_coordinator.h, `reaping`).
  void ReadForReap(const std::string& rkey, int r, ReadCallback done);
  // One page of a collection's elements (record keys starting with `prefix`, an
  // ElementPrefix()) after element `after` ("" = from the first): asks the collection's
  // preference list and answers at R replies with each element's joined record, in element
  // order. `limit` bounds the page (0 = all); `done` says no element is left after it.
  // Replicas whose copy of an element differed get the joined record (read repair).
  struct RangeReply {
    std::vector<std::pair<std::string, Record>> elements;  // (element, record)
    bool done = true;
  };
  using RangeCallback = std::function<void(Status, RangeReply)>;
  void ReadRange(const std::string& prefix, const std::string& after, size_t limit, int r,
                 RangeCallback done);
  // Where this node is the only replica of record key `rkey` (PlainRecordKey of a client
  // key; a standalone node, or N=1 placing the key here): the stored record, encoded
  // (DecodeRecordViews), seen through `see` during the call, without a copy. NotSupported
  // where other replicas hold the key, or where the row cache holds it (it keeps no big
  // record): read it with Read. NotFound when there is no record. A GET of a big value
  // copies it from here over several loop turns (server/commands_strings.cc).
  Status ViewOnlyCopy(const std::string& rkey, const std::function<void(std::string_view)>& see);
  // ReadRecord, except that where this node is the only replica a stored record of `big_at`
  // bytes or more comes back without its values, ReadReply::big set and ReadReply::rkey
  // naming it, so the caller can copy the value with ViewOnlyCopy over several turns
  // instead of in this one.
  void ReadLeavingBig(const std::string& rkey, size_t big_at, ReadCallback done);
  // A hint for a pipeline: call with stage 1 for each key about to be read or written, then
  // stage 2 for each, and so on to kPrefetchStages, then run the commands; their cache
  // misses then overlap.
  static constexpr int kPrefetchStages = 4;
  void Prefetch(std::string_view key, int stage);
  void Write(const std::string& key, WriteRequest req, WriteCallback done);
  void WriteRecord(const std::string& rkey, WriteRequest req, WriteCallback done);
  // A transaction whose keys share one slot (server EXEC): between BeginBatch and EndBatch,
  // reads are this replica's copy and writes to keys this node replicates are applied here
  // at once; EndBatch sends them to each replica as one message, applied there in one
  // commit, and calls `done` at W acknowledgements. Call both within one synchronous run
  // (nothing else may use the node in between). See docs/ARCHITECTURE.md, "Transactions".
  void BeginBatch();
  void EndBatch(WriteCallback done);

  // Local-only views for SCAN/KEYS/DBSIZE: visits this replica's live-or-dead records with
  // key strictly greater than start_after ("" = from the first key), in key order, at most
  // `limit` (0 = all) of them; the visitor returns false to stop.
  // Client keys only: a collection's elements are not visited. values = false: the records'
  // values are left empty (not copied), for walks that need only versions and kinds; a big
  // record's checksum is then not verified (DecodeRecordVersions), so load what you act on.
  Status ScanLocal(std::string_view start_after, size_t limit,
                   const std::function<bool(std::string_view key, const Record&)>& visit,
                   bool values = true);
  // The same over every local record, elements included, by record key (the reaper).
  Status ScanRecords(std::string_view start_after, size_t limit,
                     const std::function<bool(std::string_view rkey, const Record&)>& visit,
                     bool values = true);
  // CLUSTER COUNTKEYSINSLOT / GETKEYSINSLOT: this replica's live keys in partition p (one
  // range of the engine, so O(records of p)). *count gets how many there are; `keys`, if
  // given, the first `limit` of them in key order.
  Status LivePartitionKeys(uint32_t p, size_t limit, std::vector<std::string>* keys,
                           uint64_t* count);
  uint64_t LocalKeyCountEstimate();  // local records, tombstones included
  // Local records whose value was live when last written (what DBSIZE counts: like Redis,
  // a key whose TTL passed counts until it is reaped). O(1).
  uint64_t LocalLiveKeyCount() const;
  // Counts local stores of a record that can expire or be reaped (a sibling with a TTL, or a
  // tombstone). A background reaper that saw none in a full pass can sleep until it moves.
  uint64_t ExpiringWrites() const;

  // Cluster-wide keyspace walk (SCAN, KEYS): ScanMembers() is a stable snapshot of the nodes
  // to visit (reachable members, in id order; just this node when standalone). ScanNode asks
  // one of them for up to `limit` of its live keys after `start_after`; `done` says it has
  // no more; `last` is where to continue. The callback completes exactly once (Unavailable
  // after request_timeout_ms). A key lives on N nodes: callers keep it only from the first
  // node of its preference list that is in their snapshot (see OwnsForScan).
  using ScanCallback = std::function<void(Status, std::vector<std::string> keys,
                                          std::string last, bool done)>;
  std::vector<std::string> ScanMembers() const;
  void ScanNode(const std::string& node_id, const std::string& start_after, size_t limit,
                ScanCallback done);
  bool OwnsForScan(const std::string& node_id, const std::string& key,
                   const std::vector<std::string>& snapshot) const;
  Status FlushLocal();  // FLUSHALL: wipe this replica, rotate ActorId
  // The engine dropped writes it had accepted (a failed group commit): forget cached state
  // and recount the local records (O(records), on this rare path only).
  void DropCaches();
  // Background reaper: delete the local record of record key `key` if every sibling has been a
  // tombstone or expired for at least grace_ms (re-checked here). NotFound if it is alive.
  // expiry_grace_ms applies to values that expired (default: grace_ms).
  Status ReapLocal(const std::string& key, uint64_t grace_ms, uint64_t expiry_grace_ms = UINT64_MAX);
  // The same with the caller's own test (the clustered reaper ages records by its own
  // clock): deletes the local record if may_reap(record) holds and no hint for it is held.
  Status ReapLocalIf(const std::string& key, const std::function<bool(const Record&)>& may_reap);

  // DYNAMO SYNC: start an anti-entropy round with every reachable peer that shares replicas
  // with this node, now (or as soon as the local Merkle trees are built, if they are not
  // yet). Returns how many peers will be contacted; 0 when standalone. Works even with
  // ae_interval_ms = 0 (periodic rounds off).
  size_t SyncNow();
  // A clean stop, as the last write before the final commit: saves the anti-entropy
  // partition hashes that are current, so the next start hashes only what changed (a
  // restarted node of 1M keys otherwise rehashes all of them, ~10 s, before its first round).
  Status SaveForRestart();

  // Admin (DYNAMO ...). With auto_commit off, Join/Leave/Remove/Replace are validated and
  // staged (*staged = true) until Commit(); Plan() shows them and the partition moves they
  // imply under this node's view of the ring.
  std::vector<MemberInfo> Members() const;
  Status Join(const std::string& cluster_addr, bool* staged = nullptr);
  Status Leave(bool* staged = nullptr);
  Status Remove(const std::string& node_id, bool* staged = nullptr);
  // A dead node's replacement: the node at new_cluster_addr joins, then old_id is removed
  // (its partitions are re-replicated from the surviving replicas).
  Status Replace(const std::string& old_id, const std::string& new_cluster_addr,
                 bool* staged = nullptr);
  struct PlanInfo {
    std::vector<std::string> changes;  // "leave n3", "remove n4", ...
    struct NodeMoves {
      std::string id;
      uint32_t before = 0, after = 0;  // partition replicas held
    };
    std::vector<NodeMoves> nodes;
    uint32_t partitions_moving = 0;    // partitions whose preference list changes
  };
  PlanInfo Plan() const;
  Status Commit();  // InvalidArgument when nothing is planned
  void ClearPlan();
  // Ring: runs of consecutive partitions with the same preference list, in partition order.
  struct PartitionRange {
    uint32_t first = 0, last = 0;    // inclusive
    std::vector<std::string> owners; // node ids, coordinator first
    bool operator==(const PartitionRange&) const = default;
  };
  std::vector<PartitionRange> RingRanges() const;
  // Counts the ring changes this node has seen: 1 at start, +1 whenever the preference
  // lists may have changed (a member joined, left, was removed, changed weight or zone).
  // The server compares it per connection to send MOVED after a change (README,
  // "Cluster-aware clients"); O(1).
  uint64_t RingEpoch() const;
  // The first owner (coordinator) of partition p: an id, or "" on an empty (standalone) ring.
  const std::string& FirstOwner(uint32_t p) const;
  uint32_t PartitionsOwned() const;  // partitions this node holds a replica of

  // Ownership handoff: this node's outbound partition transfers, active and pending.
  struct TransferInfo {
    uint32_t partition = 0;
    std::string to;
    bool active = false;              // a chunk is on its way
    uint64_t records_sent = 0, bytes_sent = 0;
    uint64_t records_left = 0;        // estimate
    double records_per_s = 0;
  };
  std::vector<TransferInfo> Transfers() const;
  // Hinted records held here, by the node they are for (INFO's # Dynamo, DYNAMO STATUS).
  std::map<std::string, uint64_t> PendingHints() const;
  // The key's replicas (its keyspace's n of them), coordinator first, as node ids.
  std::vector<std::string> PreferenceList(const std::string& key) const;
  const Keyspaces& keyspaces() const;

  // Pub/sub fan-out (server/commands_pubsub.cc; README, "Pub/Sub"). Publish sends one
  // kPublish frame to every reachable member but this node (none when standalone) and
  // returns how many it sent; there is no ack and no retry: best effort, at most once per
  // node. A node hands every kPublish frame it receives to the handler, which delivers the
  // message to the subscribers connected there. sharded: SPUBLISH (shard channels).
  using PublishHandler =
      std::function<void(const std::string& channel, const std::string& message, bool sharded)>;
  size_t Publish(const std::string& channel, const std::string& message, bool sharded);
  void SetPublishHandler(PublishHandler handler);

  // A member's load (live keys, storage bytes) as it last reported it (every 5 s, kLoad);
  // false when it has not reported in the last 30 s. This node's own is always known.
  bool MemberLoad(const std::string& id, uint64_t* keys, uint64_t* bytes) const;

  const NodeConfig& config() const;
  ActorId actor() const;
  NodeStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dynakv::cluster
