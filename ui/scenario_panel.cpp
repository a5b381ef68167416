#include "ui/scenario_panel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QSplitter>
#include <QStyledItemDelegate>
#include <QTextBrowser>
#include <QTreeView>
#include <QVBoxLayout>
#include <algorithm>

#include "ui/scenario_model.h"

namespace meshdeck::ui {
namespace {

QString edgeList(const QList<GraphEdge>& edges) {
  QStringList parts;
  for (const auto& [source, destination] : edges)
    parts << QStringLiteral("%1&nbsp;→&nbsp;%2")
                 .arg(source.toHtmlEscaped(), destination.toHtmlEscaped());
  return parts.join(QStringLiteral(", "));
}

// Step rows wrap to the width they really have: the view's, less the indentation of their depth
// and the icon. (The default measures with the column's full width, so a wrapped line had no
// room and was cut with "…".)
class WrappingDelegate : public QStyledItemDelegate {
 public:
  explicit WrappingDelegate(QTreeView* view) : QStyledItemDelegate(view), view_(view) {}

  QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override {
    QStyleOptionViewItem opt = option;
    initStyleOption(&opt, index);
    int depth = view_->rootIsDecorated() ? 1 : 0;
    for (QModelIndex p = index.parent(); p.isValid(); p = p.parent()) ++depth;
    const int icon = opt.features.testFlag(QStyleOptionViewItem::HasDecoration)
                         ? opt.decorationSize.width() + 8
                         : 0;
    const int width = std::max(
        60, view_->viewport()->width() - view_->indentation() * depth - icon - 2 * kTextMargin);
    const QRect text = opt.fontMetrics.boundingRect(QRect(0, 0, width, 1 << 20),
                                                    Qt::TextWordWrap | Qt::AlignLeft, opt.text);
    return {text.width(), std::max(text.height(), opt.decorationSize.height()) + 6};
  }

 private:
  static constexpr int kTextMargin = 6;
  QTreeView* view_;
};

}  // namespace

ScenarioPanel::ScenarioPanel(QWidget* parent)
    : QWidget(parent), model_(new ScenarioStepsModel(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  intro_ = new QLabel(this);
  intro_->setObjectName(QStringLiteral("scenarioIntro"));
  intro_->setWordWrap(true);
  layout->addWidget(intro_);

  auto* row = new QHBoxLayout;
  box_ = new QComboBox(this);
  box_->setObjectName(QStringLiteral("scenarioBox"));
  box_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  box_->setMinimumContentsLength(12);
  start_ = new QPushButton(this);
  start_->setObjectName(QStringLiteral("scenarioStartButton"));
  row->addWidget(box_, 1);
  row->addWidget(start_);
  layout->addLayout(row);

  auto* splitter = new QSplitter(Qt::Vertical, this);
  narration_ = new QTextBrowser(splitter);
  narration_->setObjectName(QStringLiteral("scenarioNarration"));
  narration_->setOpenLinks(false);
  steps_ = new QTreeView(splitter);
  steps_->setObjectName(QStringLiteral("scenarioSteps"));
  steps_->setModel(model_);
  steps_->setHeaderHidden(true);
  steps_->setWordWrap(true);
  steps_->setItemDelegate(new WrappingDelegate(steps_));
  steps_->setTextElideMode(Qt::ElideNone);
  steps_->setUniformRowHeights(false);
  steps_->setSelectionMode(QAbstractItemView::NoSelection);
  steps_->setFocusPolicy(Qt::NoFocus);
  steps_->setIconSize(QSize(16, 16));
  steps_->header()->setStretchLastSection(true);
  steps_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  // The rows' heights depend on the width: a scroll bar that came and went with them would
  // change the width again, and again.
  steps_->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOn);
  splitter->setStretchFactor(0, 2);
  splitter->setStretchFactor(1, 3);
  layout->addWidget(splitter, 1);
  result_ = new QLabel(this);
  result_->setObjectName(QStringLiteral("scenarioResult"));
  result_->setWordWrap(true);
  result_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(result_);

  connect(model_, &QAbstractItemModel::modelReset, steps_, &QTreeView::expandAll);
  // Wrapped rows are as tall as the width allows: measure them again when either changes.
  connect(steps_->header(), &QHeaderView::sectionResized, steps_, &QTreeView::doItemsLayout);
  connect(model_, &QAbstractItemModel::dataChanged, steps_, &QTreeView::doItemsLayout);
  connect(box_, &QComboBox::currentIndexChanged, this, [this] {
    if (playing()) return;
    if (const ScenarioInfo* s = selected()) model_->setScenario(*s);
    showOverview();
  });
  connect(start_, &QPushButton::clicked, this, &ScenarioPanel::startOrStop);
  countdown_.setInterval(500);
  connect(&countdown_, &QTimer::timeout, model_, &ScenarioStepsModel::tick);
  setRunner(nullptr);
}

void ScenarioPanel::setRunner(ScenarioRunner* runner) {
  if (runner_) disconnect(runner_, nullptr, this, nullptr);
  runner_ = runner;
  if (runner_) {
    connect(runner_, &ScenarioRunner::progress, this, &ScenarioPanel::onProgress);
    connect(runner_, &ScenarioRunner::readyChanged, this, &ScenarioPanel::updateControls);
  }
  reload();
}

void ScenarioPanel::reload() {
  scenarios_ = runner_ ? runner_->scenarios() : QList<ScenarioInfo>();
  const QSignalBlocker block(box_);
  box_->clear();
  for (const ScenarioInfo& s : scenarios_) box_->addItem(s.title, s.name);
  if (const ScenarioInfo* s = selected())
    model_->setScenario(*s);
  else
    model_->setScenario({});
  showOverview();
  updateControls();
}

const ScenarioInfo* ScenarioPanel::selected() const {
  const int i = box_->currentIndex();
  return i >= 0 && i < scenarios_.size() ? &scenarios_[i] : nullptr;
}

bool ScenarioPanel::selectScenario(const QString& name) {
  const int i = box_->findData(name);
  if (i < 0) return false;
  box_->setCurrentIndex(i);
  return true;
}

void ScenarioPanel::setOffline(bool offline) {
  offline_ = offline;
  updateControls();
}

void ScenarioPanel::updateControls() {
  if (!runner_ && offline_) {
    intro_->setText(
        tr("This is a saved snapshot: scenarios play on a running demo mesh, not on a file. "
           "The snapshot's policy history is under Policies → History…"));
  } else if (!runner_) {
    intro_->setText(
        tr("Scenarios play on a demo mesh started by Meshdeck. Start one with <tt>meshdeck "
           "--demo storefront</tt> to walk through a canary going bad, latency injection, "
           "outlier ejection or a retry storm, step by step."));
  } else if (scenarios_.isEmpty()) {
    intro_->setText(tr("No scenario is written for this demo."));
  } else if (playing()) {
    intro_->setText(runner_->ready() ? tr("Playing. Stop (F5) leaves the demo running.")
                                     : tr("The scenario starts once the demo is up…"));
  } else {
    intro_->setText(runner_->ready()
                        ? tr("Pick a scenario and start it (F5).")
                        : tr("The demo is starting; a scenario started now plays once it is up."));
  }
  box_->setEnabled(runner_ && !playing() && !scenarios_.isEmpty());
  start_->setEnabled(runner_ && !scenarios_.isEmpty());
  start_->setText(playing() ? tr("Stop (F5)") : tr("Start (F5)"));
}

void ScenarioPanel::startOrStop() {
  if (!runner_ || !start_->isEnabled()) return;
  if (playing()) {
    runner_->stop();
    return;
  }
  const ScenarioInfo* s = selected();
  if (s == nullptr) return;
  // Policies in force that the scenario would collide with (a form-made canary on the same
  // service, say): set them aside for the scenario and restore them after, or do not play.
  const QStringList collisions = runner_->collisions(s->name);
  if (!collisions.isEmpty()) {
    const auto answer = QMessageBox::question(
        this, tr("Scenario"),
        tr("This scenario would collide with %1 in force. Set them aside for the scenario and "
           "restore them after?")
            .arg(collisions.join(QStringLiteral(", "))),
        QMessageBox::Yes | QMessageBox::No, QMessageBox::Yes);
    if (answer != QMessageBox::Yes) return;
  }
  QString error;
  const bool started = collisions.isEmpty() ? runner_->start(s->name, &error)
                                            : runner_->startSettingAside(s->name, &error);
  if (!started) {
    showResult(tr("Could not start: %1").arg(error.toHtmlEscaped()), QStringLiteral("#d63333"));
    return;
  }
  playing_ = s->name;
  model_->setScenario(*s);
  result_->clear();
  countdown_.start();
  updateControls();
}

void ScenarioPanel::onProgress(const cp::ScenarioEvent& e) {
  using Kind = cp::ScenarioEvent::Kind;
  if (QString::fromStdString(e.scenario) != playing_) return;
  model_->apply(e);
  switch (e.kind) {
    case Kind::kScenarioStarted:
      updateControls();
      break;
    case Kind::kStepStarted:
      if (e.step < size_t(model_->scenario().steps.size())) {
        const int step = int(e.step);
        showStep(step);
        emit focusEdgesChanged(model_->scenario().steps[step].edges);
      }
      break;
    case Kind::kCheckpointPassed:
    case Kind::kCheckpointFailed:
      // The step ends with its checkpoint.
      emit focusEdgesChanged({});
      break;
    case Kind::kScenarioFinished: {
      emit focusEdgesChanged({});
      countdown_.stop();
      const int total = int(model_->scenario().steps.size());
      const QString took = QStringLiteral("%1 s").arg(double(e.at.count()) / 1000.0, 0, 'f', 1);
      const QString why = QString::fromStdString(e.text).toHtmlEscaped();
      if (e.passed) {
        showResult(tr("✔ Passed: all %1 steps in %2.").arg(total).arg(took),
                   QStringLiteral("#1f9d55"));
      } else if (e.cancelled) {
        showResult(
            tr("Stopped after %1 of %2 steps: %3").arg(e.steps_completed).arg(total).arg(why),
            QString());
      } else {
        showResult(
            tr("✘ Failed after %1 of %2 steps: %3").arg(e.steps_completed).arg(total).arg(why),
            QStringLiteral("#d63333"));
      }
      playing_.clear();
      updateControls();
      break;
    }
    default:
      break;
  }
}

void ScenarioPanel::showResult(const QString& html, const QString& colour) {
  result_->setText(
      colour.isEmpty() ? html : QStringLiteral("<b style=\"color:%1\">%2</b>").arg(colour, html));
}

void ScenarioPanel::showOverview() {
  const ScenarioInfo* s = selected();
  if (s == nullptr) {
    narration_->clear();
    return;
  }
  QString html = QStringLiteral("<h3>%1</h3><p>%2</p><ol>")
                     .arg(s->title.toHtmlEscaped(), s->description.toHtmlEscaped());
  for (const ScenarioStepInfo& step : s->steps)
    html += QStringLiteral("<li>%1</li>").arg(step.title.toHtmlEscaped());
  html += QStringLiteral("</ol>");
  narration_->setHtml(html);
}

void ScenarioPanel::showStep(int step) {
  const ScenarioInfo& s = model_->scenario();
  if (step < 0 || step >= s.steps.size()) return;
  const ScenarioStepInfo& info = s.steps[step];
  QString html =
      QStringLiteral("<p style=\"color:gray\">%1 · step %2 of %3</p><h3>%4</h3><p>%5</p>")
          .arg(s.title.toHtmlEscaped())
          .arg(step + 1)
          .arg(s.steps.size())
          .arg(info.title.toHtmlEscaped(), info.narration.toHtmlEscaped());
  if (!info.edges.isEmpty())
    html += tr("<p><b>Watch</b> (outlined in the graph): %1</p>").arg(edgeList(info.edges));
  if (!info.checkpoint.isEmpty())
    html += tr("<p><b>Checkpoint:</b> %1</p>").arg(info.checkpoint.toHtmlEscaped());
  narration_->setHtml(html);
}

}  // namespace meshdeck::ui
