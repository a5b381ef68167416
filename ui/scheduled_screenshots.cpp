#include "ui/scheduled_screenshots.h"

#include <QFileInfo>
#include <QPixmap>
#include <QSaveFile>
#include <QTimer>
#include <algorithm>
#include <cmath>

namespace meshdeck::ui {

ScheduledScreenshots::ScheduledScreenshots(QWidget* window, QString file, QList<double> seconds,
                                           QObject* parent)
    : QObject(parent), window_(window), file_(std::move(file)), seconds_(std::move(seconds)) {
  std::sort(seconds_.begin(), seconds_.end());
}

QList<double> ScheduledScreenshots::parseTimes(const QString& text, QString* error) {
  QList<double> out;
  const QStringList parts = text.split(QLatin1Char(','), Qt::SkipEmptyParts);
  if (parts.isEmpty() || parts.size() > 20) {
    *error = QStringLiteral("--screenshot-after takes 1 to 20 times in seconds, e.g. 3,8,20");
    return {};
  }
  for (const QString& p : parts) {
    bool ok = false;
    const double s = p.trimmed().toDouble(&ok);
    if (!ok || !std::isfinite(s) || s <= 0 || s > 24 * 3600) {
      *error = QStringLiteral("--screenshot-after: '%1' is not a time in seconds (> 0)").arg(p);
      return {};
    }
    out << s;
  }
  return out;
}

QString ScheduledScreenshots::fileFor(double seconds) const {
  if (seconds_.size() <= 1) return file_;
  const QFileInfo info(file_);
  const QString dir = info.path() == QLatin1String(".") && !file_.startsWith(QLatin1String("./"))
                          ? QString()
                          : info.path() + QLatin1Char('/');
  return QStringLiteral("%1%2-%3s.png").arg(dir, info.completeBaseName(), QString::number(seconds));
}

void ScheduledScreenshots::start() {
  pending_ = static_cast<int>(seconds_.size());
  for (double s : seconds_) {
    QTimer::singleShot(static_cast<int>(std::lround(s * 1000)), this, [this, s] { take(s); });
  }
}

void ScheduledScreenshots::take(double seconds) {
  const QString path = fileFor(seconds);
  bool ok = false;
  if (window_) {
    const QPixmap picture = window_->grab();
    QSaveFile out(path);
    ok = !picture.isNull() && out.open(QIODevice::WriteOnly) && picture.save(&out, "PNG") &&
         out.commit();
  }
  all_ok_ = all_ok_ && ok;
  emit saved(path, ok);
  if (--pending_ == 0) emit finished(all_ok_);
}

}  // namespace meshdeck::ui
