// server/sort.h: the pure engine of SORT / SORT_RO (no I/O): option parsing, BY/GET pattern
// substitution, ordering and LIMIT, the GET projection, all with Redis 7's rules.
//
// The elements to sort come from a SortSource (a list, set or sorted set, in its native
// order), so the command handler (server/commands_bits.cc) only has to say how a key's
// elements are read (lists, sets and sorted sets). Values that BY and
// GET patterns name are looked up through a Lookup the handler fills from reads it has done.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynakv::server::sort {

struct SortSpec {
  bool desc = false;
  bool alpha = false;
  int64_t limit_start = 0;
  int64_t limit_count = -1;  // < 0: to the end
  bool has_by = false;
  std::string by;
  bool dontsort = false;  // BY a pattern without '*': keep the source's order
  std::vector<std::string> gets;
  bool has_store = false;
  std::string store;
};

// Parses SORT's options (args[2..]). readonly (SORT_RO) refuses STORE as a syntax error.
// Returns "" or the Redis error text.
std::string ParseSort(const std::vector<std::string>& args, bool readonly, SortSpec* out);

// What a BY/GET pattern names for one element.
struct PatternRef {
  enum Kind { kNone, kSelf, kKey } kind = kNone;  // kNone: no '*' (always nil); kSelf: "#"
  std::string key;
  bool has_field = false;  // "key*->field": a hash field
  std::string field;
};
PatternRef Substitute(std::string_view pattern, std::string_view elem);

enum class SourceKind { kList, kSet, kZset };
struct SortSource {
  SourceKind kind = SourceKind::kList;
  std::vector<std::string> elems;  // native order (a list's order, a zset's by score)
};

// The value a pattern reference resolves to: nullopt when the key is missing or not of the
// type the reference needs (a string; a hash for "->field").
using Lookup = std::function<std::optional<std::string>(const PatternRef&)>;

// The keys a pattern reads for these elements (kKey references, duplicates removed).
std::vector<PatternRef> PatternKeys(std::string_view pattern, const std::vector<std::string>& elems);

// Orders the source by the spec (ASC/DESC, ALPHA, BY, LIMIT) and returns the selected
// elements in *out, or the Redis error text ("" on success). `by` resolves BY references.
std::string Order(const SortSpec& spec, SortSource src, const Lookup& by, std::vector<std::string>* out);

// The reply rows: the elements themselves without GET, else one value per GET pattern per
// element (nullopt = nil).
std::vector<std::optional<std::string>> Project(const SortSpec& spec,
                                                const std::vector<std::string>& ordered,
                                                const Lookup& get);

}  // namespace dynakv::server::sort
