#include "ui/certificates_panel.h"

#include <QHeaderView>
#include <QLabel>
#include <QShowEvent>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>
#include <chrono>

#include "ui/column_fitter.h"
#include "ui/control_plane_client.h"
#include "ui/table_models.h"

namespace meshdeck::ui {

CertificatesPanel::CertificatesPanel(ControlPlaneClient* client, QWidget* parent)
    : QWidget(parent),
      client_(client),
      model_(new CertificatesModel(this)),
      proxy_(new NaturalSortProxyModel(this)),
      clock_([] { return std::chrono::system_clock::now(); }) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  summary_ = new QLabel(tr("Loading certificates…"), this);
  summary_->setObjectName(QStringLiteral("certificatesSummary"));
  summary_->setWordWrap(true);
  summary_->setTextFormat(Qt::RichText);
  layout->addWidget(summary_);

  proxy_->setSourceModel(model_);
  proxy_->setSortRole(Qt::UserRole);
  table_ = new QTableView(this);
  table_->setObjectName(QStringLiteral("certificatesTable"));
  table_->setModel(proxy_);
  table_->setSortingEnabled(true);
  // Soonest expiry first: what needs attention is on top.
  table_->sortByColumn(CertificatesModel::kExpires, Qt::AscendingOrder);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->verticalHeader()->hide();
  // Serial and not-before are in the tooltip (and in the header's menu); the panel stays narrow
  // beside the graph.
  using C = CertificatesModel;
  new ColumnFitter(table_, {C::kProxy, C::kExpires, C::kState, C::kSpiffeId, C::kIssuer});
  layout->addWidget(table_, 1);

  poll_.setInterval(kRefreshMs);
  connect(&poll_, &QTimer::timeout, this, [this] {
    if (isVisible()) refresh();
  });
  poll_.start();
}

void CertificatesPanel::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  refresh();
}

void CertificatesPanel::refresh() {
  if (in_flight_) return;
  in_flight_ = true;
  client_->run<std::vector<cp::CertificateInfo>>(
      [](cp::ControlPlane& cp) { return cp.certificates(); }, this,
      [this](std::vector<cp::CertificateInfo> certificates) {
        in_flight_ = false;
        model_->setCertificates(certificates, clock_());
        const int expiring = model_->count(CertificateState::kExpiring);
        const int expired = model_->count(CertificateState::kExpired);
        if (certificates.empty()) {
          summary_->setText(
              offline_ ? tr("This snapshot holds no certificates: a snapshot saves the graph, "
                            "the proxies' sync state and the policies, not the mesh CA's "
                            "certificates.")
                       : tr("No workload certificates: this control plane has no CA, or no "
                            "proxy has asked for one yet."));
        } else {
          // A certificate replaced by a newer one of the same proxy (a restart) is not live.
          QString text = tr("<b>%n certificate(s)</b>", "", model_->liveCount());
          if (model_->replacedCount() > 0)
            text += tr(" (+ %n replaced)", "", model_->replacedCount());
          if (offline_) text = tr("As of the snapshot: %1").arg(text);
          text += expiring > 0
                      ? tr(" · <span style='color:#d98e04'><b>%1 expiring</b></span>").arg(expiring)
                      : tr(" · 0 expiring");
          text += expired > 0
                      ? tr(" · <span style='color:#d63333'><b>%1 expired</b></span>").arg(expired)
                      : tr(" · 0 expired");
          summary_->setText(text);
        }
      });
}

}  // namespace meshdeck::ui
