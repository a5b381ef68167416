// The policy history dialog (issue 17, problem 5) against a real InProcessControlPlane (no
// network): revision 1 shows the policies it created (it is diffed against the empty set, not
// shown as "(no changes)"), the dialog opens on the newest revision, and Revert asks first, as
// Delete does. Everything is clicked through QTest. With MESHDECK_SCREENSHOT_DIR the dialog is
// also drawn over the main window at 1280x720 (policy-history.png).
#include <QApplication>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDockWidget>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPainter>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTimer>
#include <QtTest>

#include "controlplane/in_process_control_plane.h"
#include "gui/message_box_answer.h"
#include "support/fake_control_plane.h"
#include "support/policy_fixtures.h"
#include "ui/control_plane_client.h"
#include "ui/main_window.h"
#include "ui/policy_panel.h"

using namespace meshdeck;

namespace {

// Two policies in one apply: revision 1 creates both.
const std::string kTwoPolicies = testing::canaryPolicies("reviews", "reviews");
const char* kShifted = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: reviews-canary}
spec:
  host: reviews
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 50}
    - {destination: {host: reviews, subset: v2}, weight: 50}
)";

std::shared_ptr<cp::InProcessControlPlane> makeControlPlane() {
  cp::ControlPlaneOptions options;
  options.listen = "";  // no gRPC server
  options.secure_listen = "";
  auto plane = std::make_shared<cp::InProcessControlPlane>(options);
  plane->registerService("reviews", "v1", "backend");
  plane->registerService("reviews", "v2", "backend");
  return plane;
}

QPushButton* buttonWithText(QWidget* parent, const QString& text) {
  for (auto* b : parent->findChildren<QPushButton*>())
    if (b->text() == text) return b;
  return nullptr;
}

void clickItem(QListWidget* list, int row) {
  const QRect rect = list->visualItemRect(list->item(row));
  QTest::mouseClick(list->viewport(), Qt::LeftButton, {}, rect.center());
}

}  // namespace

class PolicyHistoryTest : public QObject {
  Q_OBJECT

 private slots:
  void historyIsRightOpensOnNewestAndRevertConfirms() {
    auto plane = makeControlPlane();
    QVERIFY(plane->applyPolicies(kTwoPolicies, "two.yaml", "alice", false).ok);
    QVERIFY(plane->applyPolicies(kShifted, "shift.yaml", "bob", false).ok);
    ui::ControlPlaneClient client(plane, false);
    ui::PolicyPanel panel(&client);
    panel.resize(420, 700);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));

    QPushButton* history_button = buttonWithText(&panel, "History…");
    QVERIFY(history_button != nullptr);
    QTest::mouseClick(history_button, Qt::LeftButton);
    auto* dialog = panel.findChild<QDialog*>("policyHistory");
    QVERIFY(dialog != nullptr);
    auto* list = dialog->findChild<QListWidget*>("historyList");
    auto* diff = dialog->findChild<QPlainTextEdit*>("historyDiff");
    auto* revert = dialog->findChild<QPushButton*>("historyRevert");
    QVERIFY(list && diff && revert);

    // Opens on the newest revision (r2), with its diff against r1; it is in force, so there is
    // nothing to revert to.
    QTRY_COMPARE_WITH_TIMEOUT(list->count(), 2, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(list->currentRow(), 0, 5000);
    QVERIFY(list->item(0)->text().startsWith("r2"));
    // Each revision names who made it (over the TLS port: the operator, docs/security.md).
    QVERIFY2(list->item(0)->text().contains(" · bob\n"), qPrintable(list->item(0)->text()));
    QVERIFY2(list->item(1)->text().contains(" · alice\n"), qPrintable(list->item(1)->text()));
    QCOMPARE(list->selectedItems(), QList<QListWidgetItem*>{list->item(0)});
    QTRY_VERIFY_WITH_TIMEOUT(diff->toPlainText().contains("weight: 50"), 10000);
    QVERIFY(diff->toPlainText().contains("revision 1"));
    QVERIFY(!revert->isEnabled());

    // Revision 1 created two policies: its entry and its diff say so.
    QVERIFY2(list->item(1)->text().contains("created DestinationPolicy/reviews") &&
                 list->item(1)->text().contains("created TrafficRoute/reviews-canary"),
             qPrintable(list->item(1)->text()));
    clickItem(list, 1);
    QCOMPARE(list->currentRow(), 1);
    QTRY_VERIFY_WITH_TIMEOUT(diff->toPlainText().contains("+kind: DestinationPolicy"), 10000);
    const QString r1 = diff->toPlainText();
    QVERIFY2(r1.contains("+kind: TrafficRoute") && r1.contains("reviews-canary") &&
                 !r1.contains("(no changes)"),
             qPrintable(r1));
    QVERIFY(revert->isEnabled());

    // Revert asks first; "No" changes nothing and leaves the dialog open.
    auto question = testing::answerNextMessageBox(QMessageBox::No);
    QTest::mouseClick(revert, Qt::LeftButton);
    QVERIFY2(question->text.contains("Revert to revision 1?"), qPrintable(question->text));
    QCOMPARE(plane->revisions().size(), size_t(2));
    QVERIFY(dialog->isVisible());

    // "Yes" reverts: a new revision 3 with revision 1's policies.
    question = testing::answerNextMessageBox(QMessageBox::Yes);
    QTest::mouseClick(revert, Qt::LeftButton);
    QVERIFY(question->text.contains("Revert to revision 1?"));
    QTRY_COMPARE_WITH_TIMEOUT(plane->revisions().size(), size_t(3), 10000);
    QTRY_VERIFY_WITH_TIMEOUT(panel.statusLabel()->text().contains("now revision 3"), 10000);
    const auto in_force = plane->policies();
    QCOMPARE(in_force.size(), size_t(2));
    for (const auto& p : in_force)
      if (p.kind == "TrafficRoute") QVERIFY(p.yaml.find("weight: 90") != std::string::npos);
    client.waitForIdle();
  }

  void screenshotOfTheHistoryOverTheWindow_data() {
    QTest::addColumn<QSize>("size");
    QTest::addColumn<QSize>("dialog_size");
    QTest::newRow("1280x720") << QSize(1280, 720) << QSize(900, 520);
    QTest::newRow("1920x1080") << QSize(1920, 1080) << QSize(1200, 720);
  }

  // What the docs show: the history dialog over the main window at 1280x720 and 1920x1080, on
  // revision 1. Saved only with MESHDECK_SCREENSHOT_DIR.
  void screenshotOfTheHistoryOverTheWindow() {
    QFETCH(QSize, size);
    QFETCH(QSize, dialog_size);
    const QString dir = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR");
    auto fake = std::make_shared<testing::FakeControlPlane>();
    const cp::ApplyResult applied =
        fake->applyPolicies(kTwoPolicies, "two.yaml", "meshdeck-ui", false);
    QVERIFY(applied.ok);
    QVERIFY(fake->applyPolicies(kShifted, "shift.yaml", "meshdeck-ui", false).ok);
    ui::MainWindowOptions options;
    options.source = "Fake control plane";
    options.use_settings = false;
    ui::MainWindow window(fake, options);
    window.resize(size);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.sidePanel()->setCurrentWidget(window.policyPanel());
    QTRY_VERIFY_WITH_TIMEOUT(!window.client()->latest()->services.empty(), 5000);
    QTest::mouseClick(buttonWithText(window.policyPanel(), "History…"), Qt::LeftButton);
    auto* dialog = window.policyPanel()->findChild<QDialog*>("policyHistory");
    QVERIFY(dialog != nullptr);
    auto* list = dialog->findChild<QListWidget*>("historyList");
    auto* diff = dialog->findChild<QPlainTextEdit*>("historyDiff");
    QTRY_VERIFY_WITH_TIMEOUT(list->count() >= 2, 5000);
    QTRY_COMPARE_WITH_TIMEOUT(list->currentRow(), 0, 5000);
    // The revision that created the two policies.
    int row = -1;
    for (int i = 0; i < list->count(); ++i)
      if (list->item(i)->data(Qt::UserRole).toULongLong() == applied.revision) row = i;
    QVERIFY(row >= 0);
    clickItem(list, row);
    QTRY_VERIFY_WITH_TIMEOUT(diff->toPlainText().contains("+kind: DestinationPolicy"), 5000);
    dialog->resize(dialog_size);
    QTest::qWait(200);
    const QPixmap dialog_picture = dialog->grab();
    QPixmap picture = window.grab();
    {
      QPainter painter(&picture);
      const QPoint at((picture.width() - dialog_picture.width()) / 2,
                      (picture.height() - dialog_picture.height()) / 2);
      painter.fillRect(QRect(at + QPoint(4, 4), dialog_picture.size()), QColor(0, 0, 0, 60));
      painter.drawPixmap(at, dialog_picture);
      painter.setPen(QColor(0x80, 0x80, 0x80));
      painter.drawRect(QRect(at, dialog_picture.size()).adjusted(0, 0, -1, -1));
    }
    if (!dir.isEmpty())
      QVERIFY(picture.save(QStringLiteral("%1/policy-history-%2x%3.png")
                               .arg(dir)
                               .arg(size.width())
                               .arg(size.height())));
    dialog->close();
    window.client()->waitForIdle();
  }
};

QTEST_MAIN(PolicyHistoryTest)
#include "policy_history_test.moc"
