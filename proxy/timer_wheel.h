#pragma once

#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace meshdeck::proxy {

// Coarse deadlines for many connections at once (docs/proxy.md, "Timeouts"): a hashed timing
// wheel of kSlots slots, one per tick, each a list of entries. Arming an entry is a store when
// its deadline moves later (the common case: an idle or per-request timeout pushed on with each
// read and write); the entry stays where it is and is moved when the sweep reaches its old slot
// ("lazy" re-arming, as HAProxy's and the Linux kernel's timer wheels do). Arming it earlier,
// or for the first time, links it into a slot; cancelling unlinks it. No allocation, no clock
// read: the caller gives the deadline.
//
// advance(now) is the sweep: it visits the slots of the ticks that have passed since the last
// sweep (at most kSlots of them however long the gap), expires every entry whose deadline is
// <= now, oldest tick first, and moves the others to the slot of their deadline. An entry never
// expires early; it expires at the first sweep at or after its deadline, so with a sweep per
// tick at most one tick (plus the sweep's own delay) late.
//
// Not thread-safe: one worker's thread uses it.
class TimerWheel {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  static constexpr size_t kSlots = 512;

  struct Entry {
    Entry* prev = nullptr;
    Entry* next = nullptr;
    TimePoint deadline = TimePoint::max();
    int64_t tick = -1;  // the tick whose slot holds the entry; -1 while it is not in a wheel
    bool armed() const noexcept { return tick >= 0; }
  };

  // `origin` is tick 0, which counts as swept.
  TimerWheel(Clock::duration tick, TimePoint origin);
  ~TimerWheel();  // unlinks every entry still armed
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Sets e's deadline (TimePoint::max() cancels it). Returns true when the wheel was empty and
  // e is now in it (the owner of the wheel starts sweeping).
  bool arm(Entry& e, TimePoint deadline) {
    if (deadline == TimePoint::max()) {
      cancel(e);
      return false;
    }
    e.deadline = deadline;
    const int64_t t = tickFor(deadline);
    if (e.armed()) {
      if (e.tick <= t) return false;  // later (or the same tick): the sweep moves it
      unlink(e);
      link(e, t);
      return false;
    }
    link(e, t);
    return ++size_ == 1;
  }
  void cancel(Entry& e) noexcept {
    if (!e.armed()) return;
    unlink(e);
    e.tick = -1;
    --size_;
  }

  // The sweep (above); `expire(Entry&)` is called for each expired entry after it has left the
  // wheel, so it may arm or cancel any entry. Returns the number expired.
  template <typename Expire>
  size_t advance(TimePoint now, Expire&& expire);

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  Clock::duration tick() const noexcept { return tick_; }
  // When the next tick ends: the time to sweep next.
  TimePoint nextSweep() const noexcept { return origin_ + tick_ * (swept_ + 1); }
  // When the first tick whose slot holds an entry ends (TimePoint::max() when the wheel is
  // empty): no sweep before it has anything to do. Looks at up to kSlots list heads.
  TimePoint nextDue() const noexcept {
    if (size_ == 0) return TimePoint::max();
    for (int64_t t = swept_ + 1; t <= swept_ + static_cast<int64_t>(kSlots); ++t) {
      const Entry& head = slots_[static_cast<size_t>(t) & (kSlots - 1)];
      if (head.next != &head) return origin_ + tick_ * t;
    }
    return nextSweep();
  }
  // When the tick of an armed entry's slot ends (the sweep that looks at it next).
  TimePoint dueOf(const Entry& e) const noexcept { return origin_ + tick_ * e.tick; }
  // Entries looked at by the sweeps so far (for tests: the work is bounded).
  uint64_t visited() const noexcept { return visited_; }

 private:
  // The first tick that ends at or after `t` (never one already swept).
  int64_t tickFor(TimePoint t) const noexcept {
    if (t <= origin_) return swept_ + 1;
    const auto d = (t - origin_).count();
    const auto k = static_cast<int64_t>((d + tick_.count() - 1) / tick_.count());
    return k > swept_ ? k : swept_ + 1;
  }
  Entry& slot(int64_t t) noexcept { return slots_[static_cast<size_t>(t) & (kSlots - 1)]; }
  void link(Entry& e, int64_t t) noexcept {
    Entry& head = slot(t);
    e.tick = t;
    e.prev = &head;
    e.next = head.next;
    head.next->prev = &e;
    head.next = &e;
  }
  static void unlink(Entry& e) noexcept {
    e.prev->next = e.next;
    e.next->prev = e.prev;
    e.prev = e.next = nullptr;
  }

  Clock::duration tick_;
  TimePoint origin_;
  int64_t swept_ = 0;  // the last tick swept
  size_t size_ = 0;
  uint64_t visited_ = 0;
  std::unique_ptr<Entry[]> slots_;  // list heads (circular, doubly linked)
};

template <typename Expire>
size_t TimerWheel::advance(TimePoint now, Expire&& expire) {
  if (now < origin_) return 0;
  const int64_t target = static_cast<int64_t>((now - origin_).count() / tick_.count());
  if (target <= swept_) return 0;
  const int64_t first =
      target - swept_ > static_cast<int64_t>(kSlots) ? target - kSlots + 1 : swept_ + 1;
  swept_ = target;  // entries moved on now land after it
  size_t expired = 0;
  Entry pending;
  for (int64_t t = first; t <= target; ++t) {
    Entry& head = slot(t);
    if (head.next == &head) continue;
    // Take the slot's list as it is (the entries stay linked, to `pending`, so that an expire
    // callback can cancel or re-arm any of them).
    pending.next = head.next;
    pending.prev = head.prev;
    pending.next->prev = &pending;
    pending.prev->next = &pending;
    head.next = head.prev = &head;
    while (pending.next != &pending) {
      Entry& e = *pending.next;
      unlink(e);
      ++visited_;
      if (e.deadline <= now) {
        e.tick = -1;
        --size_;
        ++expired;
        expire(e);
      } else if (e.tick > t) {
        link(e, e.tick);  // a later turn of the wheel
      } else {
        link(e, tickFor(e.deadline));  // moved later since it was linked
      }
    }
  }
  return expired;
}

// The coarse timer of one io_context (one per worker; asio::use_service<CoarseTimers>(io)
// finds or makes it): a TimerWheel swept by one steady timer every kTick while any entry is
// armed, and not at all while none is. What an entry does when it expires is its own
// (`Timed::expired`): the entry is not linked to the wheel any more when it is called.
class CoarseTimers : public boost::asio::execution_context::service {
 public:
  // 10 ms: a route or per-try timeout of 100 ms (the latency-injection scenario's) fires by
  // 110 ms, not 200 ms as with a 100 ms tick. The timer does not tick through empty slots: it
  // is set for the first slot that holds an entry (TimerWheel::nextDue()), and set earlier
  // when an entry is armed before that, so an idle worker whose connections wait for 60 s
  // idle deadlines wakes about once per turn of the wheel (5.12 s), not 100 times a second.
  static constexpr std::chrono::milliseconds kTick{10};

  struct Timed : TimerWheel::Entry {
    void (*expired)(Timed&) = nullptr;
  };

  static boost::asio::execution_context::id id;
  explicit CoarseTimers(boost::asio::io_context& io);
  ~CoarseTimers() override;

  // A store (or a relink) in the wheel; starts the sweeps when the wheel was empty.
  void arm(Timed& t, TimerWheel::TimePoint deadline) {
    if (wheel_.arm(t, deadline) && !sweeping_)
      startSweeps();
    else if (sweeping_ && t.armed() && wheel_.dueOf(t) < scheduled_)
      reschedule();
  }
  void cancel(Timed& t) noexcept { wheel_.cancel(t); }
  // Expires what is due at `now` (what the timer does every tick; public for tests).
  size_t sweep(TimerWheel::TimePoint now);
  const TimerWheel& wheel() const noexcept { return wheel_; }
  // Sweeps the timer has run (for tests: it wakes for the ticks that hold entries only).
  uint64_t sweeps() const noexcept { return sweeps_; }

 private:
  void shutdown() override;
  void startSweeps();
  void wait();
  void reschedule();

  TimerWheel wheel_;
  boost::asio::steady_timer timer_;
  TimerWheel::TimePoint scheduled_ = TimerWheel::TimePoint::max();  // the timer's expiry
  uint64_t generation_ = 0;  // of the timer's wait: a handler of an earlier one does nothing
  uint64_t sweeps_ = 0;
  bool sweeping_ = false;
  bool shut_down_ = false;
};

}  // namespace meshdeck::proxy
