// meshdeck-proxy-init's ruleset: what the options turn into (iptables-restore input), the order
// the rules must keep, and the options refused. Applying it in network namespaces is
// tests/integration/proxy/traffic_capture_test.sh.
#include "proxy/init/capture_rules.h"

#include <CLI/CLI.hpp>
#include <QtTest>

#include "support/argv.h"

using namespace meshdeck::proxy;

namespace {

CaptureOptions parse(std::vector<std::string> args) {
  CLI::App app{"test"};
  CaptureOptions options;
  declareCaptureOptions(app, options);
  meshdeck::test::Argv argv("meshdeck-proxy-init", std::move(args));
  app.parse(argv.argc(), argv.argv());
  return options;
}

QStringList lines(const std::string& ruleset) {
  return QString::fromStdString(ruleset).split('\n', Qt::SkipEmptyParts);
}

int indexOf(const QStringList& rules, const QString& rule) {
  const int i = rules.indexOf(rule);
  if (i < 0) qWarning("missing rule: %s", qPrintable(rule));
  return i;
}

}  // namespace

class CaptureRulesTest : public QObject {
  Q_OBJECT

 private slots:
  void defaultsRedirectBothWaysAndSpareTheSidecar() {
    const QStringList r = lines(captureRuleset(parse({})));
    QCOMPARE(r.first(), QString("*nat"));
    QCOMPARE(r.last(), QString("COMMIT"));
    for (const char* chain :
         {"MESHDECK_INBOUND", "MESHDECK_IN_REDIRECT", "MESHDECK_OUTPUT", "MESHDECK_REDIRECT"})
      QVERIFY2(r.contains(QString(":%1 - [0:0]").arg(chain)), chain);
    QVERIFY(r.contains("-A PREROUTING -p tcp -j MESHDECK_INBOUND"));
    QVERIFY(r.contains("-A OUTPUT -p tcp -j MESHDECK_OUTPUT"));
    QVERIFY(r.contains("-A MESHDECK_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006"));
    QVERIFY(r.contains("-A MESHDECK_REDIRECT -p tcp -j REDIRECT --to-ports 15001"));
    // Every RETURN comes before the catch-all jump of its chain, or it would never match.
    const int uid = indexOf(r, "-A MESHDECK_OUTPUT -m owner --uid-owner 65532 -j RETURN");
    const int lo = indexOf(r, "-A MESHDECK_OUTPUT -o lo -j RETURN");
    const int out_jump = indexOf(r, "-A MESHDECK_OUTPUT -p tcp -j MESHDECK_REDIRECT");
    QVERIFY(uid >= 0 && lo >= 0 && out_jump >= 0);
    QVERIFY(uid < out_jump && lo < out_jump);
    const int self = indexOf(r, "-A MESHDECK_INBOUND -p tcp --dport 15006 -j RETURN");
    const int in_jump = indexOf(r, "-A MESHDECK_INBOUND -p tcp -j MESHDECK_IN_REDIRECT");
    QVERIFY(self >= 0 && in_jump > self);
    // Only TCP is ever redirected: DNS over UDP is left alone.
    for (const auto& rule : r)
      if (rule.contains("REDIRECT --to-ports")) QVERIFY2(rule.contains("-p tcp"), qPrintable(rule));
  }

  void optionsBecomeRules() {
    const auto o = parse({"--inbound-port", "16006", "--outbound-port", "16001", "--proxy-uid",
                          "1337", "--exclude-inbound-ports", "15000,22", "--exclude-outbound-ports",
                          "443", "--exclude-outbound-cidrs", "10.96.0.0/12,169.254.169.254/32"});
    std::string error;
    QVERIFY2(validateCaptureOptions(o, &error), error.c_str());
    const QStringList r = lines(captureRuleset(o));
    QVERIFY(r.contains("-A MESHDECK_IN_REDIRECT -p tcp -j REDIRECT --to-ports 16006"));
    QVERIFY(r.contains("-A MESHDECK_REDIRECT -p tcp -j REDIRECT --to-ports 16001"));
    QVERIFY(r.contains("-A MESHDECK_OUTPUT -m owner --uid-owner 1337 -j RETURN"));
    QVERIFY(!r.join('\n').contains("65532"));
    const int in_jump = indexOf(r, "-A MESHDECK_INBOUND -p tcp -j MESHDECK_IN_REDIRECT");
    const int out_jump = indexOf(r, "-A MESHDECK_OUTPUT -p tcp -j MESHDECK_REDIRECT");
    for (const char* rule : {"-A MESHDECK_INBOUND -p tcp --dport 15000 -j RETURN",
                             "-A MESHDECK_INBOUND -p tcp --dport 22 -j RETURN"})
      QVERIFY2(indexOf(r, rule) >= 0 && indexOf(r, rule) < in_jump, rule);
    for (const char* rule : {"-A MESHDECK_OUTPUT -p tcp --dport 443 -j RETURN",
                             "-A MESHDECK_OUTPUT -d 10.96.0.0/12 -j RETURN",
                             "-A MESHDECK_OUTPUT -d 169.254.169.254/32 -j RETURN"})
      QVERIFY2(indexOf(r, rule) >= 0 && indexOf(r, rule) < out_jump, rule);
  }

  void oneDirectionAlone() {
    const std::string inbound_only = captureRuleset(parse({"--no-outbound"}));
    QVERIFY(inbound_only.find("MESHDECK_INBOUND") != std::string::npos);
    QVERIFY(inbound_only.find("MESHDECK_OUTPUT") == std::string::npos);
    QVERIFY(inbound_only.find("-A OUTPUT") == std::string::npos);
    const std::string outbound_only = captureRuleset(parse({"--no-inbound"}));
    QVERIFY(outbound_only.find("MESHDECK_OUTPUT") != std::string::npos);
    QVERIFY(outbound_only.find("PREROUTING") == std::string::npos);
  }

  void refusesRulesetsThatCannotWork() {
    const std::vector<std::vector<std::string>> refused = {
        {"--inbound-port", "0"},
        {"--inbound-port", "15001"},  // the same port as the outbound listener
        {"--app-port", "15006"},      // the app on the sidecar's inbound port
        {"--app-port", "15001"},
        {"--exclude-inbound-ports", "0"},
        {"--exclude-outbound-cidrs", "10.0.0.0"},
        {"--exclude-outbound-cidrs", "10.0.0.0/33"},
        {"--exclude-outbound-cidrs", "10.0.0/8"},
        {"--exclude-outbound-cidrs", "fd00::/8"},
        {"--no-inbound", "--no-outbound"},
    };
    for (const auto& args : refused) {
      std::string error;
      QVERIFY2(!validateCaptureOptions(parse(args), &error), args.front().c_str());
      QVERIFY(!error.empty());
    }
    std::string error;
    QVERIFY2(validateCaptureOptions(parse({}), &error), error.c_str());
    QVERIFY2(validateCaptureOptions(parse({"--app-port", "9080"}), &error), error.c_str());
  }

  void refusesPortsOutOfRangeAtParse() {
    QVERIFY_THROWS_EXCEPTION(CLI::ParseError, parse({"--outbound-port", "70000"}));
  }
};

QTEST_GUILESS_MAIN(CaptureRulesTest)
#include "capture_rules_test.moc"
