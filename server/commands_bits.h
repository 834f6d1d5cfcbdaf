// server/commands_bits.h: the element source SORT / SORT_RO read a key through.
//
// SORT's engine (server/sort.h) sorts whatever elements a key holds; how a key's elements are
// read is this one function. CollectionSortSource reads a set's members (in
// byte order) and a sorted set's (by score); a missing key has none; a string or a hash
// answers WRONGTYPE. (Lists, once they exist, join it.)
// Thread-safety: loop thread only.
#pragma once

#include <functional>
#include <string>

#include "server/commands.h"
#include "server/sort.h"

namespace dynakv::server {

// done(status, wrong_type, source): status not OK for an unavailable read; wrong_type when
// the key holds a type SORT refuses; else source (empty for a missing key).
using SortSourceDone = std::function<void(Status, bool wrong_type, sort::SortSource)>;

void CollectionSortSource(Server* s, const std::string& key, SortSourceDone done);

}  // namespace dynakv::server
