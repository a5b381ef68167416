#include "ui/column_fitter.h"

#include <QAbstractItemModel>
#include <QEvent>
#include <QHash>
#include <QHeaderView>
#include <QHelpEvent>
#include <QMenu>
#include <QScrollBar>
#include <QStyleOptionHeader>
#include <QStyleOptionViewItem>
#include <QTableView>
#include <QToolTip>
#include <algorithm>

namespace meshdeck::ui {

ColumnFitter::ColumnFitter(QTableView* table, QList<int> priority)
    : QObject(table), table_(table), priority_(std::move(priority)) {
  pending_.setSingleShot(true);
  pending_.setInterval(0);
  connect(&pending_, &QTimer::timeout, this, &ColumnFitter::refit);
  QHeaderView* header = table_->horizontalHeader();
  header->setSectionResizeMode(QHeaderView::Interactive);
  header->setStretchLastSection(true);
  header->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(header, &QHeaderView::customContextMenuRequested, this, &ColumnFitter::showHeaderMenu);
  table_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  table_->setTextElideMode(Qt::ElideRight);
  table_->setWordWrap(false);
  table_->viewport()->installEventFilter(this);
  if (QAbstractItemModel* m = table_->model()) {
    connect(m, &QAbstractItemModel::modelReset, this, &ColumnFitter::scheduleRefit);
    connect(m, &QAbstractItemModel::rowsInserted, this, &ColumnFitter::scheduleRefit);
    connect(m, &QAbstractItemModel::layoutChanged, this, &ColumnFitter::scheduleRefit);
    connect(m, &QAbstractItemModel::dataChanged, this, &ColumnFitter::scheduleRefit);
  }
  refit();
}

void ColumnFitter::scheduleRefit() {
  if (!pending_.isActive()) pending_.start();
}

int ColumnFitter::contentWidth(int column) const {
  const QAbstractItemModel* model = table_->model();
  QHeaderView* header = table_->horizontalHeader();
  QStyleOptionHeader head;
  head.initFrom(header);
  head.text = model->headerData(column, Qt::Horizontal).toString();
  head.section = column;
  if (header->isSortIndicatorShown()) head.sortIndicator = QStyleOptionHeader::SortDown;
  int width =
      header->style()->sizeFromContents(QStyle::CT_HeaderSection, &head, QSize(), header).width();
  // Cells as the delegate draws them; the first rows stand for a long table.
  QStyleOptionViewItem cell;
  cell.initFrom(table_->viewport());
  cell.font = table_->font();
  cell.fontMetrics = table_->fontMetrics();
  const int rows = std::min(model->rowCount(), kSampledRows);
  for (int row = 0; row < rows; ++row) {
    const QModelIndex index = model->index(row, column);
    const int w = table_->itemDelegateForIndex(index)->sizeHint(cell, index).width();
    width = std::max(width, w + (table_->showGrid() ? 1 : 0));
  }
  return width;
}

void ColumnFitter::refit() {
  const QAbstractItemModel* model = table_->model();
  if (model == nullptr) return;
  const int columns = model->columnCount();
  const int available = table_->viewport()->width();
  QList<int> order;
  for (int c : priority_) {
    if (c >= 0 && c < columns && !user_hidden_.contains(c)) order << c;
  }
  for (int c : user_shown_) {
    if (!order.contains(c)) order << c;
  }
  QList<int> shown;
  QHash<int, int> widths;
  squeezed_.clear();
  int used = 0, slack = 0;  // slack: what the elastic column can still give
  for (int c : order) {
    const int w = contentWidth(c);
    // The first column always shows (elided if it must); a column the user asked for too.
    if (shown.isEmpty() || used + w <= available + slack || user_shown_.contains(c)) {
      shown << c;
      widths[c] = w;
      used += w;
      if (c == elastic_) slack = std::max(0, w - elastic_min_);
    } else {
      squeezed_ << c;
    }
  }
  if (used > available && slack > 0) {
    const int give = std::min(slack, used - available);
    widths[elastic_] -= give;
    used -= give;
  }
  if (used > available && !shown.isEmpty()) {
    const int first = shown.front();
    widths[first] = std::max(40, widths[first] - (used - available));
  }
  QHeaderView* header = table_->horizontalHeader();
  for (int c = 0; c < columns; ++c) table_->setColumnHidden(c, !shown.contains(c));
  for (int c : shown) header->resizeSection(c, widths[c]);
}

void ColumnFitter::setElastic(int column, int min_width) {
  elastic_ = column;
  elastic_min_ = min_width;
  scheduleRefit();
}

bool ColumnFitter::eventFilter(QObject* watched, QEvent* event) {
  // The viewport's width is what the columns share (it changes with the table's and with a
  // vertical scroll bar coming or going).
  if (watched == table_->viewport() && event->type() == QEvent::Resize) scheduleRefit();
  if (watched == table_->viewport() && event->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(event);
    const QModelIndex index = table_->indexAt(help->pos());
    if (!index.isValid() || index.data(Qt::ToolTipRole).isValid()) return false;
    const QString text = index.data(Qt::DisplayRole).toString();
    const QRect cell = table_->visualRect(index);
    // The delegate's margins: a text within a few pixels of the edge is already cut.
    if (table_->fontMetrics().horizontalAdvance(text) + 8 > cell.width()) {
      QToolTip::showText(help->globalPos(), text, table_->viewport(), cell);
    } else {
      QToolTip::hideText();
    }
    return true;
  }
  return false;
}

void ColumnFitter::showHeaderMenu(const QPoint& pos) {
  const QAbstractItemModel* model = table_->model();
  if (model == nullptr) return;
  QMenu menu(table_);
  for (int c = 0; c < model->columnCount(); ++c) {
    QAction* a = menu.addAction(model->headerData(c, Qt::Horizontal).toString());
    a->setCheckable(true);
    a->setChecked(!table_->isColumnHidden(c));
    connect(a, &QAction::toggled, this, [this, c](bool on) {
      (on ? user_shown_ : user_hidden_).insert(c);
      (on ? user_hidden_ : user_shown_).remove(c);
      refit();
    });
  }
  menu.exec(table_->horizontalHeader()->mapToGlobal(pos));
}

}  // namespace meshdeck::ui
