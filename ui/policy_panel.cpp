#include "ui/policy_panel.h"

#include <QDateTime>
#include <QDialog>
#include <QDialogButtonBox>
#include <QEvent>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QMenu>
#include <QMessageBox>
#include <QPair>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSet>
#include <QSplitter>
#include <QStyle>
#include <QTableView>
#include <QTextBlock>
#include <QVBoxLayout>
#include <chrono>

#include "ui/column_fitter.h"
#include "ui/control_plane_client.h"
#include "ui/table_models.h"
#include "ui/yaml_highlighter.h"

namespace meshdeck::ui {
namespace {

constexpr int kLineRole = Qt::UserRole + 1;
constexpr int kColumnRole = Qt::UserRole + 2;
constexpr int kFileRole = Qt::UserRole + 3;  // set when the error lies in another policy's text
// The file name under which the editor's text is applied: errors in it are the editor's.
constexpr char kEditorFile[] = "editor";

const char* kTemplate =
    "apiVersion: meshdeck.io/v1alpha1\n"
    "kind: TrafficRoute\n"
    "metadata:\n"
    "  name: reviews-timeout\n"
    "spec:\n"
    "  host: reviews\n"
    "  http:\n"
    "    - timeout: 500ms\n"
    "      retries:\n"
    "        attempts: 2\n"
    "        perTryTimeout: 200ms\n"
    "      route:\n"
    "        - destination:\n"
    "            host: reviews\n";

bool isDark(const QWidget* w) { return w->palette().color(QPalette::Window).lightness() < 128; }

// Warnings read as warnings, apart from the red errors: amber, dark enough on a light window
// and light enough on a dark one.
QColor warningColour(const QWidget* w) {
  return isDark(w) ? QColor(0xe3, 0xb3, 0x41) : QColor(0x9a, 0x67, 0x00);
}

// "line 21, column 7: field: message" for a position in the editor's text; the located text
// otherwise (a warning about another policy in force).
QString locatedText(const common::LocatedError& e, const char* editor_file) {
  const bool in_editor = e.file.empty() || e.file == editor_file;
  if (!in_editor) return QString::fromStdString(e.toString());
  const QString where = e.line > 0 ? QObject::tr("line %1, column %2").arg(e.line).arg(e.column)
                                   : QObject::tr("document");
  return where + QStringLiteral(": ") +
         QString::fromStdString(common::LocatedError{"", 0, 0, e.field, e.message}.toString());
}

QString revisionTime(cp::SystemTime t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  return QDateTime::fromMSecsSinceEpoch(ms).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
}

}  // namespace

PolicyPanel::PolicyPanel(ControlPlaneClient* client, QWidget* parent)
    : QWidget(parent), client_(client), model_(new PoliciesModel(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  past_banner_ = new QLabel(this);
  past_banner_->setObjectName(QStringLiteral("policyPastBanner"));
  past_banner_->setWordWrap(true);
  past_banner_->setStyleSheet(QStringLiteral(
      "background: palette(highlight); color: palette(highlighted-text); padding: 4px; "
      "font-weight: bold"));
  past_banner_->hide();
  layout->addWidget(past_banner_);
  auto* splitter = new QSplitter(Qt::Vertical, this);

  table_ = new QTableView(splitter);
  table_->setModel(model_);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->verticalHeader()->hide();
  table_->setAlternatingRowColors(true);
  // A long name elides (its tooltip is the YAML) before Target or Revision goes.
  auto* fitter = new ColumnFitter(table_, {PoliciesModel::kName, PoliciesModel::kKind,
                                           PoliciesModel::kTarget, PoliciesModel::kRevision});
  fitter->setElastic(PoliciesModel::kName, 100);
  connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          [this](const QModelIndex& current) {
            if (const cp::PolicyInfo* p = model_->policyAt(current.row())) {
              editor_->setPlainText(QString::fromStdString(p->yaml));
              clearErrors();
              status_->setText(
                  tr("%1/%2 (revision %3)")
                      .arg(QString::fromStdString(p->kind), QString::fromStdString(p->name))
                      .arg(p->revision));
            }
          });

  auto* editor_box = new QWidget(splitter);
  auto* el = new QVBoxLayout(editor_box);
  el->setContentsMargins(0, 0, 0, 0);
  editor_ = new QPlainTextEdit(editor_box);
  editor_->setObjectName(QStringLiteral("policyEditor"));
  editor_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  editor_->setLineWrapMode(QPlainTextEdit::NoWrap);
  editor_->setTabChangesFocus(false);
  editor_->setPlaceholderText(
      tr("Policy YAML (apiVersion: meshdeck.io/v1alpha1). Ctrl+Return applies."));
  highlighter_ = new YamlHighlighter(editor_->document(), isDark(this));
  connect(editor_, &QPlainTextEdit::textChanged, this, [this] {
    // Errors refer to the text that was submitted; once it changes they would point wrongly.
    if (!editor_->extraSelections().isEmpty()) editor_->setExtraSelections({});
  });
  el->addWidget(editor_, 1);

  errors_ = new QListWidget(editor_box);
  errors_->setObjectName(QStringLiteral("policyErrors"));
  errors_->setMaximumHeight(90);
  errors_->hide();
  auto follow = [this](QListWidgetItem* item) {
    const QString file = item->data(kFileRole).toString();
    if (!file.isEmpty())
      openPolicy(file);
    else
      jumpTo(item->data(kLineRole).toInt(), item->data(kColumnRole).toInt());
  };
  connect(errors_, &QListWidget::itemActivated, this, follow);
  connect(errors_, &QListWidget::itemClicked, this, follow);
  el->addWidget(errors_);

  warnings_ = new QListWidget(editor_box);
  warnings_->setObjectName(QStringLiteral("policyWarnings"));
  // Whole messages, wrapped at the panel's width: a warning cut short would hide its point.
  warnings_->setWordWrap(true);
  warnings_->setTextElideMode(Qt::ElideNone);
  warnings_->setResizeMode(QListView::Adjust);
  warnings_->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
  warnings_->setMaximumHeight(130);
  warnings_->hide();
  connect(warnings_, &QListWidget::itemClicked, this, [this](QListWidgetItem* item) {
    jumpTo(item->data(kLineRole).toInt(), item->data(kColumnRole).toInt());
  });
  el->addWidget(warnings_);

  open_referenced_ = new QPushButton(editor_box);
  open_referenced_->setObjectName(QStringLiteral("openReferencedPolicy"));
  open_referenced_->hide();
  connect(open_referenced_, &QPushButton::clicked, this,
          [this] { openPolicy(open_referenced_->property("policyId").toString()); });
  el->addWidget(open_referenced_, 0, Qt::AlignLeft);

  status_ = new QLabel(editor_box);
  status_->setWordWrap(true);
  el->addWidget(status_);

  auto* buttons = new QHBoxLayout;
  new_button_ = new QPushButton(tr("New"), editor_box);
  forms_button_ = new QPushButton(tr("Forms"), editor_box);
  forms_button_->setObjectName(QStringLiteral("formsButton"));
  forms_button_->setToolTip(
      tr("Write a policy from a form: canary, retries, timeout, fault, "
         "mTLS, allow/deny"));
  auto* forms_menu = new QMenu(forms_button_);
  for (PolicyFormKind kind :
       {PolicyFormKind::kCanary, PolicyFormKind::kRetries, PolicyFormKind::kTimeout,
        PolicyFormKind::kFault, PolicyFormKind::kMtls, PolicyFormKind::kAuthorization}) {
    forms_menu->addAction(displayName(kind) + QStringLiteral("…"), this,
                          [this, kind] { showForm(kind); });
  }
  forms_button_->setMenu(forms_menu);
  validate_button_ = new QPushButton(tr("Validate"), editor_box);
  apply_button_ = new QPushButton(tr("Apply"), editor_box);
  apply_button_->setObjectName(QStringLiteral("applyButton"));
  apply_button_->setDefault(true);
  delete_button_ = new QPushButton(tr("Delete"), editor_box);
  auto* history_button = new QPushButton(tr("History…"), editor_box);
  // Two rows keep the panel narrow enough to leave the graph most of the window.
  for (auto* b : {validate_button_, apply_button_, delete_button_}) buttons->addWidget(b);
  buttons->addStretch();
  auto* more = new QHBoxLayout;
  for (auto* b : {new_button_, forms_button_, history_button}) more->addWidget(b);
  more->addStretch();
  el->addLayout(buttons);
  el->addLayout(more);
  connect(new_button_, &QPushButton::clicked, this, &PolicyPanel::newFromTemplate);
  connect(validate_button_, &QPushButton::clicked, this, &PolicyPanel::validate);
  connect(apply_button_, &QPushButton::clicked, this, &PolicyPanel::apply);
  connect(delete_button_, &QPushButton::clicked, this, &PolicyPanel::deleteSelected);
  connect(history_button, &QPushButton::clicked, this, &PolicyPanel::showHistory);

  splitter->addWidget(table_);
  splitter->addWidget(editor_box);
  splitter->setStretchFactor(0, 1);
  splitter->setStretchFactor(1, 2);
  layout->addWidget(splitter);
}

void PolicyPanel::setReadOnly(bool read_only) {
  read_only_ = read_only;
  editor_->setReadOnly(read_only);
  for (auto* b : {new_button_, forms_button_, validate_button_, apply_button_, delete_button_}) {
    b->setEnabled(!read_only);
  }
  if (read_only) status_->setText(tr("Read-only: this is a saved snapshot."));
}

void PolicyPanel::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange) highlighter_->setDark(isDark(this));
  QWidget::changeEvent(event);
}

void PolicyPanel::refresh() {
  if (past_) return;
  client_->run<std::vector<cp::PolicyInfo>>([](cp::ControlPlane& cp) { return cp.policies(); },
                                            this,
                                            [this](std::vector<cp::PolicyInfo> policies) {
                                              if (past_) return;  // the past came meanwhile
                                              model_->setPolicies(policies);
                                              emit policiesChanged(policies);
                                            });
}

void PolicyPanel::showPast(const QString& banner,
                           const std::optional<std::vector<cp::PolicyInfo>>& policies) {
  if (!past_) {
    past_ = true;
    live_text_ = editor_->toPlainText();
    clearErrors();
  }
  past_banner_->setText(
      policies ? tr("%1 · read-only").arg(banner)
               : tr("%1 · read-only · this control plane no longer keeps that revision's "
                    "policies")
                     .arg(banner));
  past_banner_->show();
  editor_->setReadOnly(true);
  for (auto* b : {new_button_, forms_button_, validate_button_, apply_button_, delete_button_})
    b->setEnabled(false);
  const std::vector<cp::PolicyInfo> shown = policies.value_or(std::vector<cp::PolicyInfo>{});
  model_->setPolicies(shown);
  if (shown.empty()) editor_->clear();
  emit policiesChanged(shown);
}

void PolicyPanel::showLive() {
  if (!past_) return;
  past_ = false;
  past_banner_->hide();
  editor_->setReadOnly(read_only_);
  for (auto* b : {new_button_, forms_button_, validate_button_, apply_button_, delete_button_})
    b->setEnabled(!read_only_);
  setBusy(busy_);
  editor_->setPlainText(live_text_);
  status_->clear();
  if (read_only_) status_->setText(tr("Read-only: this is a saved snapshot."));
  refresh();
}

void PolicyPanel::validate() { submit(true); }

void PolicyPanel::apply() { submit(false); }

void PolicyPanel::setBusy(bool busy) {
  busy_ = busy;
  apply_button_->setEnabled(!busy && !read_only_ && !past_);
  validate_button_->setEnabled(!busy && !read_only_ && !past_);
}

void PolicyPanel::submit(bool dry_run) {
  if (read_only_ || busy_ || past_) return;
  const std::string yaml = editor_->toPlainText().toStdString();
  if (editor_->toPlainText().trimmed().isEmpty()) {
    status_->setText(tr("Nothing to apply: the editor is empty."));
    return;
  }
  setBusy(true);
  status_->setText(dry_run ? tr("Validating…") : tr("Applying…"));
  // Apply validates first: a change with warnings is applied only once the user has read them
  // and chosen "Apply anyway".
  client_->run<cp::ApplyResult>(
      [yaml](cp::ControlPlane& cp) {
        return cp.applyPolicies(yaml, kEditorFile, "meshdeck-ui", true);
      },
      this,
      [this, dry_run, yaml](cp::ApplyResult result) {
        if (!result.ok) {
          setBusy(false);
          showErrors(result.errors);
          status_->setText(tr("<b>Rejected</b>: %n error(s); nothing was changed.", "",
                              static_cast<int>(result.errors.size())));
          return;
        }
        clearErrors();
        showWarnings(result.warnings);
        const int count = static_cast<int>(result.warnings.size());
        if (dry_run) {
          setBusy(false);
          if (count == 0) {
            status_->setText(tr("Valid. %1").arg(QString::fromStdString(result.summary)));
          } else {
            status_->setText(
                tr("<span style=\"color:%1\"><b>Valid, with %n warning(s)</b></span>: it can "
                   "be applied, but probably does not do what you mean. %2",
                   "", count)
                    .arg(warningColour(this).name(),
                         QString::fromStdString(result.summary).toHtmlEscaped()));
          }
          return;
        }
        if (count > 0 && !confirmWarnings(result.warnings)) {
          setBusy(false);
          status_->setText(tr("Not applied: %n warning(s) to look at first.", "", count));
          return;
        }
        commit(yaml);
      });
}

bool PolicyPanel::confirmWarnings(const std::vector<cp::PolicyWarning>& warnings) {
  QStringList lines;
  for (const auto& w : warnings) lines << QStringLiteral("• ") + locatedText(w.where, kEditorFile);
  QMessageBox box(QMessageBox::Warning, tr("Apply with warnings"),
                  tr("This change is valid, but %n warning(s) say it probably does not do what "
                     "you mean. Apply it anyway?",
                     "", static_cast<int>(warnings.size())),
                  QMessageBox::Cancel, this);
  box.setObjectName(QStringLiteral("applyWarningsConfirmation"));
  box.setInformativeText(lines.join(QLatin1Char('\n')));
  QPushButton* anyway = box.addButton(tr("Apply anyway"), QMessageBox::AcceptRole);
  anyway->setObjectName(QStringLiteral("applyAnyway"));
  box.setDefaultButton(QMessageBox::Cancel);
  box.exec();
  return box.clickedButton() == anyway;
}

void PolicyPanel::commit(const std::string& yaml) {
  client_->run<cp::ApplyResult>(
      [yaml](cp::ControlPlane& cp) {
        return cp.applyPolicies(yaml, kEditorFile, "meshdeck-ui", false);
      },
      this,
      [this](cp::ApplyResult result) {
        setBusy(false);
        if (!result.ok) {
          showErrors(result.errors);
          status_->setText(tr("<b>Rejected</b>: %n error(s); nothing was changed.", "",
                              static_cast<int>(result.errors.size())));
          return;
        }
        clearErrors();
        showWarnings(result.warnings);
        status_->setText(result.warnings.empty()
                             ? tr("Applied as revision %1. %2")
                                   .arg(result.revision)
                                   .arg(QString::fromStdString(result.summary))
                             : tr("Applied as revision %1, with %n warning(s). %2", "",
                                  static_cast<int>(result.warnings.size()))
                                   .arg(result.revision)
                                   .arg(QString::fromStdString(result.summary)));
        const quint64 revision = result.revision;
        client_->run<std::vector<cp::PolicyInfo>>(
            [](cp::ControlPlane& cp) { return cp.policies(); }, this,
            [this, revision](std::vector<cp::PolicyInfo> policies) {
              model_->setPolicies(policies);
              QStringList targets;
              for (const auto& p : policies) {
                if (p.revision == revision && !p.target.empty()) {
                  targets << QString::fromStdString(p.target);
                }
              }
              emit policiesChanged(policies);
              emit applied(targets, revision);
            });
      });
}

void PolicyPanel::showWarnings(const std::vector<cp::PolicyWarning>& warnings) {
  warnings_->clear();
  const QColor colour = warningColour(this);
  QList<QTextEdit::ExtraSelection> marks = editor_->extraSelections();
  QList<QPair<QString, QString>> edges;
  for (const auto& w : warnings) {
    const QString text = tr("warning: %1").arg(locatedText(w.where, kEditorFile));
    auto* item = new QListWidgetItem(text, warnings_);
    item->setToolTip(text);
    item->setForeground(colour);
    item->setIcon(style()->standardIcon(QStyle::SP_MessageBoxWarning));
    for (const auto& e : w.edges) {
      const QPair<QString, QString> edge{QString::fromStdString(e.source),
                                         QString::fromStdString(e.destination)};
      if (!edges.contains(edge)) edges << edge;
    }
    const bool in_editor = w.where.file.empty() || w.where.file == kEditorFile;
    if (!in_editor || w.where.line == 0) continue;
    item->setData(kLineRole, int(w.where.line));
    item->setData(kColumnRole, int(w.where.column));
    const QTextBlock block = editor_->document()->findBlockByNumber(int(w.where.line) - 1);
    if (!block.isValid()) continue;
    QTextEdit::ExtraSelection line;
    QColor faint = colour;
    faint.setAlpha(45);
    line.format.setBackground(faint);
    line.format.setProperty(QTextFormat::FullWidthSelection, true);
    line.format.setToolTip(text);
    line.cursor = QTextCursor(block);
    marks << line;
  }
  warnings_->setVisible(!warnings.empty());
  editor_->setExtraSelections(marks);
  if (!warnings.empty() || warnings_shown_) emit warningEdgesChanged(edges);
  warnings_shown_ = !warnings.empty();
}

void PolicyPanel::showErrors(const std::vector<common::LocatedError>& errors) {
  showWarnings({});  // a refused change has none, and earlier ones no longer hold
  errors_->clear();
  last_errors_ = errors;
  QList<QTextEdit::ExtraSelection> marks;
  const QColor error_colour(0xd6, 0x33, 0x33);
  QString first_other;
  for (const auto& e : errors) {
    const bool in_editor = e.file.empty() || e.file == kEditorFile;
    QString text;
    if (in_editor) {
      // The editor is the file: its position in words (a click jumps there), then the error's
      // own text without the location ("field: message").
      const QString where =
          e.line > 0 ? tr("line %1, column %2").arg(e.line).arg(e.column) : tr("document");
      text = where + QStringLiteral(": ") +
             QString::fromStdString(common::LocatedError{"", 0, 0, e.field, e.message}.toString());
    } else {
      // Another policy's text (a policy in force that the change would break): its line and
      // column are not the editor's, so none is shown; the policy is named, and a click opens it
      // (then its errors are marked at their places in the text shown).
      const QString file = QString::fromStdString(e.file);
      const QString rest =
          QString::fromStdString(common::LocatedError{"", 0, 0, e.field, e.message}.toString());
      text =
          QString::fromStdString(e.message).contains(file) ? rest : tr("in %1: %2").arg(file, rest);
      if (rowOfPolicy(file) >= 0 && first_other.isEmpty()) first_other = file;
    }
    auto* item = new QListWidgetItem(text, errors_);
    item->setToolTip(text);
    item->setForeground(error_colour);
    if (!in_editor) {
      if (rowOfPolicy(QString::fromStdString(e.file)) >= 0)
        item->setData(kFileRole, QString::fromStdString(e.file));
      continue;
    }
    item->setData(kLineRole, int(e.line));
    item->setData(kColumnRole, int(e.column));
    if (e.line == 0) continue;
    const QTextBlock block = editor_->document()->findBlockByNumber(int(e.line) - 1);
    if (!block.isValid()) continue;
    // The whole line gets a faint background; the token at the column a wavy underline.
    QTextEdit::ExtraSelection line;
    line.format.setBackground(QColor(0xd6, 0x33, 0x33, 40));
    line.format.setProperty(QTextFormat::FullWidthSelection, true);
    line.cursor = QTextCursor(block);
    marks << line;
    QTextEdit::ExtraSelection token;
    token.format.setUnderlineStyle(QTextCharFormat::WaveUnderline);
    token.format.setUnderlineColor(error_colour);
    token.format.setToolTip(text);
    QTextCursor c(block);
    const int column = std::max(0, int(e.column) - 1);
    c.movePosition(QTextCursor::Right, QTextCursor::MoveAnchor,
                   std::min(column, block.length() - 1));
    c.movePosition(QTextCursor::EndOfWord, QTextCursor::KeepAnchor);
    if (!c.hasSelection()) c.movePosition(QTextCursor::EndOfBlock, QTextCursor::KeepAnchor);
    token.cursor = c;
    marks << token;
  }
  errors_->setVisible(!errors.empty());
  open_referenced_->setProperty("policyId", first_other);
  open_referenced_->setText(tr("Open %1").arg(first_other));
  open_referenced_->setVisible(!first_other.isEmpty());
  editor_->setExtraSelections(marks);
  for (const auto& e : errors) {
    if (e.file.empty() || e.file == kEditorFile) {
      jumpTo(int(e.line), int(e.column));
      break;
    }
  }
}

void PolicyPanel::clearErrors() {
  errors_->clear();
  errors_->hide();
  open_referenced_->hide();
  editor_->setExtraSelections({});
  warnings_->clear();
  warnings_->hide();
  if (warnings_shown_) emit warningEdgesChanged({});
  warnings_shown_ = false;
}

int PolicyPanel::rowOfPolicy(const QString& id) const {
  for (int row = 0; row < model_->rowCount(); ++row) {
    const cp::PolicyInfo* p = model_->policyAt(row);
    if (p != nullptr && QString::fromStdString(p->kind + "/" + p->name) == id) return row;
  }
  return -1;
}

void PolicyPanel::openPolicy(const QString& id) {
  const int row = rowOfPolicy(id);
  if (row < 0) return;
  // Its errors, now in the editor's text (selecting the row replaces the text and clears the
  // marks, so they are taken first).
  std::vector<common::LocatedError> own;
  for (const auto& e : last_errors_) {
    if (QString::fromStdString(e.file) != id) continue;
    own.push_back(e);
    own.back().file = kEditorFile;
  }
  table_->selectRow(row);
  table_->setCurrentIndex(model_->index(row, 0));
  const cp::PolicyInfo* p = model_->policyAt(row);
  editor_->setPlainText(QString::fromStdString(p->yaml));
  showErrors(own);
  status_->setText(tr("Opened %1: change or delete it, then try again.").arg(id));
  editor_->setFocus();
}

void PolicyPanel::jumpTo(int line, int column) {
  if (line <= 0) return;
  const QTextBlock block = editor_->document()->findBlockByNumber(line - 1);
  if (!block.isValid()) return;
  QTextCursor c(block);
  c.movePosition(QTextCursor::Right, QTextCursor::MoveAnchor,
                 std::min(std::max(0, column - 1), block.length() - 1));
  editor_->setTextCursor(c);
  editor_->ensureCursorVisible();
}

void PolicyPanel::deleteSelected() {
  if (read_only_ || past_) return;
  const cp::PolicyInfo* p = model_->policyAt(table_->currentIndex().row());
  if (p == nullptr) {
    status_->setText(tr("Select a policy in the list to delete it."));
    return;
  }
  const std::string kind = p->kind, name = p->name;
  if (QMessageBox::question(this, tr("Delete policy"),
                            tr("Delete %1/%2? This creates a new revision.")
                                .arg(QString::fromStdString(kind), QString::fromStdString(name))) !=
      QMessageBox::Yes) {
    return;
  }
  client_->run<cp::ApplyResult>(
      [kind, name](cp::ControlPlane& cp) { return cp.deletePolicy(kind, name, "meshdeck-ui"); },
      this,
      [this](cp::ApplyResult result) {
        if (!result.ok) {
          showErrors(result.errors);
          status_->setText(tr("Delete refused."));
          return;
        }
        status_->setText(tr("Deleted; revision %1.").arg(result.revision));
        refresh();
      });
}

void PolicyPanel::newFromTemplate() {
  if (past_) return;
  table_->clearSelection();
  editor_->setPlainText(QString::fromLatin1(kTemplate));
  clearErrors();
  status_->setText(tr("A new TrafficRoute: edit it, then Validate or Apply."));
}

void PolicyPanel::canaryForm() { showForm(PolicyFormKind::kCanary); }

void PolicyPanel::showForm(PolicyFormKind kind) {
  if (read_only_ || past_) return;
  // Services and running versions of the latest snapshot fill the pickers; the policies in force
  // let a form extend them instead of writing a conflicting second one.
  QStringList services;
  QMap<QString, QStringList> versions;
  // Only versions with a connected instance are offered: a route to any other fails.
  if (const auto snapshot = client_->latest()) {
    for (const auto& s : snapshot->services) services << QString::fromStdString(s.name);
    for (const auto& p : snapshot->proxies) {
      if (p.state == cp::SyncState::kDisconnected || p.version.empty()) continue;
      QStringList& running = versions[QString::fromStdString(p.service)];
      if (!running.contains(QString::fromStdString(p.version)))
        running << QString::fromStdString(p.version);
    }
    for (QStringList& running : versions) running.sort();
  }
  services.sort();
  auto* dialog = new PolicyFormDialog(kind, services, versions, model_->policies(), this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  connect(dialog, &QDialog::accepted, this, [this, dialog] {
    const PolicyFormResult result = dialog->result();
    table_->clearSelection();
    editor_->setPlainText(result.yaml);
    clearErrors();
    status_->setText(result.summary);
  });
  dialog->open();
}

void PolicyPanel::showHistory() {
  auto* dialog = new QDialog(this);
  dialog->setObjectName("policyHistory");
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->setWindowTitle(tr("Policy history"));
  dialog->resize(820, 520);
  auto* layout = new QVBoxLayout(dialog);
  auto* splitter = new QSplitter(Qt::Horizontal, dialog);
  auto* list = new QListWidget(splitter);
  list->setObjectName("historyList");
  // Long summaries ("created A, created B, ...") wrap instead of being cut.
  list->setWordWrap(true);
  list->setTextElideMode(Qt::ElideNone);
  auto* diff = new QPlainTextEdit(splitter);
  diff->setObjectName("historyDiff");
  diff->setReadOnly(true);
  diff->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  new DiffHighlighter(diff->document());
  splitter->setStretchFactor(1, 3);
  splitter->setSizes({290, 530});
  layout->addWidget(splitter);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, dialog);
  auto* revert = buttons->addButton(tr("Revert to this revision"), QDialogButtonBox::ActionRole);
  revert->setObjectName("historyRevert");
  revert->setEnabled(false);
  connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
  layout->addWidget(buttons);

  // Every revision is diffed against the one before it; revision 1 against the empty set
  // (revision 0), so it shows what it created.
  connect(list, &QListWidget::currentItemChanged, diff,
          [this, list, diff, revert](QListWidgetItem* item) {
            if (item == nullptr) return;
            const uint64_t number = item->data(Qt::UserRole).toULongLong();
            // The newest revision is the one in force: reverting to it would change nothing.
            const bool newest = list->row(item) == 0;
            revert->setEnabled(!read_only_ && number > 0 && !newest);
            revert->setToolTip(newest ? tr("This revision is in force.") : QString());
            diff->setPlainText(tr("Loading…"));
            const QString summary = item->data(Qt::UserRole + 1).toString();
            client_->run<std::string>(
                [number](cp::ControlPlane& cp) {
                  return number > 0 ? cp.diffRevisions(number - 1, number) : std::string();
                },
                diff,
                [diff, number, summary](std::string text) {
                  // Empty: the revision before it is no longer kept (the store keeps the newest
                  // ones); its summary still says what it changed.
                  diff->setPlainText(
                      text.empty() ? QObject::tr("(no diff: revision %1 is no longer kept)\n%2")
                                         .arg(number - 1)
                                         .arg(summary)
                                   : QString::fromStdString(text));
                });
          });
  // Opens on the newest revision.
  client_->run<std::vector<cp::RevisionInfo>>(
      [](cp::ControlPlane& cp) { return cp.revisions(); }, list,
      [this, list, diff](std::vector<cp::RevisionInfo> revisions) {
        if (revisions.empty() && read_only_) {
          diff->setPlainText(
              tr("This snapshot holds no policy history: a snapshot holds the policies in "
                 "force, not their history (older exports carry no revision list)."));
        }
        for (const auto& r : revisions) {
          auto* item =
              new QListWidgetItem(QObject::tr("r%1 · %2 · %3\n%4")
                                      .arg(r.number)
                                      .arg(revisionTime(r.time), QString::fromStdString(r.author),
                                           QString::fromStdString(r.summary)),
                                  list);
          item->setData(Qt::UserRole, QVariant::fromValue<qulonglong>(r.number));
          item->setData(Qt::UserRole + 1, QString::fromStdString(r.summary));
          item->setToolTip(item->text());
        }
        if (list->count() > 0) list->setCurrentRow(0);
      });
  connect(revert, &QPushButton::clicked, dialog, [this, list, dialog] {
    if (list->currentItem() == nullptr) return;
    const uint64_t number = list->currentItem()->data(Qt::UserRole).toULongLong();
    // Confirmed like Delete: a revert replaces every policy in force.
    if (QMessageBox::question(dialog, tr("Revert policies"),
                              tr("Revert to revision %1? The policies in force are replaced by "
                                 "those of revision %1; this creates a new revision.")
                                  .arg(number)) != QMessageBox::Yes) {
      return;
    }
    client_->run<cp::ApplyResult>(
        [number](cp::ControlPlane& cp) { return cp.revertToRevision(number, "meshdeck-ui"); }, this,
        [this, number](cp::ApplyResult result) {
          status_->setText(
              result.ok ? tr("Reverted to revision %1 (now revision %2).")
                              .arg(number)
                              .arg(result.revision)
                        : tr("Revert refused: %1")
                              .arg(result.errors.empty()
                                       ? QString::fromStdString(result.summary)
                                       : QString::fromStdString(result.errors.front().message)));
          refresh();
        });
    dialog->close();
  });
  dialog->show();
}

}  // namespace meshdeck::ui
