#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/latency_histogram.h"
#include "common/telemetry/counter_fields.h"
#include "common/telemetry/grpc_status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace meshdeck::cp::history {

// Counters of one bucket: the edge counters, responses by class and gRPC statuses.
struct BucketCounters {
  MESHDECK_EDGE_COUNTERS(MESHDECK_COUNTER_MEMBER)
  std::array<uint64_t, 5> responses_by_class{};
  common::GrpcStatusCounts grpc_statuses{};
  void add(const BucketCounters& other);
  bool operator==(const BucketCounters&) const = default;
};

enum class SeriesKind : int { kEdge = 0, kService = 1 };

// A latency histogram of the common layout (common/latency_histogram.h) kept sparse: only its
// non-empty buckets, by increasing index. Buckets wait in the writer's queue in this form (a
// dense one is 27 KiB).
struct SparseLatency {
  std::vector<std::pair<uint16_t, uint64_t>> buckets;
  uint64_t count = 0, sum = 0, min = 0, max = 0, underflow = 0, overflow = 0;

  void merge(const SparseLatency& other);
  common::LatencyHistogram dense() const;
  static SparseLatency fromDense(const common::LatencyHistogram& h);
  // Unsigned varints: count, sum, min, max, underflow, overflow, then (index delta, count) per
  // bucket. decode() refuses what encode() cannot have written.
  std::string encode() const;
  static bool decode(const std::string& blob, SparseLatency* out);
  bool operator==(const SparseLatency&) const = default;
};

// One series (an edge, client side; or a service, server side) over one bucket.
struct Bucket {
  int64_t start = 0;  // seconds since the epoch, a multiple of the resolution
  SeriesKind kind = SeriesKind::kEdge;
  std::string source;  // "" for a service
  std::string destination;
  BucketCounters counters;
  SparseLatency latency;
};

// One thing that happened: kind "policy.apply", "proxy.connect", "push.nack", ...
struct Event {
  std::chrono::system_clock::time_point time{};
  std::string kind, subject, detail, author;
};

struct HistoryOptions {
  // Resolution of the fine buckets and how long they are kept; the same for the coarse ones.
  static constexpr int64_t kFineSeconds = 10;
  static constexpr int64_t kCoarseSeconds = 60;
  int64_t fine_retention_seconds = 24 * 3600;
  int64_t coarse_retention_seconds = 30 * 24 * 3600;
  // Ceiling of the database's used pages; the oldest data goes first.
  uint64_t max_bytes = 256ull << 20;
  // Items (buckets, events) waiting for the writer; more are dropped and counted.
  size_t max_queued = 100000;
};

// HistoryStore keeps the mesh's past in one SQLite file (docs/history.md): 10 s and 1 min
// buckets per edge and service with merged latency histograms, events and policy revisions.
//
// Threading: record*() only queue and never touch the disk; one writer thread owns the write
// connection and writes a batch per transaction. Queries use their own connection (WAL lets
// them read while the writer writes) and may be called from any thread. Every method is
// thread-safe.
class HistoryStore {
 public:
  // Opens or creates the database at `path`. A file that is not a database or fails SQLite's
  // quick check is renamed "<path>.corrupt-<UTC timestamp>" (with its -wal and -shm), said in a
  // log line, and a fresh database is created. Null with `error` only when no database can be
  // created at `path` at all.
  static std::unique_ptr<HistoryStore> open(const std::filesystem::path& path,
                                            HistoryOptions options, const common::TimeSource& time,
                                            std::string* error);
  ~HistoryStore();  // writes what is queued, then closes
  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;

  // Queue closed fine buckets (start a multiple of kFineSeconds). Never blocks on disk.
  void recordBuckets(std::vector<Bucket> buckets);
  void recordEvent(Event event);
  void recordRevision(uint64_t revision, std::chrono::system_clock::time_point time,
                      std::string author, std::string summary);
  // Waits until everything queued before the call is written (and rollups, retention and the
  // size limit have run for the current time).
  void flush();

  // Every series with traffic in [from, to), merged over the range. Uses the fine buckets when
  // the whole range is within their retention, the coarse ones otherwise. Sorted by source
  // then destination.
  std::vector<Bucket> seriesBetween(int64_t from, int64_t to, SeriesKind kind,
                                    int64_t* resolution_used = nullptr) const;
  // Buckets of one resolution in [from, to), in (start, source, destination) order (tests and
  // charts).
  std::vector<Bucket> buckets(int64_t resolution, int64_t from, int64_t to) const;
  // Events in [since, until), oldest first; `kinds` empty = all; at most `limit` (the newest).
  std::vector<Event> events(std::chrono::system_clock::time_point since,
                            std::chrono::system_clock::time_point until,
                            const std::vector<std::string>& kinds, size_t limit) const;
  struct Revision {
    uint64_t revision = 0;
    std::chrono::system_clock::time_point time{};
    std::string author, summary;
  };
  // The newest revision recorded at or before `at` (revision 0 when none).
  Revision revisionAt(std::chrono::system_clock::time_point at) const;

  const std::filesystem::path& path() const { return path_; }
  // Bytes of the database's pages in use (the size limit's measure).
  uint64_t usedBytes() const;
  uint64_t droppedItems() const { return dropped_.load(); }
  uint64_t writtenBatches() const { return batches_.load(); }
  // The file moved aside at open ("" when none).
  const std::string& movedAside() const { return moved_aside_; }

 private:
  struct RevisionItem {
    uint64_t revision;
    int64_t time_ms;
    std::string author, summary;
  };
  struct Barrier {
    bool done = false;
  };
  using Item = std::variant<std::vector<Bucket>, Event, RevisionItem, std::shared_ptr<Barrier>>;

  HistoryStore(std::filesystem::path path, HistoryOptions options, const common::TimeSource& time);
  bool openConnections(std::string* error);
  void enqueue(Item item, size_t weight);
  void writerLoop();
  void writeBatch(std::deque<Item>& batch);
  // Adds `b` to the row of (resolution, b.start rounded down, series), creating it if needed.
  void mergeInto(int64_t resolution, const Bucket& b);
  void maintain();
  void rollUp(int64_t now);
  void applyRetention(int64_t now);
  void applySizeLimit();

  const std::filesystem::path path_;
  const HistoryOptions options_;
  const common::TimeSource& time_;
  std::string moved_aside_;
  sqlite3* writer_ = nullptr;           // the writer thread's
  sqlite3_stmt* get_bucket_ = nullptr;  // the writer thread's, prepared once (mergeInto())
  sqlite3_stmt* put_bucket_ = nullptr;
  sqlite3* reader_ = nullptr;  // guarded by read_mutex_
  mutable std::mutex read_mutex_;

  std::mutex mutex_;
  std::condition_variable wake_, written_;
  std::deque<Item> queue_;
  size_t queued_weight_ = 0;
  bool stopping_ = false;
  std::atomic<uint64_t> dropped_{0}, batches_{0};
  int64_t last_maintenance_ = 0;
  int64_t last_size_warning_ = INT64_MIN / 2;  // the writer's
  int64_t rolled_up_until_ = 0;  // the writer's: minutes before it have their coarse bucket
  std::thread writer_thread_;
};

}  // namespace meshdeck::cp::history
