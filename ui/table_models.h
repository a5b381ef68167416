#pragma once

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>
#include <QStringView>
#include <memory>
#include <vector>

#include "controlplane/api/types.h"

namespace meshdeck::ui {

// Services of the latest snapshot: name, namespace, tier, versions, instances and server-side
// metrics. Rows are reset only when the set of services changes; otherwise the metric cells
// report dataChanged, so a view's selection and scroll position survive live updates.
class ServicesModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { kName, kNamespace, kTier, kVersions, kInstances, kRate, kSuccess, kP99, kColumns };
  using QAbstractTableModel::QAbstractTableModel;

  // The same services in the same order as before: dataChanged() for the rows whose cells
  // change, and only those; otherwise a reset.
  void setSnapshot(std::shared_ptr<const cp::GraphSnapshot> snapshot);
  QString serviceAt(int row) const;
  // How many rows dataChanged() has announced since the model was made (tests).
  quint64 rowsChanged() const { return rows_changed_; }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  std::shared_ptr<const cp::GraphSnapshot> snapshot_;
  quint64 rows_changed_ = 0;
};

// Policies of the current revision: kind, name, target, revision.
class PoliciesModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { kKind, kName, kTarget, kRevision, kColumns };
  using QAbstractTableModel::QAbstractTableModel;

  void setPolicies(std::vector<cp::PolicyInfo> policies);
  const cp::PolicyInfo* policyAt(int row) const;
  const std::vector<cp::PolicyInfo>& policies() const { return policies_; }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  std::vector<cp::PolicyInfo> policies_;
};

// Processes the control plane supervises (the fleet).
class ProcessesModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column {
    kName,
    kService,
    kVersion,
    kInstance,
    kRole,
    kState,
    kPid,
    kRestarts,
    kUptime,
    kCpu,
    kMemory,
    kPorts,
    kColumns
  };
  using QAbstractTableModel::QAbstractTableModel;

  void setProcesses(std::vector<cp::ProcessInfo> processes);
  const cp::ProcessInfo* processAt(int row) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  std::vector<cp::ProcessInfo> processes_;
};

// Where a workload certificate is in its life at `now`: valid, expiring (the last 20 % of its
// lifetime: renewal at half life has failed for a while, as `meshdeckctl get certs` flags it),
// or expired.
enum class CertificateState { kValid, kExpiring, kExpired };
CertificateState certificateState(const cp::CertificateInfo& certificate, cp::SystemTime now);
// "in 3 h 20 min", "expired 5 min ago".
QString formatRemaining(cp::SystemTime not_after, cp::SystemTime now);

// Workload certificates issued by the mesh CA, as of a given time: expiring rows get an amber
// background, expired ones a red one (BackgroundRole), with the state in its own column.
// Qt::UserRole gives a sortable value per column. Rows are reset only when the set of serials
// changes.
class CertificatesModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { kProxy, kExpires, kState, kSpiffeId, kIssuer, kSerial, kNotBefore, kColumns };
  using QAbstractTableModel::QAbstractTableModel;

  void setCertificates(std::vector<cp::CertificateInfo> certificates, cp::SystemTime now);
  const cp::CertificateInfo* certificateAt(int row) const;
  CertificateState stateAt(int row) const;
  // A certificate is replaced when the same proxy holds a newer one for the same identity (a
  // restarted or renewed proxy): shown as "replaced", left out of count().
  bool replacedAt(int row) const;
  int replacedCount() const;
  // Live (not replaced) certificates in `state`.
  int count(CertificateState state) const;
  int liveCount() const { return rowCount() - replacedCount(); }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  std::vector<cp::CertificateInfo> certificates_;
  std::vector<bool> replaced_;
  cp::SystemTime now_{};
};

// Text in "natural" order: runs of digits compare as numbers, the rest case-insensitively, so
// business-2 comes before business-10 (as in a file manager). Ties fall back to the exact text,
// so the order is total. Negative, zero or positive as a < b, a == b, a > b.
int naturalCompare(QStringView a, QStringView b);

// A sort proxy whose text columns sort in natural order (naturalCompare) and whose numbers sort
// as numbers (QSortFilterProxyModel's own comparison for every non-string value).
class NaturalSortProxyModel : public QSortFilterProxyModel {
  Q_OBJECT
 public:
  using QSortFilterProxyModel::QSortFilterProxyModel;

 protected:
  bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;
};

}  // namespace meshdeck::ui
