#include "proxy/timer_wheel.h"

namespace meshdeck::proxy {

TimerWheel::TimerWheel(Clock::duration tick, TimePoint origin)
    : tick_(tick.count() > 0 ? tick : Clock::duration(1)),
      origin_(origin),
      slots_(std::make_unique<Entry[]>(kSlots)) {
  for (size_t i = 0; i < kSlots; ++i) slots_[i].prev = slots_[i].next = &slots_[i];
}

TimerWheel::~TimerWheel() {
  for (size_t i = 0; i < kSlots; ++i) {
    Entry& head = slots_[i];
    while (head.next != &head) {
      Entry& e = *head.next;
      unlink(e);
      e.tick = -1;
    }
  }
}

boost::asio::execution_context::id CoarseTimers::id;

CoarseTimers::CoarseTimers(boost::asio::io_context& io)
    : boost::asio::execution_context::service(io),
      wheel_(kTick, TimerWheel::Clock::now()),
      timer_(io) {}

CoarseTimers::~CoarseTimers() = default;

void CoarseTimers::shutdown() {
  // The io_context is going: no more sweeps. The wheel stays until the service is destroyed,
  // so the streams destroyed with the pending handlers can still cancel their entries.
  shut_down_ = true;
  timer_.cancel();
}

size_t CoarseTimers::sweep(TimerWheel::TimePoint now) {
  return wheel_.advance(now, [](TimerWheel::Entry& e) {
    auto& t = static_cast<Timed&>(e);
    if (t.expired) t.expired(t);
  });
}

void CoarseTimers::startSweeps() {
  if (shut_down_) return;
  sweeping_ = true;
  wait();
}

void CoarseTimers::wait() {
  scheduled_ = wheel_.nextDue();
  timer_.expires_at(scheduled_);
  timer_.async_wait([this, generation = ++generation_](const boost::system::error_code& ec) {
    if (generation != generation_) return;  // replaced by reschedule()'s wait
    if (ec || shut_down_) {
      sweeping_ = false;
      return;
    }
    ++sweeps_;
    sweep(TimerWheel::Clock::now());
    if (wheel_.empty()) {
      sweeping_ = false;
      scheduled_ = TimerWheel::TimePoint::max();
      return;
    }
    wait();
  });
}

void CoarseTimers::reschedule() {
  // An entry due before the timer: the timer is set again (its pending wait ends, aborted, and
  // its handler sees a newer generation). Only when a deadline comes nearer than every other.
  if (shut_down_) return;
  wait();
}

}  // namespace meshdeck::proxy
