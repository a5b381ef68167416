#include "proxy/mesh/on_demand_hold.h"

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <memory>
#include <optional>

namespace meshdeck::proxy {

namespace asio = boost::asio;

Awaitable<OnDemandResult> waitOnDemand(OnDemand& on_demand, std::string service) {
  using Clock = OnDemand::Clock;
  using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;
  struct State {
    explicit State(const Executor& ex) : timer(ex) {}
    Timer timer;
    std::optional<OnDemandResult> result;
  };
  const Executor executor = co_await asio::this_coro::executor;
  auto state = std::make_shared<State>(executor);
  state->timer.expires_after(on_demand.options().timeout);
  const uint64_t ticket = on_demand.hold(service, [state, executor](OnDemandResult r) {
    asio::post(executor, [state, r] {
      state->result = r;
      state->timer.cancel();
    });
  });
  // The coroutine's frame may be destroyed while it waits (the worker shutting down): the
  // ticket then leaves the table, so nothing posts to a worker that is gone.
  struct Release {
    OnDemand& self;
    uint64_t ticket;
    const std::shared_ptr<State>& state;
    ~Release() {
      if (!state->result) self.cancel(ticket, false);
    }
  } release{on_demand, ticket, state};
  co_await state->timer.async_wait(kNoThrow);
  if (!state->result) {
    if (on_demand.cancel(ticket)) {
      state->result = OnDemandResult::kTimeout;
      co_return *state->result;
    }
    // Completed at the same moment: the result is on its way to this executor.
    state->timer.expires_at(Clock::time_point::max());
    co_await state->timer.async_wait(kNoThrow);
  }
  co_return state->result.value_or(OnDemandResult::kTimeout);
}

Awaitable<bool> holdForService(OnDemand* on_demand, std::string missing_host, std::string* detail) {
  if (!on_demand || missing_host.empty() || !on_demand->scoped()) co_return false;
  const std::string service = onDemandServiceName(missing_host);
  if (service.empty()) co_return false;
  const OnDemandResult result = co_await waitOnDemand(*on_demand, service);
  if (result == OnDemandResult::kFound) co_return true;
  switch (result) {
    case OnDemandResult::kUnknown:
      *detail = "no virtual host; the control plane knows no service \"" + service + "\"";
      break;
    case OnDemandResult::kTimeout:
      *detail = "no virtual host; no answer for service \"" + service + "\" on demand in time";
      break;
    default:
      *detail = "no virtual host; too many requests held for services on demand";
      break;
  }
  co_return false;
}

}  // namespace meshdeck::proxy
