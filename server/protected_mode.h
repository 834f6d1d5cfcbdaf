// server/protected_mode.h: Redis's protected mode. With security.protected_mode on (the
// default) and no security.requirepass, a client that does not connect from a loopback address
// (127.0.0.0/8, ::1, or those as IPv4-mapped IPv6) gets one explanatory error and is
// disconnected before any command runs: an unauthenticated node is reachable from the same
// host only. Loopback listeners never see such clients, so only nodes bound to another address
// (0.0.0.0, a LAN address) are affected. The README's "Security" section says how to open up.
// Thread-safety: pure functions.
#pragma once

#include <sys/socket.h>

#include <string_view>

#include "server/config.h"

namespace dynakv::server {

// True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
bool IsLoopbackAddress(const sockaddr* sa);

// Whether a client from `peer` must be refused under cfg (protected mode, no password).
bool ProtectedModeRefuses(const Config& cfg, const sockaddr* peer);

// What the refused client is told: Redis 7's -DENIED line (RESP port) and a SERVER_ERROR line
// of the same content (memcached port). Both end in \r\n.
std::string_view ProtectedModeRespError();
std::string_view ProtectedModeMemcacheError();

}  // namespace dynakv::server
