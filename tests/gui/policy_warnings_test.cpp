// Issue 17, problem 1: a form's defaults caused an outage (a canary to reviews v2, which does not
// run). On the real storefront demo (reviews runs only v1, catalog calls it), clicked through
// QTest: the Canary split form on reviews offers only v1, says a canary needs a second version
// and cannot be accepted (on recommendations, which runs v1 and v2, it defaults to a running
// canary and a small weight); YAML typed in the editor that routes to a subset without running
// instances validates with a warning (apart from errors, wrapped, with a tooltip) and the
// catalog -> reviews edge highlighted in the graph; Apply asks "Apply anyway" first (Cancel
// changes nothing). With MESHDECK_SCREENSHOT_DIR the window is saved at 1280x720 and 1920x1080
// (policy-warning-<size>.png).
#include <QApplication>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSlider>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>
#include <memory>

#include "app/demo_controller.h"
#include "controlplane/in_process_control_plane.h"
#include "gui/demo_window.h"
#include "gui/message_box_answer.h"
#include "support/policy_fixtures.h"
#include "support/tagged_processes.h"
#include "ui/control_plane_client.h"
#include "ui/graph_items.h"
#include "ui/graph_view.h"
#include "ui/main_window.h"
#include "ui/policy_forms.h"
#include "ui/policy_panel.h"

using namespace meshdeck;
using namespace meshdeck::test;

using meshdeck::testing::DemoWindow;

namespace {

// What the old form wrote for reviews: 10 % to v2, a version that does not run.
const std::string kOutage = testing::canaryPolicies("reviews", "reviews-destination");

QPushButton* buttonWithText(QWidget* parent, const QString& text) {
  for (auto* b : parent->findChildren<QPushButton*>())
    if (b->text() == text) return b;
  return nullptr;
}

// Opens Forms → `entry` with clicks: the button's menu, then the entry in it.
void clickFormsEntry(ui::PolicyPanel* panel, const QString& entry) {
  auto* forms = panel->findChild<QPushButton*>("formsButton");
  QVERIFY(forms != nullptr && forms->menu() != nullptr);
  QMenu* menu = forms->menu();
  QTimer::singleShot(0, menu, [menu, entry] {
    QTRY_VERIFY_WITH_TIMEOUT(menu->isVisible(), 5000);
    for (QAction* a : menu->actions()) {
      if (a->text().startsWith(entry)) {
        QTest::mouseClick(menu, Qt::LeftButton, {}, menu->actionGeometry(a).center());
        return;
      }
    }
    menu->close();
  });
  QTest::mouseClick(forms, Qt::LeftButton);
}

// Chooses `service` in the form's service box by typing its name, as a user would.
void chooseService(ui::PolicyFormDialog* dialog, const QString& service) {
  auto* box = dialog->findChild<QComboBox*>("service");
  QVERIFY(box != nullptr && box->lineEdit() != nullptr);
  QVERIFY(box->findText(service) >= 0);
  box->lineEdit()->setFocus();
  box->lineEdit()->selectAll();
  QTest::keyClicks(box->lineEdit(), service);
  QTRY_COMPARE_WITH_TIMEOUT(box->currentText(), service, 5000);
}

QStringList items(QComboBox* box) {
  QStringList out;
  for (int i = 0; i < box->count(); ++i) out << box->itemText(i);
  return out;
}

}  // namespace

class PolicyWarningsTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    tag_ = newProcessTag();
    qputenv("MESHDECK_TEST_TAG", tag_.split('=')[1]);
  }

  void formsCannotMakeTheOutageAndWarningsShowBeforeApply() {
    DemoWindow mesh;
    QString error;
    QVERIFY2(mesh.start("storefront", QSize(1280, 720), &error), qPrintable(error));
    cp::InProcessControlPlane* control_plane = &mesh.controlPlane();
    ui::MainWindow* window = &mesh.window();
    app::DemoController* demo = &mesh.demo();
    QTRY_VERIFY_WITH_TIMEOUT(demo->ready(), 120'000);
    ui::GraphView* graph = window->graphView();
    // reviews v1 is connected and catalog's calls to it are on the graph.
    QTRY_VERIFY_WITH_TIMEOUT(graph->edgeItem("catalog", "reviews") != nullptr, 60'000);
    ui::PolicyPanel* panel = window->policyPanel();
    window->sidePanel()->setCurrentWidget(panel);

    // Forms → Canary split opens on reviews: v1 is all it offers, and it says why there is no
    // canary; OK stays disabled and no YAML is written.
    clickFormsEntry(panel, ui::displayName(ui::PolicyFormKind::kCanary));
    ui::PolicyFormDialog* dialog = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT(
        (dialog = panel->findChild<ui::PolicyFormDialog*>()) != nullptr && dialog->isVisible(),
        5000);
    auto* service = dialog->findChild<QComboBox*>("service");
    auto* stable = dialog->findChild<QComboBox*>("stable");
    auto* canary = dialog->findChild<QComboBox*>("canary");
    QVERIFY(service && stable && canary);
    QCOMPARE(service->currentText(), QString("reviews"));
    QCOMPARE(items(stable), QStringList{"v1"});
    QVERIFY2(items(canary).isEmpty() || !canary->isEnabled(), qPrintable(items(canary).join(",")));
    QVERIFY2(canary->currentText() != "v2", "the form invents a canary version");
    QPushButton* ok = dialog->buttons()->button(QDialogButtonBox::Ok);
    QVERIFY(!ok->isEnabled());
    QVERIFY2(
        dialog->form()->problem().contains("reviews runs only v1: a canary needs a second version"),
        qPrintable(dialog->form()->problem()));
    bool problem_shown = false;
    for (auto* label : dialog->findChildren<QLabel*>())
      if (label->isVisible() && label->text() == dialog->form()->problem()) problem_shown = true;
    QVERIFY(problem_shown);
    QVERIFY(dialog->preview()->toPlainText().isEmpty());
    const QString before = panel->editor()->toPlainText();
    QTest::mouseClick(ok, Qt::LeftButton);
    QVERIFY(dialog->isVisible());
    QCOMPARE(panel->editor()->toPlainText(), before);

    // On recommendations (v1 and v2 run) the defaults are safe: a canary that runs, a small
    // weight; OK writes a split that validates without warnings.
    chooseService(dialog, "recommendations");
    QCOMPARE(items(stable), (QStringList{"v1", "v2"}));
    QCOMPARE(stable->currentText(), QString("v1"));
    QCOMPARE(canary->currentText(), QString("v2"));
    auto* weight = dialog->findChild<QSlider*>("weight");
    QVERIFY(weight != nullptr);
    QVERIFY2(weight->value() > 0 && weight->value() <= 10,
             qPrintable(QString::number(weight->value())));
    QTRY_VERIFY_WITH_TIMEOUT(ok->isEnabled(), 5000);
    QTest::mouseClick(ok, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(panel->editor()->toPlainText().contains("recommendations-canary"),
                             5000);
    QVERIFY(panel->editor()->toPlainText().contains("name: recommendations-destination"));
    QPushButton* validate = buttonWithText(panel, "Validate");
    QVERIFY(validate != nullptr);
    QTest::mouseClick(validate, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(panel->statusLabel()->text().startsWith("Valid."), 10'000);
    QVERIFY(panel->warningList()->isHidden());

    // The outage, typed into the editor: Validate shows one warning, apart from errors.
    panel->editor()->setFocus();
    QTest::keyClick(panel->editor(), Qt::Key_A, Qt::ControlModifier);
    QTest::keyClick(panel->editor(), Qt::Key_Delete);
    for (const QString& line : QString::fromStdString(kOutage).split('\n', Qt::SkipEmptyParts)) {
      QTest::keyClicks(panel->editor(), line);
      QTest::keyClick(panel->editor(), Qt::Key_Return);
    }
    QCOMPARE(panel->editor()->toPlainText(), QString::fromStdString(kOutage));
    QTest::mouseClick(validate, Qt::LeftButton);
    QListWidget* warnings = panel->warningList();
    QTRY_VERIFY_WITH_TIMEOUT(warnings->isVisible() && warnings->count() == 1, 10'000);
    QVERIFY(panel->errorList()->isHidden());
    const QString text = warnings->item(0)->text();
    QVERIFY2(text.startsWith("warning: line 18, column "), qPrintable(text));
    QVERIFY2(text.contains("subset \"v2\" selects version \"v2\" of \"reviews\", which does "
                           "not exist (\"reviews\" runs only v1)"),
             qPrintable(text));
    QVERIFY2(text.contains("10%") && text.contains("503"), qPrintable(text));
    // Never cut: wrapped at the panel's width, the whole message in the tooltip too.
    QVERIFY(warnings->wordWrap());
    QCOMPARE(warnings->textElideMode(), Qt::ElideNone);
    QCOMPARE(warnings->item(0)->toolTip(), text);
    QVERIFY(warnings->visualItemRect(warnings->item(0)).width() <= warnings->viewport()->width());
    QVERIFY2(
        warnings->visualItemRect(warnings->item(0)).height() > 2 * warnings->fontMetrics().height(),
        "the warning is not wrapped");
    QVERIFY2(panel->statusLabel()->text().contains("Valid, with 1 warning"),
             qPrintable(panel->statusLabel()->text()));
    // The edges it would change are highlighted in the graph.
    const QList<QPair<QString, QString>> catalog_reviews{{"catalog", "reviews"}};
    QCOMPARE(graph->warningEdges(), catalog_reviews);
    QVERIFY(graph->edgeItem("catalog", "reviews")->warned());
    QVERIFY(graph->edgeItem("catalog", "product-db") != nullptr);
    QVERIFY(!graph->edgeItem("catalog", "product-db")->warned());

    if (const QString dir = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR"); !dir.isEmpty()) {
      for (const QSize size : {QSize(1280, 720), QSize(1920, 1080)}) {
        window->resize(size);
        QTest::qWait(1500);  // the graph re-fits to the room it has
        const QString file =
            QString("%1/policy-warning-%2x%3.png").arg(dir).arg(size.width()).arg(size.height());
        QVERIFY(window->grab().save(file));
      }
      window->resize(1280, 720);
    }

    // Apply asks first; Cancel applies nothing.
    const uint64_t revision = control_plane->snapshot()->policy_revision;
    QPushButton* apply = panel->findChild<QPushButton*>("applyButton");
    auto box = testing::answerNextMessageBox("Cancel", 10'000);
    QTest::mouseClick(apply, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(box->seen, 15'000);
    const QString box_text = box->text + "\n" + box->informative;
    QVERIFY2(box_text.contains("Apply it anyway?") && box_text.contains("does not exist"),
             qPrintable(box_text));
    QTRY_VERIFY_WITH_TIMEOUT(panel->statusLabel()->text().startsWith("Not applied"), 10'000);
    QVERIFY(control_plane->policies().empty());

    // "Apply anyway" applies it, and says it did so with a warning.
    box = testing::answerNextMessageBox("Apply anyway", 10'000);
    QTest::mouseClick(apply, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(box->seen, 15'000);
    QTRY_VERIFY_WITH_TIMEOUT(panel->statusLabel()->text().startsWith("Applied as revision"),
                             10'000);
    QVERIFY2(panel->statusLabel()->text().contains("with 1 warning"),
             qPrintable(panel->statusLabel()->text()));
    QCOMPARE(control_plane->policies().size(), size_t(2));
    QVERIFY(control_plane->revisions().front().number > revision);

    mesh.stop();
    const QList<int> left = survivorsTagged(tag_);
    QVERIFY2(left.isEmpty(), qPrintable(QString("processes left behind: %1").arg(left.size())));
  }

 private:
  QByteArray tag_;
};

QTEST_MAIN(PolicyWarningsTest)
#include "policy_warnings_test.moc"
