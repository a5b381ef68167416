#pragma once

#include <string>

#include "latency_histogram.h"

namespace meshdeck::v1 {
class Histogram;
}

namespace meshdeck::common {

// Writes `h` sparsely (non-empty buckets only) into `out`.
void toProto(const LatencyHistogram& h, meshdeck::v1::Histogram* out);

// Reads a histogram received from a peer. Returns false and explains in `error` when the
// message is not a valid histogram of our layout (unknown layout, index out of range, indices
// not increasing, counts that do not add up); `out` is then left empty.
bool fromProto(const meshdeck::v1::Histogram& in, LatencyHistogram* out, std::string* error);

// The checks of fromProto() alone, without a dense histogram (3456 buckets to clear and sum):
// true exactly when fromProto() would accept `in`, with the same explanation when not. For
// receivers that keep the buckets sparse.
bool validateProto(const meshdeck::v1::Histogram& in, std::string* error);

}  // namespace meshdeck::common
