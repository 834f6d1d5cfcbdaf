// server/main.cc: dynakv-server entry point: parse config, start the node, run the loop.
#include <cstdio>

#include "server/allocator.h"
#include "server/config.h"
#include "server/server.h"

// jemalloc (linked into this binary only, server/CMakeLists.txt) reads this at start:
// allocations of 2 MB and more go to its oversize arena, which TuneAllocator gives huge pages
// and keeps for reuse up to 10 s (server/allocator.h); the other arenas decay over 10 s.
// MALLOC_CONF in the environment overrides this. (docs/ARCHITECTURE.md, "Big values")
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "dirty_decay_ms:10000,muzzy_decay_ms:0,oversize_threshold:2097152";
}

int main(int argc, char** argv) {
  dynakv::server::TuneAllocator();
  dynakv::server::Config cfg;
  bool help = false;
  dynakv::Status s = dynakv::server::ParseCommandLine(argc, argv, &cfg, &help);
  if (help) {
    std::fputs(dynakv::server::HelpText().c_str(), stdout);
    return 0;
  }
  if (!s.ok()) {
    std::fprintf(stderr, "dynakv-server: configuration error: %s\n", s.message().c_str());
    return 2;
  }
  dynakv::server::Server server(cfg);
  if (dynakv::Status st = server.Init(); !st.ok()) {
    std::fprintf(stderr, "dynakv-server: cannot start: %s\n", st.ToString().c_str());
    return 1;
  }
  return server.Run();
}
