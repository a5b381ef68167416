#include "ui/tap_panel.h"

#include <QAction>
#include <QColor>
#include <QComboBox>
#include <QDateTime>
#include <QFile>
#include <QFileDialog>
#include <QFontMetrics>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollBar>
#include <QSettings>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardPaths>
#include <QTableView>
#include <QVBoxLayout>
#include <algorithm>
#include <chrono>
#include <utility>

#include "ui/control_plane_client.h"

namespace meshdeck::ui {

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

QString workload(const std::string& service, const std::string& version) {
  if (service.empty()) return QStringLiteral("?");
  return version.empty() ? qs(service) : qs(service + "/" + version);
}

QString statusText(const cp::TapEvent& e) {
  QString text = e.status == 0 ? QStringLiteral("—") : QString::number(e.status);
  if (e.grpc_status) text += QStringLiteral(" grpc %1").arg(*e.grpc_status);
  if (!e.error_code.empty()) text += QStringLiteral(" %1").arg(qs(e.error_code));
  return text;
}

}  // namespace

TapEventsModel::TapEventsModel(QObject* parent) : QAbstractTableModel(parent) {}

QString TapEventsModel::severity(const cp::TapEvent& e) {
  const uint32_t c = e.statusClass();
  if (c == 5 || c == 0 || !e.error_code.empty()) return QStringLiteral("error");
  if (c == 4) return QStringLiteral("warning");
  return QStringLiteral("normal");
}

void TapEventsModel::append(std::vector<cp::TapEvent> events) {
  if (events.empty()) return;
  // More than fit: only the newest are kept.
  if (events.size() > static_cast<size_t>(capacity_))
    events.erase(events.begin(), events.end() - capacity_);
  const int overflow = static_cast<int>(events_.size() + events.size()) - capacity_;
  if (overflow > 0) {
    beginRemoveRows({}, 0, overflow - 1);
    events_.erase(events_.begin(), events_.begin() + overflow);
    endRemoveRows();
  }
  const int first = static_cast<int>(events_.size());
  beginInsertRows({}, first, first + static_cast<int>(events.size()) - 1);
  for (auto& e : events) events_.push_back(std::move(e));
  endInsertRows();
}

void TapEventsModel::clear() {
  beginResetModel();
  events_.clear();
  endResetModel();
}

int TapEventsModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(events_.size());
}

int TapEventsModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : kColumnCount;
}

QVariant TapEventsModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  const cp::TapEvent& e = event(index.row());
  if (role == Qt::DisplayRole || role == Qt::ToolTipRole) {
    switch (index.column()) {
      case kTime: {
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(e.start.time_since_epoch());
        return QDateTime::fromMSecsSinceEpoch(ms.count()).toString(QStringLiteral("HH:mm:ss.zzz"));
      }
      case kSource:
        return workload(e.source_service, e.source_version);
      case kDestination:
        return workload(e.destination_service, e.destination_version);
      case kMethod:
        return qs(e.method);
      case kPath:
        return qs(e.path);
      case kStatus:
        return statusText(e);
      case kLatency:
        return QStringLiteral("%1 ms").arg(double(e.latency_us) / 1000.0, 0, 'f', 1);
      case kProtocol:
        return qs(e.protocol);
      case kSide:
        return e.client_side ? tr("client") : tr("server");
      default:
        return {};
    }
  }
  if (role == kSortRole) {
    switch (index.column()) {
      case kTime:
        return qint64(
            std::chrono::duration_cast<std::chrono::microseconds>(e.start.time_since_epoch())
                .count());
      case kStatus:  // by HTTP status, then gRPC status (a call without one first)
        return qint64(e.status) * 100 + (e.grpc_status ? qint64(*e.grpc_status) + 1 : 0);
      case kLatency:
        return qint64(e.latency_us);
      default:
        return data(index, Qt::DisplayRole);
    }
  }
  if (role == Qt::TextAlignmentRole && (index.column() == kLatency || index.column() == kStatus))
    return int(Qt::AlignRight | Qt::AlignVCenter);
  const QString sev = severity(e);
  // Readable on light and dark palettes: a tint behind, a strong colour for the status.
  if (role == Qt::BackgroundRole) {
    if (sev == QLatin1String("error")) return QColor(214, 51, 51, 60);
    if (sev == QLatin1String("warning")) return QColor(217, 142, 4, 60);
    return {};
  }
  if (role == Qt::ForegroundRole && index.column() == kStatus) {
    if (sev == QLatin1String("error")) return QColor(0xd6, 0x33, 0x33);
    if (sev == QLatin1String("warning")) return QColor(0xd9, 0x8e, 0x04);
    return {};
  }
  if (role == Qt::UserRole) return sev;
  return {};
}

QVariant TapEventsModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case kTime:
      return tr("Time");
    case kSource:
      return tr("From");
    case kDestination:
      return tr("To");
    case kMethod:
      return tr("Method");
    case kPath:
      return tr("Path");
    case kStatus:
      return tr("Status");
    case kLatency:
      return tr("Latency");
    case kProtocol:
      return tr("Protocol");
    case kSide:
      return tr("Seen by");
    default:
      return {};
  }
}

TapPanel::TapPanel(ControlPlaneClient* client, QWidget* parent)
    : QWidget(parent),
      client_(client),
      model_(new TapEventsModel(this)),
      sorted_(new QSortFilterProxyModel(this)) {
  sorted_->setSourceModel(model_);
  sorted_->setSortRole(TapEventsModel::kSortRole);
  setObjectName(QStringLiteral("tapPanel"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);

  auto* filters = new QHBoxLayout;
  auto field = [this, filters](const QString& label, QLineEdit* edit, const QString& hint) {
    filters->addWidget(new QLabel(label, this));
    edit->setPlaceholderText(hint);
    edit->setClearButtonEnabled(true);
    filters->addWidget(edit, 1);
  };
  service_ = new QLineEdit(this);
  service_->setObjectName(QStringLiteral("tapService"));
  service_->setToolTip(tr("Requests of this service in either direction; empty: the whole mesh"));
  field(tr("Service"), service_, tr("any"));
  to_ = new QLineEdit(this);
  to_->setObjectName(QStringLiteral("tapTo"));
  to_->setToolTip(tr("Only requests to this service"));
  field(tr("To"), to_, tr("any"));
  path_ = new QLineEdit(this);
  path_->setObjectName(QStringLiteral("tapPath"));
  path_->setToolTip(tr("Only paths that start with this (query excluded)"));
  field(tr("Path"), path_, tr("/prefix"));
  filters->addWidget(new QLabel(tr("Method"), this));
  method_ = new QComboBox(this);
  method_->setEditable(true);
  method_->addItem(tr("any"), QString());
  for (const char* m : {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"})
    method_->addItem(QString::fromLatin1(m), QString::fromLatin1(m));
  filters->addWidget(method_);
  filters->addWidget(new QLabel(tr("Status"), this));
  status_class_ = new QComboBox(this);
  status_class_->addItem(tr("any"), 0);
  for (int c = 1; c <= 5; ++c) status_class_->addItem(QStringLiteral("%1xx").arg(c), c);
  filters->addWidget(status_class_);
  filters->addWidget(new QLabel(tr("Min latency"), this));
  min_latency_ = new QSpinBox(this);
  min_latency_->setRange(0, 600000);
  min_latency_->setSuffix(tr(" ms"));
  filters->addWidget(min_latency_);
  layout->addLayout(filters);

  auto* buttons = new QHBoxLayout;
  start_ = new QPushButton(tr("Start"), this);
  start_->setObjectName(QStringLiteral("tapStart"));
  pause_ = new QPushButton(tr("Pause"), this);
  pause_->setObjectName(QStringLiteral("tapPause"));
  pause_->setCheckable(true);
  pause_->setToolTip(tr("Keep receiving, stop adding rows"));
  clear_ = new QPushButton(tr("Clear"), this);
  export_ = new QPushButton(tr("Export JSON Lines…"), this);
  export_->setObjectName(QStringLiteral("tapExport"));
  status_ = new QLabel(this);
  status_->setObjectName(QStringLiteral("tapStatus"));
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  buttons->addWidget(start_);
  buttons->addWidget(pause_);
  buttons->addWidget(clear_);
  buttons->addWidget(export_);
  buttons->addWidget(status_, 1);
  layout->addLayout(buttons);

  table_ = new QTableView(this);
  table_->setObjectName(QStringLiteral("tapTable"));
  table_->setModel(sorted_);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->verticalHeader()->hide();
  table_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
  table_->setWordWrap(false);
  table_->setTextElideMode(Qt::ElideMiddle);
  auto* header = table_->horizontalHeader();
  header->setSectionResizeMode(QHeaderView::Interactive);
  header->setStretchLastSection(false);
  // Each column as wide as its widest usual value (or its title); Path takes the rest.
  const QList<std::pair<int, QString>> samples = {
      {TapEventsModel::kTime, QStringLiteral("00:00:00.000")},
      {TapEventsModel::kSource, QStringLiteral("storefront-web/v1")},
      {TapEventsModel::kDestination, QStringLiteral("storefront-web/v1")},
      {TapEventsModel::kMethod, QStringLiteral("DELETE")},
      {TapEventsModel::kStatus, QStringLiteral("200 grpc 14")},
      {TapEventsModel::kLatency, QStringLiteral("1000.0 ms")},
      {TapEventsModel::kProtocol, QStringLiteral("http/1.1")},
      {TapEventsModel::kSide, QStringLiteral("Seen by")}};
  const QFontMetrics header_metrics(header->font());
  for (const auto& [column, sample] : samples) {
    const QString title = model_->headerData(column, Qt::Horizontal, Qt::DisplayRole).toString();
    header->resizeSection(column, std::max(fontMetrics().horizontalAdvance(sample),
                                           header_metrics.horizontalAdvance(title)) +
                                      18);
  }
  header->setSectionResizeMode(TapEventsModel::kPath, QHeaderView::Stretch);
  // Sorting: a click on a header sorts by that column (again: the other way); until then, and
  // after "Arrival Order", the rows keep the order the events arrived in.
  header->setSortIndicator(-1, Qt::AscendingOrder);
  table_->setSortingEnabled(true);
  // Columns: the header's context menu shows or hides each one (Path always stays), and the
  // choice is kept for the next session.
  header->setContextMenuPolicy(Qt::CustomContextMenu);
  const QStringList hidden =
      QSettings().value(QStringLiteral("tapPanel/hiddenColumns")).toStringList();
  for (int c = 0; c < TapEventsModel::kColumnCount; ++c) {
    auto* a = new QAction(model_->headerData(c, Qt::Horizontal, Qt::DisplayRole).toString(), this);
    a->setCheckable(true);
    const bool shown = c == TapEventsModel::kPath || !hidden.contains(QString::number(c));
    a->setChecked(shown);
    table_->setColumnHidden(c, !shown);
    a->setEnabled(c != TapEventsModel::kPath);
    connect(a, &QAction::toggled, this, [this, c](bool on) {
      table_->setColumnHidden(c, !on);
      QStringList now;
      for (int i = 0; i < column_actions_.size(); ++i)
        if (!column_actions_[i]->isChecked()) now << QString::number(i);
      QSettings().setValue(QStringLiteral("tapPanel/hiddenColumns"), now);
    });
    column_actions_.append(a);
  }
  arrival_order_ = new QAction(tr("Arrival Order"), this);
  arrival_order_->setToolTip(tr("Rows in the order the events arrived, newest last"));
  connect(arrival_order_, &QAction::triggered, this, [this, header] {
    header->setSortIndicator(-1, Qt::AscendingOrder);
    sorted_->sort(-1);
    table_->scrollToBottom();
  });
  connect(header, &QHeaderView::customContextMenuRequested, this, [this, header](const QPoint& at) {
    QMenu menu(this);
    menu.addAction(arrival_order_);
    menu.addSeparator();
    menu.addActions(column_actions_);
    menu.exec(header->mapToGlobal(at));
  });

  details_ = new QPlainTextEdit(this);
  details_->setObjectName(QStringLiteral("tapDetails"));
  details_->setReadOnly(true);
  details_->setPlaceholderText(tr("Select an event to see every field"));
  details_->setLineWrapMode(QPlainTextEdit::NoWrap);
  auto* split = new QSplitter(Qt::Horizontal, this);
  split->addWidget(table_);
  split->addWidget(details_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 1);
  split->setChildrenCollapsible(false);
  layout->addWidget(split, 1);

  connect(start_, &QPushButton::clicked, this, [this] {
    if (running() || starting_)
      stop();
    else
      start();
  });
  connect(pause_, &QPushButton::toggled, this, &TapPanel::setPaused);
  connect(clear_, &QPushButton::clicked, this, &TapPanel::clear);
  connect(export_, &QPushButton::clicked, this, &TapPanel::exportEvents);
  connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          &TapPanel::showDetails);
  connect(table_, &QTableView::clicked, this, [this](const QModelIndex& index) {
    const cp::TapEvent& e = eventAt(index.row());
    emit edgeActivated(qs(e.source_service), qs(e.destination_service));
  });
  drain_timer_.setInterval(kDrainMs);
  connect(&drain_timer_, &QTimer::timeout, this, &TapPanel::drain);
  updateStatus();
}

TapPanel::~TapPanel() { stop(); }

const cp::TapEvent& TapPanel::eventAt(int table_row) const {
  return model_->event(sorted_->mapToSource(sorted_->index(table_row, 0)).row());
}

void TapPanel::setFilter(const cp::TapFilter& f) {
  // An edge (source → destination) is the source's requests to the destination.
  service_->setText(qs(f.service.empty() ? f.source_service : f.service));
  to_->setText(qs(f.destination_service));
  path_->setText(qs(f.path_prefix));
  const int m = method_->findData(qs(f.method));
  if (m >= 0)
    method_->setCurrentIndex(m);
  else
    method_->setEditText(qs(f.method));
  status_class_->setCurrentIndex(std::max(0, status_class_->findData(int(f.status_class))));
  min_latency_->setValue(static_cast<int>(f.min_latency_us / 1000));
}

cp::TapFilter TapPanel::filter() const {
  cp::TapFilter f;
  f.service = service_->text().trimmed().toStdString();
  f.destination_service = to_->text().trimmed().toStdString();
  f.path_prefix = path_->text().trimmed().toStdString();
  QString method = method_->currentText().trimmed();
  if (method == method_->itemText(0)) method.clear();  // "any"
  f.method = method.toUpper().toStdString();
  f.status_class = static_cast<uint32_t>(status_class_->currentData().toInt());
  f.min_latency_us = static_cast<uint64_t>(min_latency_->value()) * 1000;
  return f;
}

void TapPanel::start() {
  if (running() || starting_) return;
  const uint64_t generation = ++generation_;
  starting_ = true;
  message_.clear();
  received_ = dropped_ = paused_count_ = 0;
  proxies_ = 0;
  inbox_ = std::make_shared<Inbox>();
  start_->setText(tr("Stop"));
  updateStatus();
  emit runningChanged(true);
  struct Started {
    std::shared_ptr<void> token;
    std::string error;
  };
  // The callback holds only the inbox: nothing of the panel's is touched off the GUI thread.
  auto inbox = inbox_;
  cp::TapCallback callback = [inbox](const cp::TapBatch& batch) {
    const std::lock_guard lock(inbox->mutex);
    inbox->events.insert(inbox->events.end(), batch.events.begin(), batch.events.end());
    inbox->dropped = batch.dropped;
    inbox->proxies = batch.proxies;
    inbox->batches = true;
  };
  const cp::TapFilter f = filter();
  // Opening may wait on the network (a remote control plane): off the GUI thread.
  client_->run<std::shared_ptr<Started>>(
      [f, callback](cp::ControlPlane& cp) {
        auto started = std::make_shared<Started>();
        started->token = cp.startTap(f, callback, &started->error);
        return started;
      },
      this,
      [this, generation](std::shared_ptr<Started> started) {
        // Stopped (or restarted) meanwhile: the token goes out of scope and closes the tap.
        if (generation != generation_) return;
        starting_ = false;
        if (!started->token) {
          message_ =
              started->error.empty() ? tr("The tap could not be opened") : qs(started->error);
          if (client_->readOnly())
            message_ = tr("Tapping needs a live control plane: %1").arg(message_);
          start_->setText(tr("Start"));
          updateStatus();
          emit runningChanged(false);
          return;
        }
        token_ = std::move(started->token);
        drain_timer_.start();
        updateStatus();
      });
}

void TapPanel::stop() {
  ++generation_;
  const bool was = running() || starting_;
  starting_ = false;
  drain_timer_.stop();
  // Releasing waits for a callback still running; it only takes the inbox's lock.
  token_.reset();
  if (!was) return;
  drain();  // what arrived before the close
  start_->setText(tr("Start"));
  updateStatus();
  emit runningChanged(false);
}

void TapPanel::setPaused(bool paused) {
  if (paused == paused_) return;
  paused_ = paused;
  if (pause_->isChecked() != paused) pause_->setChecked(paused);
  pause_->setText(paused ? tr("Resume") : tr("Pause"));
  if (!paused) paused_count_ = 0;
  updateStatus();
}

void TapPanel::clear() {
  model_->clear();
  details_->clear();
  updateStatus();
}

void TapPanel::drain() {
  if (!inbox_) return;
  std::vector<cp::TapEvent> events;
  {
    const std::lock_guard lock(inbox_->mutex);
    if (!inbox_->batches) return;
    events.swap(inbox_->events);
    dropped_ = inbox_->dropped;
    proxies_ = inbox_->proxies;
    inbox_->batches = false;
  }
  received_ += events.size();
  if (paused_) {
    paused_count_ += events.size();
  } else if (!events.empty()) {
    // Follow the newest row unless the user scrolled away to read: at the bottom in arrival
    // order or oldest first; at the top newest first; sorted by another column, stay.
    const QScrollBar* bar = table_->verticalScrollBar();
    const int column = sorted_->sortColumn();
    const bool newest_last = column < 0 || (column == TapEventsModel::kTime &&
                                            sorted_->sortOrder() == Qt::AscendingOrder);
    const bool newest_first =
        column == TapEventsModel::kTime && sorted_->sortOrder() == Qt::DescendingOrder;
    const bool at_bottom = bar->value() >= bar->maximum();
    const bool at_top = bar->value() <= bar->minimum();
    model_->append(std::move(events));
    if (newest_last && at_bottom) table_->scrollToBottom();
    if (newest_first && at_top) table_->scrollToTop();
  }
  updateStatus();
}

void TapPanel::showDetails() {
  const QModelIndex current = table_->currentIndex();
  if (!current.isValid()) {
    details_->clear();
    return;
  }
  const cp::TapEvent& e = eventAt(current.row());
  const QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(e.toJson())).object();
  QStringList lines;
  for (auto it = o.begin(); it != o.end(); ++it) {
    const QJsonValue v = it.value();
    if (v.isObject()) {
      lines << QStringLiteral("%1:").arg(it.key());
      const QJsonObject inner = v.toObject();
      for (auto h = inner.begin(); h != inner.end(); ++h)
        lines << QStringLiteral("  %1: %2").arg(h.key(), h.value().toVariant().toString());
    } else if (v.isArray()) {
      lines << QStringLiteral("%1:").arg(it.key());
      for (const QJsonValue& item : v.toArray())
        lines << QStringLiteral("  %1").arg(
            item.isArray()
                ? QStringLiteral("%1: %2").arg(item.toArray().at(0).toString(),
                                               item.toArray().at(1).toString())
                : QString::fromUtf8(QJsonDocument(item.toObject()).toJson(QJsonDocument::Compact)));
    } else {
      lines << QStringLiteral("%1: %2").arg(it.key(), v.toVariant().toString());
    }
  }
  details_->setPlainText(lines.join(QLatin1Char('\n')));
}

void TapPanel::updateStatus() {
  QString text;
  if (starting_)
    text = tr("Opening the tap…");
  else if (running())
    text = proxies_ == 1 ? tr("Tapping %1 · 1 proxy").arg(qs(filter().describe()))
                         : tr("Tapping %1 · %2 proxies").arg(qs(filter().describe())).arg(proxies_);
  else if (!message_.isEmpty())
    text = message_;
  else
    text = tr("Stopped");
  if (running() && !message_.isEmpty()) text += QStringLiteral(" · ") + message_;
  text += tr(" · %1 received · %2 dropped · %3 shown")
              .arg(received_)
              .arg(dropped_)
              .arg(model_->rowCount());
  if (paused_) text += tr(" · paused, %1 arrived meanwhile").arg(paused_count_);
  status_->setText(text);
  status_->setStyleSheet(dropped_ > 0 ? QStringLiteral("color: #d98e04") : QString());
}

void TapPanel::setMessage(const QString& text) {
  message_ = text;
  updateStatus();
}

bool TapPanel::exportTo(const QString& path, QString* error) const {
  QFile file(path);
  if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) {
    if (error) *error = file.errorString();
    return false;
  }
  for (const cp::TapEvent& e : model_->events()) {
    file.write(QByteArray::fromStdString(e.toJson()));
    file.write("\n");
  }
  if (!file.flush()) {
    if (error) *error = file.errorString();
    return false;
  }
  return true;
}

void TapPanel::exportEvents() {
  const QString dir = QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation);
  const QString name =
      QStringLiteral("%1/meshdeck-tap-%2.jsonl")
          .arg(dir, QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")));
  const QString path =
      QFileDialog::getSaveFileName(this, tr("Export Tap"), name, tr("JSON lines (*.jsonl *.json)"));
  if (path.isEmpty()) return;
  QString error;
  if (exportTo(path, &error))
    setMessage(tr("Exported %1 events to %2").arg(model_->rowCount()).arg(path));
  else
    setMessage(tr("Export failed: %1").arg(error));
}

}  // namespace meshdeck::ui
