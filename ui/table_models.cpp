#include "ui/table_models.h"

#include <QColor>
#include <QDateTime>
#include <QStringList>
#include <algorithm>
#include <chrono>
#include <utility>

#include "ui/graph_style.h"

namespace meshdeck::ui {
namespace {

QString joinVersions(const std::vector<std::string>& versions) {
  QStringList out;
  for (const auto& v : versions) out << QString::fromStdString(v);
  return out.join(QStringLiteral(", "));
}

QString formatDuration(double seconds) {
  const auto s = static_cast<qint64>(seconds);
  if (s < 60) return QStringLiteral("%1 s").arg(s);
  if (s < 3600) return QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60);
  return QStringLiteral("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60);
}

}  // namespace

// ------------------------------------------------------------------------------ ServicesModel

void ServicesModel::setSnapshot(std::shared_ptr<const cp::GraphSnapshot> snapshot) {
  bool same_rows = snapshot_ && snapshot && snapshot_->services.size() == snapshot->services.size();
  for (size_t i = 0; same_rows && i < snapshot->services.size(); ++i) {
    same_rows = snapshot_->services[i].name == snapshot->services[i].name;
  }
  if (same_rows) {
    // Only the rows whose cells say something new, in runs of neighbouring rows: a sorted
    // proxy re-sorts and the table repaints for what changed, not for every row each second.
    const std::shared_ptr<const cp::GraphSnapshot> old = std::exchange(snapshot_, snapshot);
    auto same = [](const cp::ServiceNode& a, const cp::ServiceNode& b) {
      const auto &ma = a.inbound, &mb = b.inbound;
      return a.ns == b.ns && a.tier == b.tier && a.versions == b.versions &&
             a.instances == b.instances && (ma.requests == 0) == (mb.requests == 0) &&
             ma.requests_per_second == mb.requests_per_second &&
             ma.success_rate == mb.success_rate && ma.p99_ms == mb.p99_ms;
    };
    const int rows = rowCount();
    for (int first = 0; first < rows;) {
      if (same(old->services[size_t(first)], snapshot_->services[size_t(first)])) {
        ++first;
        continue;
      }
      int last = first;
      while (last + 1 < rows &&
             !same(old->services[size_t(last + 1)], snapshot_->services[size_t(last + 1)]))
        ++last;
      rows_changed_ += quint64(last - first + 1);
      emit dataChanged(index(first, 0), index(last, kColumns - 1));
      first = last + 1;
    }
    return;
  }
  beginResetModel();
  snapshot_ = std::move(snapshot);
  endResetModel();
}

QString ServicesModel::serviceAt(int row) const {
  if (!snapshot_ || row < 0 || row >= rowCount()) return {};
  return QString::fromStdString(snapshot_->services[static_cast<size_t>(row)].name);
}

int ServicesModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() || !snapshot_ ? 0 : static_cast<int>(snapshot_->services.size());
}

int ServicesModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : kColumns;
}

QVariant ServicesModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
    return {};
  const auto& s = snapshot_->services[static_cast<size_t>(index.row())];
  const auto& m = s.inbound;
  if (role == Qt::DisplayRole) {
    switch (index.column()) {
      case kName:
        return QString::fromStdString(s.name);
      case kNamespace:
        return QString::fromStdString(s.ns);
      case kTier:
        return QString::fromStdString(s.tier);
      case kVersions:
        return joinVersions(s.versions);
      case kInstances:
        return s.instances;
      case kRate:
        return m.requests ? formatRate(m.requests_per_second) : QString();
      case kSuccess:
        return m.requests ? formatPercent(m.success_rate) : QString();
      case kP99:
        return m.requests ? formatLatency(m.p99_ms) : QString();
      default:
        return {};
    }
  }
  if (role == Qt::UserRole) {  // raw values, for sorting
    switch (index.column()) {
      case kInstances:
        return s.instances;
      case kRate:
        return m.requests_per_second;
      case kSuccess:
        return m.success_rate;
      case kP99:
        return m.p99_ms;
      default:
        return data(index, Qt::DisplayRole);
    }
  }
  if (role == Qt::TextAlignmentRole && index.column() >= kInstances) {
    return int(Qt::AlignRight | Qt::AlignVCenter);
  }
  return {};
}

QVariant ServicesModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  static const char* kNames[] = {"Service", "Namespace", "Tier",    "Versions",
                                 "Inst.",   "Req/s",     "Success", "p99"};
  return section >= 0 && section < kColumns ? tr(kNames[section]) : QVariant();
}

// ------------------------------------------------------------------------------ PoliciesModel

void PoliciesModel::setPolicies(std::vector<cp::PolicyInfo> policies) {
  beginResetModel();
  policies_ = std::move(policies);
  endResetModel();
}

const cp::PolicyInfo* PoliciesModel::policyAt(int row) const {
  return row >= 0 && row < rowCount() ? &policies_[static_cast<size_t>(row)] : nullptr;
}

int PoliciesModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(policies_.size());
}

int PoliciesModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : kColumns;
}

QVariant PoliciesModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
    return {};
  const auto& p = policies_[static_cast<size_t>(index.row())];
  if (role == Qt::DisplayRole) {
    switch (index.column()) {
      case kKind:
        return QString::fromStdString(p.kind);
      case kName:
        return QString::fromStdString(p.name);
      case kTarget:
        return QString::fromStdString(p.target);
      case kRevision:
        return QVariant::fromValue<qulonglong>(p.revision);
      default:
        return {};
    }
  }
  if (role == Qt::ToolTipRole) return QString::fromStdString(p.yaml);
  return {};
}

QVariant PoliciesModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  static const char* kNames[] = {"Kind", "Name", "Target", "Revision"};
  return section >= 0 && section < kColumns ? tr(kNames[section]) : QVariant();
}

// ----------------------------------------------------------------------------- ProcessesModel

void ProcessesModel::setProcesses(std::vector<cp::ProcessInfo> processes) {
  bool same_rows = processes.size() == processes_.size();
  for (size_t i = 0; same_rows && i < processes.size(); ++i) {
    same_rows = processes[i].name == processes_[i].name;
  }
  if (same_rows) {
    processes_ = std::move(processes);
    if (!processes_.empty()) emit dataChanged(index(0, 0), index(rowCount() - 1, kColumns - 1));
    return;
  }
  beginResetModel();
  processes_ = std::move(processes);
  endResetModel();
}

const cp::ProcessInfo* ProcessesModel::processAt(int row) const {
  return row >= 0 && row < rowCount() ? &processes_[static_cast<size_t>(row)] : nullptr;
}

int ProcessesModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(processes_.size());
}

int ProcessesModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : kColumns;
}

QVariant ProcessesModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
    return {};
  const auto& p = processes_[static_cast<size_t>(index.row())];
  if (role != Qt::DisplayRole) return {};
  switch (index.column()) {
    case kName:
      return QString::fromStdString(p.name);
    case kService:
      return QString::fromStdString(p.service);
    case kVersion:
      return QString::fromStdString(p.version);
    case kInstance:
      return p.instance;
    case kRole:
      return QString::fromStdString(p.role);
    case kState:
      return QString::fromStdString(p.state);
    case kPid:
      return p.pid;
    case kRestarts:
      return p.restarts;
    case kUptime:
      return formatDuration(p.uptime_seconds);
    case kCpu:
      return QStringLiteral("%1 %").arg(p.cpu_percent, 0, 'f', 1);
    case kMemory:
      return QStringLiteral("%1 MiB").arg(double(p.rss_bytes) / (1 << 20), 0, 'f', 1);
    case kPorts: {
      QStringList ports;
      for (uint32_t port : p.ports) ports << QString::number(port);
      return ports.join(QStringLiteral(", "));
    }
    default:
      return {};
  }
}

QVariant ProcessesModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  static const char* kNames[] = {"Process", "Service",  "Version", "Instance", "Role",   "State",
                                 "PID",     "Restarts", "Uptime",  "CPU",      "Memory", "Ports"};
  return section >= 0 && section < kColumns ? tr(kNames[section]) : QVariant();
}

// -------------------------------------------------------------------------- CertificatesModel

namespace {

qint64 msSinceEpoch(cp::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

QString formatTime(cp::SystemTime t) {
  return QDateTime::fromMSecsSinceEpoch(msSinceEpoch(t))
      .toString(QStringLiteral("yyyy-MM-dd HH:mm"));
}

QString formatSpan(qint64 seconds) {
  if (seconds < 60) return QStringLiteral("%1 s").arg(seconds);
  if (seconds < 3600) return QStringLiteral("%1 min").arg(seconds / 60);
  if (seconds < 48 * 3600)
    return QStringLiteral("%1 h %2 min").arg(seconds / 3600).arg((seconds % 3600) / 60);
  return QStringLiteral("%1 d %2 h").arg(seconds / 86400).arg((seconds % 86400) / 3600);
}

}  // namespace

CertificateState certificateState(const cp::CertificateInfo& c, cp::SystemTime now) {
  if (now >= c.not_after) return CertificateState::kExpired;
  const auto lifetime = c.not_after - c.not_before;
  // Integer arithmetic: the boundary is exactly 80 % of the lifetime.
  if (lifetime.count() > 0 && (now - c.not_before) * 5 >= lifetime * 4)
    return CertificateState::kExpiring;
  return CertificateState::kValid;
}

QString formatRemaining(cp::SystemTime not_after, cp::SystemTime now) {
  const qint64 s = std::chrono::duration_cast<std::chrono::seconds>(not_after - now).count();
  if (s <= 0) return QObject::tr("expired %1 ago").arg(formatSpan(-s));
  return QObject::tr("in %1").arg(formatSpan(s));
}

namespace {

// For each certificate: does the same proxy hold a newer one for the same SPIFFE id?
std::vector<bool> replacedCertificates(const std::vector<cp::CertificateInfo>& certificates) {
  std::vector<bool> out(certificates.size(), false);
  for (size_t i = 0; i < certificates.size(); ++i) {
    const auto& c = certificates[i];
    for (const auto& other : certificates) {
      if (&other == &c || other.proxy_id != c.proxy_id || other.spiffe_id != c.spiffe_id) continue;
      if (other.not_before > c.not_before ||
          (other.not_before == c.not_before && other.serial > c.serial)) {
        out[i] = true;
        break;
      }
    }
  }
  return out;
}

}  // namespace

void CertificatesModel::setCertificates(std::vector<cp::CertificateInfo> certificates,
                                        cp::SystemTime now) {
  replaced_ = replacedCertificates(certificates);
  bool same_rows = certificates.size() == certificates_.size();
  for (size_t i = 0; same_rows && i < certificates.size(); ++i) {
    same_rows = certificates[i].serial == certificates_[i].serial;
  }
  if (same_rows) {
    certificates_ = std::move(certificates);
    now_ = now;
    if (!certificates_.empty()) emit dataChanged(index(0, 0), index(rowCount() - 1, kColumns - 1));
    return;
  }
  beginResetModel();
  certificates_ = std::move(certificates);
  now_ = now;
  endResetModel();
}

const cp::CertificateInfo* CertificatesModel::certificateAt(int row) const {
  return row >= 0 && row < rowCount() ? &certificates_[static_cast<size_t>(row)] : nullptr;
}

CertificateState CertificatesModel::stateAt(int row) const {
  const cp::CertificateInfo* c = certificateAt(row);
  return c ? certificateState(*c, now_) : CertificateState::kValid;
}

bool CertificatesModel::replacedAt(int row) const {
  return row >= 0 && row < rowCount() && replaced_[static_cast<size_t>(row)];
}

int CertificatesModel::replacedCount() const {
  return static_cast<int>(std::count(replaced_.begin(), replaced_.end(), true));
}

int CertificatesModel::count(CertificateState state) const {
  int n = 0;
  for (size_t i = 0; i < certificates_.size(); ++i)
    n += !replaced_[i] && certificateState(certificates_[i], now_) == state ? 1 : 0;
  return n;
}

int CertificatesModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(certificates_.size());
}

int CertificatesModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : kColumns;
}

QVariant CertificatesModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
    return {};
  const auto& c = certificates_[static_cast<size_t>(index.row())];
  const CertificateState state = certificateState(c, now_);
  const bool replaced = replaced_[static_cast<size_t>(index.row())];
  if (replaced && index.column() == kState) {
    // After the live states when sorted; grey, untinted: nothing to act on.
    if (role == Qt::DisplayRole) return tr("replaced");
    if (role == Qt::UserRole) return int(CertificateState::kExpired) + 1;
  }
  if (replaced && role == Qt::BackgroundRole) return {};
  if (replaced && role == Qt::ForegroundRole) return QColor(0x80, 0x80, 0x80);
  if (role == Qt::DisplayRole || role == Qt::UserRole) {
    switch (index.column()) {
      case kProxy:
        return QString::fromStdString(c.proxy_id);
      case kSpiffeId:
        return QString::fromStdString(c.spiffe_id);
      case kIssuer:
        return QString::fromStdString(c.issuer);
      case kSerial:
        return QString::fromStdString(c.serial);
      case kNotBefore:
        return role == Qt::UserRole ? QVariant(msSinceEpoch(c.not_before))
                                    : QVariant(formatTime(c.not_before));
      case kExpires:
        return role == Qt::UserRole ? QVariant(msSinceEpoch(c.not_after))
                                    // The time left reads at a glance; the date is in the tooltip.
                                    : QVariant(formatRemaining(c.not_after, now_));
      case kState:
        if (role == Qt::UserRole) return int(state);
        return state == CertificateState::kExpired    ? tr("expired")
               : state == CertificateState::kExpiring ? tr("expiring")
                                                      : tr("valid");
      default:
        return {};
    }
  }
  if (role == Qt::BackgroundRole) {
    // Translucent tints read on light and dark palettes alike.
    if (state == CertificateState::kExpired) return QColor(0xd6, 0x33, 0x33, 80);
    if (state == CertificateState::kExpiring) return QColor(0xd9, 0x8e, 0x04, 70);
    return {};
  }
  if (role == Qt::ToolTipRole) {
    const QString tip =
        tr("%1\nissued by %2\nserial %3\nvalid %4 – %5 (%6)")
            .arg(QString::fromStdString(c.spiffe_id), QString::fromStdString(c.issuer),
                 QString::fromStdString(c.serial), formatTime(c.not_before),
                 formatTime(c.not_after), formatRemaining(c.not_after, now_));
    return replaced ? tip + tr("\nreplaced by a newer certificate of the same proxy") : tip;
  }
  return {};
}

QVariant CertificatesModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case kProxy:
      return tr("Proxy");
    case kSpiffeId:
      return tr("SPIFFE id");
    case kIssuer:
      return tr("Issuer");
    case kSerial:
      return tr("Serial");
    case kNotBefore:
      return tr("Not before");
    case kExpires:
      return tr("Expires");
    case kState:
      return tr("State");
    default:
      return {};
  }
}

int naturalCompare(QStringView a, QStringView b) {
  qsizetype i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].isDigit() && b[j].isDigit()) {
      // Two runs of digits: without their leading zeros, the longer is the larger number;
      // of equal length, the first differing digit decides (no overflow at any length).
      qsizetype ie = i, je = j;
      while (ie < a.size() && a[ie].isDigit()) ++ie;
      while (je < b.size() && b[je].isDigit()) ++je;
      qsizetype is = i, js = j;
      while (is + 1 < ie && a[is] == u'0') ++is;
      while (js + 1 < je && b[js] == u'0') ++js;
      if (ie - is != je - js) return ie - is < je - js ? -1 : 1;
      for (; is < ie; ++is, ++js)
        if (a[is] != b[js]) return a[is] < b[js] ? -1 : 1;
      i = ie;
      j = je;
      continue;
    }
    const char32_t ca = a[i].toCaseFolded().unicode(), cb = b[j].toCaseFolded().unicode();
    if (ca != cb) return ca < cb ? -1 : 1;
    ++i;
    ++j;
  }
  if (i < a.size() || j < b.size()) return i < a.size() ? 1 : -1;
  // Equal as numbers and case-folded text ("a01" and "a1", "Web" and "web"): the exact text.
  return a.compare(b);
}

bool NaturalSortProxyModel::lessThan(const QModelIndex& left, const QModelIndex& right) const {
  const QVariant l = left.data(sortRole()), r = right.data(sortRole());
  if (l.userType() == QMetaType::QString && r.userType() == QMetaType::QString)
    return naturalCompare(l.toString(), r.toString()) < 0;
  return QSortFilterProxyModel::lessThan(left, right);
}

}  // namespace meshdeck::ui
