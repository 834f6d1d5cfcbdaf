// storage/status.h: the error type every module returns across its boundary.
//
// Operating errors are values, never exceptions (docs/ARCHITECTURE.md, "Invariants"). A Status is cheap to copy
// when ok (no allocation) and carries a code plus a human-readable message otherwise.
// Result<T> is a value or a Status, in the style of Dragonfly's OpResult.
// Thread-safety: plain value types; no shared state.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace dynakv {

enum class Code : int {
  kOk = 0,
  kNotFound,         // key absent; not an error for most callers
  kInvalidArgument,  // bad input from a client or a peer (maps to -ERR)
  kCorruption,       // stored or received bytes failed validation
  kIOError,          // the OS said no
  kNoSpace,          // disk or map full (ENOSPC / MDB_MAP_FULL that could not grow)
  kLimit,            // a configured limit was hit (siblings, sizes, queues)
  kUnavailable,      // not enough replicas answered (maps to -UNAVAILABLE)
  kTimeout,
  kNotSupported,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}

  static Status OK() { return Status(); }
  static Status NotFound(std::string m = "not found") { return {Code::kNotFound, std::move(m)}; }
  static Status Invalid(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
  static Status Limit(std::string m) { return {Code::kLimit, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status Timeout(std::string m) { return {Code::kTimeout, std::move(m)}; }
  static Status NotSupported(std::string m) { return {Code::kNotSupported, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string msg_;
};

inline const char* CodeName(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "NotFound";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kCorruption: return "Corruption";
    case Code::kIOError: return "IOError";
    case Code::kNoSpace: return "NoSpace";
    case Code::kLimit: return "Limit";
    case Code::kUnavailable: return "Unavailable";
    case Code::kTimeout: return "Timeout";
    case Code::kNotSupported: return "NotSupported";
  }
  return "Unknown";
}

inline std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + msg_;
}

// A value or a Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T v) : value_(std::move(v)) {}  // NOLINT: implicit by design
  Result(Status s) : status_(std::move(s)) {}  // NOLINT
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T* operator->() { return &*value_; }
  T& operator*() { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace dynakv

// Invariant check that stays on in every build (docs/ARCHITECTURE.md, "Invariants": broken invariants crash).
#define DKV_ASSERT(cond)                                                              \
  do {                                                                                \
    if (!(cond)) ::dynakv::AssertFail(#cond, __FILE__, __LINE__);                     \
  } while (0)

namespace dynakv {
[[noreturn]] void AssertFail(const char* expr, const char* file, int line);
}
