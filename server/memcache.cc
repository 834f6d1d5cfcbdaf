// server/memcache.cc: memcached protocol connections (replaced by the memcached front end).
#include "server/server.h"

namespace dynakv::server {

void Server::HandleMemcacheInput(const std::shared_ptr<Client>& c, const char* data, size_t len) {
  c->waiting.emplace_back();
  ReplyTo(c, &c->waiting.back()).SendRaw("SERVER_ERROR memcached protocol not enabled in this build\r\n");
  c->close_after_flush = true;
}

}  // namespace dynakv::server
