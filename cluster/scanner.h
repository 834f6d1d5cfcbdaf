// cluster/scanner.h: the cluster-wide keyspace walk behind SCAN, KEYS and DBSIZE. A walk
// visits a stable snapshot of the members one page at a time; each node answers a page of
// its own live keys; a key lives on N nodes, so callers keep it only from the first node of
// its preference list that is in their snapshot (OwnsForScan). See node.h for the contract
// and docs/ARCHITECTURE.md, "Scans".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cluster/node.h"
#include "cluster/node_context.h"

namespace dynakv::cluster {

class Scanner {
 public:
  explicit Scanner(NodeContext* ctx) : ctx_(ctx) {}

  std::vector<std::string> Members() const;
  void ScanNode(const std::string& node_id, const std::string& start_after, size_t limit,
                Node::ScanCallback done);
  bool OwnsForScan(const std::string& node_id, const std::string& key,
                   const std::vector<std::string>& snapshot) const;
  void OnScanReq(const Message& m);
  void OnScanResp(Message& m);
  void Expire(uint64_t id);

 private:
  // One page of live local keys after start_after. *last is the last key visited (live or
  // not), *done when the scan reached the end.
  Status LivePage(const std::string& start_after, size_t limit, std::vector<std::string>* keys,
                  std::string* last, bool* done);

  NodeContext* ctx_;
  std::map<uint64_t, Node::ScanCallback> scans_;
};

}  // namespace dynakv::cluster
