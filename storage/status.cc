// storage/status.cc: the always-on invariant failure path.
#include "storage/status.h"

#include <cstdio>
#include <cstdlib>

namespace dynakv {

void AssertFail(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "dynakv: invariant failed: %s at %s:%d\n", expr, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace dynakv
