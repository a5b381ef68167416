#pragma once

#include <string>

namespace meshdeck::cp::fleet {

// Where a demo keeps the durable state of its control plane (policy revisions, CA) from run to
// run: <data_root>/demo-state/<key>, key = the demo's file base name ("storefront" for both
// "storefront" and "/x/storefront.yaml") with every character outside [A-Za-z0-9_-] made '_'.
std::string demoStateDir(const std::string& data_root, const std::string& demo);

// Makes room for a clean run in `dir`: an existing `dir` is renamed to `dir`.previous (an older
// .previous is removed first; nothing else is deleted). *moved_aside is that path, or empty when
// `dir` did not exist. False with a reason when the rename fails.
bool moveStateAside(const std::string& dir, std::string* moved_aside, std::string* error);

}  // namespace meshdeck::cp::fleet
