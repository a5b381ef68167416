#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace meshdeck::cp::fleet {

// What to run and how to keep it running.
struct ProcessSpec {
  std::string name;  // unique, e.g. "reviews-v2-0/proxy"
  std::string service, version, role;
  uint32_t instance = 0;
  std::vector<std::string> argv;  // argv[0] is the executable path
  std::vector<std::string> env;   // extra KEY=VALUE entries on top of the parent's environment
  std::vector<uint32_t> ports;    // ports the process owns (for display and health checks)
  // Readiness probe: GET http://127.0.0.1:<ready_port><ready_path> must answer 200. 0 = none.
  uint32_t ready_port = 0;
  std::string ready_path = "/ready";
  // Called before every start and restart, on the supervisor's thread with its lock held (it
  // must not call the supervisor), e.g. to hand a sidecar a fresh one-time bootstrap token.
  std::function<void()> before_start = {};
};

struct RestartPolicy {
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{10'000};
  // Give up (state "failed") after this many restarts within `window`.
  uint32_t max_restarts = 5;
  std::chrono::seconds window{60};
  // A run that lasted this long resets the backoff.
  std::chrono::seconds stable_after{10};
};

enum class ProcessState { kStarting, kRunning, kBackoff, kFailed, kStopped };
const char* toString(ProcessState state);

// A consistent copy of one process's status.
struct ProcessStatus {
  ProcessSpec spec;
  ProcessState state = ProcessState::kStopped;
  pid_t pid = 0;
  uint32_t restarts = 0;
  bool ready = false;
  std::optional<int> last_exit_code;    // exit status of the last run
  std::optional<int> last_exit_signal;  // or the signal that ended it
  double uptime_seconds = 0;
  double cpu_percent = 0;
  uint64_t rss_bytes = 0;
};

// ProcessSupervisor starts, watches and stops the processes of a mesh.
//
// - Each child runs in its own process group, and gets PR_SET_PDEATHSIG(SIGKILL) so that it
//   dies with the supervisor even if the supervisor is killed with SIGKILL. Children are
//   forked from the supervisor's own long-lived thread, because the kernel delivers the
//   death signal when the forking *thread* exits.
// - stdout and stderr of each child are captured line by line into a bounded ring
//   (`max_log_lines` per process).
// - A child that exits while it should run is restarted with exponential backoff; after
//   RestartPolicy::max_restarts within the window it is left "failed" and logged loudly.
// - stopAll() sends SIGTERM to every process group, waits up to `grace`, then SIGKILLs.
//
// Thread-safety: every public method is thread-safe.
class ProcessSupervisor {
 public:
  explicit ProcessSupervisor(RestartPolicy policy = {}, size_t max_log_lines = 2000);
  ~ProcessSupervisor();  // stopAll() with the default grace

  ProcessSupervisor(const ProcessSupervisor&) = delete;
  ProcessSupervisor& operator=(const ProcessSupervisor&) = delete;

  // Adds and starts a process. Returns false if the name is taken.
  bool add(ProcessSpec spec);
  // Stops one process (SIGTERM, then SIGKILL after `grace`) and forgets it.
  bool remove(const std::string& name, std::chrono::milliseconds grace = std::chrono::seconds(5));
  // Stops several processes together (SIGTERM to all, SIGKILL to those still running after
  // `grace`) and forgets them: a large fleet stops in one grace period, not one per process.
  // Unknown names are skipped; returns how many were removed.
  size_t remove(const std::vector<std::string>& names,
                std::chrono::milliseconds grace = std::chrono::seconds(5));
  // Kills the current run of a process (SIGTERM to its group) and starts it again at once.
  bool restart(const std::string& name);
  // Stops everything; waits for every child to be reaped.
  void stopAll(std::chrono::milliseconds grace = std::chrono::seconds(5));

  std::vector<ProcessStatus> list() const;
  std::optional<ProcessStatus> status(const std::string& name) const;
  // The last `tail` captured lines of a process, oldest first.
  std::vector<std::string> logs(const std::string& name, size_t tail) const;
  // Waits until every listed process is running and ready (or has no probe). Returns false on
  // timeout or when one of them failed.
  bool waitReady(const std::vector<std::string>& names, std::chrono::milliseconds timeout) const;

  // Called (on the supervisor thread) whenever a process changes state.
  void setObserver(std::function<void(const ProcessStatus&)> observer);

 private:
  struct Managed;
  void run();
  void startLocked(Managed& m);
  void onExitLocked(Managed& m, int wait_status);
  void drainOutput(Managed& m, int fd, bool final_read);
  void sampleResources(Managed& m);
  ProcessStatus statusLocked(const Managed& m) const;
  void terminateAndReap(std::vector<Managed*> targets, std::chrono::milliseconds grace,
                        std::unique_lock<std::mutex>& lock);

  const RestartPolicy policy_;
  const size_t max_log_lines_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::map<std::string, std::unique_ptr<Managed>> processes_;
  std::vector<std::function<void()>> requests_;  // work for the supervisor thread (forks)
  std::function<void(const ProcessStatus&)> observer_;
  bool stopping_ = false;
  int wake_pipe_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace meshdeck::cp::fleet
