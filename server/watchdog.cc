// server/watchdog.cc: the signal handler that wakes the watchdog thread, and the thread.
#include "server/watchdog.h"

#include <semaphore.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace dynakv::server {
namespace {

sem_t g_signalled;                 // posted once, by the first SIGTERM/SIGINT (or by ~)
std::atomic<bool> g_posted{false};  // lock-free: safe to touch in a signal handler
struct sigaction g_prev_int, g_prev_term;
std::atomic<bool> g_active{false};  // one watchdog per process; later ones stay idle

void OnTerminate(int sig, siginfo_t* info, void* uctx) {
  int saved = errno;
  if (!g_posted.exchange(true)) sem_post(&g_signalled);
  // Then libuv's handler, which wakes the loop for the clean shutdown.
  const struct sigaction& prev = sig == SIGINT ? g_prev_int : g_prev_term;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) prev.sa_sigaction(sig, info, uctx);
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler) {
    prev.sa_handler(sig);
  }
  errno = saved;
}

void Install(int sig, struct sigaction* prev) {
  struct sigaction sa = {};
  sa.sa_sigaction = OnTerminate;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, prev);
}

void Uninstall(int sig, const struct sigaction* prev) {
  struct sigaction cur = {};
  if (sigaction(sig, nullptr, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
      cur.sa_sigaction == OnTerminate) {
    sigaction(sig, prev, nullptr);
  }
}

}  // namespace

ShutdownWatchdog::ShutdownWatchdog(int64_t timeout_s, std::string node_id)
    : timeout_s_(timeout_s), node_id_(std::move(node_id)) {
  if (g_active.exchange(true)) return;
  sem_init(&g_signalled, 0, 0);
  g_posted = false;
  Install(SIGINT, &g_prev_int);
  Install(SIGTERM, &g_prev_term);
  thread_ = std::thread([this] { Run(); });
}

ShutdownWatchdog::~ShutdownWatchdog() {
  if (!thread_.joinable()) return;  // the idle second instance
  {
    std::lock_guard<std::mutex> lk(mu_);
    done_ = true;
  }
  cv_.notify_all();
  Uninstall(SIGINT, &g_prev_int);
  Uninstall(SIGTERM, &g_prev_term);
  if (!g_posted.exchange(true)) sem_post(&g_signalled);  // no signal came: wake the thread
  thread_.join();
  sem_destroy(&g_signalled);
  g_active = false;
}

void ShutdownWatchdog::Run() {
  while (sem_wait(&g_signalled) != 0) {
    if (errno != EINTR) return;
  }
  std::unique_lock<std::mutex> lk(mu_);
  if (cv_.wait_for(lk, std::chrono::seconds(timeout_s_), [this] { return done_; })) return;
  // The clean shutdown did not finish: the loop is stuck. Same shape as the node's log lines.
  char ts[32];
  time_t t = time(nullptr);
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
  char line[512];
  int n = std::snprintf(line, sizeof(line),
                        "%s [%s] error: shutdown watchdog: the shutdown did not finish within "
                        "limits.shutdown_timeout = %lld s (event loop stuck); exiting now "
                        "(acknowledged writes are durable)\n",
                        ts, node_id_.c_str(), static_cast<long long>(timeout_s_));
  if (n > 0) {
    ssize_t w = write(STDERR_FILENO, line, size_t(n) < sizeof(line) ? size_t(n) : sizeof(line) - 1);
    (void)w;
  }
  _exit(1);
}

}  // namespace dynakv::server
