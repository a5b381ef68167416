// A demo's state directory (controlplane/fleet/demo_state.h): its name from the demo, and
// moving the last run's state aside (one previous run kept, nothing else deleted).
#include "controlplane/fleet/demo_state.h"

#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>
#include <fstream>

using namespace meshdeck::cp::fleet;
namespace fs = std::filesystem;

namespace {
void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}
std::string read(const fs::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

class DemoStateTest : public QObject {
  Q_OBJECT

 private slots:
  void namesTheDirectoryAfterTheDemo() {
    QCOMPARE(demoStateDir("/data", "storefront"), std::string("/data/demo-state/storefront"));
    QCOMPARE(demoStateDir("/data", "/x/y/storefront.yaml"),
             std::string("/data/demo-state/storefront"));
    QCOMPARE(demoStateDir("/data", "my demo!.yml"), std::string("/data/demo-state/my_demo_"));
    QCOMPARE(demoStateDir("/data", ""), std::string("/data/demo-state/demo"));
  }

  void movesTheLastRunAside() {
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const fs::path dir = fs::path(tmp.path().toStdString()) / "demo-state" / "storefront";
    std::string aside, error;
    // Nothing there yet: nothing to move.
    QVERIFY(moveStateAside(dir.string(), &aside, &error));
    QVERIFY(aside.empty());
    QVERIFY(!fs::exists(dir));

    write(dir / "policy-state.json", "run 1");
    QVERIFY2(moveStateAside(dir.string(), &aside, &error), error.c_str());
    QCOMPARE(aside, dir.string() + ".previous");
    QVERIFY(!fs::exists(dir));
    QCOMPARE(read(fs::path(aside) / "policy-state.json"), std::string("run 1"));

    // The next run's state replaces the older previous one; a sibling is untouched.
    write(dir / "policy-state.json", "run 2");
    write(dir.parent_path() / "other" / "policy-state.json", "other demo");
    QVERIFY2(moveStateAside(dir.string(), &aside, &error), error.c_str());
    QCOMPARE(read(fs::path(aside) / "policy-state.json"), std::string("run 2"));
    QCOMPARE(read(dir.parent_path() / "other" / "policy-state.json"), std::string("other demo"));
  }
};

QTEST_GUILESS_MAIN(DemoStateTest)
#include "demo_state_test.moc"
