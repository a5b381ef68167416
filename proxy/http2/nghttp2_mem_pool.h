// The memory of both HTTP/2 codecs' nghttp2 sessions (h2_codec.*, h2_client_codec.*): small
// blocks come from per-thread free lists instead of malloc. A proxied request makes some twenty
// small allocations inside nghttp2 (stream, frames, HPACK entries, header buffers); with many
// streams in flight they overflow glibc's per-thread cache and take its slow path (profile in
// docs/http2.md, "Where the time goes"). Internal to proxy/http2/; include only from the
// codecs' .cpp files.
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace meshdeck::proxy::h2::detail {

// Per-thread free lists of small blocks, each with a 16-byte header (its size class and size).
// The lists are plain thread-local data (never destroyed, so a session freed late in a thread's
// exit still finds them); a thread-local reaper frees the blocks kept when the thread ends.
class MemPool {
 public:
  static constexpr size_t kHeader = 16;      // keeps the block 16-byte aligned, as malloc's
  static constexpr size_t kGranule = 16;     // size classes 16, 32, ... kMaxPooled
  static constexpr size_t kMaxPooled = 512;  // larger blocks go to malloc as they are
  static constexpr size_t kClasses = kMaxPooled / kGranule;
  static constexpr uint32_t kMaxFree = 64;  // blocks kept per class and thread (< 0.6 MB)
  static constexpr uint32_t kUnpooled = 0xffffffff;

  static MemPool& local() {
    static thread_local MemPool pool;  // trivially destructible: never torn down
    return pool;
  }

  // A large block nghttp2 allocated while a capture was on (see capture()).
  struct LargeBlock {
    void* data = nullptr;
    size_t size = 0;
    bool ambiguous = false;  // more than one: none is known to be the frame buffer
  };
  static constexpr size_t kCaptureMin = 8 * 1024;

  // Until capture(nullptr), the blocks of kCaptureMin bytes or more that nghttp2 allocates are
  // recorded in `into`: a server session's output frame buffer is the only one
  // nghttp2_session_server_new3() makes (ServerCodec::releaseIdleMemory()).
  void capture(LargeBlock* into) { capture_ = into; }

  void* allocate(size_t size) {
    if (size == 0) size = 1;
    if (size > kMaxPooled) {
      auto* raw = static_cast<unsigned char*>(std::malloc(kHeader + size));
      if (!raw) return nullptr;
      writeHeader(raw, kUnpooled, size);
      if (capture_ && size >= kCaptureMin) {
        capture_->ambiguous = capture_->ambiguous || capture_->data;
        capture_->data = raw + kHeader;
        capture_->size = size;
      }
      return raw + kHeader;
    }
    const uint32_t cls = static_cast<uint32_t>((size - 1) / kGranule);
    unsigned char* raw;
    if (Block* b = free_[cls]) {
      free_[cls] = b->next;
      --count_[cls];
      raw = reinterpret_cast<unsigned char*>(b);
    } else {
      raw = static_cast<unsigned char*>(std::malloc(kHeader + (cls + 1) * kGranule));
      if (!raw) return nullptr;
    }
    writeHeader(raw, cls, size);
    return raw + kHeader;
  }

  // calloc(): `n` elements of `size` bytes, zeroed; nullptr when the product overflows.
  void* allocateZeroed(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return nullptr;
    void* p = allocate(n * size);
    if (p) std::memset(p, 0, n * size);
    return p;
  }

  void release(void* p) {
    if (!p) return;
    unsigned char* raw = static_cast<unsigned char*>(p) - kHeader;
    const uint32_t cls = classOf(raw);
    if (cls == kUnpooled || count_[cls] >= kMaxFree || dead_) {
      std::free(raw);
      return;
    }
    if (!reaper_armed_) {
      reaper_armed_ = true;
      static thread_local Reaper reaper;  // constructed here, destroyed at the thread's end
      (void)reaper;
    }
    auto* b = reinterpret_cast<Block*>(raw);
    b->next = free_[cls];
    free_[cls] = b;
    ++count_[cls];
  }

  void* reallocate(void* p, size_t size) {
    if (!p) return allocate(size);
    unsigned char* raw = static_cast<unsigned char*>(p) - kHeader;
    const uint32_t cls = classOf(raw);
    const size_t capacity = cls == kUnpooled ? sizeOf(raw) : (cls + 1) * kGranule;
    if (size != 0 && size <= capacity && cls != kUnpooled) return p;
    void* q = allocate(size);
    if (!q) return nullptr;
    std::memcpy(q, p, std::min(capacity, size == 0 ? size_t{1} : size));
    release(p);
    return q;
  }

  // The nghttp2_mem to give nghttp2_session_*_new3(); nullptr (nghttp2's malloc) under
  // AddressSanitizer, so that the fuzzers still see a use after free inside nghttp2.
  static nghttp2_mem* mem() {
#if defined(__SANITIZE_ADDRESS__)
    return nullptr;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return nullptr;
#endif
#endif
    static nghttp2_mem m{
        nullptr,
        [](size_t size, void*) { return local().allocate(size); },
        [](void* p, void*) { local().release(p); },
        [](size_t n, size_t size, void*) { return local().allocateZeroed(n, size); },
        [](void* p, size_t size, void*) { return local().reallocate(p, size); },
    };
    return &m;
  }

 private:
  struct Block {
    Block* next;
  };
  struct Reaper {
    ~Reaper() {
      MemPool& p = local();
      for (auto& head : p.free_)
        while (head) {
          Block* next = head->next;
          std::free(head);
          head = next;
        }
      p.count_ = {};
      p.dead_ = true;  // a block freed after this goes back to malloc
    }
  };

  static void writeHeader(unsigned char* raw, uint32_t cls, size_t size) {
    std::memcpy(raw, &cls, sizeof cls);
    const uint64_t s = size;
    std::memcpy(raw + 8, &s, sizeof s);
  }
  static uint32_t classOf(const unsigned char* raw) {
    uint32_t cls;
    std::memcpy(&cls, raw, sizeof cls);
    return cls;
  }
  static size_t sizeOf(const unsigned char* raw) {
    uint64_t s;
    std::memcpy(&s, raw + 8, sizeof s);
    return static_cast<size_t>(s);
  }

  LargeBlock* capture_ = nullptr;
  std::array<Block*, kClasses> free_{};
  std::array<uint32_t, kClasses> count_{};
  bool reaper_armed_ = false;
  bool dead_ = false;
};

}  // namespace meshdeck::proxy::h2::detail
