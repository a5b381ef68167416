#pragma once

#include <string>

#include "tools/load/load_generator.h"

namespace meshdeck::tools {

// The human summary: what was sent, what came back, errors by kind, achieved rate, and
// latency percentiles measured from the scheduled send times.
std::string formatLoadReportText(const LoadOptions& options, const LoadResult& result);

// The same as one JSON object (latencies in microseconds), for scripts such as
// bench/proxy_bench.sh.
std::string formatLoadReportJson(const LoadOptions& options, const LoadResult& result);

}  // namespace meshdeck::tools
