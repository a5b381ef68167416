#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>
#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <csignal>

#include "support/binaries.h"
#include "support/tagged_processes.h"

// The real meshdeck-demo-service and meshdeck-load binaries on loopback, port 0.
using meshdeck::test::bin;

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct Reply {
  unsigned status = 0;
  QJsonObject json;
};

// One request on a fresh connection, bounded by a 5 s timeout.
Reply request(uint16_t port, http::verb method, const std::string& target,
              const std::string& body = {}) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(5));
  stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return {res.result_int(),
          QJsonDocument::fromJson(QByteArray::fromStdString(res.body())).object()};
}

// Reads "listening name=N ... port=P" lines from a starting demo service, at most 10 s.
QMap<QString, uint16_t> waitForListening(QProcess& p, int expected) {
  QMap<QString, uint16_t> ports;
  static const QRegularExpression re("^listening name=(\\S+) .*port=(\\d+)$");
  QElapsedTimer timer;
  timer.start();
  while (ports.size() < expected && timer.elapsed() < 10000) {
    if (!p.canReadLine() && !p.waitForReadyRead(200)) continue;
    while (p.canReadLine()) {
      const auto m = re.match(QString::fromUtf8(p.readLine()).trimmed());
      if (m.hasMatch()) ports[m.captured(1)] = static_cast<uint16_t>(m.captured(2).toUInt());
    }
  }
  return ports;
}

void startDemo(QProcess& p, const QStringList& args) {
  p.setProgram(bin("meshdeck-demo-service"));
  p.setArguments(args);
  p.setProcessChannelMode(QProcess::SeparateChannels);
  p.start();
  QVERIFY(p.waitForStarted(5000));
}

void terminate(QProcess& p) {
  meshdeck::test::signalProcess(p, SIGTERM);
  QVERIFY(p.waitForFinished(5000));
  QCOMPARE(p.exitStatus(), QProcess::NormalExit);
  QCOMPARE(p.exitCode(), 0);
}

QJsonObject runLoad(const QStringList& args, int timeout_ms = 20000) {
  QProcess load;
  load.start(bin("meshdeck-load"), args + QStringList{"--json"});
  if (!load.waitForFinished(timeout_ms) || load.exitCode() != 0) {
    qWarning() << "meshdeck-load failed:" << load.readAllStandardError();
    return {};
  }
  return QJsonDocument::fromJson(load.readAllStandardOutput()).object();
}

}  // namespace

class ToolsProcessTest : public QObject {
  Q_OBJECT
 private slots:
  void versionsPrint() {
    for (const char* name : {"meshdeck-load", "meshdeck-demo-service"}) {
      QProcess p;
      p.start(bin(name), {"--version"});
      QVERIFY(p.waitForFinished(5000));
      QCOMPARE(p.exitCode(), 0);
      QVERIFY(p.readAllStandardOutput().trimmed().count('.') == 2);
    }
  }

  void demoServiceHostsSeveralServicesFromConfig() {
    QTemporaryDir dir;
    const QString config = dir.filePath("demo.yaml");
    const QString port_file = dir.filePath("reviews.port");
    QFile f(config);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QString("seed: 3\n"
                    "services:\n"
                    "  - name: catalog\n"
                    "    listen: 127.0.0.1:0\n"
                    "    latency_p50: 1ms\n"
                    "    latency_p99: 5ms\n"
                    "  - name: reviews\n"
                    "    version: v2\n"
                    "    listen: 127.0.0.1:0\n"
                    "    port_file: %1\n")
                .arg(port_file)
                .toUtf8());
    f.close();
    QProcess demo;
    startDemo(demo, {"--config", config});
    const auto ports = waitForListening(demo, 2);
    QCOMPARE(ports.size(), 2);
    QFile pf(port_file);
    QVERIFY(pf.open(QIODevice::ReadOnly));
    QCOMPARE(pf.readAll().trimmed().toUInt(), uint(ports["reviews"]));

    auto r = request(ports["catalog"], http::verb::get, "/items");
    QCOMPARE(r.status, 200u);
    QCOMPARE(r.json["service"].toString(), QString("catalog"));
    r = request(ports["reviews"], http::verb::get, "/");
    QCOMPARE(r.json["version"].toString(), QString("v2"));

    // Make reviews fail at run time; catalog is untouched.
    r = request(ports["reviews"], http::verb::put, "/_demo/behaviour",
                R"({"error_rate":1,"error_status":503})");
    QCOMPARE(r.status, 200u);
    QCOMPARE(request(ports["reviews"], http::verb::get, "/").status, 503u);
    QCOMPARE(request(ports["catalog"], http::verb::get, "/").status, 200u);
    terminate(demo);
  }

  void demoServiceRefusesABadConfig() {
    QTemporaryDir dir;
    const QString config = dir.filePath("bad.yaml");
    QFile f(config);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("services:\n  - name: a\n    error_rate: lots\n");
    f.close();
    QProcess demo;
    demo.start(bin("meshdeck-demo-service"), {"--config", config});
    QVERIFY(demo.waitForFinished(5000));
    QVERIFY(demo.exitCode() != 0);
    const QString err = demo.readAllStandardError();
    QVERIFY2(err.contains("bad.yaml:3:17: services[0].error_rate"), qPrintable(err));
  }

  void loadMeasuresADemoService() {
    QProcess demo;
    startDemo(demo, {"--name", "catalog", "--listen", "127.0.0.1:0"});
    const auto ports = waitForListening(demo, 1);
    QCOMPARE(ports.size(), 1);
    const auto port = QString::number(ports.first());
    const auto r = runLoad({"--url", "http://127.0.0.1:" + port + "/items", "--rate", "200",
                            "--duration", "1s", "--connections", "4", "--workers", "2"});
    QCOMPARE(r["mode"].toString(), QString("open"));
    QCOMPARE(r["scheduled"].toInt(), 200);
    QCOMPARE(r["completed"].toInt(), 200);
    QCOMPARE(r["responses"].toObject()["2xx"].toInt(), 200);
    QCOMPARE(r["errors"].toObject()["total"].toInt(), 0);
    QVERIFY(r["latency_us"].toObject()["p99"].toDouble() > 0);
    // The service counted them too.
    const auto stats = request(ports.first(), http::verb::get, "/_demo/stats").json;
    QCOMPARE(stats["requests"].toInt(), 200);

    // Through an HTTP proxy: the demo service takes the absolute-form request itself.
    const auto via = runLoad({"--url", "http://catalog.mesh/items", "--proxy",
                              "http://127.0.0.1:" + port, "--rate", "50", "--duration", "1s"});
    QCOMPARE(via["completed"].toInt(), 50);
    QCOMPARE(via["proxy"].toString(), "http://127.0.0.1:" + port + "/");
    terminate(demo);
  }

  void loadReportsWhatItHasOnSigint() {
    QProcess demo;
    startDemo(demo, {"--name", "slow", "--listen", "127.0.0.1:0", "--latency-p50", "2ms",
                     "--latency-p99", "2ms"});
    const auto ports = waitForListening(demo, 1);
    QCOMPARE(ports.size(), 1);
    QProcess load;
    load.start(bin("meshdeck-load"), {"--url", QString("http://127.0.0.1:%1/").arg(ports.first()),
                                      "--rate", "100", "--duration", "60s", "--json"});
    QVERIFY(load.waitForStarted(5000));
    QTest::qWait(800);
    meshdeck::test::signalProcess(load, SIGINT);
    QVERIFY(load.waitForFinished(5000));
    QCOMPARE(load.exitCode(), 0);
    const auto r = QJsonDocument::fromJson(load.readAllStandardOutput()).object();
    QCOMPARE(r["interrupted"].toBool(), true);
    QVERIFY(r["completed"].toInt() >= 30);
    QVERIFY(r["elapsed_s"].toDouble() < 5);
    terminate(demo);
  }

  void loadRefusesBadArguments() {
    QProcess load;
    load.start(bin("meshdeck-load"), {"--url", "http://127.0.0.1:1/", "--duration", "soon"});
    QVERIFY(load.waitForFinished(5000));
    QVERIFY(load.exitCode() != 0);
    QVERIFY(load.readAllStandardError().contains("--duration"));
    load.start(bin("meshdeck-load"), {"--url", "ftp://127.0.0.1/"});
    QVERIFY(load.waitForFinished(5000));
    QVERIFY(load.exitCode() != 0);
    QVERIFY(load.readAllStandardError().contains("only http"));
  }
};

QTEST_GUILESS_MAIN(ToolsProcessTest)
#include "tools_process_test.moc"
