// cluster/quorum.h: the pure quorum logic of a read and a write, in the manner of Riak's
// get_core/put_core: what has answered, whether the request can still succeed, whether it
// has, and (reads) who answered with a stale copy and needs read repair. No I/O, no timers,
// no callbacks: the coordinators (read_coordinator.h, write_coordinator.h) drive these.
// See docs/ARCHITECTURE.md, "The path of a request".
//
// Thread-safety: value types.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cluster/version.h"
#include "storage/status.h"

namespace dynakv::cluster {

enum class Verdict { kPending, kSucceeded, kFailed };

// The request's outcome once the verdict is in: false while pending; else *s is OK or
// Unavailable(failure).
inline bool Decided(Verdict v, const char* failure, Status* s) {
  if (v == Verdict::kPending) return false;
  *s = v == Verdict::kSucceeded ? Status::OK() : Status::Unavailable(failure);
  return true;
}

// A read that needs r good replies out of the replicas asked. Replies are Joined as they
// come (the DVV sync), so the answer holds every sibling any replica had.
class ReadQuorum {
 public:
  struct Reply {
    std::string node;
    Record record;
  };

  explicit ReadQuorum(int r = 0) : r_(static_cast<size_t>(r)) {}
  // Room for `n` replicas, so Expect and Add do not grow the vectors one by one.
  void Reserve(size_t n) {
    targets_.reserve(n);
    replies_.reserve(n);
  }

  void Expect(std::string node) { targets_.push_back(std::move(node)); }
  // False (and nothing changes) for a node not asked or that answered already.
  bool Add(const std::string& from, bool ok, Record rec) {
    auto t = std::find(targets_.begin(), targets_.end(), from);
    if (t == targets_.end()) return false;
    targets_.erase(t);
    if (ok) {
      // Replicas mostly agree: joining a record with itself changes nothing (a join is
      // idempotent), so an equal reply (the same writes: SameRecord) skips the join; and
      // the first reply, when already canonical, is the join so far as it is, without a
      // copy (JoinKeeps).
      // A big value moves into the join rather than being copied (JoinTakingValues): the
      // replies are only compared by their writes afterwards (SameRecord).
      if (replies_.empty()) {
        first_is_joined_ = JoinKeeps(rec);
        if (!first_is_joined_) joined_ = cluster::JoinTakingValues(joined_, rec);
      } else if (!SameRecord(rec, joined())) {
        joined_ = first_is_joined_ ? cluster::JoinTakingValues(replies_.front().record, rec)
                                   : cluster::JoinTakingValues(joined_, rec);
        first_is_joined_ = false;
      }
      replies_.push_back({from, std::move(rec)});
    } else {
      ++failed_;
    }
    return true;
  }
  Verdict Check() const {
    if (replies_.size() >= r_) return Verdict::kSucceeded;
    if (replies_.size() + targets_.size() < r_) return Verdict::kFailed;
    return Verdict::kPending;
  }
  bool AllIn() const { return targets_.empty(); }
  const Record& joined() const { return first_is_joined_ ? replies_.front().record : joined_; }
  // The good replies; those whose record differs from joined() (!SameRecord) need read
  // repair.
  const std::vector<Reply>& replies() const { return replies_; }
  // Moves joined() out; the quorum is then spent (read it no more).
  Record TakeJoined() { return first_is_joined_ ? std::move(replies_.front().record) : std::move(joined_); }

 private:
  size_t r_;
  std::vector<std::string> targets_;  // asked, not yet answered
  std::vector<Reply> replies_;        // good replies
  size_t failed_ = 0;
  Record joined_;                 // the join of the replies, unless first_is_joined_
  bool first_is_joined_ = false;  // the join is replies_.front().record itself
};

// When a read asks its spares (docs/ARCHITECTURE.md, "Reads ask R replicas"), from how long
// replicas have been taking to answer as this node sees it: a decaying maximum, in 1/64 ms
// (each reply takes 1/64 off, so a burst of slow replies is forgotten after a few hundred
// fast ones). A read waits twice this, at least retry_ms, so an overloaded node (whose
// replies wait in its own queue) does not double its load with retries; and at most a
// quarter of the request's time, so a spare always has the rest to answer (one reply slowed
// by a reconnecting peer link must not push retries past the timeout). Point reads and
// range reads each keep one.
class RetryWait {
 public:
  void Note(uint64_t took_ms) { ms64_ = std::max(took_ms << 6, ms64_ - (ms64_ >> 6)); }
  uint64_t For(uint64_t retry_ms, uint64_t timeout_ms) const {
    uint64_t wait = std::max(retry_ms, 2 * (ms64_ >> 6));
    return std::min(wait, std::max(retry_ms, timeout_ms / 4));
  }

 private:
  uint64_t ms64_ = 0;
};

// A write that needs w acknowledgements; the coordinator's own durable copy counts as one.
class WriteQuorum {
 public:
  explicit WriteQuorum(int w = 0, size_t local_acks = 0)
      : w_(static_cast<size_t>(w)), acks_(local_acks) {}

  void Reserve(size_t n) { awaiting_.reserve(n); }
  void Expect(std::string node) { awaiting_.push_back(std::move(node)); }
  // False for a node not asked or that answered already (a duplicate or stray ack).
  bool Ack(const std::string& from, bool ok) {
    auto a = std::find(awaiting_.begin(), awaiting_.end(), from);
    if (a == awaiting_.end()) return false;
    awaiting_.erase(a);
    if (ok) {
      ++acks_;
    } else {
      ++failed_;
    }
    return true;
  }
  size_t acks() const { return acks_; }
  bool AllAnswered() const { return awaiting_.empty(); }
  Verdict Check() const {
    if (acks_ >= w_) return Verdict::kSucceeded;
    if (acks_ + awaiting_.size() < w_) return Verdict::kFailed;
    return Verdict::kPending;
  }

 private:
  size_t w_;
  std::vector<std::string> awaiting_;  // node ids (hint holders included) not yet acked
  size_t acks_ = 0, failed_ = 0;
};

}  // namespace dynakv::cluster
