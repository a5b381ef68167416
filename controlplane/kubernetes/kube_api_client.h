#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace boost::asio {
class io_context;
}

namespace meshdeck::cp::kubernetes {

// Where the Kubernetes API server is and how to authenticate to it
// (docs/kubernetes-registry.md).
struct KubeApiConfig {
  std::string host, port;  // port "443" by default for https, "80" for http
  bool tls = true;         // https (the cluster CA verifies the server) or plain http (tests)
  // Bearer token file (the service account's; re-read when it changes, since a projected token
  // rotates). Empty: no Authorization header.
  std::string token_file;
  // PEM file of the CA that signs the API server's certificate. Empty with https: the system's
  // default roots.
  std::string ca_file;
  // The namespace this process runs in (in-cluster only; informative).
  std::string ns;

  // In-cluster: KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT and the mounted service
  // account /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}. `root`
  // replaces that directory (tests). Nothing, with the reason, outside a pod.
  static std::optional<KubeApiConfig> inCluster(std::string* error,
                                                const std::string& sa_dir = kServiceAccountDir);
  // Explicit: `url` is http(s)://HOST[:PORT] (no path). Nothing, with the reason, when it is not.
  static std::optional<KubeApiConfig> fromUrl(const std::string& url, std::string token_file,
                                              std::string ca_file, std::string* error);

  static constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
};

// One answer of the API server.
struct KubeResponse {
  int status = 0;     // HTTP status; 0 when no answer came (see `error`)
  std::string body;   // the body (bounded by KubeApiClient::kMaxBodyBytes)
  std::string error;  // transport error ("" when an answer came)
};

// How a watch stream ended.
struct WatchEnd {
  int status = 0;     // HTTP status of the answer; 0: no answer (connect, TLS, ...)
  std::string error;  // transport error, or "" when the server ended the stream cleanly
  std::string body;   // the (bounded) body of a non-200 answer
  bool cancelled = false;
};

// KubeApiClient speaks HTTP/1.1 (Boost.Beast, OpenSSL) to the Kubernetes API server: one
// connection per call, a bearer token read from the token file (again whenever the file's
// modification time or size changes), the server verified against the cluster CA with the host
// name "kubernetes.default.svc" or the URL's host.
//
// Every call runs on the calling thread, on an io_context of its own, with a deadline; cancel()
// (any thread) ends the calls running at that moment, which then return "cancelled". Calls may
// run concurrently on several threads. No exceptions escape.
class KubeApiClient {
 public:
  static constexpr size_t kMaxBodyBytes = 64u << 20;        // a list page
  static constexpr size_t kDefaultMaxLineBytes = 4u << 20;  // one watch event

  explicit KubeApiClient(KubeApiConfig config);
  ~KubeApiClient();
  KubeApiClient(const KubeApiClient&) = delete;
  KubeApiClient& operator=(const KubeApiClient&) = delete;

  // GET or POST `target` (path and query). `body` is sent as application/json for POST.
  KubeResponse get(const std::string& target,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30));
  KubeResponse post(const std::string& target, const std::string& body,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // A watch (or any streamed GET): `on_line` gets every newline-terminated line of a 200
  // answer's body (chunked or not), without the newline, and returns false to end the stream
  // there (the call then returns as if the server had ended it); a line longer than `max_line` is
  // not delivered: `on_oversize` is called once for it and the rest of it is skipped. Returns when
  // the server ends the stream, the connection breaks, nothing arrives for `idle`, or cancel().
  WatchEnd stream(const std::string& target, const std::function<bool(std::string_view)>& on_line,
                  const std::function<void()>& on_oversize, size_t max_line,
                  std::chrono::milliseconds idle);

  // Ends every call running now (they return cancelled) and every later one until reset().
  void cancel();
  void reset();

  const KubeApiConfig& config() const { return config_; }
  // The current bearer token ("" without a token file or when it cannot be read: logged).
  std::string token();
  // Times the token file was (re-)read with new contents.
  uint64_t tokenReads() const { return token_reads_.load(); }

 private:
  struct Call;
  KubeResponse request(const std::string& method, const std::string& target,
                       const std::string& body, std::chrono::milliseconds timeout);

  const KubeApiConfig config_;
  std::mutex mu_;
  std::set<boost::asio::io_context*> running_;  // guarded by mu_
  bool cancelled_ = false;                      // guarded by mu_
  std::mutex token_mu_;
  std::string token_;                                        // guarded by token_mu_
  std::optional<std::pair<int64_t, uint64_t>> token_stamp_;  // mtime ns, size
  std::atomic<uint64_t> token_reads_{0};
};

// "a=b" pairs into a query string with percent-encoding of the values.
std::string queryEscape(std::string_view value);

}  // namespace meshdeck::cp::kubernetes
