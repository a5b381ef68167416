// meshdeck-proxy's command line: the rules between options (CLI11 refuses), the mode each
// command line picks and what it resolves to (planStartup), from real argv vectors and files.
#include "proxy/cli/command_line.h"

#include <CLI/CLI.hpp>
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>

#include "support/argv.h"

using namespace meshdeck::proxy;

namespace {

// Parses `args` as meshdeck-proxy's argv would be; false (and the CLI11 message) on refusal.
bool parse(std::vector<std::string> args, CommandLine* cl, std::string* refusal = nullptr) {
  CLI::App app{"test"};
  declareOptions(app, *cl);
  meshdeck::test::Argv argv("meshdeck-proxy", std::move(args));
  try {
    app.parse(argv.argc(), argv.argv());
    return true;
  } catch (const CLI::ParseError& e) {
    if (refusal) *refusal = e.what();
    return false;
  }
}

void writeFile(const QString& path, const std::string& text) {
  std::ofstream(path.toStdString()) << text;
}

}  // namespace

class CommandLineTest : public QObject {
  Q_OBJECT

 private slots:
  void refusesOptionsOfAnotherMode() {
    const std::vector<std::vector<std::string>> refused = {
        {"--listen", "127.0.0.1:0"},  // --listen needs --upstream
        {"--upstream", "127.0.0.1:1"},
        {"--control-plane", "127.0.0.1:1", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"},
        {"--config", "a.yaml", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"},
        {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--upstream-identity", "x"},
        {"--bootstrap-token-file", "t"},  // mesh-mode option without --control-plane
        {"--host-address", "10.0.0.3"},
        {"--tls-cert", "c.pem"},  // needs --tls-key and --tls-trust
        {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--listen-tls-mode", "maybe"},
        {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--upstream-protocol", "h3"},
        {"--config", "a.yaml", "--upstream-protocol", "http2"},  // standalone only
        {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--app-protocol", "grpc"},
        {"--control-plane", "127.0.0.1:1", "--service", "r", "--app-protocol", "h3"},
        {"--drain-timeout", "-1"},
        {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--depends", "reviews"},
    };
    for (const auto& args : refused) {
      CommandLine cl;
      std::string why;
      QVERIFY2(!parse(args, &cl, &why), args.front().c_str());
      QVERIFY(!why.empty());
    }
  }

  void versionAloneOrAsTheWorkloadsVersion() {
    CommandLine alone;
    QVERIFY(parse({"--version"}, &alone));
    QVERIFY(alone.print_version);
    CommandLine labelled;
    QVERIFY(parse({"--control-plane", "127.0.0.1:1", "--version", "v2"}, &labelled));
    QVERIFY(!labelled.print_version);
    QCOMPARE(labelled.mesh.version, std::string("v2"));
  }

  void noModeIsAnError() {
    CommandLine cl;
    QVERIFY(parse({"--workers", "2"}, &cl));
    StartupPlan plan;
    std::string error;
    QVERIFY(!planStartup(cl, &plan, &error));
    QCOMPARE(error, std::string("give --listen and --upstream, --config, or --control-plane"));
  }

  void standaloneBuildsItsConfig() {
    CommandLine cl;
    QVERIFY(parse({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9001", "--upstream",
                   "127.0.0.1:9002", "--listen-tls-mode", "strict", "--upstream-tls",
                   "--upstream-identity", "spiffe://example.org/ns/default/sa/b", "--trust-domain",
                   "example.org", "--drain-timeout", "2.5", "--busy-poll"},
                  &cl));
    StartupPlan plan;
    std::string error;
    QVERIFY2(planStartup(cl, &plan, &error), error.c_str());
    QCOMPARE(plan.mode, StartupPlan::Mode::kStandalone);
    QVERIFY(!plan.mesh);
    QVERIFY(plan.options.require_tls_identity);
    QCOMPARE(plan.options.drain_timeout.count(), 2500);
    QVERIFY(plan.options.busy_poll);
    QCOMPARE(plan.config.listeners_size(), 1);
    QCOMPARE(plan.config.listeners(0).tls_mode(), meshdeck::v1::MUTUAL_TLS);
    QCOMPARE(plan.config.clusters(0).endpoints_size(), 2);
    QCOMPARE(plan.config.clusters(0).tls().mode(), meshdeck::v1::MUTUAL_TLS);
    QCOMPARE(plan.config.clusters(0).tls().expected_identities(0),
             std::string("spiffe://example.org/ns/default/sa/b"));
    QCOMPARE(plan.config.security().trust_domain(), std::string("example.org"));

    // HTTP/1.1 upstreams unless asked; --upstream-protocol http2 makes the cluster HTTP/2.
    QCOMPARE(plan.config.clusters(0).protocol(), meshdeck::v1::Cluster::PROTOCOL_UNSPECIFIED);
    CommandLine h2;
    QVERIFY(parse(
        {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9001", "--upstream-protocol", "http2"},
        &h2));
    QVERIFY2(planStartup(h2, &plan, &error), error.c_str());
    QCOMPARE(plan.config.clusters(0).protocol(), meshdeck::v1::Cluster::HTTP2);
    QVERIFY(!plan.options.busy_poll);  // workers sleep unless asked
    CommandLine h1;
    QVERIFY(parse(
        {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9001", "--upstream-protocol", "http1"},
        &h1));
    QVERIFY2(planStartup(h1, &plan, &error), error.c_str());
    QCOMPARE(plan.config.clusters(0).protocol(), meshdeck::v1::Cluster::PROTOCOL_UNSPECIFIED);

    CommandLine bad;
    QVERIFY(parse({"--listen", "nowhere", "--upstream", "127.0.0.1:1"}, &bad));
    QVERIFY(!planStartup(bad, &plan, &error));
    QVERIFY2(error.find("nowhere") != std::string::npos, error.c_str());
  }

  void meshModeDefaultsAndItsToken() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString token = dir.filePath("token");
    writeFile(token, "s3cret \n");
    CommandLine cl;
    QVERIFY(parse({"--control-plane", "127.0.0.1:1", "--service", "reviews", "--inbound-port", "1",
                   "--app-port", "2", "--outbound-port", "3", "--admin-port", "4",
                   "--bootstrap-token-file", token.toStdString(), "--trust-domain", "example.org"},
                  &cl));
    StartupPlan plan;
    std::string error;
    QVERIFY2(planStartup(cl, &plan, &error), error.c_str());
    QCOMPARE(plan.mode, StartupPlan::Mode::kMesh);
    QVERIFY(plan.mesh.has_value());
    QCOMPARE(plan.mesh->version, std::string("v1"));
    QVERIFY(plan.mesh->proxy_id.rfind("reviews-v1-", 0) == 0);
    QCOMPARE(plan.mesh->bootstrap_token, std::string("s3cret"));  // trailing space and newline
    QCOMPARE(plan.mesh->trust_domain, std::string("example.org"));
    QCOMPARE(plan.options.admin_address, std::string("127.0.0.1:4"));
    QCOMPARE(plan.config.listeners_size(), 0);            // the control plane sends the config
    QCOMPARE(plan.mesh->app_protocol, std::string());     // not declared
    QCOMPARE(plan.mesh->host, std::string("127.0.0.1"));  // a mesh on one machine

    CommandLine beyond;
    QVERIFY(parse({"--control-plane", "10.0.0.1:15010", "--service", "reviews", "--inbound-port",
                   "1", "--app-port", "2", "--outbound-port", "3", "--host-address", "10.0.0.3"},
                  &beyond));
    QVERIFY2(planStartup(beyond, &plan, &error), error.c_str());
    QCOMPARE(plan.mesh->host, std::string("10.0.0.3"));
    for (const char* bad : {"reviews.example", "10.0.0", ""}) {
      CommandLine refused;
      QVERIFY(parse({"--control-plane", "10.0.0.1:15010", "--service", "reviews", "--inbound-port",
                     "1", "--app-port", "2", "--outbound-port", "3", "--host-address", bad},
                    &refused));
      QVERIFY2(!planStartup(refused, &plan, &error), bad);
      QVERIFY2(error.find("--host-address") != std::string::npos, error.c_str());
    }

    CommandLine grpc;
    QVERIFY(parse({"--control-plane", "127.0.0.1:1", "--service", "payments", "--inbound-port", "1",
                   "--app-port", "2", "--outbound-port", "3", "--app-protocol", "grpc"},
                  &grpc));
    QVERIFY2(planStartup(grpc, &plan, &error), error.c_str());
    QCOMPARE(plan.mesh->app_protocol, std::string("grpc"));

    // Scoping: --depends, comma-separated or repeated, reaches the node's dependencies.
    CommandLine scoped;
    QVERIFY(parse(
        {"--control-plane", "127.0.0.1:1", "--service", "page", "--inbound-port", "1", "--app-port",
         "2", "--outbound-port", "3", "--depends", "reviews,ratings", "--depends", "details"},
        &scoped));
    QVERIFY2(planStartup(scoped, &plan, &error), error.c_str());
    QCOMPARE(plan.mesh->dependencies, (std::vector<std::string>{"reviews", "ratings", "details"}));
    QCOMPARE(plan.options.on_demand.timeout, std::chrono::milliseconds(5000));  // the default
    QVERIFY2(planStartup(grpc, &plan, &error), error.c_str());
    QVERIFY(plan.mesh->dependencies.empty());  // none: the whole mesh
    // The on-demand hold's timeout, in seconds; only with --depends.
    CommandLine held;
    QVERIFY(parse(
        {"--control-plane", "127.0.0.1:1", "--service", "page", "--inbound-port", "1", "--app-port",
         "2", "--outbound-port", "3", "--depends", "reviews", "--on-demand-timeout", "0.25"},
        &held));
    QVERIFY2(planStartup(held, &plan, &error), error.c_str());
    QCOMPARE(plan.options.on_demand.timeout, std::chrono::milliseconds(250));
    CommandLine unscoped_hold;
    QVERIFY(!parse({"--control-plane", "127.0.0.1:1", "--service", "page", "--inbound-port", "1",
                    "--app-port", "2", "--outbound-port", "3", "--on-demand-timeout", "1"},
                   &unscoped_hold));

    writeFile(token, " \n\n");
    QVERIFY(!planStartup(cl, &plan, &error));
    QVERIFY2(error.find("is empty") != std::string::npos, error.c_str());

    CommandLine missing;
    QVERIFY(parse({"--control-plane", "127.0.0.1:1", "--service", "reviews"}, &missing));
    QVERIFY(!planStartup(missing, &plan, &error));
    QVERIFY2(error.find("--inbound-port") != std::string::npos, error.c_str());

    CommandLine absent;
    QVERIFY(parse({"--control-plane", "127.0.0.1:1", "--service", "r", "--inbound-port", "1",
                   "--app-port", "2", "--outbound-port", "3", "--bootstrap-token-file",
                   dir.filePath("no-such-file").toStdString()},
                  &absent));
    QVERIFY(!planStartup(absent, &plan, &error));
    QVERIFY2(error.rfind("--bootstrap-token-file: ", 0) == 0, error.c_str());
  }

  void serviceAccountTokenFile() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString token = dir.filePath("sa-token");
    writeFile(token, "eyJhbGciOi.payload.sig\n");
    const std::vector<std::string> base{
        "--control-plane", "127.0.0.1:1", "--service",       "reviews", "--inbound-port", "1",
        "--app-port",      "2",           "--outbound-port", "3"};
    auto with = [&](std::vector<std::string> extra) {
      auto args = base;
      args.insert(args.end(), extra.begin(), extra.end());
      return args;
    };
    CommandLine cl;
    QVERIFY(parse(with({"--sa-token-file", token.toStdString()}), &cl));
    StartupPlan plan;
    std::string error;
    QVERIFY2(planStartup(cl, &plan, &error), error.c_str());
    // The path is kept (the token is read before each use), no bootstrap token.
    QCOMPARE(plan.mesh->sa_token_file, token.toStdString());
    QVERIFY(plan.mesh->bootstrap_token.empty());
    // A missing file fails at start.
    CommandLine absent;
    QVERIFY(parse(with({"--sa-token-file", dir.filePath("none").toStdString()}), &absent));
    QVERIFY(!planStartup(absent, &plan, &error));
    QVERIFY2(error.rfind("--sa-token-file: ", 0) == 0, error.c_str());
    // Not with a bootstrap token, and only in mesh mode.
    CommandLine both;
    QVERIFY(!parse(with({"--sa-token-file", token.toStdString(), "--bootstrap-token-file",
                         token.toStdString()}),
                   &both));
    CommandLine standalone;
    QVERIFY(!parse({"--sa-token-file", token.toStdString()}, &standalone));
  }

  void staticConfigReadsTheFileOrSaysWhere() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString good = dir.filePath("proxy.yaml");
    writeFile(
        good,
        "listeners:\n  - name: inbound\n    address: {port: 0}\n    route_table: main\n"
        "route_tables:\n  - name: main\n    virtual_hosts:\n      - domains: [\"*\"]\n"
        "        routes:\n          - name: all\n            destinations: [{cluster: app}]\n"
        "clusters:\n  - name: app\n    endpoints: [{address: {host: 127.0.0.1, port: 9000}}]\n");
    CommandLine cl;
    QVERIFY(parse({"--config", good.toStdString()}, &cl));
    StartupPlan plan;
    std::string error;
    QVERIFY2(planStartup(cl, &plan, &error), error.c_str());
    QCOMPARE(plan.mode, StartupPlan::Mode::kStaticConfig);
    QVERIFY(plan.options.require_tls_identity);
    QCOMPARE(plan.config.listeners(0).name(), std::string("inbound"));
    QCOMPARE(plan.config.clusters(0).name(), std::string("app"));

    const QString bad = dir.filePath("bad.yaml");
    writeFile(bad, "listeners:\n  - name: a\n    adress: {port: 1}\n");
    CommandLine wrong;
    QVERIFY(parse({"--config", bad.toStdString()}, &wrong));
    QVERIFY(!planStartup(wrong, &plan, &error));
    QVERIFY2(error.find("bad.yaml:3:5: listeners[0].adress: unknown field") != std::string::npos,
             error.c_str());
  }
};

QTEST_APPLESS_MAIN(CommandLineTest)
#include "command_line_test.moc"
