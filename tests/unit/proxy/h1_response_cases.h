#pragma once

// Rows of the response codec's tests: the response rows of docs/http1-framing.md and Beast's
// syntax rules as upstream_attempt.cpp applies them today. `reason` empty: accepted with `body`
// and `declared` (0 none, 1 content-length, 2 chunked, 3 close-delimited) and `length`;
// "need-more": incomplete; else refused (502) with that malformed_responses reason.

#include <string>
#include <vector>

namespace meshdeck::proxy::h1test {

struct ResponseCase {
  const char* name;
  std::string raw;
  bool head = false;  // the request was HEAD
  std::string reason;
  int body = 0, declared = 0;
  unsigned long long length = 0;
};

inline std::vector<ResponseCase> responseCases() {
  const std::string ok = "HTTP/1.1 200 OK\r\n";
  std::string many;
  for (int i = 0; i < 40; ++i)
    many += "X-" + std::to_string(i) + ": v" + std::to_string(i) + "\r\n";
  return {
      // --- accepted: the framing rows ---
      {"200 cl", ok + "Content-Length: 5\r\n\r\nhello", false, "", 1, 1, 5},
      {"200 cl 0", ok + "Content-Length: 0\r\n\r\n", false, "", 1, 1, 0},
      {"200 chunked", ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false, "",
       2, 2, 0},
      {"200 Chunked mixed case", ok + "transfer-encoding: Chunked\r\n\r\n", false, "", 2, 2, 0},
      {"200 no framing: close-delimited", ok + "Server: x\r\n\r\nbody", false, "", 3, 3, 0},
      {"204 declares nothing", "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", false, "", 0,
       0, 0},
      {"204 with chunked", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", false,
       "", 0, 0, 0},
      {"304 keeps its length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false, "",
       0, 1, 10},
      {"head response keeps its length", ok + "Content-Length: 10\r\n\r\n", true, "", 0, 1, 10},
      {"head response keeps chunked", ok + "Transfer-Encoding: chunked\r\n\r\n", true, "", 0, 2, 0},
      {"head response without framing", ok + "\r\n", true, "", 0, 0, 0},
      {"100 continue", "HTTP/1.1 100 Continue\r\n\r\n", false, "", 0, 0, 0},
      {"103 early hints", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", false,
       "", 0, 0, 0},
      {"101 declares nothing",
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
       false, "", 0, 0, 0},
      {"http/1.0 close-delimited", "HTTP/1.0 200 OK\r\n\r\nbody", false, "", 3, 3, 0},
      {"http/1.0 keep-alive",
       "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false, "", 1, 1,
       0},
      {"connection close", ok + "Connection: close\r\nContent-Length: 2\r\n\r\nok", false, "", 1, 1,
       2},
      {"cl 5, 5", ok + "Content-Length: 5, 5\r\n\r\n", false, "", 1, 1, 5},
      {"cl 5 on two lines", ok + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", false, "", 1, 1,
       5},
      {"cl 05", ok + "Content-Length: 05\r\n\r\n", false, "", 1, 1, 5},
      {"empty reason", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", false, "", 1, 1, 0},
      {"reason with htab and obs-text", "HTTP/1.1 200 O\tK \xe9\r\nContent-Length: 0\r\n\r\n",
       false, "", 1, 1, 0},
      {"status 999", "HTTP/1.1 999 X\r\nContent-Length: 0\r\n\r\n", false, "", 1, 1, 0},
      {"value ows trimmed", ok + "X-A:  \t a b \t \r\nContent-Length: 0\r\n\r\n", false, "", 1, 1,
       0},
      {"empty value", ok + "X-A:\r\nContent-Length: 0\r\n\r\n", false, "", 1, 1, 0},
      {"40 fields", ok + many + "Content-Length: 0\r\n\r\n", false, "", 1, 1, 0},
      {"te gzip on a 204", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: gzip\r\n\r\n", false, "",
       0, 0, 0},
      // --- refused by the framing decision ---
      {"200 te gzip", ok + "Transfer-Encoding: gzip\r\n\r\n", false,
       "unsupported_transfer_encoding"},
      {"200 te gzip, chunked", ok + "Transfer-Encoding: gzip, chunked\r\n\r\n", false,
       "unsupported_transfer_encoding"},
      {"200 te identity + chunked lines",
       ok + "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n", false,
       "unsupported_transfer_encoding"},
      {"200 te chunked, gzip", ok + "Transfer-Encoding: chunked, gzip\r\n\r\n", false,
       "chunked_not_last"},
      {"200 te chunked, chunked", ok + "Transfer-Encoding: chunked, chunked\r\n\r\n", false,
       "chunked_twice"},
      {"200 te empty", ok + "Transfer-Encoding: \r\n\r\n", false, "bad_transfer_encoding"},
      {"200 te chunked;x", ok + "Transfer-Encoding: chunked;x\r\n\r\n", false,
       "bad_transfer_encoding"},
      {"200 te gzip then cl", ok + "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n", false,
       "content_length_with_transfer_encoding"},
      {"http/1.0 200 te", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false,
       "transfer_encoding_http10"},
      {"304 te gzip", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: gzip\r\n\r\n", false,
       "unsupported_transfer_encoding"},
      // --- refused by Beast's parser: bad_framing ---
      {"cl + te chunked", ok + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", false,
       "bad_framing"},
      {"te chunked + cl", ok + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", false,
       "bad_framing"},
      {"cl 5 and 6 on two lines", ok + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", false,
       "bad_framing"},
      {"cl 5, 6", ok + "Content-Length: 5, 6\r\n\r\n", false, "bad_framing"},
      {"cl abc", ok + "Content-Length: abc\r\n\r\n", false, "bad_framing"},
      {"cl -1", ok + "Content-Length: -1\r\n\r\n", false, "bad_framing"},
      {"cl empty", ok + "Content-Length: \r\n\r\n", false, "bad_framing"},
      {"cl overflow", ok + "Content-Length: 99999999999999999999\r\n\r\n", false, "bad_framing"},
      {"cl abc on a 204", "HTTP/1.1 204 No Content\r\nContent-Length: abc\r\n\r\n", false,
       "bad_framing"},
      {"te chunked twice on two lines",
       ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", false,
       "bad_framing"},
      // --- refused by Beast's parser: bad_response ---
      {"status two digits", "HTTP/1.1 20 OK\r\n\r\n", false, "bad_response"},
      {"status four digits", "HTTP/1.1 2000 OK\r\n\r\n", false, "bad_response"},
      {"status letter", "HTTP/1.1 2x0 OK\r\n\r\n", false, "bad_response"},
      {"status without reason sp", "HTTP/1.1 200\r\n\r\n", false, "bad_response"},
      {"two sp before status", "HTTP/1.1  200 OK\r\n\r\n", false, "bad_response"},
      {"version 2.0", "HTTP/2.0 200 OK\r\n\r\n", false, "bad_response"},
      {"version 0.9", "HTTP/0.9 200 OK\r\n\r\n", false, "bad_response"},
      {"lower-case http", "http/1.1 200 OK\r\n\r\n", false, "bad_response"},
      {"leading empty line", "\r\nHTTP/1.1 200 OK\r\n\r\n", false, "bad_response"},
      {"nul in reason", std::string("HTTP/1.1 200 O\0K\r\n\r\n", 21), false, "bad_response"},
      {"bare cr in reason", "HTTP/1.1 200 O\rK\r\n\r\n", false, "bad_response"},
      {"bare lf after status line", "HTTP/1.1 200 OK\nServer: x\r\n\r\n", false, "bad_response"},
      {"del in reason", "HTTP/1.1 200 O\x7fK\r\n\r\n", false, "bad_response"},
      {"nul in value", ok + std::string("X-A: a\0b\r\n\r\n", 12), false, "bad_response"},
      {"bare cr in value", ok + "X-A: a\rb\r\n\r\n", false, "bad_response"},
      {"cr cr in value", ok + "X-A: a\r\r\n\r\n", false, "bad_response"},
      {"del in value", ok + "X-A: a\x7f\r\n\r\n", false, "bad_response"},
      {"nul in name", ok + std::string("X\0A: a\r\n\r\n", 10), false, "bad_response"},
      {"space before colon", ok + "X-A : a\r\n\r\n", false, "bad_response"},
      {"empty name", ok + ": a\r\n\r\n", false, "bad_response"},
      {"no colon", ok + "X-A a\r\n\r\n", false, "bad_response"},
      {"space at the first field", ok + " X-A: a\r\n\r\n", false, "bad_response"},
      {"bad connection list", ok + "Connection: close;x\r\nContent-Length: 0\r\n\r\n", false,
       "bad_response"},
      {"bad proxy-connection list", ok + "Proxy-Connection: a b\r\nContent-Length: 0\r\n\r\n",
       false, "bad_response"},
      {"blank line with a bare cr", ok + "X-A: a\r\n\rx\r\n\r\n", false, "bad_response"},
      {"huge head", ok + "X-A: " + std::string(70000, 'v') + "\r\n\r\n", false, "bad_response"},
      {"huge incomplete head", ok + "X-A: " + std::string(70000, 'v'), false, "bad_response"},
      // A CRLF CRLF within the first 8 bytes, before the status line can be judged (found by the
      // proxy_h1_response fuzz target: cut after 7 bytes, the 8th must still be parsed).
      {"blank line before a status line", std::string(",E\r\n\r\n\xb8\xab"), false, "bad_response"},
      {"blank line in a short start", std::string("\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"), false,
       "bad_response"},
      {"huge status line", "HTTP/1.1 200 " + std::string(70000, 'r'), false, "bad_response"},
      // --- the codec's one deliberate difference: obs-fold refused (Beast joins the lines) ---
      {"obs-fold", ok + "X-A: one\r\n two\r\nContent-Length: 0\r\n\r\n", false, "obs_fold"},
      {"obs-fold htab", ok + "X-A: one\r\n\ttwo\r\nContent-Length: 0\r\n\r\n", false, "obs_fold"},
      {"obs-fold in content-length", ok + "Content-Length: 1\r\n 0\r\n\r\n", false, "obs_fold"},
      // --- incomplete ---
      {"empty", "", false, "need-more"},
      {"partial version", "HTTP/1.", false, "need-more"},
      {"partial status line", "HTTP/1.1 200 O", false, "need-more"},
      {"no blank line yet", ok + "Content-Length: 5\r\n", false, "need-more"},
      {"bare lf head", "HTTP/1.1 200 OK\n\n", false, "bad_response"},
  };
}

}  // namespace meshdeck::proxy::h1test
