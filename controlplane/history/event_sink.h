#pragma once

#include <functional>
#include <string>

namespace meshdeck::cp {

// Where the parts of the control plane report what happened, for the history store
// (docs/history.md, "Events"): a kind ("proxy.connect"), its subject and a detail. Called on
// the reporting thread; the sink only queues, so it is cheap and never blocks on disk.
using EventSink = std::function<void(const char* kind, std::string subject, std::string detail)>;

}  // namespace meshdeck::cp
