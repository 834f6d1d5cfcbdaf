// server/sort.cc: see sort.h. Follows Redis 7's sort.c: the parse order of options, the LIMIT
// clamping, numeric scores by strtod (a missing BY value scores 0, ties broken by comparing
// the elements), ALPHA as a byte comparison (Redis's strcoll in the C locale), the source's
// own order for BY without '*', and lookupKeyByPattern's substitution.
#include "server/sort.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>

#include "protocol/resp.h"

namespace dynakv::server::sort {

namespace {

bool EqualsNoCase(std::string_view s, const char* lower) {
  size_t n = std::strlen(lower);
  if (s.size() != n) return false;
  for (size_t i = 0; i < n; i++) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != lower[i]) return false;
  }
  return true;
}

// Redis's compareStringObjects: bytes, then length.
int CompareBytes(std::string_view a, std::string_view b) {
  int c = a.compare(b);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

struct Item {
  std::string elem;
  double score = 0;
  std::optional<std::string> cmp;  // ALPHA with BY: the BY value (nullopt when missing)
};

}  // namespace

std::string ParseSort(const std::vector<std::string>& args, bool readonly, SortSpec* out) {
  *out = SortSpec{};
  for (size_t j = 2; j < args.size(); j++) {
    size_t left = args.size() - j - 1;
    const std::string& o = args[j];
    if (EqualsNoCase(o, "asc")) {
      out->desc = false;
    } else if (EqualsNoCase(o, "desc")) {
      out->desc = true;
    } else if (EqualsNoCase(o, "alpha")) {
      out->alpha = true;
    } else if (EqualsNoCase(o, "limit") && left >= 2) {
      if (!protocol::ParseRedisInt(args[j + 1], &out->limit_start) ||
          !protocol::ParseRedisInt(args[j + 2], &out->limit_count)) {
        return "ERR value is not an integer or out of range";
      }
      j += 2;
    } else if (!readonly && EqualsNoCase(o, "store") && left >= 1) {
      out->has_store = true;
      out->store = args[++j];
    } else if (EqualsNoCase(o, "by") && left >= 1) {
      out->has_by = true;
      out->by = args[++j];
      // A BY pattern without '*' names the same key for every element: nothing to sort by.
      // (Redis looks for the '*' with strchr, so it stops at a NUL byte.)
      std::string_view upto(out->by.c_str());
      out->dontsort = upto.find('*') == std::string_view::npos;
    } else if (EqualsNoCase(o, "get") && left >= 1) {
      out->gets.push_back(args[++j]);
    } else {
      return "ERR syntax error";
    }
  }
  return "";
}

PatternRef Substitute(std::string_view pattern, std::string_view elem) {
  PatternRef r;
  if (pattern == "#") {
    r.kind = PatternRef::kSelf;
    return r;
  }
  size_t star = pattern.find('*');
  size_t nul = pattern.find('\0');
  if (star == std::string_view::npos || (nul != std::string_view::npos && nul < star)) return r;
  std::string_view rest = pattern.substr(star + 1);
  size_t arrow = rest.find("->");
  std::string_view postfix = rest;
  if (arrow != std::string_view::npos && arrow + 2 < rest.size()) {
    r.has_field = true;
    r.field = std::string(rest.substr(arrow + 2));
    postfix = rest.substr(0, arrow);
  }
  r.kind = PatternRef::kKey;
  r.key.reserve(star + elem.size() + postfix.size());
  r.key.append(pattern.substr(0, star)).append(elem).append(postfix);
  return r;
}

std::vector<PatternRef> PatternKeys(std::string_view pattern, const std::vector<std::string>& elems) {
  std::vector<PatternRef> out;
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& e : elems) {
    PatternRef r = Substitute(pattern, e);
    if (r.kind != PatternRef::kKey) continue;
    if (seen.emplace(r.key, r.has_field ? "\x01" + r.field : std::string()).second) out.push_back(std::move(r));
  }
  return out;
}

std::string Order(const SortSpec& spec, SortSource src, const Lookup& by, std::vector<std::string>* out) {
  out->clear();
  const int64_t n = int64_t(src.elems.size());
  bool dontsort = spec.dontsort;
  bool alpha = spec.alpha;
  bool use_by = spec.has_by;
  // A set has no order of its own: with STORE Redis sorts it (ALPHA, no BY) so replicas agree.
  if (dontsort && src.kind == SourceKind::kSet && spec.has_store) {
    dontsort = false;
    alpha = true;
    use_by = false;
  }
  // LIMIT, clamped as Redis does (in 128 bits: start + count may not fit in 64).
  __int128 start = spec.limit_start < 0 ? 0 : spec.limit_start;
  __int128 end = spec.limit_count < 0 ? __int128(n) - 1 : start + spec.limit_count - 1;
  if (start >= n) {
    start = __int128(n) - 1;
    end = __int128(n) - 2;
  }
  if (end >= n) end = __int128(n) - 1;

  std::vector<Item> items(src.elems.size());
  for (size_t i = 0; i < src.elems.size(); i++) items[i].elem = std::move(src.elems[i]);
  if (dontsort) {
    // Lists and sorted sets keep their order, read backwards for DESC; a set's order is its own.
    if (spec.desc && src.kind != SourceKind::kSet) std::reverse(items.begin(), items.end());
  } else {
    bool conversion_error = false;
    for (auto& it : items) {
      std::optional<std::string> byval;
      const std::string* val = &it.elem;
      if (use_by) {
        byval = by(Substitute(spec.by, it.elem));
        if (!byval) continue;  // missing: scores 0, compares lowest under ALPHA
        val = &*byval;
      }
      if (alpha) {
        if (use_by) it.cmp = std::move(byval);
      } else {
        // strtod over the C string, as Redis: leading spaces and hex are fine, trailing
        // garbage, out-of-range values and NaN are not.
        errno = 0;
        char* eptr = nullptr;
        it.score = std::strtod(val->c_str(), &eptr);
        if (*eptr != '\0' || errno == ERANGE || std::isnan(it.score)) conversion_error = true;
      }
    }
    if (conversion_error) return "ERR One or more scores can't be converted into double";
    auto cmp = [&](const Item& a, const Item& b) {
      int c;
      if (!alpha) {
        if (a.score > b.score) c = 1;
        else if (a.score < b.score) c = -1;
        else c = CompareBytes(a.elem, b.elem);
      } else if (use_by) {
        if (!a.cmp || !b.cmp) c = (!a.cmp && !b.cmp) ? 0 : !a.cmp ? -1 : 1;
        else c = CompareBytes(*a.cmp, *b.cmp);
      } else {
        c = CompareBytes(a.elem, b.elem);
      }
      return (spec.desc ? -c : c) < 0;
    };
    std::stable_sort(items.begin(), items.end(), cmp);
  }
  for (__int128 j = start; j <= end; j++) out->push_back(std::move(items[size_t(j)].elem));
  return "";
}

std::vector<std::optional<std::string>> Project(const SortSpec& spec,
                                                const std::vector<std::string>& ordered,
                                                const Lookup& get) {
  std::vector<std::optional<std::string>> rows;
  if (spec.gets.empty()) {
    rows.assign(ordered.begin(), ordered.end());
    return rows;
  }
  rows.reserve(ordered.size() * spec.gets.size());
  for (const auto& e : ordered) {
    for (const auto& pat : spec.gets) {
      PatternRef r = Substitute(pat, e);
      if (r.kind == PatternRef::kSelf) rows.emplace_back(e);
      else if (r.kind == PatternRef::kNone) rows.emplace_back(std::nullopt);
      else rows.push_back(get(r));
    }
  }
  return rows;
}

}  // namespace dynakv::server::sort
