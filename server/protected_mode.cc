// server/protected_mode.cc: the loopback test and the refusal texts of protected mode.
#include "server/protected_mode.h"

#include <netinet/in.h>

#include <cstring>

namespace dynakv::server {

bool IsLoopbackAddress(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr);
    return (a >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const uint8_t* b = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr.s6_addr;
    static const uint8_t kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (std::memcmp(b, kLoop6, 16) == 0) return true;
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(b, kMapped, 12) == 0 && b[12] == 127;
  }
  return false;  // unix sockets are not used by dynakv
}

bool ProtectedModeRefuses(const Config& cfg, const sockaddr* peer) {
  return cfg.protected_mode && cfg.requirepass.empty() && !IsLoopbackAddress(peer);
}

std::string_view ProtectedModeRespError() {
  // Byte for byte what redis-server 7.0 sends (typo in 4) included), so clients and tools
  // that recognise it keep working.
  static constexpr std::string_view kMsg =
      "-DENIED Redis is running in protected mode because protected mode is enabled and no "
      "password is set for the default user. In this mode connections are only accepted from "
      "the loopback interface. If you want to connect from external computers to Redis you may "
      "adopt one of the following solutions: 1) Just disable protected mode sending the command "
      "'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from "
      "the same host the server is running, however MAKE SURE Redis is not publicly accessible "
      "from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) "
      "Alternatively you can just disable the protected mode by editing the Redis configuration "
      "file, and setting the protected mode option to 'no', and then restarting the server. 3) "
      "If you started the server manually just for testing, restart it with the "
      "'--protected-mode no' option. 4) Setup a an authentication password for the default "
      "user. NOTE: You only need to do one of the above things in order for the server to start "
      "accepting connections from the outside.\r\n";
  return kMsg;
}

std::string_view ProtectedModeMemcacheError() {
  static constexpr std::string_view kMsg =
      "SERVER_ERROR dynakv is running in protected mode because protected mode is enabled and "
      "no password is set (security.requirepass). In this mode connections are only accepted "
      "from the loopback interface. To accept connections from other hosts, either set "
      "security.requirepass, or set security.protected_mode = false (--security.protected_mode "
      "false) after making sure the node is not reachable from the internet, and restart the "
      "node.\r\n";
  return kMsg;
}

}  // namespace dynakv::server
