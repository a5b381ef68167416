// A refused Delete (issue 17, problem 4) against a real InProcessControlPlane (no network): the
// refusal names the policy to act on (the TrafficRoute that uses the DestinationPolicy's subset),
// shows no line or column that is not in the editor's text, and its "Open …" button puts that
// TrafficRoute in the editor with the error marked at its place there. Clicked through QTest.
#include <QApplication>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QTableView>
#include <QTextBlock>
#include <QTimer>
#include <QtTest>

#include "controlplane/in_process_control_plane.h"
#include "gui/message_box_answer.h"
#include "support/policy_fixtures.h"
#include "ui/control_plane_client.h"
#include "ui/policy_panel.h"

using namespace meshdeck;

namespace {

// Applied from a longer file (comments first), as an operator's editor held it: the route's
// subsets sit far below the last line of the DestinationPolicy's own text.
const std::string kPolicies = R"(# storefront canary
# recommendations v2 gets a tenth of the requests
#
# owner: team-recs
# reviewed: yes
# ticket: RECS-42
# rollback: delete the TrafficRoute first
#
)" + testing::canaryPolicies("recommendations", "recommendations");

std::shared_ptr<cp::InProcessControlPlane> makeControlPlane() {
  cp::ControlPlaneOptions options;
  options.listen = "";  // no gRPC server
  options.secure_listen = "";
  auto plane = std::make_shared<cp::InProcessControlPlane>(options);
  plane->registerService("recommendations", "v1", "backend");
  plane->registerService("recommendations", "v2", "backend");
  return plane;
}

QPushButton* buttonWithText(QWidget* parent, const QString& text) {
  for (auto* b : parent->findChildren<QPushButton*>())
    if (b->text() == text) return b;
  return nullptr;
}

int rowOf(QTableView* table, const QString& kind) {
  for (int row = 0; row < table->model()->rowCount(); ++row) {
    for (int column = 0; column < table->model()->columnCount(); ++column) {
      if (table->model()->index(row, column).data().toString() == kind) return row;
    }
  }
  return -1;
}

// Every "line N" an error shows must be a line of the editor's text.
void checkLinesVisible(QListWidget* errors, QPlainTextEdit* editor) {
  static const QRegularExpression line_re(QStringLiteral("line (\\d+)"));
  for (int i = 0; i < errors->count(); ++i) {
    auto it = line_re.globalMatch(errors->item(i)->text());
    while (it.hasNext()) {
      const int line = it.next().captured(1).toInt();
      QVERIFY2(line >= 1 && line <= editor->document()->blockCount(),
               qPrintable(QStringLiteral("%1 (editor has %2 lines)")
                              .arg(errors->item(i)->text())
                              .arg(editor->document()->blockCount())));
    }
  }
}

}  // namespace

class PolicyRefusalTest : public QObject {
  Q_OBJECT

 private slots:
  void refusedDeleteNamesTheRouteAndOpensIt() {
    auto plane = makeControlPlane();
    QVERIFY(plane->applyPolicies(kPolicies, "editor", "alice", false).ok);
    ui::ControlPlaneClient client(plane, false);
    ui::PolicyPanel panel(&client);
    panel.resize(520, 760);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    panel.refresh();
    QTableView* table = panel.table();
    QTRY_COMPARE_WITH_TIMEOUT(table->model()->rowCount(), 2, 10000);
    auto* editor = panel.findChild<QPlainTextEdit*>("policyEditor");
    QVERIFY(editor != nullptr);

    // The DestinationPolicy clicked in the list: its text is in the editor.
    const int dest_row = rowOf(table, "DestinationPolicy");
    QVERIFY(dest_row >= 0);
    QTest::mouseClick(table->viewport(), Qt::LeftButton, {},
                      table->visualRect(table->model()->index(dest_row, 0)).center());
    QTRY_VERIFY_WITH_TIMEOUT(editor->toPlainText().contains("kind: DestinationPolicy"), 5000);
    const int dest_lines = editor->document()->blockCount();
    QVERIFY(dest_lines < 20);  // the route's subsets were on lines 25 and 26 of the applied file

    // Delete clicked and confirmed: refused, naming the TrafficRoute.
    QPushButton* del = buttonWithText(&panel, "Delete");
    QVERIFY(del != nullptr);
    auto confirm = testing::answerNextMessageBox(QMessageBox::Yes);
    QTest::mouseClick(del, Qt::LeftButton);
    QVERIFY(confirm->seen);
    QListWidget* errors = panel.errorList();
    QTRY_VERIFY_WITH_TIMEOUT(errors->count() > 0, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(panel.statusLabel()->text().contains("refused"), 5000);
    QCOMPARE(plane->policies().size(), size_t(2));
    for (int i = 0; i < errors->count(); ++i) {
      const QString text = errors->item(i)->text();
      QVERIFY2(text.contains("TrafficRoute/recommendations-canary uses subset"), qPrintable(text));
      QVERIFY2(text.contains("delete or change TrafficRoute/recommendations-canary first"),
               qPrintable(text));
    }
    QVERIFY(errors->item(0)->text().contains("subset \"v1\" of service \"recommendations\""));
    checkLinesVisible(errors, editor);
    QVERIFY(editor->toPlainText().contains("kind: DestinationPolicy"));  // nothing jumped

    // The open action names the route; clicked, the route is in the editor and selected.
    QPushButton* open = panel.openReferencedButton();
    QVERIFY(open != nullptr);
    QVERIFY(open->isVisible());
    QCOMPARE(open->text(), QStringLiteral("Open TrafficRoute/recommendations-canary"));
    QTest::mouseClick(open, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(editor->toPlainText().contains("kind: TrafficRoute"), 5000);
    QVERIFY(editor->toPlainText().contains("name: recommendations-canary"));
    QCOMPARE(table->currentIndex().row(), rowOf(table, "TrafficRoute"));
    // Its errors now refer to the text shown: line and column of the destination using v1.
    QVERIFY(errors->count() > 0);
    QVERIFY2(errors->item(0)->text().startsWith("line "), qPrintable(errors->item(0)->text()));
    checkLinesVisible(errors, editor);
    const int cursor_line = editor->textCursor().blockNumber();
    const QString below = editor->toPlainText().section('\n', cursor_line, cursor_line + 3);
    QVERIFY2(below.contains("destination") && below.contains("subset: v1"), qPrintable(below));
    QVERIFY(!open->isVisible());
  }
};

QTEST_MAIN(PolicyRefusalTest)
#include "policy_refusal_test.moc"
