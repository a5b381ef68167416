#include "proxy/relay_buffer_pool.h"

#include <algorithm>

namespace meshdeck::proxy {

RelayBuffer RelayBufferPool::take() {
  peak_ = std::max(peak_, ++lent_);
  if (spare_.empty())
    return RelayBuffer(new std::array<char, kRelayBufferSize>);  // default-initialised: untouched
  RelayBuffer b = std::move(spare_.back());
  spare_.pop_back();
  return b;
}

void RelayBufferPool::give(RelayBuffer buffer) {
  if (lent_ > 0) --lent_;
  // Lent plus spare never exceeds the window's peak, so the reserve is bounded by demand
  // (which the listeners' connection limits bound).
  if (buffer && spare_.size() + lent_ < std::max(peak_, kMinSpare))
    spare_.push_back(std::move(buffer));
}

size_t RelayBufferPool::trim() {
  const size_t keep = std::max(peak_, kMinSpare);
  size_t freed = 0;
  while (!spare_.empty() && spare_.size() + lent_ > keep) {
    spare_.pop_back();
    ++freed;
  }
  peak_ = lent_;
  return freed;
}

}  // namespace meshdeck::proxy
