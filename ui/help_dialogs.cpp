#include "ui/help_dialogs.h"

#include <QAction>
#include <QDialogButtonBox>
#include <QGraphicsScene>
#include <QGridLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMainWindow>
#include <QMenu>
#include <QMenuBar>
#include <QPainter>
#include <QScrollArea>
#include <QSet>
#include <QTableWidget>
#include <QVBoxLayout>

#include "ui/graph_items.h"

namespace meshdeck::ui {
namespace {

void collectMenu(QMenu* menu, const QString& path, QList<ShortcutEntry>* out,
                 QSet<QAction*>* seen) {
  for (QAction* a : menu->actions()) {
    const QString text = a->text().remove(QLatin1Char('&'));
    if (a->menu() != nullptr) {
      collectMenu(a->menu(), path + QStringLiteral(" ▸ ") + text, out, seen);
      continue;
    }
    if (a->isSeparator() || seen->contains(a)) continue;
    seen->insert(a);
    for (const QKeySequence& k : a->shortcuts()) {
      out->append({path + QStringLiteral(" ▸ ") + text, k.toString(QKeySequence::NativeText)});
    }
  }
}

// Renders `items` (already in `scene`) around `source` into a pixmap `size` big.
QPixmap renderSwatch(QGraphicsScene* scene, const QRectF& source, QSize size,
                     const GraphStyle& style) {
  QPixmap pixmap(size);
  pixmap.fill(style.background);
  QPainter painter(&pixmap);
  painter.setRenderHints(QPainter::Antialiasing | QPainter::TextAntialiasing);
  scene->render(&painter, QRectF(QPointF(0, 0), QSizeF(size)), source, Qt::KeepAspectRatio);
  return pixmap;
}

cp::WindowMetrics metrics(double rps, double success, double p99_ms) {
  cp::WindowMetrics m;
  m.requests_per_second = rps;
  m.requests = static_cast<uint64_t>(rps * 60);
  m.success_rate = success;
  m.p50_ms = p99_ms / 3;
  m.p90_ms = p99_ms / 1.5;
  m.p99_ms = p99_ms;
  return m;
}

// The graph's own items, drawn for the legend.
class Swatches {
 public:
  Swatches(const GraphStyle& style, const HealthThresholds& thresholds)
      : style_(style), thresholds_(thresholds) {}

  QPixmap node(const QString& tier, const cp::WindowMetrics& inbound, bool highlighted = false) {
    QGraphicsScene scene;
    auto* n = new NodeItem(QStringLiteral("reviews"));
    scene.addItem(n);
    cp::ServiceNode s;
    s.name = "reviews";
    s.versions = {"v1", "v2"};
    s.tier = tier.toStdString();
    s.instances = 3;
    s.inbound = inbound;
    n->setService(s, style_, thresholds_);
    n->placeAt(QPointF(0, 0));
    n->setHighlighted(highlighted);
    return renderSwatch(&scene, n->sceneBoundingRect(), QSize(176, 66), style_);
  }

  QPixmap edge(const cp::WindowMetrics& m, const EdgeBadges& badges = {}, bool focused = false,
               bool highlighted = false, bool warned = false) {
    QGraphicsScene scene;
    auto* a = new NodeItem(QStringLiteral("a"));
    auto* b = new NodeItem(QStringLiteral("b"));
    scene.addItem(a);
    scene.addItem(b);
    a->placeAt(QPointF(0, 0));
    b->placeAt(QPointF(NodeItem::kWidth + 260, 0));
    auto* e = new EdgeItem(a, b);
    scene.addItem(e);
    cp::ServiceEdge edge;
    edge.source = "a";
    edge.destination = "b";
    edge.metrics = m;
    e->setEdge(edge, EdgeMetric::kP99, badges, style_, thresholds_);
    e->setFocused(focused);
    e->setHighlighted(highlighted);
    e->setWarned(warned);
    a->hide();
    b->hide();
    const double x0 = NodeItem::kWidth / 2 - 4, x1 = NodeItem::kWidth / 2 + 264;
    return renderSwatch(&scene, QRectF(x0, -22, x1 - x0, 44), QSize(220, 36), style_);
  }

  QPixmap padlock(const cp::WindowMetrics& m, bool required) {
    QGraphicsScene scene;
    auto* badge = new MtlsBadgeItem(nullptr);
    scene.addItem(badge);
    badge->setState(m, required, style_);
    badge->setVisible(true);
    return renderSwatch(&scene, badge->sceneBoundingRect().adjusted(-2, -2, 2, 2), QSize(36, 36),
                        style_);
  }

 private:
  GraphStyle style_;
  HealthThresholds thresholds_;
};

QLabel* textLabel(const QString& html, QWidget* parent) {
  auto* l = new QLabel(html, parent);
  l->setWordWrap(true);
  l->setTextFormat(Qt::RichText);
  return l;
}

}  // namespace

QList<ShortcutEntry> shortcutEntries(QWidget* window) {
  QList<ShortcutEntry> out;
  QSet<QAction*> seen;
  if (auto* main = qobject_cast<QMainWindow*>(window)) {
    for (QAction* top : main->menuBar()->actions()) {
      if (top->menu() != nullptr)
        collectMenu(top->menu(), top->text().remove(QLatin1Char('&')), &out, &seen);
    }
  }
  // Actions that are in no menu: a widget's own (Escape in the Find field), tool bars.
  for (QAction* a : window->findChildren<QAction*>()) {
    if (seen.contains(a) || a->shortcuts().isEmpty()) continue;
    seen.insert(a);
    QString where = a->text().remove(QLatin1Char('&'));
    if (auto* w = qobject_cast<QWidget*>(a->parent());
        w != nullptr && a->shortcutContext() == Qt::WidgetShortcut) {
      const QString owner = w->accessibleName().isEmpty() ? w->objectName() : w->accessibleName();
      if (!owner.isEmpty()) where = QStringLiteral("%1 ▸ %2").arg(owner, where);
    }
    for (const QKeySequence& k : a->shortcuts())
      out.append({where, k.toString(QKeySequence::NativeText)});
  }
  return out;
}

QDialog* createShortcutsDialog(QWidget* window) {
  auto* dialog = new QDialog(window);
  dialog->setObjectName(QStringLiteral("shortcutsDialog"));
  dialog->setWindowTitle(QObject::tr("Keyboard Shortcuts"));
  auto* layout = new QVBoxLayout(dialog);
  const QList<ShortcutEntry> entries = shortcutEntries(window);
  auto* table = new QTableWidget(int(entries.size()), 2, dialog);
  table->setObjectName(QStringLiteral("shortcutsTable"));
  table->setHorizontalHeaderLabels({QObject::tr("Keys"), QObject::tr("Action")});
  table->verticalHeader()->hide();
  table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table->setSelectionBehavior(QAbstractItemView::SelectRows);
  for (int i = 0; i < entries.size(); ++i) {
    table->setItem(i, 0, new QTableWidgetItem(entries[i].keys));
    table->setItem(i, 1, new QTableWidgetItem(entries[i].where));
  }
  table->resizeColumnsToContents();
  table->horizontalHeader()->setStretchLastSection(true);
  layout->addWidget(table);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, dialog);
  QObject::connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
  layout->addWidget(buttons);
  dialog->resize(560, 520);
  return dialog;
}

QDialog* createLegendDialog(const GraphStyle& style, const HealthThresholds& t, QWidget* parent) {
  auto* dialog = new QDialog(parent);
  dialog->setObjectName(QStringLiteral("legendDialog"));
  dialog->setWindowTitle(QObject::tr("Legend"));
  auto* outer = new QVBoxLayout(dialog);
  auto* scroll = new QScrollArea(dialog);
  scroll->setWidgetResizable(true);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  auto* page = new QWidget(scroll);
  auto* grid = new QGridLayout(page);
  grid->setColumnStretch(1, 1);
  // Room for the vertical scroll bar: the text never runs under it.
  grid->setContentsMargins(8, 8, 24, 8);
  grid->setHorizontalSpacing(14);
  Swatches sw(style, t);
  int row = 0;
  auto heading = [&](const QString& text) {
    auto* l = new QLabel(QStringLiteral("<b>%1</b>").arg(text), page);
    grid->addWidget(l, row++, 0, 1, 2);
  };
  auto add = [&](const QPixmap& pixmap, const QString& html) {
    auto* picture = new QLabel(page);
    picture->setPixmap(pixmap);
    picture->setObjectName(QStringLiteral("legendSwatch"));
    grid->addWidget(picture, row, 0, Qt::AlignLeft | Qt::AlignVCenter);
    grid->addWidget(textLabel(html, page), row++, 1);
  };
  const QString success_warning = formatPercent(t.success_warning);
  const QString success_critical = formatPercent(t.success_critical);
  const QString p99_warning = formatLatency(t.p99_warning_ms);
  const QString p99_critical = formatLatency(t.p99_critical_ms);

  heading(QObject::tr("Services"));
  add(sw.node(QString(), metrics(63, 1.0, 40)),
      QObject::tr("A service: name, versions, and its inbound requests/s and p99 as its own "
                  "proxies measure them. The dot at the top right is its health (colours "
                  "below). Drag to pin it; click to inspect."));
  add(sw.node(QStringLiteral("edge"), metrics(63, 1.0, 40)),
      QObject::tr("The stripe on the left is the tier: <span style='color:%1'>edge</span>, "
                  "<span style='color:%2'>data</span>, other tiers a colour of their own, none "
                  "without a tier.")
          .arg(style.tierColor(QStringLiteral("edge")).name(),
               style.tierColor(QStringLiteral("data")).name()));
  add(sw.node(QString(), metrics(63, 1.0, 40), true),
      QObject::tr("A thick yellow border: the service matches Find (Ctrl+F; Escape clears it). A "
                  "border in the selection colour: the selected service."));

  heading(QObject::tr("Health (service dot, edge colour)"));
  add(sw.edge(metrics(60, 1.0, 40)),
      QObject::tr("<b>Healthy</b>: success rate at least %1 and p99 at most %2.")
          .arg(success_warning, p99_warning));
  add(sw.edge(metrics(60, (t.success_warning + t.success_critical) / 2, 40)),
      QObject::tr("<b>Degraded</b> (amber): success rate below %1 or p99 above %2.")
          .arg(success_warning, p99_warning));
  add(sw.edge(metrics(60, t.success_critical / 1.02, 40)),
      QObject::tr("<b>Failing</b> (red): success rate below %1 or p99 above %2.")
          .arg(success_critical, p99_critical));
  add(sw.edge(cp::WindowMetrics{}),
      QObject::tr("<b>Idle</b>: no request in the window. The edge is dashed, faded and thin, "
                  "its label says \"idle\". View ▸ Health Thresholds changes the limits."));

  heading(QObject::tr("Edges"));
  add(sw.edge(metrics(2, 1.0, 40)),
      QObject::tr("A call from one service to another; the arrow points at the callee. The "
                  "label is the chosen metric (Label box or View ▸ Edge Label, Alt+1…4)."));
  add(sw.edge(metrics(800, 1.0, 40)),
      QObject::tr("Width grows with requests/s. Moving dots show direction and rate (View ▸ "
                  "Animate Traffic); they are never exported."));
  add(sw.edge(metrics(60, 1.0, 40), {}, true),
      QObject::tr("A violet halo: the edges the playing scenario step is about."));
  add(sw.edge(metrics(60, 1.0, 40), {}, false, true),
      QObject::tr("A yellow glow: the edges into services a policy just changed (a few seconds "
                  "after Apply)."));
  add(sw.edge(metrics(60, 1.0, 40), {}, false, false, true),
      QObject::tr("A wide amber halo: the edges a policy in the editor would change in a way that "
                  "is probably not meant (its warnings, after Validate or Apply)."));

  heading(QObject::tr("Badges"));
  EdgeBadges fault, canary, limit;
  fault.fault = true;
  canary.canary = true;
  limit.rate_limit = true;
  add(sw.edge(metrics(60, 1.0, 40), fault),
      QObject::tr("<b>fault</b>: a TrafficRoute injects delays or aborts on this edge."));
  add(sw.edge(metrics(60, 1.0, 40), canary),
      QObject::tr("<b>canary</b>: a TrafficRoute splits the traffic between two or more "
                  "weighted destinations."));
  add(sw.edge(metrics(60, 1.0, 40), limit),
      QObject::tr("<b>limit</b>: a RateLimit applies to this edge."));

  heading(QObject::tr("Transport (padlock after the label)"));
  cp::WindowMetrics all_mtls, mixed, plain;
  all_mtls.mtls_requests = 100;
  mixed.mtls_requests = 60;
  mixed.plaintext_requests = 40;
  plain.plaintext_requests = 100;
  add(sw.padlock(all_mtls, false),
      QObject::tr("Closed, green: every request of the window used mutual TLS."));
  add(sw.padlock(mixed, false),
      QObject::tr("Half open, amber: some requests over mTLS, some in plaintext."));
  add(sw.padlock(plain, false), QObject::tr("Open, red: every request went in plaintext."));
  add(sw.padlock(cp::WindowMetrics{}, true),
      QObject::tr("Hollow, grey: a policy asks for mTLS, no request has shown it yet. No padlock: "
                  "neither traffic nor a policy says anything about mTLS."));

  grid->setRowStretch(row, 1);
  scroll->setWidget(page);
  outer->addWidget(scroll);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, dialog);
  QObject::connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
  outer->addWidget(buttons);
  dialog->resize(700, 720);
  return dialog;
}

}  // namespace meshdeck::ui
