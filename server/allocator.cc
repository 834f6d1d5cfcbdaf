// server/allocator.cc: see allocator.h. jemalloc's control interface is reached through
// weak references, so the server library links and runs without jemalloc (its test binaries
// use the system allocator); then every call here does nothing.
#include "server/allocator.h"

#include <jemalloc/jemalloc.h>
#include <sys/mman.h>
#include <sys/types.h>

#include <cstdlib>
#include <string>

#pragma weak mallctl

namespace dynakv::server {
namespace {

constexpr int kOversizePurgeCalls = 5;  // ReleaseFreedMemory runs every 2 s: every 10 s
constexpr size_t kProbeBytes = 16u << 20;  // above any oversize_threshold we set

extent_hooks_t* g_default_hooks = nullptr;
extent_hooks_t g_hooks;
std::string g_oversize_purge;  // "arena.<oversize>.purge", once tuned
int g_release_calls = 0;

// The oversize arena's extent allocation: jemalloc's own, then huge pages for the range.
void* AllocHuge(extent_hooks_t*, void* new_addr, size_t size, size_t alignment, bool* zero,
                bool* commit, unsigned arena_ind) {
  void* p = g_default_hooks->alloc(g_default_hooks, new_addr, size, alignment, zero, commit,
                                   arena_ind);
  if (p != nullptr) (void)::madvise(p, size, MADV_HUGEPAGE);  // advice: failure is harmless
  return p;
}

bool Ctl(const std::string& name, void* newp, size_t newlen, void* oldp = nullptr,
         size_t* oldlenp = nullptr) {
  return mallctl(name.c_str(), oldp, oldlenp, newp, newlen) == 0;
}

}  // namespace

bool TuneAllocator() {
  if (mallctl == nullptr) return false;
  // The oversize arena is made by the first allocation above opt.oversize_threshold; make
  // one and ask which arena holds it. Without that arena (MALLOC_CONF set the threshold to
  // 0, or above the probe) the probe would land in an ordinary arena: leave jemalloc as is.
  size_t threshold = 0;
  size_t len = sizeof(threshold);
  if (!Ctl("opt.oversize_threshold", nullptr, 0, &threshold, &len) || threshold == 0 ||
      threshold > kProbeBytes) {
    return false;
  }
  void* probe = std::malloc(kProbeBytes);
  if (probe == nullptr) return false;
  unsigned arena = 0;
  len = sizeof(arena);
  bool ok = Ctl("arenas.lookup", &probe, sizeof(probe), &arena, &len);
  std::free(probe);
  if (!ok) return false;
  const std::string prefix = "arena." + std::to_string(arena) + ".";
  // No decay in this arena: jemalloc's decay returns a lone freed extent to the OS within
  // one decay step (it purges whole extents once the dirty pages exceed the curve's limit),
  // so a freed 100 MB buffer would be gone at the next ReleaseFreedMemory. It is purged
  // whole every kOversizePurgeCalls calls instead.
  ssize_t decay = -1;
  ok = Ctl(prefix + "dirty_decay_ms", &decay, sizeof(decay));
  if (ok) g_oversize_purge = prefix + "purge";
  if (g_default_hooks == nullptr) {
    len = sizeof(g_default_hooks);
    extent_hooks_t* current = nullptr;
    if (!Ctl(prefix + "extent_hooks", nullptr, 0, &current, &len) || current == nullptr) return false;
    g_default_hooks = current;
    g_hooks = *current;
    g_hooks.alloc = AllocHuge;
    extent_hooks_t* mine = &g_hooks;
    ok = Ctl(prefix + "extent_hooks", &mine, sizeof(mine)) && ok;
  }
  return ok;
}

void ReleaseFreedMemory() {
  if (mallctl == nullptr) return;
  (void)mallctl("arena.4096.decay", nullptr, nullptr, nullptr, 0);  // 4096: every arena
  if (!g_oversize_purge.empty() && ++g_release_calls % kOversizePurgeCalls == 0) {
    (void)mallctl(g_oversize_purge.c_str(), nullptr, nullptr, nullptr, 0);
  }
}

}  // namespace dynakv::server
