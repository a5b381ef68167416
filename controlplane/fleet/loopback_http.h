#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace meshdeck::cp::fleet {

// One HTTP/1.1 request to 127.0.0.1:`port` with Beast, bounded by `timeout`. Returns the
// status code, or 0 when the connection or the exchange failed (`error` says why).
unsigned loopbackHttp(uint16_t port, const std::string& method, const std::string& target,
                      const std::string& json_body, std::chrono::milliseconds timeout,
                      std::string* response_body, std::string* error);

}  // namespace meshdeck::cp::fleet
