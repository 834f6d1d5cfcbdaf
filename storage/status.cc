// storage/status.cc: the always-on invariant failure path.
#include "storage/status.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "storage/engine.h"

namespace dynakv {

void AssertFail(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "dynakv: invariant failed: %s at %s:%d\n", expr, file, line);
  std::fflush(stderr);
  std::abort();
}

namespace storage {

Status Engine::SyncTicket(const CommitTicket& t) {
  if (!t.needs_sync || t.fd < 0) return Status::OK();
  while (::fdatasync(t.fd) != 0) {
    if (errno == EINTR) continue;
    return Status::IOError(std::string("write-ahead log fsync: ") + std::strerror(errno));
  }
  return Status::OK();
}

}  // namespace storage
}  // namespace dynakv
