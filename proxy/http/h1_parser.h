#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string_view>
#include <type_traits>
#include <vector>

namespace meshdeck::proxy::h1 {

// The proxy's own HTTP/1.1 request-head parser (docs/h1-codec.md): parses in place over the
// receive buffer, the method, target and fields are views into it (nothing is copied, no
// allocation per field: a fixed array holds the first kInlineFields, a vector only the rest),
// and it decides the body framing in the same pass. No Beast, no Qt.
//
// The session reads request heads with it (Session::readHead). Its verdict is the proxy's
// verdict from before, rule for rule and reason for reason: the read loop's checks
// (scanRequestHead() in proxy/http/headers.h), Beast's request parser with the session's reason
// mapping (parseRequestHeadWithBeast() in proxy/http/beast_head.h) and the head checks of
// admission (checkRequestHead() in proxy/admission.h: field count, framing and Host decision of
// decideRequestFraming()). tests/unit/proxy/h1_differential_test.cpp and the proxy_h1_parser
// fuzz target compare the two on every input they have.

// The session's limits (Session::readHead, kMaxHeaderBytes, kMaxHeaderCount).
inline constexpr size_t kMaxRequestLineBytes = 16 * 1024;
inline constexpr size_t kMaxHeadBytes = 64 * 1024;
inline constexpr size_t kMaxFieldCount = 100;
// Fields kept without allocating (typical heads have 5 to 20).
inline constexpr size_t kInlineFields = 24;

struct Field {
  std::string_view name;   // as received
  std::string_view value;  // without leading and trailing SP / HTAB
};

enum class BodyFraming : uint8_t { kNone, kContentLength, kChunked };

// The fields of a parsed head, in the order received: views into the buffer it was parsed
// from. A fixed array holds the first kInlineFields, a vector (kept when the head object is
// reused) only the rest.
//
// The fixed array is raw storage, constructed field by field by add(): a new head object (one
// per upstream attempt, proxy/upstream_attempt.h) then costs no clearing of its 24 slots
// (~0.8 KiB), which value-initialising a Field array did on every request.
class FieldList {
 public:
  FieldList() noexcept {}  // user-provided: leaves inline_ as raw bytes, even when the
                           // enclosing object is value-initialised
  size_t fieldCount() const { return count_; }
  const Field& field(size_t i) const {
    return i < kInlineFields ? inlineFields()[i] : overflow_[i - kInlineFields];
  }
  // The value of the first field named `name` (case-insensitive), or nullptr.
  const std::string_view* find(std::string_view name) const;

  void clearFields() {
    overflow_.clear();
    count_ = 0;
  }
  void add(Field f) {
    if (count_ < kInlineFields) [[likely]]
      ::new (static_cast<void*>(inline_ + count_++ * sizeof(Field))) Field(f);
    else
      addOverflow(f);
  }
  // add({name, value}), the views stored member by member (no Field copied through memory).
  void add(const char* name, size_t name_size, const char* value, size_t value_size) {
    if (count_ < kInlineFields) [[likely]] {
      ::new (static_cast<void*>(inline_ + count_++ * sizeof(Field)))
          Field{std::string_view(name, name_size), std::string_view(value, value_size)};
    } else {
      addOverflow({{name, name_size}, {value, value_size}});
    }
  }

 private:
  void addOverflow(Field f);
  // The first count_ (up to kInlineFields) fields, constructed by add(); Field is trivially
  // copyable and destructible, so nothing needs destroying and copies copy the bytes.
  const Field* inlineFields() const {
    return std::launder(reinterpret_cast<const Field*>(inline_));
  }

  static_assert(std::is_trivially_copyable_v<Field> && std::is_trivially_destructible_v<Field>);
  alignas(Field) unsigned char inline_[kInlineFields * sizeof(Field)];
  std::vector<Field> overflow_;
  size_t count_ = 0;
};

// A parsed request head: views into the buffer it was parsed from, valid while those bytes are.
class RequestHead : public FieldList {
 public:
  std::string_view method;
  std::string_view target;
  unsigned version = 0;  // 10 or 11
  size_t size = 0;       // bytes of the head, blank line included

  // Body framing (RFC 9112 §6), as decideRequestFraming() decides it.
  BodyFraming body = BodyFraming::kNone;
  uint64_t content_length = 0;
  // The Transfer-Encoding / Content-Length lines are not the single canonical line the
  // forwarded head states (Framing::rewrite).
  bool rewrite_framing = false;
  bool h2c = false;  // an Upgrade naming h2c or an HTTP2-Settings field (Framing::h2c)

  // Connection tokens (of Connection and Proxy-Connection lines) and whether Upgrade is present.
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool connection_upgrade = false;
  bool has_upgrade = false;

  // Whether the connection may carry another request after this one, as Beast's
  // basic_parser::keep_alive() says of a request: HTTP/1.1 unless a Connection (or
  // Proxy-Connection) token is "close", HTTP/1.0 only with a "keep-alive" token.
  bool keepAlive() const { return version >= 11 ? !connection_close : connection_keep_alive; }

  void clear();
};

enum class Status : uint8_t {
  kNeedMore,  // the head has not ended yet and nothing refuses it so far
  kDone,      // `consumed` bytes are the head
  kError,     // refuse with `http_status` and `reason` (counted in malformed[reason]), close
};

struct Result {
  Status status = Status::kNeedMore;
  size_t consumed = 0;
  unsigned http_status = 0;  // kError: 400, 431, 501 or 505
  const char* reason = nullptr;
  // kError: the complete head was refused by admission's head checks (checkRequestHead(): more
  // than kMaxFieldCount fields, the framing and Host decision, framing_mismatch), which the
  // session answers within an exchange (counted by finish(), in the request's HTTP version);
  // `head` then holds the request line and the first kMaxFieldCount fields.
  bool head_checks = false;
};

// Incremental parser of one request head. parse() is given every byte received so far for this
// head (the start of the receive buffer: more bytes are appended between calls, none consumed);
// it remembers how far it searched for the end of the head, so a head arriving byte by byte
// costs O(n) scanning, and parses it in one pass once the blank line is there. While the head is
// incomplete it refuses what can never become a valid request line (400 bad_request_line) and
// heads over the size limits (431), as the session's read loop does.
class RequestParser {
 public:
  Result parse(std::string_view data, RequestHead& head);
  // For the next head (the bytes of the previous one consumed from the buffer).
  void reset() { scanned_ = 0; }

 private:
  size_t scanned_ = 0;
};

// Parses `data` as a whole: RequestParser{}.parse(data, head).
Result parseRequestHead(std::string_view data, RequestHead& head);

}  // namespace meshdeck::proxy::h1
