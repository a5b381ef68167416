// The buffers an HTTP/2 connection (h2_connection.*) reads into and writes from, lent per worker
// thread only while bytes are being parsed or written, so that an idle connection holds none
// (as HAProxy's connections: docs/http2.md, "Memory per idle connection"). Internal to
// proxy/http2/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace meshdeck::proxy::h2 {

// One pool per thread (each worker is one thread; the pool is plain thread-local data, never
// shared). Spares are kept up to kMaxSpare of each kind: a read buffer goes back as soon as its
// bytes are parsed, so a worker needs about one at a time; an output buffer is held while its
// write is under way, one per connection writing at that moment.
class IoBufferPool {
 public:
  static constexpr size_t kReadSize = 16 * 1024;  // one read: a full frame or TLS record
  static constexpr size_t kMaxSpare = 32;
  // An output buffer that grew past this (a burst of DATA frames) is not kept.
  static constexpr size_t kMaxKeptCapacity = 256 * 1024;

  using ReadBuffer = std::unique_ptr<char[]>;

  static IoBufferPool& local() {
    static thread_local IoBufferPool pool;
    return pool;
  }

  ReadBuffer takeRead() {
    ++borrowed_;
    ++reads_taken_;
    if (read_spare_.empty()) return ReadBuffer(new char[kReadSize]);  // not zero-filled
    ReadBuffer b = std::move(read_spare_.back());
    read_spare_.pop_back();
    return b;
  }
  void giveRead(ReadBuffer b) {
    --borrowed_;
    if (b && read_spare_.size() < kMaxSpare) read_spare_.push_back(std::move(b));
  }

  // An empty string, with the capacity a former write left in it.
  std::string takeOutput() {
    ++borrowed_;
    ++outputs_taken_;
    if (out_spare_.empty()) return {};
    std::string s = std::move(out_spare_.back());
    out_spare_.pop_back();
    return s;
  }
  void giveOutput(std::string s) {
    --borrowed_;
    if (s.capacity() <= kMaxKeptCapacity && out_spare_.size() < kMaxSpare) {
      s.clear();
      out_spare_.push_back(std::move(s));
    }
  }

  // Buffers of either kind out on connections now (0 when every connection is idle).
  size_t borrowed() const { return borrowed_; }
  // Buffers ever lent, of each kind (reads and writes went through the pool).
  uint64_t readsTaken() const { return reads_taken_; }
  uint64_t outputsTaken() const { return outputs_taken_; }

 private:
  std::vector<ReadBuffer> read_spare_;
  std::vector<std::string> out_spare_;
  size_t borrowed_ = 0;
  uint64_t reads_taken_ = 0;
  uint64_t outputs_taken_ = 0;
};

}  // namespace meshdeck::proxy::h2
