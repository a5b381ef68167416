#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <random>

namespace meshdeck::proxy {

// The generator of x-request-id and traceparent ids: xoshiro256** (Blackman and Vigna), 64 bits
// a draw, its 256-bit state expanded from one 64-bit seed by splitmix64.
//
// Request and trace ids are identifiers, not secrets: they must be unique in practice and
// spread evenly, nobody must be able to rely on guessing them being hard. That is why a fast
// non-cryptographic generator is the right tool here (a few instructions a draw, 32 bytes of
// state, against std::mt19937_64's 2.5 KB and its periodic regeneration of the whole table on
// the request path). It must never serve anything that has to be unpredictable (tokens, keys,
// nonces): its output reveals its state.
//
// It meets UniformRandomBitGenerator, so the standard distributions accept it. Not thread-safe:
// one per worker thread.
class IdGenerator {
 public:
  using result_type = uint64_t;

  // Any seed, 0 included, gives a valid (non-zero) state: splitmix64 is a bijection of its
  // counter, so four consecutive outputs are never all zero.
  explicit IdGenerator(uint64_t seed) {
    for (auto& word : s_) word = splitmix64(seed);
  }

  // 64 bits from std::random_device, to seed a generator once per worker.
  static uint64_t randomSeed() {
    std::random_device device;
    return (uint64_t{device()} << 32) ^ uint64_t { device() };
  }

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }

  result_type operator()() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static constexpr uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static constexpr uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  std::array<uint64_t, 4> s_{};
};

}  // namespace meshdeck::proxy
