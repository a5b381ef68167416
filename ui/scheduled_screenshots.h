#pragma once

#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QWidget>

namespace meshdeck::ui {

// Saves PNGs of a window at given times after start (--screenshot FILE --screenshot-after S),
// for documentation and for looking at what the app shows while a demo comes up. With one time
// the picture is FILE; with several, FILE's base name gets "-<seconds>s" before ".png". Each
// file is written atomically (QSaveFile). finished() is emitted after the last one.
//
// Threading: GUI thread only.
class ScheduledScreenshots : public QObject {
  Q_OBJECT

 public:
  ScheduledScreenshots(QWidget* window, QString file, QList<double> seconds,
                       QObject* parent = nullptr);

  // Parses "3,8,20" (seconds, > 0, at most 20 of them). Returns an empty list with `error` set
  // on bad input.
  static QList<double> parseTimes(const QString& text, QString* error);
  // Where the picture taken at `seconds` goes.
  QString fileFor(double seconds) const;
  void start();

 signals:
  void saved(const QString& path, bool ok);
  void finished(bool all_ok);

 private:
  void take(double seconds);

  QPointer<QWidget> window_;
  QString file_;
  QList<double> seconds_;
  int pending_ = 0;
  bool all_ok_ = true;
};

}  // namespace meshdeck::ui
