// The Tap panel (issue 23, docs/tap.md "Desktop") against FakeControlPlane, whose taps receive
// crafted batches on a thread of their own: rows appear, Pause stops appending and counts, the
// filter row becomes the TapFilter, rows are coloured by status, the export parses back line by
// line, clicking a row selects its edge, the graph's menu and Ctrl+T open taps, closing the dock
// releases the tap, and a snapshot file says tapping needs a live control plane.
#include "ui/tap_panel.h"

#include <QAction>
#include <QComboBox>
#include <QDockWidget>
#include <QFile>
#include <QHeaderView>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <memory>

#include "support/fake_control_plane.h"
#include "ui/control_plane_client.h"
#include "ui/graph_items.h"
#include "ui/graph_view.h"
#include "ui/main_window.h"
#include "ui/snapshot_control_plane.h"

using namespace meshdeck;
using testing::FakeControlPlane;

namespace {

cp::TapEvent tapEvent(const std::string& from, const std::string& to, uint32_t status,
                      std::optional<uint32_t> grpc = std::nullopt) {
  cp::TapEvent e;
  e.tap_id = 1;
  e.start = std::chrono::system_clock::now();
  e.proxy_id = to + "-v1-0";
  e.source_service = from;
  e.source_version = "v1";
  e.destination_service = to;
  e.destination_version = "v1";
  e.source_identity = "spiffe://mesh.local/ns/default/sa/" + from;
  e.destination_identity = "spiffe://mesh.local/ns/default/sa/" + to;
  e.protocol = grpc ? "grpc" : "http/1.1";
  e.method = "GET";
  e.authority = to;
  e.path = "/api/" + to + "/42";
  e.status = status;
  e.grpc_status = grpc;
  e.latency_us = 12'345;
  e.bytes_out = 512;
  e.trace_id = "abc123";
  e.request_headers = {{"x-request-id", "req-7"}, {"authorization", "[redacted]"}};
  return e;
}

}  // namespace

class TapPanelTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void init() {
    QSettings().remove("tapPanel/hiddenColumns");  // each test starts with every column
    fake_ = std::make_shared<FakeControlPlane>();
    ui::MainWindowOptions options;
    options.source = "fake";
    options.use_settings = false;
    options.tap_service = "reviews";  // as `meshdeck --tap reviews`
    window_ = std::make_unique<ui::MainWindow>(fake_, options);
    window_->resize(1280, 800);
    window_->show();
    QTRY_VERIFY_WITH_TIMEOUT(window_->graphView()->layoutsDone() >= 1, 10000);
    panel_ = window_->tapPanel();
  }

  void cleanup() {
    window_.reset();
    fake_.reset();
  }

  void tapAtStartShowsRowsColouredByStatus() {
    QVERIFY(window_->tapDock()->isVisible());
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    QCOMPARE(fake_->openTaps(), 1);
    QCOMPARE(fake_->tapFilters().back().service, std::string("reviews"));
    QVERIFY(fake_->tapFilters().back().destination_service.empty());
    QCOMPARE(panel_->serviceEdit()->text(), QString("reviews"));

    cp::TapBatch batch;
    batch.events = {tapEvent("reviews", "ratings", 200), tapEvent("frontend", "reviews", 404),
                    tapEvent("reviews", "ratings", 503), tapEvent("reviews", "ratings", 200, 14)};
    batch.dropped = 7;
    batch.proxies = 3;
    QCOMPARE(fake_->deliverTap(batch), 1);
    QTRY_COMPARE_WITH_TIMEOUT(panel_->model()->rowCount(), 4, 5000);
    QCOMPARE(panel_->received(), uint64_t(4));
    QCOMPARE(panel_->dropped(), uint64_t(7));
    const QString status = panel_->statusLabel()->text();
    QVERIFY2(status.contains("4 received") && status.contains("7 dropped") &&
                 status.contains("3 proxies"),
             qPrintable(status));

    auto* model = panel_->model();
    auto background = [model](int row) {
      return model->data(model->index(row, ui::TapEventsModel::kPath), Qt::BackgroundRole);
    };
    QVERIFY(!background(0).isValid());  // 2xx: as the table draws it
    QCOMPARE(model->data(model->index(1, 0), Qt::UserRole).toString(), QString("warning"));
    QCOMPARE(background(1).value<QColor>().rgb(), QColor(217, 142, 4).rgb());
    QCOMPARE(model->data(model->index(2, 0), Qt::UserRole).toString(), QString("error"));
    QCOMPARE(background(2).value<QColor>().rgb(), QColor(214, 51, 51).rgb());
    // A gRPC error under HTTP 200 is an error too.
    QCOMPARE(model->data(model->index(3, 0), Qt::UserRole).toString(), QString("error"));
    QCOMPARE(model->data(model->index(3, ui::TapEventsModel::kStatus)).toString(),
             QString("200 grpc 14"));
    QCOMPARE(model->data(model->index(2, ui::TapEventsModel::kSource)).toString(),
             QString("reviews/v1"));
    QCOMPARE(model->data(model->index(2, ui::TapEventsModel::kLatency)).toString(),
             QString("12.3 ms"));
    // Columns: the header menu's actions hide and show them; Path cannot go.
    const auto& columns = panel_->columnActions();
    QCOMPARE(columns.size(), int(ui::TapEventsModel::kColumnCount));
    QVERIFY(!columns[ui::TapEventsModel::kPath]->isEnabled());
    columns[ui::TapEventsModel::kProtocol]->setChecked(false);
    QVERIFY(panel_->table()->isColumnHidden(ui::TapEventsModel::kProtocol));
    columns[ui::TapEventsModel::kProtocol]->setChecked(true);
    QVERIFY(!panel_->table()->isColumnHidden(ui::TapEventsModel::kProtocol));
  }

  void hiddenColumnsAreRemembered() {
    panel_->columnActions()[ui::TapEventsModel::kProtocol]->setChecked(false);
    panel_->columnActions()[ui::TapEventsModel::kSide]->setChecked(false);
    // The next window (the next session) hides them too.
    window_.reset();
    fake_ = std::make_shared<FakeControlPlane>();
    ui::MainWindowOptions options;
    options.source = "fake";
    options.use_settings = false;
    window_ = std::make_unique<ui::MainWindow>(fake_, options);
    panel_ = window_->tapPanel();
    QVERIFY(panel_->table()->isColumnHidden(ui::TapEventsModel::kProtocol));
    QVERIFY(panel_->table()->isColumnHidden(ui::TapEventsModel::kSide));
    QVERIFY(!panel_->columnActions()[ui::TapEventsModel::kSide]->isChecked());
    QVERIFY(!panel_->table()->isColumnHidden(ui::TapEventsModel::kStatus));
    panel_->columnActions()[ui::TapEventsModel::kSide]->setChecked(true);
    QVERIFY(!panel_->table()->isColumnHidden(ui::TapEventsModel::kSide));
    QCOMPARE(QSettings().value("tapPanel/hiddenColumns").toStringList(),
             QStringList{QString::number(ui::TapEventsModel::kProtocol)});
  }

  void sortingByAColumnAndBack() {
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    auto event = [](const std::string& from, const std::string& to, uint32_t status,
                    uint64_t latency_us) {
      auto e = tapEvent(from, to, status);
      e.latency_us = latency_us;
      e.path = "/" + std::to_string(latency_us);
      return e;
    };
    cp::TapBatch batch;  // arrival order: 50 ms, 5 ms, 900 ms, 20 ms
    batch.events = {
        event("frontend", "reviews", 200, 50'000), event("reviews", "ratings", 503, 5'000),
        event("frontend", "catalog", 404, 900'000), event("reviews", "ratings", 200, 20'000)};
    fake_->deliverTap(batch);
    QTRY_COMPARE_WITH_TIMEOUT(panel_->model()->rowCount(), 4, 5000);
    QTableView* table = panel_->table();
    QHeaderView* header = table->horizontalHeader();
    const auto latencies = [&] {
      std::vector<uint64_t> out;
      for (int row = 0; row < panel_->sortedModel()->rowCount(); ++row)
        out.push_back(panel_->eventAt(row).latency_us);
      return out;
    };
    QCOMPARE(latencies(), (std::vector<uint64_t>{50'000, 5'000, 900'000, 20'000}));
    const auto clickHeader = [&](int column) {
      const QPoint at(header->sectionViewportPosition(column) + header->sectionSize(column) / 2,
                      header->height() / 2);
      QTest::mouseClick(header->viewport(), Qt::LeftButton, {}, at);
    };
    // A click on Latency sorts by it (as numbers: 900 ms is the longest), a second the other way.
    clickHeader(ui::TapEventsModel::kLatency);
    QCOMPARE(panel_->sortedModel()->sortColumn(), int(ui::TapEventsModel::kLatency));
    const std::vector<uint64_t> ascending{5'000, 20'000, 50'000, 900'000};
    const std::vector<uint64_t> descending{900'000, 50'000, 20'000, 5'000};
    const bool up = panel_->sortedModel()->sortOrder() == Qt::AscendingOrder;
    QCOMPARE(latencies(), up ? ascending : descending);
    clickHeader(ui::TapEventsModel::kLatency);
    QCOMPARE(latencies(), up ? descending : ascending);
    // Events arriving meanwhile take their sorted place.
    cp::TapBatch more;
    more.events = {event("reviews", "ratings", 200, 100'000)};
    fake_->deliverTap(more);
    QTRY_COMPARE_WITH_TIMEOUT(panel_->model()->rowCount(), 5, 5000);
    auto now = latencies();
    QVERIFY(std::is_sorted(now.begin(), now.end()) || std::is_sorted(now.rbegin(), now.rend()));
    // A click on a sorted row opens that row's event and edge (the row in the table, not in
    // the arrival order).
    int row_503 = -1;
    for (int row = 0; row < 5; ++row)
      if (panel_->eventAt(row).status == 503) row_503 = row;
    QVERIFY(row_503 >= 0 && row_503 != 1);
    const QRect cell = table->visualRect(table->model()->index(row_503, ui::TapEventsModel::kPath));
    QTest::mouseClick(table->viewport(), Qt::LeftButton, {}, cell.center());
    QCOMPARE(window_->graphView()->selection().source, QString("reviews"));
    QCOMPARE(window_->graphView()->selection().destination, QString("ratings"));
    QVERIFY2(panel_->details()->toPlainText().contains("503"),
             qPrintable(panel_->details()->toPlainText()));
    // Status sorts as a number too.
    clickHeader(ui::TapEventsModel::kStatus);
    QCOMPARE(panel_->sortedModel()->sortColumn(), int(ui::TapEventsModel::kStatus));
    std::vector<uint32_t> statuses;
    for (int row = 0; row < 5; ++row) statuses.push_back(panel_->eventAt(row).status);
    QVERIFY(std::is_sorted(statuses.begin(), statuses.end()) ||
            std::is_sorted(statuses.rbegin(), statuses.rend()));
    QVERIFY(statuses.front() != statuses.back());
    // The header menu's Arrival Order: back to the order they came in.
    panel_->arrivalOrderAction()->trigger();
    QCOMPARE(panel_->sortedModel()->sortColumn(), -1);
    QCOMPARE(latencies(), (std::vector<uint64_t>{50'000, 5'000, 900'000, 20'000, 100'000}));
  }

  void pauseKeepsReceivingWithoutAppending() {
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    cp::TapBatch batch;
    batch.events = {tapEvent("reviews", "ratings", 200)};
    fake_->deliverTap(batch);
    QTRY_COMPARE_WITH_TIMEOUT(panel_->model()->rowCount(), 1, 5000);

    QTest::mouseClick(panel_->pauseButton(), Qt::LeftButton);
    QVERIFY(panel_->paused());
    batch.events = {tapEvent("reviews", "ratings", 200), tapEvent("reviews", "ratings", 500)};
    fake_->deliverTap(batch);
    QTRY_COMPARE_WITH_TIMEOUT(panel_->received(), uint64_t(3), 5000);
    QCOMPARE(panel_->model()->rowCount(), 1);
    QCOMPARE(panel_->arrivedWhilePaused(), uint64_t(2));
    QVERIFY2(panel_->statusLabel()->text().contains("paused, 2 arrived meanwhile"),
             qPrintable(panel_->statusLabel()->text()));

    QTest::mouseClick(panel_->pauseButton(), Qt::LeftButton);
    QVERIFY(!panel_->paused());
    batch.events = {tapEvent("reviews", "ratings", 201)};
    fake_->deliverTap(batch);
    QTRY_COMPARE_WITH_TIMEOUT(panel_->model()->rowCount(), 2, 5000);
    QCOMPARE(panel_->received(), uint64_t(4));
  }

  void tableIsBounded() {
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    panel_->model()->setCapacity(10);
    cp::TapBatch batch;
    for (int i = 0; i < 25; ++i) {
      batch.events.push_back(tapEvent("reviews", "ratings", 200));
      batch.events.back().path = "/n/" + std::to_string(i);
    }
    fake_->deliverTap(batch);
    QTRY_COMPARE_WITH_TIMEOUT(panel_->received(), uint64_t(25), 5000);
    QCOMPARE(panel_->model()->rowCount(), 10);
    QCOMPARE(panel_->model()->event(0).path, std::string("/n/15"));
    QCOMPARE(panel_->model()->event(9).path, std::string("/n/24"));
  }

  void filterRowBecomesTheTapFilter() {
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    QTest::mouseClick(panel_->startButton(), Qt::LeftButton);  // Stop
    QVERIFY(!panel_->running());
    QCOMPARE(fake_->openTaps(), 0);

    panel_->serviceEdit()->setText("frontend");
    panel_->toEdit()->setText("catalog");
    panel_->pathEdit()->setText("/api/products");
    panel_->methodBox()->setCurrentIndex(panel_->methodBox()->findData("POST"));
    panel_->statusBox()->setCurrentIndex(panel_->statusBox()->findData(5));
    panel_->latencyBox()->setValue(250);
    QTest::mouseClick(panel_->startButton(), Qt::LeftButton);  // Start
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    QCOMPARE(fake_->openTaps(), 1);
    const cp::TapFilter f = fake_->tapFilters().back();
    QCOMPARE(f.service, std::string("frontend"));
    QCOMPARE(f.destination_service, std::string("catalog"));
    QCOMPARE(f.path_prefix, std::string("/api/products"));
    QCOMPARE(f.method, std::string("POST"));
    QCOMPARE(f.status_class, 5u);
    QCOMPARE(f.min_latency_us, uint64_t(250'000));
    QVERIFY2(panel_->statusLabel()->text().contains("Tapping"),
             qPrintable(panel_->statusLabel()->text()));
  }

  void exportWritesJsonLinesThatParseBack() {
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    cp::TapBatch batch;
    batch.events = {tapEvent("reviews", "ratings", 200), tapEvent("frontend", "reviews", 404),
                    tapEvent("reviews", "ratings", 503)};
    fake_->deliverTap(batch);
    QTRY_COMPARE_WITH_TIMEOUT(panel_->model()->rowCount(), 3, 5000);
    QTemporaryDir dir;
    const QString path = dir.filePath("tap.jsonl");
    QString error;
    QVERIFY2(panel_->exportTo(path, &error), qPrintable(error));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = file.readAll().split('\n');
    QCOMPARE(lines.size(), 4);  // three objects and the empty rest after the last newline
    QVERIFY(lines.back().isEmpty());
    for (int i = 0; i < 3; ++i) {
      QJsonParseError parse;
      const QJsonDocument doc = QJsonDocument::fromJson(lines[i], &parse);
      QVERIFY2(parse.error == QJsonParseError::NoError, qPrintable(parse.errorString()));
      QVERIFY(doc.isObject());
      // The fields of `meshdeckctl tap -o json` (TapEvent::toJson).
      QCOMPARE(doc.object().value("source").toString(),
               QString::fromStdString(batch.events[size_t(i)].source_service));
      QCOMPARE(doc.object().value("status").toInt(), int(batch.events[size_t(i)].status));
      QCOMPARE(doc.object().value("path").toString(),
               QString::fromStdString(batch.events[size_t(i)].path));
    }
    QVERIFY(!panel_->exportTo(dir.filePath("missing/dir/tap.jsonl"), &error));
    QVERIFY(!error.isEmpty());
  }

  void clickingARowSelectsItsEdgeAndShowsEveryField() {
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    QVERIFY(window_->graphView()->edgeItem("reviews", "ratings") != nullptr);
    cp::TapBatch batch;
    batch.events = {tapEvent("frontend", "reviews", 200), tapEvent("reviews", "ratings", 200)};
    fake_->deliverTap(batch);
    QTRY_COMPARE_WITH_TIMEOUT(panel_->model()->rowCount(), 2, 5000);
    QTableView* table = panel_->table();
    const QRect cell = table->visualRect(table->model()->index(1, ui::TapEventsModel::kPath));
    QVERIFY(cell.isValid());
    QTest::mouseClick(table->viewport(), Qt::LeftButton, {}, cell.center());
    const ui::GraphSelection s = window_->graphView()->selection();
    QCOMPARE(int(s.kind), int(ui::GraphSelection::Kind::kEdge));
    QCOMPARE(s.source, QString("reviews"));
    QCOMPARE(s.destination, QString("ratings"));
    const QString details = panel_->details()->toPlainText();
    QVERIFY2(details.contains("/api/ratings/42") && details.contains("abc123") &&
                 details.contains("x-request-id") && details.contains("req-7"),
             qPrintable(details));
    // Both ends' identities (issue 23).
    QVERIFY2(details.contains("sourceIdentity: spiffe://mesh.local/ns/default/sa/reviews") &&
                 details.contains("destinationIdentity: spiffe://mesh.local/ns/default/sa/ratings"),
             qPrintable(details));
  }

  void graphMenuAndShortcutOpenTaps() {
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    // The graph's "Tap Edge" on frontend → catalog.
    emit window_->graphView()->tapRequested("frontend", "catalog");
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    QTRY_COMPARE_WITH_TIMEOUT(fake_->tapFilters().size(), size_t(2), 5000);
    QCOMPARE(fake_->openTaps(), 1);  // the earlier tap was closed
    QCOMPARE(fake_->tapFilters().back().service, std::string("frontend"));
    QCOMPARE(fake_->tapFilters().back().destination_service, std::string("catalog"));
    QCOMPARE(panel_->toEdit()->text(), QString("catalog"));

    // Ctrl+T on the selected service.
    window_->graphView()->selectNode("cart");
    auto* action = window_->findChild<QAction*>("tapAction");
    QVERIFY(action != nullptr);
    QCOMPARE(action->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_T));
    action->trigger();
    QTRY_COMPARE_WITH_TIMEOUT(fake_->tapFilters().size(), size_t(3), 5000);
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    QCOMPARE(fake_->tapFilters().back().service, std::string("cart"));
    QVERIFY(fake_->tapFilters().back().destination_service.empty());
    QCOMPARE(fake_->openTaps(), 1);
  }

  // The graph's real context menu: Tap Service on a service, Tap Edge on an edge's label.
  void graphContextMenuOffersTaps() {
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    ui::GraphView* graph = window_->graphView();
    auto chooseFromMenuAt = [graph](QPoint at, const QString& prefix) {
      bool chosen = false;
      QTimer::singleShot(0, graph, [&chosen, prefix] {
        auto* menu = qobject_cast<QMenu*>(QApplication::activePopupWidget());
        if (menu == nullptr) return;
        for (QAction* a : menu->actions()) {
          if (a->text().startsWith(prefix)) {
            a->trigger();
            chosen = true;
            break;
          }
        }
        menu->close();
      });
      QContextMenuEvent event(QContextMenuEvent::Mouse, at, graph->viewport()->mapToGlobal(at));
      QApplication::sendEvent(graph->viewport(), &event);
      return chosen;
    };
    const ui::NodeItem* cart = graph->nodeItem("cart");
    QVERIFY(cart != nullptr);
    QVERIFY(
        chooseFromMenuAt(graph->mapFromScene(cart->sceneBoundingRect().center()), "Tap Service"));
    QTRY_COMPARE_WITH_TIMEOUT(fake_->tapFilters().size(), size_t(2), 5000);
    QCOMPARE(fake_->tapFilters().back().service, std::string("cart"));
    QVERIFY(fake_->tapFilters().back().destination_service.empty());

    const ui::EdgeItem* edge = graph->edgeItem("reviews", "ratings");
    QVERIFY(edge != nullptr);
    QVERIFY(chooseFromMenuAt(graph->mapFromScene(edge->mapToScene(edge->labelCentre())),
                             "Tap Edge reviews → ratings"));
    QTRY_COMPARE_WITH_TIMEOUT(fake_->tapFilters().size(), size_t(3), 5000);
    QCOMPARE(fake_->tapFilters().back().service, std::string("reviews"));
    QCOMPARE(fake_->tapFilters().back().destination_service, std::string("ratings"));
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    QCOMPARE(fake_->openTaps(), 1);
  }

  void closingTheDockReleasesTheTap() {
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    QCOMPARE(fake_->openTaps(), 1);
    QVERIFY(window_->tapDock()->close());
    QVERIFY(!panel_->running());
    QCOMPARE(fake_->openTaps(), 0);
    // What arrives after the close reaches nobody.
    cp::TapBatch batch;
    batch.events = {tapEvent("reviews", "ratings", 200)};
    QCOMPARE(fake_->deliverTap(batch), 0);
    // Reopened from the View menu's toggle and closed with it again.
    window_->openTap(panel_->filter());
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    window_->tapDock()->toggleViewAction()->trigger();
    QVERIFY(!panel_->running());
    QCOMPARE(fake_->openTaps(), 0);
  }

  void destroyingTheWindowReleasesTheTap() {
    QTRY_VERIFY_WITH_TIMEOUT(panel_->running(), 5000);
    QCOMPARE(fake_->openTaps(), 1);
    window_.reset();
    QCOMPARE(fake_->openTaps(), 0);
  }

  void snapshotFileSaysTappingNeedsALiveControlPlane() {
    QTemporaryDir dir;
    const QString path = dir.filePath("snap.json");
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(QByteArray::fromStdString(fake_->exportSnapshotJson(60)));
    file.close();
    QString error;
    std::shared_ptr<cp::ControlPlane> snapshot = ui::SnapshotControlPlane::open(path, &error);
    QVERIFY2(snapshot != nullptr, qPrintable(error));
    ui::ControlPlaneClient client(snapshot, true);
    ui::TapPanel panel(&client);
    cp::TapFilter f;
    f.service = "reviews";
    panel.setFilter(f);
    panel.start();
    QTRY_VERIFY_WITH_TIMEOUT(!panel.starting(), 5000);
    QVERIFY(!panel.running());
    QVERIFY2(panel.statusLabel()->text().contains("Tapping needs a live control plane"),
             qPrintable(panel.statusLabel()->text()));
    QCOMPARE(panel.startButton()->text(), QString("Start"));
  }

 private:
  std::shared_ptr<FakeControlPlane> fake_;
  std::unique_ptr<ui::MainWindow> window_;
  ui::TapPanel* panel_ = nullptr;
};

QTEST_MAIN(TapPanelTest)
#include "tap_panel_test.moc"
