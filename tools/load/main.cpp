// meshdeck-load: open-loop fixed-rate (or closed-loop --max) HTTP/1.1, HTTP/2 or gRPC load
// generator.
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <iostream>
#include <thread>

#include "common/duration.h"
#include "meshdeck/version.h"
#include "tools/load/load_generator.h"
#include "tools/load/load_report.h"

namespace {

// CLI11 validator-transform for durations such as "30s", "250ms".
std::chrono::nanoseconds toDuration(const std::string& text, const char* flag) {
  const auto d = meshdeck::common::parseDuration(text);
  if (!d) throw CLI::ValidationError(flag, "'" + text + "' is not a duration like 30s or 250ms");
  return *d;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace meshdeck::tools;
  CLI::App app{
      "meshdeck-load: open-loop fixed-rate HTTP/1.1, HTTP/2 (--http2) or gRPC (--grpc) load "
      "generator. Latency is measured from "
      "each request's scheduled send time, so a slow server cannot hide its stalls."};
  app.set_version_flag("--version", meshdeck::kVersion);
  std::string url_text, proxy_text, duration_text = "10s", timeout_text = "5s";
  std::vector<std::string> header_texts;
  LoadOptions options;
  bool json = false;
  app.add_option("--url", url_text, "Target URL, http://host[:port]/path")->required();
  app.add_option("--rate", options.rate, "Requests per second (open loop)")->capture_default_str();
  app.add_flag("--max", options.closed_loop,
               "Closed loop: each connection sends as soon as its response is in");
  app.add_option("--connections", options.connections, "Connections kept open")
      ->capture_default_str();
  app.add_option("--workers", options.workers, "Threads, each with a share of the connections")
      ->capture_default_str();
  app.add_option("--duration", duration_text, "How long to send, e.g. 30s")->capture_default_str();
  app.add_option("--timeout", timeout_text, "Per-request budget from its scheduled send time")
      ->capture_default_str();
  app.add_option("--method", options.method, "HTTP method")->capture_default_str();
  app.add_option("--header", header_texts, "Extra request header 'Name: value' (repeatable)");
  app.add_option("--body-size", options.body_size, "Request body of this many bytes");
  app.add_option("--proxy", proxy_text,
                 "Send through this HTTP proxy with absolute-form targets, e.g. "
                 "http://127.0.0.1:15001");
  bool h2 = false, grpc = false;
  auto* h2_opt = app.add_flag("--http2", h2, "HTTP/2 with prior knowledge (h2c)");
  app.add_flag("--grpc", grpc,
               "gRPC unary calls over h2c: POST the URL's path (/meshdeck.demo.v1.Demo/Call "
               "when it is /), status from grpc-status")
      ->excludes(h2_opt);
  app.add_option("--streams", options.streams, "HTTP/2, gRPC: requests at once per connection")
      ->capture_default_str();
  app.add_flag("--json", json, "Print the result as one JSON object");
  CLI11_PARSE(app, argc, argv);

  try {
    std::string error;
    auto url = parseHttpUrl(url_text, &error);
    if (!url) throw CLI::ValidationError("--url", error);
    options.url = *url;
    if (!proxy_text.empty()) {
      auto proxy = parseHttpUrl(proxy_text, &error);
      if (!proxy) throw CLI::ValidationError("--proxy", error);
      options.proxy = *proxy;
    }
    if (h2) options.protocol = LoadProtocol::kHttp2;
    if (grpc) options.protocol = LoadProtocol::kGrpc;
    options.duration = toDuration(duration_text, "--duration");
    options.timeout = toDuration(timeout_text, "--timeout");
    for (const auto& h : header_texts) {
      const auto colon = h.find(':');
      if (colon == std::string::npos)
        throw CLI::ValidationError("--header", "'" + h + "' is not Name: value");
      std::string value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      options.headers.emplace_back(h.substr(0, colon), value);
    }
    if (auto problem = validateLoadOptions(options); !problem.empty())
      throw CLI::ValidationError(problem);
  } catch (const CLI::Error& e) {
    return app.exit(e);
  }

  LoadGenerator generator(options);
  // SIGINT/SIGTERM end the run early; the report still prints what was measured.
  boost::asio::io_context signal_ioc;
  boost::asio::signal_set signals(signal_ioc, SIGINT, SIGTERM);
  signals.async_wait([&generator](const boost::system::error_code& ec, int) {
    if (!ec) generator.stop();
  });
  std::thread signal_thread([&signal_ioc] { signal_ioc.run(); });
  std::string error;
  const auto result = generator.run(&error);
  signals.cancel();
  signal_thread.join();
  if (!result) {
    std::cerr << "meshdeck-load: " << error << "\n";
    return 1;
  }
  std::cout << (json ? formatLoadReportJson(options, *result)
                     : formatLoadReportText(options, *result));
  return 0;
}
