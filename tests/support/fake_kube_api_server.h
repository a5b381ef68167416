#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace meshdeck::test {

// FakeKubeApiServer: a scripted Kubernetes API server on 127.0.0.1 (port 0) for tests. HTTPS
// with a certificate of its own test CA (written to caFile(), SAN IP 127.0.0.1), or plain HTTP.
// It speaks the API server's wire format for what Meshdeck uses:
//  - list: GET <collection>?limit=N[&continue=T] answers {"kind":"List","metadata":
//    {"resourceVersion","continue"},"items":[...]} from the objects set with setList(), in pages;
//  - watch: GET <collection>?watch=1&resourceVersion=... answers 200 with a chunked stream of
//    JSON lines taken, in order, from the collection's script (watchEvent(), watchBookmark(),
//    watchRaw(), watchGone(), dropWatch(), endWatch()); an open watch waits for more script;
//    failNextWatch() answers the next watch with an HTTP status instead (410 Gone);
//  - POST /apis/authentication.k8s.io/v1/tokenreviews: answered from setTokenReview() (a token
//    it was not told of is unauthenticated).
// Every request's target is recorded (requests()). A bearer token may be required
// (requireBearer). Thread-safe; one thread per connection.
class FakeKubeApiServer {
 public:
  explicit FakeKubeApiServer(bool tls = true);
  ~FakeKubeApiServer();
  FakeKubeApiServer(const FakeKubeApiServer&) = delete;
  FakeKubeApiServer& operator=(const FakeKubeApiServer&) = delete;

  bool start(std::string* error);
  void stop();
  std::string url() const;  // https://127.0.0.1:PORT
  std::string caFile() const { return (dir_ / "ca.crt").string(); }
  std::string dir() const { return dir_.string(); }

  // The objects (JSON texts) a list of `collection` (e.g. "/api/v1/pods") returns, and the
  // list's resource version.
  void setList(const std::string& collection, std::vector<std::string> items,
               const std::string& resource_version);
  // Script of the watches of `collection`: lines are written to the open watch (or the next).
  void watchEvent(const std::string& collection, const std::string& type,
                  const std::string& object);
  void watchBookmark(const std::string& collection, const std::string& resource_version);
  void watchGone(const std::string& collection);  // ERROR event with a Status of code 410
  void watchRaw(const std::string& collection, const std::string& line);
  void dropWatch(const std::string& collection);  // the connection is cut, no terminal chunk
  void endWatch(const std::string& collection);   // the watch ends cleanly (terminal chunk)
  void failNextWatch(const std::string& collection, int status);
  // Script entries not yet taken by a watch.
  size_t pendingScript(const std::string& collection) const;

  struct TokenReviewAnswer {
    bool authenticated = true;
    std::string username;  // system:serviceaccount:NS:SA
    std::vector<std::string> audiences{"meshdeck"};
    std::string pod_name;
  };
  void setTokenReview(const std::string& token, TokenReviewAnswer answer);
  // Requests must carry "Authorization: Bearer <token>" (else 401); "" : no check.
  void requireBearer(const std::string& token);

  // Targets (path and query) of the requests received, in order, whose path starts with `prefix`.
  std::vector<std::string> requests(const std::string& prefix = "") const;
  // Bodies of the TokenReview requests received.
  std::vector<std::string> tokenReviewBodies() const;

 private:
  struct Action {
    enum Kind { kLine, kDrop, kEnd } kind = kLine;
    std::string line;
  };
  struct Conn;
  void acceptLoop();
  void serve(std::shared_ptr<Conn> conn);
  void push(const std::string& collection, Action action);

  const bool tls_;
  std::filesystem::path dir_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, std::pair<std::vector<std::string>, std::string>> lists_;
  std::map<std::string, std::deque<Action>> scripts_;
  std::map<std::string, int> fail_next_;
  std::map<std::string, TokenReviewAnswer> reviews_;
  std::string bearer_;
  std::vector<std::string> requests_;
  std::vector<std::string> review_bodies_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::thread acceptor_;
  std::vector<std::thread> workers_;
  uint16_t port_ = 0;
};

}  // namespace meshdeck::test
