#include "support/free_ports.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QtGlobal>
#include <mutex>
#include <set>

namespace meshdeck::test {

namespace {

// 0 when no socket could be bound.
uint16_t kernelPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

}  // namespace

uint16_t freePort() {
  static std::mutex mu;
  static std::set<uint16_t> given;
  std::lock_guard lock(mu);
  for (int tries = 0; tries < 1000; ++tries) {
    const uint16_t port = kernelPort();
    if (port == 0) break;
    if (given.insert(port).second) return port;
  }
  qFatal("freePort: no free loopback port");
}

}  // namespace meshdeck::test
