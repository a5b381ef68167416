#include "controlplane/api/policy_names.h"

namespace meshdeck::cp {

std::string policyObjectName(const std::string& service, const std::string& purpose) {
  return (service.empty() ? std::string("mesh") : service) + "-" + purpose;
}

}  // namespace meshdeck::cp
