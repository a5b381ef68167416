#include "controlplane/history/history_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <system_error>
#include <tuple>

namespace meshdeck::cp::history {

namespace {

using Clock = std::chrono::system_clock;

constexpr int kSchemaVersion = 1;
// The size limit drops data older than the oldest bucket or event by steps of this many seconds.
constexpr int64_t kDropStep = 600;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS buckets (
  id INTEGER PRIMARY KEY,
  resolution INTEGER NOT NULL, start INTEGER NOT NULL, kind INTEGER NOT NULL,
  source TEXT NOT NULL, destination TEXT NOT NULL,
  requests INTEGER NOT NULL, counters BLOB NOT NULL, latency BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS buckets_key
  ON buckets (resolution, start, kind, source, destination);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
  detail TEXT NOT NULL, author TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_time ON events (time_ms);
CREATE TABLE IF NOT EXISTS revisions (
  revision INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, author TEXT NOT NULL,
  summary TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
)sql";

// Errors of the writer (a full or read-only disk fails every statement): the first one, then at
// most one a minute with the number left out, so that a full disk does not fill the log too.
template <typename... Args>
void logError(fmt::format_string<Args...> format, Args&&... args) {
  static std::mutex mutex;
  static std::chrono::steady_clock::time_point last{};
  static uint64_t suppressed = 0;
  std::lock_guard lock(mutex);
  const auto now = std::chrono::steady_clock::now();
  if (last != std::chrono::steady_clock::time_point{} && now - last < std::chrono::minutes(1)) {
    ++suppressed;
    return;
  }
  last = now;
  if (suppressed)
    spdlog::error("history: {} more error(s) in the last minute, not shown", suppressed);
  suppressed = 0;
  spdlog::error(format, std::forward<Args>(args)...);
}

void putVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool getVarint(const std::string& in, size_t* pos, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && *pos < in.size(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in[(*pos)++]);
    *v |= uint64_t(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

// The counters in their documented order: edge counters, classes, gRPC statuses.
template <typename C, typename F>
void forEachCounter(C& c, F&& f) {
#define MESHDECK_HISTORY_VISIT(member, ...) f(c.member);
  MESHDECK_EDGE_COUNTERS(MESHDECK_HISTORY_VISIT)
#undef MESHDECK_HISTORY_VISIT
  for (auto& v : c.responses_by_class) f(v);
  for (auto& v : c.grpc_statuses) f(v);
}

std::string encodeCounters(const BucketCounters& c) {
  std::string out;
  forEachCounter(c, [&](uint64_t v) { putVarint(&out, v); });
  return out;
}

bool decodeCounters(const std::string& blob, BucketCounters* c) {
  size_t pos = 0;
  bool ok = true;
  // Fewer values than counters (a blob from an older layout) leave the rest at zero.
  forEachCounter(*c, [&](uint64_t& v) {
    if (ok && pos < blob.size()) ok = getVarint(blob, &pos, &v);
  });
  return ok;
}

std::string utcStamp(Clock::time_point t) {
  const std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

int64_t toMs(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

Clock::time_point fromMs(int64_t ms) {
  return Clock::time_point{} +
         std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(ms));
}

int64_t floorTo(int64_t t, int64_t step) { return t - (((t % step) + step) % step); }

// A prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      logError("history: cannot prepare \"{}\": {}", sql, sqlite3_errmsg(db));
      stmt_ = nullptr;
    }
  }
  // A statement prepared once and kept by the store: reset, not finalized, at scope exit.
  explicit Statement(sqlite3_stmt* kept) : stmt_(kept), kept_(true) {}
  ~Statement() {
    if (!kept_) {
      sqlite3_finalize(stmt_);
    } else if (stmt_) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return stmt_ != nullptr; }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error.
  int step() { return stmt_ ? sqlite3_step(stmt_) : SQLITE_ERROR; }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const auto* p = sqlite3_column_blob(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  bool kept_ = false;
};

// The statement `*slot` prepared once for `sql` (null when it cannot be prepared).
sqlite3_stmt* kept(sqlite3* db, sqlite3_stmt** slot, const char* sql) {
  if (!*slot &&
      sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, nullptr) != SQLITE_OK) {
    logError("history: cannot prepare \"{}\": {}", sql, sqlite3_errmsg(db));
    *slot = nullptr;
  }
  return *slot;
}

bool exec(sqlite3* db, const char* sql, std::string* error = nullptr) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
  const std::string why = message ? message : sqlite3_errmsg(db);
  sqlite3_free(message);
  if (error)
    *error = why;
  else
    logError("history: \"{}\" failed: {}", sql, why);
  return false;
}

int64_t pragmaValue(sqlite3* db, const char* sql) {
  Statement s(db, sql);
  return s.step() == SQLITE_ROW ? s.integer(0) : 0;
}

// "ok" when the file is a healthy database, else what is wrong.
std::string checkDatabase(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  std::string verdict;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    verdict = db ? sqlite3_errmsg(db) : "cannot open";
  } else {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &stmt, nullptr) != SQLITE_OK) {
      verdict = sqlite3_errmsg(db);
    } else {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW) {
        const auto* text = sqlite3_column_text(stmt, 0);
        verdict = text ? reinterpret_cast<const char*>(text) : "?";
      } else {
        verdict = sqlite3_errmsg(db);
      }
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  // quick_check lists every problem; the first line and a count say enough for a log.
  if (const auto newline = verdict.find('\n'); newline != std::string::npos) {
    const auto lines = std::count(verdict.begin(), verdict.end(), '\n') + 1;
    verdict = verdict.substr(0, newline) + fmt::format(" (and {} more problems)", lines - 1);
  }
  return verdict;
}

void addBucketTo(std::vector<Bucket>& out,
                 std::map<std::tuple<int, std::string, std::string>, size_t>& index, Bucket b) {
  const auto key = std::make_tuple(static_cast<int>(b.kind), b.source, b.destination);
  auto it = index.find(key);
  if (it == index.end()) {
    index.emplace(key, out.size());
    out.push_back(std::move(b));
  } else {
    Bucket& into = out[it->second];
    into.counters.add(b.counters);
    into.latency.merge(b.latency);
  }
}

}  // namespace

void BucketCounters::add(const BucketCounters& o) {
#define MESHDECK_HISTORY_ADD(member, ...) member += o.member;
  MESHDECK_EDGE_COUNTERS(MESHDECK_HISTORY_ADD)
#undef MESHDECK_HISTORY_ADD
  for (size_t i = 0; i < responses_by_class.size(); ++i)
    responses_by_class[i] += o.responses_by_class[i];
  for (size_t i = 0; i < grpc_statuses.size(); ++i) grpc_statuses[i] += o.grpc_statuses[i];
}

void SparseLatency::merge(const SparseLatency& o) {
  if (o.count == 0) return;
  if (count == 0) {
    *this = o;
    return;
  }
  std::vector<std::pair<uint16_t, uint64_t>> merged;
  merged.reserve(buckets.size() + o.buckets.size());
  size_t i = 0, j = 0;
  while (i < buckets.size() || j < o.buckets.size()) {
    if (j == o.buckets.size() || (i < buckets.size() && buckets[i].first < o.buckets[j].first)) {
      merged.push_back(buckets[i++]);
    } else if (i == buckets.size() || o.buckets[j].first < buckets[i].first) {
      merged.push_back(o.buckets[j++]);
    } else {
      merged.emplace_back(buckets[i].first, buckets[i].second + o.buckets[j].second);
      ++i, ++j;
    }
  }
  buckets = std::move(merged);
  count += o.count;
  sum += o.sum;
  min = std::min(min, o.min);
  max = std::max(max, o.max);
  underflow += o.underflow;
  overflow += o.overflow;
}

common::LatencyHistogram SparseLatency::dense() const {
  common::LatencyHistogram h;
  if (count == 0) return h;
  for (const auto& [index, n] : buckets) h.addToBucket(index, n);
  h.addSummary(count, sum, min, max, underflow, overflow);
  return h;
}

SparseLatency SparseLatency::fromDense(const common::LatencyHistogram& h) {
  SparseLatency s;
  if (h.count() == 0) return s;
  for (int i = 0; i < common::LatencyHistogram::kBucketCount; ++i)
    if (const uint64_t n = h.bucketCount(i)) s.buckets.emplace_back(static_cast<uint16_t>(i), n);
  s.count = h.count();
  s.sum = h.sum();
  s.min = h.min();
  s.max = h.max();
  s.underflow = h.underflow();
  s.overflow = h.overflow();
  return s;
}

std::string SparseLatency::encode() const {
  std::string out;
  if (count == 0) return out;
  for (uint64_t v : {count, sum, min, max, underflow, overflow}) putVarint(&out, v);
  putVarint(&out, buckets.size());
  int previous = -1;
  for (const auto& [index, n] : buckets) {
    putVarint(&out, static_cast<uint64_t>(index - previous));
    putVarint(&out, n);
    previous = index;
  }
  return out;
}

bool SparseLatency::decode(const std::string& blob, SparseLatency* out) {
  *out = SparseLatency{};
  if (blob.empty()) return true;
  size_t pos = 0;
  uint64_t n = 0;
  for (uint64_t* v :
       {&out->count, &out->sum, &out->min, &out->max, &out->underflow, &out->overflow})
    if (!getVarint(blob, &pos, v)) return false;
  if (!getVarint(blob, &pos, &n) || n > uint64_t(common::LatencyHistogram::kBucketCount))
    return false;
  int64_t index = -1;
  uint64_t total = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t delta = 0, c = 0;
    if (!getVarint(blob, &pos, &delta) || !getVarint(blob, &pos, &c) || delta == 0) return false;
    index += static_cast<int64_t>(delta);
    if (index >= common::LatencyHistogram::kBucketCount) return false;
    out->buckets.emplace_back(static_cast<uint16_t>(index), c);
    total += c;
  }
  if (pos != blob.size() || total != out->count || out->count == 0 || out->min > out->max) {
    *out = SparseLatency{};
    return false;
  }
  return true;
}

HistoryStore::HistoryStore(std::filesystem::path path, HistoryOptions options,
                           const common::TimeSource& time)
    : path_(std::move(path)), options_(options), time_(time) {}

std::unique_ptr<HistoryStore> HistoryStore::open(const std::filesystem::path& path,
                                                 HistoryOptions options,
                                                 const common::TimeSource& time,
                                                 std::string* error) {
  std::unique_ptr<HistoryStore> store(new HistoryStore(path, options, time));
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    const std::string verdict = checkDatabase(path);
    if (verdict != "ok") {
      const std::string aside = path.string() + ".corrupt-" + utcStamp(time.systemNow());
      std::filesystem::rename(path, aside, ec);
      if (ec) {
        *error = "the history database " + path.string() + " is damaged (" + verdict +
                 ") and cannot be moved aside: " + ec.message();
        return nullptr;
      }
      for (const char* suffix : {"-wal", "-shm"}) {
        std::error_code ignored;
        if (std::filesystem::exists(path.string() + suffix, ignored))
          std::filesystem::rename(path.string() + suffix, aside + suffix, ignored);
      }
      spdlog::error(
          "history: {} is damaged ({}); it was moved to {} and a fresh history database "
          "started (policies, certificates and operators are not affected)",
          path.string(), verdict, aside);
      store->moved_aside_ = aside;
    }
  }
  if (!store->openConnections(error)) return nullptr;
  store->writer_thread_ = std::thread([s = store.get()] { s->writerLoop(); });
  return store;
}

bool HistoryStore::openConnections(std::string* error) {
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path_.c_str(), &writer_, flags, nullptr) != SQLITE_OK) {
    *error = "cannot open the history database " + path_.string() + ": " +
             (writer_ ? sqlite3_errmsg(writer_) : "out of memory");
    return false;
  }
  sqlite3_busy_timeout(writer_, 5000);
  std::string why;
  // auto_vacuum takes effect only before the first table exists: new files get it.
  if (!exec(writer_, "PRAGMA auto_vacuum=INCREMENTAL", &why) ||
      !exec(writer_, "PRAGMA journal_mode=WAL", &why) ||
      !exec(writer_, "PRAGMA synchronous=NORMAL", &why) ||
      !exec(writer_, "PRAGMA journal_size_limit=16777216", &why) || !exec(writer_, kSchema, &why)) {
    *error = "cannot set up the history database " + path_.string() + ": " + why;
    return false;
  }
  {
    Statement put(writer_, "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', ?)");
    put.bind(1, kSchemaVersion).step();
    Statement get(writer_, "SELECT value FROM meta WHERE key='rolled_up_until'");
    if (get.step() == SQLITE_ROW) rolled_up_until_ = get.integer(0);
  }
  if (sqlite3_open_v2(path_.c_str(), &reader_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    *error = "cannot open the history database " + path_.string() + " for reading";
    return false;
  }
  sqlite3_busy_timeout(reader_, 5000);
  return true;
}

HistoryStore::~HistoryStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  sqlite3_finalize(get_bucket_);
  sqlite3_finalize(put_bucket_);
  sqlite3_close(reader_);
  sqlite3_close(writer_);
}

void HistoryStore::enqueue(Item item, size_t weight) {
  {
    std::lock_guard lock(mutex_);
    if (queued_weight_ + weight > options_.max_queued) {
      dropped_ += weight;
      return;
    }
    queued_weight_ += weight;
    queue_.push_back(std::move(item));
  }
  wake_.notify_one();
}

void HistoryStore::recordBuckets(std::vector<Bucket> buckets) {
  if (buckets.empty()) return;
  const size_t n = buckets.size();
  enqueue(std::move(buckets), n);
}

void HistoryStore::recordEvent(Event event) { enqueue(std::move(event), 1); }

void HistoryStore::recordRevision(uint64_t revision, Clock::time_point time, std::string author,
                                  std::string summary) {
  enqueue(RevisionItem{revision, toMs(time), std::move(author), std::move(summary)}, 1);
}

void HistoryStore::flush() {
  auto barrier = std::make_shared<Barrier>();
  std::unique_lock lock(mutex_);
  queue_.push_back(barrier);
  wake_.notify_one();
  written_.wait(lock, [&] { return barrier->done || !writer_thread_.joinable(); });
}

void HistoryStore::writerLoop() {
  std::unique_lock lock(mutex_);
  while (true) {
    // The timed wait lets retention and rollups follow the clock while nothing arrives.
    wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || !queue_.empty(); });
    std::deque<Item> batch;
    batch.swap(queue_);
    queued_weight_ = 0;
    const bool stop = stopping_;
    lock.unlock();
    bool barrier = false;
    for (const auto& item : batch)
      if (std::holds_alternative<std::shared_ptr<Barrier>>(item)) barrier = true;
    if (!batch.empty()) writeBatch(batch);
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(time_.systemNow().time_since_epoch())
            .count();
    if (barrier || now >= last_maintenance_ + HistoryOptions::kFineSeconds) {
      last_maintenance_ = now;
      maintain();
    }
    lock.lock();
    for (auto& item : batch)
      if (auto* b = std::get_if<std::shared_ptr<Barrier>>(&item)) (*b)->done = true;
    if (barrier) written_.notify_all();
    if (stop && queue_.empty()) break;
  }
}

void HistoryStore::mergeInto(int64_t resolution, const Bucket& b) {
  const int64_t start = floorTo(b.start, resolution);
  Bucket merged = b;
  merged.start = start;
  {
    Statement get(kept(writer_, &get_bucket_,
                       "SELECT counters, latency FROM buckets WHERE resolution=? AND start=? AND "
                       "kind=? AND source=? AND destination=?"));
    get.bind(1, resolution)
        .bind(2, start)
        .bind(3, static_cast<int>(b.kind))
        .bind(4, b.source)
        .bind(5, b.destination);
    if (get.step() == SQLITE_ROW) {
      BucketCounters counters;
      SparseLatency latency;
      if (decodeCounters(get.text(0), &counters) && SparseLatency::decode(get.text(1), &latency)) {
        merged.counters.add(counters);
        merged.latency.merge(latency);
      }
    }
  }
  Statement put(kept(writer_, &put_bucket_,
                     "INSERT OR REPLACE INTO buckets(resolution, start, kind, source, "
                     "destination, requests, counters, latency) VALUES(?, ?, ?, ?, ?, ?, ?, ?)"));
  put.bind(1, resolution)
      .bind(2, start)
      .bind(3, static_cast<int>(b.kind))
      .bind(4, b.source)
      .bind(5, b.destination)
      .bind(6, static_cast<int64_t>(merged.counters.requests))
      .bindBlob(7, encodeCounters(merged.counters))
      .bindBlob(8, merged.latency.encode());
  if (put.step() != SQLITE_DONE)
    logError("history: cannot write a bucket: {}", sqlite3_errmsg(writer_));
}

void HistoryStore::writeBatch(std::deque<Item>& batch) {
  exec(writer_, "BEGIN");
  Statement event(
      writer_, "INSERT INTO events(time_ms, kind, subject, detail, author) VALUES(?, ?, ?, ?, ?)");
  Statement revision(writer_,
                     "INSERT OR REPLACE INTO revisions(revision, time_ms, author, summary) "
                     "VALUES(?, ?, ?, ?)");
  for (const auto& item : batch) {
    if (const auto* buckets = std::get_if<std::vector<Bucket>>(&item)) {
      for (const auto& b : *buckets) {
        mergeInto(HistoryOptions::kFineSeconds, b);
        // A bucket of a minute already rolled up (it came late) joins that minute too.
        if (b.start < rolled_up_until_) mergeInto(HistoryOptions::kCoarseSeconds, b);
      }
    } else if (const auto* e = std::get_if<Event>(&item)) {
      event.bind(1, toMs(e->time))
          .bind(2, e->kind)
          .bind(3, e->subject)
          .bind(4, e->detail)
          .bind(5, e->author);
      if (event.step() != SQLITE_DONE)
        logError("history: cannot write an event: {}", sqlite3_errmsg(writer_));
      event.reset();
    } else if (const auto* r = std::get_if<RevisionItem>(&item)) {
      revision.bind(1, static_cast<int64_t>(r->revision))
          .bind(2, r->time_ms)
          .bind(3, r->author)
          .bind(4, r->summary);
      if (revision.step() != SQLITE_DONE)
        logError("history: cannot write a revision: {}", sqlite3_errmsg(writer_));
      revision.reset();
    }
  }
  exec(writer_, "COMMIT");
  ++batches_;
}

void HistoryStore::maintain() {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(time_.systemNow().time_since_epoch())
          .count();
  exec(writer_, "BEGIN");
  rollUp(now);
  applyRetention(now);
  exec(writer_, "COMMIT");
  applySizeLimit();
}

void HistoryStore::rollUp(int64_t now) {
  // A minute is closed once the clock is a fine bucket past its end (its last 10 s bucket is
  // sent when it closes).
  const int64_t until = floorTo(now - HistoryOptions::kFineSeconds, HistoryOptions::kCoarseSeconds);
  if (until <= rolled_up_until_) return;
  Statement rows(writer_,
                 "SELECT start, kind, source, destination, counters, latency FROM buckets "
                 "WHERE resolution=? AND start>=? AND start<? ORDER BY start");
  rows.bind(1, HistoryOptions::kFineSeconds).bind(2, rolled_up_until_).bind(3, until);
  std::map<std::tuple<int64_t, int, std::string, std::string>, Bucket> minutes;
  while (rows.step() == SQLITE_ROW) {
    Bucket b;
    b.start = floorTo(rows.integer(0), HistoryOptions::kCoarseSeconds);
    b.kind = static_cast<SeriesKind>(rows.integer(1));
    b.source = rows.text(2);
    b.destination = rows.text(3);
    if (!decodeCounters(rows.text(4), &b.counters) ||
        !SparseLatency::decode(rows.text(5), &b.latency))
      continue;
    auto [it, inserted] = minutes.try_emplace(
        std::make_tuple(b.start, static_cast<int>(b.kind), b.source, b.destination), b);
    if (!inserted) {
      it->second.counters.add(b.counters);
      it->second.latency.merge(b.latency);
    }
  }
  for (const auto& [key, b] : minutes) mergeInto(HistoryOptions::kCoarseSeconds, b);
  rolled_up_until_ = until;
  Statement put(writer_, "INSERT OR REPLACE INTO meta(key, value) VALUES('rolled_up_until', ?)");
  put.bind(1, until).step();
}

void HistoryStore::applyRetention(int64_t now) {
  Statement fine(writer_, "DELETE FROM buckets WHERE resolution=? AND start<?");
  fine.bind(1, HistoryOptions::kFineSeconds).bind(2, now - options_.fine_retention_seconds).step();
  Statement coarse(writer_, "DELETE FROM buckets WHERE resolution=? AND start<?");
  coarse.bind(1, HistoryOptions::kCoarseSeconds)
      .bind(2, now - options_.coarse_retention_seconds)
      .step();
  Statement events(writer_, "DELETE FROM events WHERE time_ms<?");
  events.bind(1, (now - options_.coarse_retention_seconds) * 1000).step();
}

uint64_t HistoryStore::usedBytes() const {
  std::lock_guard lock(read_mutex_);
  const int64_t pages = pragmaValue(reader_, "PRAGMA page_count");
  const int64_t free = pragmaValue(reader_, "PRAGMA freelist_count");
  return static_cast<uint64_t>(std::max<int64_t>(0, pages - free) *
                               pragmaValue(reader_, "PRAGMA page_size"));
}

void HistoryStore::applySizeLimit() {
  const auto used = [&] {
    return static_cast<uint64_t>(
        std::max<int64_t>(0, pragmaValue(writer_, "PRAGMA page_count") -
                                 pragmaValue(writer_, "PRAGMA freelist_count")) *
        pragmaValue(writer_, "PRAGMA page_size"));
  };
  if (used() <= options_.max_bytes) return;
  const uint64_t before = used();
  int64_t dropped_until = 0;
  // Bounded: every round deletes the oldest kDropStep that holds data.
  for (int round = 0; round < 100000 && used() > options_.max_bytes; ++round) {
    Statement oldest(writer_,
                     "SELECT MIN(t) FROM (SELECT MIN(start) AS t FROM buckets WHERE "
                     "resolution=10 UNION ALL SELECT MIN(start) FROM buckets WHERE resolution=60 "
                     "UNION ALL SELECT MIN(time_ms) / 1000 FROM events)");
    if (oldest.step() != SQLITE_ROW || oldest.null(0)) break;
    const int64_t first = oldest.integer(0);
    const int64_t cut = floorTo(first, kDropStep) + kDropStep;
    exec(writer_, "BEGIN");
    Statement b(writer_, "DELETE FROM buckets WHERE resolution IN (10, 60) AND start<?");
    b.bind(1, cut).step();
    Statement e(writer_, "DELETE FROM events WHERE time_ms<?");
    e.bind(1, cut * 1000).step();
    Statement r(writer_, "DELETE FROM revisions WHERE time_ms<?");
    r.bind(1, cut * 1000).step();
    exec(writer_, "COMMIT");
    dropped_until = cut;
    // Deleted pages count as used until they are given back.
    exec(writer_, "PRAGMA incremental_vacuum");
  }
  exec(writer_, "PRAGMA incremental_vacuum");
  exec(writer_, "PRAGMA wal_checkpoint(TRUNCATE)");
  // A full store drops data every few minutes: say so once an hour, not each time.
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(time_.systemNow().time_since_epoch())
          .count();
  if (now >= last_size_warning_ + 3600 || now < last_size_warning_) {
    last_size_warning_ = now;
    spdlog::warn(
        "history: {} reached its limit of {} MiB ({:.1f} MiB used): data before {} was dropped "
        "(the oldest goes first; --history-max-mb raises the limit)",
        path_.string(), options_.max_bytes >> 20, double(before) / (1 << 20),
        utcStamp(Clock::time_point{} + std::chrono::seconds(dropped_until)));
  }
}

std::vector<Bucket> HistoryStore::buckets(int64_t resolution, int64_t from, int64_t to) const {
  std::lock_guard lock(read_mutex_);
  Statement rows(reader_,
                 "SELECT start, kind, source, destination, counters, latency FROM buckets "
                 "WHERE resolution=? AND start>=? AND start<? ORDER BY start, kind, source, "
                 "destination");
  rows.bind(1, resolution).bind(2, from).bind(3, to);
  std::vector<Bucket> out;
  while (rows.step() == SQLITE_ROW) {
    Bucket b;
    b.start = rows.integer(0);
    b.kind = static_cast<SeriesKind>(rows.integer(1));
    b.source = rows.text(2);
    b.destination = rows.text(3);
    if (!decodeCounters(rows.text(4), &b.counters) ||
        !SparseLatency::decode(rows.text(5), &b.latency))
      continue;
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<Bucket> HistoryStore::seriesBetween(int64_t from, int64_t to, SeriesKind kind,
                                                int64_t* resolution_used) const {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(time_.systemNow().time_since_epoch())
          .count();
  const bool fine = from >= now - options_.fine_retention_seconds;
  const int64_t resolution = fine ? HistoryOptions::kFineSeconds : HistoryOptions::kCoarseSeconds;
  if (resolution_used) *resolution_used = resolution;
  std::vector<Bucket> out;
  std::map<std::tuple<int, std::string, std::string>, size_t> index;
  for (auto& b : buckets(resolution, floorTo(from, resolution), to))
    if (b.kind == kind) addBucketTo(out, index, std::move(b));
  for (auto& b : out) b.start = floorTo(from, resolution);
  std::sort(out.begin(), out.end(), [](const Bucket& a, const Bucket& b) {
    return std::tie(a.source, a.destination) < std::tie(b.source, b.destination);
  });
  return out;
}

std::vector<Event> HistoryStore::events(Clock::time_point since, Clock::time_point until,
                                        const std::vector<std::string>& kinds, size_t limit) const {
  std::string sql =
      "SELECT time_ms, kind, subject, detail, author FROM events WHERE time_ms>=? "
      "AND time_ms<?";
  if (!kinds.empty()) {
    sql += " AND (";
    for (size_t i = 0; i < kinds.size(); ++i)
      sql += std::string(i ? " OR " : "") + "kind=? OR substr(kind, 1, length(?) + 1)=? || '.'";
    sql += ")";
  }
  sql += " ORDER BY time_ms DESC, id DESC LIMIT ?";
  std::lock_guard lock(read_mutex_);
  Statement rows(reader_, sql.c_str());
  rows.bind(1, toMs(since)).bind(2, toMs(until));
  int i = 3;
  for (const auto& k : kinds) {
    rows.bind(i, k).bind(i + 1, k).bind(i + 2, k);
    i += 3;
  }
  rows.bind(i, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  std::vector<Event> out;
  while (rows.step() == SQLITE_ROW)
    out.push_back(
        Event{fromMs(rows.integer(0)), rows.text(1), rows.text(2), rows.text(3), rows.text(4)});
  std::reverse(out.begin(), out.end());
  return out;
}

HistoryStore::Revision HistoryStore::revisionAt(Clock::time_point at) const {
  std::lock_guard lock(read_mutex_);
  Statement row(reader_,
                "SELECT revision, time_ms, author, summary FROM revisions WHERE time_ms<=? "
                "ORDER BY revision DESC LIMIT 1");
  row.bind(1, toMs(at));
  Revision r;
  if (row.step() == SQLITE_ROW) {
    r.revision = static_cast<uint64_t>(row.integer(0));
    r.time = fromMs(row.integer(1));
    r.author = row.text(2);
    r.summary = row.text(3);
  }
  return r;
}

}  // namespace meshdeck::cp::history
