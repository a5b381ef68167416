#pragma once

#include <QMainWindow>

class QGraphicsView;
class QLabel;
class QTabWidget;

namespace meshdeck::ui {

// The Meshdeck main window: the service graph in the centre, a side panel (Services, Policies,
// Fleet, Scenarios) and a status bar with the control plane's state.
class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(QWidget* parent = nullptr);

  QGraphicsView* graphView() const { return graph_view_; }
  QTabWidget* sidePanel() const { return side_panel_; }

 private:
  void createMenus();

  QGraphicsView* graph_view_ = nullptr;
  QTabWidget* side_panel_ = nullptr;
  QLabel* status_label_ = nullptr;
};

}  // namespace meshdeck::ui
