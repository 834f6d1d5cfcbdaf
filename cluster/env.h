// cluster/env.h: the only doors between the sans-I/O cluster core and the world.
//
// The real node implements these over libuv (server/), the simulator over a seeded fake
// network and clock (tests/sim/). Nothing in cluster/ reads the wall clock, sleeps, starts a
// thread or touches a socket itself (docs/ARCHITECTURE.md, "Layers").
// Thread-safety: each implementation is used from its node's single thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace dynakv::cluster {

// Delivers opaque frames between nodes, addressed by cluster address ("host:port").
// Best effort: a frame may be lost, delayed, duplicated or reordered; the core copes.
// A frame in three pieces, whose middle is a shared buffer's bytes (a big record as the
// engine stores it): sent as head, *middle, tail without being joined into one string, so a
// 100 MB value is neither copied into a frame nor once per replica (docs/ARCHITECTURE.md,
// "Big values").
// The frame's trailer (its checksum or MAC, over head, *middle and tail in order) is left to
// whoever sends it, through `trailer`: it is a pass over all of the middle's bytes (15-25 ms
// for 100 MB), which a transport may make off its event loop (server/peer_transport.cc).
struct SplitFrame {
  std::string head;
  std::shared_ptr<const std::string> middle;
  std::string tail;
  // Returns the trailer's trailer_bytes bytes, which follow tail; pure, so callable from any
  // thread while the pieces live. Null: tail already ends with the trailer.
  std::function<std::string(const SplitFrame&)> trailer;
  size_t trailer_bytes = 0;
  size_t size() const { return head.size() + middle->size() + tail.size() + (trailer ? trailer_bytes : 0); }
  std::string Join() const { return head + *middle + tail + (trailer ? trailer(*this) : std::string()); }
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void Send(const std::string& to_addr, std::string frame) = 0;
  // The same frame as Send(to_addr, frame.Join()); a transport that can write pieces
  // overrides it.
  virtual void SendSplit(const std::string& to_addr, const SplitFrame& frame) { Send(to_addr, frame.Join()); }
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t NowMs() = 0;   // monotonic, for timeouts and failure detection
  virtual uint64_t WallMs() = 0;  // unix ms, for LWW timestamps and expiry
};

class Random {
 public:
  virtual ~Random() = default;
  virtual uint64_t Next() = 0;
  uint64_t Uniform(uint64_t n) { return n == 0 ? 0 : Next() % n; }
};

// Deterministic splitmix64/xorshift generator for the simulator and tests.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
  uint64_t Next() override {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

// Where the core logs (the server maps it to stderr; the simulator to a buffer).
class Logger {
 public:
  enum class Level { kDebug, kInfo, kWarn, kError };
  virtual ~Logger() = default;
  virtual void Log(Level level, std::string_view msg) = 0;
};

}  // namespace dynakv::cluster
