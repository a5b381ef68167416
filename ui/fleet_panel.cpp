#include "ui/fleet_panel.h"

#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

#include "ui/column_fitter.h"
#include "ui/control_plane_client.h"
#include "ui/elided_label.h"
#include "ui/table_models.h"

namespace meshdeck::ui {

FleetPanel::FleetPanel(ControlPlaneClient* client, QWidget* parent)
    : QWidget(parent), client_(client), model_(new ProcessesModel(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  explanation_ = new QLabel(this);
  explanation_->setWordWrap(true);
  explanation_->setText(
      tr("This control plane supervises no processes. Proxies that connect on their own appear "
         "in the graph and in each service's inspector; a demo mesh started by Meshdeck "
         "(meshdeck --demo storefront) lists its processes here."));
  layout->addWidget(explanation_);

  auto* splitter = new QSplitter(Qt::Vertical, this);
  table_ = new QTableView(splitter);
  table_->setModel(model_);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->verticalHeader()->hide();
  table_->setAlternatingRowColors(true);
  // The process name says service, version, instance and role: those columns go first when
  // the dock is narrow.
  using P = ProcessesModel;
  new ColumnFitter(table_, {P::kName, P::kState, P::kRestarts, P::kCpu, P::kMemory, P::kUptime,
                            P::kPid, P::kPorts, P::kRole, P::kService, P::kVersion, P::kInstance});
  logs_ = new QPlainTextEdit(splitter);
  logs_->setReadOnly(true);
  logs_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  logs_->setPlaceholderText(tr("Select a process to see its output."));
  logs_->setMaximumBlockCount(2000);
  layout->addWidget(splitter, 1);

  auto* actions = new QHBoxLayout;
  restart_ = new QPushButton(tr("Restart"), this);
  replicas_ = new QSpinBox(this);
  replicas_->setRange(0, 16);
  replicas_->setValue(1);
  replicas_->setPrefix(tr("replicas: "));
  scale_ = new QPushButton(tr("Scale"), this);
  // Elided in a narrow dock (the whole text in its tooltip): a long message never widens it.
  status_ = new ElidedLabel(QString(), this);
  status_->setObjectName(QStringLiteral("fleetStatus"));
  actions->addWidget(restart_);
  actions->addWidget(replicas_);
  actions->addWidget(scale_);
  actions->addWidget(status_, 1);
  layout->addLayout(actions);
  connect(restart_, &QPushButton::clicked, this, &FleetPanel::restartSelected);
  connect(scale_, &QPushButton::clicked, this, &FleetPanel::scaleSelected);
  connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          [this] { loadLogs(); });

  status_expiry_.setSingleShot(true);
  status_expiry_.setInterval(kStatusMs);
  connect(&status_expiry_, &QTimer::timeout, status_, &ElidedLabel::clear);

  poll_.setInterval(2000);
  connect(&poll_, &QTimer::timeout, this, [this] {
    if (isVisible()) refresh();
  });
  poll_.start();
}

void FleetPanel::setReadOnly(bool read_only) {
  read_only_ = read_only;
  restart_->setEnabled(!read_only);
  scale_->setEnabled(!read_only);
  replicas_->setEnabled(!read_only);
  // Read-only means a snapshot opened offline: nothing of it runs.
  if (read_only) updateExplanation(false);
}

void FleetPanel::updateExplanation(bool has_processes) {
  // A live control plane without processes explains why the table is empty; a snapshot
  // always says that nothing of it runs.
  explanation_->setVisible(read_only_ || !has_processes);
  if (!read_only_) return;
  explanation_->setText(
      has_processes
          ? tr("This snapshot has no live fleet: the processes below are as they were when it "
               "was taken; nothing runs, so there is nothing to restart or scale.")
          : tr("This snapshot has no live fleet: nothing runs, and it holds no process list "
               "(the proxies it saw are in each service's inspector)."));
}

void FleetPanel::refresh() {
  if (in_flight_) return;
  in_flight_ = true;
  client_->run<std::vector<cp::ProcessInfo>>([](cp::ControlPlane& cp) { return cp.processes(); },
                                             this,
                                             [this](std::vector<cp::ProcessInfo> processes) {
                                               in_flight_ = false;
                                               updateExplanation(!processes.empty());
                                               model_->setProcesses(std::move(processes));
                                               followSelected();
                                             });
}

void FleetPanel::showStatus(const QString& text) {
  status_->setText(text);
  status_expiry_.start();
}

void FleetPanel::followSelected() {
  if (shown_name_.empty()) return;
  int row = -1;
  for (int r = 0; r < model_->rowCount(); ++r) {
    if (model_->processAt(r)->name == shown_name_) row = r;
  }
  if (row < 0) return;
  // A reset model (rows added or gone) loses the selection: keep it on the same process.
  if (table_->currentIndex().row() != row) {
    table_->setCurrentIndex(model_->index(row, 0));  // reloads the log
    return;
  }
  const cp::ProcessInfo* p = model_->processAt(row);
  if (restarting_ == p->name && p->pid != restarting_pid_ && p->state == "running") {
    restarting_.clear();
    showStatus(tr("%1 running again (pid %2)").arg(QString::fromStdString(p->name)).arg(p->pid));
  }
  if (p->pid == shown_pid_ && p->restarts == shown_restarts_) return;
  loadLogs();
}

void FleetPanel::loadLogs() {
  const cp::ProcessInfo* p = model_->processAt(table_->currentIndex().row());
  if (p == nullptr) return;
  const std::string name = p->name;
  shown_name_ = name;
  shown_pid_ = p->pid;
  shown_restarts_ = p->restarts;
  client_->run<std::vector<std::string>>(
      [name](cp::ControlPlane& cp) { return cp.processLogs(name, 500); }, this,
      [this](std::vector<std::string> lines) {
        QStringList text;
        for (const auto& l : lines) text << QString::fromStdString(l);
        logs_->setPlainText(text.isEmpty() ? tr("(no output captured)")
                                           : text.join(QLatin1Char('\n')));
        logs_->moveCursor(QTextCursor::End);
      });
}

void FleetPanel::restartSelected() {
  const cp::ProcessInfo* p = model_->processAt(table_->currentIndex().row());
  if (p == nullptr || read_only_) {
    showStatus(tr("Select a process first."));
    return;
  }
  const std::string name = p->name;
  const int32_t pid = p->pid;
  client_->run<cp::ActionResult>([name](cp::ControlPlane& cp) { return cp.restartProcess(name); },
                                 this,
                                 [this, name, pid](cp::ActionResult r) {
                                   if (r.ok) {
                                     restarting_ = name;
                                     restarting_pid_ = pid;
                                   }
                                   showStatus(QString::fromStdString(r.message));
                                   refresh();
                                 });
}

void FleetPanel::scaleSelected() {
  const cp::ProcessInfo* p = model_->processAt(table_->currentIndex().row());
  if (p == nullptr || read_only_) {
    showStatus(tr("Select a process of the service to scale."));
    return;
  }
  const std::string service = p->service, version = p->version;
  const auto replicas = static_cast<uint32_t>(replicas_->value());
  client_->run<cp::ActionResult>(
      [service, version, replicas](cp::ControlPlane& cp) {
        return cp.scaleService(service, version, replicas);
      },
      this,
      [this](cp::ActionResult r) {
        showStatus(QString::fromStdString(r.message));
        refresh();
      });
}

}  // namespace meshdeck::ui
