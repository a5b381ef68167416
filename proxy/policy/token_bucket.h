#pragma once

#include "common/token_bucket.h"

namespace meshdeck::proxy {

// The proxy's local rate limits take their tokens from common::TokenBucket.
using common::TokenBucket;

}  // namespace meshdeck::proxy
