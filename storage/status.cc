// storage/status.cc: the always-on invariant failure path.
#include "storage/status.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "storage/engine.h"

#include <xxhash.h>

namespace dynakv {

void AssertFail(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "dynakv: invariant failed: %s at %s:%d\n", expr, file, line);
  std::fflush(stderr);
  std::abort();
}

namespace storage {

void Engine::FillPieces(char* to, const char* records, size_t len, const std::vector<CommitTicket::Piece>& pieces) {
  char* const start = to;
  size_t from = 0;
  for (const CommitTicket::Piece& p : pieces) {
    if (p.at > from) std::memcpy(to, records + from, p.at - from);
    to += p.at - from;
    if (p.len > 0) std::memcpy(to, p.data, p.len);
    to += p.len;
    len -= p.at - from + p.len;
    from = p.at;
  }
  if (len > 0) std::memcpy(to, records + from, len);
  for (const CommitTicket::Piece& p : pieces) {  // the log record format: storage/lmdb_engine.cc
    char* head = start + p.sum_at;
    uint32_t rec_len = 0, sum = 0;
    std::memcpy(&rec_len, head, 4);
    std::memcpy(&sum, head + 4, 4);
    sum ^= static_cast<uint32_t>(XXH3_64bits(head + 8, rec_len & ~(1u << 31)));
    std::memcpy(head + 4, &sum, 4);
  }
}

Status Engine::SyncTicket(const CommitTicket& t) {
  if (!t.needs_sync || t.fd < 0) return Status::OK();
  if (t.dir_fd >= 0) {
    while (::fsync(t.dir_fd) != 0) {
      if (errno == EINTR) continue;
      return Status::IOError(std::string("write-ahead log directory fsync: ") + std::strerror(errno));
    }
  }
  if (t.data != nullptr) {  // O_DIRECT|O_DSYNC: durable when the write returns
    if (t.fill_to != nullptr) {
      FillPieces(t.fill_to, t.fill_from, t.fill_len, t.fill_refs);
      std::memset(t.fill_to + t.fill_len, 0, t.len - t.fill_len);
      if (t.has_pad) std::memcpy(t.fill_to + t.fill_len, t.pad_head, sizeof t.pad_head);
    }
    size_t done = 0;
    while (done < t.len) {
      ssize_t n = ::pwrite(t.fd, t.data + done, t.len - done, static_cast<off_t>(t.offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = n < 0 ? errno : ENOSPC;
        std::string msg = std::string("write-ahead log write: ") + std::strerror(err);
        if (err == ENOSPC || err == EFBIG || err == EDQUOT) return Status::NoSpace(msg);
        return Status::IOError(msg);
      }
      done += static_cast<size_t>(n);
    }
    return Status::OK();
  }
  while (::fdatasync(t.fd) != 0) {
    if (errno == EINTR) continue;
    return Status::IOError(std::string("write-ahead log fsync: ") + std::strerror(errno));
  }
  return Status::OK();
}

}  // namespace storage
}  // namespace dynakv
