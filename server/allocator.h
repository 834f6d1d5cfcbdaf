// server/allocator.h: how the server's allocator (jemalloc, linked into dynakv-server only)
// places and returns big buffers. See docs/ARCHITECTURE.md, "Big values".
#pragma once

namespace dynakv::server {

// Called once at start, before the first big allocation. Buffers of 2 MB and more (values,
// records, log batches, replies) live in jemalloc's oversize arena, which this gives
// transparent huge pages (madvise MADV_HUGEPAGE on each extent it maps: one page fault per
// 2 MB instead of 512) and no decay: its freed buffers are kept for reuse until
// ReleaseFreedMemory purges the arena (jemalloc's default for that arena returns them at
// once, so every big value was copied into fresh pages). A no-op where jemalloc is not
// linked (the test binaries); returns false then, if MALLOC_CONF turned the oversize arena
// off, or if jemalloc refused a setting.
bool TuneAllocator();

// Called every 2 s by the reaper timer: returns to the OS the freed pages of the ordinary
// arenas whose decay time (jemalloc's default, 10 s) has passed, and, every 10 s, all freed
// pages of the oversize arena. So a stream of big values reuses pages already faulted in
// (for up to 10 s), and an idle node shrinks within about 10 s.
void ReleaseFreedMemory();

}  // namespace dynakv::server
