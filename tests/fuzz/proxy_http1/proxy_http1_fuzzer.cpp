// proxy_http1: bytes from a client, through the real proxy (standalone mode, one worker, its
// real sessions and sockets on loopback), to a backend that records what reaches it.
//
// Oracle (differential, request smuggling): everything the backend receives must parse with
// Beast's strict parser into complete messages, and each of them must be one of the requests
// the input itself holds when read by the same strict parser (same method, origin-form target
// and body), in order. A request the client did not send as a request, or bytes that do not
// frame, trap. Sanitizer reports from the proxy's worker thread end the run as usual.
//
// libFuzzer's -timeout arms SIGALRM every second: every system call here retries on EINTR.
// Per input: connect, write, half-close, read the answers until the proxy closes (bounded),
// then let the backend catch up. A request the client sent completely that the backend holds
// half of while the proxy keeps the client waiting is a framing disagreement, reported too.
// Backend connections the proxy keeps pooled survive between inputs (a pool that hands out a
// connection in the middle of a message is a finding too), but a connection left holding half
// a request is closed so that the next input starts clean.
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/url/parse.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "meshdeck/v1/discovery.pb.h"
#include "proxy/config/config_compiler.h"
#include "proxy/proxy.h"

namespace {

namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

struct Message {
  std::string method, target, body;
};

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n\n";
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Parses one request at the start of `data`. nullopt: incomplete or invalid (`consumed` 0).
std::optional<Message> parseOne(std::string_view data, size_t* consumed, bool* invalid) {
  http::request_parser<http::string_body> p;
  p.eager(true);
  p.header_limit(64 * 1024);
  p.body_limit(16 * 1024 * 1024);
  boost::system::error_code ec;
  size_t used = 0;
  while (!ec && !p.is_done() && used < data.size()) {
    used += p.put(boost::asio::buffer(data.data() + used, data.size() - used), ec);
    if (ec == http::error::need_more) {
      ec = {};
      break;
    }
  }
  *consumed = 0;
  *invalid = bool(ec);
  if (ec || !p.is_done()) return std::nullopt;
  *consumed = used;
  auto& req = p.get();
  return Message{std::string(req.method_string()), std::string(req.target()), req.body()};
}

// The target as the proxy sends it upstream: an absolute-form http:// target becomes its path
// and query (the proxy's own rule for HTTP-proxy mode).
std::optional<std::string> originForm(const std::string& target) {
  if (target.size() > 7 &&
      boost::beast::iequals(std::string_view(target).substr(0, 7), "http://")) {
    auto url = boost::urls::parse_absolute_uri(target);
    if (!url || url->encoded_host().empty()) return std::nullopt;
    std::string origin(url->encoded_path());
    if (origin.empty()) origin = "/";
    if (url->has_query()) origin += "?" + std::string(url->encoded_query());
    return origin;
  }
  return target;
}

constexpr std::string_view kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
constexpr std::string_view kHeadResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";

// The upstream: answers every complete request with a fixed response and records it.
class Backend {
 public:
  Backend() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::perror("proxy_http1: backend");
      std::abort();
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
    thread_.detach();
  }
  uint16_t port() const { return port_; }

  // Starts an input: forgets what was received for the previous one.
  void begin() {
    std::lock_guard lock(mutex_);
    received_.clear();
    violation_.clear();
  }
  // Waits until the backend has looked at everything that is readable now (and, for up to
  // `linger`, for connections holding half a request to complete or close; those still open
  // then are closed), then returns what was received.
  std::vector<Message> finish(std::string* violation, std::chrono::milliseconds linger,
                              std::vector<std::string>* partials) {
    const auto deadline = Clock::now() + linger;
    uint64_t target = 0;
    {
      std::lock_guard lock(mutex_);
      target = passes_ + 2;
    }
    for (;;) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      std::lock_guard lock(mutex_);
      if (passes_ < target) continue;
      if (partial_ == 0 || Clock::now() >= deadline) {
        *partials = partial_data_;
        if (partial_ != 0) close_partial_ = true;
        *violation = violation_;
        return received_;
      }
      target = passes_ + 1;
    }
  }

 private:
  struct Conn {
    int fd;
    std::string data;  // bytes not yet parsed into a message
  };

  void loop() {
    std::vector<Conn> conns;
    std::vector<pollfd> fds;
    char buf[16384];
    for (;;) {
      fds.clear();
      fds.push_back({listener_, POLLIN, 0});
      for (auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
      ::poll(fds.data(), fds.size(), 1);
      if (fds[0].revents & POLLIN) {
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd >= 0) conns.push_back({fd, {}});
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        Conn& c = conns[i - 1];
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          ::close(c.fd);
          c.fd = -1;
          continue;
        }
        c.data.append(buf, static_cast<size_t>(n));
        if (std::getenv("MESHDECK_FUZZ_DEBUG") != nullptr)
          std::fprintf(stderr, "upstream bytes: %s\n",
                       printable({buf, static_cast<size_t>(n)}).c_str());
        serve(c);
      }
      std::lock_guard lock(mutex_);
      size_t partial = 0;
      partial_data_.clear();
      for (auto& c : conns) {
        if (c.fd >= 0 && !c.data.empty()) {
          if (close_partial_) {
            ::close(c.fd);
            c.fd = -1;
          } else {
            ++partial;
            partial_data_.push_back(c.data);
          }
        }
      }
      close_partial_ = false;
      std::erase_if(conns, [](const Conn& c) { return c.fd < 0; });
      partial_ = partial;
      ++passes_;
    }
  }

  void serve(Conn& c) {
    while (!c.data.empty()) {
      size_t consumed = 0;
      bool invalid = false;
      auto m = parseOne(c.data, &consumed, &invalid);
      if (invalid) {
        std::lock_guard lock(mutex_);
        violation_ =
            "the upstream received bytes that do not parse as a request:\n" + printable(c.data);
        c.data.clear();
        return;
      }
      if (!m) return;
      const bool head = m->method == "HEAD";
      {
        std::lock_guard lock(mutex_);
        received_.push_back(std::move(*m));
      }
      c.data.erase(0, consumed);
      const std::string_view r = head ? kHeadResponse : kResponse;
      while (::send(c.fd, r.data(), r.size(), MSG_NOSIGNAL) < 0 && errno == EINTR) {
      }
    }
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<Message> received_;
  std::string violation_;
  size_t partial_ = 0;
  std::vector<std::string> partial_data_;
  uint64_t passes_ = 0;
  bool close_partial_ = false;
};

struct Harness {
  Backend backend;
  std::unique_ptr<meshdeck::proxy::Proxy> proxy;
  uint16_t port = 0;

  Harness() {
    spdlog::set_level(spdlog::level::off);
    meshdeck::v1::ProxyConfig config;
    std::string error;
    if (!meshdeck::proxy::standaloneConfig(
            "127.0.0.1:0", {"127.0.0.1:" + std::to_string(backend.port())}, &config, &error)) {
      std::fprintf(stderr, "proxy_http1: %s\n", error.c_str());
      std::abort();
    }
    meshdeck::proxy::Proxy::Options options;
    options.workers = 1;
    options.require_tls_identity = true;
    options.drain_timeout = std::chrono::milliseconds(100);
    proxy = std::make_unique<meshdeck::proxy::Proxy>(options);
    if (!proxy->start(config, &error)) {
      std::fprintf(stderr, "proxy_http1: proxy start: %s\n", error.c_str());
      std::abort();
    }
    port = proxy->listenerPorts().at("main");
  }
};

Harness& harness() {
  static Harness* h = new Harness();  // never destroyed: worker threads outlive main's exit
  return *h;
}

// Sends the input, half-closes, and reads until the proxy closes or a deadline passes.
// Returns whether the proxy closed the connection.
bool exchange(uint16_t port, std::string_view input) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    std::perror("proxy_http1: connect");
    std::abort();
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(500);
  size_t sent = 0;
  bool write_open = true;
  char buf[16384];
  bool closed = false;
  for (;;) {
    if (write_open && sent == input.size()) {
      ::shutdown(fd, SHUT_WR);
      write_open = false;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (write_open ? POLLOUT : 0)), 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    if (p.revents & POLLOUT) {
      const ssize_t n = ::send(fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        write_open = false;  // the proxy closed on us: read what it said
      } else {
        sent += static_cast<size_t>(n);
      }
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        closed = true;
        break;
      }
    }
  }
  ::close(fd);
  return closed;
}

// The request line of a partial message whose header is complete.
std::optional<Message> headOf(std::string_view data) {
  http::request_parser<http::string_body> p;
  p.header_limit(64 * 1024);
  boost::system::error_code ec;
  p.put(boost::asio::buffer(data.data(), data.size()), ec);
  if (!p.is_header_done()) return std::nullopt;
  return Message{std::string(p.get().method_string()), std::string(p.get().target()), {}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness& h = harness();
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // What the client sent, read strictly: the requests up to the first one that is incomplete
  // or invalid.
  std::vector<Message> sent;
  for (std::string_view rest = input; !rest.empty();) {
    size_t consumed = 0;
    bool invalid = false;
    auto m = parseOne(rest, &consumed, &invalid);
    if (!m) break;
    sent.push_back(std::move(*m));
    rest.remove_prefix(consumed);
  }

  h.backend.begin();
  const bool closed = exchange(h.port, input);
  std::string violation;
  std::vector<std::string> partials;
  const std::vector<Message> received =
      h.backend.finish(&violation, std::chrono::milliseconds(closed ? 20 : 200), &partials);
  // The proxy still holds the client connection and the upstream holds half a message whose
  // head is that of a request the client sent completely: proxy and upstream disagree on where
  // that request ends (its next bytes would be read as another request).
  if (violation.empty() && !closed) {
    for (const std::string& data : partials) {
      const auto head = headOf(data);
      if (!head) continue;
      for (const Message& s : sent) {
        if (s.method == head->method && originForm(s.target) == head->target) {
          violation = "a request the client sent completely reached the upstream incomplete:\n" +
                      printable(data);
          break;
        }
      }
    }
  }

  static const bool debug = std::getenv("MESHDECK_FUZZ_DEBUG") != nullptr;
  if (debug) {
    for (const Message& m : sent)
      std::fprintf(stderr, "client sent: %s %s (%zu body bytes)\n", m.method.c_str(),
                   printable(m.target).c_str(), m.body.size());
    for (const Message& m : received)
      std::fprintf(stderr, "upstream got: %s %s (%zu body bytes)\n", m.method.c_str(),
                   printable(m.target).c_str(), m.body.size());
  }
  if (violation.empty()) {
    // Each upstream request must be a request of the input, in order (a retry may repeat one).
    size_t j = 0;
    for (const Message& r : received) {
      while (j < sent.size()) {
        const Message& s = sent[j];
        if (s.method == r.method && s.body == r.body && originForm(s.target) == r.target) break;
        ++j;
      }
      if (j == sent.size()) {
        violation = "the upstream received a request the client did not send: " + r.method + " " +
                    printable(r.target) + " body " + std::to_string(r.body.size()) + " bytes \"" +
                    printable(r.body) + "\"";
        break;
      }
    }
  }
  if (!violation.empty()) {
    std::fprintf(stderr, "proxy_http1: %s\n--- client sent (%zu requests parsed) ---\n%s\n",
                 violation.c_str(), sent.size(), printable(input).c_str());
    __builtin_trap();
  }
  return 0;
}
