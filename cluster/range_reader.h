// cluster/range_reader.h: quorum reads of one collection's elements (Node::ReadRange).
//
// A collection's elements are records whose keys share an ElementPrefix (key_layout.h), so
// they sit in one partition, on one preference list, as one ordered range of each
// replica's store. A range read asks R replicas of the list for a page of that range
// (kRangeReq; the others are spares, asked as a point read asks them), answers once R
// replied, and joins the pages element by element. A replica whose page was cut by the
// limit has not said what lies past its last element, so the answer stops at the smallest
// such last element: every element up to it is the join of R complete views. Once every
// asked replica answered (or the deadline passed), each one whose copy of an element
// differed from the join gets it (read repair, per element).
// See docs/ARCHITECTURE.md, "Collections".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cluster/node.h"
#include "cluster/node_context.h"
#include "cluster/quorum.h"

namespace dynakv::cluster {

class RangeReader {
 public:
  explicit RangeReader(NodeContext* ctx) : ctx_(ctx) {}

  void Read(const std::string& prefix, const std::string& after, size_t limit, int r,
            Node::RangeCallback done);
  void OnRangeReq(const Message& m);    // replica side: a page of the local range
  void OnRangeResp(Message& m);
  void Expire(uint64_t id);
  // Asks the spares of every read that has waited its retry wait (call every tick).
  void OnTick(uint64_t now_ms);

  // A page of at most this many elements per request (and per replica reply).
  static constexpr size_t kMaxPage = 10000;

 private:
  struct Page {
    std::string node;
    std::vector<std::pair<std::string, Record>> elements;
    bool end = true;
  };
  struct Pending {
    std::string prefix;
    std::string after;  // the page starts past this element
    size_t limit = 0;
    size_t r = 1;
    std::vector<std::string> waiting;  // asked, not yet answered
    std::vector<std::string> spares;   // replicas not asked yet
    uint64_t started_ms = 0;
    uint64_t retry_at_ms = 0;  // when the spares are asked if the read is unanswered
    std::vector<Page> pages;           // good replies
    bool answered = false;
    Node::RangeCallback cb;
  };
  void Ask(uint64_t id, std::string replica, Pending* p);  // a kRangeReq; expect its page
  void AskSpares(uint64_t id, Pending* p);
  void Add(uint64_t id, const std::string& from, const Status& s, Page page);
  void Progress(uint64_t id);
  static Node::RangeReply Joined(Pending& p);  // the good replies joined, copied
  Node::RangeReply JoinAndRepair(Pending* p);  // joined, moved; read repair of the rest

  NodeContext* ctx_;
  std::map<uint64_t, Pending> reads_;
  RetryWait retry_wait_;  // when a read asks its spares (quorum.h)
};

// The join of replica pages (exposed for tests; the pages are not changed): elements in
// order, cut at the smallest last element of a page that did not reach the end; done when
// no page was cut.
Node::RangeReply JoinPages(const std::vector<std::vector<std::pair<std::string, Record>>*>& pages,
                           const std::vector<bool>& ends);

}  // namespace dynakv::cluster
