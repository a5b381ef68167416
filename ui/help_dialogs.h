#pragma once

#include <QDialog>
#include <QList>
#include <QString>

#include "ui/graph_style.h"

class QAction;

namespace meshdeck::ui {

// One keyboard shortcut the window registers: where its action lives ("View ▸ Zoom In", or
// "Find field" for an action of a widget), what it does and its keys (native text).
struct ShortcutEntry {
  QString where;
  QString keys;
};

// Every action of `window` (menus, tool bars, widgets) that has a shortcut, in menu order first,
// then the widgets' own actions. Read from the actions, so the list cannot drift from what the
// window really registers.
QList<ShortcutEntry> shortcutEntries(QWidget* window);

// Help ▸ Keyboard Shortcuts: shortcutEntries() in a table.
QDialog* createShortcutsDialog(QWidget* window);

// Help ▸ Legend: every colour, badge and line style of the graph, each drawn by the graph's own
// items (NodeItem, EdgeItem, MtlsBadgeItem) in `style`, with the health rules of `thresholds`.
QDialog* createLegendDialog(const GraphStyle& style, const HealthThresholds& thresholds,
                            QWidget* parent);

}  // namespace meshdeck::ui
