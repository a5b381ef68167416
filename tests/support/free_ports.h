// Loopback ports for the tests that must name a port before a process binds it (a sidecar's
// inbound, outbound and admin ports; a control plane restarted on the port it had). Where a
// program can bind port 0 and report the port it got (meshdeck-proxy --port-file, the demo
// service's port_file, the control plane's "listening on" line), use that instead: it has no race.
#pragma once

#include <cstdint>

namespace meshdeck::test {

// A port that was free on 127.0.0.1 a moment ago: the kernel's choice for a bind() to port 0,
// never the same one twice in this process. The socket is closed before returning, so another
// program may take the port before the child meant to bind it does: a small race, accepted
// (the child then fails to bind and the test fails; it does not pass wrongly). Aborts the test
// program when no socket can be bound.
uint16_t freePort();

}  // namespace meshdeck::test
