#include "ui/main_window.h"

#include <QApplication>
#include <QDockWidget>
#include <QGraphicsScene>
#include <QGraphicsView>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QStatusBar>
#include <QTabWidget>

namespace meshdeck::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle(tr("Meshdeck"));
  resize(1280, 800);

  graph_view_ = new QGraphicsView(new QGraphicsScene(this), this);
  graph_view_->setRenderHint(QPainter::Antialiasing);
  graph_view_->setDragMode(QGraphicsView::ScrollHandDrag);
  setCentralWidget(graph_view_);

  side_panel_ = new QTabWidget(this);
  side_panel_->addTab(new QListWidget(side_panel_), tr("Services"));
  side_panel_->addTab(new QListWidget(side_panel_), tr("Policies"));
  side_panel_->addTab(new QListWidget(side_panel_), tr("Fleet"));
  side_panel_->addTab(new QListWidget(side_panel_), tr("Scenarios"));
  auto* dock = new QDockWidget(tr("Mesh"), this);
  dock->setObjectName("meshDock");
  dock->setWidget(side_panel_);
  addDockWidget(Qt::LeftDockWidgetArea, dock);

  status_label_ = new QLabel(tr("Control plane: not started"), this);
  statusBar()->addPermanentWidget(status_label_);
  createMenus();
}

void MainWindow::createMenus() {
  auto* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&Quit"), QKeySequence::Quit, qApp, &QApplication::quit);
  auto* view = menuBar()->addMenu(tr("&View"));
  view->addAction(tr("Zoom &In"), QKeySequence::ZoomIn, this, [this] { graph_view_->scale(1.25, 1.25); });
  view->addAction(tr("Zoom &Out"), QKeySequence::ZoomOut, this, [this] { graph_view_->scale(0.8, 0.8); });
}

}  // namespace meshdeck::ui
