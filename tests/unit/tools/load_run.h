// Running meshdeck-load's generator in the tools' unit tests (load_generator_test.cpp,
// load_h2_test.cpp). Header only; needs QtTest.
#pragma once

#include <QtTest>
#include <cstdint>
#include <string>

#include "tools/load/http_url.h"
#include "tools/load/load_generator.h"

namespace meshdeck::tools::testing {

// Options aimed at `url` (a valid http:// URL) with `protocol`, the rest their defaults.
inline LoadOptions optionsFor(const std::string& url,
                              LoadProtocol protocol = LoadProtocol::kHttp1) {
  std::string error;
  LoadOptions o;
  o.url = *parseHttpUrl(url, &error);
  o.protocol = protocol;
  return o;
}

// One run of the generator to its end; a run that cannot start ends the test program.
inline LoadResult runLoad(const LoadOptions& o) {
  LoadGenerator generator(o);
  std::string error;
  auto result = generator.run(&error);
  if (!result) qFatal("load run failed: %s", error.c_str());
  return *result;
}

// Every scheduled request must end in exactly one outcome (a QCOMPARE: call it from a test
// function).
inline void checkAccounting(const LoadResult& r) {
  const auto& s = r.stats;
  uint64_t transport = 0;
  for (const auto n : s.transport_errors) transport += n;
  QCOMPARE(s.completed + transport + s.unfinished, s.scheduled);
}

}  // namespace meshdeck::tools::testing
