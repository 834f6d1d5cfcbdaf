// server/main.cc: dynakv-server entry point: parse config, start the node, run the loop.
#include <cstdio>

#include "server/config.h"
#include "server/server.h"

// jemalloc (linked into this binary only, server/CMakeLists.txt) reads this at start. Its
// decay purges a freed large extent at once, so every 100 MB value was copied into freshly
// faulted pages (about 2.5 ms per MB on our VMs, 60x a copy into reused pages). Freed pages
// stay with the process instead, and Server::OnReaper hands them back every 2 s
// (ReleaseFreedMemory): a burst of big values reuses its memory, and an idle node still
// shrinks. MALLOC_CONF in the environment overrides this. (docs/ARCHITECTURE.md, "Big values")
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1";
}

int main(int argc, char** argv) {
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
