#include "proxy/http2/h2_codec.h"

#include <nghttp2/nghttp2.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "proxy/http2/nghttp2_mem_pool.h"
#include "proxy/http2/nghttp2_session_io.h"

namespace meshdeck::proxy::h2 {

using detail::nv;
using detail::view;

struct ServerCodec::StreamState {
  int32_t id = 0;
  RequestHeader head;
  std::string authority, cookie;
  size_t header_bytes = 0;   // as SETTINGS_MAX_HEADER_LIST_SIZE counts them
  size_t decoded_bytes = 0;  // every decoded field, kept or not
  bool too_large = false;
  bool head_done = false;
  bool responded = false;  // a final response head was submitted
  std::string out;         // response body bytes not yet framed
  size_t out_offset = 0;
  // Body bytes queued by queueDataBorrowed() (the caller's buffer), framed before `out`.
  const char* borrowed = nullptr;
  size_t borrowed_size = 0;
  bool out_last = false;
  std::vector<Header> trailers;

  // Ready for another stream (ServerCodec::spare_): its strings keep their capacity.
  void recycle() {
    id = 0;
    // A head the connection moved out (onRequestHead) is empty already: building and moving
    // in a fresh one cost about 550 instructions per stream. (The method is set by every
    // request: nghttp2 requires :method.)
    if (!head_done || head.begin() != head.end() || !head.target().empty()) head = RequestHeader{};
    authority.clear();
    cookie.clear();
    header_bytes = decoded_bytes = 0;
    too_large = head_done = responded = false;
    out.clear();
    if (out.capacity() > 16 * 1024) std::string().swap(out);
    out_offset = 0;
    borrowed = nullptr;
    borrowed_size = 0;
    out_last = false;
    trailers.clear();
  }
};

struct ServerCodec::Callbacks {
  static ServerCodec& codec(void* user) { return *static_cast<ServerCodec*>(user); }

  static StreamState* stream(ServerCodec& c, int32_t id) {
    auto it = c.streams_.find(id);
    return it == c.streams_.end() ? nullptr : it->second.get();
  }

  static int onBeginFrame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
    auto& c = codec(user);
    if (hd->type == NGHTTP2_HEADERS) {
      c.continuations_ = 0;
    } else if (hd->type == NGHTTP2_CONTINUATION) {
      if (++c.continuations_ > c.limits_.max_continuations) {
        c.refuse("continuation_flood", NGHTTP2_ENHANCE_YOUR_CALM);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
      }
    }
    return 0;
  }

  static int onBeginHeaders(nghttp2_session* s, const nghttp2_frame* frame, void* user) {
    auto& c = codec(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    std::unique_ptr<StreamState> st;
    if (!c.spare_.empty()) {
      st = std::move(c.spare_.back());
      c.spare_.pop_back();
    } else {
      st = std::make_unique<StreamState>();
    }
    st->id = frame->hd.stream_id;
    st->head.version(11);
    nghttp2_session_set_stream_user_data(s, st->id, st.get());
    c.streams_[st->id] = std::move(st);
    return 0;
  }

  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto& c = codec(user);
    StreamState* st = stream(c, frame->hd.stream_id);
    if (!st) return 0;
    st->decoded_bytes += namelen + valuelen;
    if (st->decoded_bytes > c.limits_.max_decoded_header_block) {
      c.refuse("hpack_bomb", NGHTTP2_ENHANCE_YOUR_CALM);
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (st->head_done) return 0;  // request trailers are not passed to an HTTP/1.1 upstream
    st->header_bytes += namelen + valuelen + 32;  // RFC 9113 §6.5.2
    if (st->header_bytes > c.limits_.max_header_list) st->too_large = true;
    if (st->too_large) return 0;  // dropped: the request is answered 431
    const auto n = view(name, namelen);
    const auto v = view(value, valuelen);
    if (n == ":method")
      st->head.method_string(v);
    else if (n == ":path")
      st->head.target(v);
    else if (n == ":authority")
      st->authority.assign(v);
    else if (!n.empty() && n[0] == ':')
      ;  // :scheme (and :protocol) are not carried to an HTTP/1.1 upstream
    else if (n == "cookie")
      st->cookie.append(st->cookie.empty() ? "" : "; ").append(v);  // RFC 9113 §8.2.3
    else
      st->head.insert(n, v);
    return 0;
  }

  static int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& c = codec(user);
    const int32_t id = frame->hd.stream_id;
    if (frame->hd.type == NGHTTP2_DATA && frame->hd.length == 0 &&
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      if (++c.empty_frames_ > c.limits_.max_empty_frames) {
        c.refuse("empty_frames", NGHTTP2_ENHANCE_YOUR_CALM);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
      }
    } else if (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) {
      c.empty_frames_ = 0;
    }
    StreamState* st = stream(c, id);
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
        if (!st) return 0;
        if (!st->head_done && (frame->hd.flags & NGHTTP2_FLAG_END_HEADERS)) {
          st->head_done = true;
          if (!st->authority.empty() &&
              st->head.find(boost::beast::http::field::host) == st->head.end())
            st->head.set(boost::beast::http::field::host, st->authority);
          if (!st->cookie.empty()) st->head.set(boost::beast::http::field::cookie, st->cookie);
          const bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
          c.events_.onRequestHead(id, st->head, end, st->too_large);
        } else if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
          c.events_.onRequestEnd(id);  // after trailers
        }
        return 0;
      case NGHTTP2_DATA:
        if (st && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) c.events_.onRequestEnd(id);
        return 0;
      case NGHTTP2_RST_STREAM: {
        // Rapid reset (CVE-2023-44487): streams the client opens and cancels before any
        // response cost the proxy an upstream request each and the client nothing.
        if (!st || st->responded) return 0;
        const auto now = std::chrono::steady_clock::now();
        if (now - c.reset_window_start_ > c.limits_.rapid_reset_window) {
          c.reset_window_start_ = now;
          c.resets_in_window_ = 0;
        }
        if (++c.resets_in_window_ > c.limits_.rapid_reset_limit) {
          c.refuse("rapid_reset", NGHTTP2_ENHANCE_YOUR_CALM);
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
      }
      default:
        return 0;
    }
  }

  static int onDataChunk(nghttp2_session* s, uint8_t, int32_t id, const uint8_t* data, size_t len,
                         void* user) {
    auto& c = codec(user);
    if (StreamState* st = stream(c, id); st && st->head_done)
      c.events_.onRequestData(id, reinterpret_cast<const char*>(data), len);
    else
      nghttp2_session_consume_connection(s, len);  // nobody reads it: the window stays open
    return 0;
  }

  static int onStreamClose(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
    auto& c = codec(user);
    auto it = c.streams_.find(id);
    if (it == c.streams_.end()) return 0;
    auto st = std::move(it->second);
    c.streams_.erase(it);
    // Only streams whose head went up are known above.
    if (st->head_done) c.events_.onStreamClosed(id, error_code);
    if (c.spare_.size() < kSpareStreams) {
      st->recycle();
      c.spare_.push_back(std::move(st));
    }
    return 0;
  }

  static int onFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& c = codec(user);
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR &&
        !c.refused_) {
      // A GOAWAY nghttp2 decided on (a protocol error of the client).
      c.refused_ = "protocol_error";
      c.events_.onRefused(c.refused_);
    } else if (frame->hd.type == NGHTTP2_RST_STREAM &&
               frame->rst_stream.error_code == NGHTTP2_REFUSED_STREAM) {
      c.events_.onRefused("stream_limit");
    }
    return 0;
  }

  static ssize_t readBody(nghttp2_session* s, int32_t id, uint8_t* buf, size_t length,
                          uint32_t* flags, nghttp2_data_source*, void* user) {
    auto& c = codec(user);
    StreamState* st = stream(c, id);
    if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t n = 0;
    if (st->borrowed_size) {
      n = std::min(st->borrowed_size, length);
      std::memcpy(buf, st->borrowed, n);
      st->borrowed += n;
      st->borrowed_size -= n;
    }
    if (!st->borrowed_size && n < length) {
      const size_t m = std::min(st->out.size() - st->out_offset, length - n);
      if (m) std::memcpy(buf + n, st->out.data() + st->out_offset, m);
      st->out_offset += m;
      n += m;
    }
    if (!st->borrowed_size && st->out_offset == st->out.size()) {
      st->out.clear();
      st->out_offset = 0;
      st->borrowed = nullptr;
      if (st->out_last) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (!st->trailers.empty()) {
          std::vector<nghttp2_nv> nva;
          nva.reserve(st->trailers.size());
          for (const auto& [k, v] : st->trailers) nva.push_back(nv(k, v));
          if (nghttp2_submit_trailer(s, id, nva.data(), nva.size()) == 0)
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
      } else if (n == 0) {
        return NGHTTP2_ERR_DEFERRED;
      }
      c.events_.onDrained(id);
    }
    return static_cast<ssize_t>(n);
  }
};

ServerCodec::ServerCodec(Events& events, const Limits& limits) : events_(events), limits_(limits) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, &Callbacks::onBeginFrame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::onFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::onStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Callbacks::onFrameSend);

  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_settings(opt, limits_.max_settings);
  nghttp2_option_set_max_outbound_ack(opt, limits_.max_outbound_ack);
  nghttp2_option_set_max_send_header_block_length(opt, 64 * 1024);
  // nghttp2's own guards stay on behind ours, with more room (ours count and say why).
  nghttp2_option_set_max_continuations(opt, limits_.max_continuations + 1);
  nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);

  detail::MemPool::LargeBlock frame_buffer;
  detail::MemPool::local().capture(&frame_buffer);
  nghttp2_session_server_new3(&session_, cbs, this, opt, detail::MemPool::mem());
  detail::MemPool::local().capture(nullptr);
  if (!frame_buffer.ambiguous) {
    frame_buffer_ = frame_buffer.data;
    frame_buffer_size_ = frame_buffer.size;
  }
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);

  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.initial_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(limits_.max_header_list)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  // The connection's receive window: room for several streams' windows at once, so one
  // stream whose upstream is slow does not stall the others.
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(limits_.connection_window));
}

ServerCodec::~ServerCodec() { nghttp2_session_del(session_); }

void ServerCodec::refuse(const char* reason, uint32_t goaway_code) {
  if (!refused_) {
    refused_ = reason;
    events_.onRefused(reason);
  }
  nghttp2_session_terminate_session(session_, goaway_code);
}

bool ServerCodec::receive(const char* data, size_t size) {
  if (fatal_) return false;
  const auto n = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), size);
  if (n < 0) {
    if (n == NGHTTP2_ERR_FLOODED)
      refuse("frame_flood", NGHTTP2_ENHANCE_YOUR_CALM);
    else if (n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
      refuse("continuation_flood", NGHTTP2_ENHANCE_YOUR_CALM);
    else if (n == NGHTTP2_ERR_BAD_CLIENT_MAGIC || n == NGHTTP2_ERR_SETTINGS_EXPECTED)
      refuse("bad_preface", NGHTTP2_PROTOCOL_ERROR);
    else if (n != NGHTTP2_ERR_CALLBACK_FAILURE)
      refuse("protocol_error", NGHTTP2_PROTOCOL_ERROR);
    else
      nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
    // The GOAWAY queued above may still go out; nothing more is read.
    fatal_ = true;
    return false;
  }
  return nghttp2_session_want_read(session_) != 0;
}

bool ServerCodec::pendingOutput(std::string& out, size_t max) {
  return detail::drainOutput(session_, out, max, fatal_);
}

bool ServerCodec::wantsWrite() const { return nghttp2_session_want_write(session_) != 0; }

bool ServerCodec::finished() const {
  return (fatal_ || !nghttp2_session_want_read(session_)) && !nghttp2_session_want_write(session_);
}

void ServerCodec::goAway(uint32_t error_code) {
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), error_code, nullptr, 0);
}

namespace {

// ":status" of a response: three digits, without a std::string per response.
struct StatusText {
  explicit StatusText(unsigned status) {
    status = std::min(status, 999u);
    text[0] = static_cast<char>('0' + status / 100);
    text[1] = static_cast<char>('0' + status / 10 % 10);
    text[2] = static_cast<char>('0' + status % 10);
  }
  std::string_view view() const { return {text, 3}; }
  char text[3];
};

}  // namespace

namespace {

template <typename Field>
bool submitResponse(nghttp2_session* session, int32_t stream, unsigned status, const Field* headers,
                    size_t count, nghttp2_data_source_read_callback body) {
  const StatusText code(status);
  // A response head has a handful of fields: their entries live on the stack (nghttp2 copies
  // them when it submits), a vector only for a long list.
  constexpr size_t kInline = 32;
  nghttp2_nv inline_nva[kInline];
  std::vector<nghttp2_nv> heap_nva;
  nghttp2_nv* nva = inline_nva;
  if (count + 1 > kInline) {
    heap_nva.resize(count + 1);
    nva = heap_nva.data();
  }
  size_t n = 0;
  nva[n++] = nv(":status", code.view());
  for (size_t i = 0; i < count; ++i) nva[n++] = nv(headers[i].first, headers[i].second);
  nghttp2_data_provider provider{};
  provider.read_callback = body;
  return nghttp2_submit_response(session, stream, nva, n, body ? &provider : nullptr) == 0;
}

}  // namespace

bool ServerCodec::respond(int32_t stream, unsigned status, const std::vector<Header>& headers,
                          bool end_stream) {
  auto* st = Callbacks::stream(*this, stream);
  if (!st || st->responded) return false;
  st->responded = true;
  return submitResponse(session_, stream, status, headers.data(), headers.size(),
                        end_stream ? nullptr : &Callbacks::readBody);
}

bool ServerCodec::respond(int32_t stream, unsigned status, const HeaderView* headers, size_t count,
                          bool end_stream) {
  auto* st = Callbacks::stream(*this, stream);
  if (!st || st->responded) return false;
  st->responded = true;
  return submitResponse(session_, stream, status, headers, count,
                        end_stream ? nullptr : &Callbacks::readBody);
}

void ServerCodec::sendInterim(int32_t stream, unsigned status, const std::vector<Header>& headers) {
  if (!Callbacks::stream(*this, stream)) return;
  const std::string code = std::to_string(status);
  std::vector<nghttp2_nv> nva;
  nva.push_back(nv(":status", code));
  for (const auto& [k, v] : headers) nva.push_back(nv(k, v));
  nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, stream, nullptr, nva.data(), nva.size(),
                         nullptr);
}

void ServerCodec::queueData(int32_t stream, const char* data, size_t size, bool last) {
  auto* st = Callbacks::stream(*this, stream);
  if (!st) return;
  st->out.append(data, size);
  st->out_last = st->out_last || last;
  nghttp2_session_resume_data(session_, stream);
}

void ServerCodec::sendTrailers(int32_t stream, std::vector<Header> trailers) {
  if (auto* st = Callbacks::stream(*this, stream)) st->trailers = std::move(trailers);
}

void ServerCodec::queueDataBorrowed(int32_t stream, const char* data, size_t size, bool last) {
  auto* st = Callbacks::stream(*this, stream);
  if (!st) return;
  if (st->borrowed_size || st->out_offset < st->out.size()) {
    // Bytes are still waiting: these go after them, copied (keeps the order simple).
    st->out.append(data, size);
  } else {
    st->borrowed = data;
    st->borrowed_size = size;
  }
  st->out_last = st->out_last || last;
  nghttp2_session_resume_data(session_, stream);
}

void ServerCodec::keepQueued(int32_t stream) {
  auto* st = Callbacks::stream(*this, stream);
  if (!st || !st->borrowed_size) return;
  std::string rest(st->borrowed, st->borrowed_size);
  rest.append(st->out, st->out_offset);
  st->out = std::move(rest);
  st->out_offset = 0;
  st->borrowed = nullptr;
  st->borrowed_size = 0;
}

size_t ServerCodec::queued(int32_t stream) const {
  auto it = streams_.find(stream);
  return it == streams_.end()
             ? 0
             : it->second->borrowed_size + it->second->out.size() - it->second->out_offset;
}

void ServerCodec::consumed(int32_t stream, size_t size) {
  if (size) nghttp2_session_consume(session_, stream, size);
}

void ServerCodec::resetStream(int32_t stream, uint32_t error_code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, error_code);
}

size_t ServerCodec::releaseIdleMemory() {
  // With nothing to send, nghttp2 has reset the frame buffer: the next frame is written from
  // its start, nothing in it is read again.
  spare_.clear();
  spare_.shrink_to_fit();
  if (!frame_buffer_ || nghttp2_session_want_write(session_)) return 0;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(frame_buffer_);
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t end = (begin + frame_buffer_size_) / page * page;
  if (end <= first) return 0;
  if (madvise(reinterpret_cast<void*>(first), end - first, MADV_DONTNEED) != 0) return 0;
  return end - first;
}

}  // namespace meshdeck::proxy::h2
