#include "ui/yaml_highlighter.h"

#include <QRegularExpression>

namespace meshdeck::ui {

YamlHighlighter::YamlHighlighter(QTextDocument* document, bool dark)
    : QSyntaxHighlighter(document) {
  setDark(dark);
}

void YamlHighlighter::setDark(bool dark) {
  key_.setForeground(dark ? QColor(0x7f, 0xb8, 0xff) : QColor(0x1c, 0x4f, 0xa0));
  key_.setFontWeight(QFont::DemiBold);
  string_.setForeground(dark ? QColor(0xa5, 0xd6, 0x8a) : QColor(0x2e, 0x7d, 0x32));
  number_.setForeground(dark ? QColor(0xf7, 0x8c, 0x6c) : QColor(0xb3, 0x4d, 0x00));
  keyword_.setForeground(dark ? QColor(0xd3, 0x9a, 0xff) : QColor(0x7b, 0x1f, 0xa2));
  comment_.setForeground(dark ? QColor(0x80, 0x88, 0x96) : QColor(0x80, 0x80, 0x80));
  comment_.setFontItalic(true);
  separator_.setForeground(dark ? QColor(0xff, 0xcb, 0x6b) : QColor(0xa0, 0x60, 0x00));
  separator_.setFontWeight(QFont::Bold);
  rehighlight();
}

void YamlHighlighter::highlightBlock(const QString& text) {
  static const QRegularExpression kKey(
      QStringLiteral(R"(^(\s*(?:-\s+)?)([A-Za-z0-9_.\-/]+)\s*:(?=\s|$))"));
  static const QRegularExpression kNumber(
      QStringLiteral(R"(:\s*(-?\d+(?:\.\d+)?(?:ms|s|m|h|%)?)\s*(?:#.*)?$)"));
  static const QRegularExpression kKeyword(QStringLiteral(
      R"(:\s*(true|false|null|~|ALLOW|DENY|STRICT|PERMISSIVE|DISABLE)\s*(?:#.*)?$)"));
  static const QRegularExpression kString(QStringLiteral(R"(("[^"]*"|'[^']*'))"));
  if (text.startsWith(QLatin1String("---")) || text.startsWith(QLatin1String("..."))) {
    setFormat(0, static_cast<int>(text.size()), separator_);
    return;
  }
  // A comment starts at '#' that is at the line start or after whitespace, outside quotes.
  int comment = -1;
  bool in_single = false, in_double = false;
  for (int i = 0; i < text.size(); ++i) {
    const QChar c = text.at(i);
    if (c == QLatin1Char('\'') && !in_double) in_single = !in_single;
    if (c == QLatin1Char('"') && !in_single) in_double = !in_double;
    if (c == QLatin1Char('#') && !in_single && !in_double && (i == 0 || text.at(i - 1).isSpace())) {
      comment = i;
      break;
    }
  }
  const QString code = comment >= 0 ? text.left(comment) : text;
  if (auto m = kKey.match(code); m.hasMatch()) {
    setFormat(static_cast<int>(m.capturedStart(2)), static_cast<int>(m.capturedLength(2)), key_);
  }
  for (auto it = kString.globalMatch(code); it.hasNext();) {
    const auto m = it.next();
    setFormat(static_cast<int>(m.capturedStart(1)), static_cast<int>(m.capturedLength(1)), string_);
  }
  if (auto m = kNumber.match(code); m.hasMatch()) {
    setFormat(static_cast<int>(m.capturedStart(1)), static_cast<int>(m.capturedLength(1)), number_);
  }
  if (auto m = kKeyword.match(code); m.hasMatch()) {
    setFormat(static_cast<int>(m.capturedStart(1)), static_cast<int>(m.capturedLength(1)),
              keyword_);
  }
  if (comment >= 0) setFormat(comment, static_cast<int>(text.size()) - comment, comment_);
}

void DiffHighlighter::highlightBlock(const QString& text) {
  QTextCharFormat f;
  if (text.startsWith(QLatin1String("+++")) || text.startsWith(QLatin1String("---")) ||
      text.startsWith(QLatin1String("@@"))) {
    f.setForeground(QColor(0x5c, 0x7c, 0xfa));
    f.setFontWeight(QFont::Bold);
  } else if (text.startsWith(QLatin1Char('+'))) {
    f.setForeground(QColor(0x2e, 0x9d, 0x4f));
    f.setBackground(QColor(0x2e, 0x9d, 0x4f, 30));
  } else if (text.startsWith(QLatin1Char('-'))) {
    f.setForeground(QColor(0xd6, 0x33, 0x33));
    f.setBackground(QColor(0xd6, 0x33, 0x33, 30));
  } else {
    return;
  }
  setFormat(0, static_cast<int>(text.size()), f);
}

}  // namespace meshdeck::ui
