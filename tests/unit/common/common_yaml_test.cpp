#include <QElapsedTimer>
#include <QtTest>
#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "common/yaml/yaml_input.h"
#include "support/hostile_yaml.h"

using meshdeck::common::loadYaml;
using meshdeck::common::loadYamlFile;
using meshdeck::common::LocatedError;
using meshdeck::common::YamlDocuments;
using meshdeck::common::YamlLimits;

namespace QTest {
template <>
inline char* toString(const std::string& s) {
  return qstrdup(s.c_str());
}
}  // namespace QTest

namespace {

std::string errorText(const YamlDocuments& d) {
  return d.error ? d.error->toString() : "(accepted)";
}

std::string readTestFile(const std::string& name) {
  std::string text, why;
  if (!meshdeck::common::readFile(meshdeck::testing::hostileYamlFile(name), &text, &why))
    qFatal("%s", why.c_str());
  return text;
}

}  // namespace

class CommonYamlTest : public QObject {
  Q_OBJECT

 private slots:
  void loadsDocumentsWithTheirPositions() {
    const auto d = loadYaml("a: 1\nb:\n  - x\n  - y\n---\n---\nc: [1, 2]\n", "ok.yaml");
    QVERIFY2(d.ok(), errorText(d).c_str());
    QCOMPARE(d.documents.size(), size_t{3});
    QCOMPARE(d.documents[0]["b"][1].as<std::string>(), std::string("y"));
    QCOMPARE(d.documents[0]["b"][1].Mark().line, 3);  // yaml-cpp's own 0-based mark, kept
    QVERIFY(d.documents[1].IsNull());
    QCOMPARE(d.first()["a"].as<int>(), 1);
    QCOMPARE(d.stats.documents, size_t{3});
    QCOMPARE(d.stats.depth, size_t{2});
    QVERIFY(loadYaml("", "empty.yaml").first().IsNull());
  }

  void refusesTheBillionLaughsFast() {
    const std::string bomb = meshdeck::testing::billionLaughs();
    QCOMPARE(readTestFile("billion-laughs.yaml"), bomb);
    QVERIFY(bomb.size() < 1024);
    QElapsedTimer timer;
    timer.start();
    const auto d = loadYaml(bomb, "bomb.yaml");
    // The refusal costs one pass over 500 bytes; a walker would visit 10^10 nodes.
    QVERIFY2(timer.elapsed() < 2000, std::to_string(timer.elapsed()).c_str());
    QVERIFY(!d.ok());
    QVERIFY(d.documents.empty());
    QCOMPARE(errorText(d), "bomb.yaml" + std::string(meshdeck::testing::kBillionLaughsRefusal));
    QCOMPARE(d.error->line, 4u);
    QCOMPARE(d.error->column, 36u);
  }

  void countsEachAliasAtItsExpandedSize() {
    // Three aliases of an anchor of 1 + 3 nodes add 12; the limit is on what the walk visits.
    const std::string text = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n";
    YamlLimits limits;
    limits.max_alias_expansions = 12;
    const auto d = loadYaml(text, "x.yaml", limits);
    QVERIFY2(d.ok(), errorText(d).c_str());
    QCOMPARE(d.stats.alias_expansions, size_t{12});
    limits.max_alias_expansions = 11;
    QCOMPARE(errorText(loadYaml(text, "x.yaml", limits)),
             std::string("x.yaml:2:13: too many alias expansions (limit 11)"));
    // Aliases inside an anchor are part of its size: *b below counts 1 + 2 * 4.
    limits.max_alias_expansions = 100;
    const auto nested = loadYaml("a: &a [1, 2, 3]\nb: &b [*a, *a]\nc: *b\n", "x.yaml", limits);
    QCOMPARE(nested.stats.alias_expansions, size_t{4 + 4 + 9});
  }

  void refusesARecursiveAlias() {
    const auto d = loadYaml(readTestFile("recursive-alias.yaml"), "loop.yaml");
    QCOMPARE(errorText(d), std::string("loop.yaml:1:11: alias refers to a node that contains it"));
  }

  void refusesDeepNesting() {
    const auto d = loadYaml(readTestFile("deep-nesting.yaml"), "deep.yaml");
    QCOMPARE(errorText(d), std::string("deep.yaml:1:65: nesting too deep (limit 64)"));
    // 64 levels are fine; block style counts the same way.
    const auto ok = loadYaml(std::string(64, '[') + std::string(64, ']'), "ok.yaml");
    QVERIFY2(ok.ok(), errorText(ok).c_str());
    QCOMPARE(ok.stats.depth, size_t{64});
    std::string block;
    for (int i = 0; i < 65; ++i) block += std::string(2 * i, ' ') + "k:\n";
    QVERIFY(errorText(loadYaml(block, "block.yaml")).find("nesting too deep (limit 64)") !=
            std::string::npos);
  }

  void refusesDepthGainedThroughAnAlias() {
    // Each alias is 1 level deep as written but 3 levels deep expanded.
    YamlLimits limits;
    limits.max_depth = 4;
    const auto d = loadYaml("a: &a [[[x]]]\nb: [[*a]]\n", "x.yaml", limits);
    QCOMPARE(errorText(d), std::string("x.yaml:2:6: nesting too deep (limit 4)"));
  }

  void refusesAHugeScalar() {
    const std::string text = "key: " + std::string(YamlLimits::kMaxScalarBytes + 1, 'x') + "\n";
    QCOMPARE(errorText(loadYaml(text, "big.yaml")),
             std::string("big.yaml:1:6: scalar too long (1048577 bytes, limit 1048576)"));
    const auto ok = loadYaml("key: " + std::string(YamlLimits::kMaxScalarBytes, 'x'), "ok.yaml");
    QVERIFY2(ok.ok(), errorText(ok).c_str());
  }

  void refusesTooManyDocuments() {
    const auto d = loadYaml(readTestFile("too-many-documents.yaml"), "docs.yaml");
    QCOMPARE(errorText(d), std::string("docs.yaml:2001:1: too many documents (limit 1000)"));
  }

  void refusesTooManyNodes() {
    std::string text = "[0";
    for (size_t i = 1; i < YamlLimits::kMaxNodes; ++i) text += ",0";
    text += "]";
    // The list and its 200 000 items: one over.
    QCOMPARE(errorText(loadYaml(text, "nodes.yaml")),
             std::string("nodes.yaml:1:400000: too many nodes (limit 200000)"));
    text.replace(text.size() - 3, 3, "]");  // one item fewer
    const auto ok = loadYaml(text, "ok.yaml");
    QVERIFY2(ok.ok(), errorText(ok).c_str());
    QCOMPARE(ok.stats.nodes, YamlLimits::kMaxNodes);
  }

  void refusesAnOversizedText() {
    const std::string text(YamlLimits::kMaxBytes + 1, '#');
    QCOMPARE(errorText(loadYaml(text, "huge.yaml")),
             std::string("huge.yaml: text too large (4194305 bytes, limit 4194304)"));
  }

  void refusesAnOversizedFile() {
    QTemporaryDir dir;
    const std::filesystem::path file = dir.filePath("huge.yaml").toStdString();
    std::ofstream(file) << std::string(YamlLimits::kMaxBytes + 1, '#');
    QCOMPARE(errorText(loadYamlFile(file)),
             file.string() + ": file too large (4194305 bytes, limit 4194304)");
    // A stream without a size on disk is cut at the limit, not read to its end.
    YamlLimits limits;
    limits.max_bytes = 16;
    QCOMPARE(errorText(loadYamlFile("/dev/zero", limits)),
             std::string("/dev/zero: file too large (more than 16 bytes, limit 16)"));
    QVERIFY(errorText(loadYamlFile(dir.filePath("missing.yaml").toStdString()))
                .find(": cannot open file (No such file or directory)") != std::string::npos);
  }

  void refusesInputYamlCppWouldLoopOn() {
    // yaml-cpp 0.7's LoadAll never returns on these (yaml-cpp#1040, found by the policy_parser
    // fuzzer): each is one syntax error, found at once.
    for (const char* text : {",", "\n,\n", "a: b\n---\n,", "- !+(.,.)"}) {
      QElapsedTimer timer;
      timer.start();
      const auto r = loadYaml(text, "loop.yaml");
      QVERIFY2(!r.ok(), text);
      QVERIFY2(errorText(r).find("loop.yaml:") == 0, errorText(r).c_str());
      QVERIFY2(errorText(r).find("too many documents") == std::string::npos, errorText(r).c_str());
      QVERIFY(timer.elapsed() < 2000);
    }
  }

  void refusesBinaryInput() {
    QCOMPARE(errorText(loadYaml(readTestFile("binary.yaml"), "bin.yaml")),
             std::string("bin.yaml:2:7: not UTF-8 text (invalid byte 0xFF)"));
    QCOMPARE(errorText(loadYaml(readTestFile("nul-byte.yaml"), "nul.yaml")),
             std::string("nul.yaml:1:11: not UTF-8 text (control character 0x00)"));
    // Columns count characters: the bad byte follows a two-byte "é".
    QCOMPARE(errorText(loadYaml("a: \xC3\xA9\xC0\x80\n", "overlong.yaml")),
             std::string("overlong.yaml:1:5: not UTF-8 text (invalid byte 0xC0)"));
    QCOMPARE(errorText(loadYaml("a: \xED\xA0\x80\n", "surrogate.yaml")),
             std::string("surrogate.yaml:1:4: not UTF-8 text (invalid sequence at byte 0xED)"));
    QCOMPARE(errorText(loadYaml("a: \xE2\x82", "cut.yaml")),
             std::string("cut.yaml:1:4: not UTF-8 text (truncated sequence at byte 0xE2)"));
    const auto ok = loadYaml("\xEF\xBB\xBFname: caf\xC3\xA9\tx\r\n", "bom.yaml");
    QVERIFY2(ok.ok(), errorText(ok).c_str());
  }

  void reportsSyntaxErrorsWithLineAndColumn() {
    const auto d = loadYaml(readTestFile("syntax-error.yaml"), "syntax.yaml");
    QVERIFY(!d.ok());
    QCOMPARE(d.error->line, 4u);
    QCOMPARE(d.error->column, 1u);
    QVERIFY2(errorText(d).starts_with("syntax.yaml:4:1: invalid YAML: "), errorText(d).c_str());
    const auto unknown = loadYaml("a: *nowhere\n", "alias.yaml");
    QVERIFY2(errorText(unknown).starts_with("alias.yaml:1:4: invalid YAML: "),
             errorText(unknown).c_str());
  }

  void formatsLocatedErrors() {
    QCOMPARE((LocatedError{"f.yaml", 3, 9, "spec.rate", "must be a number"}.toString()),
             std::string("f.yaml:3:9: spec.rate: must be a number"));
    QCOMPARE((LocatedError{"f.yaml", 0, 0, "", "cannot open file"}.toString()),
             std::string("f.yaml: cannot open file"));
    QCOMPARE((LocatedError{"f.yaml", 0, 0, "spec.rate", "required"}.toString()),
             std::string("f.yaml: spec.rate: required"));
    QCOMPARE((LocatedError{"", 1, 2, "", "bad"}.toString()), std::string("<input>:1:2: bad"));
    // Neither file nor position known: the location is left out, not replaced by "<input>".
    QCOMPARE((LocatedError{"", 0, 0, "clusters[0].name", "must not be empty"}.toString()),
             std::string("clusters[0].name: must not be empty"));
    QCOMPARE((LocatedError{"", 0, 0, "", "no policy TrafficRoute/x exists"}.toString()),
             std::string("no policy TrafficRoute/x exists"));
    QCOMPARE(meshdeck::common::toString({LocatedError{"a.yaml", 1, 1, "", "first"},
                                         LocatedError{"", 0, 0, "f", "second"}}),
             std::string("a.yaml:1:1: first\nf: second"));
    QCOMPARE(meshdeck::common::toString(std::vector<LocatedError>{}), std::string());
    const auto d = loadYaml("a:\n  b: [1, x]\n", "f.yaml");
    const auto e = meshdeck::common::yamlErrorAt("f.yaml", d.first()["a"]["b"][1], "a.b[1]",
                                                 "must be a number");
    QCOMPARE(e.toString(), std::string("f.yaml:2:10: a.b[1]: must be a number"));
    QCOMPARE(meshdeck::common::yamlErrorAt("f.yaml", YAML::Node(), "a", "required").toString(),
             std::string("f.yaml: a: required"));
  }

  // The limits leave orders of magnitude of room over every file shipped in resources/: each
  // loads with every limit a hundredth of its default.
  void resourcesAreFarBelowTheLimits() {
    YamlLimits tight;
    tight.max_bytes /= 100;
    tight.max_nodes /= 100;
    tight.max_alias_expansions /= 100;
    tight.max_scalar_bytes /= 100;
    tight.max_depth = 12;  // the deepest resource is 8 levels
    tight.max_documents /= 100;
    const char* root = std::getenv("MESHDECK_SOURCE_DIR");
    QVERIFY(root);
    size_t files = 0;
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(std::filesystem::path(root) / "resources")) {
      if (entry.path().extension() != ".yaml") continue;
      const auto d = loadYamlFile(entry.path(), tight);
      QVERIFY2(d.ok(), errorText(d).c_str());
      ++files;
    }
    QVERIFY(files >= 10);
  }
};

QTEST_GUILESS_MAIN(CommonYamlTest)
#include "common_yaml_test.moc"
