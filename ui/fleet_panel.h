#pragma once

#include <QTimer>
#include <QWidget>

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTableView;

namespace meshdeck::ui {

class ControlPlaneClient;
class ProcessesModel;

// The processes the control plane supervises: a table (service, version, instance, ports,
// state, restarts, uptime, CPU, memory), the selected process's log, restart and scale. When
// the control plane runs no process the table stays empty and a line says why.
class FleetPanel : public QWidget {
  Q_OBJECT

 public:
  FleetPanel(ControlPlaneClient* client, QWidget* parent = nullptr);

  void setReadOnly(bool read_only);
  void refresh();
  ProcessesModel* model() const { return model_; }
  QLabel* explanation() const { return explanation_; }

 private:
  void loadLogs();
  void updateExplanation(bool has_processes);
  void restartSelected();
  void scaleSelected();

  ControlPlaneClient* client_;
  ProcessesModel* model_;
  QTableView* table_;
  QLabel* explanation_;
  QPlainTextEdit* logs_;
  QPushButton* restart_;
  QPushButton* scale_;
  QSpinBox* replicas_;
  QLabel* status_;
  QTimer poll_;
  bool read_only_ = false;
  bool in_flight_ = false;
};

}  // namespace meshdeck::ui
