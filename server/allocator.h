// server/allocator.h: how the server's allocator (jemalloc, linked into dynakv-server only)
// places and returns big buffers. See docs/ARCHITECTURE.md, "Big values".
#pragma once

namespace dynakv::server {

// Called once at start, before the first big allocation. Buffers of 2 MB and more (values,
// records, log batches, replies) live in jemalloc's oversize arena, which this gives
// transparent huge pages (madvise MADV_HUGEPAGE on each extent it maps: one page fault per
// 2 MB instead of 512) and the same 10 s decay as the other arenas (jemalloc's own default
// for that arena returns its pages at once, so every big value was copied into fresh pages).
// A no-op where jemalloc is not linked (the test binaries); returns false then, or if
// jemalloc refused a setting.
bool TuneAllocator();

// Returns to the OS the freed pages whose decay time has passed (called every 2 s by the
// reaper timer): an idle node shrinks within about 10 s of its last big value, while a
// stream of big values keeps reusing pages already faulted in.
void ReleaseFreedMemory();

}  // namespace dynakv::server
