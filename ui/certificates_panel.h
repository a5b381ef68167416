#pragma once

#include <QTimer>
#include <QWidget>
#include <functional>

#include "controlplane/api/types.h"

class QLabel;
class QSortFilterProxyModel;
class QTableView;

namespace meshdeck::ui {

class CertificatesModel;
class ControlPlaneClient;

// The workload certificates the mesh CA has issued (ControlPlane::certificates()): proxy,
// SPIFFE id, issuer, serial and validity, with those in the last 20 % of their lifetime marked
// amber and expired ones red, and a summary line. Refreshed every few seconds while visible,
// off the GUI thread like the other panels, and whenever it is shown.
class CertificatesPanel : public QWidget {
  Q_OBJECT

 public:
  static constexpr int kRefreshMs = 5000;

  CertificatesPanel(ControlPlaneClient* client, QWidget* parent = nullptr);

  // Asks the control plane for the certificates (ignored while a request is running).
  void refresh();
  // The clock the highlighting is computed against (tests; default: the system clock).
  void setClock(std::function<cp::SystemTime()> clock) { clock_ = std::move(clock); }
  // A snapshot opened offline: the texts speak of the snapshot (set its time as the clock).
  void setOffline(bool offline) { offline_ = offline; }

  CertificatesModel* model() const { return model_; }
  QTableView* table() const { return table_; }
  QLabel* summary() const { return summary_; }

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  ControlPlaneClient* client_;
  CertificatesModel* model_;
  QSortFilterProxyModel* proxy_;
  QTableView* table_;
  QLabel* summary_;
  QTimer poll_;
  std::function<cp::SystemTime()> clock_;
  bool in_flight_ = false;
  bool offline_ = false;
};

}  // namespace meshdeck::ui
