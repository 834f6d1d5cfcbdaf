// server/commands_bits.h: the element source SORT / SORT_RO read a key through.
//
// SORT's engine (server/sort.h) sorts whatever elements a key holds; how a key's elements are
// read is this one function. Only strings exist today, so the default source answers "no
// elements" for a missing key and WRONGTYPE for a string. A data type that SORT accepts
// (lists, sets, sorted sets) installs a source that returns its elements in native order.
// Thread-safety: loop thread only (set it before the server starts serving).
#pragma once

#include <functional>
#include <string>

#include "server/commands.h"
#include "server/sort.h"

namespace dynakv::server {

// done(status, wrong_type, source): status not OK for an unavailable read; wrong_type when
// the key holds a type SORT refuses; else source (empty for a missing key).
using SortSourceDone = std::function<void(Status, bool wrong_type, sort::SortSource)>;
using SortSourceFn = std::function<void(Server* s, const std::string& key, SortSourceDone done)>;

// The source SORT uses; the default is StringsOnlySortSource.
void SetSortSource(SortSourceFn fn);
void StringsOnlySortSource(Server* s, const std::string& key, SortSourceDone done);

}  // namespace dynakv::server
