// File → Connect… (docs/ui.md, docs/security.md): the dialog lists the contexts of the contexts
// file meshdeckctl writes (a temporary XDG_CONFIG_HOME), the current one selected; an address
// typed wins over the selection. Choosing a context in the dialog opened from the menu connects
// the window to a real headless meshdeck-controlplane started here, as an operator: the title
// and the status bar name the operator and its role, and the graph's snapshots come from that
// control plane. A context that does not exist changes nothing and says why.
// MESHDECK_SCREENSHOT_DIR: saves connect-dialog.png (the dialog) and connected-as-viewer.png.
#include "ui/connect_dialog.h"

#include <QAction>
#include <QDialogButtonBox>
#include <QLineEdit>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QProcess>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QtTest>
#include <csignal>

#include "common/pki/contexts_file.h"
#include "controlplane/remote_connection.h"
#include "support/binaries.h"
#include "support/fake_control_plane.h"
#include "support/tagged_processes.h"
#include "ui/control_plane_client.h"
#include "ui/main_window.h"

using namespace meshdeck;
namespace pki = meshdeck::pki;

namespace {

void saveScreenshot(QWidget* w, const QString& name) {
  const QString dir = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR");
  if (dir.isEmpty()) return;
  QVERIFY(w->grab().save(dir + "/" + name + ".png"));
}

QAction* actionNamed(QMenuBar* bar, const QString& text) {
  for (QAction* menu : bar->actions())
    if (menu->menu() != nullptr)
      for (QAction* a : menu->menu()->actions())
        if (a->text() == text) return a;
  return nullptr;
}

}  // namespace

class ConnectDialogTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY(dir_.isValid());
    // A real headless control plane with a TLS port: its first start writes admin.credentials
    // (before it announces its ports).
    server_.setProcessChannelMode(QProcess::SeparateChannels);
    server_.start(test::bin("meshdeck-controlplane"),
                  {"--listen", "127.0.0.1:0", "--state-dir", dir_.filePath("state")});
    QVERIFY(server_.waitForStarted());
    const QRegularExpression announced("control plane TLS listening on (\\S+)\\n");
    QString log;
    for (int i = 0; i < 200 && !announced.match(log).hasMatch(); ++i) {
      server_.waitForReadyRead(100);
      log += QString::fromUtf8(server_.readAllStandardError());
    }
    QVERIFY2(announced.match(log).hasMatch(), qPrintable(log));
    tls_ = announced.match(log).captured(1);
    plain_ = QRegularExpression("control plane listening on (\\S+)\\n").match(log).captured(1);
    QVERIFY(!plain_.isEmpty());
    const QString admin = dir_.filePath("state/admin.credentials");
    QVERIFY(QFile::exists(admin));

    // A viewer, added by the admin with meshdeckctl.
    QProcess ctl;
    ctl.start(test::bin("meshdeckctl"), {"--credentials", admin, "operator", "add", "alice",
                                         "--role", "viewer", "-o", dir_.filePath("alice.creds")});
    QVERIFY(ctl.waitForFinished(20'000));
    QVERIFY2(ctl.exitCode() == 0, ctl.readAllStandardError().constData());

    // Two revisions on the real control plane (the fake behind the window starts at one): the
    // window shows revision 2 once it shows the real one.
    for (const char* name : {"a", "b"}) {
      QFile policy(dir_.filePath(QStringLiteral("%1.yaml").arg(name)));
      QVERIFY(policy.open(QIODevice::WriteOnly));
      policy.write(QStringLiteral("apiVersion: meshdeck.io/v1alpha1\nkind: DestinationPolicy\n"
                                  "metadata: {name: %1}\nspec:\n  host: %1\n  trafficPolicy:\n"
                                  "    loadBalancer: {simple: LEAST_REQUEST}\n")
                       .arg(name)
                       .toUtf8());
      policy.close();
      ctl.start(test::bin("meshdeckctl"),
                {"--credentials", admin, "apply", "-f", policy.fileName()});
      QVERIFY(ctl.waitForFinished(20'000));
      QVERIFY2(ctl.exitCode() == 0, ctl.readAllStandardError().constData());
    }

    // The contexts file meshdeckctl writes, in this test's own config directory.
    qputenv("XDG_CONFIG_HOME", dir_.filePath("config").toUtf8());
    pki::ContextConfig contexts;
    contexts.current = "lab";
    contexts.contexts.push_back({"lab", admin.toStdString(), ""});
    contexts.contexts.push_back(
        {"lab-viewer", dir_.filePath("alice.creds").toStdString(), tls_.toStdString()});
    std::string why;
    QVERIFY2(pki::writeContexts(pki::contextsPath(), contexts, &why), why.c_str());
  }

  void cleanupTestCase() {
    qunsetenv("XDG_CONFIG_HOME");
    if (server_.state() == QProcess::NotRunning) return;
    meshdeck::test::signalProcess(server_, SIGTERM);
    QVERIFY(server_.waitForFinished(10'000));
  }

  void listsTheContextsOfTheFile() {
    ui::ConnectDialog dialog(QString::fromStdString(pki::contextsPath().string()));
    dialog.show();
    QVERIFY(dialog.contextsError().isEmpty());
    QListWidget* list = dialog.contextList();
    QCOMPARE(list->count(), 2);
    QCOMPARE(list->item(0)->text(),
             QStringLiteral("lab (current) — the credentials file's server"));
    QCOMPARE(list->item(1)->text(), QStringLiteral("lab-viewer — %1").arg(tls_));
    QVERIFY(list->item(1)->toolTip().contains("alice.creds"));
    // The current context is chosen until another is, or an address is typed.
    QCOMPARE(dialog.target(), QStringLiteral("lab"));
    auto* ok = dialog.findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Ok);
    QVERIFY(ok->isEnabled());
    saveScreenshot(&dialog, "connect-dialog");
    list->setCurrentRow(1);
    QCOMPARE(dialog.target(), QStringLiteral("lab-viewer"));
    QTest::keyClicks(dialog.addressEdit(), "10.0.0.7:15012");
    QCOMPARE(dialog.target(), QStringLiteral("10.0.0.7:15012"));
    QVERIFY(list->selectedItems().isEmpty());
    dialog.addressEdit()->clear();
    QCOMPARE(dialog.target(), QString());
    QVERIFY(!ok->isEnabled());
    // A credentials file alone names its server.
    dialog.credentialsEdit()->setText(dir_.filePath("alice.creds"));
    QVERIFY(ok->isEnabled());
    QCOMPARE(dialog.credentials(), dir_.filePath("alice.creds"));

    // A contexts file that is not one is said, not taken for an empty one.
    QFile broken(dir_.filePath("broken.yaml"));
    QVERIFY(broken.open(QIODevice::WriteOnly));
    broken.write("contexts: 7\n");
    broken.close();
    ui::ConnectDialog bad(broken.fileName());
    QVERIFY(!bad.contextsError().isEmpty());
    QCOMPARE(bad.contextList()->count(), 0);
  }

  void choosingAContextConnectsTheWindowAndShowsTheRole() {
    auto fake = std::make_shared<testing::FakeControlPlane>();
    ui::MainWindowOptions options;
    options.source = "Embedded control plane";
    options.use_settings = false;
    options.connect_remote = cp::openRemote;
    ui::MainWindow window(fake, options);
    window.resize(1280, 720);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QAction* action = actionNamed(window.menuBar(), window.tr("&Connect…"));
    QVERIFY(action);
    QCOMPARE(action->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_K));
    QVERIFY(action->isEnabled());

    QTRY_VERIFY_WITH_TIMEOUT(window.statusText().contains("Policy revision 1"), 10'000);

    // A context that does not exist: nothing changes, the reason is given.
    QSignalSpy finished(&window, &ui::MainWindow::connectFinished);
    window.connectTo("nope", "");
    QVERIFY(finished.wait(20'000));
    QCOMPARE(finished.first().at(0).toBool(), false);
    QVERIFY2(finished.first().at(1).toString().startsWith("--connect: no context \"nope\""),
             qPrintable(finished.first().at(1).toString()));
    QCOMPARE(window.windowTitle(), QStringLiteral("Meshdeck — Embedded control plane"));
    for (auto* box : window.findChildren<QMessageBox*>()) box->close();
    finished.clear();

    // Ctrl+K opens the dialog; the viewer's context is chosen and the dialog accepted.
    bool chosen = false;
    QTimer::singleShot(0, this, [&chosen] {
      auto* dialog = qobject_cast<ui::ConnectDialog*>(QApplication::activeModalWidget());
      if (dialog == nullptr) return;
      dialog->contextList()->setCurrentRow(1);
      chosen = dialog->target() == "lab-viewer";
      dialog->accept();
    });
    action->trigger();
    QVERIFY(chosen);
    QVERIFY(finished.count() == 1 || finished.wait(20'000));
    QVERIFY2(finished.first().at(0).toBool(), qPrintable(finished.first().at(1).toString()));
    const QString source =
        QStringLiteral("Remote control plane %1 (context lab-viewer), as alice (viewer)").arg(tls_);
    QCOMPARE(finished.first().at(1).toString(), source);
    QCOMPARE(window.windowTitle(), QStringLiteral("Meshdeck — %1").arg(source));
    QVERIFY2(window.statusText().contains(source), qPrintable(window.statusText()));
    QCOMPARE(window.statusBar()->currentMessage(), QStringLiteral("Connected to lab-viewer"));
    // The snapshots are the real control plane's now, not the fake's: its two revisions, no
    // proxies.
    QTRY_VERIFY_WITH_TIMEOUT(window.client()->latest()->policy_revision == 2, 10'000);
    QVERIFY2(window.statusText().contains("Policy revision 2"), qPrintable(window.statusText()));
    QVERIFY(window.client()->latest()->proxies.empty());
    saveScreenshot(&window, "connected-as-viewer");
    window.client()->waitForIdle();
  }

 private:
  QTemporaryDir dir_;
  QProcess server_;
  QString tls_, plain_;
};

QTEST_MAIN(ConnectDialogTest)
#include "connect_dialog_test.moc"
