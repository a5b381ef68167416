// meshdeck-controlplane's command line: options, the checks CLI11 cannot make, bootstrap token
// requests, and tokens issued by a real control plane (loopback, port 0) into 0600 files.
#include "controlplane/cli/command_line.h"

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include "support/argv.h"

using namespace meshdeck::cp;

namespace {

// Parses `args` as argv and runs finishParse(); false with CLI11's or finishParse()'s message.
bool parse(std::vector<std::string> args, CommandLine* cl, std::string* error) {
  CLI::App app{"test"};
  declareOptions(app, *cl);
  meshdeck::test::Argv argv("meshdeck-controlplane", std::move(args));
  try {
    app.parse(argv.argc(), argv.argv());
  } catch (const CLI::ParseError& e) {
    *error = e.what();
    return false;
  }
  return finishParse(app, *cl, error);
}

}  // namespace

class ControlPlaneCommandLineTest : public QObject {
  Q_OBJECT

 private slots:
  void tokenRequests() {
    const auto r = parseTokenRequest("reviews-v1=default/reviews");
    QVERIFY(r.has_value());
    QCOMPARE(r->proxy_id, std::string("reviews-v1"));
    QCOMPARE(r->ns, std::string("default"));
    QCOMPARE(r->service, std::string("reviews"));
    for (const char* bad : {"", "reviews-v1", "reviews-v1=default", "=default/reviews",
                            "p=/reviews", "p=default/", "p/x=default"})
      QVERIFY2(!parseTokenRequest(bad), bad);
  }

  void refusesWhatCannotWork() {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--ca-import-replace"}, "--ca-import-replace needs --ca-import DIR"},
        {{"--demo", "storefront", "--duration", "soon"},
         "--duration: \"soon\" is not a duration like 60s or 10m"},
        {{"--bootstrap-token", "frontend"},
         "--bootstrap-token \"frontend\": expected PROXY_ID=NAMESPACE/SERVICE"},
        {{"--scenario", "outage"}, "--scenario requires --demo"},
        {{"--demo", "huge", "--demo-ports", "40000"},
         "--demo-ports: \"40000\" is not a port range"},
        {{"--demo", "huge", "--demo-ports", "42000-41000"}, "--demo-ports"},
        {{"--demo-ports", "41000-42000"}, "--demo-ports requires --demo"},
        {{"--shutdown-grace", "0"}, "--shutdown-grace"},
        {{"--history-max-mb", "0"}, "--history-max-mb"},
        {{"--no-plaintext-management", "--insecure-management"},
         "--no-plaintext-management and --insecure-management contradict each other"},
        {{"--no-plaintext-proxies", "--secure-listen", ""},
         "--no-plaintext-proxies needs the TLS port, but --secure-listen is empty"},
    };
    for (const auto& [args, expected] : cases) {
      CommandLine cl;
      std::string error;
      QVERIFY2(!parse(args, &cl, &error), expected.c_str());
      QVERIFY2(error.find(expected) != std::string::npos, error.c_str());
    }
  }

  void demoPortRange() {
    QCOMPARE(parsePortRange("41000-52000"), (std::optional<std::pair<uint16_t, uint16_t>>(
                                                std::pair<uint16_t, uint16_t>(41000, 52000))));
    for (const char* bad :
         {"", "41000", "-52000", "41000-", "52000-41000", "41000-41000", "80-1000", "41000-70000",
          "4a000-52000", "41000-52000-60000", "+41000-52000", "041000-52000x"})
      QVERIFY2(!parsePortRange(bad), bad);
    CommandLine defaults;
    std::string error;
    QVERIFY2(parse({"--demo", "huge"}, &defaults, &error), error.c_str());
    QCOMPARE(defaults.demo_port_first, uint16_t(21000));
    QCOMPARE(defaults.demo_port_last, uint16_t(32000));
    CommandLine given;
    QVERIFY2(parse({"--demo", "huge", "--demo-ports", "41000-52000"}, &given, &error),
             error.c_str());
    QCOMPARE(given.demo_port_first, uint16_t(41000));
    QCOMPARE(given.demo_port_last, uint16_t(52000));
  }

  void managementAccessFlags() {
    CommandLine cl;
    std::string error;
    QVERIFY2(parse({}, &cl, &error), error.c_str());
    QVERIFY(cl.options.plaintext_management);
    QVERIFY(!cl.options.insecure_management);
    CommandLine off;
    QVERIFY2(parse({"--no-plaintext-management"}, &off, &error), error.c_str());
    QVERIFY(!off.options.plaintext_management);
    CommandLine open;
    QVERIFY2(parse({"--insecure-management"}, &open, &error), error.c_str());
    QVERIFY(open.options.insecure_management);
    QVERIFY(open.options.plaintext_management);
  }

  void historySizeLimit() {
    CommandLine defaults;
    std::string error;
    QVERIFY2(parse({}, &defaults, &error), error.c_str());
    QCOMPARE(defaults.options.history_max_mb, 256u);
    CommandLine small;
    QVERIFY2(parse({"--history-max-mb", "64"}, &small, &error), error.c_str());
    QCOMPARE(small.options.history_max_mb, 64u);
  }

  void proxyAccessFlag() {
    CommandLine cl;
    std::string error;
    QVERIFY2(parse({}, &cl, &error), error.c_str());
    QVERIFY(cl.options.plaintext_proxies);
    CommandLine off;
    QVERIFY2(parse({"--no-plaintext-proxies"}, &off, &error), error.c_str());
    QVERIFY(!off.options.plaintext_proxies);
    QVERIFY(off.options.plaintext_management);
  }

  void kubernetesFlags() {
    CommandLine defaults;
    std::string error;
    QVERIFY2(parse({}, &defaults, &error), error.c_str());
    QCOMPARE(defaults.options.registry, std::string("proxies"));
    QVERIFY(defaults.options.kube_api.empty());
    CommandLine kube;
    QVERIFY2(parse({"--registry", "kubernetes", "--kube-api", "https://10.96.0.1",
                    "--kube-token-file", "/t", "--kube-ca", "/ca", "--kube-namespace", "shop"},
                   &kube, &error),
             error.c_str());
    QCOMPARE(kube.options.registry, std::string("kubernetes"));
    QCOMPARE(kube.options.kube_api, std::string("https://10.96.0.1"));
    QCOMPARE(kube.options.kube_token_file, std::string("/t"));
    QCOMPARE(kube.options.kube_ca_file, std::string("/ca"));
    QCOMPARE(kube.options.kube_namespace, std::string("shop"));
    CommandLine bad;
    QVERIFY(!parse({"--registry", "consul"}, &bad, &error));
    CommandLine orphan;
    QVERIFY(!parse({"--kube-ca", "/ca"}, &orphan, &error));
    QVERIFY(error.find("--kube-api") != std::string::npos);
  }

  void secureListenOnlyWhenGiven() {
    CommandLine defaults;
    std::string error;
    QVERIFY2(parse({}, &defaults, &error), error.c_str());
    QVERIFY(!defaults.options.secure_listen.has_value());  // the control plane picks
    CommandLine none;
    QVERIFY2(parse({"--secure-listen", ""}, &none, &error), error.c_str());
    QCOMPARE(none.options.secure_listen, std::optional<std::string>(""));
  }

  // /metrics: on by default at 127.0.0.1:15014 but optional (a busy default only warns), port 0
  // when --listen uses port 0, "off" for none; an address given must bind.
  void metricsListen() {
    std::string error;
    CommandLine defaults;
    QVERIFY2(parse({}, &defaults, &error), error.c_str());
    QCOMPARE(defaults.options.metrics_listen, std::string("127.0.0.1:15014"));
    QVERIFY(defaults.options.metrics_listen_optional);
    CommandLine throwaway;
    QVERIFY2(parse({"--listen", "127.0.0.1:0"}, &throwaway, &error), error.c_str());
    QCOMPARE(throwaway.options.metrics_listen, std::string("127.0.0.1:0"));
    QVERIFY(throwaway.options.metrics_listen_optional);
    CommandLine given;
    QVERIFY2(parse({"--metrics-listen", "0.0.0.0:9090"}, &given, &error), error.c_str());
    QCOMPARE(given.options.metrics_listen, std::string("0.0.0.0:9090"));
    QVERIFY(!given.options.metrics_listen_optional);
    CommandLine off;
    QVERIFY2(parse({"--metrics-listen", "off"}, &off, &error), error.c_str());
    QVERIFY(off.options.metrics_listen.empty());
    CommandLine bad;
    QVERIFY(!parse({"--metrics-listen", "nowhere"}, &bad, &error));
    QVERIFY2(error.find("--metrics-listen \"nowhere\"") != std::string::npos, error.c_str());
  }

  void stateDirFollowsXdg() {
    const QByteArray saved = qgetenv("XDG_STATE_HOME");
    qputenv("XDG_STATE_HOME", "/tmp/xdg-state");
    QCOMPARE(defaultStateDir(), std::string("/tmp/xdg-state/meshdeck"));
    qunsetenv("XDG_STATE_HOME");
    QVERIFY(defaultStateDir().ends_with("/.local/state/meshdeck") ||
            defaultStateDir() == ".meshdeck-state");
    if (!saved.isEmpty()) qputenv("XDG_STATE_HOME", saved);
  }

  void issuesTokensIntoPrivateFiles() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    CommandLine cl;
    std::string error;
    QVERIFY2(parse({"--listen", "127.0.0.1:0", "--secure-listen", "", "--state-dir",
                    dir.filePath("state").toStdString(), "--bootstrap-token",
                    "frontend=default/frontend", "--bootstrap-token", "reviews-v1=default/reviews"},
                   &cl, &error),
             error.c_str());
    InProcessControlPlane control_plane(cl.options);
    // Before start(), as meshdeck-controlplane does: the files exist when the ports are
    // announced.
    QVERIFY2(issueBootstrapTokens(control_plane, cl, &error), error.c_str());
    QVERIFY2(control_plane.start(&error), error.c_str());
    const QString tokens = dir.filePath("state/tokens");
    struct stat st {};
    QCOMPARE(::stat(tokens.toLocal8Bit().constData(), &st), 0);
    QCOMPARE(st.st_mode & 0777, 0700u);
    for (const char* proxy : {"frontend", "reviews-v1"}) {
      const QString file = tokens + "/" + proxy + ".token";
      QCOMPARE(::stat(file.toLocal8Bit().constData(), &st), 0);
      QCOMPARE(st.st_mode & 0777, 0600u);
      QFile f(file);
      QVERIFY(f.open(QIODevice::ReadOnly));
      QVERIFY(f.readAll().trimmed().size() >= 16);
    }
    // A request the control plane cannot issue says which one.
    CommandLine bad = cl;
    bad.token_requests = {"x=default/"};
    QVERIFY(!issueBootstrapTokens(control_plane, bad, &error));
    QVERIFY2(error.find("\"x=default/\"") != std::string::npos, error.c_str());
    control_plane.stop();
  }
};

QTEST_APPLESS_MAIN(ControlPlaneCommandLineTest)
#include "command_line_test.moc"
