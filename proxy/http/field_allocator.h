#pragma once

#include <array>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace meshdeck::proxy {

// Memory for header fields, recycled per thread. Beast's basic_fields allocates one block per
// field (name and value behind the list/tree node) and frees it with the message, so a proxied
// request costs a dozen malloc/free pairs for its two heads; glibc's per-thread cache holds only
// seven blocks of a size, and the rest went the slow way. Blocks up to kMaxPooledBytes are kept
// in per-thread free lists by size class instead (at most kMaxFreeBytesPerClass of each class:
// enough for the heads of a burst of 64 exchanges, ~700 blocks of 96 bytes, so a busy worker's
// bursts are served from the lists; a block freed on another thread simply joins that thread's
// list), larger ones come from operator new.
namespace field_memory {
inline constexpr size_t kGranule = 32;
inline constexpr size_t kClasses = 16;
inline constexpr size_t kMaxPooledBytes = kGranule * kClasses;  // 512
inline constexpr size_t kMaxFreeBytesPerClass = 64 * 1024;
// The size class of a block of `bytes` (> 0, <= kMaxPooledBytes): blocks of a class all have
// the class's largest size, (class + 1) * kGranule, so any block of the class fits any request
// of it.
constexpr size_t classOf(size_t bytes) { return (bytes - 1) / kGranule; }
// How many free blocks the lists keep of each class (a table: no division when freeing).
inline constexpr auto kMaxFreeBlocksOfClass = [] {
  std::array<uint32_t, kClasses> t{};
  for (size_t c = 0; c < kClasses; ++c)
    t[c] = static_cast<uint32_t>(kMaxFreeBytesPerClass / ((c + 1) * kGranule));
  return t;
}();
// How many free blocks the lists keep of the class that holds requests of `bytes`.
constexpr size_t maxFreeBlocks(size_t bytes) { return kMaxFreeBlocksOfClass[classOf(bytes)]; }

void* allocate(size_t bytes);
void deallocate(void* p, size_t bytes) noexcept;
// Blocks currently held in this thread's free lists (tests).
size_t cachedBlocks() noexcept;
}  // namespace field_memory

template <typename T>
class FieldAllocator {
 public:
  using value_type = T;
  using is_always_equal = std::true_type;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;

  FieldAllocator() noexcept = default;
  template <typename U>
  FieldAllocator(const FieldAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)

  T* allocate(size_t n) { return static_cast<T*>(field_memory::allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { field_memory::deallocate(p, n * sizeof(T)); }

  template <typename U>
  bool operator==(const FieldAllocator<U>&) const noexcept {
    return true;
  }
};

// The header fields of every message the proxy parses, edits and forwards.
using Fields = boost::beast::http::basic_fields<FieldAllocator<char>>;
using RequestHeader = boost::beast::http::request_header<Fields>;
using ResponseHeader = boost::beast::http::response_header<Fields>;

}  // namespace meshdeck::proxy
