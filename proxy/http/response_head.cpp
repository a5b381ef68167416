#include "proxy/http/response_head.h"

#include <bit>
#include <boost/beast/http/status.hpp>
#include <charconv>
#include <string_view>

#include "proxy/http/h1_syntax.h"
#include "proxy/http/headers.h"

namespace meshdeck::proxy {

namespace http = boost::beast::http;

void editResponseHead(RelayedResponse& out, const RelayHeadEdits& e) {
  auto& head = out.base();
  removeHopByHopHeaders(head, e.upgraded);
  if (e.remove)
    for (const auto& name : *e.remove) head.erase(name);
  if (e.set)
    for (const auto& [k, v] : *e.set) head.set(k, v);
  if (e.add)
    for (const auto& [k, v] : *e.add) head.insert(k, v);
  head.version(e.version);
  if (e.rewrite_framing) writeFramingHeaders(head, e.wire, e.length);
  if (!e.upgraded) out.keep_alive(e.keep_alive);
}

namespace {

using h1::detail::beastTokenList;
using h1::detail::lower;

inline bool same(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// A cheap key of a field name (length, first and last letter case-folded): names that differ in
// it differ; equal keys are compared in full.
inline uint32_t keyOf(std::string_view n) {
  if (n.empty()) return 0;
  return static_cast<uint32_t>(n.size()) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(lower(n.front()))) << 8 |
         static_cast<unsigned char>(lower(n.back()));
}

// The hop-by-hop fields removeHopByHopHeaders() knows by name.
enum class Hop : uint8_t { kNone, kConnection, kDrop, kUpgrade };

Hop hopOf(std::string_view n) {
  switch (n.size()) {
    case 2:
      return same(n, "te") ? Hop::kDrop : Hop::kNone;
    case 7:
      if (same(n, "upgrade")) return Hop::kUpgrade;
      return same(n, "trailer") ? Hop::kDrop : Hop::kNone;
    case 10:
      if (same(n, "connection")) return Hop::kConnection;
      return same(n, "keep-alive") ? Hop::kDrop : Hop::kNone;
    case 16:
      return same(n, "proxy-connection") ? Hop::kDrop : Hop::kNone;
    case 18:
      return same(n, "proxy-authenticate") ? Hop::kDrop : Hop::kNone;
    case 19:
      return same(n, "proxy-authorization") ? Hop::kDrop : Hop::kNone;
    default:
      return Hop::kNone;
  }
}

struct Entry {
  std::string_view name, value;
  uint32_t key;
  // The line "name: value CRLF" as received, copied as bytes when written (else rebuilt).
  bool raw;
};

// Beast's fields container over views: insert() puts a field after the last one of the same
// name (else at the end), set() replaces every field of the name with one at the end.
class EntryList {
 public:
  std::vector<Entry>& v;

  void insert(std::string_view name, std::string_view value, bool raw = false) {
    const uint32_t key = keyOf(name);
    for (size_t i = v.size(); i-- > 0;)
      if (v[i].key == key && same(v[i].name, name)) {
        v.insert(v.begin() + static_cast<std::ptrdiff_t>(i) + 1, {name, value, key, raw});
        return;
      }
    v.push_back({name, value, key, raw});
  }
  void erase(std::string_view name) {
    const uint32_t key = keyOf(name);
    std::erase_if(v, [&](const Entry& e) { return e.key == key && same(e.name, name); });
  }
  void set(std::string_view name, std::string_view value) {
    erase(name);
    v.push_back({name, value, keyOf(name), false});
  }
  const Entry* find(std::string_view name) const {
    const uint32_t key = keyOf(name);
    for (const auto& e : v)
      if (e.key == key && same(e.name, name)) return &e;
    return nullptr;
  }
};

// Beast's filter_token_list(): the tokens of `value` that `drop` does not match, ", "-joined.
template <typename Drop>
void filterTokens(std::string& s, std::string_view value, Drop drop) {
  s.clear();
  beastTokenList(value, [&](std::string_view t) {
    if (drop(t)) return;
    if (!s.empty()) s.append(", ");
    s.append(t);
  });
}

bool hasToken(std::string_view value, std::string_view token) {
  bool found = false;
  beastTokenList(value, [&](std::string_view t) { found = found || same(t, token); });
  return found;
}

// appendHead()'s status line: the client's version, the status, the reason (the status's
// standard phrase when the upstream sent none, as Beast's serializer writes it).
void appendStatusLine(std::string& out, const h1::ResponseHead& head, unsigned version) {
  const char line[13] = {'H',
                         'T',
                         'T',
                         'P',
                         '/',
                         static_cast<char>('0' + version / 10),
                         '.',
                         static_cast<char>('0' + version % 10),
                         ' ',
                         static_cast<char>('0' + head.status / 100 % 10),
                         static_cast<char>('0' + head.status / 10 % 10),
                         static_cast<char>('0' + head.status % 10),
                         ' '};
  out.append(line, sizeof line);
  if (head.reason.empty()) {
    const auto r = http::obsolete_reason(static_cast<http::status>(head.status));
    out.append(r.data(), r.size());
  } else {
    out.append(head.reason);
  }
  out.append("\r\n", 2);
}

// Whether two fields of the head have the same name (case-insensitive).
bool hasSameNames(const h1::ResponseHead& head) {
  for (size_t i = 1; i < head.fieldCount(); ++i) {
    const std::string_view a = head.field(i).name;
    const uint32_t key = keyOf(a);
    for (size_t j = 0; j < i; ++j)
      if (keyOf(head.field(j).name) == key && same(head.field(j).name, a)) return true;
  }
  return false;
}

// The usual case, without building the field list: no route edit, no framing rewrite, not a
// tunnel, every field name once, Connection naming no field. The edits then come down to
// dropping the hop-by-hop lines (Upgrade included) and stating Connection for the client, so
// the received lines go out as they are, runs of adjacent lines as one byte range (the status
// line too when the versions match). False, with nothing written, when the head needs the
// general path. The parser's notes (h1::ResponseHead::hop_fields, rebuilt_fields) say which
// lines are dropped and which are not "name: value CRLF".
bool appendUnchangedHead(std::string& out, const h1::ResponseHead& head, const RelayHeadEdits& e) {
  const size_t count = head.fieldCount();
  if (e.upgraded || e.rewrite_framing || (e.remove && !e.remove->empty()) ||
      (e.set && !e.set->empty()) || (e.add && !e.add->empty()))
    return false;
  if (!head.data || head.described_fields != count || count > 64 || head.connection_other)
    return false;
  if (head.maybe_same_names && hasSameNames(head)) return false;
  // A byte range of the received head not yet appended: extended while the lines are adjacent.
  const char* begin = nullptr;
  const char* end = nullptr;
  const auto copy = [&](const char* from, const char* to) {
    if (from == end) {
      end = to;
      return;
    }
    if (begin) out.append(begin, static_cast<size_t>(end - begin));
    begin = from;
    end = to;
  };
  // Where line `k` starts (the blank line for k == count): a run of lines is one range.
  const auto line = [&](size_t k) {
    return k < count ? head.field(k).name.data() : head.data + head.size - 2;
  };
  if (e.version == head.version && !head.reason.empty())
    copy(head.data, line(0));
  else
    appendStatusLine(out, head, e.version);
  // The lines between two dropped or rebuilt ones go out unchanged.
  const uint64_t all = count == 64 ? ~uint64_t{0} : (uint64_t{1} << count) - 1;
  uint64_t special = (head.hop_fields | head.rebuilt_fields) & all;
  for (size_t i = 0;;) {
    const size_t next = special ? static_cast<size_t>(std::countr_zero(special)) : count;
    if (next > i) copy(line(i), line(next));
    if (next == count) break;
    special &= special - 1;
    if (!(head.hop_fields >> next & 1)) {
      const auto& f = head.field(next);
      copy(nullptr, nullptr);
      out.append(f.name);
      out.append(": ", 2);
      out.append(f.value);
      out.append("\r\n", 2);
    }
    i = next + 1;
  }
  if (begin) out.append(begin, static_cast<size_t>(end - begin));
  // Beast's keep_alive() with no Connection field left (the hop-by-hop rule removed them all).
  if (e.version < 11) {
    if (e.keep_alive) out.append("Connection: keep-alive\r\n");
  } else if (!e.keep_alive) {
    out.append("Connection: close\r\n");
  }
  out.append("\r\n", 2);
  return true;
}

}  // namespace

void appendEditedResponseHead(std::string& out, const h1::ResponseHead& head,
                              const RelayHeadEdits& e) {
  if (appendUnchangedHead(out, head, e)) return;
  thread_local std::vector<Entry> storage;
  thread_local std::vector<std::string_view> named;
  thread_local std::string connection;
  storage.clear();
  named.clear();
  EntryList list{storage};
  // The fields in Beast's order; a line is raw when it is exactly "name: value CRLF".
  bool duplicates = false;
  bool upgrade_token = false, has_upgrade = false;
  for (size_t i = 0; i < head.fieldCount(); ++i) {
    const auto& f = head.field(i);
    // removeHopByHopHeaders(): Connection (the fields it names go too) and the fixed names.
    switch (hopOf(f.name)) {
      case Hop::kConnection:
        beastTokenList(f.value, [&](std::string_view t) {
          if (same(t, "upgrade")) {
            upgrade_token = true;
            return;
          }
          if (same(t, "close") || same(t, "keep-alive") || same(t, "transfer-encoding")) return;
          named.push_back(t);
        });
        continue;
      case Hop::kDrop:
        continue;
      case Hop::kUpgrade:
        has_upgrade = true;
        break;
      case Hop::kNone:
        break;
    }
    const char* end = f.name.data() + f.name.size();
    const bool raw = end[0] == ':' && end[1] == ' ' && f.value.data() == end + 2 &&
                     f.value.data()[f.value.size()] == '\r';
    const uint32_t key = keyOf(f.name);
    if (!duplicates) {
      for (const auto& x : storage)
        if (x.key == key && same(x.name, f.name)) {
          duplicates = true;
          break;
        }
    }
    if (duplicates)
      list.insert(f.name, f.value, raw);
    else
      storage.push_back({f.name, f.value, key, raw});
  }
  for (const auto& n : named) list.erase(n);
  if (has_upgrade) {
    if (e.upgraded && upgrade_token && list.find("upgrade"))
      list.set("Connection", "upgrade");
    else
      list.erase("upgrade");
  }
  // The route's edits.
  if (e.remove)
    for (const auto& name : *e.remove) list.erase(name);
  if (e.set)
    for (const auto& [k, v] : *e.set) list.set(k, v);
  if (e.add)
    for (const auto& [k, v] : *e.add) list.insert(k, v);
  // writeFramingHeaders().
  char digits[24];
  if (e.rewrite_framing) {
    list.erase("transfer-encoding");
    list.erase("content-length");
    if (e.wire == BodyFraming::kChunked) {
      list.insert("Transfer-Encoding", "chunked");
    } else if (e.wire == BodyFraming::kContentLength) {
      const auto r = std::to_chars(digits, digits + sizeof digits, e.length);
      list.insert("Content-Length", std::string_view(digits, static_cast<size_t>(r.ptr - digits)));
    }
  }
  // Beast's keep_alive(): Connection's tokens with close / keep-alive stated for the version.
  if (!e.upgraded) {
    const Entry* c = list.find("connection");
    const std::string_view value = c ? c->value : std::string_view();
    if (e.version < 11) {
      if (e.keep_alive) {
        filterTokens(connection, value, [](std::string_view t) { return same(t, "close"); });
        if (connection.empty())
          connection = "keep-alive";
        else if (!hasToken(value, "keep-alive"))
          connection.append(", keep-alive");
      } else {
        filterTokens(connection, value,
                     [](std::string_view t) { return same(t, "close") || same(t, "keep-alive"); });
      }
    } else if (e.keep_alive) {
      filterTokens(connection, value,
                   [](std::string_view t) { return same(t, "close") || same(t, "keep-alive"); });
    } else {
      filterTokens(connection, value, [](std::string_view t) { return same(t, "keep-alive"); });
      if (connection.empty())
        connection = "close";
      else if (!hasToken(value, "close"))
        connection.append(", close");
    }
    if (connection.empty())
      list.erase("connection");
    else
      list.set("Connection", connection);
  }
  // appendHead().
  appendStatusLine(out, head, e.version);
  // Raw lines adjacent in the received head go out as one byte range.
  for (size_t i = 0; i < storage.size();) {
    const Entry& x = storage[i];
    if (!x.raw) {
      out.append(x.name);
      out.append(": ", 2);
      out.append(x.value);
      out.append("\r\n", 2);
      ++i;
      continue;
    }
    const char* begin = x.name.data();
    const char* end = x.value.data() + x.value.size() + 2;
    for (++i; i < storage.size() && storage[i].raw && storage[i].name.data() == end; ++i)
      end = storage[i].value.data() + storage[i].value.size() + 2;
    out.append(begin, static_cast<size_t>(end - begin));
  }
  out.append("\r\n", 2);
}

std::vector<std::pair<std::string_view, std::string_view>> headFields(std::string_view head) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos) {
    pos += 2;
    const size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos || end == pos) break;
    const std::string_view line = head.substr(pos, end - pos);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      out.emplace_back(line.substr(0, colon), value);
    }
    pos = end;
  }
  return out;
}

}  // namespace meshdeck::proxy
