#pragma once

#include <QTimer>
#include <QWidget>
#include <cstdint>
#include <string>

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTableView;

namespace meshdeck::ui {

class ControlPlaneClient;
class ElidedLabel;
class ProcessesModel;

// The processes the control plane supervises: a table (service, version, instance, ports,
// state, restarts, uptime, CPU, memory), the selected process's log, restart and scale. When
// the control plane runs no process the table stays empty and a line says why. The log follows
// the selected process (by name) across restarts: a new pid reloads it. Action results in the
// status line expire after kStatusMs or give way to the new state ("… running again").
class FleetPanel : public QWidget {
  Q_OBJECT

 public:
  FleetPanel(ControlPlaneClient* client, QWidget* parent = nullptr);

  void setReadOnly(bool read_only);
  void refresh();
  ProcessesModel* model() const { return model_; }
  QLabel* explanation() const { return explanation_; }
  ElidedLabel* statusLabel() const { return status_; }
  QPlainTextEdit* logView() const { return logs_; }

  static constexpr int kStatusMs = 5000;

 private:
  void loadLogs();
  void updateExplanation(bool has_processes);
  void restartSelected();
  void scaleSelected();
  void showStatus(const QString& text);
  void followSelected();

  ControlPlaneClient* client_;
  ProcessesModel* model_;
  QTableView* table_;
  QLabel* explanation_;
  QPlainTextEdit* logs_;
  QPushButton* restart_;
  QPushButton* scale_;
  QSpinBox* replicas_;
  ElidedLabel* status_;
  QTimer poll_;
  QTimer status_expiry_;
  // The process whose log is shown (pid and restarts when loaded) and one being restarted.
  std::string shown_name_;
  int32_t shown_pid_ = 0;
  uint32_t shown_restarts_ = 0;
  std::string restarting_;
  int32_t restarting_pid_ = 0;
  bool read_only_ = false;
  bool in_flight_ = false;
};

}  // namespace meshdeck::ui
