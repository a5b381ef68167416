#include "controlplane/kubernetes/kube_api_client.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "common/bounded_file.h"

namespace meshdeck::cp::kubernetes {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr uint64_t kMaxTokenBytes = 64 * 1024;
constexpr uint64_t kMaxCaBytes = 1u << 20;

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

}  // namespace

std::string queryEscape(std::string_view value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::optional<KubeApiConfig> KubeApiConfig::inCluster(std::string* error,
                                                      const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host) {
    *error =
        "not in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set); give --kube-api URL "
        "--kube-token-file FILE --kube-ca FILE";
    return std::nullopt;
  }
  KubeApiConfig c;
  c.host = host;
  c.port = port && *port ? port : "443";
  c.tls = true;
  c.token_file = sa_dir + "/token";
  c.ca_file = sa_dir + "/ca.crt";
  std::string why;
  if (!std::filesystem::exists(c.token_file) || !std::filesystem::exists(c.ca_file)) {
    *error = "no service account mounted at " + sa_dir + " (token, ca.crt)";
    return std::nullopt;
  }
  std::string ns;
  if (common::readFileLimited(sa_dir + "/namespace", 256, &ns, &why)) c.ns = trimmed(ns);
  return c;
}

std::optional<KubeApiConfig> KubeApiConfig::fromUrl(const std::string& url, std::string token_file,
                                                    std::string ca_file, std::string* error) {
  KubeApiConfig c;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    c.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    c.tls = false;
    rest = url.substr(7);
  } else {
    *error = "--kube-api \"" + url + "\": expected https://HOST[:PORT] or http://HOST[:PORT]";
    return std::nullopt;
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find('/') != std::string::npos || rest.find('@') != std::string::npos) {
    *error = "--kube-api \"" + url + "\": expected a scheme, a host and an optional port only";
    return std::nullopt;
  }
  const auto colon = rest.rfind(':');
  const bool bracketed = rest.front() == '[';
  if (colon != std::string::npos && (!bracketed || rest[colon - 1] == ']')) {
    c.host = rest.substr(0, colon);
    c.port = rest.substr(colon + 1);
  } else {
    c.host = rest;
    c.port = c.tls ? "443" : "80";
  }
  if (bracketed && c.host.size() > 2) c.host = c.host.substr(1, c.host.size() - 2);
  if (c.host.empty() || c.port.empty() ||
      c.port.find_first_not_of("0123456789") != std::string::npos) {
    *error = "--kube-api \"" + url + "\": bad host or port";
    return std::nullopt;
  }
  c.token_file = std::move(token_file);
  c.ca_file = std::move(ca_file);
  return c;
}

KubeApiClient::KubeApiClient(KubeApiConfig config) : config_(std::move(config)) {}

KubeApiClient::~KubeApiClient() { cancel(); }

void KubeApiClient::cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  for (auto* ioc : running_) ioc->stop();
}

void KubeApiClient::reset() {
  std::lock_guard lock(mu_);
  cancelled_ = false;
}

std::string KubeApiClient::token() {
  if (config_.token_file.empty()) return {};
  std::lock_guard lock(token_mu_);
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(config_.token_file, ec);
  const auto size = ec ? 0 : std::filesystem::file_size(config_.token_file, ec);
  if (ec) {
    spdlog::warn("kubernetes: cannot read the token file {}: {}", config_.token_file, ec.message());
    return token_;
  }
  const std::pair<int64_t, uint64_t> stamp{mtime.time_since_epoch().count(), size};
  if (token_stamp_ && *token_stamp_ == stamp) return token_;
  std::string text, why;
  if (!common::readFileLimited(config_.token_file, kMaxTokenBytes, &text, &why)) {
    spdlog::warn("kubernetes: cannot read the token file {}: {}", config_.token_file, why);
    return token_;
  }
  token_ = trimmed(std::move(text));
  token_stamp_ = stamp;
  ++token_reads_;
  return token_;
}

// One call: its own io_context, registered so that cancel() can stop it.
struct KubeApiClient::Call {
  KubeApiClient& client;
  asio::io_context ioc;
  bool registered = false;
  explicit Call(KubeApiClient& c) : client(c) {
    std::lock_guard lock(client.mu_);
    if (client.cancelled_) return;
    client.running_.insert(&ioc);
    registered = true;
  }
  ~Call() {
    std::lock_guard lock(client.mu_);
    client.running_.erase(&ioc);
  }
};

namespace {

struct Outcome {
  int status = 0;
  std::string error;
  std::string body;
  bool done = false;
};

// Reads the body of a 200 answer line by line, or a bounded body of any answer.
struct LineReader {
  const std::function<bool(std::string_view)>* on_line = nullptr;
  bool aborted = false;
  const std::function<void()>* on_oversize = nullptr;
  size_t max_line = 0;
  std::string line;
  bool skipping = false;
  void feed(const char* data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      const char c = data[i];
      if (aborted) return;
      if (c == '\n') {
        if (!skipping && !line.empty() && !(*on_line)(line)) aborted = true;
        line.clear();
        skipping = false;
        continue;
      }
      if (skipping) continue;
      if (line.size() >= max_line) {
        skipping = true;
        line.clear();
        line.shrink_to_fit();
        if (*on_oversize) (*on_oversize)();
        continue;
      }
      line += c;
    }
  }
};

template <class Stream>
asio::awaitable<void> runCall(Stream& stream, beast::tcp_stream& tcp_layer,
                              tcp::resolver::results_type endpoints, bool tls,
                              http::request<http::string_body> req, LineReader* lines,
                              std::chrono::milliseconds idle, Outcome* out) {
  beast::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  tcp_layer.expires_after(idle);
  co_await tcp_layer.async_connect(endpoints, token);
  if (ec) {
    out->error = "connect: " + ec.message();
    co_return;
  }
  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
    if (tls) {
      tcp_layer.expires_after(idle);
      co_await stream.async_handshake(asio::ssl::stream_base::client, token);
      if (ec) {
        out->error = "TLS handshake: " + ec.message();
        co_return;
      }
    }
  }
  tcp_layer.expires_after(idle);
  co_await http::async_write(stream, req, token);
  if (ec) {
    out->error = "write: " + ec.message();
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  parser.header_limit(64 * 1024);
  tcp_layer.expires_after(idle);
  co_await http::async_read_header(stream, buffer, parser, token);
  if (ec) {
    out->error = "reading the answer: " + ec.message();
    co_return;
  }
  out->status = static_cast<int>(parser.get().result_int());
  const bool as_lines = lines && out->status == 200;
  std::vector<char> chunk(64 * 1024);
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    tcp_layer.expires_after(idle);
    co_await http::async_read_some(stream, buffer, parser, token);
    if (ec == http::error::need_buffer) ec = {};
    const size_t n = chunk.size() - parser.get().body().size;
    if (as_lines) {
      lines->feed(chunk.data(), n);
      if (lines->aborted) break;
    } else {
      if (out->body.size() + n > KubeApiClient::kMaxBodyBytes) {
        out->error =
            "answer larger than " + std::to_string(KubeApiClient::kMaxBodyBytes) + " bytes";
        co_return;
      }
      out->body.append(chunk.data(), n);
    }
    if (ec) {
      out->error = ec == beast::error::timeout
                       ? "nothing received for " + std::to_string(idle.count()) + " ms"
                       : "reading the answer: " + ec.message();
      co_return;
    }
  }
  if (as_lines && !lines->aborted && !lines->line.empty() && !lines->skipping)
    (*lines->on_line)(lines->line);
  out->done = true;
  if (as_lines && lines->aborted) co_return;
  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
    if (tls) {
      tcp_layer.expires_after(std::chrono::seconds(1));
      co_await stream.async_shutdown(token);
    }
  }
}

http::request<http::string_body> makeRequest(http::verb verb, const std::string& target,
                                             const std::string& host, const std::string& token) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, "meshdeck-controlplane");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  return req;
}

// Runs one call on `ioc`: at most `total` in all (nullopt: no bound, only `idle` per step).
// False with `setup_error` when the call could not even start (name, CA file).
bool perform(asio::io_context& ioc, const KubeApiConfig& config,
             http::request<http::string_body> req, LineReader* lines,
             std::chrono::milliseconds idle, std::optional<std::chrono::milliseconds> total,
             Outcome* out, std::string* setup_error) {
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  const auto endpoints = resolver.resolve(config.host, config.port, ec);
  if (ec) {
    *setup_error = "resolving " + config.host + ": " + ec.message();
    return false;
  }
  // Runs the call; when it was cut short (deadline, cancel()), closes the socket and lets the
  // aborted operations finish, so that the coroutine is done before the stream it uses goes
  // away. What it reports after the cut is dropped.
  auto run = [&](beast::tcp_stream& lowest) {
    if (total)
      ioc.run_for(*total);
    else
      ioc.run();
    const Outcome at_cut = *out;
    lowest.close();
    ioc.restart();
    for (int i = 0; i < 1000 && ioc.poll() > 0; ++i) {
    }
    *out = at_cut;
  };
  if (!config.tls) {
    beast::tcp_stream stream(ioc);
    asio::co_spawn(ioc, runCall(stream, stream, endpoints, false, std::move(req), lines, idle, out),
                   asio::detached);
    run(stream);
    return true;
  }
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  if (!config.ca_file.empty()) {
    std::string pem, why;
    if (!common::readFileLimited(config.ca_file, kMaxCaBytes, &pem, &why)) {
      *setup_error = "cluster CA " + config.ca_file + ": " + why;
      return false;
    }
    ctx.add_certificate_authority(asio::buffer(pem), ec);
    if (ec) {
      *setup_error = "cluster CA " + config.ca_file + ": " + ec.message();
      return false;
    }
  } else {
    ctx.set_default_verify_paths();
  }
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  beast::error_code not_ip;
  asio::ip::make_address(config.host, not_ip);
  if (not_ip) SSL_set_tlsext_host_name(stream.native_handle(), config.host.c_str());
  stream.set_verify_callback(asio::ssl::host_name_verification(config.host));
  asio::co_spawn(ioc,
                 runCall(stream, beast::get_lowest_layer(stream), endpoints, true, std::move(req),
                         lines, idle, out),
                 asio::detached);
  run(beast::get_lowest_layer(stream));
  return true;
}

}  // namespace

KubeResponse KubeApiClient::request(const std::string& method, const std::string& target,
                                    const std::string& body, std::chrono::milliseconds timeout) {
  KubeResponse r;
  Call call(*this);
  if (!call.registered) {
    r.error = "cancelled";
    return r;
  }
  auto req = makeRequest(method == "POST" ? http::verb::post : http::verb::get, target,
                         config_.host, token());
  if (method == "POST") {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
  }
  Outcome out;
  if (!perform(call.ioc, config_, std::move(req), nullptr, timeout, timeout, &out, &r.error))
    return r;
  r.status = out.status;
  r.body = std::move(out.body);
  if (!out.done) {
    std::lock_guard lock(mu_);
    r.error = !out.error.empty() ? out.error
              : cancelled_       ? "cancelled"
                                 : "no answer within " + std::to_string(timeout.count()) + " ms";
  }
  return r;
}

KubeResponse KubeApiClient::get(const std::string& target, std::chrono::milliseconds timeout) {
  return request("GET", target, "", timeout);
}

KubeResponse KubeApiClient::post(const std::string& target, const std::string& body,
                                 std::chrono::milliseconds timeout) {
  return request("POST", target, body, timeout);
}

WatchEnd KubeApiClient::stream(const std::string& target,
                               const std::function<bool(std::string_view)>& on_line,
                               const std::function<void()>& on_oversize, size_t max_line,
                               std::chrono::milliseconds idle) {
  WatchEnd end;
  Call call(*this);
  if (!call.registered) {
    end.cancelled = true;
    end.error = "cancelled";
    return end;
  }
  LineReader lines;
  lines.on_line = &on_line;
  lines.on_oversize = &on_oversize;
  lines.max_line = max_line;
  Outcome out;
  if (!perform(call.ioc, config_, makeRequest(http::verb::get, target, config_.host, token()),
               &lines, idle, std::nullopt, &out, &end.error))
    return end;
  end.status = out.status;
  end.body = std::move(out.body);
  end.error = out.error;
  if (!out.done && out.error.empty()) {
    end.cancelled = true;
    end.error = "cancelled";
  }
  return end;
}

}  // namespace meshdeck::cp::kubernetes
