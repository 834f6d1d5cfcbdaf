// tests/integration/harness.cc: see harness.h.
#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#ifndef DYNAKV_SERVER_BIN
#error "DYNAKV_SERVER_BIN must name the dynakv-server binary"
#endif

namespace dynakv::itest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string ServerBinary() {
  if (const char* env = std::getenv("DYNAKV_SERVER_BIN")) return env;
  return DYNAKV_SERVER_BIN;
}

int PickFreePort() {
  static std::mutex mu;
  static std::set<int> handed_out;
  std::lock_guard<std::mutex> lock(mu);
  for (int attempt = 0; attempt < 200; attempt++) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
      socklen_t len = sizeof(sa);
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) port = ntohs(sa.sin_port);
    }
    ::close(fd);
    if (port > 0 && handed_out.insert(port).second) return port;
  }
  ADD_FAILURE() << "could not find a free port";
  return 0;
}

// ---- replies ------------------------------------------------------------------------------

std::string Describe(const redisReply* r) {
  if (r == nullptr) return "(no reply: I/O error or disconnected)";
  auto clip = [](const char* s, size_t n) {
    std::string out(s, std::min<size_t>(n, 200));
    std::string esc;
    for (unsigned char ch : out) {
      if (ch == '\r') esc += "\\r";
      else if (ch == '\n') esc += "\\n";
      else if (ch < 32 || ch > 126) {
        char b[8];
        std::snprintf(b, sizeof(b), "\\x%02x", ch);
        esc += b;
      } else {
        esc += char(ch);
      }
    }
    if (n > 200) esc += "...(" + std::to_string(n) + " bytes)";
    return esc;
  };
  switch (r->type) {
    case REDIS_REPLY_STRING: return "bulk \"" + clip(r->str, r->len) + "\"";
    case REDIS_REPLY_STATUS: return "status +" + clip(r->str, r->len);
    case REDIS_REPLY_ERROR: return "error -" + clip(r->str, r->len);
    case REDIS_REPLY_INTEGER: return "int :" + std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_ARRAY: {
      std::string s = "array[" + std::to_string(r->elements) + "] {";
      for (size_t i = 0; i < r->elements && i < 20; i++) s += (i ? ", " : "") + Describe(r->element[i]);
      if (r->elements > 20) s += ", ...";
      return s + "}";
    }
    default: return "type " + std::to_string(r->type);
  }
}

Conn::Conn(int port, int timeout_ms) {
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  c_ = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c_ && c_->err == 0) redisSetTimeout(c_, tv);
}

Conn::~Conn() {
  if (c_) redisFree(c_);
}

std::string Conn::error() const {
  if (!c_) return "no context";
  return c_->err ? std::string(c_->errstr) : std::string();
}

void Conn::SetTimeout(int timeout_ms) {
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  if (c_) redisSetTimeout(c_, tv);
}

Reply Conn::Cmd(const std::vector<std::string>& args) {
  if (!c_ || c_->err) return nullptr;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  void* r = redisCommandArgv(c_, int(args.size()), argv.data(), lens.data());
  return Reply(static_cast<redisReply*>(r));
}

void Conn::Append(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(c_, int(args.size()), argv.data(), lens.data());
}

bool Conn::Send() {
  if (!c_ || c_->err) return false;
  int done = 0;
  while (!done) {
    if (redisBufferWrite(c_, &done) != REDIS_OK) return false;
  }
  return true;
}

Reply Conn::Read() {
  if (!c_ || c_->err) return nullptr;
  void* r = nullptr;
  if (redisGetReply(c_, &r) != REDIS_OK) return nullptr;
  return Reply(static_cast<redisReply*>(r));
}

// ---- raw socket ---------------------------------------------------------------------------

std::string RValue::Describe() const {
  std::string s(1, type ? type : '?');
  if (null) return s + "null";
  switch (type) {
    case ':': return s + std::to_string(num);
    case '*': case '%': case '~': case '>': {
      s += "[";
      for (size_t i = 0; i < elems.size(); i++) s += (i ? ", " : "") + elems[i].Describe();
      return s + "]";
    }
    default: return s + "\"" + str.substr(0, 200) + "\"";
  }
}

const RValue* RValue::Get(std::string_view key) const {
  if (type != '%') return nullptr;
  for (size_t i = 0; i + 1 < elems.size(); i += 2) {
    if (elems[i].str == key) return &elems[i + 1];
  }
  return nullptr;
}

RawConn::RawConn(int port, int timeout_ms) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(uint16_t(port));
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

RawConn::~RawConn() { Close(); }

void RawConn::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawConn::Send(std::string_view bytes) {
  if (fd_ < 0) return false;
  size_t off = 0;
  auto deadline = Clock::now() + 10s;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += size_t(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (Clock::now() >= deadline) return false;
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, 100);
      continue;
    }
    return false;
  }
  return true;
}

bool RawConn::SendCmd(const std::vector<std::string>& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (auto& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return Send(s);
}

bool RawConn::Fill(int timeout_ms) {
  if (fd_ < 0 || eof_) return false;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n > 0) {
      buf_.append(tmp, size_t(n));
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      eof_ = true;  // ECONNRESET etc.: the peer is gone
      return false;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, int(std::min<long long>(left, 100)));
  }
}

bool RawConn::ParseOne(size_t* pos, RValue* out, bool* need_more) {
  *need_more = false;
  size_t p = *pos;
  if (p >= buf_.size()) {
    *need_more = true;
    return false;
  }
  size_t eol = buf_.find("\r\n", p);
  if (eol == std::string::npos) {
    *need_more = true;
    return false;
  }
  char t = buf_[p];
  std::string line = buf_.substr(p + 1, eol - p - 1);
  size_t after = eol + 2;
  out->type = t;
  switch (t) {
    case '+': case '-': case ',': case '#': case '(':
      out->str = line;
      *pos = after;
      return true;
    case ':':
      out->num = std::strtoll(line.c_str(), nullptr, 10);
      *pos = after;
      return true;
    case '_':
      out->null = true;
      *pos = after;
      return true;
    case '$': case '=': case '!': {
      long long len = std::strtoll(line.c_str(), nullptr, 10);
      if (len < 0) {
        out->null = true;
        *pos = after;
        return true;
      }
      if (buf_.size() < after + size_t(len) + 2) {
        *need_more = true;
        return false;
      }
      out->str = buf_.substr(after, size_t(len));
      *pos = after + size_t(len) + 2;
      return true;
    }
    case '*': case '%': case '~': case '>': case '|': {
      long long n = std::strtoll(line.c_str(), nullptr, 10);
      if (n < 0) {
        out->null = true;
        *pos = after;
        return true;
      }
      if (t == '%' || t == '|') n *= 2;
      size_t q = after;
      for (long long i = 0; i < n; i++) {
        RValue e;
        if (!ParseOne(&q, &e, need_more)) return false;
        out->elems.push_back(std::move(e));
      }
      if (t == '|') {  // an attribute precedes the real reply: skip it
        *out = RValue{};
        *pos = q;
        return ParseOne(pos, out, need_more);
      }
      *pos = q;
      return true;
    }
    default:
      out->type = '?';
      out->str = "unparseable: " + line;
      *pos = after;
      return true;
  }
}

RValue RawConn::Read(int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (int i = 0; i < 100000; i++) {
    size_t pos = 0;
    RValue v;
    bool need_more = false;
    if (ParseOne(&pos, &v, &need_more)) {
      buf_.erase(0, pos);
      return v;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || !Fill(int(left))) return RValue{};
  }
  return RValue{};
}

bool RawConn::WaitClosed(int timeout_ms, std::string* got) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (int i = 0; i < 1000000; i++) {
    if (got) got->append(buf_);
    buf_.clear();
    if (eof_) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    Fill(int(left));
  }
  return eof_;
}

// ---- config -------------------------------------------------------------------------------

std::string ServerConfig::Quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

ServerConfig& ServerConfig::Set(const std::string& section, const std::string& key, const std::string& raw) {
  v_[section][key] = raw;
  return *this;
}
ServerConfig& ServerConfig::SetStr(const std::string& section, const std::string& key, const std::string& value) {
  return Set(section, key, Quote(value));
}
ServerConfig& ServerConfig::SetInt(const std::string& section, const std::string& key, int64_t value) {
  return Set(section, key, std::to_string(value));
}
bool ServerConfig::Has(const std::string& section, const std::string& key) const {
  auto it = v_.find(section);
  return it != v_.end() && it->second.count(key) > 0;
}

std::string ServerConfig::Render(bool with_raw) const {
  std::ostringstream os;
  os << "# written by the dynakv integration harness\n";
  for (auto& [section, kv] : v_) {
    os << "\n[" << section << "]\n";
    for (auto& [k, v] : kv) os << k << " = " << v << "\n";
  }
  if (with_raw && !raw_.empty()) os << "\n" << raw_;
  return os.str();
}

ServerConfig& ServerConfig::AppendRaw(const std::string& toml) {
  raw_ += toml;
  if (!raw_.empty() && raw_.back() != '\n') raw_ += '\n';
  return *this;
}

// ---- temp dirs ----------------------------------------------------------------------------

void RemoveTree(const std::string& path) {
  if (path.empty() || path.rfind("/tmp/", 0) != 0) return;  // never outside /tmp
  ::nftw(
      path.c_str(),
      [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p) == 0 ? 0 : 0; }, 16,
      FTW_DEPTH | FTW_PHYS);
}

static std::string MakeTempDir(const char* prefix) {
  std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed: " << std::strerror(errno);
    return "";
  }
  return std::string(buf.data());
}

TempDir::TempDir() : path_(MakeTempDir("dynakv-itest")) {}
TempDir::~TempDir() { RemoveTree(path_); }

std::string TempDir::Write(const std::string& name, const std::string& content) const {
  std::string p = path_ + "/" + name;
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << content;
  return p;
}

static std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// ---- processes ----------------------------------------------------------------------------

namespace {

// In the child, after fork: only async-signal-safe calls.
[[noreturn]] void ExecChild(const std::vector<std::string>& args, int out_fd, int err_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test binary
  if (out_fd >= 0) ::dup2(out_fd, 1);
  if (err_fd >= 0) ::dup2(err_fd, 2);
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  // Do not leak the test's client sockets into the server (they would keep connections open).
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
#endif
  {
    for (int fd = 3; fd < 4096; fd++) ::close(fd);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  static const char kMsg[] = "exec of dynakv-server failed\n";
  (void)!::write(2, kMsg, sizeof(kMsg) - 1);
  ::_exit(127);
}

ExitInfo FromStatus(int status) {
  ExitInfo e;
  e.exited = true;
  if (WIFEXITED(status)) e.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  return e;
}

// Waits up to `wait` for pid to exit. exited=false if it is still running.
ExitInfo WaitPid(pid_t pid, std::chrono::milliseconds wait) {
  auto deadline = Clock::now() + wait;
  for (int i = 0; i < 1000000; i++) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return FromStatus(status);
    if (r < 0 && errno != EINTR) {
      ExitInfo e;
      e.exited = true;  // not our child any more (already reaped)
      return e;
    }
    if (Clock::now() >= deadline) return ExitInfo{};
    std::this_thread::sleep_for(5ms);
  }
  return ExitInfo{};
}

bool PortAccepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(uint16_t(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

ServerProcess::ServerProcess(ServerConfig overrides, std::string name) : name_(std::move(name)) {
  dir_ = MakeTempDir(("dynakv-itest-" + name_).c_str());
  port_ = PickFreePort();
  cfg_.SetStr("node", "id", name_)
      .SetStr("node", "data_dir", data_dir())
      .SetStr("listen", "redis", "127.0.0.1:" + std::to_string(port_))
      .SetStr("listen", "memcache", "")
      .SetStr("listen", "cluster", "")
      .SetInt("replication", "n", 1)
      .SetInt("replication", "r", 1)
      .SetInt("replication", "w", 1)
      .SetStr("storage", "engine", "lmdb")
      .SetStr("storage", "sync", "batch")
      .SetStr("log", "level", "info");
  // Apply overrides (ServerConfig has no iteration API: re-render through a merge).
  cfg_.AppendRaw(overrides.raw());
  std::istringstream in(overrides.Render(/*with_raw=*/false));
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2);
      continue;
    }
    auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    cfg_.Set(section, line.substr(0, eq), line.substr(eq + 3));
  }
}

ServerProcess::~ServerProcess() {
  pid_t p = pid_.load();
  if (p > 0) {
    ::kill(p, SIGKILL);
    WaitPid(p, 10s);
    pid_ = -1;
  }
  if (::getenv("DYNAKV_ITEST_KEEP") == nullptr) RemoveTree(dir_);
}

bool ServerProcess::Spawn() {
  {
    std::ofstream f(config_path(), std::ios::trunc);
    f << cfg_.Render();
  }
  int err_fd = ::open((dir_ + "/stderr.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int out_fd = ::open((dir_ + "/stdout.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  std::vector<std::string> args = {ServerBinary(), "--config", config_path()};
  pid_t p = ::fork();
  if (p == 0) ExecChild(args, out_fd, err_fd);
  if (err_fd >= 0) ::close(err_fd);
  if (out_fd >= 0) ::close(out_fd);
  if (p < 0) {
    last_error_ = std::string("fork failed: ") + std::strerror(errno);
    return false;
  }
  pid_ = p;
  return true;
}

bool ServerProcess::WaitReady(std::chrono::milliseconds wait) {
  auto deadline = Clock::now() + wait;
  auto exited = [&](const ExitInfo& e) {
    last_error_ = name_ + ": dynakv-server exited during start-up (code " + std::to_string(e.code) + ", signal " +
                  std::to_string(e.signal) + "); stderr:\n" + Stderr();
    return false;
  };
  for (int i = 0; i < 100000; i++) {
    pid_t p = pid_.load();
    if (p <= 0) return exited(ExitInfo{});
    int status = 0;
    if (::waitpid(p, &status, WNOHANG) == p) {
      pid_ = -1;
      return exited(FromStatus(status));
    }
    if (PortAccepts(port_)) {
      // Something accepts; make sure it is our server speaking RESP (not another process
      // that grabbed the port): an inline PING must get a reply (+PONG, or -NOAUTH ...).
      RawConn probe(port_, 1000);
      if (probe.ok() && probe.Send("PING\r\n")) {
        RValue r = probe.Read(1000);
        pid_t w = ::waitpid(p, &status, WNOHANG);
        if (w == p) {
          pid_ = -1;
          return exited(FromStatus(status));
        }
        if (r.type == '+' || r.type == '-') return true;
      }
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(20ms);
  }
  last_error_ = name_ + ": port " + std::to_string(port_) + " did not answer PING within " +
                std::to_string(wait.count()) + " ms; stderr:\n" + Stderr();
  return false;
}

bool ServerProcess::Start(std::chrono::milliseconds wait) {
  if (pid_.load() > 0) {
    last_error_ = "already running";
    return false;
  }
  last_error_.clear();
  // A port picked as free can be taken by another process before the server binds it; on
  // the very first start (nothing depends on the port yet) pick another one and retry.
  for (int attempt = 0; attempt < 3; attempt++) {
    if (!Spawn()) return false;
    if (WaitReady(wait)) {
      started_ = true;
      return true;
    }
    Kill();
    bool port_taken = last_error_.find("address already in use") != std::string::npos &&
                      last_error_.find(":" + std::to_string(port_)) != std::string::npos;
    if (started_ || !port_taken) return false;
    port_ = PickFreePort();
    cfg_.SetStr("listen", "redis", "127.0.0.1:" + std::to_string(port_));
  }
  return false;
}

ExitInfo ServerProcess::Reap(std::chrono::milliseconds wait) {
  pid_t p = pid_.load();
  if (p <= 0) {
    ExitInfo e;
    e.exited = true;
    return e;
  }
  ExitInfo e = WaitPid(p, wait);
  if (e.exited) pid_ = -1;
  return e;
}

ExitInfo ServerProcess::Stop(std::chrono::milliseconds wait) {
  pid_t p = pid_.load();
  if (p <= 0) {
    ExitInfo e;
    e.exited = true;
    return e;
  }
  ::kill(p, SIGTERM);
  ExitInfo e = Reap(wait);
  if (!e.exited) {
    ::kill(p, SIGKILL);
    Reap(10s);
  }
  return e;  // exited=false: had to be SIGKILLed
}

void ServerProcess::SignalKill() {
  pid_t p = pid_.load();
  if (p > 0) ::kill(p, SIGKILL);
}

void ServerProcess::Kill() {
  SignalKill();
  Reap(10s);
}

ExitInfo ServerProcess::Wait(std::chrono::milliseconds wait) { return Reap(wait); }

bool ServerProcess::Running() {
  pid_t p = pid_.load();
  if (p <= 0) return false;
  int status = 0;
  if (::waitpid(p, &status, WNOHANG) == p) {
    pid_ = -1;
    return false;
  }
  return true;
}

bool ServerProcess::Restart(std::chrono::milliseconds wait) {
  if (pid_.load() > 0) {
    // After SignalKill() from another thread the child may be dead but not reaped yet.
    if (!Reap(0ms).exited) Stop();
  }
  return Start(wait);
}

std::string ServerProcess::Stderr() const { return ReadFile(dir_ + "/stderr.log"); }

long ServerProcess::RssKb() const {
  pid_t p = pid_.load();
  if (p <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(p) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

std::unique_ptr<Conn> ServerProcess::Connect(int timeout_ms) const {
  return std::make_unique<Conn>(port_, timeout_ms);
}

// ---- cluster ------------------------------------------------------------------------------

Cluster::Cluster(ClusterOptions opts) : opts_(std::move(opts)) {
  std::vector<int> cports;
  for (int i = 0; i < opts_.nodes; i++) cports.push_back(PickFreePort());
  for (int i = 0; i < opts_.nodes; i++) {
    std::string seeds = "[";
    for (int j = 0; j < opts_.nodes; j++) {
      if (j == i) continue;
      if (seeds.size() > 1) seeds += ", ";
      seeds += ServerConfig::Quote("127.0.0.1:" + std::to_string(cports[j]));
    }
    seeds += "]";
    ServerConfig c = opts_.extra;
    c.SetStr("listen", "cluster", "127.0.0.1:" + std::to_string(cports[i]))
        .Set("cluster", "seeds", seeds)
        .SetInt("node", "weight", opts_.weight)
        .SetInt("replication", "n", opts_.n)
        .SetInt("replication", "r", opts_.r)
        .SetInt("replication", "w", opts_.w);
    nodes_.push_back(std::make_unique<ServerProcess>(c, "n" + std::to_string(i + 1)));
  }
  for (int p : cports) addrs_.push_back("127.0.0.1:" + std::to_string(p));
}

std::string Cluster::cluster_addr(size_t i) const { return addrs_.at(i); }

bool Cluster::Start(std::chrono::milliseconds wait) {
  for (auto& n : nodes_) {
    if (!n->Start()) {
      last_error_ = n->last_error();
      return false;
    }
  }
  return WaitAllUp(wait);
}

bool Cluster::WaitAllUp(std::chrono::milliseconds wait) {
  size_t want = nodes_.size();
  bool ok = WaitUntil(
      [&] {
        for (auto& n : nodes_) {
          if (!n->Running()) return false;
          auto c = n->Connect(2000);
          if (!c->ok()) return false;
          Reply r = c->Cmd({"DYNAMO", "MEMBERS"});
          if (!r || r->type != REDIS_REPLY_ARRAY) return false;
          size_t up = 0;
          for (size_t i = 0; i < r->elements; i++) {
            const redisReply* m = r->element[i];
            if (m->type == REDIS_REPLY_ARRAY && m->elements >= 4 && m->element[3]->type == REDIS_REPLY_STRING &&
                std::string(m->element[3]->str, m->element[3]->len) == "up") {
              up++;
            }
          }
          if (up != want) return false;
        }
        return true;
      },
      wait, 100ms);
  if (!ok) last_error_ = "cluster members did not all report up within " + std::to_string(wait.count()) + " ms";
  return ok;
}

// ---- running the binary directly ----------------------------------------------------------

RunResult RunBinary(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  RunResult res;
  int outp[2], errp[2];
  if (::pipe2(outp, O_CLOEXEC) != 0 || ::pipe2(errp, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return res;
  }
  std::vector<std::string> full = {ServerBinary()};
  full.insert(full.end(), args.begin(), args.end());
  auto start = Clock::now();
  pid_t p = ::fork();
  if (p == 0) ExecChild(full, outp[1], errp[1]);
  ::close(outp[1]);
  ::close(errp[1]);
  auto deadline = start + timeout;
  bool out_open = true, err_open = true;
  for (int i = 0; i < 100000 && (out_open || err_open); i++) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd fds[2] = {{out_open ? outp[0] : -1, POLLIN, 0}, {err_open ? errp[0] : -1, POLLIN, 0}};
    ::poll(fds, 2, int(std::min<long long>(left, 100)));
    char buf[4096];
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP))) {
      ssize_t n = ::read(outp[0], buf, sizeof(buf));
      if (n > 0) res.out.append(buf, size_t(n));
      else out_open = false;
    }
    if (err_open && (fds[1].revents & (POLLIN | POLLHUP))) {
      ssize_t n = ::read(errp[0], buf, sizeof(buf));
      if (n > 0) res.err.append(buf, size_t(n));
      else err_open = false;
    }
  }
  ::close(outp[0]);
  ::close(errp[0]);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  res.exit = WaitPid(p, std::max(left, std::chrono::milliseconds(100)));
  if (!res.exit.exited) {
    ::kill(p, SIGKILL);
    WaitPid(p, 10s);
  }
  res.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return res;
}

// ---- assertions ---------------------------------------------------------------------------

::testing::AssertionResult IsStatus(const Reply& r, std::string_view want) {
  if (r && r->type == REDIS_REPLY_STATUS && std::string_view(r->str, r->len) == want)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected status +" << want << ", got " << Describe(r);
}

::testing::AssertionResult IsBulk(const Reply& r, std::string_view want) {
  if (r && r->type == REDIS_REPLY_STRING && std::string_view(r->str, r->len) == want)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected bulk \"" << want.substr(0, 200) << "\" (" << want.size()
                                       << " bytes), got " << Describe(r);
}

::testing::AssertionResult IsInt(const Reply& r, long long want) {
  if (r && r->type == REDIS_REPLY_INTEGER && r->integer == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected :" << want << ", got " << Describe(r);
}

::testing::AssertionResult IsNil(const Reply& r) {
  if (r && r->type == REDIS_REPLY_NIL) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected nil, got " << Describe(r);
}

::testing::AssertionResult IsError(const Reply& r, std::string_view exact) {
  if (r && r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len) == exact)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected error -" << exact << ", got " << Describe(r);
}

::testing::AssertionResult IsErrorPrefix(const Reply& r, std::string_view prefix) {
  if (r && r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).substr(0, prefix.size()) == prefix)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected an error starting with -" << prefix << ", got " << Describe(r);
}

::testing::AssertionResult IsArray(const Reply& r, size_t n) {
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements == n) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected an array of " << n << ", got " << Describe(r);
}

::testing::AssertionResult IsBulkArray(const Reply& r, const std::vector<std::string>& want) {
  bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == want.size();
  for (size_t i = 0; ok && i < want.size(); i++) {
    const redisReply* e = r->element[i];
    ok = e->type == REDIS_REPLY_STRING && std::string_view(e->str, e->len) == want[i];
  }
  if (ok) return ::testing::AssertionSuccess();
  std::string w = "[";
  for (size_t i = 0; i < want.size(); i++) w += (i ? ", " : "") + want[i];
  return ::testing::AssertionFailure() << "expected bulk array " << w << "], got " << Describe(r);
}

}  // namespace dynakv::itest
