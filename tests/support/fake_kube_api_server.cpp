#include "support/fake_kube_api_server.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <random>

#include "support/test_certificates.h"

namespace meshdeck::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

std::map<std::string, std::string> queryOf(const std::string& target, std::string* path) {
  std::map<std::string, std::string> q;
  const auto qm = target.find('?');
  *path = target.substr(0, qm);
  if (qm == std::string::npos) return q;
  std::string rest = target.substr(qm + 1);
  size_t pos = 0;
  while (pos <= rest.size()) {
    const auto amp = rest.find('&', pos);
    const std::string pair = rest.substr(pos, amp == std::string::npos ? amp : amp - pos);
    const auto eq = pair.find('=');
    q[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return q;
}

}  // namespace

struct FakeKubeApiServer::Impl {
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  asio::ssl::context ssl{asio::ssl::context::tls_server};
};

struct FakeKubeApiServer::Conn {
  explicit Conn(asio::io_context& ioc) : socket(ioc) {}
  tcp::socket socket;
  std::mutex mu;
  bool closed = false;
  void close() {
    std::lock_guard lock(mu);
    if (closed) return;
    closed = true;
    beast::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }
};

FakeKubeApiServer::FakeKubeApiServer(bool tls) : tls_(tls), impl_(std::make_unique<Impl>()) {
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() /
         ("meshdeck-fake-kube-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
}

FakeKubeApiServer::~FakeKubeApiServer() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

bool FakeKubeApiServer::start(std::string* error) {
  if (tls_) {
    const TestCa ca("fake kubernetes CA", 1);
    LeafOptions leaf;
    leaf.common_name = "kube-apiserver";
    leaf.serial = 2;
    leaf.dns_names = {"localhost"};
    leaf.ip_addresses = {"127.0.0.1"};
    const TestCertificate cert = ca.issue(leaf);
    std::ofstream(dir_ / "ca.crt") << ca.certPem();
    beast::error_code ec;
    impl_->ssl.use_certificate_chain(asio::buffer(cert.cert_pem), ec);
    if (!ec) impl_->ssl.use_private_key(asio::buffer(cert.key_pem), asio::ssl::context::pem, ec);
    if (ec) {
      *error = "fake API server TLS: " + ec.message();
      return false;
    }
  }
  beast::error_code ec;
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(64, ec);
  if (ec) {
    *error = "fake API server: " + ec.message();
    return false;
  }
  port_ = impl_->acceptor.local_endpoint().port();
  acceptor_ = std::thread([this] { acceptLoop(); });
  return true;
}

void FakeKubeApiServer::stop() {
  std::vector<std::shared_ptr<Conn>> conns;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    conns = conns_;
  }
  cv_.notify_all();
  beast::error_code ec;
  // Wakes accept(): shutdown() on the listening socket makes a blocked accept return.
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  for (auto& c : conns) c->close();
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (auto& w : workers)
    if (w.joinable()) w.join();
  impl_->acceptor.close(ec);
}

std::string FakeKubeApiServer::url() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

void FakeKubeApiServer::setList(const std::string& collection, std::vector<std::string> items,
                                const std::string& resource_version) {
  std::lock_guard lock(mu_);
  lists_[collection] = {std::move(items), resource_version};
}

void FakeKubeApiServer::push(const std::string& collection, Action action) {
  {
    std::lock_guard lock(mu_);
    scripts_[collection].push_back(std::move(action));
  }
  cv_.notify_all();
}

void FakeKubeApiServer::watchEvent(const std::string& collection, const std::string& type,
                                   const std::string& object) {
  push(collection, {Action::kLine, "{\"type\":\"" + type + "\",\"object\":" + object + "}"});
}

void FakeKubeApiServer::watchBookmark(const std::string& collection,
                                      const std::string& resource_version) {
  push(collection, {Action::kLine,
                    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\","
                    "\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"" +
                        resource_version + "\"}}}"});
}

void FakeKubeApiServer::watchGone(const std::string& collection) {
  push(collection,
       {Action::kLine,
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
        "\"status\":\"Failure\",\"message\":\"too old resource version\",\"reason\":\"Expired\","
        "\"code\":410}}"});
}

void FakeKubeApiServer::watchRaw(const std::string& collection, const std::string& line) {
  push(collection, {Action::kLine, line});
}

void FakeKubeApiServer::dropWatch(const std::string& collection) {
  push(collection, {Action::kDrop, ""});
}

void FakeKubeApiServer::endWatch(const std::string& collection) {
  push(collection, {Action::kEnd, ""});
}

void FakeKubeApiServer::failNextWatch(const std::string& collection, int status) {
  std::lock_guard lock(mu_);
  fail_next_[collection] = status;
}

size_t FakeKubeApiServer::pendingScript(const std::string& collection) const {
  std::lock_guard lock(mu_);
  const auto it = scripts_.find(collection);
  return it == scripts_.end() ? 0 : it->second.size();
}

void FakeKubeApiServer::setTokenReview(const std::string& token, TokenReviewAnswer answer) {
  std::lock_guard lock(mu_);
  reviews_[token] = std::move(answer);
}

void FakeKubeApiServer::requireBearer(const std::string& token) {
  std::lock_guard lock(mu_);
  bearer_ = token;
}

std::vector<std::string> FakeKubeApiServer::requests(const std::string& prefix) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& r : requests_)
    if (r.rfind(prefix, 0) == 0) out.push_back(r);
  return out;
}

std::vector<std::string> FakeKubeApiServer::tokenReviewBodies() const {
  std::lock_guard lock(mu_);
  return review_bodies_;
}

void FakeKubeApiServer::acceptLoop() {
  for (;;) {
    auto conn = std::make_shared<Conn>(impl_->ioc);
    beast::error_code ec;
    impl_->acceptor.accept(conn->socket, ec);
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (ec) continue;
    conns_.push_back(conn);
    workers_.emplace_back([this, conn] { serve(conn); });
  }
}

namespace {

template <class Stream>
void writeResponse(Stream& stream, http::status status, const std::string& body) {
  http::response<http::string_body> res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::connection, "close");
  res.body() = body;
  res.prepare_payload();
  beast::error_code ec;
  http::write(stream, res, ec);
}

std::string statusBody(int code, const std::string& reason, const std::string& message) {
  return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
         "\"message\":\"" +
         message + "\",\"reason\":\"" + reason + "\",\"code\":" + std::to_string(code) + "}";
}

}  // namespace

void FakeKubeApiServer::serve(std::shared_ptr<Conn> conn) {
  auto handle = [&](auto& stream) {
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    beast::error_code ec;
    http::read(stream, buffer, req, ec);
    if (ec) return;
    const std::string target(req.target());
    std::string path;
    const auto query = queryOf(target, &path);
    std::string bearer;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(target);
      bearer = bearer_;
    }
    if (!bearer.empty() && std::string(req[http::field::authorization]) != "Bearer " + bearer) {
      writeResponse(stream, http::status::unauthorized,
                    statusBody(401, "Unauthorized", "Unauthorized"));
      return;
    }
    if (req.method() == http::verb::post && path == "/apis/authentication.k8s.io/v1/tokenreviews") {
      json::error_code jec;
      const auto v = json::parse(req.body(), jec);
      std::string token;
      if (!jec && v.is_object())
        if (const auto* spec = v.get_object().if_contains("spec"); spec && spec->is_object())
          if (const auto* t = spec->get_object().if_contains("token"); t && t->is_string())
            token = std::string(t->get_string());
      TokenReviewAnswer answer;
      answer.authenticated = false;
      {
        std::lock_guard lock(mu_);
        review_bodies_.push_back(req.body());
        if (const auto it = reviews_.find(token); it != reviews_.end()) answer = it->second;
      }
      json::object status;
      status["authenticated"] = answer.authenticated;
      if (answer.authenticated) {
        json::object user;
        user["username"] = answer.username;
        user["uid"] = "uid-1";
        user["groups"] = json::array{"system:serviceaccounts", "system:authenticated"};
        if (!answer.pod_name.empty()) {
          json::object extra;
          extra["authentication.kubernetes.io/pod-name"] =
              json::array{json::value(answer.pod_name)};
          user["extra"] = std::move(extra);
        }
        status["user"] = std::move(user);
        json::array auds;
        for (const auto& a : answer.audiences) auds.emplace_back(a);
        status["audiences"] = std::move(auds);
      } else {
        status["error"] = "[invalid bearer token, service account token has expired]";
      }
      json::object out;
      out["kind"] = "TokenReview";
      out["apiVersion"] = "authentication.k8s.io/v1";
      out["metadata"] = json::object{{"creationTimestamp", nullptr}};
      out["spec"] = json::object{};
      out["status"] = std::move(status);
      writeResponse(stream, http::status::created, json::serialize(out));
      return;
    }
    if (req.method() != http::verb::get) {
      writeResponse(stream, http::status::method_not_allowed,
                    statusBody(405, "MethodNotAllowed", "method not allowed"));
      return;
    }
    if (query.count("watch") && query.at("watch") == "1") {
      int fail = 0;
      {
        std::lock_guard lock(mu_);
        if (const auto it = fail_next_.find(path); it != fail_next_.end()) {
          fail = it->second;
          fail_next_.erase(it);
        }
      }
      if (fail) {
        writeResponse(stream, static_cast<http::status>(fail),
                      statusBody(fail, fail == 410 ? "Gone" : "InternalError", "scripted"));
        return;
      }
      http::response<http::empty_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "application/json");
      res.chunked(true);
      http::response_serializer<http::empty_body> sr{res};
      http::write_header(stream, sr, ec);
      if (ec) return;
      for (;;) {
        Action action;
        {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [&] { return stopping_ || !scripts_[path].empty(); });
          if (stopping_) return;
          action = std::move(scripts_[path].front());
          scripts_[path].pop_front();
        }
        if (action.kind == Action::kDrop) {
          conn->close();
          return;
        }
        if (action.kind == Action::kEnd) {
          asio::write(stream, http::make_chunk_last(), ec);
          return;
        }
        const std::string line = action.line + "\n";
        asio::write(stream, http::make_chunk(asio::buffer(line)), ec);
        if (ec) return;
      }
    }
    // A list, in pages.
    std::vector<std::string> items;
    std::string rv;
    {
      std::lock_guard lock(mu_);
      const auto it = lists_.find(path);
      if (it == lists_.end()) {
        writeResponse(stream, http::status::not_found, statusBody(404, "NotFound", path));
        return;
      }
      items = it->second.first;
      rv = it->second.second;
    }
    size_t offset = 0, limit = items.size();
    if (query.count("continue")) offset = std::stoul(query.at("continue").substr(5));  // "page-N"
    if (query.count("limit") && !query.at("limit").empty())
      limit = std::max<size_t>(1, std::stoul(query.at("limit")));
    std::string body =
        "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"" + rv + "\"";
    const size_t end = std::min(items.size(), offset + limit);
    if (end < items.size()) body += ",\"continue\":\"page-" + std::to_string(end) + "\"";
    body += "},\"items\":[";
    for (size_t i = offset; i < end; ++i) body += (i > offset ? "," : "") + items[i];
    body += "]}";
    writeResponse(stream, http::status::ok, body);
  };
  if (tls_) {
    asio::ssl::stream<tcp::socket&> stream(conn->socket, impl_->ssl);
    beast::error_code ec;
    stream.handshake(asio::ssl::stream_base::server, ec);
    if (!ec) handle(stream);
    if (!ec) stream.shutdown(ec);
  } else {
    handle(conn->socket);
  }
  conn->close();
}

}  // namespace meshdeck::test
