// Answering the modal QMessageBox a click opens, from GUI tests. A modal box runs its own
// event loop, so the answer is given from a timer that looks for it while that loop runs.
#pragma once

#include <QMessageBox>
#include <QString>
#include <memory>

namespace meshdeck::testing {

// What the answered box said. `seen` turns true once a box was found and answered.
struct MessageBoxSeen {
  bool seen = false;
  QString text;         // the box's text
  QString informative;  // its informative text
};

// Clicks `answer` in the next message box that opens; gives up after `timeout_ms` (the returned
// record then stays unseen, so the caller's QTRY on `seen` fails with a clear message).
std::shared_ptr<MessageBoxSeen> answerNextMessageBox(QMessageBox::StandardButton answer,
                                                     int timeout_ms = 5000);

// The same, clicking the button whose text is `button_text` (for custom buttons such as
// "Apply anyway"); a box without such a button is rejected.
std::shared_ptr<MessageBoxSeen> answerNextMessageBox(const QString& button_text,
                                                     int timeout_ms = 5000);

}  // namespace meshdeck::testing
