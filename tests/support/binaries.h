// Where the integration and GUI tests find the project's programs.
#pragma once

#include <QString>

namespace meshdeck::test {

// The path of the built program `name` (meshdeck-proxy, meshdeckctl, ...) in MESHDECK_BIN_DIR,
// which meshdeck_add_test() sets for every test.
QString bin(const QString& name);

}  // namespace meshdeck::test
