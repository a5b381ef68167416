#pragma once

// Running an io_context in a test until a condition holds, bounded in time.

#include <boost/asio/io_context.hpp>
#include <chrono>

namespace meshdeck::test {

// Runs `io`'s handlers until `done()` holds or `limit` has passed, and returns done(). An
// io_context stops whenever it runs out of work, so it is restarted for operations started
// after that.
template <typename Pred>
bool runIoUntil(boost::asio::io_context& io, Pred&& done,
                std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace meshdeck::test
