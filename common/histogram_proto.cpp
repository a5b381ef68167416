#include "histogram_proto.h"

#include "meshdeck/v1/telemetry.pb.h"

namespace meshdeck::common {

void toProto(const LatencyHistogram& h, meshdeck::v1::Histogram* out) {
  out->Clear();
  out->set_layout(LatencyHistogram::kLayout);
  for (int i = 0; i < LatencyHistogram::kBucketCount; ++i) {
    if (const uint64_t c = h.bucketCount(i); c != 0) {
      auto* b = out->add_buckets();
      b->set_index(static_cast<uint32_t>(i));
      b->set_count(c);
    }
  }
  out->set_count(h.count());
  out->set_sum_ns(h.sum());
  out->set_min_ns(h.min());
  out->set_max_ns(h.max());
  out->set_underflow(h.underflow());
  out->set_overflow(h.overflow());
}

bool validateProto(const meshdeck::v1::Histogram& in, std::string* error) {
  auto fail = [&](std::string why) {
    if (error) *error = std::move(why);
    return false;
  };
  if (in.layout() != LatencyHistogram::kLayout)
    return fail("unknown histogram layout " + std::to_string(in.layout()));
  int64_t previous = -1;
  uint64_t total = 0;  // wraps like the dense histogram's sum of its buckets
  for (const auto& b : in.buckets()) {
    if (b.index() >= static_cast<uint32_t>(LatencyHistogram::kBucketCount))
      return fail("bucket index " + std::to_string(b.index()) + " out of range");
    if (static_cast<int64_t>(b.index()) <= previous)
      return fail("bucket indices not strictly increasing");
    previous = b.index();
    total += b.count();
  }
  // The conditions of LatencyHistogram::restoreSummary().
  const uint64_t count = in.count(), min = in.min_ns(), max = in.max_ns();
  if (total != count || in.underflow() + in.overflow() > count ||
      (count > 0 && (min > max || min < LatencyHistogram::kLowestTrackable ||
                     max > LatencyHistogram::kHighestTrackable)))
    return fail("histogram summary does not match its buckets");
  return true;
}

bool fromProto(const meshdeck::v1::Histogram& in, LatencyHistogram* out, std::string* error) {
  out->reset();
  if (!validateProto(in, error)) return false;
  for (const auto& b : in.buckets()) out->addToBucket(static_cast<int>(b.index()), b.count());
  const bool restored = out->restoreSummary(in.count(), in.sum_ns(), in.min_ns(), in.max_ns(),
                                            in.underflow(), in.overflow());
  (void)restored;  // validateProto() checked exactly its conditions
  return true;
}

}  // namespace meshdeck::common
