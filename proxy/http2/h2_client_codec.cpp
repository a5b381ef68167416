#include "proxy/http2/h2_client_codec.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "proxy/http2/nghttp2_mem_pool.h"
#include "proxy/http2/nghttp2_session_io.h"

namespace meshdeck::proxy::h2 {

using detail::nv;
using detail::view;

struct ClientCodec::StreamState {
  int32_t id = 0;
  unsigned status = 0;         // of the head being received (0: none yet)
  bool final_head = false;     // the final response head went up
  std::vector<Header> fields;  // of the head or the trailers being received
  size_t header_bytes = 0;     // of the block being received, as RFC 9113 §6.5.2 counts
  std::string out;             // request body bytes not yet framed
  size_t out_offset = 0;
  bool out_last = false;
  bool ended = false;  // END_STREAM received
};

struct ClientCodec::Callbacks {
  static ClientCodec& codec(void* user) { return *static_cast<ClientCodec*>(user); }

  static StreamState* stream(ClientCodec& c, int32_t id) {
    auto it = c.streams_.find(id);
    return it == c.streams_.end() ? nullptr : it->second.get();
  }

  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& c = codec(user);
    if (StreamState* st = stream(c, frame->hd.stream_id)) {
      st->fields.clear();
      st->header_bytes = 0;
      if (!st->final_head) st->status = 0;
    }
    return 0;
  }

  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto& c = codec(user);
    StreamState* st = stream(c, frame->hd.stream_id);
    if (!st) return 0;
    st->header_bytes += namelen + valuelen + 32;
    if (st->header_bytes > c.limits_.max_header_list) {
      // nghttp2 still decodes the rest of the block (the HPACK state needs it); we keep
      // nothing more of it and reset the stream.
      c.events_.onMalformed(st->id, "header_too_large");
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    const auto n = view(name, namelen);
    const auto v = view(value, valuelen);
    if (n == ":status") {
      // nghttp2 checks for three digits only: "000" or "999" would reach us as a status.
      // RFC 9110 §15: a status is 100..599.
      unsigned s = 0;
      if (std::from_chars(v.data(), v.data() + v.size(), s).ec != std::errc{} || s < 100 ||
          s > 599) {
        c.events_.onMalformed(st->id, "bad_status");
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
      st->status = s;
    } else if (!n.empty() && n[0] != ':') {
      if (st->fields.empty()) st->fields.reserve(8);  // one allocation for a typical head
      st->fields.emplace_back(std::string(n), std::string(v));
    }
    return 0;
  }

  static int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& c = codec(user);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      c.goaway_received_ = true;
      return 0;
    }
    StreamState* st = stream(c, frame->hd.stream_id);
    if (!st) return 0;
    const bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS) {
      if (!st->final_head) {
        if (st->status >= 100 && st->status < 200) return 0;  // interim: skipped
        st->final_head = true;
        c.events_.onResponseHead(st->id, st->status, st->fields, end);
        st->fields.clear();
      }
      // else: trailers, kept in `fields` for onResponseEnd below
    }
    if (end && (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        !st->ended) {
      st->ended = true;
      c.events_.onResponseEnd(st->id, st->fields);
    }
    return 0;
  }

  static int onDataChunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                         void* user) {
    auto& c = codec(user);
    if (StreamState* st = stream(c, id); st && st->final_head)
      c.events_.onResponseData(id, reinterpret_cast<const char*>(data), len);
    else
      nghttp2_session_consume(c.session_, id, len);  // nobody will read it
    return 0;
  }

  static int onStreamClose(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
    auto& c = codec(user);
    auto it = c.streams_.find(id);
    if (it == c.streams_.end()) return 0;
    c.streams_.erase(it);
    c.events_.onStreamClosed(id, error_code);
    return 0;
  }

  static ssize_t readBody(nghttp2_session*, int32_t id, uint8_t* buf, size_t length,
                          uint32_t* flags, nghttp2_data_source*, void* user) {
    auto& c = codec(user);
    StreamState* st = stream(c, id);
    if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const size_t left = st->out.size() - st->out_offset;
    const size_t n = std::min(left, length);
    if (n) std::memcpy(buf, st->out.data() + st->out_offset, n);
    st->out_offset += n;
    if (st->out_offset == st->out.size()) {
      st->out.clear();
      st->out_offset = 0;
      if (st->out_last)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      else if (n == 0)
        return NGHTTP2_ERR_DEFERRED;
      c.events_.onDrained(id);
    }
    return static_cast<ssize_t>(n);
  }
};

ClientCodec::ClientCodec(ClientEvents& events, const ClientLimits& limits)
    : events_(events), limits_(limits) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::onFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::onStreamClose);

  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  // Until the server's SETTINGS arrive, assume the RFC's recommended minimum.
  nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
  nghttp2_option_set_max_send_header_block_length(opt, 64 * 1024);
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_max_continuations(opt, 17);
  nghttp2_session_client_new3(&session_, cbs, this, opt, detail::MemPool::mem());
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);

  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.initial_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(limits_.max_header_list)},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(limits_.connection_window));
}

ClientCodec::~ClientCodec() { nghttp2_session_del(session_); }

bool ClientCodec::receive(const char* data, size_t size) {
  if (fatal_) return false;
  const auto n = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), size);
  if (n < 0) {
    nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
    fatal_ = true;
    return false;
  }
  return nghttp2_session_want_read(session_) != 0;
}

bool ClientCodec::pendingOutput(std::string& out, size_t max) {
  return detail::drainOutput(session_, out, max, fatal_);
}

bool ClientCodec::wantsWrite() const { return nghttp2_session_want_write(session_) != 0; }

bool ClientCodec::finished() const {
  return fatal_ || (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_));
}

bool ClientCodec::goingAway() const {
  return fatal_ || goaway_received_ || !nghttp2_session_want_read(session_);
}

uint32_t ClientCodec::maxConcurrentStreams() const {
  return std::min(
      limits_.max_concurrent_streams,
      nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
}

int32_t ClientCodec::submitRequest(const std::vector<Header>& headers, bool end_stream) {
  if (goingAway()) return -1;
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size());
  for (const auto& [k, v] : headers) nva.push_back(nv(k, v));
  nghttp2_data_provider provider{};
  provider.read_callback = &Callbacks::readBody;
  auto st = std::make_unique<StreamState>();
  const int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                            end_stream ? nullptr : &provider, nullptr);
  if (id < 0) return id;
  st->id = id;
  streams_[id] = std::move(st);
  return id;
}

void ClientCodec::queueData(int32_t stream, const char* data, size_t size, bool last) {
  auto* st = Callbacks::stream(*this, stream);
  if (!st) return;
  st->out.append(data, size);
  st->out_last = st->out_last || last;
  nghttp2_session_resume_data(session_, stream);
}

size_t ClientCodec::queued(int32_t stream) const {
  auto it = streams_.find(stream);
  return it == streams_.end() ? 0 : it->second->out.size() - it->second->out_offset;
}

void ClientCodec::consumed(int32_t stream, size_t size) {
  if (size) nghttp2_session_consume(session_, stream, size);
}

void ClientCodec::resetStream(int32_t stream, uint32_t error_code) {
  if (streams_.count(stream))
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, error_code);
}

void ClientCodec::goAway(uint32_t error_code) {
  nghttp2_session_terminate_session(session_, error_code);
}

}  // namespace meshdeck::proxy::h2
