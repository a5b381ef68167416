#include <CLI/CLI.hpp>

#include "meshdeck/version.h"

int main(int argc, char** argv) {
  CLI::App app{"meshdeckctl"};
  app.set_version_flag("--version", meshdeck::kVersion);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
