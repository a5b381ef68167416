// The mesh rules of controlplane/api that every client shares: an edge's transport from its
// counts, and the scenario event's kinds.
#include <QtTest>

#include "controlplane/api/edge_transport.h"
#include "controlplane/api/scenario_event.h"

using namespace meshdeck::cp;

class ApiRulesTest : public QObject {
  Q_OBJECT

 private slots:
  void transportFromCounts_data() {
    QTest::addColumn<quint64>("mtls");
    QTest::addColumn<quint64>("plaintext");
    QTest::addColumn<int>("want");
    QTest::addColumn<QString>("name");
    QTest::newRow("idle") << quint64(0) << quint64(0) << int(EdgeTransport::kNone) << "none";
    QTest::newRow("all mtls") << quint64(120) << quint64(0) << int(EdgeTransport::kMtls) << "mtls";
    QTest::newRow("all plaintext")
        << quint64(0) << quint64(40) << int(EdgeTransport::kPlaintext) << "plaintext";
    QTest::newRow("one plaintext among many")
        << quint64(999'999) << quint64(1) << int(EdgeTransport::kMixed) << "mixed";
    QTest::newRow("one mtls among many")
        << quint64(1) << quint64(999'999) << int(EdgeTransport::kMixed) << "mixed";
    QTest::newRow("largest counts")
        << ~quint64(0) << ~quint64(0) << int(EdgeTransport::kMixed) << "mixed";
  }
  void transportFromCounts() {
    QFETCH(quint64, mtls);
    QFETCH(quint64, plaintext);
    QFETCH(int, want);
    QFETCH(QString, name);
    const EdgeTransport got = edgeTransport(mtls, plaintext);
    QCOMPARE(int(got), want);
    QCOMPARE(QString::fromLatin1(toString(got)), name);
  }

  void scenarioEventKinds() {
    using Kind = ScenarioEvent::Kind;
    const std::vector<std::tuple<Kind, const char*, bool, bool>> kinds = {
        {Kind::kScenarioStarted, "scenario started", false, false},
        {Kind::kStepStarted, "step started", true, false},
        {Kind::kActionDone, "action done", true, true},
        {Kind::kActionFailed, "action failed", true, true},
        {Kind::kCheckpointStarted, "checkpoint started", true, false},
        {Kind::kCheckpointPassed, "checkpoint passed", true, false},
        {Kind::kCheckpointFailed, "checkpoint failed", true, false},
        {Kind::kScenarioFinished, "scenario finished", false, false},
    };
    for (const auto& [kind, name, has_step, has_action] : kinds) {
      ScenarioEvent e;
      e.kind = kind;
      QCOMPARE(std::string(toString(kind)), std::string(name));
      QCOMPARE(e.hasStep(), has_step);
      QCOMPARE(e.hasAction(), has_action);
    }
  }
};

QTEST_APPLESS_MAIN(ApiRulesTest)
#include "api_rules_test.moc"
