#pragma once

#include <string>
#include <vector>

namespace meshdeck::test {

// An argv for a command-line parser under test: `program` followed by `args`, kept alive (and
// writable, as main()'s is) as long as this object.
class Argv {
 public:
  Argv(std::string program, std::vector<std::string> args) : strings_(std::move(args)) {
    strings_.insert(strings_.begin(), std::move(program));
    for (auto& s : strings_) pointers_.push_back(s.data());
    pointers_.push_back(nullptr);
  }
  Argv(const Argv&) = delete;
  Argv& operator=(const Argv&) = delete;

  int argc() const { return static_cast<int>(strings_.size()); }
  char** argv() { return pointers_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
};

}  // namespace meshdeck::test
