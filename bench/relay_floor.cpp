// relay_floor: the least a proxy in the data path can do, for the proxy benchmarks.
//
// One thread, level-triggered epoll. Each accepted connection gets its own upstream connection;
// whatever one side sends is written to the other at once, with no parsing, no buffering
// beyond one read, no timers and no pool. Per request and direction it makes one read and one
// write, plus the epoll_wait that reports it: the system calls and wake-ups every proxy on the
// path needs, and nothing else. bench/proxy_bench.sh runs it as the target "floor": its
// requests/s are the most any proxy can get out of the harness, and its added latency the least
// any proxy can show (docs/benchmarks.md). It is not a proxy: it does not read HTTP.
//
//   relay_floor --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_set>

namespace {

// HOST:PORT with an IPv4 host; port 0 (the kernel picks one) only where `any_port`.
bool parseEndpoint(const std::string& text, sockaddr_in& out, bool any_port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  out = {};
  out.sin_family = AF_INET;
  const std::string host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < (any_port ? 0 : 1) || p > 65535) return false;
  out.sin_port = htons(static_cast<uint16_t>(p));
  return inet_pton(AF_INET, host.c_str(), &out.sin_addr) == 1;
}

void setNoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// One side of a relayed pair. `pending` holds what was read from this side and the peer could
// not take yet; this side is not read again until it is gone. `eof`: this side sent its FIN,
// passed on to the peer (shutdown of the peer's write half) once `pending` is out.
struct Side {
  int fd = -1;
  Side* peer = nullptr;
  std::string pending;
  bool eof = false;
  uint32_t watched = 0;  // the epoll events registered for fd
};

class Relay {
 public:
  Relay(int listener, sockaddr_in upstream) : listener_(listener), upstream_(upstream) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the listener
    epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev);
  }

  [[noreturn]] void run() {
    std::array<epoll_event, 256> events{};
    for (;;) {
      const int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), -1);
      for (int i = 0; i < n; ++i) {
        auto* side = static_cast<Side*>(events[i].data.ptr);
        if (side == nullptr) {
          accept();
        } else if (closed_.count(side) == 0) {
          onEvent(*side, events[i].events);
        }
      }
      for (Side* s : closed_) delete s;
      closed_.clear();
    }
  }

 private:
  void accept() {
    for (;;) {
      const int client = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) return;
      // A blocking connect: on loopback it completes at once, and it keeps the relay simple.
      const int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (up < 0 ||
          connect(up, reinterpret_cast<const sockaddr*>(&upstream_), sizeof upstream_) != 0) {
        std::perror("relay_floor: upstream connect");
        if (up >= 0) close(up);
        close(client);
        continue;
      }
      fcntl(up, F_SETFL, fcntl(up, F_GETFL) | O_NONBLOCK);
      setNoDelay(client);
      setNoDelay(up);
      auto* a = new Side{client, nullptr, {}, false, 0};
      auto* b = new Side{up, a, {}, false, 0};
      a->peer = b;
      for (Side* s : {a, b}) {
        epoll_event ev{};
        ev.events = s->watched = EPOLLIN;
        ev.data.ptr = s;
        epoll_ctl(epoll_, EPOLL_CTL_ADD, s->fd, &ev);
      }
    }
  }

  // Read a side while it has sent no FIN and nothing of it waits; watch it for writing while
  // the peer's bytes wait for it. One epoll_ctl only when that changes.
  void update(Side& s) {
    const uint32_t want =
        (!s.eof && s.pending.empty() ? EPOLLIN : 0u) | (!s.peer->pending.empty() ? EPOLLOUT : 0u);
    if (want == s.watched) return;
    epoll_event ev{};
    ev.events = s.watched = want;
    ev.data.ptr = &s;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, s.fd, &ev);
  }

  void onEvent(Side& s, uint32_t events) {
    Side& peer = *s.peer;
    if ((events & EPOLLERR) != 0) return closePair(s);
    if ((events & EPOLLOUT) != 0 && !peer.pending.empty()) {
      // The peer's bytes were waiting for s: send what s takes now.
      if (!send(s, peer.pending)) return closePair(s);
      if (peer.pending.empty() && peer.eof) shutdown(s.fd, SHUT_WR);
    }
    if ((events & (EPOLLIN | EPOLLHUP)) != 0 && !s.eof && s.pending.empty()) {
      const ssize_t n = read(s.fd, buffer_.data(), buffer_.size());
      if (n < 0 && errno != EAGAIN && errno != EINTR) return closePair(s);
      if (n == 0) {
        s.eof = true;
        shutdown(peer.fd, SHUT_WR);
      } else if (n > 0) {
        s.pending.assign(buffer_.data(), static_cast<size_t>(n));
        if (!send(peer, s.pending)) return closePair(s);
      }
    }
    // Both FINs passed on and nothing waits, or s hung up with nothing of it waiting (it can
    // neither send nor take more): the pair is done.
    const bool drained = s.pending.empty() && peer.pending.empty();
    if ((s.eof && peer.eof && drained) || ((events & EPOLLHUP) != 0 && s.eof && drained))
      return closePair(s);
    update(s);
    update(peer);
  }

  // Sends what `to` takes of `data` and drops it from `data`; false if the connection failed.
  static bool send(Side& to, std::string& data) {
    const ssize_t w = write(to.fd, data.data(), data.size());
    if (w < 0) return errno == EAGAIN || errno == EINTR;
    data.erase(0, static_cast<size_t>(w));
    return true;
  }

  void closePair(Side& s) {
    for (Side* side : {&s, s.peer}) {
      if (closed_.insert(side).second) {
        epoll_ctl(epoll_, EPOLL_CTL_DEL, side->fd, nullptr);
        close(side->fd);
      }
    }
  }

  int epoll_ = -1;
  int listener_;
  sockaddr_in upstream_;
  std::array<char, 65536> buffer_{};
  std::unordered_set<Side*> closed_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  std::string upstream;
  CLI::App app{
      "relay_floor: relays bytes between each accepted connection and its own upstream "
      "connection (one thread, epoll), the floor a proxy benchmark compares against"};
  app.add_option("--listen", listen, "Address to listen on, HOST:PORT")->capture_default_str();
  app.add_option("--upstream", upstream, "Address each connection is relayed to, HOST:PORT")
      ->required();
  CLI11_PARSE(app, argc, argv);

  sockaddr_in listen_addr{}, upstream_addr{};
  if (!parseEndpoint(listen, listen_addr, true) || !parseEndpoint(upstream, upstream_addr, false)) {
    std::fprintf(stderr, "relay_floor: expected HOST:PORT with an IPv4 host\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener, reinterpret_cast<const sockaddr*>(&listen_addr), sizeof listen_addr) != 0 ||
      ::listen(listener, 1024) != 0) {
    std::perror("relay_floor: listen");
    return 1;
  }
  sockaddr_in bound{};
  socklen_t bound_size = sizeof bound;
  getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &bound_size);
  std::printf("relay_floor: listening on %s:%u, relaying to %s\n",
              listen.substr(0, listen.rfind(':')).c_str(), ntohs(bound.sin_port), upstream.c_str());
  std::fflush(stdout);
  Relay(listener, upstream_addr).run();
}
