#pragma once

#include <string>

#include "proxy/awaitable.h"
#include "proxy/mesh/on_demand.h"

namespace meshdeck::proxy {

// The coroutine side of on-demand discovery (on_demand.h), for the sessions. The strings are
// taken by value: a coroutine keeps its parameters, not what they referred to.

// Holds one request until its service is found or not (OnDemand::hold()), on the calling
// worker's io_context, timed out after OnDemand::options().timeout. kFound: admit again with the
// worker's config (the worker was given the configuration before the completion reached it).
Awaitable<OnDemandResult> waitOnDemand(OnDemand& on_demand, std::string service);

// The hook at the NR decision of both session kinds (HTTP/1.1 and HTTP/2): `missing_host` is
// what admission could not route (Verdict::missing_host). True when the request is to be
// admitted again because the service arrived; false: answer the NR as decided (with `detail`
// saying why, when the request was held). Holds nothing when `on_demand` is null or not scoped,
// or the host cannot name a service.
Awaitable<bool> holdForService(OnDemand* on_demand, std::string missing_host, std::string* detail);

}  // namespace meshdeck::proxy
