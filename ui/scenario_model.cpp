#include "ui/scenario_model.h"

#include <QBrush>
#include <QColor>
#include <QFont>
#include <QPainter>
#include <QPainterPath>
#include <QPixmap>
#include <cmath>

namespace meshdeck::ui {
namespace {

constexpr quintptr kTopLevel = 0;

QString seconds(qint64 ms) { return QStringLiteral("%1 s").arg(double(ms) / 1000.0, 0, 'f', 1); }

}  // namespace

QIcon ScenarioStepsModel::stateIcon(State state) {
  // Drawn rather than taken from the style: the same marks on every platform and theme.
  constexpr int kSize = 32;
  QPixmap pixmap(kSize, kSize);
  pixmap.fill(Qt::transparent);
  QPainter p(&pixmap);
  p.setRenderHint(QPainter::Antialiasing);
  const QRectF disc(3, 3, kSize - 6, kSize - 6);
  QPen mark(Qt::white, 4, Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin);
  switch (state) {
    case State::kPending:
      p.setPen(QPen(QColor(0x9a, 0xa3, 0xb0), 3));
      p.drawEllipse(disc.adjusted(2, 2, -2, -2));
      break;
    case State::kRunning: {
      p.setPen(Qt::NoPen);
      p.setBrush(QColor(0x3d, 0x8b, 0xfd));
      p.drawEllipse(disc);
      // A clock: it is waiting.
      p.setPen(mark);
      p.drawLine(QPointF(16, 16), QPointF(16, 8));
      p.drawLine(QPointF(16, 16), QPointF(22, 19));
      break;
    }
    case State::kPassed: {
      p.setPen(Qt::NoPen);
      p.setBrush(QColor(0x1f, 0x9d, 0x55));
      p.drawEllipse(disc);
      p.setPen(mark);
      QPainterPath tick;
      tick.moveTo(9, 16.5);
      tick.lineTo(14, 21.5);
      tick.lineTo(23, 11);
      p.setBrush(Qt::NoBrush);
      p.drawPath(tick);
      break;
    }
    case State::kFailed:
      p.setPen(Qt::NoPen);
      p.setBrush(QColor(0xd6, 0x33, 0x33));
      p.drawEllipse(disc);
      p.setPen(mark);
      p.drawLine(QPointF(11, 11), QPointF(21, 21));
      p.drawLine(QPointF(21, 11), QPointF(11, 21));
      break;
    case State::kStopped:
      p.setPen(Qt::NoPen);
      p.setBrush(QColor(0x8a, 0x93, 0xa0));
      p.drawEllipse(disc);
      p.setBrush(Qt::white);
      p.drawRect(QRectF(11, 11, 10, 10));
      break;
  }
  p.end();
  return QIcon(pixmap);
}

void ScenarioStepsModel::setScenario(const ScenarioInfo& scenario) {
  beginResetModel();
  scenario_ = scenario;
  rows_.assign(static_cast<size_t>(scenario.steps.size()), StepRow{});
  for (int i = 0; i < scenario.steps.size(); ++i)
    rows_[size_t(i)].actions.resize(static_cast<size_t>(scenario.steps[i].actions.size()));
  current_ = -1;
  endResetModel();
}

int ScenarioStepsModel::childCount(int step) const {
  const auto& s = scenario_.steps[step];
  return int(s.actions.size()) + (s.checkpoint.isEmpty() ? 0 : 1);
}

void ScenarioStepsModel::changed(int step, int child) {
  const QModelIndex i = child < 0 ? index(step, 0) : index(child, 0, index(step, 0));
  emit dataChanged(i, i);
}

void ScenarioStepsModel::stopRunning(State to) {
  for (int i = 0; i < int(rows_.size()); ++i) {
    StepRow& row = rows_[size_t(i)];
    if (row.state == State::kRunning) {
      row.state = to;
      changed(i);
    }
    if (row.checkpoint == State::kRunning) {
      row.checkpoint = to;
      changed(i, int(row.actions.size()));
    }
  }
}

void ScenarioStepsModel::apply(const cp::ScenarioEvent& e) {
  using Kind = cp::ScenarioEvent::Kind;
  if (QString::fromStdString(e.scenario) != scenario_.name) return;
  // The indices come from the engine on another thread, for a scenario loaded separately:
  // checked, not trusted.
  if (e.hasStep() && e.step >= rows_.size()) return;
  if (e.hasAction() && e.action >= rows_[e.step].actions.size()) return;
  const int step = int(e.step);
  switch (e.kind) {
    case Kind::kScenarioStarted:
      // A replay: everything is pending again.
      for (auto& row : rows_) {
        const size_t actions = row.actions.size();
        row = StepRow{};
        row.actions.resize(actions);
      }
      current_ = -1;
      if (!rows_.empty()) {
        emit dataChanged(index(0, 0), index(int(rows_.size()) - 1, 0));
        for (int i = 0; i < int(rows_.size()); ++i) {
          if (childCount(i) > 0)
            emit dataChanged(index(0, 0, index(i, 0)), index(childCount(i) - 1, 0, index(i, 0)));
        }
      }
      break;
    case Kind::kStepStarted: {
      // A step without a checkpoint is done when the next one starts.
      stopRunning(State::kPassed);
      rows_[e.step].state = State::kRunning;
      const int previous = current_;
      current_ = step;
      if (previous >= 0) changed(previous);
      changed(step);
      break;
    }
    case Kind::kActionDone:
    case Kind::kActionFailed: {
      StepRow& row = rows_[e.step];
      const bool ok = e.kind == Kind::kActionDone;
      row.actions[e.action] = {ok ? State::kPassed : State::kFailed,
                               QString::fromStdString(e.text)};
      changed(step, int(e.action));
      if (!ok) {
        row.state = State::kFailed;
        changed(step);
      }
      break;
    }
    case Kind::kCheckpointStarted: {
      StepRow& row = rows_[e.step];
      row.checkpoint = State::kRunning;
      row.deadline = QDeadlineTimer(e.within.count());
      changed(step, int(row.actions.size()));
      break;
    }
    case Kind::kCheckpointPassed:
    case Kind::kCheckpointFailed: {
      StepRow& row = rows_[e.step];
      const bool ok = e.kind == Kind::kCheckpointPassed;
      const QString text = QString::fromStdString(e.text);
      row.checkpoint = ok ? State::kPassed : State::kFailed;
      row.state = row.checkpoint;
      row.checkpoint_result =
          ok ? tr("Passed at %1: %2").arg(seconds(e.at.count()), text) : tr("Failed: %1").arg(text);
      changed(step, int(row.actions.size()));
      changed(step);
      break;
    }
    case Kind::kScenarioFinished: {
      stopRunning(e.passed ? State::kPassed : State::kStopped);
      const int previous = current_;
      current_ = -1;
      if (previous >= 0) changed(previous);
      break;
    }
  }
}

void ScenarioStepsModel::tick() {
  for (int i = 0; i < int(rows_.size()); ++i) {
    if (rows_[size_t(i)].checkpoint == State::kRunning)
      changed(i, int(rows_[size_t(i)].actions.size()));
  }
}

ScenarioStepsModel::State ScenarioStepsModel::stepState(int step) const {
  return step >= 0 && step < int(rows_.size()) ? rows_[size_t(step)].state : State::kPending;
}

ScenarioStepsModel::State ScenarioStepsModel::checkpointState(int step) const {
  return step >= 0 && step < int(rows_.size()) ? rows_[size_t(step)].checkpoint : State::kPending;
}

QModelIndex ScenarioStepsModel::checkpointIndex(int step) const {
  if (step < 0 || step >= int(rows_.size()) || scenario_.steps[step].checkpoint.isEmpty())
    return {};
  return index(int(rows_[size_t(step)].actions.size()), 0, index(step, 0));
}

QString ScenarioStepsModel::checkpointText(int step) const {
  const QModelIndex i = checkpointIndex(step);
  return i.isValid() ? data(i, Qt::DisplayRole).toString() : QString();
}

QModelIndex ScenarioStepsModel::index(int row, int column, const QModelIndex& parent) const {
  if (column != 0 || row < 0) return {};
  if (!parent.isValid())
    return row < int(rows_.size()) ? createIndex(row, 0, kTopLevel) : QModelIndex();
  if (parent.internalId() != kTopLevel || parent.row() >= int(rows_.size())) return {};
  if (row >= childCount(parent.row())) return {};
  return createIndex(row, 0, quintptr(parent.row() + 1));
}

QModelIndex ScenarioStepsModel::parent(const QModelIndex& child) const {
  if (!child.isValid() || child.internalId() == kTopLevel) return {};
  return createIndex(int(child.internalId() - 1), 0, kTopLevel);
}

int ScenarioStepsModel::rowCount(const QModelIndex& parent) const {
  if (!parent.isValid()) return int(rows_.size());
  if (parent.column() != 0 || parent.internalId() != kTopLevel) return 0;
  return childCount(parent.row());
}

int ScenarioStepsModel::columnCount(const QModelIndex&) const { return 1; }

Qt::ItemFlags ScenarioStepsModel::flags(const QModelIndex& index) const {
  if (!index.isValid()) return Qt::NoItemFlags;
  Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
  if (index.internalId() != kTopLevel) f |= Qt::ItemNeverHasChildren;
  return f;
}

QVariant ScenarioStepsModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.column() != 0) return {};
  if (index.internalId() == kTopLevel) {
    const int step = index.row();
    if (step >= int(rows_.size())) return {};
    const StepRow& row = rows_[size_t(step)];
    switch (role) {
      case Qt::DisplayRole:
        return QStringLiteral("%1. %2").arg(step + 1).arg(scenario_.steps[step].title);
      case Qt::ToolTipRole:
        return scenario_.steps[step].narration;
      case Qt::DecorationRole:
        return stateIcon(row.state);
      case Qt::FontRole: {
        QFont f;
        f.setBold(step == current_);
        return f;
      }
      case kStateRole:
        return int(row.state);
      case kKindRole:
        return int(RowKind::kStep);
      default:
        return {};
    }
  }
  const int step = int(index.internalId() - 1);
  if (step < 0 || step >= int(rows_.size())) return {};
  const StepRow& row = rows_[size_t(step)];
  const ScenarioStepInfo& info = scenario_.steps[step];
  if (index.row() < int(row.actions.size())) {
    const ActionRow& a = row.actions[size_t(index.row())];
    const QString text = a.result.isEmpty() ? info.actions[index.row()] : a.result;
    switch (role) {
      case Qt::DisplayRole:
      case Qt::ToolTipRole:
        return text;
      case Qt::DecorationRole:
        return stateIcon(a.state);
      case kStateRole:
        return int(a.state);
      case kKindRole:
        return int(RowKind::kAction);
      default:
        return {};
    }
  }
  QString text;
  switch (row.checkpoint) {
    case State::kPending:
      text = tr("Checkpoint: %1").arg(info.checkpoint);
      break;
    case State::kRunning: {
      const qint64 left = std::max<qint64>(0, row.deadline.remainingTime());
      text = tr("Waiting, %1 s left: %2")
                 .arg(qint64(std::ceil(double(left) / 1000.0)))
                 .arg(info.checkpoint);
      break;
    }
    case State::kPassed:
    case State::kFailed:
      text = row.checkpoint_result;
      break;
    case State::kStopped:
      text = tr("Stopped: %1").arg(info.checkpoint);
      break;
  }
  switch (role) {
    case Qt::DisplayRole:
    case Qt::ToolTipRole:
      return text;
    case Qt::DecorationRole:
      return stateIcon(row.checkpoint);
    case Qt::ForegroundRole:
      if (row.checkpoint == State::kPassed) return QBrush(QColor(0x1f, 0x9d, 0x55));
      if (row.checkpoint == State::kFailed) return QBrush(QColor(0xd6, 0x33, 0x33));
      return {};
    case kStateRole:
      return int(row.checkpoint);
    case kKindRole:
      return int(RowKind::kCheckpoint);
    default:
      return {};
  }
}

}  // namespace meshdeck::ui
