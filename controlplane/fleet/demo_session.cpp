#include "controlplane/fleet/demo_session.h"

namespace meshdeck::cp::fleet {

namespace {
// A streambuf that hands complete lines to a callback.
class LineBuf : public std::streambuf {
 public:
  explicit LineBuf(DemoSession::LineCallback cb) : cb_(std::move(cb)) {}
  ~LineBuf() override { flushLine(); }

 protected:
  int overflow(int c) override {
    if (c == '\n')
      flushLine();
    else if (c != EOF)
      line_.push_back(static_cast<char>(c));
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    for (std::streamsize i = 0; i < n; ++i) overflow(static_cast<unsigned char>(s[i]));
    return n;
  }

 private:
  void flushLine() {
    if (!line_.empty() && cb_) cb_(line_);
    line_.clear();
  }
  DemoSession::LineCallback cb_;
  std::string line_;
};
}  // namespace

DemoSession::DemoSession(ControlPlane& control_plane, DemoRunOptions options, LineCallback on_line,
                         DoneCallback on_done)
    : cp_(control_plane),
      options_(std::move(options)),
      on_line_(std::move(on_line)),
      on_done_(std::move(on_done)) {}

DemoSession::~DemoSession() { stop(); }

void DemoSession::start() {
  if (running_.exchange(true)) return;
  cancelled_ = false;
  thread_ = std::thread([this] {
    LineBuf buf(on_line_);
    std::ostream out(&buf);
    int code = 0;
    {
      DemoRunner runner(cp_, options_, out);
      code = runner.run([this] { return cancelled_.load(); });
    }
    running_ = false;
    if (on_done_) on_done_(code);
  });
}

void DemoSession::stop() {
  cancelled_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace meshdeck::cp::fleet
