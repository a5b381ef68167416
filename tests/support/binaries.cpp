#include "support/binaries.h"

#include <QtGlobal>

namespace meshdeck::test {

QString bin(const QString& name) { return qEnvironmentVariable("MESHDECK_BIN_DIR") + "/" + name; }

}  // namespace meshdeck::test
