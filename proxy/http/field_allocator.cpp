#include "proxy/http/field_allocator.h"

#include <array>
#include <new>

namespace meshdeck::proxy::field_memory {

namespace {

struct FreeBlock {
  FreeBlock* next;
};

// Set when this thread's free lists are gone (thread exit, or static destruction on the main
// thread): blocks freed after that go straight back to operator delete. A trivially
// destructible thread_local, so it can still be read then.
thread_local bool t_lists_gone = false;

// One thread's free lists; what they hold goes back to operator delete when the thread ends.
struct FreeLists {
  std::array<FreeBlock*, kClasses> head{};
  std::array<uint32_t, kClasses> count{};

  FreeLists() = default;
  FreeLists(const FreeLists&) = delete;
  FreeLists& operator=(const FreeLists&) = delete;
  ~FreeLists() {
    t_lists_gone = true;
    for (size_t c = 0; c < kClasses; ++c) {
      while (FreeBlock* b = head[c]) {
        head[c] = b->next;
        ::operator delete(static_cast<void*>(b));
      }
    }
  }
};

thread_local FreeLists t_lists;

}  // namespace

void* allocate(size_t bytes) {
  if (bytes == 0 || bytes > kMaxPooledBytes) return ::operator new(bytes);
  const size_t c = classOf(bytes);
  // Always the class's full size, even without lists: the block may be freed on a thread that
  // has them and be handed out later for any request of its class.
  if (t_lists_gone) return ::operator new((c + 1) * kGranule);
  auto& lists = t_lists;
  if (FreeBlock* b = lists.head[c]) {
    lists.head[c] = b->next;
    --lists.count[c];
    return b;
  }
  return ::operator new((c + 1) * kGranule);
}

void deallocate(void* p, size_t bytes) noexcept {
  if (!p) return;
  if (bytes == 0 || bytes > kMaxPooledBytes || t_lists_gone) {
    ::operator delete(p);
    return;
  }
  const size_t c = classOf(bytes);
  auto& lists = t_lists;
  if (lists.count[c] >= kMaxFreeBlocksOfClass[c]) {
    ::operator delete(p);
    return;
  }
  auto* b = static_cast<FreeBlock*>(p);
  b->next = lists.head[c];
  lists.head[c] = b;
  ++lists.count[c];
}

size_t cachedBlocks() noexcept {
  size_t n = 0;
  for (const auto c : t_lists.count) n += c;
  return n;
}

}  // namespace meshdeck::proxy::field_memory
