#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

namespace meshdeck::proxy {

// The buffer one exchange relays body bytes through (both directions). Lent for the length of
// one request, so that a kept-alive connection waiting for its next request holds none.
inline constexpr size_t kRelayBufferSize = 64 * 1024;
using RelayBuffer = std::unique_ptr<std::array<char, kRelayBufferSize>>;

// A worker's relay buffers. Spare buffers are kept for as many exchanges as were in flight at
// once since the last trim (at least kMinSpare), so a worker that serves bursts of N
// concurrent exchanges reuses N buffers instead of freeing and reallocating the excess at every
// burst: 64 KiB blocks are freed to the top of malloc's arena, which trims the heap and faults
// the pages in again on the next burst (measured: one malloc(65536) per three requests, 7 % of
// the server-side proxy's CPU with 64 connections, before this pool kept up with demand).
// trim() (the worker calls it every few seconds while there is more than kMinSpare spare)
// lets the reserve follow demand down again. One thread only.
class RelayBufferPool {
 public:
  static constexpr size_t kMinSpare = 16;

  RelayBuffer take();
  void give(RelayBuffer buffer);
  // Frees spares above what the busiest moment since the last trim needed (and at least
  // kMinSpare), then starts a new observation window. Returns how many it freed.
  size_t trim();

  size_t spare() const { return spare_.size(); }
  size_t lent() const { return lent_; }
  // More spares than kMinSpare: a trim() may free some.
  bool trimmable() const { return spare_.size() > kMinSpare; }

 private:
  std::vector<RelayBuffer> spare_;
  size_t lent_ = 0;  // out on exchanges now
  size_t peak_ = 0;  // most out at once since the last trim()
};

}  // namespace meshdeck::proxy
