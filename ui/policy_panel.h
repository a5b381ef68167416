#pragma once

#include <QWidget>
#include <optional>
#include <vector>

#include "controlplane/api/types.h"
#include "ui/policy_forms.h"

class QLabel;
class QListWidget;
class QPlainTextEdit;
class QPushButton;
class QTableView;

namespace meshdeck::ui {

class ControlPlaneClient;
class PoliciesModel;
class YamlHighlighter;

// Policies: the list of the current revision (kind, name, target, revision), a YAML editor with
// syntax highlighting, Validate (dry run) and Apply through the control plane, inline errors at
// the line and column it reports (nothing is applied then), warnings (what a valid change would
// do that is probably not meant: shown apart from errors, their edges marked in the graph, and
// Apply asks "Apply anyway" first), Delete, and History with a diff of
// each revision and one-click revert. Forms (canary split, retries, timeout, fault injection,
// mTLS mode, allow/deny) write YAML into the editor for review; they never apply it themselves.
class PolicyPanel : public QWidget {
  Q_OBJECT

 public:
  PolicyPanel(ControlPlaneClient* client, QWidget* parent = nullptr);

  void setReadOnly(bool read_only);
  // Reloads the policy list from the control plane (not while viewing the past).
  void refresh();
  // The timeline shows a past moment: lists `policies` (the revision then in force; nullopt:
  // no longer kept) under a banner saying `banner` ("Viewing 14:03:20 — revision 7"), read-only
  // until showLive(); the editor's text is put aside and comes back then. Live refreshes do not
  // replace the list meanwhile. Emits policiesChanged() (the graph's badges follow).
  void showPast(const QString& banner, const std::optional<std::vector<cp::PolicyInfo>>& policies);
  // Back to the policies in force, editable again (unless read-only), the editor's text back.
  void showLive();
  bool viewingPast() const { return past_; }
  QLabel* pastBanner() const { return past_banner_; }

  QPlainTextEdit* editor() const { return editor_; }
  QListWidget* errorList() const { return errors_; }
  // The warnings of the last Validate or Apply (ApplyResult::warnings), one item each, wrapped,
  // in the warning colour; hidden when there are none.
  QListWidget* warningList() const { return warnings_; }
  QLabel* statusLabel() const { return status_; }
  // Shown under the errors when one lies in another policy in force than the editor's text
  // ("Open TrafficRoute/reviews-canary"): selects that policy and opens it in the editor.
  QPushButton* openReferencedButton() const { return open_referenced_; }
  PoliciesModel* model() const { return model_; }
  QTableView* table() const { return table_; }

 public slots:
  void validate();
  void apply();
  void deleteSelected();
  void showHistory();
  void newFromTemplate();
  void canaryForm();
  // Opens the form (window-modal, non-blocking); OK writes its YAML into the editor.
  void showForm(meshdeck::ui::PolicyFormKind kind);

 signals:
  void policiesChanged(const std::vector<meshdeck::cp::PolicyInfo>& policies);
  // After a successful apply: the services whose edges it affects, for the graph to highlight.
  void applied(const QStringList& targets, quint64 revision);
  // The edges the warnings shown concern (empty once none are shown), for the graph to mark.
  void warningEdgesChanged(const QList<QPair<QString, QString>>& edges);

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void submit(bool dry_run);
  // Apply for real (after a dry run found no warning, or the user chose "Apply anyway").
  void commit(const std::string& yaml);
  void setBusy(bool busy);
  // Asks whether to apply a change with warnings; true for "Apply anyway".
  bool confirmWarnings(const std::vector<cp::PolicyWarning>& warnings);
  void showErrors(const std::vector<common::LocatedError>& errors);
  void showWarnings(const std::vector<cp::PolicyWarning>& warnings);
  void clearErrors();
  void jumpTo(int line, int column);
  // Selects the policy `id` ("Kind/name") in the list, which puts its YAML in the editor, and
  // marks the last errors that lie in it at their lines and columns of that text.
  void openPolicy(const QString& id);
  int rowOfPolicy(const QString& id) const;

  ControlPlaneClient* client_;
  PoliciesModel* model_;
  QTableView* table_;
  QPlainTextEdit* editor_;
  YamlHighlighter* highlighter_;
  QListWidget* errors_;
  QLabel* status_;
  QPushButton* open_referenced_;
  std::vector<common::LocatedError> last_errors_;  // as shown by showErrors()
  QListWidget* warnings_;
  bool warnings_shown_ = false;
  QPushButton* validate_button_;
  QPushButton* apply_button_;
  QPushButton* delete_button_;
  QPushButton* new_button_;
  QPushButton* forms_button_;
  bool read_only_ = false;
  bool busy_ = false;
  QLabel* past_banner_;
  bool past_ = false;
  QString live_text_;  // the editor's text when the past was first shown
};

}  // namespace meshdeck::ui
