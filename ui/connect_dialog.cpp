#include "ui/connect_dialog.h"

#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QVBoxLayout>

#include "common/pki/contexts_file.h"

namespace meshdeck::ui {

ConnectDialog::ConnectDialog(const QString& contexts_path, QWidget* parent) : QDialog(parent) {
  setWindowTitle(tr("Connect to a Control Plane"));
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(tr("Contexts (meshdeckctl config add-context):"), this));
  contexts_ = new QListWidget(this);
  contexts_->setObjectName(QStringLiteral("contextList"));
  layout->addWidget(contexts_);
  note_ = new QLabel(this);
  note_->setWordWrap(true);
  note_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(note_);

  std::string why;
  const auto config = pki::readContexts(contexts_path.toStdString(), &why);
  if (!config) {
    contexts_error_ = QString::fromStdString(why);
    note_->setText(tr("The contexts file cannot be read: %1").arg(contexts_error_));
  } else if (config->contexts.empty()) {
    note_->setText(tr("No contexts in %1. Add one with meshdeckctl config add-context NAME "
                      "--credentials FILE, or give an address below.")
                       .arg(contexts_path));
  } else {
    note_->setText(tr("From %1").arg(contexts_path));
  }
  if (config) {
    for (const auto& c : config->contexts) {
      const QString name = QString::fromStdString(c.name);
      const QString server =
          c.server.empty() ? tr("the credentials file's server") : QString::fromStdString(c.server);
      auto* item =
          new QListWidgetItem(c.name == config->current ? tr("%1 (current) — %2").arg(name, server)
                                                        : tr("%1 — %2").arg(name, server),
                              contexts_);
      item->setData(Qt::UserRole, name);
      item->setToolTip(tr("Credentials %1").arg(QString::fromStdString(c.credentials)));
      if (c.name == config->current) contexts_->setCurrentItem(item);
    }
  }

  auto* form = new QFormLayout;
  address_ = new QLineEdit(this);
  address_->setObjectName(QStringLiteral("addressEdit"));
  address_->setPlaceholderText(tr("HOST:PORT, instead of a context"));
  form->addRow(tr("&Address"), address_);
  auto* row = new QHBoxLayout;
  credentials_ = new QLineEdit(this);
  credentials_->setObjectName(QStringLiteral("credentialsEdit"));
  credentials_->setPlaceholderText(tr("an operator's credentials file (TLS port)"));
  auto* browse = new QPushButton(tr("&Browse…"), this);
  connect(browse, &QPushButton::clicked, this, &ConnectDialog::browseCredentials);
  row->addWidget(credentials_, 1);
  row->addWidget(browse);
  auto* credentials_label = new QLabel(tr("&Credentials"), this);
  credentials_label->setBuddy(credentials_);
  form->addRow(credentials_label, row);
  layout->addLayout(form);

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  buttons->button(QDialogButtonBox::Ok)->setText(tr("C&onnect"));
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  layout->addWidget(buttons);

  // An address typed wins over the selected context; double-clicking a context connects.
  connect(address_, &QLineEdit::textChanged, this, [this](const QString& text) {
    if (!text.trimmed().isEmpty()) contexts_->clearSelection();
    updateOk();
  });
  connect(credentials_, &QLineEdit::textChanged, this, &ConnectDialog::updateOk);
  connect(contexts_, &QListWidget::itemSelectionChanged, this, [this] {
    if (!contexts_->selectedItems().isEmpty()) address_->clear();
    updateOk();
  });
  connect(contexts_, &QListWidget::itemActivated, this, [this] { accept(); });
  updateOk();
  resize(560, 360);
}

QString ConnectDialog::target() const {
  const QString address = address_->text().trimmed();
  if (!address.isEmpty()) return address;
  const auto selected = contexts_->selectedItems();
  return selected.isEmpty() ? QString() : selected.front()->data(Qt::UserRole).toString();
}

QString ConnectDialog::credentials() const { return credentials_->text().trimmed(); }

void ConnectDialog::browseCredentials() {
  const QString path = QFileDialog::getOpenFileName(this, tr("Operator Credentials"), QString(),
                                                    tr("Credentials (*.credentials);;All (*)"));
  if (!path.isEmpty()) credentials_->setText(path);
}

void ConnectDialog::updateOk() {
  // A credentials file alone names its server: enough to connect.
  const bool ok = !target().isEmpty() || !credentials().isEmpty();
  if (auto* box = findChild<QDialogButtonBox*>()) box->button(QDialogButtonBox::Ok)->setEnabled(ok);
}

}  // namespace meshdeck::ui
