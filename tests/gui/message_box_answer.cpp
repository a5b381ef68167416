#include "gui/message_box_answer.h"

#include <QAbstractButton>
#include <QApplication>
#include <QTest>
#include <QTimer>
#include <functional>

namespace meshdeck::testing {
namespace {

constexpr int kPollMs = 20;

// Polls for the active modal message box; hands it to `click` once found (or gives up).
std::shared_ptr<MessageBoxSeen> answerWith(std::function<void(QMessageBox*)> click,
                                           int timeout_ms) {
  auto seen = std::make_shared<MessageBoxSeen>();
  auto* timer = new QTimer(qApp);
  auto tries_left = std::make_shared<int>(std::max(1, timeout_ms / kPollMs));
  QObject::connect(timer, &QTimer::timeout, [timer, tries_left, seen, click = std::move(click)] {
    auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
    if (box == nullptr && --*tries_left > 0) return;
    timer->deleteLater();
    if (box == nullptr) return;
    seen->text = box->text();
    seen->informative = box->informativeText();
    seen->seen = true;
    click(box);
  });
  timer->start(kPollMs);
  return seen;
}

}  // namespace

std::shared_ptr<MessageBoxSeen> answerNextMessageBox(QMessageBox::StandardButton answer,
                                                     int timeout_ms) {
  return answerWith(
      [answer](QMessageBox* box) {
        if (QAbstractButton* button = box->button(answer))
          QTest::mouseClick(button, Qt::LeftButton);
        else
          box->reject();
      },
      timeout_ms);
}

std::shared_ptr<MessageBoxSeen> answerNextMessageBox(const QString& button_text, int timeout_ms) {
  return answerWith(
      [button_text](QMessageBox* box) {
        for (QAbstractButton* b : box->buttons()) {
          if (b->text() == button_text) {
            QTest::mouseClick(b, Qt::LeftButton);
            return;
          }
        }
        box->reject();
      },
      timeout_ms);
}

}  // namespace meshdeck::testing
