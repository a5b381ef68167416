#pragma once

#include <QFrame>
#include <QString>

namespace meshdeck::ui {

// One line of text that gives way: it asks for the width of its whole text but accepts any
// width down to a few characters, eliding the end and then showing the whole text as its tooltip.
// For status texts beside other widgets (the status bar, a panel's button row): a long message
// never pushes its neighbours or widens its dock.
//
// Threading: GUI thread only.
class ElidedLabel : public QFrame {
  Q_OBJECT

 public:
  explicit ElidedLabel(const QString& text = {}, QWidget* parent = nullptr);

  QString text() const { return text_; }
  void setText(const QString& text);
  void clear() { setText({}); }
  // Whether the text is cut at the current width.
  bool isElided() const;

  QSize sizeHint() const override;
  QSize minimumSizeHint() const override;

 protected:
  void paintEvent(QPaintEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;
  void changeEvent(QEvent* event) override;

 private:
  void updateToolTip();

  QString text_;
};

}  // namespace meshdeck::ui
