#pragma once

#include <QList>
#include <QObject>
#include <QSet>
#include <QTimer>

class QTableView;

namespace meshdeck::ui {

// Makes a table read at whatever width its dock gives it, as a narrow window needs:
// - columns are sized to their content (header and cells);
// - when they do not all fit, the columns of lowest priority are hidden, most important first
//   kept; the header's context menu shows or hides any column, and that choice stands;
// - a cell whose text is still cut shows it whole as its tooltip (unless the model has one).
// No horizontal scrolling for the columns it shows. Columns not in `priority` start hidden.
//
// Threading: GUI thread only. Owned by the table.
class ColumnFitter : public QObject {
  Q_OBJECT

 public:
  ColumnFitter(QTableView* table, QList<int> priority);

  // `column` gives way first: it shrinks (eliding, down to `min_width`) before a column of lower
  // priority is hidden. For a long name beside short, telling columns.
  void setElastic(int column, int min_width);
  // Columns the fit hides for want of room (not those the user hid).
  QList<int> squeezedOut() const { return squeezed_; }
  // Fits now (otherwise on the next event loop turn after a resize or a model change).
  void refit();

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  // Column widths are measured on the first rows: a table of thousands refits in a blink.
  static constexpr int kSampledRows = 100;

  void scheduleRefit();
  void showHeaderMenu(const QPoint& pos);
  int contentWidth(int column) const;

  QTableView* table_;
  QList<int> priority_;
  QSet<int> user_shown_, user_hidden_;
  int elastic_ = -1, elastic_min_ = 0;
  QList<int> squeezed_;
  QTimer pending_;
};

}  // namespace meshdeck::ui
