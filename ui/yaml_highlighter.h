#pragma once

#include <QSyntaxHighlighter>
#include <QTextCharFormat>

namespace meshdeck::ui {

// Highlights policy YAML: keys, scalars (strings, numbers, booleans), comments, document
// separators and list dashes. Line-based: YAML policies have no multi-line constructs that
// need state beyond a line.
class YamlHighlighter : public QSyntaxHighlighter {
  Q_OBJECT
 public:
  YamlHighlighter(QTextDocument* document, bool dark);
  void setDark(bool dark);

 protected:
  void highlightBlock(const QString& text) override;

 private:
  QTextCharFormat key_, string_, number_, keyword_, comment_, separator_;
};

// Colours lines of a unified diff: additions, removals and headers.
class DiffHighlighter : public QSyntaxHighlighter {
  Q_OBJECT
 public:
  using QSyntaxHighlighter::QSyntaxHighlighter;

 protected:
  void highlightBlock(const QString& text) override;
};

}  // namespace meshdeck::ui
