// The mesh-health report from the desktop (docs/reports.md): `meshdeck --report FILE.pdf` writes
// a valid PDF of several pages without a window, `--report FILE.html` the page whose figures are
// the history's, the command line refuses what it cannot do, and File > Export Report… writes
// the same report through the window (exportReportTo).
#include <QApplication>
#include <QDateTimeEdit>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFile>
#include <QProcess>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>
#include <filesystem>

#include "app/command_line.h"
#include "common/clock.h"
#include "common/latency_histogram.h"
#include "controlplane/history/history_store.h"
#include "controlplane/in_process_control_plane.h"
#include "support/binaries.h"
#include "tools/meshdeckctl/time_arg.h"
#include "ui/main_window.h"

using namespace meshdeck;
using namespace std::chrono_literals;
using meshdeck::test::bin;

namespace {

// Two minutes ago, on a whole minute: a minute of history in 10 s buckets, 100 requests each
// (bucket i has i 5xx) on frontend -> reviews. Returns the range's start.
cp::SystemTime prepareHistory(const std::string& state, uint64_t* requests) {
  std::filesystem::create_directories(state);
  const auto& clock = common::RealTimeSource::instance();
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(clock.systemNow().time_since_epoch())
          .count();
  const int64_t t0 = now_s / 60 * 60 - 120;
  std::string error;
  auto store = cp::history::HistoryStore::open(std::filesystem::path(state) / "history.db", {},
                                               clock, &error);
  if (!store) return {};
  std::vector<cp::history::Bucket> buckets;
  for (int i = 0; i < 6; ++i) {
    cp::history::Bucket b;
    b.start = t0 + 10 * i;
    b.source = "frontend";
    b.destination = "reviews";
    common::LatencyHistogram h;
    for (int k = 0; k < 100; ++k) h.record(uint64_t(5 + k % 20) * 1'000'000);
    b.latency = cp::history::SparseLatency::fromDense(h);
    b.counters.requests = 100;
    b.counters.responses_by_class[1] = uint64_t(100 - i);
    b.counters.responses_by_class[4] = uint64_t(i);
    buckets.push_back(std::move(b));
    *requests += 100;
  }
  store->recordBuckets(std::move(buckets));
  store->flush();
  return cp::SystemTime(std::chrono::seconds(t0));
}

struct Run {
  int code = -1;
  QString err;
};

Run runMeshdeck(const QStringList& args) {
  QProcess p;
  auto env = QProcessEnvironment::systemEnvironment();
  env.insert("QT_QPA_PLATFORM", "offscreen");
  p.setProcessEnvironment(env);
  p.start(bin("meshdeck"), args);
  Run r;
  if (!p.waitForFinished(60000)) {
    p.kill();
    p.waitForFinished();
    return r;
  }
  r.code = p.exitCode();
  r.err = QString::fromUtf8(p.readAllStandardError());
  return r;
}

QString rfc(cp::SystemTime t) { return QString::fromStdString(tools::formatRfc3339(t)); }

}  // namespace

class ReportExportTest : public QObject {
  Q_OBJECT

 private slots:
  void pdfWithoutAWindow() {
    QTemporaryDir dir;
    uint64_t requests = 0;
    const std::string state = dir.filePath("state").toStdString();
    const auto from = prepareHistory(state, &requests);
    QVERIFY(from != cp::SystemTime{});
    const QStringList common = {"--state-dir", QString::fromStdString(state),
                                "--listen",    "127.0.0.1:0",
                                "--since",     rfc(from),
                                "--until",     rfc(from + 60s)};

    const QString pdf = dir.filePath("report.pdf");
    const auto run = runMeshdeck(QStringList{"--report", pdf} + common);
    QVERIFY2(run.code == 0, qPrintable(run.err));
    QFile f(pdf);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QByteArray bytes = f.readAll();
    QVERIFY(bytes.startsWith("%PDF-1."));
    QVERIFY(bytes.trimmed().endsWith("%%EOF"));
    // Page objects and the page tree's count agree; one page per section at least (summary and
    // checkup, traffic, services, worst by errors, worst by p99, events).
    const QString text = QString::fromLatin1(bytes);
    int pages = 0;
    static const QRegularExpression page("/Type\\s*/Page(?!s)");
    for (auto it = page.globalMatch(text); it.hasNext(); it.next()) ++pages;
    const auto count = QRegularExpression("/Type\\s*/Pages.*?/Count\\s+(\\d+)",
                                          QRegularExpression::DotMatchesEverythingOption)
                           .match(text);
    QVERIFY(count.hasMatch());
    QCOMPARE(count.captured(1).toInt(), pages);
    QVERIFY2(pages >= 6, qPrintable(QString::number(pages)));
    QVERIFY2(run.err.contains(QString("(%1 pages)").arg(pages)), qPrintable(run.err));
    QVERIFY(text.contains("/Subtype /Image") || text.contains("/Subtype/Image"));  // the charts

    const QString html = dir.filePath("report.html");
    const auto run_html = runMeshdeck(QStringList{"--report", html} + common);
    QVERIFY2(run_html.code == 0, qPrintable(run_html.err));
    QFile h(html);
    QVERIFY(h.open(QIODevice::ReadOnly));
    const QString page_text = QString::fromUtf8(h.readAll());
    QVERIFY2(page_text.contains(QString("id=\"summary-requests\">%1<").arg(requests)),
             qPrintable(page_text.left(2000)));
    QVERIFY(page_text.contains("id=\"summary-errors\">2.50%<"));  // 15 of 600
    QVERIFY(page_text.contains("<svg "));
  }

  void refusals() {
    QTemporaryDir dir;
    const auto no_history =
        runMeshdeck({"--report", dir.filePath("r.pdf"), "--state-dir", dir.filePath("empty"),
                     "--listen", "127.0.0.1:0", "--since", "1h"});
    // An empty store answers with an empty report, which is written.
    QCOMPARE(no_history.code, 0);
    const auto backwards = runMeshdeck({"--report", dir.filePath("r.pdf"), "--since", "1h",
                                        "--until", "2h", "--listen", "127.0.0.1:0"});
    QCOMPARE(backwards.code, 2);
    QVERIFY2(backwards.err.contains("--until must be after --since"), qPrintable(backwards.err));
    const auto demo = runMeshdeck({"--report", dir.filePath("r.pdf"), "--demo", "storefront"});
    QCOMPARE(demo.code, 2);
    QVERIFY2(demo.err.contains("not with --demo"), qPrintable(demo.err));
  }

  // The range dialog: the last hour by default; OK is disabled while the range ends before it
  // starts; the range accepted is the one shown.
  void rangeDialog() {
    // Checked in the dialog's event loop; the dialog is always closed, so a failure cannot hang.
    bool found = false, hour_by_default = false, ok_while_backwards = true, ok_after = false;
    QTimer::singleShot(0, [&] {
      auto* dialog = qobject_cast<QDialog*>(QApplication::activeModalWidget());
      if (!dialog) return;
      auto* from = dialog->findChild<QDateTimeEdit*>("reportFrom");
      auto* to = dialog->findChild<QDateTimeEdit*>("reportTo");
      auto* box = dialog->findChild<QDialogButtonBox*>();
      auto* ok = box ? box->button(QDialogButtonBox::Ok) : nullptr;
      found = from && to && ok;
      if (!found) return dialog->reject();
      hour_by_default = from->dateTime().secsTo(to->dateTime()) == 3600;
      to->setDateTime(from->dateTime().addSecs(-60));
      ok_while_backwards = ok->isEnabled();
      to->setDateTime(from->dateTime().addSecs(600));
      ok_after = ok->isEnabled();
      ok->click();
    });
    cp::SystemTime a, b;
    const bool accepted = ui::askReportRange(nullptr, &a, &b);
    QVERIFY(found);
    QVERIFY(hour_by_default);
    QVERIFY(!ok_while_backwards);
    QVERIFY(ok_after);
    QVERIFY(accepted);
    QCOMPARE(std::chrono::duration_cast<std::chrono::seconds>(b - a).count(), 600);
  }

  // A range picked on the timeline is what the dialog offers.
  void rangeDialogOffersTheTimelineRange() {
    const auto to =
        std::chrono::time_point_cast<std::chrono::seconds>(cp::SystemTime::clock::now()) -
        std::chrono::hours(2);
    const auto from = to - std::chrono::minutes(15);
    qint64 shown_s = -1, shown_to_ms = -1;
    QTimer::singleShot(0, [&] {
      auto* dialog = qobject_cast<QDialog*>(QApplication::activeModalWidget());
      if (!dialog) return;
      auto* f = dialog->findChild<QDateTimeEdit*>("reportFrom");
      auto* t = dialog->findChild<QDateTimeEdit*>("reportTo");
      if (f && t) {
        shown_s = f->dateTime().secsTo(t->dateTime());
        shown_to_ms = t->dateTime().toMSecsSinceEpoch();
      }
      dialog->reject();
    });
    cp::SystemTime a = from, b = to;
    QVERIFY(!ui::askReportRange(nullptr, &a, &b));
    QCOMPARE(shown_s, 900);
    QCOMPARE(shown_to_ms,
             std::chrono::duration_cast<std::chrono::milliseconds>(to.time_since_epoch()).count());
  }

  void exportFromTheWindow() {
    QTemporaryDir dir;
    uint64_t requests = 0;
    const std::string state = dir.filePath("state").toStdString();
    const auto from = prepareHistory(state, &requests);
    cp::ControlPlaneOptions options;
    options.listen = "";
    options.state_dir = state;
    auto local = std::make_shared<cp::InProcessControlPlane>(options);
    std::string error;
    QVERIFY2(local->start(&error), error.c_str());
    ui::MainWindowOptions wo;
    wo.use_settings = false;
    wo.report_maker = app::reportMaker("Embedded control plane");
    ui::MainWindow window(local, wo);
    auto* action = window.findChild<QAction*>("exportReport");
    QVERIFY(action && action->isEnabled());
    QSignalSpy done(&window, &ui::MainWindow::exportFinished);
    const QString pdf = dir.filePath("window.pdf");
    window.exportReportTo(from, from + 60s, pdf);
    QVERIFY(done.wait(30000));
    QVERIFY2(done.at(0).at(0).toBool(), qPrintable(done.at(0).at(1).toString()));
    QFile f(pdf);
    QVERIFY(f.open(QIODevice::ReadOnly));
    QVERIFY(f.read(7) == "%PDF-1.");
    local->stop();

    // Without a report maker (a window composed without one) the action is disabled.
    ui::MainWindowOptions bare;
    bare.use_settings = false;
    ui::MainWindow plain(local, bare);
    QVERIFY(!plain.findChild<QAction*>("exportReport")->isEnabled());
  }
};

QTEST_MAIN(ReportExportTest)
#include "report_export_test.moc"
