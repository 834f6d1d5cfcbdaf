// server/main.cc: dynakv-server entry point: parse config, start the node, run the loop.
#include <cstdio>

#include "server/config.h"
#include "server/server.h"

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
