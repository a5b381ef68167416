#pragma once

#include <QDialog>
#include <QString>

class QLabel;
class QLineEdit;
class QListWidget;

namespace meshdeck::ui {

// File → Connect…: how to reach another control plane. Lists the contexts of the contexts file
// meshdeckctl writes (`meshdeckctl config add-context`; common/pki/contexts_file.h), the current
// one selected, and takes an address (HOST:PORT) and an operator's credentials file instead.
// The window connects as `meshdeck --connect TARGET [--credentials FILE]` would
// (MainWindow::connectTo).
class ConnectDialog : public QDialog {
  Q_OBJECT

 public:
  // Reads the contexts file at `contexts_path` (a missing file: no contexts; an unreadable one:
  // said in the dialog).
  explicit ConnectDialog(const QString& contexts_path, QWidget* parent = nullptr);

  // What to connect to: the chosen context's name, or the address typed; "" : nothing chosen.
  QString target() const;
  // The credentials file typed ("" : the context's, or plaintext for an address).
  QString credentials() const;

  QListWidget* contextList() const { return contexts_; }
  QLineEdit* addressEdit() const { return address_; }
  QLineEdit* credentialsEdit() const { return credentials_; }
  // Why the contexts file could not be read ("" : it could, or there is none).
  QString contextsError() const { return contexts_error_; }

 private:
  void browseCredentials();
  void updateOk();

  QListWidget* contexts_;
  QLineEdit* address_;
  QLineEdit* credentials_;
  QLabel* note_;
  QString contexts_error_;
};

}  // namespace meshdeck::ui
