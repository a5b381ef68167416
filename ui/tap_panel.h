#pragma once

#include <QAbstractTableModel>
#include <QList>
#include <QTimer>
#include <QWidget>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "controlplane/api/tap.h"

class QAction;
class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSortFilterProxyModel;
class QSpinBox;
class QTableView;

namespace meshdeck::ui {

class ControlPlaneClient;

// The events a tap delivered, newest last, at most `capacity` (the oldest go first). The
// table shows it through a sort proxy (kSortRole: time, latency and status sort as numbers).
class TapEventsModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  static constexpr int kSortRole = Qt::UserRole + 1;
  enum Column {
    kTime,
    kSource,
    kDestination,
    kMethod,
    kPath,
    kStatus,
    kLatency,
    kProtocol,
    kSide,
    kColumnCount
  };

  explicit TapEventsModel(QObject* parent = nullptr);

  void append(std::vector<cp::TapEvent> events);
  void clear();
  void setCapacity(int capacity) { capacity_ = capacity; }
  int capacity() const { return capacity_; }
  const cp::TapEvent& event(int row) const { return events_[static_cast<size_t>(row)]; }
  const std::deque<cp::TapEvent>& events() const { return events_; }

  // "normal", "warning" (4xx) or "error" (5xx, a gRPC error, no response): how a row is
  // coloured.
  static QString severity(const cp::TapEvent& e);

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  std::deque<cp::TapEvent> events_;
  int capacity_ = 5000;
};

// The Tap panel (docs/tap.md, "Desktop"): a filter row, Start/Stop, Pause, Clear and Export,
// a bounded live table coloured by status, the selected event's every field, and a status line
// (events received, dropped, proxies). The tap's callback runs on a control-plane thread: it
// only appends to a locked queue, which a 100 ms timer drains on the GUI thread (coalescing a
// burst into one model update). Stop, closing the panel's dock or destroying the panel releases
// the token, which closes the tap.
class TapPanel : public QWidget {
  Q_OBJECT

 public:
  explicit TapPanel(ControlPlaneClient* client, QWidget* parent = nullptr);
  ~TapPanel() override;

  // Fills the filter row from `filter` (service, destination, path, method, status, latency).
  void setFilter(const cp::TapFilter& filter);
  // What the filter row asks for.
  cp::TapFilter filter() const;

  bool running() const { return token_ != nullptr; }
  bool starting() const { return starting_; }
  bool paused() const { return paused_; }
  uint64_t received() const { return received_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t arrivedWhilePaused() const { return paused_count_; }

  TapEventsModel* model() const { return model_; }
  // What the table shows: model() sorted by the column whose header was clicked (arrival
  // order until then, and again after the header menu's "Arrival Order").
  QSortFilterProxyModel* sortedModel() const { return sorted_; }
  // The event of a row of the table (sortedModel()'s row).
  const cp::TapEvent& eventAt(int table_row) const;
  QTableView* table() const { return table_; }
  QPlainTextEdit* details() const { return details_; }
  QLabel* statusLabel() const { return status_; }
  QPushButton* startButton() const { return start_; }
  QPushButton* pauseButton() const { return pause_; }
  QLineEdit* serviceEdit() const { return service_; }
  QLineEdit* toEdit() const { return to_; }
  QLineEdit* pathEdit() const { return path_; }
  QComboBox* methodBox() const { return method_; }
  QComboBox* statusBox() const { return status_class_; }
  QSpinBox* latencyBox() const { return min_latency_; }
  // Show or hide each column (the header's context menu), in TapEventsModel::Column order. The
  // hidden ones are remembered (QSettings "tapPanel/hiddenColumns").
  const QList<QAction*>& columnActions() const { return column_actions_; }
  // The header menu's "Arrival Order": back to the order events arrived in.
  QAction* arrivalOrderAction() const { return arrival_order_; }

  // Writes the captured events, one JSON object a line (TapEvent::toJson, the fields of
  // `meshdeckctl tap -o json`). False with `error` set when the file cannot be written.
  bool exportTo(const QString& path, QString* error) const;

  static constexpr int kDrainMs = 100;

 public slots:
  void start();
  void stop();
  void setPaused(bool paused);
  void clear();
  void exportEvents();
  // Drains what the tap delivered since the last call (the timer calls it; tests may too).
  void drain();

 signals:
  // An event row was clicked: its edge.
  void edgeActivated(const QString& source, const QString& destination);
  void runningChanged(bool running);

 private:
  // What the control plane's thread hands over.
  struct Inbox {
    std::mutex mutex;
    std::vector<cp::TapEvent> events;
    uint64_t dropped = 0;
    uint32_t proxies = 0;
    bool batches = false;  // a batch arrived since the last drain
  };

  void showDetails();
  void updateStatus();
  void setMessage(const QString& text);

  ControlPlaneClient* client_;
  TapEventsModel* model_;
  QSortFilterProxyModel* sorted_;
  QTableView* table_;
  QPlainTextEdit* details_;
  QLabel* status_;
  QPushButton* start_;
  QPushButton* pause_;
  QPushButton* clear_;
  QPushButton* export_;
  QLineEdit* service_;
  QLineEdit* to_;
  QLineEdit* path_;
  QComboBox* method_;
  QComboBox* status_class_;
  QSpinBox* min_latency_;
  QList<QAction*> column_actions_;
  QAction* arrival_order_;
  QTimer drain_timer_;
  std::shared_ptr<Inbox> inbox_;
  std::shared_ptr<void> token_;
  QString message_;  // why the tap is not running, or an export's outcome
  bool paused_ = false;
  uint64_t received_ = 0, dropped_ = 0, paused_count_ = 0;
  uint32_t proxies_ = 0;
  uint64_t generation_ = 0;  // a start still opening is dropped when a stop came meanwhile
  bool starting_ = false;
};

}  // namespace meshdeck::ui
