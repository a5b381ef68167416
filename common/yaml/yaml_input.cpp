#include "common/yaml/yaml_input.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

#include "common/text/utf8.h"

namespace meshdeck::common {
namespace {

// Text a YAML author could have typed: UTF-8 without control characters but tab, LF and CR
// (YAML's printable set; NUL also makes yaml-cpp guess UTF-16 or UTF-32).
std::optional<LocatedError> checkText(std::string_view text, const std::string& source) {
  const auto bad = findInvalidUtf8(text, /*refuse_controls=*/true);
  if (!bad) return std::nullopt;
  return LocatedError{source, static_cast<uint32_t>(bad->line), static_cast<uint32_t>(bad->column),
                      "", "not UTF-8 text (" + bad->what() + ")"};
}

// Thrown by the counter to stop the parser at the first limit passed.
struct Refusal {
  YAML::Mark mark;
  std::string message;
};

// Counts what a walker over the built tree would visit, aliases expanded, without building it.
// Each anchored node's expanded size and height are kept once (anchor ids restart with every
// document), so an alias costs O(1) here however large its expansion.
class LimitCounter : public YAML::EventHandler {
 public:
  LimitCounter(const YamlLimits& limits, YamlStats* stats) : limits_(limits), stats_(stats) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 keeps "finding" empty documents at a token it cannot parse (a leading ','
    // loops LoadAll forever, yaml-cpp#1040): a document that starts where the last one did is
    // a syntax error, not another document.
    if (stats_->documents > 0 && mark.pos == last_document_pos_)
      refuse(mark, "invalid YAML: unexpected character (no document can start here)");
    last_document_pos_ = mark.pos;
    if (++stats_->documents > limits_.max_documents)
      refuse(mark, "too many documents (limit " + std::to_string(limits_.max_documents) + ")");
    anchors_.clear();
    open_.clear();
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    if (value.size() > limits_.max_scalar_bytes)
      refuse(mark, "scalar too long (" + std::to_string(value.size()) + " bytes, limit " +
                       std::to_string(limits_.max_scalar_bytes) + ")");
    stats_->longest_scalar = std::max(stats_->longest_scalar, value.size());
    leaf(mark, anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    countNode(mark);
    if (anchor == 0 || anchor > anchors_.size() || !anchors_[anchor - 1].complete)
      refuse(mark, "alias refers to a node that contains it");
    const Expanded e = anchors_[anchor - 1];
    stats_->alias_expansions += e.size;
    if (stats_->alias_expansions > limits_.max_alias_expansions)
      refuse(mark, "too many alias expansions (limit " +
                       std::to_string(limits_.max_alias_expansions) + ")");
    checkDepth(mark, open_.size() + e.height);
    finish(e.size, e.height);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Expanded {
    size_t size = 0;    // nodes a walk visits, the node itself included
    size_t height = 0;  // collections on the deepest path, 0 for a scalar
    bool complete = false;
  };
  struct Open {
    YAML::anchor_t anchor;
    Expanded so_far;
  };

  [[noreturn]] static void refuse(const YAML::Mark& mark, std::string message) {
    throw Refusal{mark, std::move(message)};
  }

  void countNode(const YAML::Mark& mark) {
    if (++stats_->nodes > limits_.max_nodes)
      refuse(mark, "too many nodes (limit " + std::to_string(limits_.max_nodes) + ")");
  }
  void checkDepth(const YAML::Mark& mark, size_t depth) {
    if (depth > limits_.max_depth)
      refuse(mark, "nesting too deep (limit " + std::to_string(limits_.max_depth) + ")");
    stats_->depth = std::max(stats_->depth, depth);
  }
  // yaml-cpp numbers anchors 1, 2, ... in the order they are defined within a document.
  void define(YAML::anchor_t anchor) {
    if (anchor == 0) return;
    if (anchors_.size() < anchor) anchors_.resize(anchor);
    anchors_[anchor - 1] = Expanded{};
  }
  void complete(YAML::anchor_t anchor, Expanded e) {
    if (anchor == 0) return;
    e.complete = true;
    anchors_[anchor - 1] = e;
  }
  // Adds a finished child to the collection it is in.
  void finish(size_t size, size_t height) {
    if (open_.empty()) return;
    Expanded& parent = open_.back().so_far;
    parent.size += size;
    parent.height = std::max(parent.height, height + 1);
  }

  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    countNode(mark);
    define(anchor);
    complete(anchor, Expanded{1, 0, true});
    finish(1, 0);
  }
  void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    countNode(mark);
    checkDepth(mark, open_.size() + 1);
    define(anchor);
    open_.push_back({anchor, Expanded{1, 1, false}});
  }
  void close() {
    const Open done = open_.back();
    open_.pop_back();
    complete(done.anchor, done.so_far);
    finish(done.so_far.size, done.so_far.height);
  }

  const YamlLimits& limits_;
  YamlStats* stats_;
  std::vector<Expanded> anchors_;
  std::vector<Open> open_;
  int last_document_pos_ = -1;  // where the last document started
};

LocatedError refused(const std::string& source, const YAML::Mark& mark, std::string message) {
  return yamlErrorAt(source, mark, "", std::move(message));
}

}  // namespace

YAML::Node YamlDocuments::first() const {
  return documents.empty() ? YAML::Node(YAML::NodeType::Null) : documents.front();
}

YamlDocuments loadYaml(std::string_view text, const std::string& source_name,
                       const YamlLimits& limits) {
  YamlDocuments out;
  out.stats.bytes = text.size();
  if (text.size() > limits.max_bytes) {
    out.error = LocatedError{source_name, 0, 0, "",
                             "text too large (" + std::to_string(text.size()) + " bytes, limit " +
                                 std::to_string(limits.max_bytes) + ")"};
    return out;
  }
  if (auto bad = checkText(text, source_name)) {
    out.error = std::move(bad);
    return out;
  }
  const std::string owned(text);
  try {
    std::istringstream in(owned);
    YAML::Parser parser(in);
    LimitCounter counter(limits, &out.stats);
    while (parser.HandleNextDocument(counter)) {
    }
    out.documents = YAML::LoadAll(owned);
  } catch (const Refusal& r) {
    out.error = refused(source_name, r.mark, r.message);
  } catch (const YAML::Exception& e) {
    out.error = refused(source_name, e.mark, "invalid YAML: " + e.msg);
  }
  if (out.error) out.documents.clear();
  return out;
}

YamlDocuments loadYamlFile(const std::filesystem::path& path, const YamlLimits& limits) {
  YamlDocuments out;
  const std::string source = path.string();
  const auto fail = [&](std::string message) {
    out.error = LocatedError{source, 0, 0, "", std::move(message)};
    return out;
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const std::error_code ec(errno, std::generic_category());
    return fail("cannot open file (" + ec.message() + ")");
  }
  // Refuse a large regular file before reading it, and read no more than one byte past the
  // limit in any case: pipes, devices and files that grow have no size worth believing.
  const auto tooLarge = [&](const std::string& size) {
    return fail("file too large (" + size + " bytes, limit " + std::to_string(limits.max_bytes) +
                ")");
  };
  std::error_code ec;
  if (const auto size = std::filesystem::file_size(path, ec); !ec && size > limits.max_bytes)
    return tooLarge(std::to_string(size));
  std::string text;
  char chunk[64 * 1024];
  while (text.size() <= limits.max_bytes && in) {
    in.read(chunk, sizeof chunk);
    text.append(chunk, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return fail("cannot read file");
  if (text.size() > limits.max_bytes)
    return tooLarge("more than " + std::to_string(limits.max_bytes));
  return loadYaml(text, source, limits);
}

}  // namespace meshdeck::common
