#pragma once

// Request heads with the proxy's expected answer: one row per rule of docs/http1-framing.md
// (requests) and per syntax rule the session enforces. Used by proxy_h1_parser_test (the codec
// must answer exactly this) and proxy_h1_differential_test (inputs for both parsers).

#include <string>
#include <vector>

namespace meshdeck::proxy::h1test {

struct Case {
  const char* name;
  std::string raw;      // bytes received
  unsigned status;      // 0: accepted
  const char* reason;   // refusal reason ("" when accepted)
  int body = 0;         // accepted: 0 none, 1 content-length, 2 chunked
  uint64_t length = 0;  // accepted content-length
  bool rewrite = false;
};

inline std::string post(const std::string& fields, const std::string& start = "POST / HTTP/1.1") {
  return start + "\r\n" + fields + "\r\n";
}

inline std::vector<Case> framingCases() {
  const std::string many = [] {
    std::string s = "Host: a\r\n";
    for (int i = 0; i < 100; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
    return s;
  }();
  const std::string hundred = [] {
    std::string s = "Host: a\r\n";
    for (int i = 0; i < 99; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
    return s;
  }();
  return {
      // Transfer-Encoding (RFC 9112 §6.1, §6.3).
      {"te smuggling: identity line then chunked line",
       post("Host: a\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n"), 501,
       "unsupported_transfer_encoding"},
      {"te chunked", post("Host: a\r\nTransfer-Encoding: chunked\r\n"), 0, "", 2},
      {"te Chunked (case)", post("Host: a\r\nTransfer-Encoding: Chunked\r\n"), 0, "", 2},
      {"te chunked, identity", post("Host: a\r\nTransfer-Encoding: chunked, identity\r\n"), 400,
       "chunked_not_last"},
      {"te chunked line then gzip line",
       post("Host: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"), 400,
       "chunked_not_last"},
      {"te gzip, chunked", post("Host: a\r\nTransfer-Encoding: gzip, chunked\r\n"), 501,
       "unsupported_transfer_encoding"},
      {"te gzip", post("Host: a\r\nTransfer-Encoding: gzip\r\n"), 501,
       "unsupported_transfer_encoding"},
      {"te chunked twice (two lines)",
       post("Host: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400,
       "chunked_twice"},
      {"te chunked, chunked", post("Host: a\r\nTransfer-Encoding: chunked, chunked\r\n"), 400,
       "chunked_twice"},
      {"te empty", post("Host: a\r\nTransfer-Encoding: \r\n"), 400, "bad_transfer_encoding"},
      {"te chunked with a parameter", post("Host: a\r\nTransfer-Encoding: chunked;q=1\r\n"), 400,
       "bad_transfer_encoding"},
      {"te empty list element", post("Host: a\r\nTransfer-Encoding: , chunked\r\n"), 0, "", 2, 0,
       true},
      {"te chunked + cl", post("Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
       400, "content_length_with_transfer_encoding"},
      {"cl + te chunked", post("Host: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
       400, "content_length_with_transfer_encoding"},
      {"http/1.0 + te chunked",
       post("Host: a\r\nTransfer-Encoding: chunked\r\n", "POST / HTTP/1.0"), 400,
       "transfer_encoding_http10"},
      // Content-Length (RFC 9110 §8.6, RFC 9112 §6.3 (5)).
      {"cl 5", post("Host: a\r\nContent-Length: 5\r\n"), 0, "", 1, 5},
      {"cl 0", post("Host: a\r\nContent-Length: 0\r\n"), 0, "", 1, 0},
      {"cl 5, 5", post("Host: a\r\nContent-Length: 5, 5\r\n"), 0, "", 1, 5, true},
      {"cl 5 on two lines", post("Host: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n"), 0, "", 1,
       5, true},
      {"cl 5, 6", post("Host: a\r\nContent-Length: 5, 6\r\n"), 400, "multiple_content_length"},
      {"cl 5 and 6 on two lines", post("Host: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n"),
       400, "multiple_content_length"},
      {"cl +5", post("Host: a\r\nContent-Length: +5\r\n"), 400, "bad_content_length"},
      {"cl -1", post("Host: a\r\nContent-Length: -1\r\n"), 400, "bad_content_length"},
      {"cl 05 (leading zero is fine)", post("Host: a\r\nContent-Length: 05\r\n"), 0, "", 1, 5,
       true},
      {"cl 5, (empty element)", post("Host: a\r\nContent-Length: 5,\r\n"), 400,
       "bad_content_length"},
      {"cl empty", post("Host: a\r\nContent-Length: \r\n"), 400, "bad_content_length"},
      {"cl 1 0 (inner space)", post("Host: a\r\nContent-Length: 1 0\r\n"), 400,
       "bad_content_length"},
      {"cl 0x5", post("Host: a\r\nContent-Length: 0x5\r\n"), 400, "bad_content_length"},
      {"cl overflow", post("Host: a\r\nContent-Length: 99999999999999999999999\r\n"), 400,
       "bad_content_length"},
      {"no framing field: no body", post("Host: a\r\n"), 0, ""},
      // Host (RFC 9112 §3.2, RFC 9110 §7.2, RFC 3986 §3.2.2).
      {"host missing in http/1.1", post("Content-Length: 0\r\n"), 400, "missing_host"},
      {"host missing in http/1.0", post("", "GET / HTTP/1.0"), 0, ""},
      {"host twice", post("Host: a\r\nHost: a\r\n"), 400, "multiple_host"},
      {"host empty", post("Host: \r\n"), 400, "bad_host"},
      {"host with space", post("Host: a b\r\n"), 400, "bad_host"},
      {"host with @", post("Host: user@a\r\n"), 400, "bad_host"},
      {"host with /", post("Host: a/b\r\n"), 400, "bad_host"},
      {"host bad port", post("Host: a:http\r\n"), 400, "bad_host"},
      {"host port too large", post("Host: a:65536\r\n"), 400, "bad_host"},
      {"host two ports", post("Host: a:80:80\r\n"), 400, "bad_host"},
      {"host bad pct-encoding", post("Host: a%zz\r\n"), 400, "bad_host"},
      {"host unclosed ip-literal", post("Host: [::1\r\n"), 400, "bad_host"},
      {"host name:port", post("Host: reviews.default:9080\r\n"), 0, ""},
      {"host ipv4", post("Host: 10.0.0.1\r\n"), 0, ""},
      {"host ipv6 literal with port", post("Host: [::1]:8080\r\n"), 0, ""},
      {"host pct-encoded reg-name", post("Host: a%2Db\r\n"), 0, ""},
      {"absolute-form target, empty host", post("Host: \r\n", "GET http://reviews/ HTTP/1.1"), 0,
       ""},
      {"absolute-form target, invalid host", post("Host: a b\r\n", "GET http://reviews/ HTTP/1.1"),
       400, "bad_host"},
      // Syntax (RFC 9112 §2, §3, §5): obs-fold, names, values, sizes, version.
      {"obs-fold", post("Host: a\r\nX: a\r\n  b\r\n"), 400, "obs_fold"},
      {"obs-fold wins over an earlier bad name", post("Host: a\r\nX Y: a\r\nZ: b\r\n\tc\r\n"), 400,
       "obs_fold"},
      {"field line starting with a space", post(" Host: a\r\n"), 400, "obs_fold"},
      {"space before colon", post("Host : a\r\n"), 400, "bad_header_name"},
      {"empty field name", post("Host: a\r\n: v\r\n"), 400, "bad_header_name"},
      {"field without colon", post("Host: a\r\nX\r\n"), 400, "bad_header_name"},
      {"field name with a separator", post("Host: a\r\nX(: v\r\n"), 400, "bad_header_name"},
      {"nul in a value", post(std::string("Host: a\r\nX: a") + '\0' + "b\r\n"), 400,
       "bad_header_value"},
      {"bare lf in a value", post("Host: a\r\nX: a\nb\r\n"), 400, "bad_header_value"},
      {"bare cr in a value", post("Host: a\r\nX: a\rb\r\n"), 400, "bad_request"},
      {"del in a value", post("Host: a\r\nX: a\x7f\r\n"), 400, "bad_header_value"},
      {"obs-text in a value", post("Host: a\r\nX: caf\xc3\xa9\r\n"), 0, ""},
      {"tab and spaces trimmed", post("Host: a\r\nX: \t v  w \t\r\n"), 0, ""},
      {"connection list", post("Host: a\r\nConnection: keep-alive, ,Upgrade\r\n"), 0, ""},
      {"connection not a token list", post("Host: a\r\nConnection: close keep-alive\r\n"), 400,
       "bad_header_value"},
      {"proxy-connection not a token list", post("Host: a\r\nProxy-Connection: a;b\r\n"), 400,
       "bad_header_value"},
      {"100 fields", post(hundred), 0, ""},
      {"101 fields", post(many), 431, "too_many_headers"},
      {"request line over 16 KiB",
       post("Host: a\r\n", "GET /" + std::string(16400, 'a') + " HTTP/1.1"), 431,
       "header_too_large"},
      {"head over 64 KiB", post("Host: a\r\nX: " + std::string(70000, 'a') + "\r\n"), 431,
       "header_too_large"},
      {"version 2.0", post("Host: a\r\n", "GET / HTTP/2.0"), 505, "bad_version"},
      {"version 1.2", post("Host: a\r\n", "GET / HTTP/1.2"), 505, "bad_version"},
      {"version lower-case", post("Host: a\r\n", "GET / http/1.1"), 505, "bad_version"},
      {"version then junk", post("Host: a\r\n", "GET / HTTP/1.1x"), 505, "bad_version"},
      {"no version", post("Host: a\r\n", "GET /"), 400, "bad_target"},
      {"version cut by the next line", post("Host: a\r\n", "GET / H"), 505, "bad_version"},
      {"version cut by the end of the head", "GET / H\r\n\r\n", 400, "bad_request"},
      {"method with a separator", post("Host: a\r\n", "GE(T / HTTP/1.1"), 400, "bad_method"},
      {"two spaces after the method", post("Host: a\r\n", "GET  / HTTP/1.1"), 400, "bad_target"},
      {"control in the target", post("Host: a\r\n", "GET /a\x01 HTTP/1.1"), 400, "bad_target"},
      {"obs-text in the target", post("Host: a\r\n", "GET /\xff HTTP/1.1"), 0, ""},
      {"leading empty line", "\r\n" + post("Host: a\r\n", "GET / HTTP/1.1"), 400, "bad_method"},
      {"only empty lines", "\r\n\r\n", 431, "header_too_large"},
      {"bare lf line ends", "GET / HTTP/1.1\nHost: a\n\n", 400, "bad_request_line"},
      {"binary", std::string("\x16\x03\x01\x02\x00", 5), 400, "bad_request_line"},
      {"lower-case method is a token", post("Host: a\r\n", "get / HTTP/1.1"), 0, ""},
      {"options *", post("Host: a\r\n", "OPTIONS * HTTP/1.1"), 0, ""},
      {"h2c upgrade",
       post("Host: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            "HTTP2-Settings: AAMAAABkAAQAAP__\r\n"),
       0, ""},
      // Beast refuses some heads before the decision sees them; the decision names them.
      {"te chunked then an empty te line",
       post("Host: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: ,\r\n"), 400,
       "bad_transfer_encoding"},
      {"cl after chunked, then a bad name",
       post("Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\nX Y: z\r\n"), 400,
       "bad_header_name"},
  };
}

}  // namespace meshdeck::proxy::h1test
