#include "controlplane/fleet/process_supervisor.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "controlplane/fleet/loopback_http.h"

extern char** environ;

namespace meshdeck::cp::fleet {

using Clock = std::chrono::steady_clock;

const char* toString(ProcessState state) {
  switch (state) {
    case ProcessState::kStarting:
      return "starting";
    case ProcessState::kRunning:
      return "running";
    case ProcessState::kBackoff:
      return "backoff";
    case ProcessState::kFailed:
      return "failed";
    case ProcessState::kStopped:
      return "stopped";
  }
  return "unknown";
}

struct ProcessSupervisor::Managed {
  ProcessSpec spec;
  ProcessState state = ProcessState::kStarting;
  bool want_running = true;
  bool restart_now = false;  // an operator restart: no backoff, not counted as a crash
  pid_t pid = 0;
  int out_fd = -1;
  std::string partial_line;
  std::deque<std::string> log;
  uint32_t restarts = 0;
  std::deque<Clock::time_point> crash_times;
  std::chrono::milliseconds backoff{0};
  Clock::time_point started_at{};
  Clock::time_point next_start_at{};
  bool ready = false;
  std::optional<int> exit_code, exit_signal;
  // CPU accounting between two samples.
  uint64_t last_ticks = 0;
  Clock::time_point last_sample_at{};
  double cpu_percent = 0;
  uint64_t rss_bytes = 0;
};

ProcessSupervisor::ProcessSupervisor(RestartPolicy policy, size_t max_log_lines)
    : policy_(policy), max_log_lines_(max_log_lines) {
  if (::pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0)
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  thread_ = std::thread([this] { run(); });
}

ProcessSupervisor::~ProcessSupervisor() {
  stopAll();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  [[maybe_unused]] auto n = ::write(wake_pipe_[1], "x", 1);
  thread_.join();
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

void ProcessSupervisor::setObserver(std::function<void(const ProcessStatus&)> observer) {
  std::lock_guard lock(mu_);
  observer_ = std::move(observer);
}

bool ProcessSupervisor::add(ProcessSpec spec) {
  if (spec.argv.empty()) return false;
  {
    std::lock_guard lock(mu_);
    if (processes_.count(spec.name)) return false;
    auto m = std::make_unique<Managed>();
    m->spec = std::move(spec);
    m->backoff = policy_.initial_backoff;
    m->next_start_at = Clock::now();
    processes_.emplace(m->spec.name, std::move(m));
  }
  [[maybe_unused]] auto n = ::write(wake_pipe_[1], "x", 1);
  return true;
}

bool ProcessSupervisor::restart(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = processes_.find(name);
  if (it == processes_.end()) return false;
  Managed& m = *it->second;
  m.want_running = true;
  if (m.pid > 0) {
    m.restart_now = true;
    ::kill(-m.pid, SIGTERM);
  } else {
    m.state = ProcessState::kStarting;
    m.crash_times.clear();
    m.backoff = policy_.initial_backoff;
    m.next_start_at = Clock::now();
  }
  [[maybe_unused]] auto n = ::write(wake_pipe_[1], "x", 1);
  return true;
}

void ProcessSupervisor::terminateAndReap(std::vector<Managed*> targets,
                                         std::chrono::milliseconds grace,
                                         std::unique_lock<std::mutex>& lock) {
  for (Managed* m : targets) {
    m->want_running = false;
    if (m->pid > 0)
      ::kill(-m->pid, SIGTERM);
    else
      m->state = ProcessState::kStopped;
  }
  auto allReaped = [&] {
    return std::all_of(targets.begin(), targets.end(), [](Managed* m) { return m->pid == 0; });
  };
  if (!changed_.wait_for(lock, grace, allReaped)) {
    for (Managed* m : targets) {
      if (m->pid > 0) {
        spdlog::warn("fleet: {} did not stop within {} ms, killing it", m->spec.name,
                     grace.count());
        ::kill(-m->pid, SIGKILL);
      }
    }
    changed_.wait_for(lock, std::chrono::seconds(5), allReaped);
  }
}

bool ProcessSupervisor::remove(const std::string& name, std::chrono::milliseconds grace) {
  std::unique_lock lock(mu_);
  auto it = processes_.find(name);
  if (it == processes_.end()) return false;
  terminateAndReap({it->second.get()}, grace, lock);
  processes_.erase(name);
  return true;
}

size_t ProcessSupervisor::remove(const std::vector<std::string>& names,
                                 std::chrono::milliseconds grace) {
  std::unique_lock lock(mu_);
  std::vector<Managed*> targets;
  for (const auto& name : names)
    if (auto it = processes_.find(name); it != processes_.end())
      targets.push_back(it->second.get());
  if (targets.empty()) return 0;
  terminateAndReap(targets, grace, lock);
  for (Managed* m : targets) processes_.erase(m->spec.name);
  return targets.size();
}

void ProcessSupervisor::stopAll(std::chrono::milliseconds grace) {
  std::unique_lock lock(mu_);
  std::vector<Managed*> targets;
  for (auto& [name, m] : processes_) targets.push_back(m.get());
  if (targets.empty()) return;
  spdlog::info("fleet: stopping {} processes", targets.size());
  terminateAndReap(std::move(targets), grace, lock);
}

void ProcessSupervisor::startLocked(Managed& m) {
  if (m.spec.before_start) m.spec.before_start();
  // Everything the child needs is prepared before fork(): after it only async-signal-safe
  // calls are allowed.
  std::vector<char*> argv;
  for (auto& a : m.spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
  for (const auto& e : m.spec.env) env_store.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    spdlog::error("fleet: cannot start {}: pipe: {}", m.spec.name, std::strerror(errno));
    m.state = ProcessState::kFailed;
    return;
  }
  const pid_t parent = ::getpid();
  // Until exec, the child runs this process's code with its signal handlers (Qt Test's, the
  // app's): a SIGTERM then (a restart right after the start) ran such a handler in the child,
  // which hung there instead of dying. Every signal stays blocked across fork(); the child puts
  // every handler back to the default before it unblocks them.
  sigset_t all, previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  const pid_t pid = ::fork();
  if (pid != 0) ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) {
    spdlog::error("fleet: cannot start {}: fork: {}", m.spec.name, std::strerror(errno));
    ::close(out[0]);
    ::close(out[1]);
    m.state = ProcessState::kBackoff;
    m.next_start_at = Clock::now() + m.backoff;
    return;
  }
  if (pid == 0) {
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    for (int signo = 1; signo < NSIG; ++signo)
      if (signo != SIGKILL && signo != SIGSTOP) ::sigaction(signo, &default_action, nullptr);
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the supervisor died before prctl took effect
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the parent may block SIGTERM for sigwait
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::execve(argv[0], argv.data(), envp.data());
    const char msg[] = "meshdeck fleet: exec failed\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so kill(-pid) works even before the child ran
  ::close(out[1]);
  ::fcntl(out[0], F_SETFL, ::fcntl(out[0], F_GETFL) | O_NONBLOCK);
  m.pid = pid;
  m.out_fd = out[0];
  m.state = ProcessState::kRunning;
  m.ready = m.spec.ready_port == 0;
  m.started_at = Clock::now();
  m.last_ticks = 0;
  m.last_sample_at = {};
  m.cpu_percent = 0;
  m.rss_bytes = 0;
  spdlog::info("fleet: started {} (pid {})", m.spec.name, pid);
}

void ProcessSupervisor::drainOutput(Managed& m, int fd, bool final_read) {
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    m.partial_line.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = m.partial_line.find('\n', start)) != std::string::npos; start = nl + 1) {
      m.log.emplace_back(m.partial_line.substr(start, nl - start));
      if (m.log.size() > max_log_lines_) m.log.pop_front();
    }
    m.partial_line.erase(0, start);
    if (m.partial_line.size() > 4096) {  // a line without end: keep it bounded
      m.log.emplace_back(std::move(m.partial_line));
      m.partial_line.clear();
      if (m.log.size() > max_log_lines_) m.log.pop_front();
    }
  }
  if (final_read && !m.partial_line.empty()) {
    m.log.emplace_back(std::move(m.partial_line));
    m.partial_line.clear();
    if (m.log.size() > max_log_lines_) m.log.pop_front();
  }
}

void ProcessSupervisor::onExitLocked(Managed& m, int wait_status) {
  if (m.out_fd >= 0) {
    drainOutput(m, m.out_fd, true);
    ::close(m.out_fd);
    m.out_fd = -1;
  }
  ::kill(-m.pid, SIGKILL);  // leave no grandchild of the process group behind
  m.exit_code.reset();
  m.exit_signal.reset();
  if (WIFEXITED(wait_status)) m.exit_code = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) m.exit_signal = WTERMSIG(wait_status);
  const auto now = Clock::now();
  const auto ran = now - m.started_at;
  m.pid = 0;
  m.ready = false;
  if (!m.want_running) {
    m.state = ProcessState::kStopped;
    spdlog::info("fleet: {} stopped", m.spec.name);
    return;
  }
  if (m.restart_now) {
    ++m.restarts;
    m.restart_now = false;
    m.state = ProcessState::kStarting;
    m.next_start_at = now;
    spdlog::info("fleet: restarting {} on request", m.spec.name);
    return;
  }
  if (ran >= policy_.stable_after) {
    m.backoff = policy_.initial_backoff;
    m.crash_times.clear();
  }
  m.crash_times.push_back(now);
  while (!m.crash_times.empty() && now - m.crash_times.front() > policy_.window)
    m.crash_times.pop_front();
  const std::string how = m.exit_signal ? "signal " + std::to_string(*m.exit_signal)
                                        : "exit code " + std::to_string(m.exit_code.value_or(-1));
  if (m.crash_times.size() > policy_.max_restarts) {
    m.state = ProcessState::kFailed;
    spdlog::error("fleet: {} crashed ({}) {} times within {} s: giving up", m.spec.name, how,
                  m.crash_times.size(), policy_.window.count());
    return;
  }
  ++m.restarts;
  m.state = ProcessState::kBackoff;
  m.next_start_at = now + m.backoff;
  spdlog::warn("fleet: {} exited ({}), restart in {} ms", m.spec.name, how, m.backoff.count());
  m.backoff = std::min(policy_.max_backoff, m.backoff * 2);
}

void ProcessSupervisor::sampleResources(Managed& m) {
  if (m.pid <= 0) return;
  std::ifstream stat("/proc/" + std::to_string(m.pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return;
  // Fields after the command name, which is in parentheses and may contain spaces.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  long rss_pages = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
    if (i == 24) {
      rss_pages = std::stol(field);
      break;
    }
  }
  const auto now = Clock::now();
  const uint64_t ticks = utime + stime;
  if (m.last_sample_at != Clock::time_point{}) {
    const double seconds = std::chrono::duration<double>(now - m.last_sample_at).count();
    if (seconds > 0)
      m.cpu_percent = double(ticks - m.last_ticks) / double(::sysconf(_SC_CLK_TCK)) / seconds * 100;
  }
  m.last_ticks = ticks;
  m.last_sample_at = now;
  m.rss_bytes = static_cast<uint64_t>(rss_pages) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

ProcessStatus ProcessSupervisor::statusLocked(const Managed& m) const {
  ProcessStatus s;
  s.spec = m.spec;
  s.state = m.state;
  s.pid = m.pid;
  s.restarts = m.restarts;
  s.ready = m.ready;
  s.last_exit_code = m.exit_code;
  s.last_exit_signal = m.exit_signal;
  if (m.pid > 0)
    s.uptime_seconds = std::chrono::duration<double>(Clock::now() - m.started_at).count();
  s.cpu_percent = m.cpu_percent;
  s.rss_bytes = m.rss_bytes;
  return s;
}

void ProcessSupervisor::run() {
  auto last_probe = Clock::now();
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<ProcessStatus> notifications;
    std::vector<std::tuple<std::string, uint32_t, std::string>> probes;
    std::function<void(const ProcessStatus&)> observer;
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;
      const auto now = Clock::now();
      for (auto& [name, m] : processes_) {
        if (m->want_running && m->pid == 0 &&
            (m->state == ProcessState::kStarting || m->state == ProcessState::kBackoff) &&
            m->next_start_at <= now) {
          startLocked(*m);
          notifications.push_back(statusLocked(*m));
        }
      }
      fds.push_back({wake_pipe_[0], POLLIN, 0});
      for (auto& [name, m] : processes_)
        if (m->out_fd >= 0) fds.push_back({m->out_fd, POLLIN, 0});
      if (now - last_probe >= std::chrono::milliseconds(250)) {
        last_probe = now;
        for (auto& [name, m] : processes_)
          if (m->pid > 0 && !m->ready && m->spec.ready_port != 0)
            probes.emplace_back(name, m->spec.ready_port, m->spec.ready_path);
      }
      observer = observer_;
    }
    if (observer)
      for (const auto& s : notifications) observer(s);
    notifications.clear();

    std::vector<std::string> became_ready;
    for (const auto& [name, port, path] : probes)
      if (loopbackHttp(static_cast<uint16_t>(port), "GET", path, "", std::chrono::milliseconds(200),
                       nullptr, nullptr) == 200)
        became_ready.push_back(name);

    ::poll(fds.data(), fds.size(), 100);

    std::unique_lock lock(mu_);
    if (fds[0].revents & POLLIN) {
      char buf[64];
      while (::read(wake_pipe_[0], buf, sizeof buf) > 0) {
      }
    }
    for (const auto& name : became_ready) {
      auto it = processes_.find(name);
      if (it != processes_.end() && it->second->pid > 0 && !it->second->ready) {
        it->second->ready = true;
        spdlog::info("fleet: {} is ready", name);
        notifications.push_back(statusLocked(*it->second));
      }
    }
    bool any_exit = false;
    const auto now = Clock::now();
    for (auto& [name, m] : processes_) {
      if (m->out_fd >= 0) drainOutput(*m, m->out_fd, false);
      if (m->pid <= 0) continue;
      int status = 0;
      const pid_t r = ::waitpid(m->pid, &status, WNOHANG);
      if (r == m->pid) {
        onExitLocked(*m, status);
        notifications.push_back(statusLocked(*m));
        any_exit = true;
      } else if (m->last_sample_at == Clock::time_point{} ||
                 now - m->last_sample_at >= std::chrono::seconds(1)) {
        sampleResources(*m);
      }
    }
    if (any_exit || !became_ready.empty()) changed_.notify_all();
    observer = observer_;
    lock.unlock();
    if (observer)
      for (const auto& s : notifications) observer(s);
  }
}

std::vector<ProcessStatus> ProcessSupervisor::list() const {
  std::lock_guard lock(mu_);
  std::vector<ProcessStatus> out;
  for (const auto& [name, m] : processes_) out.push_back(statusLocked(*m));
  return out;
}

std::optional<ProcessStatus> ProcessSupervisor::status(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = processes_.find(name);
  if (it == processes_.end()) return std::nullopt;
  return statusLocked(*it->second);
}

std::vector<std::string> ProcessSupervisor::logs(const std::string& name, size_t tail) const {
  std::lock_guard lock(mu_);
  auto it = processes_.find(name);
  if (it == processes_.end()) return {};
  const auto& log = it->second->log;
  const size_t from = log.size() > tail ? log.size() - tail : 0;
  return {log.begin() + static_cast<long>(from), log.end()};
}

bool ProcessSupervisor::waitReady(const std::vector<std::string>& names,
                                  std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  bool failed = false;
  auto done = [&] {
    for (const auto& n : names) {
      auto it = processes_.find(n);
      if (it == processes_.end() || it->second->state == ProcessState::kFailed) {
        failed = true;
        return true;
      }
      if (it->second->pid <= 0 || !it->second->ready) return false;
    }
    return true;
  };
  return changed_.wait_for(lock, timeout, done) && !failed;
}

}  // namespace meshdeck::cp::fleet
